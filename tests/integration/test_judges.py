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
import check_audio  # noqa: E402


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


def btsnoop(path, packets, index=1, acl_mtu=300):
    """A btmon capture: each RTP packet as L2CAP on a dynamic channel, cut
    into ACL packets of acl_mtu, received by hciINDEX."""
    out = [check_audio.BTSNOOP_MAGIC, struct.pack('>II', 1, check_audio.BTSNOOP_MONITOR)]
    for n, pkt in enumerate(packets):
        l2 = struct.pack('<HH', len(pkt), 0x0041) + pkt
        for off in range(0, len(l2), acl_mtu):
            body = l2[off:off + acl_mtu]
            acl = struct.pack('<HH', 0x000b | ((2 if off == 0 else 1) << 12), len(body)) + body
            out.append(struct.pack('>IIIIq', len(acl), len(acl), index << 16 | check_audio.OP_ACL_RX, 0,
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
        frames = check_audio.link_sbc_frames(os.path.join(self.tmp, 'x.btsnoop'), index=0)
        self.assertEqual(frames, [])


if __name__ == '__main__':
    unittest.main()
