"""a2dpsrcd against speakers offering several codecs (issue #12), judged
whatever the codec: the stream is in a codec the speaker offered, in the
configuration the transport shows, and clean as common.assert_clean_stream
judges that codec (LDAC by its framing).

These hold for any set of codecs the daemon is built with: with SBC alone
the speaker's other SEPs are ignored; with more, the daemon picks by its
preference. Malformed vendor capabilities and a speaker refusing a codec it
advertised must still end in a clean stream.
"""

import time

import dbus

import harness
from common import A2dpTestCase, SPEAKER, SPEAKER_PATH


class SpeakerCodecTests(A2dpTestCase):

    def stream(self, *codecs, seconds=3.0, expect_refusal=False, **opts):
        self.add_codec_speaker(*codecs, **opts)
        self.add_tone(duration=seconds)
        self.start_daemon()
        try:
            self.bluez.connect_speaker(SPEAKER_PATH)
        except dbus.exceptions.DBusException:
            # a speaker refusing the codec the daemon chose fails this
            # Connect (br-connection-create-socket); the daemon recovers
            if not expect_refusal:
                raise
        t = self.wait_streaming(timeout=10)
        config = bytes(self.bluez.transports()[t]['Configuration'])
        time.sleep(seconds + 0.6)
        self.bluez.flush()
        rec = self.recording()
        hdr, _ = harness.read_recording(rec)
        self.assertEqual(bytes(hdr['config']), config, 'the recording is not of the transport')
        self.assertIsNone(self.daemon.returncode, 'the daemon died')
        return rec

    def test_speaker_offering_every_codec_gets_a_clean_stream(self):
        rec = self.stream('ldac', 'aptx-hd', 'aptx', 'aac', 'sbc-xq', 'sbc')
        a = self.judge_recording(rec, fed_s=3.0)
        self.assertIn(a['codec'], ('sbc', 'aptx', 'aptx_hd', 'aac', 'ldac'))

    def test_malformed_vendor_capabilities_leave_sbc(self):
        # too short for a vendor header, a wrong vendor id, and headers
        # that match with nothing usable behind them: only SBC is left
        rec = self.stream('vendor-short', 'aptx-wrong-vendor', 'aptx-short', 'aptx-empty',
                          'ldac-empty', 'aac-short', 'aac-empty', 'sbc')
        self.judge_recording(rec, fed_s=3.0, codec='sbc')

    def test_speaker_refusing_advertised_codecs_still_plays_sbc(self):
        # the speaker advertises aptX, aptX HD, AAC and LDAC and rejects
        # each one's SET_CONFIGURATION: the daemon ends up on SBC
        rec = self.stream('ldac', 'aptx-hd', 'aptx', 'aac', 'sbc',
                          refuse=['ldac', 'aptx-hd', 'aptx', 'aac'], expect_refusal=True)
        self.judge_recording(rec, fed_s=3.0, codec='sbc')

    def test_a_busy_speaker_refusing_every_configuration_keeps_its_codecs(self):
        # busy with a phone, the speaker rejects every SET_CONFIGURATION,
        # SBC's too: that says nothing of its codecs, and once free it
        # plays the best one again (SBC-XQ here: any build has it), not SBC
        self.add_codec_speaker('sbc-xq', RejectConfiguration=True)
        self.add_tone()
        self.start_daemon()
        # busy for two attempts: what it refused in either is not believed
        for _ in range(2):
            with self.assertRaises(dbus.exceptions.DBusException):
                self.manager().Connect(SPEAKER, timeout=30)
        self.assertIn('refused its SBC-XQ configuration', self.daemon.log_text())
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'RejectConfiguration', False)
        self.manager().Connect(SPEAKER, timeout=30)
        self.wait_streaming(timeout=10)
        # freed at an attempt that starts on SBC (bluetoothd tries the
        # endpoint it used last first), it is asked for its best at once
        self.daemon.wait_for(lambda: str(self.mprop('Codec')).startswith('SBC-XQ'), 8,
                             what='SBC-XQ once the speaker is free')
        self.wait_streaming(timeout=10)

    def test_sbc_xq_capable_speaker(self):
        # dual channel and a maximum bitpool of 74 on offer: SBC, plain or
        # XQ as the daemon decides, decoded clean
        rec = self.stream('sbc-xq')
        a = self.judge_recording(rec, fed_s=3.0, codec='sbc')
        self.assertLessEqual(a['bitpools_seen']['max'], 74)


class SpeakerConfiguresTests(A2dpTestCase):
    """A speaker that connects by itself and sets the codec up itself (AVDTP
    SET_CONFIGURATION from its side: bluetoothd calls our endpoint's
    SetConfiguration with the speaker's choice, no SelectConfiguration):
    the daemon validates the configuration with that codec's parser, takes
    the stream, and it decodes clean; a configuration the codec cannot
    carry is refused with the reason, and the daemon stays up."""

    def configured_by_speaker(self, name, *offers, **opts):
        self.add_codec_speaker(*offers, configures=name, **opts)
        self.add_tone(duration=3.0)
        self.start_daemon()
        self.bluez.speaker_connect(SPEAKER_PATH)
        t = self.wait_streaming(timeout=10)
        config = bytes(self.bluez.transports()[t]['Configuration'])
        time.sleep(3.6)
        self.bluez.flush()
        self.assertNotIn('SelectConfiguration (', self.daemon.log_text(),
                         'the speaker configured the stream, not bluetoothd')
        return config

    def test_speaker_setting_up_aptx_itself(self):
        self.configured_by_speaker('aptx', 'aptx', 'sbc')
        self.assertTrue(str(self.mprop('Codec')).startswith('aptX 48000 Hz'), self.mprop('Codec'))
        self.judge_recording(fed_s=3.0, codec='aptx')

    def test_speaker_setting_up_aac_itself(self):
        self.configured_by_speaker('aac', 'aac', 'sbc')
        self.assertTrue(str(self.mprop('Codec')).startswith('AAC '), self.mprop('Codec'))
        self.judge_recording(fed_s=3.0, codec='aac')

    def test_speaker_setting_up_ldac_itself(self):
        self.configured_by_speaker('ldac', 'ldac', 'sbc')
        self.assertTrue(str(self.mprop('Codec')).startswith('LDAC '), self.mprop('Codec'))
        a = self.analyze(self.recording())
        self.assert_clean_framing(a, fed_s=3.0)

    def test_speaker_setting_up_an_impossible_aptx_configuration_is_refused(self):
        # two sampling rates at once: no stream can run like that
        self.add_codec_speaker('aptx', 'sbc', configures='aptx',
                               RemoteConfiguration=bytes([0x4f, 0, 0, 0, 1, 0, 0x32]))
        self.add_tone()
        self.start_daemon()
        with self.assertRaises(dbus.exceptions.DBusException):
            self.bluez.speaker_connect(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'refused: aptX configuration: sampling frequency 0x30 has 2 bits '
                             'set, one expected' in self.daemon.log_text(), 5, what='the refusal logged')
        self.assertIsNone(self.daemon.returncode, 'the daemon died')
        self.assertFalse(self.bluez.transports())
