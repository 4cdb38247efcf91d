"""presentation.py on synthetic recordings: two speakers whose packets
carry the same marker, packetized differently, arriving at different
times, with different Delays; the helper must find the offset the
recordings were built with (no bus, no daemon).

Run: cd tests/integration && /usr/bin/python3 -m unittest test_presentation
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'double'))

import harness                               # noqa: E402
import presentation as P                      # noqa: E402
from bluez_double import recorder             # noqa: E402
from common import ANALYZER, GEN_REC          # noqa: E402

RATE = 48000
SBC_CONFIG = bytes([0x11, 0x15, 0x02, 0x35])  # 48 kHz joint 16/8
MARK = 20000


def sbc_packet(seq, nframes):
    """An RTP packet with nframes SBC frames of 16 blocks, 8 subbands
    (128 audio frames each); only the headers matter here."""
    rtp = bytes([0x80, 0x60]) + seq.to_bytes(2, 'big') + bytes(8)
    frame = bytes([0x9c, 0x31, 0x35, 0x00]) + bytes(60)   # 48k 16 blk J 8 sb
    return rtp + bytes([nframes]) + frame * nframes


class Speaker:
    """A speaker built backwards from when the marker must be heard."""

    def __init__(self, path, heard_ns, delay, marker_frame, sbc_frames,
                 jitter_ns=0, seed=0):
        per = 128 * sbc_frames                     # audio frames a packet
        period = per * 1e9 / RATE
        p = marker_frame // per
        # the packet with the marker arrives so that the marker is heard at
        # heard_ns: arrival + place in the packet + Delay
        t_p = heard_ns - delay * 100000 - (marker_frame - p * per) * 1e9 / RATE
        rnd = random.Random(seed)
        npk = p + 5
        self.pcm = [0] * (2 * npk * per)
        for i in range(2 * marker_frame, len(self.pcm)):
            self.pcm[i] = MARK
        with open(path, 'wb') as f:
            f.write(recorder.header(0, SBC_CONFIG, 895, 895, version=3))
            for i in range(npk):
                t_kernel = round(t_p + (i - p) * period)
                t_read = t_kernel + rnd.randrange(0, jitter_ns + 1)
                f.write(recorder.record(t_read, sbc_packet(i, sbc_frames),
                                        t_kernel))
        self.path = path
        self.delay = delay


class PresentationTests(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='presentation-')

    def speaker(self, name, **kw):
        return Speaker(os.path.join(self.dir, name + '.rec'), **kw)

    def heard(self, s, **kw):
        return P.sbc_presentation_ns(s.path, s.pcm, RATE, s.delay, MARK // 2,
                                     **kw)

    def test_known_offset_between_two_speakers(self):
        t0 = 5_000_000_000
        offset = 1_300_000                         # b hears it 1.3 ms later
        a = self.speaker('a', heard_ns=t0, delay=400, marker_frame=10_007,
                         sbc_frames=4)
        b = self.speaker('b', heard_ns=t0 + offset, delay=1800,
                         marker_frame=7_301, sbc_frames=3)
        self.assertAlmostEqual(self.heard(a), t0, delta=1000)
        self.assertAlmostEqual(self.heard(b) - self.heard(a), offset,
                               delta=1000)

    def test_read_times_are_too_coarse_kernel_times_are_not(self):
        # the speaker thread reads up to 8 ms late; kernel times are exact
        t0 = 7_000_000_000
        a = self.speaker('a', heard_ns=t0, delay=400, marker_frame=9_000,
                         sbc_frames=4, jitter_ns=8_000_000, seed=1)
        b = self.speaker('b', heard_ns=t0, delay=400, marker_frame=9_000,
                         sbc_frames=4, jitter_ns=8_000_000, seed=2)
        self.assertAlmostEqual(self.heard(b) - self.heard(a), 0, delta=1000)
        read = self.heard(b, clock='read') - self.heard(a, clock='read')
        self.assertNotAlmostEqual(read, 0, delta=1000)

    def test_delay_and_decoder_delay_count(self):
        t0 = 3_000_000_000
        a = self.speaker('a', heard_ns=t0, delay=1000, marker_frame=4_000,
                         sbc_frames=4)
        base = self.heard(a)
        self.assertEqual(P.sbc_presentation_ns(a.path, a.pcm, RATE, 1100,
                                               MARK // 2) - base, 10_000_000)
        # a decoder delay of 48 frames: the marker came one ms earlier
        self.assertAlmostEqual(self.heard(a, decoder_delay_frames=48) - base,
                               -1_000_000, delta=1000)

    def test_format_2_has_no_kernel_times(self):
        path = os.path.join(self.dir, 'v2.rec')
        with open(path, 'wb') as f:
            f.write(recorder.header(0, SBC_CONFIG, 895, 895))
            f.write(recorder.record(1000, sbc_packet(0, 4)))
        with self.assertRaises(ValueError):
            P.sbc_presentation_ns(path, [MARK] * 1024, RATE, 0, MARK // 2)
        self.assertEqual(P.sbc_presentation_ns(path, [MARK] * 1024, RATE, 0,
                                               MARK // 2, clock='read'), 1000)

    def test_sbc_packet_frames(self):
        self.assertEqual(P.sbc_packet_frames(sbc_packet(0, 5)), 5 * 128)
        four_blocks_4sb = bytes([0x80, 0x60]) + bytes(10) + bytes([2, 0x9c, 0x00, 2, 0])
        self.assertEqual(P.sbc_packet_frames(four_blocks_4sb), 2 * 16)


class Format3Readers(unittest.TestCase):
    """speaker-analyze and harness.read_recording read format 3 as they
    read format 2 (the kernel time is the only difference)."""

    def test_same_analysis_as_format_2(self):
        for path in (GEN_REC, ANALYZER):
            if not os.path.exists(path):
                self.fail('%s is missing: run make test-tools' % path)
        tmp = tempfile.mkdtemp(prefix='presentation-v3-')
        v2, v3 = os.path.join(tmp, 'v2.rec'), os.path.join(tmp, 'v3.rec')
        subprocess.run([GEN_REC, '--seed', '1', '--seconds', '1', v2], check=True,
                       capture_output=True, timeout=60)
        hdr, records = harness.read_recording(v2)
        with open(v2, 'rb') as f:
            head = f.read(hdr['header_len'])
        with open(v3, 'wb') as f:
            f.write(b'A2DPREC3' + head[8:])
            for t, data in records:
                f.write(recorder.record(t, data, t - 1000))
        out = []
        for path in (v2, v3):
            r = subprocess.run([ANALYZER, '--tone', '1000', path], check=True,
                               capture_output=True, text=True, timeout=60)
            a = json.loads(r.stdout)
            a.pop('file', None)
            out.append(a)
        self.assertGreater(out[0]['packets'], 50)
        self.assertEqual(out[0], out[1])
        hdr3, records3 = harness.read_recording(v3, kernel_times=True)
        self.assertEqual(hdr3['version'], 3)
        self.assertEqual([(t, t - 1000, d) for t, d in records], records3)


if __name__ == '__main__':
    unittest.main()
