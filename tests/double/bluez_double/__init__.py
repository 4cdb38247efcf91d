"""Helpers for the bluetoothd 5.66 test double (tests/double/bluez_a2dp.py).

The template file is what python-dbusmock loads; everything of substance
lives in this package so that it can be read and tested in pieces:

  consts    UUIDs, D-Bus names, BlueZ error constructors
  sbc       SBC capability/configuration helpers (pure)
  codecs    every codec's sink presets, checks and choices (pure)
  recorder  the "speaker" end of an acquired transport (a thread)
  base      D-Bus object base class: properties, signals, signature checks
  world     the simulated bluetoothd: adapters, devices, media, agents
  adapter, discovery, media  Adapter1, its discovery, Media1's endpoints
            and applications (discovery and media mixed into adapter.Adapter)
  a2dp_setup  remote SEPs; which local endpoint a speaker gets and the
            stream setup (mixed into device.Device)
  pairing, media_control, speaker  Pair and bonding, MediaControl1, the
            speaker's own actions (mixed into device.Device)
"""
