"""The BlueZ double on a private bus, with the bench's speaker: what every
configuration streams to."""

import time

import dbus

from bench_processes import rt_boost
from bench_settings import SINK_CAPS, SPEAKER, SPEAKER2, WRITE_MTU
from harness import PrivateBus, BlueZDouble, wait_for


def new_world(speaker=None, second=False):
    """speaker: the AddDevice options saying what the speaker offers
    (default: SBC only, SINK_CAPS); second: a second speaker, the same
    (MultiOutput)."""
    bus = PrivateBus().start()
    bluez = BlueZDouble(bus).start()
    rt = rt_boost(bluez.proc.pid)
    for addr in (SPEAKER, SPEAKER2) if second else (SPEAKER,):
        bluez.add_speaker(addr, 'Bench Speaker', WriteMTU=WRITE_MTU, Volume=127,
                          **(speaker or {'SinkCapabilities': SINK_CAPS}))
    return bus, bluez, rt


def wait_active(bluez, timeout=10, n=1):
    """Until n transports stream."""
    return wait_for(lambda: sum(str(p.get('State')) == 'active' and int(p.get('Packets', 0)) > 0
                                for p in bluez.transports().values()) >= n, timeout, what='streaming')


def time_to_registration(bluez, t0, timeout=15.0):
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            if bluez.registered_endpoints():
                return (time.monotonic() - t0) * 1000
        except dbus.exceptions.DBusException:
            pass
        time.sleep(0.002)
    return None
