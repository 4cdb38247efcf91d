"""Signals only the bus itself may send, forged by another client: any
member of the a2dpsrc group may send the daemon a unicast signal, and the
bus stamps its real sender on it. NameOwnerChanged counts only from
org.freedesktop.DBus."""

import time

import dbus
import dbus.lowlevel

from common import A2dpTestCase, SPEAKER_PATH

DBUS_PATH = '/org/freedesktop/DBus'
DBUS_IFACE = 'org.freedesktop.DBus'


class ForgedSignalTests(A2dpTestCase):

    def forge_name_owner_changed(self, conn, name, old, new):
        msg = dbus.lowlevel.SignalMessage(DBUS_PATH, DBUS_IFACE, 'NameOwnerChanged')
        msg.set_destination(self.bus.name_owner('org.a2dpsrc'))
        msg.append(name, old, new, signature='sss')
        conn.send_message(msg)
        conn.flush()

    def test_forged_name_owner_changed_is_ignored(self):
        self.add_speaker()
        self.start_daemon()
        bluez = self.bus.name_owner('org.bluez')
        forger = self.bus.connect()
        self.addCleanup(forger.close)
        # "bluetoothd left", then "bluetoothd is now me"
        self.forge_name_owner_changed(forger, 'org.bluez', bluez, '')
        self.forge_name_owner_changed(forger, 'org.bluez', '', forger.get_unique_name())
        time.sleep(0.5)
        log = self.daemon.log_text()
        self.assertNotIn('bluetoothd left the bus', log)
        # the real bluetoothd is still the one obeyed: the speaker connects
        # and bluetoothd's SetConfiguration is accepted, not AccessDenied
        self.connect_speaker()
        self.daemon.wait_for(lambda: int(self.mprop('Statistics')['Packets']) > 10, 5,
                             what='packets')
        self.assertIsNone(self.daemon.returncode)
