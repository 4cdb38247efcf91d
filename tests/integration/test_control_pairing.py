"""Pairing through the control API: Pair (just works, PIN, failures,
one at a time), the agent that exists only for our pairings, and which
devices count as audio sinks."""

import time
import unittest

import dbus

from common import A2dpTestCase, MANAGER, MANAGER_PATH, HCI0
from control_case import ERR, HEADSET, HEADSET_UUIDS, SPEAKER_B, ControlCase, plain


class PairingTests(ControlCase):

    def add_unpaired(self, address=SPEAKER_B, method='just-works', **opts):
        o = {'Paired': False, 'Known': True, 'PairingMethod': method}
        o.update(opts)
        return self.bluez.add_device('hci0', address, 'New Speaker', o)

    def test_pair_just_works_trusts_the_speaker(self):
        path = self.add_unpaired()
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 2)
        self.call('Pair', SPEAKER_B)
        dev = self.double_device(path)
        self.assertTrue(dev['Paired'])
        self.daemon.wait_for(lambda: self.double_device(path)['Trusted'], 2, what='trusted in BlueZ')
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B)['Trusted'], 2)
        self.assertTrue(self.device_entry(SPEAKER_B)['Paired'])
        # our agent (NoInputNoOutput) was there for the pairing only, the
        # adapter bondable for it only (without it the kernel keeps no
        # key), and the bond is kept
        owner = self.bus.name_owner('org.a2dpsrc')
        self.assertTrue(dev['Bonded'], dev)
        log = '\n'.join(self.bluez.event_log())
        self.assertIn('agent registered %s /org/a2dpsrc/agent NoInputNoOutput' % owner, log)
        self.assertIn('Pair from %s (adapter bondable: True)' % owner, log)
        self.daemon.wait_for(lambda: not plain(self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Pairable')),
                             2, what='adapter not pairable')
        self.daemon.wait_for(lambda: list(self.bluez.GetAgents()) == [], 2, what='agent gone')
        # remembered as ours: a reset forgets it
        self.assertIn('paired=%s\n' % SPEAKER_B, self.state_file())
        # pairing a paired speaker again is fine
        self.call('Pair', SPEAKER_B)

    def test_pair_through_ctl_and_busctl(self):
        self.add_unpaired(SPEAKER_B)
        self.add_unpaired('00:11:22:33:44:77')
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:77'), 2)
        self.ctl('pair', SPEAKER_B.lower())
        self.busctl('--timeout=30', 'call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Pair', 's',
                    '00:11:22:33:44:77')
        for a in (SPEAKER_B, '00:11:22:33:44:77'):
            self.daemon.wait_for(lambda: self.device_entry(a)['Trusted'], 2)

    def test_pair_failures_map_to_documented_errors(self):
        cases = [
            # numeric comparison cannot be done without a display: refused
            ('confirm', ERR + 'AuthenticationFailed'),
            ('fail', ERR + 'AuthenticationFailed'),
            ('reject', ERR + 'AuthenticationFailed'),
            ('timeout', ERR + 'Timeout'),
        ]
        paths = {}
        for i, (method, _) in enumerate(cases):
            paths[method] = self.add_unpaired('00:11:22:33:44:%02X' % (0x80 + i), method)
        # out of range: the page times out
        far = self.add_unpaired('00:11:22:33:44:90', 'just-works', InRange=False, PageTimeoutMs=200)
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:90'), 2)
        for i, (method, err) in enumerate(cases):
            with self.subTest(method=method):
                msg = self.assert_error(err, self.call, 'Pair', '00:11:22:33:44:%02X' % (0x80 + i))
                self.assertIn('00:11:22:33:44:%02X' % (0x80 + i), msg)
                self.assertFalse(self.double_device(paths[method])['Paired'])
                self.assertFalse(self.double_device(paths[method])['Trusted'])
        self.assert_error(ERR + 'Timeout', self.call, 'Pair', '00:11:22:33:44:90')
        self.assertFalse(self.double_device(far)['Paired'])
        self.assertNotIn('paired=', self.state_file())
        # a legacy speaker with PIN 0000 pairs by itself
        self.add_unpaired('00:11:22:33:44:91', 'pin', PinCode='0000')
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:91'), 2)
        self.call('Pair', '00:11:22:33:44:91')

    def test_headset_only_device_is_not_an_audio_sink(self):
        path = self.bluez.add_device('hci0', HEADSET, 'Headset', {
            'Paired': False, 'Known': True, 'UUIDs': HEADSET_UUIDS, 'Class': 0x240404})
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry(HEADSET), 2)
        self.assertFalse(self.device_entry(HEADSET)['AudioSink'])
        before = self.settings()
        msg = self.assert_error(ERR + 'NotAudioSink', self.call, 'Pair', HEADSET)
        self.assertIn('headset', msg)
        self.assert_error(ERR + 'NotAudioSink', self.call, 'Connect', HEADSET)
        self.assertFalse(self.double_device(path)['Paired'])
        self.assertFalse(self.double_device(path)['Connected'])
        self.assertEqual(self.settings(), before)
        out = self.ctl('pair', HEADSET, check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('no A2DP audio sink', out.stderr)

    def test_second_pair_while_pairing_is_in_progress(self):
        self.add_unpaired(SPEAKER_B, PairMs=700)
        self.add_unpaired('00:11:22:33:44:77')
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:77'), 2)
        first = self.call_async('Pair', 's', SPEAKER_B)
        self.log_has('pairing with %s' % SPEAKER_B)
        for addr in ('00:11:22:33:44:77', SPEAKER_B):
            msg = self.assert_error(ERR + 'InProgress', self.call, 'Pair', addr)
            self.assertIn(SPEAKER_B, msg)
        _, err = first.communicate(timeout=10)
        self.assertEqual(first.returncode, 0, err)
        self.assertTrue(self.device_entry(SPEAKER_B)['Paired'])
        self.assertFalse(self.device_entry('00:11:22:33:44:77')['Paired'])
        # and the next pairing goes through
        self.call('Pair', '00:11:22:33:44:77')

    def connecting_b(self):
        """The daemon started, Connect(SPEAKER_B) under way through busctl."""
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 2)
        conn = self.call_async('Connect', 's', SPEAKER_B)
        return conn

    def test_disconnect_during_a_connects_pairing_calls_it_off(self):
        # Connect pairs a new speaker first; the user taps Cancel (the app
        # calls Disconnect) while the speaker takes its time: the pairing
        # is cancelled, the Connect fails, and nothing connects after
        path = self.add_unpaired(SPEAKER_B, PairMs=2500)
        conn = self.connecting_b()
        self.daemon.wait_for(lambda: any('Pair from' in e for e in self.bluez.event_log()), 5,
                             what='pairing under way')
        self.call('Disconnect')
        _, err = conn.communicate(timeout=10)
        self.assertNotEqual(conn.returncode, 0)
        self.assertIn('cancelled by Disconnect', err)
        time.sleep(3.0)         # past when the pairing would have ended
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIsNone(self.bluez.transport_for(path))
        self.assertFalse(self.double_device(path)['Connected'])
        self.assertFalse(self.double_device(path)['Paired'])
        # the next Connect is not "in progress": it pairs and connects
        self.call('Connect', SPEAKER_B)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)

    def test_disconnect_after_the_bond_is_made_keeps_the_bond(self):
        # bonded, the Pair's reply waiting on the service search: a
        # CancelPairing now would have 5.66 drop the kernel's key of a
        # bond it still lists; the bond stays, the connection is off
        path = self.add_unpaired(SPEAKER_B, PairMs=200, SdpMs=2500, ServicesKnown=False)
        conn = self.connecting_b()
        self.daemon.wait_for(lambda: self.double_device(path)['Paired'], 5, what='bonded')
        self.call('Disconnect')
        _, err = conn.communicate(timeout=10)
        self.assertNotEqual(conn.returncode, 0)
        self.assertIn('cancelled by Disconnect', err)
        self.assertNotIn('drops the key', '\n'.join(self.bluez.event_log()))
        self.daemon.wait_for(lambda: self.double_device(path)['Trusted'], 3, what='trusted')
        self.assertIn('paired=%s\n' % SPEAKER_B, self.state_file())
        time.sleep(1.0)
        self.assertIsNone(self.bluez.transport_for(path))

    def test_unsolicited_agent_requests_are_rejected(self):
        # paired with someone else's help, not trusted, not paired by us:
        # its incoming connection needs the default agent, and ours is not
        # registered outside our pairings, so BlueZ refuses it
        stranger = self.add_speaker(SPEAKER_B, 'Stranger', Trusted=False)
        self.start_daemon()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.bluez.speaker_connect(stranger)
        self.assertIn('Rejected', cm.exception.get_dbus_name())
        self.assertIsNone(self.bluez.transport_for(stranger))
        self.assertEqual(plain(self.mprop('Output')), '')
        log = '\n'.join(self.bluez.event_log())
        self.assertIn('incoming A2DP not authorized (rejected (no agent))', log)

        # anyone but bluetoothd calling the agent is refused outright
        agent = self.bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc/agent', introspect=False)
        for method, args, sig in (('RequestConfirmation', [dbus.ObjectPath(stranger), dbus.UInt32(1)], 'ou'),
                                  ('AuthorizeService', [dbus.ObjectPath(stranger), 'x'], 'os'),
                                  ('RequestPinCode', [dbus.ObjectPath(stranger)], 'o'),
                                  ('Release', [], '')):
            self.assert_error('org.freedesktop.DBus.Error.AccessDenied',
                              agent.get_dbus_method(method, 'org.bluez.Agent1'), *args, signature=sig)

        # a speaker we paired is trusted, so it reconnects by itself
        friend = self.bluez.add_device('hci0', '00:11:22:33:44:77', 'Friend',
                                       {'Paired': False, 'Known': True})
        self.call('Pair', '00:11:22:33:44:77')
        self.daemon.wait_for(lambda: self.double_device(friend)['Trusted'], 2, what='trusted')
        self.bluez.speaker_connect(friend)
        self.wait_streaming(friend)

    def test_agent_authorizes_only_audio_services(self):
        # while registered (during our pairing) our agent may be the default
        # one, asked for the services of untrusted devices: only the
        # device being paired, and only for audio
        friend = self.add_unpaired('00:11:22:33:44:77', PairMs=3000)
        stranger = self.add_speaker(SPEAKER_B, 'Stranger', Trusted=False)
        self.start_daemon()
        owner = self.bus.name_owner('org.a2dpsrc')
        self.call_async('Pair', 's', '00:11:22:33:44:77')
        self.daemon.wait_for(lambda: self.bluez.GetAgents(), 3, what='our agent registered')
        for uuid in ('0000110d-0000-1000-8000-00805f9b34fb',     # A2DP signalling
                     '0000110a-0000-1000-8000-00805f9b34fb', '0000110b-0000-1000-8000-00805f9b34fb',
                     '0000110e-0000-1000-8000-00805f9b34fb', '0000110c-0000-1000-8000-00805f9b34fb'):
            self.assertEqual(str(self.bluez.AskAgent(owner, friend, uuid)), '', uuid)
            self.assertEqual(str(self.bluez.AskAgent(owner, stranger, uuid)), 'org.bluez.Error.Rejected',
                             uuid)
        # a speaker needs none of these: HID, serial port, OBEX push, PAN, HFP
        for uuid in ('00001124-0000-1000-8000-00805f9b34fb', '00001101-0000-1000-8000-00805f9b34fb',
                     '00001105-0000-1000-8000-00805f9b34fb', '00001116-0000-1000-8000-00805f9b34fb',
                     '0000111e-0000-1000-8000-00805f9b34fb'):
            self.assertEqual(str(self.bluez.AskAgent(owner, friend, uuid)), 'org.bluez.Error.Rejected', uuid)
        self.log_has('rejected unsolicited AuthorizeService for %s' % stranger)


class UnresolvedServicesTests(A2dpTestCase):
    """A speaker found by inquiry may list no UUIDs until paired: its
    Class of Device decides whether Pair may go ahead."""

    def test_pair_with_unknown_uuids_follows_class_of_device(self):
        self.start_daemon()
        spk = self.bluez.add_device('hci0', '00:11:22:33:44:77', 'Quiet Speaker',
                                    {'UUIDs': [], 'Class': 0x240414, 'Paired': False, 'Known': True})
        phone = self.bluez.add_device('hci0', '00:11:22:33:44:78', 'Phone',
                                      {'UUIDs': [], 'Class': 0x5a020c, 'Paired': False, 'Known': True})
        self.daemon.wait_for(lambda: len(self.manager().GetDevices()) >= 2, 3)
        self.manager().Pair('00:11:22:33:44:77', timeout=30)
        self.assertTrue(bool(self.bluez.prop(spk, 'org.bluez.Device1', 'Paired')))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.manager().Pair('00:11:22:33:44:78', timeout=30)
        self.assertEqual(cm.exception.get_dbus_name(), 'org.a2dpsrc.Error.NotAudioSink')
        self.assertFalse(bool(self.bluez.prop(phone, 'org.bluez.Device1', 'Paired')))


if __name__ == '__main__':
    unittest.main()
