"""Soak: stream for SOAK_SECONDS through repeated link losses, speaker
disconnects and reconnects through the API, and bluetoothd restarts. RSS
and the fd count must stay flat; each stretch of audio between two
disruptions must be clean. Run by `make soak` (an hour) and, shortened, in
CI; skipped unless SOAK_SECONDS is set."""

import os
import signal
import time
import unittest

from common import A2dpTestCase, SPEAKER, SPEAKER_PATH, TONE_HZ

SOAK_SECONDS = float(os.environ.get('SOAK_SECONDS', '0'))
CYCLE_SECONDS = 15


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


@unittest.skipUnless(SOAK_SECONDS > 0, 'set SOAK_SECONDS (make soak)')
class SoakTests(A2dpTestCase):

    def test_soak(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        mgr = self.manager()
        start = time.monotonic()
        samples = []
        cycle = 0
        disruptions = ('link-loss', 'api-reconnect', 'bluetoothd-restart')
        while time.monotonic() - start < SOAK_SECONDS:
            time.sleep(CYCLE_SECONDS)
            what = disruptions[cycle % len(disruptions)]
            if what == 'link-loss':
                self.bluez.LinkLoss(SPEAKER_PATH)
            elif what == 'api-reconnect':
                mgr.Disconnect()
                self.daemon.wait_for(lambda: self.bluez.transport_for(SPEAKER_PATH) is None, 5)
                mgr.Connect(SPEAKER, timeout=30)
            else:
                self.bluez.stop(signal.SIGKILL)
                self.bluez.start()
            self.wait_streaming(timeout=15)
            time.sleep(1.0)
            cycle += 1
            samples.append((time.monotonic() - start, rss_kib(self.daemon.pid),
                            len(os.listdir('/proc/%d/fd' % self.daemon.pid))))
            print('  %6.0f s  cycle %3d (%s)  RSS %d KiB  fds %d' % (samples[-1][0], cycle, what,
                                                                    samples[-1][1], samples[-1][2]),
                  flush=True)
        self.bluez.flush()
        st = self.mprop('Statistics')
        print('soak: %d cycles in %.0f s, RSS %d -> %d KiB, fds %d -> %d, reconnects %d, packets %d'
              % (cycle, time.monotonic() - start, samples[0][1], samples[-1][1], samples[0][2],
                 samples[-1][2], st['Reconnects'], st['Packets']))
        # flat: after the first cycle's warm-up, nothing grows
        warm = samples[min(2, len(samples) - 1)]
        self.assertLessEqual(max(s[1] for s in samples[2:] or [warm]), warm[1] + 512,
                             'RSS grows: %s' % samples)
        self.assertLessEqual(max(s[2] for s in samples), samples[0][2], 'fds grow: %s' % samples)
        # every stretch of audio between disruptions is clean
        for rec in self.bluez.recordings():
            a = self.analyze(rec, '--tone', str(TONE_HZ))
            if a['audio']['decoded_s'] < 1.0:
                continue
            self.assertEqual(a['audio']['tone']['gaps'], 0, '%s: %s' % (rec, a['audio']['tone']))
            self.assertEqual(a['rtp']['seq_gaps'], 0, rec)
            self.assertEqual(a['mtu_violations'], 0, rec)


if __name__ == '__main__':
    unittest.main()
