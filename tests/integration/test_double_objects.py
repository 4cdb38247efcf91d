"""The double's object tree and properties as gdbus shows them, and an
LE-only adapter."""

import unittest

import dbus

from double_client import (ADAPTER, DEVICE, DoubleTest, FakeEndpoint, HCI0, MEDIA, OM, PROPS, SINK,
                           SRC, call, spin_until)


class TestObjects(DoubleTest):
    def test_tree_and_properties(self):
        dev = self.add_speaker()
        objs = call(self.ctl.iface('/', OM).GetManagedObjects)
        self.assertIn('org.bluez.AgentManager1', objs['/org/bluez'])
        a = objs[HCI0]
        for i in (ADAPTER, MEDIA, 'org.freedesktop.DBus.Properties',
                  'org.freedesktop.DBus.Introspectable'):
            self.assertIn(i, a)
        ad = a[ADAPTER]
        self.assertTrue(ad['Powered'])
        self.assertFalse(ad['Discovering'])
        self.assertEqual(ad['Roles'], ['central', 'peripheral'])
        self.assertNotIn(SRC, ad['UUIDs'])
        d = objs[dev][DEVICE]
        self.assertTrue(d['Paired'])
        self.assertTrue(d['Trusted'])
        self.assertFalse(d['Connected'])
        self.assertEqual(d['Icon'], 'audio-card')
        self.assertIn(SINK, d['UUIDs'])
        self.assertNotIn('RSSI', d)
        # gdbus' Properties errors
        props = self.ctl.iface(dev, PROPS)
        with self.assertRaises(dbus.DBusException) as cm:
            call(props.Get, DEVICE, 'RSSI')
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.freedesktop.DBus.Error.InvalidArgs')
        with self.assertRaises(dbus.DBusException) as cm:
            call(props.Set, DEVICE, 'Paired', dbus.Boolean(False),
                 signature='ssv')
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.freedesktop.DBus.Error.PropertyReadOnly')
        call(props.Set, DEVICE, 'Alias', dbus.String('Kitchen'),
             signature='ssv')
        spin_until(lambda: self.ctl.prop_changes(dev, 'Alias'))
        self.assertEqual(self.ctl.get(dev, DEVICE, 'Alias'), 'Kitchen')
        # wrong argument signature: not dispatched
        with self.assertRaises(dbus.DBusException) as cm:
            call(self.ctl.iface(dev, DEVICE).ConnectProfile, dbus.UInt32(3))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.freedesktop.DBus.Error.UnknownMethod')

    def test_le_only_adapter(self):
        path = self.bluez.add_adapter('hci1', {'BrEdr': False,
                                               'AddressType': 'random'})
        props = call(self.ctl.iface(path, PROPS).GetAll, ADAPTER)
        self.assertEqual(props['Class'], 0)
        self.assertEqual(props['AddressType'], 'random')
        self.assertEqual(props['Roles'], ['central', 'peripheral'])
        c = self.client()
        c.endpoints.append(FakeEndpoint(c.conn, '/le/ep', c.events))
        call(c.iface(path, MEDIA).RegisterEndpoint, dbus.ObjectPath('/le/ep'),
             c.endpoints[0].props())
        self.assertIn(SRC, c.get(path, ADAPTER, 'UUIDs'))
        dev = self.bluez.add_device('hci1', '00:11:22:33:44:99', 'BR speaker',
                                    {'Paired': True})
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-not-supported')


if __name__ == '__main__':
    unittest.main()
