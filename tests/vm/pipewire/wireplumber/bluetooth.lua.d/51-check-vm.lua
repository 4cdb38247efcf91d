-- check-vm: the speaker's side. Headless (no logind), A2DP only (no HSP/HFP
-- profiles registered with bluetoothd), fixed volume (no AVRCP absolute
-- volume: the level of what it plays is judged), and it never connects
-- anything by itself: the board (a2dpsrcd on hci0) connects. The codecs it
-- offers are set per scenario (52-codecs.lua, written by the guest).
-- PipeWire 0.3.65 has no bluez5.roles: it registers sink and source
-- endpoints for every codec on every adapter; the guest's D-Bus policy keeps
-- it off hci0 (tests/vm/system-bus.conf).
bluez_monitor.properties["with-logind"] = false
bluez_monitor.properties["bluez5.headset-roles"] = "[ ]"
bluez_monitor.properties["bluez5.hfphsp-backend"] = "none"
bluez_monitor.properties["bluez5.enable-hw-volume"] = false
table.insert(bluez_monitor.rules, {
  matches = { { { "device.name", "matches", "bluez_card.*" } } },
  apply_properties = { ["bluez5.auto-connect"] = "[ ]" },
})
-- The A2DP input drives the graph and the loudspeaker follows
-- (pipewire.conf): no rate matching, so its converter does not resample.
table.insert(bluez_monitor.rules, {
  matches = { { { "node.name", "matches", "bluez_input.*" } } },
  apply_properties = { ["resample.disable"] = true },
})
