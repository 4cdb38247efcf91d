"""Faults while streaming: capture overruns, a missing capture device, a
speaker that stops reading. Audio is judged from what the speaker got."""

import os
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
        # logged once per burst, not once per xrun
        self.daemon.wait_for(lambda: 'capture overrun' in self.daemon.log_text(), 3)

    def test_missing_capture_retried_then_used(self):
        # the device is not there at start; it appears later (as snd-aloop
        # would after its module loads): retried with backoff, then used
        self.add_speaker()
        self.start_daemon(capture='later')
        self.daemon.wait_for(lambda: 'retrying the capture' in self.daemon.log_text(), 3)
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


if __name__ == '__main__':
    unittest.main()
