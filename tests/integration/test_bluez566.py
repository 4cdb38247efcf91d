"""What bluetoothd 5.66 does that a kinder double did not, and how the
daemon copes: a Release while an Acquire is pending aborts the stream
(transport.c release() -> media_owner_remove() -> a2dp_cancel() ->
avdtp_abort()), so the daemon waits for the Acquire unless it is stopping;
and PropertiesChanged arrive merged and late (gdbus). The double models
both (tests/double/bluez_double/transport.py, changes.py)."""

import os
import signal
import subprocess
import time
import unittest

import dbus

from common import A2dpTestCase, SPEAKER_PATH, TONE_HZ
from harness import wait_for


class Bluez566Tests(A2dpTestCase):

    def internal_state(self, path=SPEAKER_PATH):
        for t, props in self.bluez.transports().items():
            if str(props.get('Device')) == path:
                return str(props.get('InternalState'))
        return None

    def start_with_a_slow_start(self):
        """The speaker takes 1.5 s to answer AVDTP START; returns with the
        daemon's Acquire pending."""
        self.add_speaker(StartMs=1500)
        self.start_daemon()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.daemon.wait_for(lambda: self.internal_state() == 'requesting', 3,
                             what='the Acquire pending (START in flight)')

    def test_release_during_a_slow_start_waits_for_it_and_keeps_the_stream(self):
        # the speaker takes 1.5 s to answer AVDTP START; speaker mode goes
        # off while the Acquire is pending. A Release now would make 5.66
        # cancel the Acquire and abort the stream (the transport cleared, the
        # speaker to be connected again); the daemon waits for the START and
        # gives the stream back
        self.start_with_a_slow_start()
        self.set_mprop('SpeakerMode', dbus.Boolean(False))
        self.assertEqual(str(self.mprop('State')), 'off')
        self.daemon.wait_for(lambda: self.internal_state() == 'idle', 4,
                             what='the stream started, then given back')
        log = '\n'.join(self.bluez.event_log())
        self.assertNotIn('Release cancels pending Acquire', log)
        self.assertIsNotNone(self.bluez.transport_for(SPEAKER_PATH), 'the stream was aborted')
        self.assertIsNone(self.daemon.returncode)
        # speaker mode on again: the stream comes back
        self.set_mprop('SpeakerMode', dbus.Boolean(True))
        self.wait_streaming(timeout=10)
        time.sleep(2.0)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assert_clean_stream(a)
        self.assertEqual(str(self.mprop('State')), 'streaming')

    def test_a_stopping_daemon_releases_during_a_slow_start(self):
        # stopping, the daemon cannot wait for the START: its Release
        # cancels the pending Acquire, and 5.66 aborts the stream
        self.start_with_a_slow_start()
        self.assertEqual(self.daemon.stop(), 0)
        self.assertIn('Release cancels pending Acquire', '\n'.join(self.bluez.event_log()))

    def test_an_acquire_waiting_over_five_seconds_for_start_still_streams(self):
        # on a first connect 5.66's Acquire waits for AVDTP OPEN and START,
        # each allowed 6 s (avdtp.c REQ_TIMEOUT). The daemon gave up after
        # 5 s (NoReply), START then made it the owner all the same
        # (a2dp_resume_complete), and every later Acquire was NotAuthorized:
        # the speaker stayed silent for good
        self.add_speaker(StartMs=5500)
        self.start_daemon()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.daemon.wait_for(lambda: str(self.mprop('State')) == 'streaming', 12,
                             what='the daemon streaming after the slow START')
        time.sleep(2.0)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assert_clean_stream(a)
        self.assertNotIn('NotAuthorized', self.daemon.log_text())

    def test_an_acquire_never_answered_is_given_back_and_the_stream_set_up_again(self):
        # no answer within the daemon's 20 s: bluetoothd may still finish
        # the START and make the daemon the owner, and every later Acquire
        # would be NotAuthorized. The daemon releases first (5.66 cancels
        # the pending Acquire and aborts the stream), the stream is set up
        # again, and a START answered in time streams
        self.add_speaker(StartMs=21000)
        self.start_daemon()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.daemon.wait_for(lambda: self.internal_state() == 'requesting', 3,
                             what='the Acquire pending (START in flight)')
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'StartMs', 100)
        self.daemon.wait_for(lambda: str(self.mprop('State')) == 'streaming', 30,
                             what='the daemon streaming on the stream set up again')
        self.assertIn('Release cancels pending Acquire', '\n'.join(self.bluez.event_log()))
        time.sleep(2.0)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assert_clean_stream(a)

    def test_rejected_start_fails_the_acquire_and_keeps_the_transport(self):
        # a2dp_resume_complete() with an error: media_transport_remove_owner()
        # answers the Acquire EIO (org.bluez.Error.Failed), the transport goes
        # idle and stays configured (the stream is still OPEN)
        self.add_speaker(RejectStart=True)
        self.start_daemon()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'speaker rejected AVDTP START' in '\n'.join(self.bluez.event_log()), 3)
        time.sleep(0.5)
        self.assertIsNone(self.daemon.returncode)
        self.assertEqual(self.internal_state(), 'idle')
        self.assertFalse(self.bluez.recordings())
        self.assertNotEqual(str(self.mprop('State')), 'streaming')


class PropertiesChangedTests(A2dpTestCase):
    """The double's PropertiesChanged, as gdbus sends them: the release of a
    stream whose START is still in flight moves the transport through
    SUSPENDING (shown "active") to idle in one go; 5.66 announces that once,
    as "idle". The double without coalescing sends both."""

    def monitor(self):
        out = os.path.join(self.tmp, 'monitor.txt')
        f = open(out, 'w')
        p = subprocess.Popen(['dbus-monitor', '--address', self.bus.address,
                              "type='signal',sender='org.bluez',member='PropertiesChanged'"],
                             stdout=f, stderr=subprocess.STDOUT,
                             # SIGINT ends it below; a shell that started
                             # the suite in the background (`cmd &`) hands
                             # its children SIGINT ignored
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        f.close()
        self.addCleanup(lambda: (p.poll() is None and p.terminate(), p.wait()))
        time.sleep(0.3)
        return p, out

    def transport_states(self, out):
        """The State values announced for MediaTransport1, in order."""
        states, in_transport = [], False
        with open(out) as f:
            for line in f:
                if 'string "org.bluez.MediaTransport1"' in line:
                    in_transport = True
                elif line.startswith('signal '):
                    in_transport = False
                elif in_transport and 'string "State"' in line:
                    states.append(next(f).split('"')[1])
        return states

    def release_during_start(self):
        self.add_speaker(StartMs=1000)
        self.start_daemon()
        p, out = self.monitor()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.daemon.wait_for(lambda: any(str(t.get('InternalState')) == 'requesting'
                                         for t in self.bluez.transports().values()), 3)
        # the Release of a stopping daemon (it cannot wait for the START)
        self.daemon.stop()
        wait_for(lambda: self.bluez.transport_for(SPEAKER_PATH) is None, 3)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        p.wait(5)
        return self.transport_states(out)

    expected = ['idle']

    def test_release_during_start_announced(self):
        self.assertEqual(self.release_during_start(), self.expected)


class UncoalescedPropertiesChangedTests(PropertiesChangedTests):
    """The same with the double's coalescing off (coalesce_properties
    false): each change in its own signal, at once."""
    bluez_params = {'coalesce_properties': False}
    expected = ['active', 'idle']


if __name__ == '__main__':
    unittest.main()
