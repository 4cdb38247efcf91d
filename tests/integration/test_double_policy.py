"""The double's model of bluetoothd 5.66's own reconnect (plugins/policy.c,
bluez_double/policy.py): opt-in; after a supervision timeout only, at
ReconnectIntervals while pages fail, ReconnectAttempts tries; InProgress
for Connect/ConnectProfile while its connect runs; the A2DP stream set up
on the client's endpoints as for any connection."""

import time

import dbus

from double_client import DEVICE, DoubleTest, SINK, call, spin, spin_until

# main.conf's intervals scaled down 10x for the giving-up test
FAST = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4]


def policy_lines(bluez):
    return [e.split(': ', 1)[1] for e in bluez.event_log() if ': policy: ' in e]


class TestPolicyReconnect(DoubleTest):

    def connected_speaker(self, **opts):
        dev = self.add_speaker(**opts)
        c = self.client()
        c.register_app()
        self.connect(c, dev)
        return c, dev

    def test_off_unless_asked(self):
        c, dev = self.connected_speaker()
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        spin(1.5)
        self.assertFalse(c.get(dev, DEVICE, 'Connected'))
        self.assertEqual(policy_lines(self.bluez), [])

    def test_link_loss_reconnects_at_1_s_and_sets_the_stream_up(self):
        c, dev = self.connected_speaker(PolicyReconnect=True)
        n = len(c.events.find('SetConfiguration'))
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        t0 = time.monotonic()
        spin_until(lambda: len(c.events.find('SetConfiguration')) > n, timeout=3,
                   what='SetConfiguration of the reconnect')
        self.assertAlmostEqual(time.monotonic() - t0, 1.0, delta=0.4)
        self.assertTrue(c.get(dev, DEVICE, 'Connected'))
        self.assertIn('policy: reconnect attempt 1/7 in 1 s', policy_lines(self.bluez))

    def test_connect_meanwhile_is_in_progress(self):
        c, dev = self.connected_speaker(PolicyReconnect=True, ConnectMs=800)
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        spin(1.3)       # its page runs since 1 s
        for method, args in (('ConnectProfile', (SINK,)), ('Connect', ())):
            with self.assertRaises(dbus.DBusException) as cm:
                call(getattr(c.iface(dev, DEVICE), method), *args)
            self.assertEqual((cm.exception.get_dbus_name(), cm.exception.get_dbus_message()),
                             ('org.bluez.Error.InProgress', 'br-connection-busy'))
        spin_until(lambda: c.get(dev, DEVICE, 'Connected'), timeout=2)
        spin(0.3)
        # once A2DP is up, ConnectProfile of it answers at once (EALREADY)
        call(c.iface(dev, DEVICE).ConnectProfile, SINK)

    def test_a_disconnect_is_not_reconnected(self):
        c, dev = self.connected_speaker(PolicyReconnect=True)
        call(c.iface(dev, DEVICE).Disconnect)
        spin(1.5)
        self.assertFalse(c.get(dev, DEVICE, 'Connected'))
        self.assertEqual(policy_lines(self.bluez), [])

    def test_a_disconnect_with_no_link_leaves_the_reconnect_waiting(self):
        # device_request_disconnect() never looks at policy.c's timer
        c, dev = self.connected_speaker(PolicyReconnect=True)
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        spin(0.2)
        call(c.iface(dev, DEVICE).Disconnect)
        spin_until(lambda: c.get(dev, DEVICE, 'Connected'), timeout=3,
                   what='bluetoothd reconnecting all the same')
        self.assertIn('policy: reconnecting a2dp-sink', policy_lines(self.bluez))

    def test_blocked_and_unblocked_ends_it_and_keeps_the_pairing(self):
        # device_block() removes the services; policy.c's service_cb
        # UNAVAILABLE drops the tracking and its timer; unblocked, the
        # services are probed again and Connect goes straight ahead
        c, dev = self.connected_speaker(PolicyReconnect=True)
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        spin(0.2)
        props = c.iface(dev, 'org.freedesktop.DBus.Properties')
        self.bluez.ClearLog()
        call(props.Set, DEVICE, 'Blocked', dbus.Boolean(True, variant_level=1))
        call(props.Set, DEVICE, 'Blocked', dbus.Boolean(False, variant_level=1))
        spin(2.5)
        self.assertFalse(c.get(dev, DEVICE, 'Connected'))
        # its timer is gone: it does not even fire to find no services
        self.assertEqual(policy_lines(self.bluez), [])
        self.assertTrue(c.get(dev, DEVICE, 'Paired'))
        self.bluez.ClearLog()
        call(c.iface(dev, DEVICE).Connect)
        self.assertTrue(c.get(dev, DEVICE, 'Connected'))


class TestPolicyReconnectGivesUp(DoubleTest):
    params = {'policy_reconnect': True, 'policy_reconnect_intervals_s': FAST}

    def test_seven_tries_then_it_gives_up(self):
        dev = self.add_speaker(PageTimeoutMs=50)
        c = self.client()
        c.register_app()
        self.connect(c, dev)
        call(self.control.SetInRange, dbus.ObjectPath(dev), False)
        spin_until(lambda: 'policy: giving up reconnecting' in policy_lines(self.bluez),
                   timeout=20, what='giving up')
        lines = policy_lines(self.bluez)
        self.assertEqual([l for l in lines if l.startswith('policy: reconnect attempt')],
                         ['policy: reconnect attempt %d/7 in %g s' % (i + 1, s)
                          for i, s in enumerate(FAST)])
        self.assertEqual(len([l for l in lines if l.startswith('policy: reconnecting')]), 7)
        spin(0.5)
        self.assertEqual(len(policy_lines(self.bluez)), len(lines))
