"""Soak: stream for SOAK_SECONDS through repeated link losses, speaker
disconnects and reconnects through the API, and bluetoothd restarts. RSS
and the fd count must stay flat; each stretch of audio between two
disruptions must be clean. Run by `make soak` (an hour) and, shortened, in
CI; skipped unless SOAK_SECONDS is set."""

import glob
import os
import shutil
import signal
import time
import unittest

from common import A2dpTestCase, SPEAKER, SPEAKER_PATH, TONE_HZ

SOAK_SECONDS = float(os.environ.get('SOAK_SECONDS', '0'))
CYCLE_SECONDS = float(os.environ.get('SOAK_CYCLE_SECONDS', '15'))
# Growth is judged by its least-squares slope over the second half of the
# run, on the mean of each round of the three disruptions (each kind leaves
# its own level behind: a restart re-reads every object). The main loop's
# heap in use (Statistics HeapBytes, mallinfo2, glibc's per-thread cache of
# freed chunks off so that it counts live allocations only) shows a leak
# byte for byte: a leak of 1 KiB per cycle must fail. RSS also carries the
# allocator's fragmentation, which settles over the first hundred or so
# cycles (the hour-long run: flat for its last 1,100 s) and in a 5-minute
# run still looks like a few KiB per bluetoothd restart; its bound catches
# a leak of pages, not of kilobytes.
HEAP_SLOPE_BYTES_PER_CYCLE = 384
# rounds the second half must hold for a slope to mean anything: the heap
# moves by a few KB from sample to sample (CI: some 45 cycles, 7 rounds)
MIN_ROUNDS = 6
RSS_SLOPE_KIB_PER_CYCLE = 4.0
DISRUPTIONS = ('link-loss', 'api-reconnect', 'bluetoothd-restart')
DAEMON_ENV = {'GLIBC_TUNABLES': 'glibc.malloc.tcache_count=0'}
# a stretch's audio lasts as long as the speaker was receiving it (the
# capture is paced at real time): one packet and scheduling of slack
DURATION_SLACK_S = 0.1


def rss_kib(pid, field='VmRSS'):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
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

    def second_half_slope(self, samples, what, period=len(DISRUPTIONS)):
        """samples: [(cycle, value)], cycle 1, 2, ...: the slope per cycle of
        the round means over the second half of the whole rounds."""
        rounds = [samples[i:i + period] for i in range(0, len(samples) - period + 1, period)]
        means = [(sum(c for c, _ in r) / period, sum(v for _, v in r) / period) for r in rounds]
        half = means[len(means) // 2:]
        self.assertGreaterEqual(len(half), MIN_ROUNDS, 'too few rounds to judge %s (run the soak longer): %s'
                                % (what, samples))
        return slope(half)

    def assert_flat(self, samples, bound, what):
        s = self.second_half_slope(samples, what)
        self.assertLessEqual(s, bound, '%s grows %.2f per cycle over the second half: %s' % (what, s, samples))
        return s

    def assert_heap_flat(self, samples):
        return self.assert_flat(samples, HEAP_SLOPE_BYTES_PER_CYCLE, 'the heap in use (bytes)')

    def assert_rss_flat(self, samples):
        return self.assert_flat(samples, RSS_SLOPE_KIB_PER_CYCLE, 'RSS (KiB)')


@unittest.skipUnless(SOAK_SECONDS > 0, 'set SOAK_SECONDS (make soak)')
class SoakTests(A2dpTestCase, StretchJudge):

    def test_soak(self):
        # plain SBC at bitpool 53, no dual channel, as the soak was
        # validated: with SBC-XQ (the default speaker's dual channel) the CI
        # soak of 2026-12-02 had one gap in stretch 23 of 46, with one
        # capture overrun under SCHED_FIFO and a 94 ms hole in the speaker's
        # receipt; not diagnosed yet (docs/reliability.md)
        self.add_speaker(SinkCapabilities=bytes([0xfb, 0xff, 2, 53]))
        # as the unit runs it (--rt-priority 40): without SCHED_FIFO, an
        # hour on a machine shared with other builds (load 2-5 on two cores,
        # 2026-12-02) lost audio to capture overruns in one stretch of 217,
        # and a 20-minute run in two; the soak is about what repeated
        # disruptions do, not about starving the audio thread
        self.start_daemon(env=DAEMON_ENV, args=['--rt-priority', '40'])
        self.connect_speaker()
        mgr = self.manager()
        start = time.monotonic()
        samples = []
        cycle = 0
        disruptions = DISRUPTIONS
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
                            len(os.listdir('/proc/%d/fd' % self.daemon.pid)),
                            int(self.mprop('Statistics')['HeapBytes'])))
            print('  %6.0f s  cycle %3d (%s)  RSS %d KiB  heap %d B  fds %d'
                  % (samples[-1][1], cycle, what, samples[-1][2], samples[-1][4], samples[-1][3]),
                  flush=True)
        self.bluez.flush()
        st = self.mprop('Statistics')
        rss = [(x[0], x[2]) for x in samples]
        heap = [(x[0], x[4]) for x in samples]
        # the counters, each for what it counts: cycles of each kind; the
        # daemon's Reconnects counts its own automatic reconnects (after a
        # link loss and after a bluetoothd restart, not an API Connect)
        print('soak: %d cycles in %.0f s (%d link losses, %d API disconnect+connect, %d bluetoothd '
              'restarts), automatic reconnects %d, packets %d; RSS %d -> %d KiB, heap in use %d -> %d B, '
              'fds %d -> %d'
              % (cycle, time.monotonic() - start, done['link-loss'], done['api-reconnect'],
                 done['bluetoothd-restart'], st['Reconnects'], st['Packets'], samples[0][2],
                 samples[-1][2], samples[0][4], samples[-1][4], samples[0][3], samples[-1][3]))
        self.assertEqual(int(st['Reconnects']), done['link-loss'] + done['bluetoothd-restart'],
                         'automatic reconnects: one after each link loss and each restart')
        print('soak: over the second half, heap %.0f B/cycle (bound %d), RSS %.2f KiB/cycle (bound %.1f)'
              % (self.second_half_slope(heap, 'heap'), HEAP_SLOPE_BYTES_PER_CYCLE,
                 self.second_half_slope(rss, 'RSS'), RSS_SLOPE_KIB_PER_CYCLE))
        self.assert_heap_flat(heap)
        self.assert_rss_flat(rss)
        # fds: a sample may catch one in passing (a socket being replaced);
        # a leak keeps them up
        fds = [(x[0], x[3]) for x in samples]
        self.assertLessEqual(self.second_half_slope(fds, 'fds'), 0.05, 'fds grow: %s' % fds)
        self.assertLessEqual(min(f for _, f in fds[-3:]), fds[0][1], 'fds grow: %s' % fds)
        # every stretch of audio between disruptions is clean; the first
        # and one per disruption, none lost
        judged, bad = 0, []
        # every recording in the speaker's folder: the double's own list
        # starts afresh with each bluetoothd restart. All are judged, and a
        # stretch that fails is kept with the daemon's log (the test's
        # temporary folder goes), so that an hour's one bad stretch can be
        # looked at
        recs = sorted(glob.glob(os.path.join(self.bluez.recdir, '*.rec')), key=os.path.getmtime)
        for i, rec in enumerate(recs):
            a = self.analyze(rec, '--tone', str(TONE_HZ))
            if a['audio']['decoded_s'] < 1.0:
                continue
            try:
                self.assert_clean_stretch(a, rec)
            except AssertionError as e:
                bad.append('stretch %d of %d (%s): %s' % (i + 1, len(recs), self.keep(rec), e))
            judged += 1
        self.assertEqual(bad, [], '%d of %d stretches not clean:\n%s' % (len(bad), judged, '\n'.join(bad)))
        self.assertGreaterEqual(judged, cycle + 1, 'stretches of audio missing')

    def keep(self, rec):
        keep = os.path.join(os.environ.get('BUILD', 'build'), 'soak-failed')
        os.makedirs(keep, exist_ok=True)
        shutil.copy(rec, keep)
        shutil.copy(self.daemon.log_path, os.path.join(keep, 'a2dpsrcd.log'))
        return os.path.join(keep, os.path.basename(rec))


if __name__ == '__main__':
    unittest.main()
