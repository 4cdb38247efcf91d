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
import subprocess
import sys
import tempfile
import unittest

from common import SpeakerJudge, GEN_REC, ANALYZER, TONE_HZ, ROOT
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

    # -- the soak's RSS bound ---------------------------------------------
    def test_rss_slope_catches_a_kib_per_cycle_leak(self):
        rng = random.Random(3)
        # warm-up, then flat with page-sized noise: passes
        flat = [(c, 5100 + min(c, 4) * 12 + rng.choice((0, 0, 4))) for c in range(1, 19)]
        self.assert_rss_flat(flat)
        # 1 KiB per cycle, seen in 4 KiB pages
        leak = [(c, 5100 + min(c, 4) * 12 + 4 * (c // 4)) for c in range(1, 19)]
        self.assert_rejected(self.assert_rss_flat, leak)


if __name__ == '__main__':
    unittest.main()
