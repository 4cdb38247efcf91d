"""A lost speaker that bluetoothd 5.66 reconnects by itself while the daemon
does too (plugins/policy.c: after a supervision timeout it connects the
device's services again at 1, 2, 4 ... 64 s, seven tries; meanwhile a
Device1.Connect/ConnectProfile gets InProgress). The double models it
opt-in (device option PolicyReconnect, bluez_double/policy.py): in the
field both page the speaker at once. What a user sees is checked: the
speaker plays again, once, nothing is left stuck or blamed."""

import threading
import time

import dbus

from common import SPEAKER, SPEAKER_PATH
from control_case import plain
import test_multi_output as multi
from test_multi_output import SPEAKER_A, SPEAKER_B, dev_path
from test_routing import SpeakerCase


class BluetoothdReconnectTests(SpeakerCase):

    def problems(self, address=SPEAKER):
        return [(str(f), str(s)) for f, v, s, _ in self.call('Diagnose', address)
                if str(v) == 'problem']

    def set_configurations(self):
        return [e for e in self.bluez.event_log() if 'MediaEndpoint1.SetConfiguration' in e and ' call ' in e]

    def assert_plays_once(self, n):
        """Back on the speaker, and settled there: one new stream, not set
        up twice, not left connecting, nothing blamed."""
        self.wait_back_on_bluetooth(n, timeout=10)
        t = self.bluez.transport_for(SPEAKER_PATH)
        time.sleep(4.5)         # both sides' next tries would have come
        self.assertEqual(self.bluez.transport_for(SPEAKER_PATH), t, self.bluez.event_log())
        self.assertEqual(len(self.bluez.recordings()), n + 1)
        self.assertEqual(plain(self.mprop('State')), 'streaming')
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)
        self.assertEqual(self.problems(), [])
        outs = plain(self.call('GetOutputs'))
        self.assertEqual([o['State'] for o in outs], ['streaming'], outs)

    def test_out_of_range_and_back_plays_once_with_bluetoothd_reconnecting_too(self):
        self.start_media_only(PolicyReconnect=True, PageTimeoutMs=300)
        n = len(self.bluez.recordings())
        dt = self.measure_fallback(lambda: self.bluez.SetInRange(SPEAKER_PATH, False))
        self.assertLess(dt, 0.2)
        time.sleep(2.5)        # both have paged it in vain
        self.bluez.ClearLog()
        self.bluez.SetInRange(SPEAKER_PATH, True)
        self.assert_plays_once(n)
        self.assertEqual(len(self.set_configurations()), 1, self.bluez.event_log())

    def test_bluetoothd_bringing_the_speaker_back_first_plays_once(self):
        # the speaker is back before anyone pages: bluetoothd's try at 1 s
        # wins (the daemon's own is a little later: 1 s after Connected
        # false); the daemon's ConnectProfile meets InProgress
        self.start_media_only(PolicyReconnect=True, ConnectMs=600)
        n = len(self.bluez.recordings())
        self.bluez.ClearLog()
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.assert_plays_once(n)
        log = self.bluez.event_log()
        self.assertTrue(any('policy: reconnecting' in e for e in log), log)
        self.assertEqual(len(self.set_configurations()), 1, log)
        # bluetoothd being at it already is no failure to warn of
        self.assertNotIn('warning: BlueZ is already connecting', self.daemon.log_text())

    def lost_and_paged_by_bluetoothd_only(self):
        """AutoReconnect off, the link lost, and bluetoothd's own page (1.5 s
        to come up) under way since 1 s; the recordings made before."""
        self.start_media_only(PolicyReconnect=True, ConnectMs=1500)
        self.set_mprop('AutoReconnect', False)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        time.sleep(1.5)     # bluetoothd's page since 1 s
        return n

    def test_a_user_connect_while_bluetoothd_reconnects_ends_playing(self):
        # AutoReconnect off: only bluetoothd pages; its connection takes
        # 1.5 s to come up, and the user's Connect comes in the middle
        n = self.lost_and_paged_by_bluetoothd_only()
        result = {}

        def connect():
            try:
                self.call('Connect', SPEAKER)
                result['ok'] = True
            except dbus.DBusException as e:
                result['err'] = (e.get_dbus_name(), e.get_dbus_message())
        th = threading.Thread(target=connect)
        th.start()
        th.join(15)
        self.assertEqual(result, {'ok': True}, self.bluez.event_log())
        self.assertTrue(any('InProgress br-connection-busy (bluetoothd reconnecting)' in e
                            for e in self.bluez.event_log()), 'not met: ' + str(self.bluez.event_log()))
        self.assert_plays_once(n)

    def test_two_user_connects_while_bluetoothd_reconnects_both_end_playing(self):
        # tapped twice while bluetoothd's page runs: the second joins the
        # first's wait for bluetoothd's connection (test_connect_join.py)
        n = self.lost_and_paged_by_bluetoothd_only()
        first = self.call_async('Connect', 's', SPEAKER)
        self.daemon.wait_for(lambda: 'BlueZ is connecting %s already' % SPEAKER in self.daemon.log_text(), 3,
                             what="the daemon waiting for bluetoothd's connection")
        second = self.call_async('Connect', 's', SPEAKER)
        for p in (first, second):
            _, err = p.communicate(timeout=15)
            self.assertEqual(p.returncode, 0, err)
        self.assert_plays_once(n)

    def test_auto_reconnect_off_bluetoothd_brings_it_back_and_it_plays(self):
        # the daemon pages nobody, but bluetoothd 5.66 does: the speaker
        # connects "by itself" and is taken as the output, as docs say
        self.start_media_only(PolicyReconnect=True)
        self.set_mprop('AutoReconnect', False)
        n = len(self.bluez.recordings())
        self.bluez.ClearLog()
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.assert_plays_once(n)
        self.assertFalse(any('ConnectProfile' in e for e in self.bluez.event_log()))
        self.assertIn('connected by itself', self.daemon.log_text())

    def connected(self):
        return bool(self.bluez.prop(SPEAKER_PATH, 'org.bluez.Device1', 'Connected'))

    def assert_let_alone(self, n, mark):
        self.assertEqual(len(self.bluez.recordings()), n, self.bluez.event_log())
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertNotEqual(plain(self.mprop('State')), 'streaming')
        self.assertNotIn('connected by itself', self.daemon.log_text()[mark:])

    def test_a_user_disconnect_while_it_is_away_is_not_undone_by_bluetoothd(self):
        # out of range: bluetoothd 5.66 will page it 1 s after the loss.
        # The user presses Disconnect meanwhile, and the speaker is back
        # in range before that page: it must not play again, and its link
        # must not be kept up
        self.start_media_only(PolicyReconnect=True, PageTimeoutMs=300)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SetInRange(SPEAKER_PATH, False))
        mark = len(self.daemon.log_text())
        self.call('Disconnect')
        self.bluez.SetInRange(SPEAKER_PATH, True)
        time.sleep(5)           # bluetoothd's first two tries are past
        self.assert_let_alone(n, mark)
        self.assertFalse(self.connected(), self.bluez.event_log())
        self.assertFalse(any('policy: reconnecting' in e for e in self.bluez.event_log()),
                         self.bluez.event_log())
        # nothing the user would mind: still paired and not blocked, and
        # the speaker switched on and connecting by itself plays
        dev = self.bluez.props(SPEAKER_PATH, 'org.bluez.Device1')
        self.assertTrue(dev['Paired'])
        self.assertFalse(dev['Blocked'])
        self.bluez.speaker_connect(SPEAKER_PATH)
        self.wait_back_on_bluetooth(n, timeout=10)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)

    def test_a_user_disconnect_while_bluetoothd_pages_it_is_not_undone(self):
        # bluetoothd's page is under way (its connection takes 1.5 s) when
        # the user presses Disconnect
        self.start_media_only(PolicyReconnect=True, ConnectMs=1500)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        time.sleep(1.3)         # its page since 1 s
        mark = len(self.daemon.log_text())
        self.call('Disconnect')
        time.sleep(5)
        self.assert_let_alone(n, mark)
        self.assertFalse(self.connected(), self.bluez.event_log())

    def test_a_user_disconnect_once_bluetoothds_link_is_up_is_not_undone(self):
        # bluetoothd's page has brought the link up and it is setting A2DP
        # up (slowly) when the user presses Disconnect: the stream it sets
        # up is not taken, and the link goes
        self.start_media_only(PolicyReconnect=True, ConnectMs=300, AvdtpMs=700)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.daemon.wait_for(self.connected, 3, what="bluetoothd's link up")
        mark = len(self.daemon.log_text())
        self.call('Disconnect')
        time.sleep(5)
        self.assert_let_alone(n, mark)
        self.assertFalse(self.connected(), self.bluez.event_log())

    def test_connect_right_after_letting_it_go_plays(self):
        # the user changes their mind at once: Connect waits for the link
        # being let go, and the speaker plays, once
        self.start_media_only(PolicyReconnect=True, ConnectMs=300, AvdtpMs=300)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.daemon.wait_for(self.connected, 3, what="bluetoothd's link up")
        self.call('Disconnect')
        self.call('Connect', SPEAKER)
        self.assert_plays_once(n)


class BluetoothdReconnectsTheSecondTests(multi.TwoSpeakers):
    """MultiOutput: B, the second speaker, is lost and bluetoothd reconnects
    it as the daemon does; A plays on throughout."""

    def problems(self, address):
        return [(str(f), str(s)) for f, v, s, _ in self.call('Diagnose', address)
                if str(v) == 'problem']

    def assert_b_back_once(self):
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER_A, SPEAKER_B], 10,
                             what='B the second again')
        self.wait_streaming(dev_path(SPEAKER_B))
        tb = self.bluez.transport_for(dev_path(SPEAKER_B))
        ta = self.bluez.transport_for(dev_path(SPEAKER_A))
        time.sleep(4.5)
        self.assertEqual(self.bluez.transport_for(dev_path(SPEAKER_B)), tb, self.bluez.event_log())
        self.assertEqual(self.bluez.transport_for(dev_path(SPEAKER_A)), ta)
        self.assertEqual(self.outputs(), [SPEAKER_A, SPEAKER_B])
        self.assertEqual([o['State'] for o in self.get_outputs()], ['streaming', 'streaming'])
        self.assertEqual(self.problems(SPEAKER_B), [])
        sets = [e for e in self.bluez.event_log()
                if 'MediaEndpoint1.SetConfiguration' in e and ' call ' in e]
        self.assertEqual(len(sets), 1, sets)

    def test_second_out_of_range_and_back_plays_once(self):
        self.start_two(codecs='sbc', b_opts={'PolicyReconnect': True, 'PageTimeoutMs': 300})
        self.bluez.SetInRange(dev_path(SPEAKER_B), False)
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER_A], 5, what='Outputs = A')
        time.sleep(2.5)
        self.bluez.ClearLog()
        self.bluez.SetInRange(dev_path(SPEAKER_B), True)
        self.assert_b_back_once()

    def test_bluetoothd_bringing_the_second_back_first_plays_once(self):
        self.start_two(codecs='sbc', b_opts={'PolicyReconnect': True, 'ConnectMs': 600})
        self.bluez.ClearLog()
        self.bluez.LinkLoss(dev_path(SPEAKER_B))
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER_A], 5, what='Outputs = A')
        self.assert_b_back_once()
        self.assertTrue(any('policy: reconnecting' in e for e in self.bluez.event_log()))
        self.assertNotIn('warning: BlueZ is already connecting', self.daemon.log_text())

    def test_a_user_connect_of_the_second_while_bluetoothd_reconnects_it_ends_playing(self):
        self.start_two(codecs='sbc', b_opts={'PolicyReconnect': True, 'ConnectMs': 1500},
                       auto_reconnect=False)
        self.bluez.LinkLoss(dev_path(SPEAKER_B))
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER_A], 5, what='Outputs = A')
        time.sleep(1.3)
        self.bluez.ClearLog()
        try:
            self.call('Connect', SPEAKER_B)
            result = 'ok'
        except dbus.DBusException as e:
            result = (e.get_dbus_name(), e.get_dbus_message())
        self.assertEqual(result, 'ok', self.bluez.event_log())
        self.assertTrue(any('InProgress br-connection-busy (bluetoothd reconnecting)' in e
                            for e in self.bluez.event_log()), 'not met: ' + str(self.bluez.event_log()))
        self.assert_b_back_once()

    def test_a_user_disconnect_while_the_second_is_away_is_not_undone(self):
        # B out of range, bluetoothd about to page it; Disconnect lets A
        # go, and B back in range must not become the output
        self.start_two(codecs='sbc', b_opts={'PolicyReconnect': True, 'PageTimeoutMs': 300})
        self.bluez.SetInRange(dev_path(SPEAKER_B), False)
        self.daemon.wait_for(lambda: self.outputs() == [SPEAKER_A], 5, what='Outputs = A')
        self.call('Disconnect')
        self.bluez.SetInRange(dev_path(SPEAKER_B), True)
        time.sleep(5)
        self.assertEqual(self.outputs(), [])
        self.assertIsNone(self.bluez.transport_for(dev_path(SPEAKER_B)), self.bluez.event_log())
        self.assertFalse(bool(self.bluez.prop(dev_path(SPEAKER_B), 'org.bluez.Device1', 'Connected')))
        self.assertFalse(any('policy: reconnecting' in e for e in self.bluez.event_log()))
        self.assertFalse(bool(self.bluez.prop(dev_path(SPEAKER_B), 'org.bluez.Device1', 'Blocked')))


# TwoSpeakers' own tests run in test_multi_output: only this module's here
for _name in dir(multi.TwoSpeakers):
    if _name.startswith('test') and _name not in BluetoothdReconnectsTheSecondTests.__dict__:
        setattr(BluetoothdReconnectsTheSecondTests, _name, None)
