"""An audio thread that stops answering (a capture driver stuck in a
resume, a local output that blocks): the daemon must never free what the
thread may still be using, must stop believing later acknowledgements, and
must hand the recovery to systemd (its watchdog) or exit with an error.

The capture is the project's test plugin with `hang_file`: while that file
exists, every position query blocks inside the audio thread."""

import os
import signal
import time

import dbus

from common import A2dpTestCase, MANAGER, SPEAKER_PATH, TONE_HZ, pcm


class EngineStuckTests(A2dpTestCase):

    def setUp(self):
        super().setUp()
        self.hang = os.path.join(self.tmp, 'hang')
        # the thread must never stay blocked past the test
        self.addCleanup(self.unhang)
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                start_file=self.starts_file, hang_file=self.hang)

    def unhang(self):
        if os.path.exists(self.hang):
            os.unlink(self.hang)

    def stream_then_hang(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        self.daemon.wait_for(lambda: int(self.mprop('Statistics')['Packets']) > 10, 5,
                             what='packets')
        open(self.hang, 'w').close()
        time.sleep(0.2)           # the thread is now inside the capture

    def test_shutdown_with_a_stuck_thread_frees_nothing_it_holds(self):
        self.stream_then_hang()
        t0 = time.monotonic()
        self.daemon.proc.send_signal(signal.SIGTERM)
        # one command times out (2 s); nothing after it waits for the thread,
        # and nothing it holds is closed (closing a PCM the thread is inside
        # blocks on the PCM's lock, then frees it under the thread's feet)
        rc = self.daemon.wait_exit(8)
        self.assertLess(time.monotonic() - t0, 6.0)
        self.assertEqual(rc, 1, 'a shutdown that left the thread stuck is not clean')
        log = self.daemon.log_text()
        self.assertIn('audio thread is stuck', log)

    def test_stuck_thread_stops_the_watchdog(self):
        notify, got = self.notify_socket()

        def since(t0, what):
            return [m for when, m in list(got) if when >= t0 and what in m]
        self.add_speaker()
        self.start_daemon_with_env({'NOTIFY_SOCKET': notify, 'WATCHDOG_USEC': '1000000'})
        self.connect_speaker()
        self.daemon.wait_for(lambda: int(self.mprop('Statistics')['Packets']) > 10, 5,
                             what='packets')
        self.daemon.wait_for(lambda: since(0, 'WATCHDOG=1'), 2, what='watchdog pings')
        open(self.hang, 'w').close()
        time.sleep(0.2)
        # a command: speaker mode off detaches the transport from the thread
        self.set_mprop('SpeakerMode', dbus.Boolean(False))
        self.daemon.wait_for(lambda: since(0, 'WATCHDOG=trigger'), 5, what='WATCHDOG=trigger')
        # no ping after the trigger: systemd restarts the service
        t_trigger = min(when for when, m in list(got) if 'WATCHDOG=trigger' in m)
        time.sleep(1.5)
        self.assertFalse(since(t_trigger, 'WATCHDOG=1'), got)
        # the bus side still answers, and says what is wrong
        self.assertTrue(bool(self.mprop('Statistics')['EngineStuck']))
        # the thread comes back: it finds everything it held still valid
        self.unhang()
        time.sleep(1.0)
        self.assertIsNone(self.daemon.returncode)
        # later commands are refused at once, not believed from a stale ack
        self.set_mprop('SpeakerMode', dbus.Boolean(True))
        time.sleep(0.5)
        self.assertIsNone(self.daemon.returncode)
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait_exit(5), 1)

    def start_daemon_with_env(self, env):
        from harness import Daemon
        orig = Daemon.start

        def start(d, args=(), e=None):
            e = dict(e or {})
            e.update(env)
            return orig(d, args, e)
        Daemon.start = start
        try:
            return self.start_daemon()
        finally:
            Daemon.start = orig
