"""Agents and pairing on the double: AgentManager1, discovery, Pair with
the agent's answers, authorization of a speaker's connection, bondable
following the default agent, pairings the remote side starts."""

import time
import unittest

import dbus

from double_client import (ADAPTER, DEVICE, DoubleTest, FakeAgent, HCI0, PROPS, call, plain_struct,
                           spin_until)


class TestAgentsAndPairing(DoubleTest):
    def setUp(self):
        super().setUp()
        self.agent_client = self.client()
        self.agent = FakeAgent(self.agent_client.conn, '/agent',
                               self.agent_client.events)
        self.am = self.agent_client.iface('/org/bluez',
                                          'org.bluez.AgentManager1')

    def test_agent_manager_errors(self):
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        cases = [
            (self.am.RegisterAgent, (dbus.ObjectPath('/agent'), 'DisplayYesNo'),
             'AlreadyExists'),
            (self.am.RequestDefaultAgent, (dbus.ObjectPath('/other'),),
             'DoesNotExist'),
            (self.am.UnregisterAgent, (dbus.ObjectPath('/other'),),
             'DoesNotExist'),
        ]
        other = self.client()
        cases.append((other.iface('/org/bluez', 'org.bluez.AgentManager1')
                      .RegisterAgent, (dbus.ObjectPath('/a'), 'Telepathy'),
                      'InvalidArguments'))
        for method, args, name in cases:
            with self.assertRaises(dbus.DBusException) as cm:
                call(method, *args)
            self.assertEqual(cm.exception.get_dbus_name(),
                             'org.bluez.Error.' + name)
        call(self.am.UnregisterAgent, dbus.ObjectPath('/agent'))

    def test_discovery_and_just_works(self):
        a, b = self.client(), self.client()
        dev = self.bluez.add_device('hci0', '00:11:22:33:44:20', 'New',
                                    {'Discoverable': True})
        ad_a, ad_b = a.iface(HCI0, ADAPTER), b.iface(HCI0, ADAPTER)
        with self.assertRaises(dbus.DBusException) as cm:
            call(ad_b.StopDiscovery)
        self.assertEqual((cm.exception.get_dbus_name(),
                          cm.exception.get_dbus_message()),
                         ('org.bluez.Error.Failed', 'No discovery started'))
        call(ad_a.StartDiscovery)
        with self.assertRaises(dbus.DBusException) as cm:
            call(ad_a.StartDiscovery)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.InProgress')
        spin_until(lambda: a.events.find('InterfacesAdded',
                                         lambda e: e[1] == dev))
        added = a.events.find('InterfacesAdded', lambda e: e[1] == dev)[0]
        self.assertIn('RSSI', added[2][DEVICE])
        call(ad_b.StartDiscovery)
        call(ad_a.StopDiscovery)
        self.assertTrue(a.get(HCI0, ADAPTER, 'Discovering'))
        b.close()                        # the last discoverer leaves
        spin_until(lambda: False in a.prop_changes(HCI0, 'Discovering'))
        # Just Works: the agent is not asked, Trusted stays false
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        call(a.iface(dev, DEVICE).Pair)
        self.assertTrue(a.get(dev, DEVICE, 'Paired'))
        self.assertFalse(a.get(dev, DEVICE, 'Trusted'))
        self.assertEqual([e for e in self.agent_client.events.kinds()
                          if e.startswith('Agent.')], [])
        with self.assertRaises(dbus.DBusException) as cm:
            call(a.iface(dev, DEVICE).Pair)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.AlreadyExists')

    def test_pair_confirm_accept_and_reject(self):
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        d1 = self.bluez.add_device('hci0', '00:11:22:33:44:31', 'C1', {
            'Known': True, 'PairingMethod': 'confirm', 'Passkey': 654321})
        d2 = self.bluez.add_device('hci0', '00:11:22:33:44:32', 'C2', {
            'Known': True, 'PairingMethod': 'confirm'})
        c = self.client()
        call(c.iface(d1, DEVICE).Pair)
        ev = self.agent_client.events.find('Agent.RequestConfirmation')
        self.assertEqual(ev, [('Agent.RequestConfirmation', d1, 654321)])
        self.assertTrue(c.get(d1, DEVICE, 'Paired'))
        self.agent.accept = False
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(d2, DEVICE).Pair)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.AuthenticationFailed')
        self.assertFalse(c.get(d2, DEVICE, 'Paired'))
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(d2, DEVICE).CancelPairing)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.DoesNotExist')

    def test_speaker_connect_asks_authorization(self):
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        dev = self.bluez.add_device('hci0', '00:11:22:33:44:40', 'S',
                                    {'Paired': True})
        c = self.client()
        c.register_app()
        tpath = call(self.control.SpeakerConnect, dbus.ObjectPath(dev))
        self.assertEqual(self.agent_client.events.find(
            'Agent.AuthorizeService'), [('Agent.AuthorizeService', dev,
                                         '0000110d-0000-1000-8000-'
                                         '00805f9b34fb')])
        kinds = c.events.kinds()
        self.assertLess(kinds.index('SelectConfiguration'),
                        kinds.index('SetConfiguration'))
        self.assertEqual(self.bluez.transport_for(dev), tpath)

    def test_bondable_follows_the_default_agent(self):
        # 5.66 without AlwaysPairable: adapter_set_io_capability() turns
        # Set Bondable on with a default agent and off without one
        # agent_create(): the first agent registered is the default one
        c = self.client()
        self.assertFalse(c.get(HCI0, ADAPTER, 'Pairable'))
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        self.assertTrue(c.get(HCI0, ADAPTER, 'Pairable'))
        self.assertEqual([bool(a[3]) for a in call(self.control.GetAgents)], [True])
        # a second one waits behind it, and takes over when it leaves
        other = self.client()
        other_am = other.iface('/org/bluez', 'org.bluez.AgentManager1')
        call(other_am.RegisterAgent, dbus.ObjectPath('/a2'), 'NoInputNoOutput')
        call(self.am.UnregisterAgent, dbus.ObjectPath('/agent'))
        self.assertEqual([(str(a[1]), bool(a[3])) for a in call(self.control.GetAgents)],
                         [('/a2', True)])
        self.assertTrue(c.get(HCI0, ADAPTER, 'Pairable'))
        call(other_am.UnregisterAgent, dbus.ObjectPath('/a2'))
        self.assertFalse(c.get(HCI0, ADAPTER, 'Pairable'))

    def test_remote_pairing_follows_the_kernel(self):
        stranger = self.bluez.add_device('hci0', '00:11:22:33:44:50', 'L', {})
        phone = self.bluez.add_device('hci0', '00:11:22:33:44:51', 'P',
                                      {'PairingMethod': 'confirm'})
        c = self.client()
        # not bondable (no agent): refused
        with self.assertRaises(dbus.DBusException) as cm:
            call(self.control.RemotePair, dbus.ObjectPath(stranger))
        self.assertIn('Rejected', cm.exception.get_dbus_name())
        self.assertFalse(c.get(stranger, DEVICE, 'Paired'))
        # bondable (a default agent): Just Works is accepted by the kernel
        # alone; numeric comparison asks the default agent
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.control.RemotePair, dbus.ObjectPath(stranger))
        self.assertTrue(c.get(stranger, DEVICE, 'Bonded'))
        self.assertEqual([e for e in self.agent_client.events.kinds()
                          if e.startswith('Agent.')], [])
        call(self.control.RemotePair, dbus.ObjectPath(phone))
        self.assertEqual(self.agent_client.events.find('Agent.RequestConfirmation'),
                         [('Agent.RequestConfirmation', phone, 123456)])
        self.assertTrue(c.get(phone, DEVICE, 'Paired'))

    def test_pair_while_not_bondable_keeps_no_key(self):
        # the kernel forces no-bonding: Paired until the link drops
        dev = self.bluez.add_device('hci0', '00:11:22:33:44:52', 'S',
                                    {'Known': True})
        c = self.client()
        call(self.agent_client.iface(dev, DEVICE).Pair)      # no agent at all
        self.assertTrue(c.get(dev, DEVICE, 'Paired'))
        self.assertFalse(c.get(dev, DEVICE, 'Bonded'))
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        spin_until(lambda: not c.get(dev, DEVICE, 'Paired'), what='unpaired')
        # with Pairable set by the caller, the bond is kept
        call(c.iface(HCI0, PROPS).Set, ADAPTER, 'Pairable', dbus.Boolean(True), signature='ssv')
        call(self.agent_client.iface(dev, DEVICE).Pair)
        self.assertTrue(c.get(dev, DEVICE, 'Bonded'))

    def test_discovery_filter_transport_and_lifetime(self):
        le = self.bluez.add_device('hci0', '00:11:22:33:44:53', 'Tag',
                                   {'Le': True, 'BrEdr': False, 'UUIDs': []})
        spk = self.bluez.add_device('hci0', '00:11:22:33:44:54', 'Spk', {})
        a = self.client()
        ad = a.iface(HCI0, ADAPTER)
        call(ad.SetDiscoveryFilter, dbus.Dictionary({'Transport': 'bredr'},
                                                    signature='sv'))
        call(ad.StartDiscovery)
        spin_until(lambda: a.events.find('InterfacesAdded', lambda e: e[1] == spk))
        time.sleep(0.2)
        self.assertEqual(a.events.find('InterfacesAdded', lambda e: e[1] == le), [])
        call(ad.StopDiscovery)
        # 5.66 keeps the filter after StopDiscovery (set_filter_list)
        clients = [tuple(plain_struct(x)) for x in call(self.control.GetDiscoveryClients)]
        self.assertEqual([(x[0], x[2], x[3].get('Transport')) for x in clients],
                         [('hci0', False, 'bredr')])
        # an unfiltered scan hears LE advertisers too
        b = self.client()
        call(b.iface(HCI0, ADAPTER).StartDiscovery)
        spin_until(lambda: b.events.find('InterfacesAdded', lambda e: e[1] == le))


if __name__ == '__main__':
    unittest.main()
