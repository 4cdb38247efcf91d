"""A Connect of a speaker that is being connected already (a double tap,
an app asking again after its own D-Bus timeout, the daemon's own
reconnect under way) joins that connection: no second page, every caller
answered alike with its outcome. Disconnect and Forget answer every caller
waiting, a caller leaving the bus frees its place, and the callers are
bounded (src/connect-callers.c)."""

import subprocess
import time

import dbus

from common import CTL, SPEAKER, SPEAKER_PATH
from control_case import ERR, SPEAKER_B, SPEAKER_B_PATH, ControlCase, plain

MAX_CALLERS = 8         # CONNECT_CALLERS_MAX


class ConnectJoinTests(ControlCase):

    def connect_profiles(self, address):
        return [e for e in self.bluez.event_log() if '%s: ConnectProfile' % address in e]

    def ctl_async(self, *args):
        p = subprocess.Popen([CTL] + list(args), env=self.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def answered(self, p, ok=True, timeout=15):
        out, err = p.communicate(timeout=timeout)
        if ok:
            self.assertEqual(p.returncode, 0, err)
        else:
            self.assertNotEqual(p.returncode, 0, out)
        return err

    def waiting(self, n, procs, timeout=3):
        """n Connect calls joined the one under way (the daemon says so),
        or one of procs was answered already (answered() then says how)."""
        self.daemon.wait_for(lambda: self.daemon.log_text().count('another Connect waits for the '
                                                                  'connection to') >= n
                             or any(p.poll() is not None for p in procs),
                             timeout, what='%d Connect calls joined' % n)

    def two_connects(self):
        """Connect to SPEAKER, and once it is connecting a second Connect
        that joins it: the two calls in flight."""
        first = self.call_async('Connect', 's', SPEAKER)
        self.wait_prop('State', 'connecting')
        second = self.call_async('Connect', 's', SPEAKER)
        self.waiting(1, (second,))
        return first, second

    def test_a_second_connect_of_the_speaker_being_connected_waits_and_plays(self):
        # tapped twice, and the app retried through a2dpsrcctl: one page
        self.add_speaker(ConnectMs=1500)
        self.start_daemon()
        first = self.call_async('Connect', 's', SPEAKER)
        self.wait_prop('State', 'connecting')
        second = self.call_async('Connect', 's', SPEAKER)
        third = self.ctl_async('connect', SPEAKER)
        self.waiting(2, (second, third))
        for p in (first, second, third):
            self.answered(p)
        self.wait_streaming()
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)
        self.assertEqual(len(self.connect_profiles(SPEAKER)), 1, self.bluez.event_log())
        self.assertEqual(self.daemon.log_text().count('connecting %s\n' % SPEAKER), 1)

    def test_a_second_connect_gets_the_first_ones_error(self):
        self.add_speaker(InRange=False, PageTimeoutMs=1500)
        self.start_daemon()
        first, second = self.two_connects()
        for p in (first, second):
            err = self.answered(p, ok=False)
            self.assertIn('did not answer', err)
        self.assertEqual(len(self.connect_profiles(SPEAKER)), 1, self.bluez.event_log())
        self.wait_prop('State', 'idle')

    def test_another_speaker_while_one_is_connected_for_a_caller_is_refused_saying_why(self):
        # the one-output rule: the first caller's choice stands until a
        # Disconnect, and the refusal says so
        self.add_speaker(ConnectMs=1500)
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        first = self.call_async('Connect', 's', SPEAKER)
        self.wait_prop('State', 'connecting')
        msg = self.assert_error(ERR + 'InProgress', self.call, 'Connect', SPEAKER_B)
        self.assertIn('connecting %s is in progress' % SPEAKER, msg)
        self.assertIn('Disconnect first to connect %s' % SPEAKER_B, msg)
        self.answered(first)
        self.wait_streaming()
        self.assertEqual(self.connect_profiles(SPEAKER_B), [])

    def test_disconnect_answers_every_caller_waiting(self):
        self.add_speaker(ConnectMs=2000)
        self.start_daemon()
        first, second = self.two_connects()
        self.call('Disconnect')
        for p in (first, second):
            self.assertIn('cancelled by Disconnect', self.answered(p, ok=False, timeout=5))
        self.wait_prop('State', 'idle')
        time.sleep(2.5)         # past the page: nothing comes of it
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))

    def test_forget_answers_every_caller_waiting(self):
        # a speaker never connected before (not the last output): Forget
        # must still call its connection off, not leave the callers to
        # whatever the removed device's page brings
        self.add_speaker(ConnectMs=2000)
        self.start_daemon()
        first, second = self.two_connects()
        self.call('Forget', SPEAKER)
        for p in (first, second):
            err = self.answered(p, ok=False, timeout=5)
            self.assertIn('%s is being forgotten' % SPEAKER, err)
        self.wait_prop('State', 'idle')
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIsNone(self.daemon.returncode)

    def test_callers_are_bounded_and_one_leaving_frees_its_place(self):
        self.add_speaker(ConnectMs=6000)
        self.start_daemon()
        calls = [self.call_async('Connect', 's', SPEAKER)]
        self.wait_prop('State', 'connecting')
        calls += [self.call_async('Connect', 's', SPEAKER) for _ in range(MAX_CALLERS - 1)]
        self.waiting(MAX_CALLERS - 1, calls)
        msg = self.assert_error(ERR + 'InProgress', self.call, 'Connect', SPEAKER)
        self.assertIn('%d Connect calls wait for %s already' % (MAX_CALLERS, SPEAKER), msg)
        # three give up (their process ends: NameOwnerChanged): their
        # places are free again, and the connection goes on
        for p in calls[:3]:
            p.kill()
            p.wait()
        self.daemon.wait_for(lambda: self.daemon.log_text().count('left the bus while its Connect '
                                                                  'waited') >= 3, 3,
                             what='three callers dropped')
        calls = calls[3:] + [self.call_async('Connect', 's', SPEAKER) for _ in range(3)]
        self.waiting(MAX_CALLERS - 1 + 3, calls)
        for p in calls:
            self.answered(p)
        self.wait_streaming()
        self.assertEqual(len(self.connect_profiles(SPEAKER)), 1, self.bluez.event_log())
        self.assertIsNone(self.daemon.returncode)

    def test_callers_join_the_daemons_own_reconnect(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'ConnectMs', dbus.Int32(1500, variant_level=1))
        mark = len(self.daemon.log_text())
        before = len(self.connect_profiles(SPEAKER))
        self.bluez.LinkLoss(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'connecting %s' % SPEAKER in self.daemon.log_text()[mark:], 3,
                             what='automatic reconnect under way')
        first = self.call_async('Connect', 's', SPEAKER)
        second = self.ctl_async('connect', SPEAKER)
        self.waiting(1, (first, second))
        for p in (first, second):
            self.answered(p)
        self.wait_streaming()
        self.assertEqual(len(self.connect_profiles(SPEAKER)), before + 1, self.bluez.event_log())

    def start_first_of_two(self, b_opts):
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B', **b_opts)
        self.write_state(speaker_mode=True, multi_output=True)
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()

    def test_a_second_connect_of_the_second_speaker_waits_and_both_play(self):
        self.start_first_of_two({'ConnectMs': 1500})
        first = self.call_async('Connect', 's', SPEAKER_B)
        self.daemon.wait_for(lambda: 'connecting %s as the second output' % SPEAKER_B
                             in self.daemon.log_text(), 3, what='B being connected')
        second = self.call_async('Connect', 's', SPEAKER_B)
        self.waiting(1, (second,))
        for p in (first, second):
            self.answered(p)
        self.wait_streaming(SPEAKER_B_PATH)
        self.assertEqual(plain(self.mprop('Outputs')), [SPEAKER, SPEAKER_B])
        self.assertEqual(len(self.connect_profiles(SPEAKER_B)), 1, self.bluez.event_log())

    def test_a_connect_joins_the_second_speakers_own_reconnect(self):
        self.start_first_of_two({})
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.bluez.SetDeviceOption(SPEAKER_B_PATH, 'ConnectMs', dbus.Int32(1500, variant_level=1))
        mark = len(self.daemon.log_text())
        before = len(self.connect_profiles(SPEAKER_B))
        self.bluez.LinkLoss(SPEAKER_B_PATH)
        self.daemon.wait_for(lambda: 'connecting %s as the second output' % SPEAKER_B
                             in self.daemon.log_text()[mark:], 5, what="B's reconnect under way")
        self.call('Connect', SPEAKER_B)         # answered once B is back
        self.wait_streaming(SPEAKER_B_PATH)
        self.assertEqual(plain(self.mprop('Outputs')), [SPEAKER, SPEAKER_B])
        self.assertEqual(len(self.connect_profiles(SPEAKER_B)), before + 1, self.bluez.event_log())

    def add_unpaired(self, **opts):
        o = {'Paired': False, 'Known': True, 'PairingMethod': 'just-works'}
        o.update(opts)
        path = self.bluez.add_device('hci0', SPEAKER_B, 'New Speaker', o)
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 2)
        return path

    def test_a_second_connect_while_the_first_pairs_the_speaker_waits_and_plays(self):
        # a new speaker tapped twice: the first Connect pairs it, the
        # second waits for that pairing and then for its connection
        path = self.add_unpaired(PairMs=1500)
        first = self.call_async('Connect', 's', SPEAKER_B)
        self.log_has('pairing with %s' % SPEAKER_B)
        second = self.call_async('Connect', 's', SPEAKER_B)
        self.daemon.wait_for(lambda: 'another Connect waits for the pairing with' in self.daemon.log_text()
                             or second.poll() is not None, 3, what='the second Connect waiting')
        for p in (first, second):
            self.answered(p)
        self.wait_streaming(path)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        events = self.bluez.event_log()
        self.assertEqual(len([e for e in events if 'Pair from' in e]), 1, events)
        self.assertEqual(len(self.connect_profiles(SPEAKER_B)), 1, events)

    def test_disconnect_while_the_first_pairs_answers_both(self):
        self.add_unpaired(PairMs=2500)
        first = self.call_async('Connect', 's', SPEAKER_B)
        self.log_has('pairing with %s' % SPEAKER_B)
        second = self.call_async('Connect', 's', SPEAKER_B)
        self.daemon.wait_for(lambda: 'another Connect waits for the pairing with' in self.daemon.log_text()
                             or second.poll() is not None, 3, what='the second Connect waiting')
        self.call('Disconnect')
        for p in (first, second):
            self.assertIn('cancelled by Disconnect', self.answered(p, ok=False, timeout=10))
        self.assertEqual(plain(self.mprop('Output')), '')
