"""Who may bond with the board. BlueZ 5.66 makes every adapter bondable
while a default agent is registered (without AlwaysPairable), and the kernel
then accepts a remote's Just-Works pairing without asking any agent. The
daemon's agent is therefore never the default, the adapter is Pairable only
during a Pair of ours, and Connect pairs an unpaired speaker through the same
flow instead of letting the connection bond implicitly."""

import signal
import subprocess
import time

import dbus

from common import HCI0
from control_case import ERR, SPEAKER_B, ControlCase, plain

STRANGER = '5C:F3:70:AA:BB:CC'


class BoardPairingTests(ControlCase):

    def pairable(self):
        return bool(plain(self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Pairable')))

    def test_stranger_cannot_bond_with_a_discoverable_board_while_streaming(self):
        self.add_speaker()
        self.add_tone()
        stranger = self.bluez.add_device('hci0', STRANGER, 'Laptop',
                                         {'Paired': False, 'Class': 0x10010c})
        self.start_daemon()
        self.connect_speaker()
        # another program's phone-pairing mode makes the board discoverable
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Discoverable', dbus.Boolean(True))
        self.bluez.ClearLog()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.bluez.RemotePair(stranger)
        self.assertIn('Rejected', cm.exception.get_dbus_name(), cm.exception.get_dbus_message())
        dev = self.double_device(stranger)
        self.assertFalse(dev['Paired'] or dev['Bonded'], dev)
        self.assertFalse(self.pairable())
        log = '\n'.join(self.bluez.event_log())
        self.assertIn('incoming pairing refused: pairing not allowed', log)
        # the stream went on
        self.wait_streaming()
        self.assertEqual(plain(self.mprop('State')), 'streaming')

    def test_agent_exists_only_while_we_pair(self):
        # bluetoothd 5.66 makes the first agent registered the default one,
        # and a default agent makes the adapter bondable: ours is registered
        # for our own pairing only
        self.bluez.add_device('hci0', SPEAKER_B, 'New Speaker',
                              {'Paired': False, 'Known': True, 'PairMs': 800})
        self.start_daemon()
        self.assertEqual(list(self.bluez.GetAgents()), [])
        self.assertFalse(self.pairable())
        owner = self.bus.name_owner('org.a2dpsrc')
        pair = self.call_async('Pair', 's', SPEAKER_B, stderr=subprocess.STDOUT)
        self.daemon.wait_for(lambda: [tuple(plain(a)) for a in self.bluez.GetAgents()] ==
                             [(owner, '/org/a2dpsrc/agent', 'NoInputNoOutput', True)], 3,
                             what='our agent registered for the pairing')
        self.assertEqual(pair.wait(timeout=10), 0, pair.stdout.read())
        self.daemon.wait_for(lambda: list(self.bluez.GetAgents()) == [], 3, what='agent gone after')
        self.daemon.wait_for(lambda: not self.pairable(), 3, what='adapter not pairable after')
        log = '\n'.join(self.bluez.event_log())
        self.assertIn('%s: Pair from %s (adapter bondable: True)' % (SPEAKER_B, owner), log)
        self.assertNotIn('RequestDefaultAgent', log)

    def test_bluetoothd_crashing_during_our_pairing_leaves_the_board_not_bondable(self):
        # the kernel keeps the adapter bondable across a bluetoothd crash
        # (5.66 only ever turns it on at start), and 5.66 exports its
        # adapters a moment after it takes its bus name: the window our
        # pairing opened is shut once the adapter is there again
        self.bluez.add_device('hci0', SPEAKER_B, 'New Speaker',
                              {'Paired': False, 'Known': True, 'PairMs': 5000})
        self.start_daemon()
        pair = self.call_async('Pair', 's', SPEAKER_B, stderr=subprocess.STDOUT)
        self.daemon.wait_for(lambda: any('Pair from' in e for e in self.bluez.event_log()), 5,
                             what='pairing under way')
        self.assertTrue(self.pairable())
        self.bluez.params['adapters_late_ms'] = 300
        self.bluez.restart(signal.SIGKILL)
        self.assertNotEqual(pair.wait(timeout=10), 0)
        self.daemon.wait_for(lambda: self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Address'), 5,
                             what='hci0 back')
        self.daemon.wait_for(lambda: not self.pairable(), 3, what='adapter not pairable after')
        self.assertEqual(list(self.bluez.GetAgents()), [])

    def test_connect_pairs_an_unpaired_speaker_first(self):
        # Connect on a speaker never paired: paired and trusted through our
        # flow, remembered as ours (so Reset forgets it), then connected
        path = self.bluez.add_device('hci0', SPEAKER_B, 'New Speaker',
                                     {'Paired': False, 'Known': True})
        self.add_tone()
        self.start_daemon()
        self.call('Connect', SPEAKER_B)
        dev = self.double_device(path)
        self.assertTrue(dev['Paired'] and dev['Bonded'], dev)
        self.daemon.wait_for(lambda: self.double_device(path)['Trusted'], 2, what='trusted')
        self.assertIn('paired=%s\n' % SPEAKER_B, self.state_file())
        self.wait_streaming(path)
        self.assertFalse(self.pairable())
        # the speaker's own reconnect is let in (trusted)
        self.bluez.LinkLoss(path)
        self.set_mprop('AutoReconnect', False)
        self.bluez.speaker_connect(path)
        self.wait_streaming(path)
        # and Reset forgets it
        self.call('Reset')
        self.daemon.wait_for(lambda: not self.double_device(path)['Paired'], 3, what='forgotten')

    def test_connect_to_a_pin_speaker_says_pairing_failed(self):
        # a legacy speaker with its own PIN (not 0000): the error names the
        # pairing, not the connection
        self.bluez.add_device('hci0', SPEAKER_B, 'Old Speaker',
                              {'Paired': False, 'Known': True, 'PairingMethod': 'pin',
                               'PinCode': '8888'})
        self.start_daemon()
        msg = self.assert_error(ERR + 'AuthenticationFailed', self.call, 'Connect', SPEAKER_B)
        self.assertIn('pairing with %s failed' % SPEAKER_B, msg)
        self.assertEqual(plain(self.mprop('State')), 'idle')
        self.assertFalse(self.pairable())

    def test_a_stranger_bond_begun_in_our_window_and_ending_after_it_is_undone(self):
        # the kernel checks bondable when a pairing starts: the stranger's
        # slower pairing completes after our window closed
        target = self.bluez.add_device('hci0', SPEAKER_B, 'New Speaker',
                                       {'Paired': False, 'Known': True, 'PairMs': 800})
        stranger = self.bluez.add_device('hci0', STRANGER, 'Laptop',
                                         {'Paired': False, 'Class': 0x10010c, 'PairMs': 2500})
        self.start_daemon()
        pair = self.call_async('Pair', 's', SPEAKER_B, stderr=subprocess.STDOUT)
        self.daemon.wait_for(self.pairable, 3, what='adapter pairable for our pairing')
        remote = self.call_async('RemotePair', 'o', stranger, dest='org.bluez', path='/',
                                 iface='org.a2dpsrc.Test.BlueZ1', stderr=subprocess.STDOUT)
        time.sleep(0.3)         # the call reaches the double while we still pair
        self.assertEqual(pair.wait(timeout=10), 0, pair.stdout.read())
        self.assertFalse(self.pairable())
        self.assertFalse(self.double_device(stranger)['Paired'], 'the stranger is still pairing')
        self.assertEqual(remote.wait(timeout=10), 0, remote.stdout.read())   # the kernel let it bond
        self.daemon.wait_for(lambda: 'bonded with the board through the window' in self.daemon.log_text(), 5,
                             what="the stranger's late bond noticed")
        self.daemon.wait_for(lambda: not self.double_device(stranger)['Paired'], 3,
                             what="the stranger's bond removed")
        self.assertTrue(self.double_device(target)['Bonded'])

    def test_a_stranger_bonding_during_our_pairing_is_undone(self):
        # the adapter is Pairable while our Pair runs: a stranger who bonds
        # through that window has its bond removed at once
        target = self.bluez.add_device('hci0', SPEAKER_B, 'New Speaker',
                                       {'Paired': False, 'Known': True, 'PairMs': 1500})
        stranger = self.bluez.add_device('hci0', STRANGER, 'Laptop',
                                         {'Paired': False, 'Class': 0x10010c})
        self.start_daemon()
        pair = self.call_async('Pair', 's', SPEAKER_B, stderr=subprocess.STDOUT)
        self.daemon.wait_for(self.pairable, 3, what='adapter pairable for our pairing')
        self.bluez.RemotePair(stranger)          # the kernel lets it in
        self.daemon.wait_for(lambda: not self.double_device(stranger)['Paired'], 3,
                             what="the stranger's bond removed")
        self.assertEqual(pair.wait(timeout=10), 0, pair.stdout.read())
        self.assertIn('%s bonded with the board through the window our pairing with %s opened'
                      % (STRANGER, SPEAKER_B), self.daemon.log_text())
        self.assertTrue(self.double_device(target)['Bonded'])
        self.assertFalse(self.pairable())
