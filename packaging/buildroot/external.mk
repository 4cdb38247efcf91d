include $(sort $(wildcard $(BR2_EXTERNAL_A2DPSRC_PATH)/package/*/*.mk))
