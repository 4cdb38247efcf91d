"""Faults while streaming: capture overruns, a missing capture device, a
speaker that stops reading. Audio is judged from what the speaker got."""

import os
import random
import re
import shutil
import signal
import subprocess
import time
import unittest

import dbus

from common import A2dpTestCase, SPEAKER_PATH, TONE_HZ, pcm
from harness import read_recording


def lateness_ms(rec):
    """Per packet: how late it arrived relative to its RTP time, taking the
    earliest packet as the reference (ms). A growing backlog shows as a
    growing lateness."""
    hdr, records = read_recording(rec)
    rate = {0x10: 48000, 0x20: 44100, 0x40: 32000, 0x80: 16000}[hdr['config'][0] & 0xf0]
    t0, ts0 = records[0][0], int.from_bytes(records[0][1][4:8], 'big')
    out = []
    for t, pkt in records:
        ts = (int.from_bytes(pkt[4:8], 'big') - ts0) & 0xffffffff
        out.append(((t - t0) / 1e6 - ts * 1000.0 / rate, t))
    base = min(l for l, _ in out)
    return [(l - base, t) for l, t in out]


class FaultTests(A2dpTestCase):

    def stats(self):
        return self.mprop('Statistics')

    def test_capture_xruns_recovered_and_counted(self):
        # the capture side stalls 200 ms twice: overruns, recovered
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                xrun_at_ms=800, xrun_every_ms=1500, stall_ms=200)
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        time.sleep(3.2)
        st = self.stats()
        self.assertGreaterEqual(int(st['CaptureXruns']), 2)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        # the stream continued to the end
        self.assertGreater(a['audio']['tone']['tone_end_s'], 2.5)
        self.assertEqual(a['rtp']['seq_gaps'], 0)
        self.assertEqual(a['mtu_violations'], 0)
        self.assertIsNone(self.daemon.returncode)
        # xruns 1.5 s apart are bursts of their own: each logged on its own
        # line, and no xrun in two lines
        self.daemon.wait_for(lambda: len(self.overrun_lines()) >= 2, 3,
                             what='two bursts logged: %s' % self.overrun_lines())
        self.assertLessEqual(sum(int(l.split()[0]) for l in self.overrun_lines()),
                             int(self.stats()['CaptureXruns']))

    def test_capture_suspended_by_the_system_comes_back(self):
        # the board suspends and resumes: the kernel leaves the capture
        # SUSPENDED, which polls as an error at once for ever while reads
        # find nothing. The audio thread spun (RLIMIT_RTTIME then kills
        # the daemon with the unit's limits) and the speaker was silent;
        # the capture is brought back and the stream goes on
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                suspend_at_ms=1000)
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        time.sleep(1.5)
        w0 = int(self.stats()['Wakeups'])
        time.sleep(1.0)
        # a spinning thread wakes tens of thousands of times a second; the
        # stream's own wake-ups are a few hundred
        self.assertLess(int(self.stats()['Wakeups']) - w0, 2000, 'the audio thread spins')
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assertGreater(a['audio']['tone']['tone_end_s'], 2.0)
        self.assertIsNone(self.daemon.returncode)

    def overrun_lines(self):
        return [l.split('capture overrun: ', 1)[1] for l in self.daemon.log_text().splitlines()
                if 'capture overrun: ' in l]

    def test_xrun_burst_logged_once(self):
        # four xruns 150 ms apart, then quiet: one burst, one line, logged
        # once it is over (a second without an xrun), not at the next one
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                xrun_at_ms=600, xrun_every_ms=150, xrun_count=4, stall_ms=20)
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        self.daemon.wait_for(lambda: int(self.stats()['CaptureXruns']) >= 4, 5, what='4 xruns')
        self.daemon.wait_for(lambda: self.overrun_lines(), 2.5, what='the burst logged')
        # the four together (a loaded machine may add an overrun of its own)
        first = int(self.overrun_lines()[0].split()[0])
        self.assertGreaterEqual(first, 4, 'logged per xrun, not per burst: %s' % self.overrun_lines())
        # every xrun in exactly one line, once its burst is over
        self.daemon.wait_for(lambda: sum(int(l.split()[0]) for l in self.overrun_lines()) ==
                             int(self.stats()['CaptureXruns']), 3,
                             what='all xruns logged: %s' % self.overrun_lines())

    def capture_retries(self):
        """[(log time s, announced delay s)] of the daemon's capture retries."""
        out = []
        for l in self.daemon.log_text().splitlines():
            m = re.match(r'\[\s*(\d+\.\d+)\].*retrying the capture in ([\d.]+) s', l)
            if m:
                out.append((float(m.group(1)), float(m.group(2))))
        return out

    def test_missing_capture_retried_then_used(self):
        # the device is not there at start; it appears later (as snd-aloop
        # would after its module loads): retried with backoff, then used
        self.add_speaker()
        self.start_daemon(capture='later')
        # the backoff: a quick first retry (0.25 s), then 1, 2, 4 s (then 8,
        # 16, 30: policy_backoff_s, test-policy), each retry made when it
        # was announced
        self.daemon.wait_for(lambda: len(self.capture_retries()) >= 4, 6, what='four capture retries')
        retries = self.capture_retries()[:4]
        self.assertEqual([d for _, d in retries], [0.25, 1, 2, 4])
        for (t0, d), (t1, _) in zip(retries, retries[1:]):
            self.assertAlmostEqual(t1 - t0, d, delta=0.3, msg='retried after %.2f s, not %g s' % (t1 - t0, d))
        self.assertIsNone(self.daemon.returncode)
        self.add_tone(name='later')
        time.sleep(1.1)           # alsa-lib notices a changed file by its mtime in seconds
        self.alsa_conf()          # rewritten: alsa-lib reloads a changed configuration
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.wait_streaming(timeout=10)
        self.daemon.wait_for(lambda: int(self.stats()['Packets']) > 20, 20, what='packets')
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assertTrue(a['audio']['tone']['present'])

    def test_a_capture_missing_for_long_is_not_logged_at_every_retry(self):
        # a board whose capture does not exist (snd-aloop not loaded, a
        # misspelt PCM): retried with backoff for as long as the daemon
        # runs, 30 s apart in the end. Why is said once, at the level it
        # deserves; the same failure again is not news (debug), or the
        # journal on a small flash fills with one error twice a minute
        self.add_speaker()
        self.start_daemon(capture='later')
        self.daemon.wait_for(lambda: len(self.capture_retries()) >= 4, 6, what='four capture retries')
        time.sleep(0.3)
        said = [l for l in self.daemon.log_text().splitlines()
                if re.match(r'\[\s*\d+\.\d+\] (error|warning|notice|info): ', l) and
                ("'later'" in l or 'retrying the capture' in l)]
        self.assertTrue([l for l in said if "error: cannot open capture 'later'" in l], said)
        self.assertLessEqual(len(said), 3, 'the same failure logged at every retry:\n' + '\n'.join(said))

    def test_a_long_capture_name_not_in_latin_script_is_said_whole_or_cut_between_characters(self):
        # a capture name of 84 kanji after an 'x' (253 bytes, within the
        # 255 allowed): StreamBlocked says it with the reason and the
        # error, more than fits, and goes out on D-Bus, where a character
        # cut in two makes libdbus abort the daemon
        name = 'x' + '\u97f3' * 84
        self.add_speaker()
        self.start_daemon(capture=name)
        self.bluez.connect_speaker(SPEAKER_PATH)
        blocked = self.daemon.wait_for(lambda: str(self.mprop('StreamBlocked')), 8, what='StreamBlocked said')
        self.assertTrue(blocked.startswith('capture-unavailable: '), blocked)
        self.assertIn('\u97f3' * 20, blocked)
        self.assertIsNone(self.daemon.proc.poll())

    def test_a_capture_name_that_is_not_utf8_is_refused_with_the_reason(self):
        # a byte not UTF-8 in the configured capture (a file written in
        # Latin-1, a stray byte): the name reaches D-Bus in StreamBlocked,
        # where libdbus aborts the daemon (SIGABRT at every start, systemd
        # restarting it). Refused at start instead, exit 2, with the reason
        self.add_speaker()
        self.start_daemon(capture='hw:Lo\udcffop', wait_registered=False)
        rc = self.daemon.wait_exit(5)
        self.assertEqual(rc, 2, self.daemon.log_text())
        self.assertIn('capture: the value is not UTF-8 text', self.daemon.log_text())

    def test_a_capture_that_opens_but_never_starts_backs_off(self):
        # the device opens and takes its parameters, but every start fails
        # with -EIO (snd-aloop's trigger when the producer's format or access
        # differs; ASoC boards alike): the failures add up, the retries back
        # off, and the speaker is given back with the reason, not held
        # silent. Before, each retry counted as a success (the audio thread
        # took the START), every retry came after 0.25 s, 16 log lines a
        # second, StreamBlocked empty, the speaker held silent.
        broken = os.path.join(self.tmp, 'start-fails')
        open(broken, 'w').close()
        self.add_tone(start_error=5, start_error_file=broken)
        self.add_speaker()
        self.start_daemon()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.daemon.wait_for(lambda: len(self.capture_retries()) >= 4, 8, what='four capture retries')
        retries = self.capture_retries()[:4]
        self.assertEqual([d for _, d in retries], [0.25, 1, 2, 4])
        for (t0, d), (t1, _) in zip(retries, retries[1:]):
            self.assertAlmostEqual(t1 - t0, d, delta=0.3, msg='retried after %.2f s, not %g s' % (t1 - t0, d))
        blocked = str(self.mprop('StreamBlocked'))
        self.assertTrue(blocked.startswith('capture-unavailable: '), blocked)
        self.assertIn("'tone'", blocked)
        t = self.bluez.transport_for(SPEAKER_PATH)
        self.assertIsNotNone(t)
        self.assertEqual(str(self.bluez.transports()[t].get('State')), 'idle', 'the speaker held silent')
        self.assertNotEqual(str(self.mprop('State')), 'streaming')
        # the same failure at every retry is said once (30 s apart for
        # hours, it would fill a small board's journal), repeats at debug
        failed = [l for l in self.daemon.log_text().splitlines()
                  if 'capture media failed' in l and 'debug:' not in l]
        self.assertEqual(len(failed), 1, 'the same failure logged at every retry: %s' % failed)
        # the device starts again: used at the fourth retry (announced 4 s
        # ahead), the speaker taken back and streamed to, no retry more
        os.unlink(broken)
        self.wait_streaming(timeout=8)
        self.daemon.wait_for(lambda: str(self.mprop('StreamBlocked')) == '', 3, what='unblocked')
        self.daemon.wait_for(lambda: int(self.stats()['Packets']) > 20, 5, what='packets')
        self.assertEqual(len(self.capture_retries()), 4, 'retried while the capture delivered')

    def test_speaker_stall_keeps_latency_bounded(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        time.sleep(1.0)
        self.bluez.SpeakerStall(SPEAKER_PATH, dbus.UInt32(2000))
        time.sleep(2.0 + 1.5)
        self.bluez.flush()
        st = self.stats()
        self.assertGreater(int(st['DroppedMs']), 0, 'nothing dropped during a 2 s stall?')
        self.assertGreaterEqual(int(st['Stalls']), 1)
        rec = self.recording()
        late = lateness_ms(rec)
        t_end = late[-1][1]
        tail = [l for l, t in late if t > t_end - 0.7e9]
        self.assertTrue(tail)
        # after the stall, audio arrives as promptly as before it: no backlog
        self.assertLess(max(tail), 60.0, 'packets still %.0f ms late after the stall' % max(tail))
        self.daemon.wait_for(lambda: 'takes audio again' in self.daemon.log_text(), 3)
        a = self.analyze(rec, '--tone', str(TONE_HZ))
        self.assertEqual(a['rtp']['seq_gaps'], 0)
        self.assertEqual(a['frame_errors'], 0)


    def test_link_losses_are_not_suspends(self):
        # a link loss shows the transport idle before it goes: that is no
        # suspend by the speaker, and the reconnected stream must not wait
        # out a suspend hold-off (doubling with each loss within 30 s)
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        for n in range(4):
            time.sleep(1.0)
            self.bluez.LinkLoss(SPEAKER_PATH)
            t0 = time.monotonic()
            self.daemon.wait_for(lambda: self.bluez.transport_for(SPEAKER_PATH) is None, 2)
            self.wait_streaming(timeout=10)
            # the reconnect waits 1 s (policy_reconnect_delay_s); the rest
            # is connecting and starting the stream
            self.assertLess(time.monotonic() - t0, 2.0, 'link loss %d: streaming again after %.1f s'
                            % (n + 1, time.monotonic() - t0))

    def fd_count(self):
        return len(os.listdir('/proc/%d/fd' % self.daemon.pid))

    def test_bluetoothd_killed_and_restarted(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        time.sleep(1.0)
        fds_before = self.fd_count()
        for round_ in range(3):
            self.bluez.stop(signal.SIGKILL)
            self.bluez.start()
            t0 = time.monotonic()
            self.daemon.wait_for(lambda: self.bluez.registered_endpoints(), 2, what='endpoint again')
            self.assertLess(time.monotonic() - t0, 1.0, 'registration took too long')
            self.wait_streaming(timeout=8)
            time.sleep(0.5)
        # one transport socket and nothing else more than before
        self.assertLessEqual(self.fd_count(), fds_before, 'file descriptors leaked')
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assert_clean_stream(a)

    def test_stall_moves_audio_local(self):
        self.add_speaker()
        self.start_daemon(local='local')
        self.connect_speaker()
        time.sleep(0.5)
        local_before = int(self.stats()['LocalFrames'])
        self.bluez.SpeakerStall(SPEAKER_PATH, dbus.UInt32(2000))
        # the speaker takes nothing: within the stall bound (300 ms) plus a
        # period, media plays locally
        self.daemon.wait_for(lambda: int(self.stats()['LocalFrames']) > local_before + 4800, 1.5,
                             what='media on the local output')
        # and it comes back to Bluetooth after the stall
        self.daemon.wait_for(lambda: 'takes audio again' in self.daemon.log_text(), 4)

    def test_kill_9_during_state_writes_never_tears_the_file(self):
        """100 times: settings change as fast as the API takes them, the
        daemon is killed -9 at a random moment; the state file is always a
        whole old or new version."""
        rng = random.Random(5)
        state = os.path.join(self.state_dir, 'state')
        self.add_tone()
        for i in range(100):
            self.start_daemon(wait_registered=False)
            mgr = None
            for _ in range(200):
                try:
                    self.set_mprop('Volume', dbus.UInt16(rng.randrange(128)))
                    break
                except dbus.exceptions.DBusException:
                    time.sleep(0.005)
            deadline = time.monotonic() + rng.random() * 0.05
            while time.monotonic() < deadline:
                try:
                    self.set_mprop('Volume', dbus.UInt16(rng.randrange(128)))
                    self.set_mprop('IdleSuspend', dbus.UInt32(rng.randrange(1000)))
                except dbus.exceptions.DBusException:
                    break
            os.kill(self.daemon.pid, signal.SIGKILL)
            self.daemon.proc.wait(5)
            with open(state) as f:
                text = f.read()
            lines = text.split('\n')
            self.assertEqual(lines[0], 'a2dpsrc-state 1', 'round %d: %r' % (i, text))
            self.assertTrue(text.endswith('\n'), 'round %d: torn: %r' % (i, text))
            self.assertTrue(any(l.startswith('volume=') for l in lines), text)
            self.assertFalse([n for n in os.listdir(self.state_dir) if n.startswith('state.corrupt')])
        # the last daemon reads it without complaint
        self.start_daemon(wait_registered=False)
        self.daemon.wait_for(lambda: 'speaker mode' in self.daemon.log_text(), 3)
        self.assertNotIn('unreadable', self.daemon.log_text())

    @unittest.skipUnless(shutil.which('prlimit'), 'prlimit is not installed')
    def test_full_or_read_only_disk_reported_and_old_settings_kept(self):
        state = os.path.join(self.state_dir, 'state')
        self.start_daemon()
        self.set_mprop('Volume', dbus.UInt16(50))
        with open(state) as f:
            old = f.read()
        self.assertIn('volume=50', old)
        # a full disk: writes beyond 16 bytes fail (EFBIG), as on a full
        # filesystem they would with ENOSPC
        subprocess.run(['prlimit', '--pid', str(self.daemon.pid), '--fsize=16:'], check=True)
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.set_mprop('Volume', dbus.UInt16(90))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.a2dpsrc.Error.Failed')
        self.assertIn('could not be saved', cm.exception.get_dbus_message())
        with open(state) as f:
            self.assertEqual(f.read(), old, 'the old settings file was damaged')
        self.assertEqual(int(self.mprop('Volume')), 90)     # applies now
        self.assertIsNone(self.daemon.returncode, 'SIGXFSZ killed the daemon')
        # a directory that cannot take the new file (as read-only would)
        subprocess.run(['prlimit', '--pid', str(self.daemon.pid), '--fsize=unlimited:'], check=True)
        os.mkdir(state + '.tmp')
        with self.assertRaises(dbus.exceptions.DBusException):
            self.set_mprop('IdleSuspend', dbus.UInt32(30))
        with open(state) as f:
            self.assertEqual(f.read(), old)
        os.rmdir(state + '.tmp')
        # the disk is back: the next change saves everything
        self.set_mprop('Volume', dbus.UInt16(91))
        with open(state) as f:
            text = f.read()
        self.assertIn('volume=91', text)
        self.assertIn('idle-suspend=30', text)

    @unittest.skipUnless(shutil.which('prlimit'), 'prlimit is not installed')
    def test_a_change_made_while_the_disk_was_full_is_saved_when_it_has_room(self):
        # a board's /var/lib fills up (logs, the journal) and is freed
        # again by a rotation: a change made meanwhile applied at once but
        # stayed off the disk until the next change, so a reboot before
        # one lost it. The write is tried again (1, 2, 4 ... s), quietly,
        # and is on disk once there is room, with nothing changed since.
        # (A directory in the temporary file's place stops every write, as
        # a full or read-only disk would; prlimit's file size limit would
        # stop the daemon's log too.)
        state = os.path.join(self.state_dir, 'state')
        self.start_daemon()
        self.set_mprop('Volume', dbus.UInt16(50))
        os.mkdir(state + '.tmp')
        with self.assertRaises(dbus.exceptions.DBusException):
            self.set_mprop('Volume', dbus.UInt16(90))
        # the retries at 1 and 2 s fail alike: said once
        time.sleep(3.3)
        said = [l for l in self.daemon.log_text().splitlines()
                if 'saving settings' in l and 'debug:' not in l]
        self.assertEqual(len(said), 1, said)
        with open(state) as f:
            self.assertIn('volume=50', f.read())
        os.rmdir(state + '.tmp')

        def saved():
            with open(state) as f:
                return 'volume=90' in f.read()
        self.daemon.wait_for(saved, 10, what='the change saved once there is room')
        self.assertIn('settings saved in %s again' % self.state_dir, self.daemon.log_text())
        # the retries were made, and failed at debug only
        self.assertIn('debug: saving settings in %s failed again' % self.state_dir,
                      self.daemon.log_text())

    @unittest.skipUnless(shutil.which('stress-ng'), 'stress-ng is not installed')
    def test_cpu_starvation_with_realtime_thread(self):
        seconds = float(os.environ.get('STARVATION_SECONDS', '60'))
        self.add_speaker()
        self.add_tone(duration=seconds, channel_offset_hz=1)
        self.start_daemon(args=['--rt-priority', '50'])
        if 'SCHED_FIFO priority 50' not in self.daemon.log_text():
            self.skipTest('the kernel refused SCHED_FIFO here: %s' % self.daemon.log_text()[-300:])
        hogs = subprocess.Popen(['stress-ng', '--cpu', str(len(os.sched_getaffinity(0))), '--timeout', '%ds' % int(seconds + 10), '--quiet'])
        self.addCleanup(lambda: (hogs.kill(), hogs.wait()))
        time.sleep(1.0)
        self.connect_speaker()
        time.sleep(seconds + 0.8)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ), '--tone-offset', '1')
        self.assert_clean_stream(a, fed_s=seconds)
        self.assertEqual(int(self.stats()['DroppedMs']), 0)


if __name__ == '__main__':
    unittest.main()
