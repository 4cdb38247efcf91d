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
CYCLE_SECONDS = float(os.environ.get('SOAK_CYCLE_SECONDS', '15'))
# RSS over the second half of the run, least-squares slope: a leak of
# 1 KiB per cycle must fail; the allocator's and libraries' warm-up is over
# by then (the hour-long run: flat for its last 1,100 s)
RSS_SLOPE_KIB_PER_CYCLE = 0.5
# a stretch's audio lasts as long as the speaker was receiving it (the
# capture is paced at real time): one packet and scheduling of slack
DURATION_SLACK_S = 0.1


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def slope(points):
    """Least-squares slope of [(x, y)]."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


class StretchJudge:
    """What each stretch of a soak must show (also used on synthetic
    recordings by test_judges.py)."""

    def assert_clean_stretch(self, a, rec=''):
        """The tone, clean, over the whole stretch, and as much of it as the
        stretch lasted on the speaker's clock."""
        self.assert_clean_stream(a, min_snr=50.0)
        decoded, wall = a['audio']['decoded_s'], a['timing']['duration_wall_s']
        self.assertAlmostEqual(decoded, wall, delta=DURATION_SLACK_S,
                               msg='%s: %.3f s of audio arrived over %.3f s' % (rec, decoded, wall))

    def assert_rss_flat(self, samples):
        """samples: [(cycle, rss_kib)]; no growth over the second half."""
        half = samples[len(samples) // 2:]
        self.assertGreaterEqual(len(half), 4, 'too few cycles to judge RSS: %s' % samples)
        s = slope(half)
        self.assertLessEqual(s, RSS_SLOPE_KIB_PER_CYCLE,
                             'RSS grows %.2f KiB per cycle over the second half: %s' % (s, samples))
        return s


@unittest.skipUnless(SOAK_SECONDS > 0, 'set SOAK_SECONDS (make soak)')
class SoakTests(A2dpTestCase, StretchJudge):

    def test_soak(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        mgr = self.manager()
        start = time.monotonic()
        samples = []
        cycle = 0
        disruptions = ('link-loss', 'api-reconnect', 'bluetoothd-restart')
        done = {d: 0 for d in disruptions}
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
            done[what] += 1
            samples.append((cycle, time.monotonic() - start, rss_kib(self.daemon.pid),
                            len(os.listdir('/proc/%d/fd' % self.daemon.pid))))
            print('  %6.0f s  cycle %3d (%s)  RSS %d KiB  fds %d' % (samples[-1][1], cycle, what,
                                                                    samples[-1][2], samples[-1][3]),
                  flush=True)
        self.bluez.flush()
        st = self.mprop('Statistics')
        rss = [(c, r) for c, _, r, _ in samples]
        # the counters, each for what it counts: cycles of each kind; the
        # daemon's Reconnects counts its own automatic reconnects (after a
        # link loss and after a bluetoothd restart, not an API Connect)
        print('soak: %d cycles in %.0f s (%d link losses, %d API disconnect+connect, %d bluetoothd '
              'restarts), automatic reconnects %d, packets %d; RSS %d -> %d KiB, fds %d -> %d'
              % (cycle, time.monotonic() - start, done['link-loss'], done['api-reconnect'],
                 done['bluetoothd-restart'], st['Reconnects'], st['Packets'], samples[0][2],
                 samples[-1][2], samples[0][3], samples[-1][3]))
        self.assertEqual(int(st['Reconnects']), done['link-loss'] + done['bluetoothd-restart'],
                         'automatic reconnects: one after each link loss and each restart')
        s = self.assert_rss_flat(rss)
        print('soak: RSS slope over the second half %.2f KiB/cycle (bound %.1f)' % (s, RSS_SLOPE_KIB_PER_CYCLE))
        self.assertLessEqual(max(s[3] for s in samples), samples[0][3], 'fds grow: %s' % samples)
        # every stretch of audio between disruptions is clean; the first
        # and one per disruption, none lost
        judged = 0
        for rec in self.bluez.recordings():
            a = self.analyze(rec, '--tone', str(TONE_HZ))
            if a['audio']['decoded_s'] < 1.0:
                continue
            self.assert_clean_stretch(a, rec)
            judged += 1
        self.assertGreaterEqual(judged, cycle + 1, 'stretches of audio missing')


if __name__ == '__main__':
    unittest.main()
