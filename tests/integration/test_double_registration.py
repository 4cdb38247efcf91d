"""Media1.RegisterApplication on the double: its errors, and a client
that exits and comes back."""

import signal
import unittest

import dbus

from double_client import (DEVICE, DoubleTest, ENDPOINT, FakeAgent, FakeApp, HCI0, MEDIA, SRC,
                           call, spin_until)


class TestRegistration(DoubleTest):
    def test_application_errors(self):
        c = self.client()
        media = c.iface(HCI0, MEDIA)
        FakeApp(c.conn, '/empty', [])
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterApplication, dbus.ObjectPath('/empty'),
                 dbus.Dictionary({}, signature='sv'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.Failed')
        self.bad_app = FakeApp(c.conn, '/bad', [], extra={
            dbus.ObjectPath('/bad/ep'): dbus.Dictionary({ENDPOINT: dbus.Dictionary(
                {'UUID': dbus.String(SRC), 'Codec': dbus.String('sbc')},
                signature='sv')}, signature='sa{sv}')})
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterApplication, dbus.ObjectPath('/bad'),
                 dbus.Dictionary({}, signature='sv'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.InvalidArguments')
        c.register_app()
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterApplication, dbus.ObjectPath('/src'),
                 dbus.Dictionary({}, signature='sv'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.AlreadyExists')
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.UnregisterApplication, dbus.ObjectPath('/nope'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.DoesNotExist')
        call(media.UnregisterApplication, dbus.ObjectPath('/src'))
        spin_until(lambda: c.events.find('Release'))
        self.assertEqual(self.bluez.registered_endpoints(), [])

    def test_client_exit_and_restart(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        agent_client = self.client()
        FakeAgent(agent_client.conn, '/agent', agent_client.events)
        am = agent_client.iface('/org/bluez', 'org.bluez.AgentManager1')
        call(am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        # the endpoint owner leaves: its transports go away with it
        c.close()
        spin_until(lambda: not self.bluez.registered_endpoints(),
                   what='endpoint dropped')
        spin_until(lambda: self.ctl.events.find(
            'InterfacesRemoved', lambda e: e[1] == tpath))
        c = self.client()
        c.register_app()
        self.assertTrue(self.connect(c, dev))
        # SIGTERM: links dropped, endpoints and agents released
        self.bluez.restart(signal.SIGTERM)
        spin_until(lambda: c.events.find('Release'), what='Release')
        self.assertTrue(c.events.find('ClearConfiguration'))
        self.assertTrue(agent_client.events.find('Agent.Release'))
        self.assertEqual(self.bluez.registered_endpoints(), [])
        self.assertEqual(list(call(self.control.GetAgents)), [])
        # the bond survives, the connection does not
        self.assertTrue(c.get(dev, DEVICE, 'Paired'))
        self.assertFalse(c.get(dev, DEVICE, 'Connected'))
        c.register_app(root='/again')
        self.bluez.restart(signal.SIGKILL)
        self.assertEqual(self.bluez.registered_endpoints(), [])


if __name__ == '__main__':
    unittest.main()
