"""The capture follows the board: its rate is the board's choice (a codec
fixed at 44.1 or 48 kHz, snd-aloop fixed by whichever side opened first),
negotiated with the speaker when it can take it, converted by alsa-lib's
rate plugin when it cannot, followed when the producer changes it, and a
speaker is never left connected and silent while the capture gives
nothing."""

import os
import re
import time
import unittest

from common import A2dpTestCase, TONE_HZ, SPEAKER_PATH, pcm

# plain SBC (no dual channel, so no SBC-XQ: these tests are about rates)
BOTH = [0xfb, 0xff, 2, 53]          # 16/32/44.1/48 kHz, everything but dual channel
ONLY_48K = [0x1b, 0xff, 2, 53]
ONLY_44K1 = [0x2b, 0xff, 2, 53]


class CaptureRateTests(A2dpTestCase):

    def board(self, rate, name='tone', **keys):
        """The board's capture: the test plugin fixed at one rate, as a
        hardware device that does not convert."""
        keys.setdefault('start_file', self.starts_file)
        self.pcms[name] = pcm(name, source='sine', frequency=TONE_HZ, amplitude=0.5,
                              rate=rate, **keys)
        return name

    def assert_tone_at(self, a, rate, min_snr=None):
        """The speaker got the tone at this rate in well-formed packets.
        Gap-freeness and SNR are test_streaming's: a loaded test machine
        starves the (non-real-time) audio thread here now and then, and
        a gap costs SNR too."""
        rtp = a['rtp']
        self.assertEqual(a['config']['rate'], rate)
        self.assertEqual(a['mtu_violations'], 0)
        self.assertEqual(a['frame_errors'], 0, a.get('frame_error_detail'))
        self.assertEqual(rtp['pt_errors'] + rtp['version_errors'] + rtp['ssrc_changes'], 0, rtp)
        tone = a['audio']['tone']
        self.assertTrue(tone['present'], 'no tone in the decoded audio')
        self.assertAlmostEqual(tone['frequency_hz'], TONE_HZ, delta=1.0)
        self.assertGreater(tone['tone_s'], 1.0)
        if min_snr is not None and tone['gaps'] == 0:
            # converted: alsa-lib's rate plugin keeps the tone this clean
            self.assertGreaterEqual(tone['snr_db'], min_snr)
        return tone

    def stream(self, caps, seconds=2.0, capture='tone', args=()):
        self.add_speaker(SinkCapabilities=bytes(caps))
        self.start_daemon(capture=capture, args=args)
        self.connect_speaker()
        time.sleep(seconds)
        self.bluez.flush()
        return self.analyze(self.recording(), '--tone', str(TONE_HZ))

    # -- a device fixed at one rate, speakers offering both or one ----------
    def test_hw_44k1_speaker_both_streams_44k1(self):
        self.board(44100)
        a = self.stream(BOTH)
        self.assert_tone_at(a, rate=44100)
        self.assertNotIn('converting', self.daemon.log_text())

    def test_hw_44k1_rate_preference_does_not_override_the_board(self):
        self.board(44100)
        a = self.stream(BOTH, args=['--rate', '48000'])
        self.assert_tone_at(a, rate=44100)

    def test_hw_48k_speaker_both_streams_48k_despite_preference(self):
        self.board(48000)
        a = self.stream(BOTH, args=['--rate', '44100'])
        self.assert_tone_at(a, rate=48000)
        self.assertNotIn('converting', self.daemon.log_text())

    def test_hw_44k1_speaker_48k_only_is_converted(self):
        self.board(44100)
        a = self.stream(ONLY_48K)
        # alsa-lib's rate plugin: the tone arrives whole, a little less clean
        self.assert_tone_at(a, rate=48000, min_snr=35)
        self.assertIn('converting', self.daemon.log_text())

    def test_hw_48k_speaker_44k1_only_is_converted(self):
        self.board(48000)
        a = self.stream(ONLY_44K1)
        self.assert_tone_at(a, rate=44100, min_snr=35)
        self.assertIn('converting', self.daemon.log_text())

    def test_preference_applies_when_the_board_leaves_the_choice_open(self):
        self.add_tone()
        a = self.stream(BOTH, args=['--rate', '44100'])
        self.assert_tone_at(a, rate=44100)

    def test_mono_device_is_converted_to_stereo(self):
        # a device (or a loopback its producer opened) with one channel:
        # opened through plug, the tone on both channels
        self.board(48000, channels=1)
        a = self.stream(BOTH)
        self.assert_tone_at(a, rate=48000)
        self.assertIn('converting', self.daemon.log_text())

    # -- a PCM the user configured to convert -------------------------------
    def test_converting_pcm_is_allowed_to_convert(self):
        # plug over a 44.1 kHz device, speaker 48 kHz only: today refused
        # with "sampling rate not supported"
        self.board(44100, name='dev44')
        self.pcms['conv'] = 'pcm.conv {\n  type plug\n  slave.pcm "dev44"\n}\n'
        a = self.stream(ONLY_48K, capture='conv')
        self.assert_tone_at(a, rate=48000, min_snr=35)

    def test_converting_pcm_native_rate_negotiated(self):
        # the same plug, a speaker taking both: no conversion needed
        self.board(44100, name='dev44')
        self.pcms['conv'] = 'pcm.conv {\n  type plug\n  slave.pcm "dev44"\n}\n'
        a = self.stream(BOTH, capture='conv')
        self.assert_tone_at(a, rate=44100)

    # -- the producer changes rate mid-stream ---------------------------------
    def producer(self, rate):
        with open(self.rate_file, 'w') as f:
            f.write('%d\n' % rate)

    def rate_change(self, caps, new_rate=44100):
        self.rate_file = os.path.join(self.tmp, 'producer-rate')
        self.producer(48000)
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                rate_file=self.rate_file)
        self.add_speaker(SinkCapabilities=bytes(caps))
        self.start_daemon()
        self.connect_speaker()
        time.sleep(1.5)
        packets_before = int(self.mprop('Statistics')['Packets'])
        self.producer(new_rate)
        t0 = time.monotonic()
        # back on the speaker within about a second or two
        self.daemon.wait_for(lambda: 'capture media failed' in self.daemon.log_text(), 2,
                             what='the capture break noticed')
        self.wait_streaming(timeout=4)
        self.daemon.wait_for(lambda: int(self.mprop('Statistics')['Packets']) > packets_before + 50, 4,
                             what='packets after the change')
        took = time.monotonic() - t0
        self.assertLess(took, 3.0, 'took %.1f s to follow the producer' % took)
        self.assertEqual(str(self.mprop('State')), 'streaming')
        time.sleep(1.5)
        self.bluez.flush()
        self.assertIsNone(self.daemon.returncode)
        return self.analyze(self.recording(), '--tone', str(TONE_HZ))

    def test_producer_rate_change_speaker_both(self):
        a = self.rate_change(BOTH)
        # the speaker was reconfigured through its remote SEP at the
        # capture's new rate: a new transport, nothing converted
        self.daemon.wait_for(lambda: 'reconfigured at 44100 Hz' in self.daemon.log_text(), 3,
                             what='the speaker reconfigured')
        self.assertEqual(a['config']['rate'], 44100)
        self.assert_tone_at(a, rate=44100)
        log = self.bluez.GetLog()
        self.assertIn('ClearConfiguration', str(log))

    def test_failed_reconfiguration_brings_the_speaker_back(self):
        # BlueZ 5.66 closes the stream before it configures the new one and
        # reopens nothing when that fails: the speaker stays connected with
        # no stream unless the daemon brings it back as after a lost link
        self.rate_file = os.path.join(self.tmp, 'producer-rate')
        self.producer(48000)
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                rate_file=self.rate_file)
        self.add_speaker(SinkCapabilities=bytes(BOTH), ReconfigureFails=True)
        self.start_daemon()
        self.connect_speaker()
        time.sleep(1.5)
        self.producer(44100)
        self.daemon.wait_for(lambda: 'reconfiguring' in self.daemon.log_text() and
                             'failed' in self.daemon.log_text(), 8, what='the reconfiguration failing')
        packets = int(self.mprop('Statistics')['Packets'])
        self.wait_streaming(timeout=10)
        self.daemon.wait_for(lambda: int(self.mprop('Statistics')['Packets']) > packets + 50, 5,
                             what='packets after the failed reconfiguration')
        self.assertEqual(str(self.mprop('State')), 'streaming')
        self.assertIsNone(self.daemon.returncode)

    def test_rate_changes_while_playing_locally_are_each_followed_at_once(self):
        # no speaker: the producer changes rate three times, the capture
        # delivering for seconds in between; each break is a first one
        # (quick retry), never a capture that keeps failing
        self.rate_file = os.path.join(self.tmp, 'producer-rate')
        self.producer(48000)
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                rate_file=self.rate_file)
        self.start_daemon()
        time.sleep(1.5)

        def retries():
            return re.findall(r'retrying the capture in ([\d.]+) s', self.daemon.log_text())
        for i, rate in enumerate((44100, 48000, 44100)):
            self.producer(rate)
            self.daemon.wait_for(lambda: len(retries()) > i, 4, what='retry %d' % i)
            time.sleep(2.5)
        self.assertEqual(retries(), ['0.25'] * 3)
        self.assertEqual(str(self.mprop('StreamBlocked')), '')
        self.assertNotIn('without delivering', self.daemon.log_text())

    def test_producer_rate_change_speaker_48k_only(self):
        a = self.rate_change(ONLY_48K)
        self.assertEqual(a['config']['rate'], 48000)
        self.assertTrue(a['audio']['tone']['present'])
        self.assertIn('converting', self.daemon.log_text())


if __name__ == '__main__':
    unittest.main()


class SilentSpeakerTests(A2dpTestCase):
    """A speaker is never left connected and silent."""

    def transport_state(self):
        t = self.bluez.transport_for(SPEAKER_PATH)
        if t is None:
            return None
        return str(self.bluez.transports()[t].get('State'))

    def test_capture_unavailable_gives_the_speaker_back(self):
        self.add_speaker()
        self.start_daemon(capture='later')
        self.bluez.connect_speaker(SPEAKER_PATH)
        time.sleep(2.0)
        # configured, but not started: the speaker is free, not held silent
        self.assertEqual(self.transport_state(), 'idle')
        self.assertEqual(str(self.mprop('State')), 'connected')
        self.assertTrue(str(self.mprop('StreamBlocked')).startswith('capture-unavailable: '))
        self.assertIn("'later'", str(self.mprop('StreamBlocked')))
        # the capture appears: taken back and streamed
        self.add_tone(name='later')
        time.sleep(1.1)           # alsa-lib notices a changed file by its mtime in seconds
        self.alsa_conf()
        self.wait_streaming(timeout=10)
        self.daemon.wait_for(lambda: str(self.mprop('StreamBlocked')) == '', 3, what='unblocked')
        self.daemon.wait_for(lambda: int(self.mprop('Statistics')['Packets']) > 20, 5, what='packets')
        self.assertEqual(str(self.mprop('State')), 'streaming')

    def test_capture_delivering_nothing_gives_the_speaker_back(self):
        # the device delivers nothing for 4 s from 1.5 s on (then an xrun
        # and audio again), as a board whose producer stopped its clock
        self.pcms['tone'] = pcm('tone', source='sine', frequency=TONE_HZ, amplitude=0.5,
                                xrun_at_ms=2500, stall_ms=4000)
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        # 2.5 s + 1.5 s without a frame: given back by 4.5 s
        self.daemon.wait_for(lambda: self.transport_state() == 'idle', 5, what='speaker given back')
        self.assertNotEqual(str(self.mprop('State')), 'streaming')
        self.assertTrue(str(self.mprop('StreamBlocked')).startswith('capture-no-data: '))
        # audio again: taken back
        self.wait_streaming(timeout=8)
        self.daemon.wait_for(lambda: str(self.mprop('StreamBlocked')) == '', 3, what='unblocked')
        self.assertEqual(str(self.mprop('State')), 'streaming')


class SecondaryCaptureTests(A2dpTestCase):
    """A failing alerts or voice capture loses that category only."""

    def test_failing_alerts_capture_never_stops_bluetooth(self):
        rate_file = os.path.join(self.tmp, 'alerts-rate')
        with open(rate_file, 'w') as f:
            f.write('48000\n')
        self.add_tone(channel_offset_hz=1)
        self.pcms['alert'] = pcm('alert', source='sine', frequency=1499, amplitude=0.3,
                                 rate_file=rate_file)
        self.add_speaker()
        self.start_daemon(args=['--capture', 'alerts=alert'])
        self.connect_speaker()
        time.sleep(1.0)
        # the alerts producer restarts at another rate: that capture breaks
        with open(rate_file, 'w') as f:
            f.write('44100\n')
        self.daemon.wait_for(lambda: 'capture alerts failed' in self.daemon.log_text(), 3,
                             what='the alerts capture failure noticed')
        time.sleep(2.5)
        self.assertEqual(str(self.mprop('State')), 'streaming')
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ), '--tone-offset', '1')
        # one RTP stream, no hole: the Bluetooth stream never stopped
        self.assertEqual(a['rtp']['ssrc_changes'], 0)
        self.assertEqual(a['rtp']['seq_gaps'], 0, a['rtp'])
        self.assertEqual(a['rtp']['ts_errors'], 0, a['rtp'])
        self.assertEqual(len(self.bluez.recordings()), 1, 'the transport was taken again')
        # counted, logged once, retried and reopened
        self.assertGreaterEqual(int(self.mprop('Statistics')['CaptureFailures']), 1)
        self.assertEqual(self.daemon.log_text().count('capture alerts failed'), 1)
        self.daemon.wait_for(lambda: 'capture alerts reopened' in self.daemon.log_text(), 3,
                             what='the alerts capture reopened')
