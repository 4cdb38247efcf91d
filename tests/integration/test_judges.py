"""The judges themselves: each check the integration and VM tests rely on
must fail on a synthetic input with the defect it is there to catch (and
pass on a clean one). Recordings come from tests/tools/gen-recording (a
libsbc sender with known defects); VM results folders are made up here.
No daemon, no bus."""

import array
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

from common import SpeakerJudge, GEN_REC, ANALYZER, TONE_HZ, ROOT
from harness import read_recording
from test_soak import StretchJudge

sys.path.insert(0, os.path.join(ROOT, 'tests', 'vm'))
import air  # noqa: E402
import check_audio  # noqa: E402
import two_speakers  # noqa: E402


class Judges(SpeakerJudge, StretchJudge, unittest.TestCase):

    def setUp(self):
        for path in (GEN_REC, ANALYZER):
            if not os.path.exists(path):
                self.fail('%s is missing: run make test-tools' % path)
        self.tmp = tempfile.mkdtemp(prefix='a2dpsrc-judges-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def gen(self, name, *args):
        path = os.path.join(self.tmp, name + '.rec')
        subprocess.run([GEN_REC, '--seed', '1', '--latency-ms', '20', '--jitter-ms', '2'] + list(args) +
                       [path], check=True, capture_output=True, timeout=60)
        return self.analyze(path, '--tone', str(TONE_HZ))

    def assert_rejected(self, judge, a, *args, **kw):
        with self.assertRaises(AssertionError, msg='%s accepted it' % judge.__name__):
            judge(a, *args, **kw)

    # -- the clean stream (common.assert_clean_stream) and a soak stretch --
    def test_clean_recording_passes(self):
        a = self.gen('clean', '--seconds', '3')
        self.assert_clean_stream(a)
        self.assert_clean_stretch(a)

    def test_silence_is_not_a_stream(self):
        a = self.gen('silence', '--seconds', '3', '--amp', '0')
        self.assert_rejected(self.assert_clean_stream, a)
        self.assert_rejected(self.assert_clean_stretch, a)

    def test_wrong_tone_is_not_the_stream(self):
        a = self.gen('500hz', '--seconds', '3', '--freq', '500')
        self.assert_rejected(self.assert_clean_stream, a)
        self.assert_rejected(self.assert_clean_stretch, a)

    def test_tone_must_cover_the_whole_window(self):
        # 0.5 s of tone, then 2.5 s of silence
        a = self.gen('short', '--seconds', '3', '--duration', '0.5')
        self.assert_rejected(self.assert_clean_stream, a)
        self.assert_rejected(self.assert_clean_stream, a, fed_s=3.0)
        self.assert_rejected(self.assert_clean_stretch, a)
        self.assert_clean_stream(a, fed_s=0.5)        # what was fed, if that was all

    def test_tone_must_start_with_the_stream(self):
        # silence first: packets of encoded silence, then the tone
        a = self.gen('late', '--seconds', '3', '--defect', 'zeros@0', '--defect', 'zeros@1',
                     '--defect', 'zeros@2', '--defect', 'zeros@3', '--hide')
        self.assert_rejected(self.assert_clean_stream, a)

    def test_audio_lost_by_the_sender_is_seen(self):
        # the sender drops a packet and hides it in RTP: the phase shows it
        a = self.gen('hidden-drop', '--seconds', '3', '--defect', 'drop@60', '--hide')
        self.assert_rejected(self.assert_clean_stream, a)
        self.assert_rejected(self.assert_clean_stretch, a)

    # -- the soak's growth bounds -------------------------------------------
    def test_heap_slope_catches_a_kib_per_cycle_leak(self):
        rng = random.Random(3)
        # each kind of disruption leaves its own level (a restart +2.5 KB),
        # with noise: flat
        level = {0: 0, 1: 500, 2: 2500}
        flat = [(c, 218000 + level[c % 3] + rng.randrange(-300, 300)) for c in range(1, 46)]
        self.assert_heap_flat(flat)
        leak = [(c, v + 1024 * c) for c, v in flat]
        self.assert_rejected(self.assert_heap_flat, leak)

    def test_rss_slope_catches_a_leak_of_pages(self):
        # fragmentation: a page every other restart; passes
        frag = [(c, 5100 + 4 * (c // 6)) for c in range(1, 46)]
        self.assert_rss_flat(frag)
        # two pages a cycle
        self.assert_rejected(self.assert_rss_flat, [(c, 5100 + 8 * c) for c in range(1, 46)])
        # too short a run to say
        self.assert_rejected(self.assert_rss_flat, frag[:18])


def write_raw(path, left, right, seconds=3.0, rate=48000):
    """A VM recording (S16_LE stereo); left/right: f(i) -> sample."""
    a = array.array('h')
    for i in range(int(seconds * rate)):
        a.extend((max(-32768, min(32767, int(left(i)))), max(-32768, min(32767, int(right(i))))))
    if sys.byteorder != 'little':
        a.byteswap()
    with open(path, 'wb') as f:
        f.write(a.tobytes())


def tone(i):
    return 16383 * math.sin(2 * math.pi * 997 * i / 48000)


def btsnoop(path, packets, index=1, acl_mtu=300, signalling=()):
    """A btmon capture: each RTP packet as L2CAP on a dynamic channel, cut
    into ACL packets of acl_mtu, received by hciINDEX; the signalling
    packets first, on another dynamic channel."""
    out = [air.BTSNOOP_MAGIC, struct.pack('>II', 1, air.BTSNOOP_MONITOR)]
    for n, (cid, pkt) in enumerate([(0x0040, p) for p in signalling] + [(0x0041, p) for p in packets]):
        l2 = struct.pack('<HH', len(pkt), cid) + pkt
        for off in range(0, len(l2), acl_mtu):
            body = l2[off:off + acl_mtu]
            acl = struct.pack('<HH', 0x000b | ((2 if off == 0 else 1) << 12), len(body)) + body
            out.append(struct.pack('>IIIIq', len(acl), len(acl), index << 16 | air.OP_ACL_RX, 0,
                                   n * 20000) + acl)
    with open(path, 'wb') as f:
        f.write(b''.join(out))


class CodecJudges(SpeakerJudge, unittest.TestCase):
    """common.assert_clean_stream on every codec (issue #12): a clean
    recording passes, one with the defect each path is there to catch
    fails."""

    def setUp(self):
        for path in (GEN_REC, ANALYZER):
            if not os.path.exists(path):
                self.fail('%s is missing: run make test-tools' % path)
        self.tmp = tempfile.mkdtemp(prefix='a2dpsrc-judges-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def gen(self, name, codec, *args):
        path = os.path.join(self.tmp, name + '.rec')
        subprocess.run([GEN_REC, '--codec', codec, '--seconds', '2'] + list(args) + [path],
                       check=True, capture_output=True, timeout=60)
        return self.analyze(path, '--tone', str(TONE_HZ))

    def assert_rejected(self, a, **kw):
        with self.assertRaises(AssertionError, msg='%s accepted' % a['codec']):
            self.assert_clean_stream(a, **kw)

    def test_aptx(self):
        self.assert_clean_stream(self.gen('aptx', 'aptx'), codec='aptx', rate=48000)
        # no RTP: only the audio tells a lost packet
        self.assert_rejected(self.gen('aptx-drop', 'aptx', '--defect', 'drop@30'))
        self.assert_rejected(self.gen('aptx-crc', 'aptx', '--defect', 'crc@30'))
        with self.assertRaises(AssertionError):
            self.assert_clean_stream(self.gen('aptx', 'aptx'), codec='aptx-hd')

    def test_aptx_hd(self):
        self.assert_clean_stream(self.gen('hd', 'aptx-hd'), codec='aptx-hd')
        self.assert_rejected(self.gen('hd-hidden', 'aptx-hd', '--defect', 'dup@30', '--hide'))

    def test_aac(self):
        self.assert_clean_stream(self.gen('aac', 'aac'), codec='aac')
        self.assert_clean_stream(self.gen('aac-frag', 'aac', '--mtu', '300'), codec='aac')
        self.assert_clean_stream(self.gen('aac-128', 'aac', '--bitrate', '128000', '--rate', '44100'))
        self.assert_rejected(self.gen('aac-crc', 'aac', '--defect', 'crc@30'))
        self.assert_rejected(self.gen('aac-frag-drop', 'aac', '--mtu', '300', '--defect', 'drop@30'))
        self.assert_rejected(self.gen('aac-128', 'aac', '--bitrate', '128000'), min_snr=50)
        # the judge takes AAC's window-to-window SNR variation for what it
        # is (--dip-below 20), and still hears audio lost or repeated
        # with clean RTP (the sender's own loss)
        self.assertEqual(self.gen('aac', 'aac')['audio']['tone']['dip_below_db'], 20)
        for defect in ('drop@30', 'dup@30'):
            a = self.gen('aac-hidden', 'aac', '--defect', defect, '--hide')
            self.assertEqual(a['rtp']['seq_gaps'] + a['rtp']['ts_errors'] + a['frame_errors'], 0)
            self.assert_rejected(a)
            self.assertGreater(a['audio']['tone']['gaps'], 0, defect)

    def test_ldac_is_judged_by_its_framing(self):
        a = self.gen('ldac', 'ldac')
        self.assert_clean_stream(a, codec='ldac', fed_s=2.0)
        self.assert_clean_framing(a, bitrate_kbps=990)
        with self.assertRaises(AssertionError):
            self.assert_clean_framing(a, bitrate_kbps=660)
        self.assert_rejected(self.gen('ldac-sync', 'ldac', '--defect', 'crc@20'))
        self.assert_rejected(self.gen('ldac-drop', 'ldac', '--defect', 'drop@20'))
        self.assert_rejected(self.gen('ldac-ts', 'ldac', '--defect', 'badts@20'))


class VmJudges(unittest.TestCase):
    """tests/vm/check_audio.py on made-up results folders."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='a2dpsrc-vmjudges-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def span(self, left, right):
        path = os.path.join(self.tmp, 'bt.raw')
        write_raw(path, left, right)
        wins = check_audio.analyze(path, start=0.0)
        return check_audio.span_report(wins, 0.0, 3.0), check_audio.silent_report(wins, 0.0, 3.0)

    def test_both_channels_are_judged(self):
        rng = random.Random(7)
        rep, _ = self.span(tone, tone)
        self.assertEqual(rep['problems'], [])
        # a clean left channel, full-scale noise on the right
        rep, _ = self.span(tone, lambda i: rng.randint(-32768, 32767))
        self.assertTrue(rep['problems'], rep)
        # the tone on the right only: not silent
        _, quiet = self.span(lambda i: 0, tone)
        self.assertTrue(quiet['problems'], quiet)
        # a phase step (a lost packet) on the right only
        rep, _ = self.span(tone, lambda i: tone(i if i < 72000 else i + 100))
        self.assertTrue(rep['problems'], rep)

    def run_folder(self, files, events=('a2dpsrcd_up',)):
        for name, text in files.items():
            with open(os.path.join(self.tmp, name), 'w') as f:
                f.write(text)
        with open(os.path.join(self.tmp, 'events'), 'w') as f:
            f.writelines('%s %d\n' % (e, 1000000000 * (i + 1)) for i, e in enumerate(events))
        return check_audio.Run(self.tmp)

    def verdict(self, run):
        return [ok for ok, _ in run.verdicts]

    def test_daemon_exit_is_read(self):
        for status, ok in (('0', True), ('hung', False), ('139', False), (None, False)):
            files = {'a2dpsrcd.exit': status + '\n'} if status else {}
            run = self.run_folder(files)
            if status is None and os.path.exists(os.path.join(self.tmp, 'a2dpsrcd.exit')):
                os.unlink(os.path.join(self.tmp, 'a2dpsrcd.exit'))
                run = check_audio.Run(self.tmp)
            check_audio.judge_exit(run)
            self.assertEqual(self.verdict(run), [ok], (status, run.verdicts))

    def test_missing_statistics_fail(self):
        run = self.run_folder({})
        check_audio.judge_thread(run, 'stream')
        self.assertEqual(self.verdict(run), [False], run.verdicts)
        run = self.run_folder({'statistics.txt': 'a{sv} 2 "Packets" t 1000 "Wakeups" t 1200\n'})
        check_audio.judge_thread(run, 'stream')
        self.assertEqual(self.verdict(run), [True], run.verdicts)
        # the spin the check is there for
        run = self.run_folder({'statistics.txt': 'a{sv} 2 "Packets" t 1000 "Wakeups" t 90000\n'})
        check_audio.judge_thread(run, 'stream')
        self.assertEqual(self.verdict(run), [False], run.verdicts)

    def link_run(self, *gen_args):
        rec = os.path.join(self.tmp, 'x.rec')
        subprocess.run([GEN_REC, '--seconds', '3'] + list(gen_args) + [rec], check=True,
                       capture_output=True, timeout=60)
        _, records = read_recording(rec)
        btsnoop(os.path.join(self.tmp, 'hci.btsnoop'), [p for _, p in records])
        run = check_audio.Run(self.tmp)
        check_audio.require_link_bitpool(run)
        return run

    def test_bitpool_is_read_from_the_link(self):
        run = self.link_run('--bitpool', '51')
        self.assertEqual(self.verdict(run), [True], run.verdicts)
        self.assertEqual({bp for bp, _ in run.link_frames()}, {51})
        run = self.link_run('--bitpool', '51', '--defect', 'bitpool@40', '--bitpool2', '60')
        self.assertEqual(self.verdict(run), [False], run.verdicts)
        # the frames the speaker received, not those the board sent
        shutil.move(os.path.join(self.tmp, 'hci.btsnoop'), os.path.join(self.tmp, 'x.btsnoop'))
        frames = air.link_sbc_frames(os.path.join(self.tmp, 'x.btsnoop'), index=0)
        self.assertEqual(frames, [])

    # -- the codec, from what crossed the link (check-vm's codec scenarios) --
    def set_configuration(self, media_codec, signal=0x03):
        """An AVDTP Set Configuration (or Reconfigure) command: SEIDs, Media
        Transport, Media Codec (audio) with these bytes, Delay Reporting."""
        seids = bytes([2 << 2, 1 << 2]) if signal == 0x03 else bytes([2 << 2])
        caps = bytes([0x01, 0x00, 0x07, 1 + len(media_codec), 0x00]) + media_codec + bytes([0x08, 0x00])
        return bytes([0x30, signal]) + seids + caps

    def codec_run(self, judge, signalling, packets):
        btsnoop(os.path.join(self.tmp, 'hci.btsnoop'), packets, signalling=signalling)
        run = check_audio.Run(self.tmp)
        judge(run)
        return run

    APTX = bytes([0xff, 0x4f, 0, 0, 0, 0x01, 0x00, 0x12])               # aptX 48 kHz stereo
    APTX_HD = bytes([0xff, 0xd7, 0, 0, 0, 0x24, 0x00, 0x12, 0, 0, 0, 0])  # aptX HD 48 kHz stereo

    def rtp(self, seq, payload):
        return struct.pack('>BBHII', 0x80, 96, seq & 0xffff, seq * 512, 1) + payload

    def test_codec_configuration_is_read_from_the_link(self):
        sbc_xq = bytes([0x00, 0x14, 0x15, 2, 53])                          # 48 kHz dual, 16/8 loudness
        confs = air.configurations([(0x40, self.set_configuration(sbc_xq)), (0x41, b'x' * 600)])
        self.assertEqual([str(c) for c in confs], ['SBC 48000 Hz dual channel bitpool 2..53'])
        # an SBC frame's channel mode: 48 kHz, 16 blocks, 8 subbands, loudness
        self.assertEqual(air.sbc_mode(bytes([0x9c, 0xf5, 35])), 'dual channel')
        self.assertEqual(air.sbc_mode(bytes([0x9c, 0xfd, 51])), 'joint stereo')
        conf = air.avdtp_configuration(self.set_configuration(self.APTX_HD, signal=0x07))
        self.assertEqual(str(conf), 'aptX HD 48000 Hz stereo')
        # media packets and other signals are not configurations
        self.assertIsNone(air.avdtp_configuration(self.rtp(1, b'\x9c' * 40)))
        self.assertIsNone(air.avdtp_configuration(self.set_configuration(self.APTX)[:-1]))   # cut short
        self.assertIsNone(air.avdtp_configuration(bytes([0x32]) + self.set_configuration(self.APTX)[1:]))

    def test_aptx_is_proven_from_the_link(self):
        def aptx(r):
            check_audio.require_link_codec(r, 'aptX')
            check_audio.require_aptx_packets(r, False)
        bare = [bytes([(i * 7 + k) & 0xff for k in range(640)]) for i in range(150)]
        run = self.codec_run(aptx, [self.set_configuration(self.APTX)], bare)
        self.assertEqual(self.verdict(run), [True, True], run.verdicts)
        # aptX configured, but the packets carry RTP (aptX HD's framing)
        run = self.codec_run(aptx, [self.set_configuration(self.APTX)],
                             [self.rtp(i, b'\0' * 600) for i in range(150)])
        self.assertEqual(self.verdict(run), [True, False], run.verdicts)
        # SBC configured: not aptX
        run = self.codec_run(aptx, [self.set_configuration(bytes([0x00, 0x11, 0x15, 2, 53]))], bare)
        self.assertEqual(self.verdict(run), [False, True], run.verdicts)

    def test_aptx_hd_is_proven_from_the_link(self):
        def aptx_hd(r):
            check_audio.require_link_codec(r, 'aptX HD')
            check_audio.require_aptx_packets(r, True)
        run = self.codec_run(aptx_hd, [self.set_configuration(self.APTX_HD)],
                             [self.rtp(i, b'\1' * 600) for i in range(150)])
        self.assertEqual(self.verdict(run), [True, True], run.verdicts)
        # payloads that are not whole 6-byte codewords
        run = self.codec_run(aptx_hd, [self.set_configuration(self.APTX_HD)],
                             [self.rtp(i, b'\1' * 604) for i in range(150)])
        self.assertEqual(self.verdict(run), [True, False], run.verdicts)
        # aptX (not HD) configured
        run = self.codec_run(aptx_hd, [self.set_configuration(self.APTX)],
                             [self.rtp(i, b'\1' * 600) for i in range(150)])
        self.assertEqual(self.verdict(run), [False, True], run.verdicts)

    def test_sbc_xq_is_dual_channel_on_the_link(self):
        rec = os.path.join(self.tmp, 'x.rec')
        subprocess.run([GEN_REC, '--seconds', '3', '--bitpool', '51', rec], check=True, capture_output=True,
                       timeout=60)
        _, records = read_recording(rec)
        joint = bytes([0x00, 0x11, 0x15, 2, 53])
        def xq(r):
            check_audio.require_link_codec(r, 'SBC', ('dual channel',))
            check_audio.require_sbc_frames(r, ('dual channel',), check_audio.XQ_MIN_BITPOOL)
        run = self.codec_run(xq, [self.set_configuration(joint)], [p for _, p in records])
        # gen-recording's frames are joint stereo: neither check passes
        self.assertEqual(self.verdict(run), [False, False], run.verdicts)
        run = check_audio.Run(self.tmp)
        check_audio.require_link_codec(run, 'SBC', check_audio.PLAIN_SBC)
        check_audio.require_sbc_frames(run, check_audio.PLAIN_SBC, 2, 53)
        self.assertEqual(self.verdict(run), [True, True], run.verdicts)


class TwoSpeakersJudge(unittest.TestCase):
    """tests/vm/two_speakers.py's timeline: a speaker plays from a buffer,
    so one packet's jitter does not move what it presents, and a stream
    sent late does."""

    RATE = 48000
    SIZES = (640, 768, 896)         # frames a packet, as the VM's SBC streams

    def stream(self, late_ms=0.0, jitter_ms=0.0, seed=3, step_at_s=None, step_ms=0.0):
        """4 s of packets of mixed lengths, each sent when its audio is
        complete, late by late_ms, by up to jitter_ms more at random, and
        by step_ms more from step_at_s on."""
        rng = random.Random(seed)
        frames, arrivals, at = [], [], 0
        while at < 4 * self.RATE:
            n = self.SIZES[len(frames) % len(self.SIZES)]
            t = (at + n) / self.RATE
            late = late_ms + rng.uniform(0, jitter_ms) + (step_ms if step_at_s is not None and
                                                           t >= step_at_s else 0.0)
            frames.append(n)
            arrivals.append(t * 1e9 + late * 1e6)
            at += n
        return arrivals, frames

    def timeline_ms(self, stream, frame):
        return two_speakers.timeline_ns(*stream, frame, self.RATE) / 1e6

    def by_packet_ms(self, stream, frame):
        return two_speakers.P.presentation_ns(*stream, frame, self.RATE, 0) / 1e6

    def test_jitter_of_single_packets_is_not_presented(self):
        ontime, jittery = self.stream(), self.stream(jitter_ms=8.0, seed=11)
        frames = range(self.RATE, 3 * self.RATE, 997)
        # the median of jitter uniform in 0..8 ms: a steady 4 ms, whatever
        # the frame; by each packet's arrival the onset moves with it
        shifts = [self.timeline_ms(jittery, f) - self.timeline_ms(ontime, f) for f in frames]
        self.assertLess(max(shifts) - min(shifts), 2.0, shifts)      # a median of ~60 draws
        self.assertLess(abs(sum(shifts) / len(shifts) - 4.0), 1.0, shifts)
        raw = [self.by_packet_ms(jittery, f) - self.by_packet_ms(ontime, f) for f in frames]
        self.assertGreater(max(raw) - min(raw), 5.0, raw)

    def test_a_stream_sent_late_is_presented_late(self):
        frame = self.RATE + 5
        ontime = self.timeline_ms(self.stream(jitter_ms=2.0, seed=5), frame)
        late = self.timeline_ms(self.stream(late_ms=6.0, jitter_ms=2.0, seed=6), frame)
        self.assertAlmostEqual(late - ontime, 6.0, delta=0.7)

    def test_the_timeline_is_the_onsets_own(self):
        # 10 ms later from 3 s on: an onset at 1.5 s is not moved, one at
        # 3.5 s is (a median over the whole stream would move both or none)
        base, stepped = self.stream(), self.stream(step_at_s=3.0, step_ms=10.0)
        early, late = int(1.5 * self.RATE), int(3.5 * self.RATE)
        self.assertAlmostEqual(self.timeline_ms(stepped, early), self.timeline_ms(base, early), delta=0.1)
        self.assertAlmostEqual(self.timeline_ms(stepped, late) - self.timeline_ms(base, late), 10.0, delta=0.1)

    def test_the_onset_is_placed_in_its_packet(self):
        # packets of one length and no jitter: the timeline and the
        # packet's own arrival agree, frame for frame, across packets. (Of
        # mixed lengths they part by the packet's length less the median
        # one's: a sample in a long packet waits longer for it to be sent,
        # which the timeline, like a2dpsrcd's alignment, averages.)
        self.SIZES = (768,)
        s = self.stream()
        for f in range(self.RATE, self.RATE + 4000, 131):
            self.assertAlmostEqual(self.timeline_ms(s, f), self.by_packet_ms(s, f), delta=0.01)

    def test_pairs_are_matched_once(self):
        # A's onsets (timeline, by packet, first packet, last bitpool step)
        # against B's: one pairing for both figures, none before b_from,
        # none a second off
        a = [(1.0, 1.001, 0.0, None), (3.0, 3.002, 0.0, None), (5.0, 5.0, 0.0, None)]
        b = [(3.004, 2.99, 2.0, None), (5.001, 5.01, 2.0, None), (9.0, 9.0, 2.0, None)]
        pairs = two_speakers.skews_ms(a, b, 2.0)
        self.assertEqual(len(pairs), 2)
        self.assertAlmostEqual(pairs[0][0], 4.0, places=6)
        self.assertAlmostEqual(pairs[0][1], -12.0, places=6)
        self.assertAlmostEqual(pairs[1][0], 1.0, places=6)
        self.assertEqual([p[2] for p in pairs], [False, False])

    def test_onsets_soon_after_either_links_bitpool_step_are_told_apart(self):
        # B stepped at 2.5 s: its onsets at 3 and 5 s are within
        # STEP_SETTLE_S of it, the one at 9 s is not; A's step at 8.5 s
        # marks the pair at 9 s
        a = [(3.0, 3.0, 0.0, None), (5.0, 5.0, 0.0, None), (9.0, 9.0, 0.0, 8.5), (15.0, 15.0, 0.0, 8.5)]
        b = [(3.001, 3.0, 2.0, 2.5), (5.001, 5.0, 2.0, 2.5), (9.001, 9.0, 2.0, 2.5), (15.0, 15.0, 2.0, 2.5)]
        self.assertEqual([p[2] for p in two_speakers.skews_ms(a, b, 2.0)], [True, True, True, False])

    def sbc_packet(self, bitpool):
        return bytes([0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x9c, 0xbd, bitpool, 0])

    def test_bitpool_steps_are_where_the_quality_changed(self):
        packets = [(0.1 * i, self.sbc_packet(53 if i < 5 or i > 8 else 45)) for i in range(12)]
        # a packet that is not SBC says nothing
        packets.insert(3, (0.25, bytes(8)))
        steps = two_speakers.bitpool_steps(packets)
        self.assertEqual([round(t, 3) for t in steps], [0.5, 0.9])

    def test_a_frame_outside_the_stream_is_an_error(self):
        with self.assertRaises(ValueError):
            two_speakers.timeline_ns(*self.stream(), 10 * self.RATE, self.RATE)

if __name__ == '__main__':
    unittest.main()
