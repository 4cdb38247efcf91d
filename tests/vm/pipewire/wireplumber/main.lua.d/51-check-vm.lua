-- check-vm: no sound card monitor (the one sink is pipewire.conf's static
-- node on hw:Loopback,0,2; a monitor would probe and hold the loopback's
-- other substreams), no cameras, no session bus (portal)
alsa_monitor.enabled = false
v4l2_monitor.enabled = false
libcamera_monitor.enabled = false
default_access.properties["enable-flatpak-portal"] = false
