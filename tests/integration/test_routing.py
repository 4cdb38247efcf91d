"""Where the audio goes, judged by listening: each capture category carries
its own tone, the speaker's recording is decoded with speaker-analyze and
the local output lands in a raw file; Goertzel filters tell which tones
are in which output. Also the fallback to the local output when the link
drops and the way back, volume (AVRCP and software gain) and idle
suspend."""

import array
import math
import os
import re
import time
import unittest

import dbus

from common import SPEAKER, SPEAKER_PATH, TONE_HZ, pcm
from harness import REC_RECORD, REC_RECORD_V3, read_recording
from control_case import ControlCase, plain

RATE = 48000
TONES = {'media': 997, 'alerts': 1499, 'voice': 2003}
PRESENT = 0.1       # a 0.3 amplitude tone measures ~0.3
ABSENT = 0.003      # -40 dB below it: leakage and codec noise stay far under


def goertzel(samples, freq, rate=RATE):
    """Amplitude (0..1 of full scale) of freq in samples (ints), through a
    Hann window so neighbouring tones do not leak in."""
    n = len(samples)
    if n < 64:
        return 0.0
    k = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    w = 2.0 * math.pi / (n - 1)
    for i, x in enumerate(samples):
        s0 = x * (0.5 - 0.5 * math.cos(w * i)) + k * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    # the Hann window's coherent gain is 1/2
    return 2.0 * math.sqrt(max(power, 0.0)) / (n * 0.5) / 32768.0


def left_channel(raw, max_frames=None):
    a = array.array('h')
    a.frombytes(raw[:len(raw) - len(raw) % 4])
    left = a[0::2]
    if max_frames and len(left) > max_frames:
        mid = (len(left) - max_frames) // 2
        left = left[mid:mid + max_frames]
    return left


def tones_in(samples, rate=RATE):
    return {cat: goertzel(samples, f, rate) for cat, f in TONES.items()}


def write_partial_recording(src, dst, t_from_ns, t_to_ns):
    """The packets of src received within [t_from_ns, t_to_ns], as a
    recording of their own."""
    hdr, records = read_recording(src, kernel_times=True)
    with open(src, 'rb') as f:
        head = f.read(hdr['header_len'])
    n = 0
    with open(dst, 'wb') as f:
        f.write(head)
        for t, t_kernel, pkt in records:
            if t_from_ns <= t <= t_to_ns:
                if hdr['version'] == 3:
                    f.write(REC_RECORD_V3.pack(t, len(pkt), t_kernel or 0))
                else:
                    f.write(REC_RECORD.pack(t, len(pkt)))
                f.write(pkt)
                n += 1
    return n


class RoutingCase(ControlCase):

    def add_category_tones(self, amplitude=0.3):
        for cat, f in TONES.items():
            self.pcms[cat] = pcm(cat, source='sine', frequency=f, amplitude=amplitude)

    def start_three_categories(self, **kw):
        self.add_category_tones()
        return self.start_daemon(capture='media=media', local='localout',
                                 args=['--capture', 'alerts=alerts', '--capture', 'voice=voice'], **kw)

    def decode(self, rec, t_from_ns=None, t_to_ns=None):
        """Left channel of what the speaker got (within a time window)."""
        if t_from_ns is not None:
            part = os.path.join(self.tmp, 'part-%d.rec' % time.monotonic_ns())
            self.assertGreater(write_partial_recording(rec, part, t_from_ns, t_to_ns), 10,
                               'too few packets in the window')
            rec = part
        pcm_out = os.path.join(self.tmp, 'decoded-%d.raw' % time.monotonic_ns())
        a = self.analyze(rec, '--pcm-out', pcm_out)
        with open(pcm_out, 'rb') as f:
            raw = f.read()
        os.unlink(pcm_out)
        self.assertEqual(a['config']['channels'], 2)
        return left_channel(raw, RATE // 2), a['config']['rate']

    def local_size(self):
        try:
            return os.path.getsize(self.local_file)
        except OSError:
            return 0

    def local_between(self, off_from, off_to):
        with open(self.local_file, 'rb') as f:
            f.seek(off_from - off_from % 4)
            raw = f.read(off_to - off_from)
        return left_channel(raw, RATE // 2)

    def listen(self, seconds=0.6, settle=0.3):
        """What each output played during the next `seconds`, after
        `settle` for a change to take hold: ({cat: amplitude} on Bluetooth
        or None, {cat: amplitude} locally or None)."""
        time.sleep(settle)
        t0, off0 = time.monotonic_ns(), self.local_size()
        frames0 = self.stats()['LocalFrames']
        time.sleep(seconds)
        t1 = time.monotonic_ns()
        frames1 = self.stats()['LocalFrames']
        bt = None
        if self.transport_state(SPEAKER_PATH) == 'active':
            self.bluez.flush()
            samples, rate = self.decode(self.recording(), t0, t1)
            bt = tones_in(samples, rate)
        local = None
        if frames1 > frames0:
            # the file plugin writes in blocks: wait for the window's audio
            want = off0 + (frames1 - frames0) * 4
            self.daemon.wait_for(lambda: self.local_size() >= want, 2, what='local file catching up')
            local = tones_in(self.local_between(off0, want))
        return bt, local

    def assert_heard(self, heard, expect, where):
        self.assertIsNotNone(heard, 'nothing played on %s' % where)
        for cat, amp in heard.items():
            if cat in expect:
                self.assertGreater(amp, PRESENT, '%s (%d Hz) missing on %s: %r' % (
                    cat, TONES[cat], where, heard))
            else:
                self.assertLess(amp, ABSENT, '%s (%d Hz) leaks into %s: %r' % (
                    cat, TONES[cat], where, heard))


class RoutingTests(RoutingCase):

    def test_routes_move_each_category_to_its_output(self):
        self.add_speaker()
        self.write_state(speaker_mode=True, volume=127)
        self.start_three_categories()
        # no speaker yet: everything plays locally
        bt, local = self.listen()
        self.assertIsNone(bt)
        self.assert_heard(local, {'media', 'alerts', 'voice'}, 'local (no speaker)')

        self.connect_speaker()
        bt, local = self.listen()
        self.assert_heard(bt, {'media'}, 'Bluetooth (default routes)')
        self.assert_heard(local, {'alerts', 'voice'}, 'local (default routes)')

        self.set_mprop('Routes', dbus.Dictionary({'alerts': 'bluetooth'}, signature='ss'))
        bt, local = self.listen()
        self.assert_heard(bt, {'media', 'alerts'}, 'Bluetooth (alerts moved)')
        self.assert_heard(local, {'voice'}, 'local (alerts moved)')

        self.ctl('route', 'media', 'local')
        bt, local = self.listen()
        self.assert_heard(bt, {'alerts'}, 'Bluetooth (media local)')
        self.assert_heard(local, {'media', 'voice'}, 'local (media local)')

        self.busctl('call', 'org.a2dpsrc', '/org/a2dpsrc', 'org.a2dpsrc.Manager1', 'SetDefaultOutput', 's',
                    'local')
        bt, local = self.listen()
        self.assert_heard(bt, set(), 'Bluetooth (all local)')
        self.assert_heard(local, {'media', 'alerts', 'voice'}, 'local (all local)')

        self.ctl('default-output', 'bluetooth')
        bt, local = self.listen()
        self.assert_heard(bt, {'media', 'alerts', 'voice'}, 'Bluetooth (all Bluetooth)')
        # the local output rests while nothing plays there
        self.assertIsNone(local, 'the local output played while everything went to Bluetooth')

        # speaker mode off: all back home, the speaker released
        self.set_mprop('SpeakerMode', False)
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) == 'idle', 2)
        bt, local = self.listen()
        self.assertIsNone(bt)
        self.assert_heard(local, {'media', 'alerts', 'voice'}, 'local (speaker mode off)')

    def test_an_alert_on_the_speaker_survives_a_stalled_thread(self):
        # alerts to the speaker, media locally: the speaker's stream is the
        # alerts' capture, read beside media's (the clock). After a stall
        # both hold the same backlog, caught up over several steps; the
        # alerts' was cut to two periods past the first step (as if its
        # clock ran fast), and the steps after it played silence: a cut in
        # the alert at every stall. Only what runs ahead of media's goes.
        # Short packets (5.3 ms periods): a 40 ms stall is far more than
        # two periods, and far less than the 80 ms capture buffer. Plain
        # SBC, two frames a packet. (SBC-XQ's one frame a packet was once
        # seen to overflow the sender's queue here; on 2026-12-03 it passed
        # this test and 60 ms stalls without a dropped packet: the socket
        # takes what the queue cannot)
        self.add_speaker(WriteMTU=300, SinkCapabilities=bytes([0xfb, 0xff, 2, 53]))
        self.write_state(speaker_mode=True, volume=127,
                         **{'route.media': 'local', 'route.alerts': 'bluetooth'})
        self.start_three_categories()
        self.connect_speaker()
        time.sleep(1.0)
        self.stall_daemon(0.04)
        time.sleep(1.0)
        self.bluez.flush()
        self.assertNotIn('capture overrun', self.daemon.log_text())
        a = self.analyze(self.recording(), '--tone', str(TONES['alerts']))
        self.assert_clean_stream(a, freq=TONES['alerts'])

    def test_every_capture_comes_back_after_a_system_suspend(self):
        # a system suspend leaves every PCM SUSPENDED at once: the
        # categories read beside the clock as well as the clock itself
        for cat, f in TONES.items():
            self.pcms[cat] = pcm(cat, source='sine', frequency=f, amplitude=0.3, suspend_at_ms=800)
        self.add_speaker()
        self.write_state(speaker_mode=True, volume=127)
        self.start_daemon(capture='media=media', local='localout',
                          args=['--capture', 'alerts=alerts', '--capture', 'voice=voice'])
        self.connect_speaker()
        time.sleep(1.0)
        bt, local = self.listen()
        self.assert_heard(bt, {'media'}, 'Bluetooth after the resume')
        self.assert_heard(local, {'alerts', 'voice'}, 'local after the resume')
        # brought back at once, not failed and reopened by the retry
        self.assertNotRegex(self.daemon.log_text(), r'capture \w+ failed')

    def test_mix_saturates_instead_of_wrapping(self):
        # three tones at 0.45 peak at 1.35 of full scale together: clipped,
        # not wrapped around (a wrap is a burst of broadband noise)
        for cat, f in TONES.items():
            self.pcms[cat] = pcm(cat, source='sine', frequency=f, amplitude=0.45)
        self.start_daemon(capture='media=media', local='localout', speaker_mode=False,
                          args=['--capture', 'alerts=alerts', '--capture', 'voice=voice'])
        self.daemon.wait_for(lambda: self.local_size() > RATE * 4, 3)
        off = self.local_size()
        self.daemon.wait_for(lambda: self.local_size() > off + RATE * 2, 3)
        samples = self.local_between(off, off + RATE * 2)
        self.assertEqual(max(samples), 32767)
        self.assertEqual(min(samples), -32768)
        # a wrapped sum jumps by ~65536 between neighbours; a clipped one
        # moves at most by what three tones can move in one sample
        step = max(abs(samples[i + 1] - samples[i]) for i in range(len(samples) - 1))
        self.assertLess(step, 10000)


class SpeakerCase(RoutingCase):
    """Streaming media to one speaker, and watching the local output."""

    def start_media_only(self, **opts):
        self.add_speaker(**opts)
        self.add_tone()
        self.write_state(speaker_mode=True, volume=127)
        self.start_daemon(local='localout')
        self.connect_speaker()
        # streaming: nothing goes to the local output
        f0 = self.stats()['LocalFrames']
        time.sleep(0.3)
        self.assertEqual(self.stats()['LocalFrames'], f0, 'the local output played during streaming')
        return f0

    def measure_fallback(self, action):
        """Runs action() and returns how long until the local output gets
        audio, polling the daemon's LocalFrames every 10 ms."""
        base = self.stats()['LocalFrames']
        t0 = time.monotonic()
        action()
        while time.monotonic() - t0 < 2.0:
            if self.stats()['LocalFrames'] > base:
                return time.monotonic() - t0
            time.sleep(0.01)
        self.fail('no local audio within 2 s of losing the speaker')

    def wait_back_on_bluetooth(self, n_recordings, timeout=5):
        self.daemon.wait_for(lambda: len(self.bluez.recordings()) > n_recordings, timeout,
                             what='a new recording')
        self.wait_streaming(timeout=timeout)
        rec = self.bluez.recordings()[-1]
        size = os.path.getsize(rec)
        self.daemon.wait_for(lambda: os.path.getsize(rec) > size + 4000, 2, what='new recording grows')
        # and the local output rests again
        self.wait_prop('State', 'streaming')
        f = self.stats()['LocalFrames']
        time.sleep(0.3)
        self.assertEqual(self.stats()['LocalFrames'], f, 'still playing locally after the speaker returned')
        self.bluez.flush()
        a = self.analyze(rec, '--tone', str(TONE_HZ))
        self.assertTrue(a['audio']['tone']['present'])


class FallbackTests(SpeakerCase):

    def test_link_loss_plays_locally_within_200ms_then_reconnects(self):
        self.start_media_only()
        n = len(self.bluez.recordings())
        dt = self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.assertLess(dt, 0.2, 'local playback began %.0f ms after the link dropped' % (dt * 1000))
        # the local output carries the media tone
        off = self.local_size()
        self.daemon.wait_for(lambda: self.local_size() > off + RATE * 2, 3, what='local audio')
        self.assertGreater(goertzel(self.local_between(off, off + RATE * 2), TONE_HZ), PRESENT)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        # the speaker is in range: reconnected after about a second
        t0 = time.monotonic()
        self.wait_back_on_bluetooth(n)
        self.assertGreater(time.monotonic() - t0, 0.5, 'reconnected without the backoff')
        st = self.stats()
        self.assertEqual(st['Reconnects'], 1)
        self.assertIn('reconnecting %s in 1 s' % SPEAKER, self.daemon.log_text())

    def test_speaker_closing_the_socket_falls_back(self):
        self.start_media_only()
        n = len(self.bluez.recordings())
        dt = self.measure_fallback(lambda: self.bluez.SpeakerCloseSocket(SPEAKER_PATH))
        self.assertLess(dt, 0.2, 'local playback began %.0f ms after the socket closed' % (dt * 1000))
        # the ACL is up: the stream is set up again
        self.wait_back_on_bluetooth(n)

    def test_a_speaker_setting_its_stream_up_again_itself_plays_on(self):
        # the speaker closes the stream and configures a new one on
        # another of our endpoints itself (AVDTP CLOSE, SET_CONFIGURATION
        # as initiator), its link and AVRCP up all along
        self.start_media_only()
        n = len(self.bluez.recordings())
        old = self.bluez.transport_for(SPEAKER_PATH)
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'SpeakerConnectMode', 'remote-config')
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RemoteEndpoint', dbus.Int32(1, variant_level=1))
        self.bluez.SpeakerCloseSocket(SPEAKER_PATH)
        self.daemon.wait_for(lambda: self.bluez.transport_for(SPEAKER_PATH) != old, 2,
                             what='the old stream gone')
        new = self.bluez.speaker_connect(SPEAKER_PATH)
        self.assertNotEqual(new, old)
        self.wait_back_on_bluetooth(n, timeout=3)
        # and it stays: the socket error seen on the old stream sends no
        # reconnect into the new one
        time.sleep(2.0)
        self.assertEqual(self.bluez.transport_for(SPEAKER_PATH), new)
        self.assertEqual(len(self.bluez.recordings()), n + 1)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)
        self.wait_prop('State', 'streaming')

    def test_a_speaker_reconnecting_by_itself_right_after_a_link_loss_plays(self):
        # many speakers page their source back at once after a link loss:
        # its new stream is taken, and our own reconnect a second later
        # leaves it be
        self.start_media_only()
        n = len(self.bluez.recordings())
        self.bluez.LinkLoss(SPEAKER_PATH)
        time.sleep(0.2)
        self.bluez.speaker_connect(SPEAKER_PATH)
        self.wait_back_on_bluetooth(n, timeout=3)
        t = self.bluez.transport_for(SPEAKER_PATH)
        time.sleep(2.0)
        self.assertEqual(self.bluez.transport_for(SPEAKER_PATH), t)
        self.assertEqual(len(self.bluez.recordings()), n + 1)
        self.wait_prop('State', 'streaming')
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)

    def test_out_of_range_retries_with_backoff(self):
        self.start_media_only(PageTimeoutMs=100)
        n = len(self.bluez.recordings())
        dt = self.measure_fallback(lambda: self.bluez.SetInRange(SPEAKER_PATH, False))
        self.assertLess(dt, 0.2)
        # 1 s, then 2 s, then 4 s between attempts
        self.log_has('reconnecting %s in 4 s' % SPEAKER, timeout=6)
        log = self.daemon.log_text()
        times = {}
        for line in log.splitlines():
            for s in (1, 2, 4):
                if line.endswith('reconnecting %s in %d s' % (SPEAKER, s)) and s not in times:
                    times[s] = float(line[1:line.index(']')])
        self.assertEqual(sorted(times), [1, 2, 4], log)
        self.assertAlmostEqual(times[4] - times[2], 2.1, delta=0.5)
        self.assertAlmostEqual(times[2] - times[1], 1.1, delta=0.5)
        self.assertEqual(self.stats()['Reconnects'], 0)
        self.assertEqual(plain(self.mprop('State')), 'idle')
        self.bluez.SetInRange(SPEAKER_PATH, True)
        self.wait_back_on_bluetooth(n, timeout=6)
        self.assertEqual(self.stats()['Reconnects'], 1)

    def test_a_speaker_switched_off_for_hours_is_not_logged_at_every_attempt(self):
        # the speaker is off most of the day: the daemon pages it with
        # backoff, every 60 s in the end, for as long as it stays off. That
        # it is away and why is news once; each attempt failing the same
        # way again is debug, or the journal on a small flash fills with
        # three lines a minute (connecting, page timeout, reconnecting in)
        self.start_media_only(PageTimeoutMs=100)
        self.bluez.SetInRange(SPEAKER_PATH, False)
        self.log_has('reconnecting %s in 8 s' % SPEAKER, timeout=12)
        said = [l for l in self.daemon.log_text().splitlines()
                if re.match(r'\[\s*\d+\.\d+\] (error|warning|notice|info): ', l) and SPEAKER in l]
        said = said[next(i for i, l in enumerate(said) if l.endswith('%s disconnected' % SPEAKER)):]
        # why, once: disconnected, reconnecting in 1 s, connecting, did not
        # answer, reconnecting in 2 s; the attempts at 2 and 4 s add nothing
        self.assertEqual(len([l for l in said if 'did not answer' in l]), 1, said)
        self.assertLessEqual(len(said), 5, 'the same failure logged at every attempt:\n' + '\n'.join(said))
        # it comes back: said, and the next failure is news again
        n = len(self.bluez.recordings())
        self.bluez.SetInRange(SPEAKER_PATH, True)
        self.wait_back_on_bluetooth(n, timeout=12)
        self.bluez.SetInRange(SPEAKER_PATH, False)
        self.daemon.wait_for(lambda: len([l for l in self.daemon.log_text().splitlines()
                                          if 'warning: %s did not answer' % SPEAKER in l]) == 2, 8,
                             what='the next failure after it came back logged again')

    def test_settings_written_again_keep_the_backoff(self):
        # an app applying its settings every 0.5 s writes AutoReconnect
        # true again and again: unchanged, it is no news, and the speaker
        # out of range is not paged at each write
        self.start_media_only(PageTimeoutMs=100)
        self.bluez.SetInRange(SPEAKER_PATH, False)
        self.log_has('reconnecting %s in 4 s' % SPEAKER, timeout=8)
        self.bluez.ClearLog()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:
            self.set_mprop('AutoReconnect', True)
            time.sleep(0.5)
        pages = [e for e in self.bluez.event_log() if 'ConnectProfile' in e]
        # at 4 s and 8 s apart: two at the most in 8 s
        self.assertLessEqual(len(pages), 2, pages)

    def test_speaker_coming_back_by_itself(self):
        self.start_media_only()
        self.set_mprop('AutoReconnect', False)
        n = len(self.bluez.recordings())
        self.bluez.ClearLog()
        dt = self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.assertLess(dt, 0.2)
        time.sleep(1.5)
        self.assertNotIn('ConnectProfile', '\n'.join(self.bluez.event_log()), 'reconnected with AutoReconnect off')
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.assertNotIn('reconnecting %s' % SPEAKER, self.daemon.log_text())
        # the speaker is switched on again and connects: it is the output again
        self.bluez.speaker_connect(SPEAKER_PATH)
        self.wait_back_on_bluetooth(n)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)


class SpeakerBehaviourTests(SpeakerCase):
    """What real speakers do besides coming and going: suspend the stream,
    refuse A2DP while their link comes up."""

    def test_speaker_suspend_resumes_when_there_is_sound(self):
        self.start_media_only()
        n = len(self.bluez.recordings())
        dt = self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.assertLess(dt, 0.3)
        self.log_has('suspended by the speaker; starting it again in 1 s')
        t0 = time.monotonic()
        # the tone plays on: after the 1 s hold-off the stream is started
        # again (Acquire: AVDTP START) and media is back on the speaker
        self.wait_back_on_bluetooth(n, timeout=4)
        self.assertGreater(time.monotonic() - t0, 0.9)
        # suspended again soon after: the hold-off doubles
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker; starting it again in 2 s')
        t0 = time.monotonic()
        self.wait_back_on_bluetooth(n, timeout=5)
        self.assertGreater(time.monotonic() - t0, 1.9)

    def test_speaker_restarting_the_stream_is_taken_at_once(self):
        self.start_media_only()
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker')
        t0 = time.monotonic()
        self.bluez.SpeakerStart(SPEAKER_PATH)     # AVDTP START from the sink
        self.wait_back_on_bluetooth(n, timeout=3)
        self.assertLess(time.monotonic() - t0, 0.9, 'waited for the hold-off although the speaker started')

    def test_a_suspend_read_before_start_was_announced_is_noticed(self):
        # the speaker answers START and suspends at once: bluetoothd 5.66
        # answers the Acquire, queues State=active for gdbus' idle flush,
        # then reads the SUSPEND, and the one PropertiesChanged says idle.
        # Never having seen "active", the daemon showed streaming to a
        # silent speaker for good; it lets go and starts it again
        self.add_speaker(SuspendAtStart=True)
        self.add_tone()
        self.write_state(speaker_mode=True, volume=127)
        self.start_daemon(local='localout')
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.log_has('suspended by the speaker; starting it again in 1 s')
        self.assertIn('speaker suspends right after START', '\n'.join(self.bluez.event_log()))
        self.wait_back_on_bluetooth(len(self.bluez.recordings()), timeout=5)

    def test_a_stream_the_speaker_closes_while_suspended_is_set_up_again(self):
        # suspended, the speaker closes the stream (it went to another
        # source; AVRCP keeps the link): no socket of ours to fail, no
        # Connected=false. Left with no stream, the speaker stayed silent
        # until it dropped its link; it is set up again
        self.start_media_only()
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker')
        self.bluez.SpeakerCloseSocket(SPEAKER_PATH)
        self.log_has('%s closed its stream while connected; setting it up again in 1 s' % SPEAKER)
        self.assertTrue(self.bluez.prop(SPEAKER_PATH, 'org.bluez.Device1', 'Connected'))
        self.wait_back_on_bluetooth(n, timeout=6)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)
        # suspended and closed again soon after (its other input wants
        # it): not fought every second, the wait doubles
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.daemon.wait_for(lambda: self.daemon.log_text().count('suspended by the speaker') >= 2, 3,
                             what='suspended again')
        self.bluez.SpeakerCloseSocket(SPEAKER_PATH)
        self.log_has('closed its stream while connected; setting it up again in 2 s')
        t0 = time.monotonic()
        self.wait_back_on_bluetooth(n, timeout=8)
        self.assertGreater(time.monotonic() - t0, 1.5)

    def test_a_speaker_closing_the_stream_mid_stream_again_and_again_is_not_fought_every_second(self):
        # streaming, the speaker closes the stream (AVDTP CLOSE or ABORT:
        # another source took it) and keeps its link: our socket fails
        # (ECONNRESET), the transport goes, Connected stays true. It was
        # set up again 1 s after each socket error, for ever: a speaker
        # that keeps closing was fought every 1.5 s, while one closing
        # while suspended is given a wait that doubles. Now the same
        self.start_media_only()
        n = len(self.bluez.recordings())
        self.bluez.SpeakerCloseSocket(SPEAKER_PATH)
        self.log_has('%s closed its stream while connected; setting it up again in 1 s' % SPEAKER)
        self.assertTrue(self.bluez.prop(SPEAKER_PATH, 'org.bluez.Device1', 'Connected'))
        self.wait_back_on_bluetooth(n, timeout=6)
        n = len(self.bluez.recordings())
        self.bluez.SpeakerCloseSocket(SPEAKER_PATH)
        self.log_has('closed its stream while connected; setting it up again in 2 s')
        t0 = time.monotonic()
        self.wait_back_on_bluetooth(n, timeout=8)
        self.assertGreater(time.monotonic() - t0, 1.5)

    def test_speaker_mode_off_and_on_during_a_slow_start_streams(self):
        # the speaker takes 1.5 s to answer START; speaker mode goes off
        # (the Acquire is waited for, to be given back) and on again before
        # it answers: the stream is kept, not given back and left
        self.start_media_only()
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'StartMs', 1500)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        t = self.bluez.transport_for(SPEAKER_PATH)
        self.daemon.wait_for(lambda: str(self.bluez.transports()[t].get('InternalState')) == 'requesting', 4,
                             what='the Acquire after the hold-off pending')
        self.set_mprop('SpeakerMode', False)
        self.set_mprop('SpeakerMode', True)
        self.wait_back_on_bluetooth(n, timeout=6)

    def test_speaker_mode_off_while_try_acquire_is_pending(self):
        # BlueZ 5.66 answers Release with InProgress while a TryAcquire is
        # pending, then completes the TryAcquire: the daemon must give that
        # stream back, or every later Acquire is NotAuthorized
        self.start_media_only(TryAcquireMs=600)
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker')
        self.bluez.SpeakerStart(SPEAKER_PATH)      # -> pending: TryAcquire
        time.sleep(0.2)
        self.set_mprop('SpeakerMode', False)       # Release meets it
        time.sleep(1.2)
        self.assertNotEqual(self.transport_state(SPEAKER_PATH), 'active',
                            'the completed TryAcquire was not given back')
        self.set_mprop('SpeakerMode', True)
        self.wait_back_on_bluetooth(n, timeout=5)

    def test_multipoint_speaker_refusing_start_is_retried_until_it_accepts(self):
        # a multipoint speaker suspends us for a phone and refuses AVDTP
        # START while the phone plays (BlueZ 5.66 answers Acquire with
        # org.bluez.Error.Failed "Input/output error"); once the phone
        # stops, the stream must come back: asked for again with a
        # backoff (1 s doubling to 60 s) while there is sound
        self.start_media_only()
        n = len(self.bluez.recordings())
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RejectStart', True)
        self.bluez.ClearLog()
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker')
        # the phone plays for 7 s: 1 s hold-off, quick retries for ~3 s,
        # then 1 s, 2 s, 4 s apart
        time.sleep(7)
        self.assertEqual(plain(self.mprop('State')), 'connected')
        # the phone stops: the next attempt takes the stream back
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RejectStart', False)
        self.wait_back_on_bluetooth(n, timeout=8)
        refused = [l for l in self.bluez.event_log() if 'rejected AVDTP START' in l]
        self.assertGreaterEqual(len(refused), 8, '\n'.join(refused))
        log = self.daemon.log_text()
        self.assertIn('(Input/output error); trying again in 1 s', log)

    def test_the_speakers_play_key_takes_its_stream_back_at_once(self):
        # A multipoint speaker suspends us for a phone and refuses START
        # while the call lasts: the board's music plays locally and the
        # stream is asked for again ever less often (up to 60 s apart).
        # The call over, the user presses PLAY on the speaker; bluetoothd
        # 5.66 hands it to our player (avrcp.c handle_passthrough ->
        # media.c media_player_play -> Play). That press says the speaker is
        # free and wants the music: it must not wait out the backoff
        self.start_media_only()
        n = len(self.bluez.recordings())
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RejectStart', True)
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker')
        self.log_has('(Input/output error); trying again in 4 s', timeout=15)
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RejectStart', False)
        t0 = time.monotonic()
        self.assertTrue(self.bluez.SpeakerPressKey(dbus.ObjectPath(SPEAKER_PATH), 'play'))
        self.wait_back_on_bluetooth(n, timeout=6)
        self.assertLess(time.monotonic() - t0, 2.0, 'waited out the backoff after the speaker asked')
        # and a speaker that suspends again and again, its hold-off grown
        # to 4 s: a press of PLAY ends the hold-off too
        for holdoff in (1, 2, 4):
            n = len(self.bluez.recordings())
            self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
            self.log_has('suspended by the speaker; starting it again in %d s' % holdoff)
            if holdoff < 4:
                self.wait_back_on_bluetooth(n, timeout=holdoff + 3)
        time.sleep(0.2)     # a person's press, not the suspend's echo
        t0 = time.monotonic()
        self.assertTrue(self.bluez.SpeakerPressKey(dbus.ObjectPath(SPEAKER_PATH), 'play'))
        self.wait_back_on_bluetooth(n, timeout=6)
        self.assertLess(time.monotonic() - t0, 2.0, "waited out the speaker's hold-off after it asked")
        # a PAUSE asks for no music: a hold-off is kept
        n = len(self.bluez.recordings())
        self.measure_fallback(lambda: self.bluez.SpeakerSuspend(SPEAKER_PATH))
        self.log_has('suspended by the speaker; starting it again in 1 s')
        t0 = time.monotonic()
        self.assertTrue(self.bluez.SpeakerPressKey(dbus.ObjectPath(SPEAKER_PATH), 'pause'))
        self.wait_back_on_bluetooth(n, timeout=5)
        self.assertGreater(time.monotonic() - t0, 0.8)

    def test_reachable_speaker_refusing_a2dp_is_retried_with_backoff(self):
        # the speaker answers pages (its link comes up) but refuses the
        # stream's configuration, as a speaker busy with a phone or with a
        # lost bond does: the link drops ~2 s after each failed attempt
        self.start_media_only()
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RejectConfiguration', True)
        self.measure_fallback(lambda: self.bluez.LinkLoss(SPEAKER_PATH))
        self.bluez.ClearLog()
        time.sleep(16)
        attempts = [l for l in self.bluez.event_log() if 'ConnectProfile' in l]
        log = self.daemon.log_text()
        # 1, 2, 4, 8 s apart (plus each attempt's own time): 4 or 5 in
        # 16 s; restarting at 1 s after every drop made it 6 or more
        self.assertLessEqual(len(attempts), 5, '\n'.join(attempts) + '\n' + log)
        self.assertGreaterEqual(len(attempts), 3, '\n'.join(attempts))
        self.assertIn('reconnecting %s in 8 s' % SPEAKER, log)


class VolumeTests(RoutingCase):

    def test_absolute_volume_goes_over_avrcp_and_follows_the_knob(self):
        self.add_speaker()
        self.add_tone()
        self.start_daemon()
        t = self.connect_speaker()
        # AVRCP comes up a little after the stream
        self.daemon.wait_for(lambda: 'Volume' in self.bluez.transports()[t], 2, what='AVRCP volume')
        rec = self.recorder()
        self.set_mprop('Volume', dbus.UInt16(100))
        self.daemon.wait_for(lambda: 100 in plain(self.bluez.GetVolumeWrites(t)), 2,
                             what='volume written over AVRCP')
        self.ctl('volume', '90')
        self.daemon.wait_for(lambda: plain(self.bluez.GetVolumeWrites(t))[-1] == 90, 2)
        # the speaker confirms it (AVRCP round trip) before the knob turns
        self.daemon.wait_for(lambda: plain(self.bluez.transports()[t]['Volume']) == 90, 2)
        # the speaker's own knob
        self.bluez.SpeakerSetVolume(SPEAKER_PATH, 30)
        rec.wait('Volume', 30)
        self.assertEqual(plain(self.mprop('Volume')), 30)
        self.daemon.wait_for(lambda: 'volume=30\n' in self.state_file(), 2)
        # following the speaker sends nothing back
        self.assertNotIn(30, plain(self.bluez.GetVolumeWrites(t)))
        # and the audio is not scaled: the speaker does that
        time.sleep(0.5)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        for level in a['audio']['tone']['level_dbfs_per_channel']:
            self.assertAlmostEqual(level, 20 * math.log10(0.5), delta=0.5)

    def slow_answering_speaker(self, rtt_ms=300, **opts):
        """Streams to a speaker at volume 64 that answers SetAbsoluteVolume
        rtt_ms later (some real ones take 300 ms); its transport."""
        self.add_speaker(Volume=64, AvrcpRttMs=rtt_ms, **opts)
        self.add_tone()
        self.write_state(speaker_mode=True, volume=64)
        self.start_daemon()
        t = self.connect_speaker()
        self.daemon.wait_for(lambda: 'Volume' in self.bluez.transports()[t], 2, what='AVRCP volume')
        return t

    def set_back_to_64(self, t, answer):
        """100 then 64 asked within the speaker's round trip; it answers
        the 100 with answer, and ends at 64, and so does the daemon."""
        self.set_mprop('Volume', dbus.UInt16(100))
        self.set_mprop('Volume', dbus.UInt16(64))
        self.daemon.wait_for(lambda: plain(self.bluez.transports()[t]['Volume']) == answer, 2,
                             what='the speaker answering %d' % answer)
        self.daemon.wait_for(lambda: plain(self.bluez.transports()[t]['Volume']) == 64, 2,
                             what='the speaker back at 64 (writes %r)' % plain(self.bluez.GetVolumeWrites(t)))
        time.sleep(0.4)
        self.assertEqual(plain(self.mprop('Volume')), 64)
        self.assertEqual(plain(self.bluez.transports()[t]['Volume']), 64)

    def test_a_volume_set_back_before_the_speaker_answered_is_kept(self):
        # + and - pressed within the speaker's AVRCP round trip (300 ms):
        # 100 goes out; 64, the Volume bluetoothd still shows, is dropped
        # by 5.66's set_volume (equal to what it knows). The answer to 100
        # was taken for the speaker's knob: the speaker stayed at 100 and
        # the daemon's Volume with it, not the 64 asked last
        self.set_back_to_64(self.slow_answering_speaker(), answer=100)

    def test_a_volume_set_back_is_kept_with_a_speaker_that_rounds_its_answer(self):
        # as above, with a speaker of 16 steps (AVRCP step 8): it answers
        # 100 with 104, the step it took. That answer, to a write superseded
        # since, was taken for its knob: speaker and daemon stayed at 104
        self.set_back_to_64(self.slow_answering_speaker(VolumeStep=8), answer=104)

    def test_a_speakers_rounded_answer_to_the_volume_asked_last_is_followed(self):
        # the step it took for the one volume asked is where it is: the
        # daemon shows it, and does not write ours again and again
        t = self.slow_answering_speaker(rtt_ms=100, VolumeStep=8)
        self.set_mprop('Volume', dbus.UInt16(100))
        self.daemon.wait_for(lambda: plain(self.mprop('Volume')) == 104, 2, what='the daemon at 104')
        time.sleep(0.5)
        self.assertEqual(plain(self.bluez.GetVolumeWrites(t)), [100])
        self.assertEqual(plain(self.mprop('Volume')), 104)

    def test_a_rounding_speakers_answers_to_a_slider_do_not_pull_the_volume_back(self):
        # a slider dragged 50, 51, 52 on a 16-step speaker: it answers 48,
        # 48 (not shown again) and 56. The 48 is the answer to 50, not the
        # knob: the daemon's Volume does not jump back to 48, and it ends
        # where the speaker is for the volume asked last
        t = self.slow_answering_speaker(VolumeStep=8)
        rec = self.recorder()
        for v in (50, 51, 52):
            self.set_mprop('Volume', dbus.UInt16(v))
        self.daemon.wait_for(lambda: plain(self.mprop('Volume')) == 56, 3, what='the daemon at 56')
        time.sleep(0.4)
        self.assertEqual(rec.values('Volume'), [50, 51, 52, 56])
        self.assertEqual(plain(self.bluez.transports()[t]['Volume']), 56)
        self.assertEqual(plain(self.bluez.GetVolumeWrites(t)), [50, 51, 52])

    def test_answers_to_earlier_volume_writes_do_not_pull_the_volume_back(self):
        # a slider dragged 50, 51, 52 within the round trip: the speaker's
        # answers to 50 and 51, arriving after 52 was asked, are not its
        # knob; the daemon's Volume did not jump back (a client that binds
        # a slider to it both ways would fight it) and ends at 52
        t = self.slow_answering_speaker()
        rec = self.recorder()
        for v in (50, 51, 52):
            self.set_mprop('Volume', dbus.UInt16(v))
        self.daemon.wait_for(lambda: plain(self.bluez.transports()[t]['Volume']) == 52, 3,
                             what='the speaker at 52')
        time.sleep(0.4)
        self.assertEqual(rec.values('Volume'), [50, 51, 52])
        self.assertEqual(plain(self.mprop('Volume')), 52)
        # the knob afterwards is followed as before (cleared first: 51 was
        # signalled already, by the slider)
        rec.clear()
        self.bluez.SpeakerSetVolume(SPEAKER_PATH, 51)
        rec.wait('Volume', 51)
        self.assertEqual(rec.values('Volume'), [51])

    def test_a_knob_turned_fast_is_followed_and_nothing_is_sent_back(self):
        # dozens of Volume changes a second from the speaker's knob, one of
        # our writes in flight when it starts: the daemon follows to the
        # last, and sends nothing back (no fight with the knob)
        t = self.slow_answering_speaker()
        self.set_mprop('Volume', dbus.UInt16(100))
        for v in range(40, 80):
            self.bluez.SpeakerSetVolume(SPEAKER_PATH, v)
            time.sleep(0.02)
        self.daemon.wait_for(lambda: plain(self.mprop('Volume')) == 79, 2, what='Volume 79')
        time.sleep(0.5)
        self.assertEqual(plain(self.bluez.GetVolumeWrites(t)), [100])
        self.assertEqual(plain(self.bluez.transports()[t]['Volume']), 79)
        self.assertEqual(plain(self.mprop('Volume')), 79)

    def test_volume_set_before_connecting_reaches_the_speaker(self):
        self.add_speaker(Volume=20)
        self.add_tone()
        self.start_daemon()
        self.set_mprop('Volume', dbus.UInt16(111))
        t = self.connect_speaker()
        self.daemon.wait_for(lambda: plain(self.bluez.GetVolumeWrites(t)) == [111], 2,
                             what='our volume sent when AVRCP came up')
        self.daemon.wait_for(lambda: plain(self.bluez.transports()[t].get('Volume')) == 111, 2)
        time.sleep(0.2)
        self.assertEqual(plain(self.mprop('Volume')), 111)

    def test_software_gain_without_absolute_volume(self):
        self.add_speaker(AbsoluteVolume=False)
        self.add_tone()
        self.write_state(speaker_mode=True, volume=127)
        self.start_daemon()
        t = self.connect_speaker()
        time.sleep(1.0)
        t_mid = time.monotonic_ns()
        self.set_mprop('Volume', dbus.UInt16(32))
        time.sleep(1.0)
        t_end = time.monotonic_ns()
        self.bluez.flush()
        self.assertEqual(plain(self.bluez.GetVolumeWrites(t)), [])
        rec = self.recording()
        _, records = read_recording(rec)
        start = records[0][0]
        levels = []
        for lo, hi in ((start + 200_000_000, t_mid - 100_000_000), (t_mid + 300_000_000, t_end)):
            part = os.path.join(self.tmp, 'part%d.rec' % len(levels))
            self.assertGreater(write_partial_recording(rec, part, lo, hi), 10)
            a = self.analyze(part, '--tone', str(TONE_HZ))
            levels.append(a['audio']['tone']['level_dbfs_per_channel'][0])
        self.assertAlmostEqual(levels[0], 20 * math.log10(0.5), delta=0.5)
        self.assertAlmostEqual(levels[1] - levels[0], 20 * math.log10(32 / 127), delta=0.5,
                               msg='levels %r' % levels)


class IdleSuspendTests(RoutingCase):

    def test_silence_releases_the_speaker_and_sound_takes_it_back(self):
        # 1 s of tone, 2.5 s of silence, then tone again
        n_tone, n_gap, n_again = RATE, RATE * 5 // 2, RATE * 3
        a = array.array('h', bytes(4 * (n_tone + n_gap + n_again)))
        w = 2 * math.pi * TONE_HZ / RATE
        for i in list(range(n_tone)) + list(range(n_tone + n_gap, n_tone + n_gap + n_again)):
            v = int(round(0.5 * 32767 * math.sin(w * i)))
            a[2 * i] = a[2 * i + 1] = v
        src = os.path.join(self.tmp, 'bursts.raw')
        with open(src, 'wb') as f:
            f.write(a.tobytes())
        self.pcms['bursts'] = pcm('bursts', source='file', file=src)
        self.add_speaker()
        self.write_state(speaker_mode=True, idle_suspend=1)
        self.start_daemon(capture='bursts')
        self.connect_speaker()
        t0 = time.monotonic()
        rec = self.recorder()
        # released about a second into the silence (1 s + 1 s + a poll)
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) == 'idle', 3.5,
                             what='transport released for silence')
        self.assertGreater(time.monotonic() - t0, 1.6)
        self.log_has('1 s of silence: releasing the speaker')
        rec.wait('State', 'connected')
        n = len(self.bluez.recordings())
        # the tone comes back at 3.5 s: the stream is taken again
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) == 'active', 4,
                             what='transport re-acquired')
        self.assertLess(time.monotonic() - t0, 3.5 + 1.0)
        rec.wait('State', 'streaming')
        self.assertEqual(len(self.bluez.recordings()), n + 1)
        time.sleep(0.5)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assertTrue(a['audio']['tone']['present'])
        self.assertGreater(a['audio']['tone']['tone_s'], 0.3)

    def test_idle_suspend_set_while_streaming_takes_effect(self):
        # 1 s of tone, then silence; IdleSuspend is 0 (never) when the
        # stream starts and is set over D-Bus once 1.5 s of silence passed
        n_tone, n_gap = RATE, RATE * 10
        a = array.array('h', bytes(4 * (n_tone + n_gap)))
        w = 2 * math.pi * TONE_HZ / RATE
        for i in range(n_tone):
            a[2 * i] = a[2 * i + 1] = int(round(0.5 * 32767 * math.sin(w * i)))
        src = os.path.join(self.tmp, 'then-silence.raw')
        with open(src, 'wb') as f:
            f.write(a.tobytes())
        self.pcms['then_silence'] = pcm('then_silence', source='file', file=src)
        self.add_speaker()
        self.write_state(speaker_mode=True)
        self.start_daemon(capture='then_silence')
        self.connect_speaker()
        self.wait_streaming()
        time.sleep(2.5)
        self.assertEqual(self.transport_state(SPEAKER_PATH), 'active')
        t_set = time.monotonic()
        self.set_mprop('IdleSuspend', dbus.UInt32(1))
        # already more than 1 s silent: released at the next check
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) == 'idle', 2,
                             what='transport released after IdleSuspend was set')
        self.assertLess(time.monotonic() - t_set, 1.0)
        self.log_has('1 s of silence: releasing the speaker')


if __name__ == '__main__':
    unittest.main()
