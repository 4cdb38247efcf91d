"""One output at a time through the control API: Connect (another
speaker, in progress, during an automatic reconnect), Disconnect, Forget
and Reset."""

import os
import signal
import threading
import time
import unittest

import dbus

from common import MANAGER, MANAGER_PATH, SPEAKER, SPEAKER_PATH
from control_case import ERR, SPEAKER_B, SPEAKER_B_PATH, ControlCase, plain


class OutputTests(ControlCase):

    def test_connect_second_speaker_drops_the_first(self):
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        rec = self.recorder()
        self.call('Connect', SPEAKER)
        self.wait_streaming(SPEAKER_PATH)
        rec.wait('Output', SPEAKER)
        rec.wait('State', 'streaming')
        # the double's default speaker offers dual channel and bitpool 53: SBC-XQ
        self.assertTrue(plain(self.mprop('Codec')).startswith('SBC-XQ 48000 Hz dual-channel'))
        self.assertGreater(plain(self.mprop('Latency')), 0)
        self.assertEqual(len(self.bluez.recordings()), 1)

        self.ctl('connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        rec.wait('Output', SPEAKER_B)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3,
                             what='first speaker disconnected')
        self.assertIn('dropping %s for %s' % (SPEAKER, SPEAKER_B), self.daemon.log_text())
        # dropped on purpose: no reconnect to it is planned, and no link
        # "lost" either (the audio thread let go of A before its socket did)
        self.assertNotIn('reconnecting %s' % SPEAKER, self.daemon.log_text())
        self.assertNotIn('link to the speaker lost', self.daemon.log_text())
        self.assertEqual(self.stats()['LinkErrors'], 0)
        # B gets the audio: a new recording that grows
        recs = self.bluez.recordings()
        self.assertEqual(len(recs), 2)
        self.assertIn('22_33_44_66', os.path.basename(recs[-1]))
        size = os.path.getsize(recs[-1])
        self.daemon.wait_for(lambda: os.path.getsize(recs[-1]) > size + 2000, 2, what='B recording grows')
        self.assertIn('last-output=%s\n' % SPEAKER_B, self.state_file())

        # Disconnect: no output, and no reconnect
        self.ctl('disconnect')
        rec.wait('Output', '')
        rec.wait('State', 'idle')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_B_PATH)['Connected'], 3)
        self.assertIn('last-output=\n', self.state_file())
        time.sleep(1.5)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_B_PATH))
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertNotIn('link to the speaker lost', self.daemon.log_text())
        self.assertEqual(self.stats()['LinkErrors'], 0)

    def test_a_new_speaker_does_not_wait_out_the_last_ones_suspend_hold_off(self):
        # A suspends its stream over and over: its hold-off doubles (1, 2,
        # 4 s). Connect(B) then: B is a new output and is streamed to at
        # once, and its own first suspend is held off 1 s, not A's next
        # step. Before, the hold-off (daemon-wide, cleared only with the
        # output's transport, and A was no longer the output when its
        # transport went) kept B's transport from being acquired until
        # sound came after A's time was up: 4 s here, 15.9 s as reviewed,
        # never in silence.
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming(SPEAKER_PATH)
        for n, holdoff in enumerate((1, 2, 4), 1):
            self.bluez.SpeakerSuspend(SPEAKER_PATH)
            self.log_has('suspended by the speaker; starting it again in %d s' % holdoff)
            if holdoff < 4:
                self.daemon.wait_for(
                    lambda: self.daemon.log_text().count('sound again: taking the speaker back') >= n
                    and self.transport_state(SPEAKER_PATH) == 'active', holdoff + 3, what='A back')
        t0 = time.monotonic()
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH, timeout=8)
        dt = time.monotonic() - t0
        self.assertLess(dt, 2.0, "B streamed %.1f s after Connect: A's 4 s hold-off waited out" % dt)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        # B's first suspend: B's own hold-off, from its start
        self.bluez.SpeakerSuspend(SPEAKER_B_PATH)
        self.daemon.wait_for(lambda: self.daemon.log_text().count('suspended by the speaker') >= 4, 3,
                             what="B's suspend")
        last = [l for l in self.daemon.log_text().splitlines() if 'suspended by the speaker' in l][-1]
        self.assertIn('dev_00_11_22_33_44_66', last)
        self.assertIn('starting it again in 1 s', last)
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_B_PATH) == 'active', 4, what='B back')

    def test_connect_in_progress_and_disconnect_cancels_it(self):
        self.add_speaker(ConnectMs=800)
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        rec = self.recorder()
        first = self.call_async('Connect', 's', SPEAKER)
        rec.wait('State', 'connecting')
        msg = self.assert_error(ERR + 'InProgress', self.call, 'Connect', SPEAKER_B)
        self.assertIn(SPEAKER, msg)
        _, err = first.communicate(timeout=10)
        self.assertEqual(first.returncode, 0, err)
        self.wait_streaming()
        rec.wait('State', 'streaming')
        # connecting again to the output is done at once
        self.call('Connect', SPEAKER)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)

        # a Disconnect while connecting answers the Connect
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Disconnect')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3)
        second = self.call_async('Connect', 's', SPEAKER)
        self.wait_prop('State', 'connecting')
        self.call('Disconnect')
        _, err = second.communicate(timeout=10)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn('cancelled by Disconnect', err)
        self.wait_prop('State', 'idle')
        time.sleep(1.0)
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        # (bluetoothd cancels the page on the daemon's Disconnect)
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3)

    def test_a_connect_called_off_in_its_service_search_does_not_hold_up_the_next(self):
        # bluetoothd 5.66 never answers a Connect whose service search a
        # Disconnect cancelled (browse_request_cancel frees its message):
        # the next speaker must not wait for that call's own timeout (30 s)
        self.add_speaker(ServicesKnown=False, SdpMs=2000)
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        first = self.call_async('Connect', 's', SPEAKER, timeout=40)
        # paged; its services are being searched
        self.daemon.wait_for(lambda: self.double_device(SPEAKER_PATH)['Connected'], 5, what='A paged')
        self.call('Disconnect')
        _, err = first.communicate(timeout=10)
        self.assertIn('cancelled by Disconnect', err)
        t0 = time.monotonic()
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.assertLess(time.monotonic() - t0, 8.0)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        self.assertFalse(self.double_device(SPEAKER_PATH)['Connected'])
        # and A, asked for again the same way, connects
        self.call('Connect', SPEAKER)
        self.wait_streaming(SPEAKER_PATH)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)

    def test_connect_during_an_automatic_reconnect(self):
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        # A drops and takes its time answering the reconnect
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'ConnectMs', dbus.Int32(1500, variant_level=1))
        mark = len(self.daemon.log_text())
        self.bluez.LinkLoss(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'connecting %s' % SPEAKER in self.daemon.log_text()[mark:], 3,
                             what='automatic reconnect under way')
        self.wait_prop('State', 'connecting')
        # the user picks B meanwhile: B it is, and A stays away
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        # A's page is called off (bluetoothd 5.66 cancels it on Disconnect):
        # not adopted, and B waited for it to end, not for its page
        self.log_has('giving up connecting %s for %s' % (SPEAKER, SPEAKER_B))
        self.log_has('cancelling the connection to %s' % SPEAKER)
        self.assertIsNone(self.daemon.returncode)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        self.assertIsNotNone(self.bluez.transport_for(SPEAKER_B_PATH))
        self.assertEqual(self.transport_state(SPEAKER_B_PATH), 'active')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3,
                             what='A sent away')
        self.assertIn('last-output=%s\n' % SPEAKER_B, self.state_file())
        self.assertEqual(self.daemon.log_text()[mark:].count('reconnecting %s' % SPEAKER), 1,
                         'a reconnect to A planned after the user chose B')

    def test_connect_joins_an_automatic_reconnect_to_the_same_speaker(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'ConnectMs', dbus.Int32(800, variant_level=1))
        mark = len(self.daemon.log_text())
        self.bluez.LinkLoss(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'connecting %s' % SPEAKER in self.daemon.log_text()[mark:], 3)
        t0 = time.monotonic()
        self.call('Connect', SPEAKER)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.wait_streaming()
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)
        self.assertIsNone(self.daemon.returncode)

    def test_connect_errors(self):
        self.add_speaker(InRange=False, PageTimeoutMs=200)
        self.start_daemon()
        msg = self.assert_error(ERR + 'NotAvailable', self.call, 'Connect', SPEAKER)
        self.assertIn('did not answer', msg)
        self.assertEqual(plain(self.mprop('State')), 'idle')
        self.assertEqual(plain(self.mprop('Output')), '')

    def test_connect_while_bluetoothd_stops_says_so(self):
        # bluetoothd dies while it pages the speaker (a crash, a restart):
        # the bus answers the pending call with NoReply, which is not the
        # speaker failing to answer
        self.add_speaker(InRange=False, PageTimeoutMs=5000)
        self.start_daemon()
        result = {}

        def connect():
            # a blocking call of its own, as a2dpsrcctl's
            conn = self.bus.connect()
            try:
                conn.get_object('org.a2dpsrc', MANAGER_PATH).Connect(
                    SPEAKER, dbus_interface=MANAGER, timeout=20)
                result['ok'] = True
            except dbus.exceptions.DBusException as e:
                result['error'] = e
            finally:
                conn.close()
        caller = threading.Thread(target=connect)
        caller.start()
        self.daemon.wait_for(lambda: 'connecting %s' % SPEAKER in self.daemon.log_text(), 3)
        time.sleep(0.3)
        self.bluez.stop(signal.SIGKILL)
        caller.join(10)
        self.assertIn('error', result, 'Connect answered %s' % result)
        e = result['error']
        self.assertEqual(e.get_dbus_name(), ERR + 'Failed')
        self.assertIn('bluetoothd stopped while connecting', e.get_dbus_message())
        self.assertIsNone(self.daemon.returncode, 'the daemon died')

    def test_connect_turns_speaker_mode_on(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon()
        self.assertEqual(plain(self.mprop('State')), 'off')
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.assertTrue(plain(self.mprop('SpeakerMode')))
        self.wait_prop('State', 'streaming')
        # off again: the stream is released, the speaker stays connected
        self.set_mprop('SpeakerMode', False)
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) == 'idle', 2)
        self.assertTrue(self.double_device(SPEAKER_PATH)['Connected'])
        self.wait_prop('State', 'off')

    def test_forget_removes_the_pairing(self):
        self.add_speaker()
        other = self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Forget', 's', SPEAKER_B)
        self.assertFalse(self.double_device(other)['Paired'])
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B) is None, 2)
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.ctl('forget', SPEAKER)
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Exported'], 3,
                             what='device removed from BlueZ')
        dev = self.double_device(SPEAKER_PATH)
        self.assertFalse(dev['Paired'])
        self.assertFalse(dev['Connected'])
        self.assertIsNone(self.device_entry(SPEAKER))
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIn('last-output=\n', self.state_file())
        self.assert_error(ERR + 'NotFound', self.call, 'Forget', SPEAKER)

    def test_reset_forgets_our_speakers_and_settings(self):
        self.bluez.add_device('hci0', SPEAKER_B, 'Ours', {'Paired': False, 'Known': True})
        other = self.add_speaker()     # paired before us: not ours to forget
        self.start_daemon()
        self.call('Pair', SPEAKER_B)
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.set_mprop('Volume', dbus.UInt16(100))
        self.set_mprop('IdleSuspend', dbus.UInt32(60))
        self.ctl('reset')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_B_PATH)['Exported'], 3)
        self.assertTrue(self.double_device(other)['Paired'])
        s = self.settings()
        self.assertEqual((s['Volume'], s['IdleSuspend'], s['Output'], s['SpeakerMode']), (64, 0, '', False))
        # registered afresh; the agent only ever exists during a pairing
        self.daemon.wait_for(lambda: self.bluez.registered_endpoints(), 3)
        self.assertEqual(list(self.bluez.GetAgents()), [])


if __name__ == '__main__':
    unittest.main()
