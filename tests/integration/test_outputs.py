#!/usr/bin/env python3
"""Manager1.Outputs: the connected speakers audio goes to (one today; two
with issue #13's MultiOutput), and its PropertiesChanged."""

import unittest

import dbus

from common import A2dpTestCase, MANAGER, SPEAKER, SPEAKER_PATH

SPEAKER_B = '00:11:22:33:44:66'
SPEAKER_B_PATH = '/org/bluez/hci0/dev_00_11_22_33_44_66'


class OutputsTests(A2dpTestCase):

    def outputs(self):
        return [str(a) for a in self.mprop('Outputs')]

    def call(self, method, *args):
        obj = self.bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc', introspect=False)
        return obj.get_dbus_method(method, MANAGER)(*args, timeout=60)

    def test_outputs_follow_connect_switch_and_disconnect(self):
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        # PropertiesChanged as an app sees them: its own connection on a
        # GLib main loop, pumped while waiting
        ctx = GLib.MainContext.default()
        conn = dbus.bus.BusConnection(self.bus.address, mainloop=DBusGMainLoop())
        self.addCleanup(conn.close)
        changes = []
        conn.add_signal_receiver(
            lambda iface, changed, inv: changes.append([str(a) for a in changed['Outputs']])
            if 'Outputs' in changed else None,
            'PropertiesChanged', 'org.freedesktop.DBus.Properties', 'org.a2dpsrc', '/org/a2dpsrc')

        def seen(value):
            while ctx.iteration(False):
                pass
            return value in changes

        self.assertEqual(self.outputs(), [])
        self.call('Connect', SPEAKER)
        self.wait_streaming(SPEAKER_PATH)
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER], 3, what='Outputs = A')
        self.daemon.wait_for(lambda: seen([SPEAKER]), 3, what='Outputs = A signalled')
        # one output at a time (MultiOutput off): B replaces A
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER_B], 3, what='Outputs = B')
        self.daemon.wait_for(lambda: seen([SPEAKER_B]), 3, what='Outputs = B signalled')
        del changes[:]
        self.call('Disconnect')
        self.daemon.wait_for(lambda: self.outputs() == [], 3, what='Outputs empty')
        self.daemon.wait_for(lambda: seen([]), 3, what='Outputs empty signalled')

    def test_a_speaker_whose_link_dropped_is_not_an_output(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming(SPEAKER_PATH)
        self.bluez.LinkLoss(SPEAKER_PATH)
        self.daemon.wait_for(lambda: self.outputs() == [], 5, what='Outputs empty on link loss')


if __name__ == '__main__':
    unittest.main()
