"""aptX and aptX HD end to end (issue #12): a2dpsrcd picks them from the
speakers that offer them, streams them through the double, and the
speaker decodes what it got with libavcodec's aptx and aptx_hd decoders
(speaker-analyze; not libfreeaptx, the daemon's encoder).  Each codec is
judged on a 997 Hz tone (clean, no gap, SNR over a floor) and on the
music-like signal of common.make_music (SNR against the reference, after
alignment), and by its packet spacing.  Speakers whose aptX capabilities
cannot be used fall back to SBC with the reason in the log.

The floors are the figures of docs/codecs.md ("Figures, end to end")
less a margin."""

import time

from common import A2dpTestCase, CodecFigures


class AptxTests(CodecFigures, A2dpTestCase):

    def test_speaker_offering_aptx_hd_aptx_and_sbc_gets_aptx_hd(self):
        a = self.tone_stream(('aptx-hd', 'aptx', 'sbc'), 'aptx-hd', rate=48000)
        self.assertTrue(str(self.mprop('Codec')).startswith('aptX HD 48000 Hz'), self.mprop('Codec'))
        self.assertEqual(int(self.mprop('Statistics')['Kbps']), 576)
        # 895-byte MTU: 12 + 18 frames of 48 bytes (12 ms)
        self.assert_packets(a, samples=576, rate=48000)

    def test_speaker_offering_aptx_alone_gets_aptx(self):
        a = self.tone_stream(('aptx', 'sbc'), 'aptx', rate=48000)
        self.assertTrue(str(self.mprop('Codec')).startswith('aptX 48000 Hz'), self.mprop('Codec'))
        self.assertEqual(int(self.mprop('Statistics')['Kbps']), 384)
        # no RTP header: 27 frames of 32 bytes (18 ms)
        self.assert_packets(a, samples=864, rate=48000)

    def test_44k1_capture_gets_aptx_at_44k1(self):
        a = self.tone_stream(('aptx', 'sbc'), 'aptx', rate=44100, capture_rate=44100)
        self.assertNotIn('converting', self.daemon.log_text())
        self.assert_packets(a, samples=864, rate=44100)

    def test_44k1_capture_gets_aptx_hd_at_44k1(self):
        a = self.tone_stream(('aptx-hd', 'sbc'), 'aptx-hd', rate=44100, capture_rate=44100)
        self.assert_packets(a, samples=576, rate=44100)

    def test_aptx_hd_on_music(self):
        self.music_stream(('aptx-hd', 'sbc'), 'aptx-hd', rate=48000)

    def test_aptx_on_music(self):
        self.music_stream(('aptx', 'sbc'), 'aptx', rate=48000)

    def fallback(self, preset, reason):
        self.add_codec_speaker(preset, 'sbc')
        self.add_tone(duration=2.0)
        self.start_daemon()
        self.connect_speaker()
        time.sleep(2.6)
        self.bluez.flush()
        self.judge_recording(fed_s=2.0, codec='sbc')
        self.daemon.wait_for(lambda: reason in self.daemon.log_text(), 2, what=reason)

    def test_empty_aptx_capabilities_fall_back_to_sbc(self):
        self.fallback('aptx-empty', 'aptX capabilities: sampling frequency field is empty')

    def test_short_aptx_capabilities_fall_back_to_sbc(self):
        # the vendor header matches, the rate/mode byte is missing:
        # bluetoothd hands it to our SelectConfiguration, which refuses
        self.fallback('aptx-short', 'aptX capabilities: 6 bytes, at least 7 expected')


if __name__ == '__main__':
    import unittest
    unittest.main()
