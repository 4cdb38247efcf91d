"""AAC end to end (issue #12): a2dpsrcd picks AAC from a speaker offering
it with SBC, streams LATM in RTP (RFC 3016) through the double, and the
speaker decodes it with libavcodec's aac_latm decoder (speaker-analyze),
which is not how the daemon encodes (libavcodec's aac encoder, its
framing our own).  Judged on a 997 Hz tone and on common.make_music's
signal, with the packet spacing; the speaker's bit rate and VBR are
honoured, a small MTU fragments the elements, a congested link steps the
bit rate down where VBR allows it and not otherwise, and the encoding
thread runs real-time just below the audio thread when the daemon has
one.

The floors are the figures of docs/codecs.md ("Figures, end to end")
less a margin."""

import os
import subprocess
import time

import dbus

from common import A2dpTestCase, CodecFigures, ROOT, SPEAKER_PATH

AAC_FRAME = 1024
# libavcodec's aac encoder primes its first packet with a frame of its own
# (its initial_padding), which the speaker's decoder plays: the capture's
# first sample is decoded this many samples into the stream
AAC_PRIMING = 1024
SBC_ALL = bytes([0xff, 0xff, 2, 53])


def aac_caps(rates=(44100, 48000), vbr=True, bitrate=320000):
    """A speaker's AAC capabilities: MPEG-2 and MPEG-4 AAC-LC, the rates
    given, one or two channels."""
    r = {44100: (1, 0x01), 48000: (2, 0x80)}
    b1 = b2 = 0
    for rate in rates:
        octet, bit = r[rate]
        if octet == 1:
            b1 |= bit
        else:
            b2 |= bit
    return bytes([0xc0, b1, b2 | 0x0c, (0x80 if vbr else 0) | (bitrate >> 16), (bitrate >> 8) & 0xff,
                  bitrate & 0xff])


def aac_speaker(**caps):
    """add_codec_speaker's options for a speaker offering AAC (these
    capabilities) and SBC."""
    return {'SinkEndpoints': [{'SEID': 1, 'Codec': 0x02, 'Capabilities': aac_caps(**caps)},
                              {'SEID': 2, 'Codec': 0x00, 'Capabilities': SBC_ALL}]}


class AacTests(CodecFigures, A2dpTestCase):

    def assert_bitrate(self, a, kbps):
        """The elements' rate: never above the configured kbps (what the
        speaker takes), and that configuration's, not a lower level's
        (each is 3/4 of the one above): the average bit-rate coder spends
        less on a pure tone, and the stream's tail is silence."""
        got = a['codec_detail']['bitrate_kbps']
        self.assertLessEqual(got, kbps * 1.03, 'elements at %.1f kbit/s' % got)
        self.assertGreater(got, kbps * 0.65, 'elements at %.1f kbit/s' % got)

    def test_aac_offered_with_sbc_gets_aac_at_48k(self):
        a = self.tone_stream(('aac', 'sbc'), 'aac', rate=48000)
        self.assertEqual(self.codec_name, 'AAC 48000 Hz 256 kbit/s VBR')
        self.assertEqual(int(self.stats['Kbps']), 256)
        self.assert_bitrate(a, 256)
        self.assert_packets(a, samples=AAC_FRAME, rate=48000)

    def test_aac_at_44k1(self):
        a = self.tone_stream(('aac', 'sbc'), 'aac', rate=44100, capture_rate=44100)
        self.assertEqual(self.codec_name, 'AAC 44100 Hz 256 kbit/s VBR')
        self.assertNotIn('converting', self.daemon.log_text())
        self.assert_bitrate(a, 256)
        if not a['fragments']:
            self.assert_packets(a, samples=AAC_FRAME, rate=44100)

    def assert_starts_with_the_capture(self, a):
        """The speaker got the capture from the first sample the engine
        took for it: the engine restarts for the speaker's packets, and
        what it captured while the encoder was opened (libavcodec is
        loaded then, tens of ms) was once lost, a whole packet or more."""
        lost = AAC_PRIMING - a['audio']['ref']['delay_samples']
        self.assertLessEqual(abs(lost), 16, 'the speaker did not get the first %d samples captured '
                             'for it' % lost if lost > 0 else
                             'the stream starts %d samples early' % -lost)

    def test_aac_on_music(self):
        a = self.music_stream(('aac', 'sbc'), 'aac', rate=48000)
        self.assertEqual(a['codec_detail']['units'], a['codec_detail']['units_ok'])
        self.assert_starts_with_the_capture(a)

    def test_aac_on_music_at_44k1(self):
        a = self.music_stream(('aac', 'sbc'), 'aac', rate=44100)
        self.assert_starts_with_the_capture(a)

    def test_speaker_setting_up_aac_itself_gets_the_music_from_its_start(self):
        # the speaker configures the stream (no SelectConfiguration): the
        # same restart of the engine for its packets, from another path
        self.write_state(speaker_mode=True, volume=127)
        ref = self.add_music(rate=48000, seconds=3.0)
        self.add_codec_speaker('aac', 'sbc', configures='aac')
        self.start_daemon(capture='music')
        self.bluez.speaker_connect(SPEAKER_PATH)
        self.wait_streaming(timeout=10)
        time.sleep(3.6)
        self.bluez.flush()
        a = self.analyze(self.recording(), '--ref', ref)
        r = a['audio']['ref']
        self.assertFalse(r['error'], r)
        self.assertGreater(r['correlation'], 0.9, r)
        self.assert_starts_with_the_capture(a)

    def start_with_broken_libavcodec(self, tone_s, *codecs, **opts):
        """The tone for tone_s to a speaker offering codecs (opts: its
        add_codec_speaker options), the daemon finding a libavcodec that
        does not load (broken_libavcodec)."""
        self.write_state(speaker_mode=True, volume=127)
        self.add_tone(duration=tone_s)
        self.add_codec_speaker(*codecs, **opts)
        self.start_daemon(capture='tone', env={'LD_LIBRARY_PATH': self.broken_libavcodec()})
        self.connect_speaker()

    def test_libavcodec_that_will_not_load_moves_the_speaker_to_sbc(self):
        # libavcodec is findable (AAC offered: loading it to check would
        # keep megabytes resident) but does not load, as in a half-upgraded
        # or broken install: the speaker chose AAC, and the encoder fails
        # only once its stream is acquired. The speaker stayed silent on
        # AAC (the attach failing at every retry). The daemon says why,
        # once; the stream is switched to the next codec; AAC is offered
        # no more, and asking for it says why
        self.start_with_broken_libavcodec(8.0, 'aac', 'sbc')
        self.daemon.wait_for(lambda: str(self.mprop('Codec')).startswith('SBC'), 5,
                             what='the speaker on SBC')
        self.wait_streaming(timeout=5)
        time.sleep(2.5)
        self.bluez.flush()
        log = self.daemon.log_text()
        self.assertIn('SelectConfiguration (AAC)', log)
        self.assertEqual(log.count('AAC cannot be sent: cannot load libavcodec.so.'), 1, log)
        self.assertNotIn('cannot attach', log)
        self.assertNotIn('aac', [str(c) for c in self.mprop('Codecs')])
        with self.assertRaises(dbus.exceptions.DBusException) as e:
            self.manager().SetCodec('aac')
        self.assertIn("AAC's library did not load", e.exception.get_dbus_message())
        # what the speaker got after the switch: the tone, whole
        a = self.analyze(self.recording(), '--tone', '997')
        self.assertEqual(a['codec'], 'sbc')
        self.assert_clean_stream(a)
        self.assertIsNone(self.daemon.returncode)

    def test_libavcodec_that_will_not_load_and_a_refused_switch_end_on_sbc(self):
        # as above, and the speaker refuses SBC-XQ, the codec the stream is
        # switched to: bluetoothd closes the stream, the switch fails; the
        # speaker is set up again, AAC left out, and learns its way to SBC
        self.start_with_broken_libavcodec(30.0, 'aac', 'sbc', refuse=['sbc-xq'])
        self.daemon.wait_for(lambda: str(self.mprop('Codec')).startswith('SBC 48000'), 15,
                             what='the speaker on plain SBC')
        self.wait_streaming(timeout=5)
        time.sleep(1.5)
        self.bluez.flush()
        log = self.daemon.log_text()
        self.assertEqual(log.count('AAC cannot be sent'), 1, log)
        self.assertNotIn('cannot attach', log)
        a = self.analyze(self.recording(), '--tone', '997')
        self.assert_clean_stream(a)

    def test_libavcodec_that_will_not_load_on_an_aac_only_sink_lets_it_go(self):
        # a sink offering AAC alone (no SBC: not A2DP-conformant): nothing
        # to switch to. Its A2DP is disconnected (its stream alone:
        # registering our endpoints again would close every stream on the
        # adapter), and connecting it again without AAC fails, as it
        # should; the daemon stays up and said why
        self.start_with_broken_libavcodec(
            30.0, SinkEndpoints=[{'SEID': 1, 'Codec': 0x02, 'Capabilities': aac_caps()}])
        self.daemon.wait_for(lambda: 'is connected again without AAC' in self.daemon.log_text(), 5,
                             what='the speaker let go')
        self.daemon.wait_for(lambda: self.bluez.transport_for(SPEAKER_PATH) is None, 5,
                             what='the AAC stream closed')
        time.sleep(2.0)
        log = self.daemon.log_text()
        self.assertEqual(log.count('AAC cannot be sent'), 1, log)
        self.assertIn('offers no other codec left', log)
        self.assertIn('connecting 00:11:22:33:44:55 failed', log)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.assertIsNone(self.daemon.returncode)

    def test_speaker_bit_rate_and_vbr_are_honoured(self):
        # the speaker takes at most 128 kbit/s, VBR: we ask for 128, VBR
        a = self.tone_stream((), 'aac', rate=48000, speaker=aac_speaker(bitrate=128000),
                             min_snr=30.0)
        self.assertEqual(self.codec_name, 'AAC 48000 Hz 128 kbit/s VBR')
        cfg = bytes.fromhex(a['config']['blob'])
        self.assertEqual(cfg[3] & 0x80, 0x80, 'VBR not set: %s' % cfg.hex())
        self.assertEqual(((cfg[3] & 0x7f) << 16) | (cfg[4] << 8) | cfg[5], 128000)
        self.assert_bitrate(a, 128)

    def test_speaker_without_vbr_gets_a_constant_rate(self):
        a = self.tone_stream((), 'aac', rate=48000, speaker=aac_speaker(vbr=False, bitrate=192000),
                             min_snr=30.0)
        self.assertEqual(self.codec_name, 'AAC 48000 Hz 192 kbit/s')
        cfg = bytes.fromhex(a['config']['blob'])
        self.assertEqual(cfg[3] & 0x80, 0, 'VBR set for a speaker without it: %s' % cfg.hex())
        self.assert_bitrate(a, 192)

    def test_small_mtu_fragments_as_rfc3016_says(self):
        # 300 bytes: a 256 kbit/s element (683 bytes on average at 48 kHz)
        # spans two or three packets, one timestamp, the marker on the last
        a = self.tone_stream(('aac', 'sbc'), 'aac', rate=48000, speaker={'WriteMTU': 300})
        det = a['codec_detail']
        # the tone's elements (the silence after it makes small ones)
        self.assertGreater(det['fragmented_units'], det['units'] * 0.7, det)
        self.assertEqual(a['frames_reassembled'], det['fragmented_units'])
        self.assertGreaterEqual(a['packets'], det['units'] + det['fragmented_units'])
        # the marker closes each element, so once per element
        self.assertEqual(a['rtp']['marker_packets'], det['units'])
        self.assertEqual(a['mtu_violations'], 0)

    # -- congestion ---------------------------------------------------------------
    def congested(self, speaker, link_kbps, seconds=6.0):
        self.add_codec_speaker(**speaker)
        self.add_tone()
        self.start_daemon()
        self.connect_speaker()
        time.sleep(0.5)
        self.bluez.SpeakerLink(SPEAKER_PATH, dbus.UInt32(link_kbps))
        time.sleep(seconds)
        kbps = int(self.mprop('Statistics')['Kbps'])
        codec = str(self.mprop('Codec'))
        self.bluez.SpeakerLink(SPEAKER_PATH, dbus.UInt32(0))
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', '997')
        # whatever congestion cost (the sender drops the oldest packets),
        # every element the speaker got decodes
        self.assertEqual(a['frame_errors'], 0, a.get('frame_error_detail'))
        self.assertEqual(a['codec_detail']['units'], a['codec_detail']['units_ok'])
        return kbps, codec

    def test_congestion_steps_the_bit_rate_down_with_vbr(self):
        # a link carrying 180 kbit/s: 256 kbit/s does not pass, 192 hardly
        # (with LATM and RTP), 128 does; a step a second at most
        kbps, codec = self.congested(aac_speaker(), 180)
        self.assertEqual(kbps, 128, codec)
        self.assertEqual(codec, 'AAC 48000 Hz 128 kbit/s VBR')
        log = self.daemon.log_text()
        self.assertIn('AAC quality now 192 kbit/s (link congested)', log)
        self.assertIn('AAC quality now 128 kbit/s (link congested)', log)

    def test_congestion_leaves_a_constant_rate_alone(self):
        # the speaker was promised a constant rate: no step, whatever the
        # link does (the sender's queue bound drops audio instead)
        kbps, codec = self.congested(aac_speaker(vbr=False, bitrate=256000), 180, seconds=3.0)
        self.assertEqual(kbps, 256, codec)
        self.assertNotIn('AAC quality now', self.daemon.log_text())
        self.assertGreater(int(self.mprop('Statistics')['DroppedMs']), 0)

    # -- the encoding thread's priority ----------------------------------------------
    def thread_sched(self, name, ignore=0):
        """(policy, priority) of the daemon's thread of this name, once it
        runs (the encoder is made when the stream is attached, a moment
        after the transport is active)."""
        task = '/proc/%d/task' % self.daemon.pid

        def find():
            for tid in os.listdir(task):
                try:
                    with open(os.path.join(task, tid, 'comm')) as f:
                        if f.read().strip() == name:
                            return int(tid)
                except FileNotFoundError:
                    pass
            return None
        tid = self.daemon.wait_for(find, 3, what='a thread named %s' % name)
        return os.sched_getscheduler(tid) & ~ignore, os.sched_getparam(tid).sched_priority

    def test_encoding_thread_runs_just_below_the_audio_thread(self):
        self.add_codec_speaker('aac', 'sbc')
        self.add_tone()
        self.start_daemon(args=['--rt-priority', '40'])
        self.assertIn('SCHED_FIFO priority 40', self.daemon.log_text())
        self.connect_speaker()
        self.assertEqual(self.thread_sched('a2dpsrc-audio'), (os.SCHED_FIFO, 40))
        self.daemon.wait_for(lambda: 'AAC encoding thread runs SCHED_FIFO priority 39' in self.daemon.log_text(),
                             3, what='the AAC thread made real-time')
        self.assertEqual(self.thread_sched('a2dpsrc-aac'), (os.SCHED_FIFO, 39))
        # and at once: the stream's first seconds are as exposed as the rest
        self.assertLess(self.daemon.log_text().index('SCHED_FIFO priority 39'),
                        self.daemon.log_text().index('streaming AAC'))

    def test_through_rtkit_the_encoding_thread_still_runs_below_the_audio_thread(self):
        # no RLIMIT_RTPRIO and no CAP_SYS_NICE (a2dpsrcd run outside its
        # unit): rtkit makes the threads real-time, at most at its
        # MaxRealtimePriority (20 by default), not the 40 asked for
        rtkit = subprocess.Popen(['/usr/bin/python3', os.path.join(ROOT, 'tests', 'double', 'rtkit_double.py'), '20'],
                                 env=self.bus.env, stdout=subprocess.PIPE, text=True)
        self.addCleanup(rtkit.wait)
        self.addCleanup(rtkit.terminate)
        self.assertEqual(rtkit.stdout.readline().strip(), 'ready')
        self.add_codec_speaker('aac', 'sbc')
        self.add_tone()
        self.start_daemon(args=['--rt-priority', '40'],
                          wrap=['prlimit', '--rtprio=0', '--', 'setpriv', '--bounding-set', '-sys_nice', '--'])
        # (rtkit hands out SCHED_RR, with SCHED_RESET_ON_FORK)
        self.assertIn('the audio thread runs SCHED_RR (rtkit) priority 20', self.daemon.log_text())
        self.connect_speaker()
        self.assertEqual(self.thread_sched('a2dpsrc-audio', os.SCHED_RESET_ON_FORK), (os.SCHED_RR, 20))
        self.daemon.wait_for(lambda: 'AAC encoding thread runs SCHED_RR (rtkit) priority 19' in self.daemon.log_text(),
                             3, what='the AAC thread made real-time')
        self.assertEqual(self.thread_sched('a2dpsrc-aac', os.SCHED_RESET_ON_FORK), (os.SCHED_RR, 19))

    def test_encoding_thread_normal_without_rt_priority(self):
        self.add_codec_speaker('aac', 'sbc')
        self.add_tone()
        self.start_daemon(args=['--rt-priority', '0'])
        self.connect_speaker()
        self.assertEqual(self.thread_sched('a2dpsrc-aac'), (os.SCHED_OTHER, 0))


if __name__ == '__main__':
    import unittest
    unittest.main()
