"""The floors, measured in the same run: libsbc alone (tight loop and
paced), the libraries' resident memory alone, capture alone."""

import json
import os
import subprocess

from bench_ours import ours_setup
from bench_settings import CAPTURE_FLOOR, CONFIG_HEX, FLOOR, RATE, RSS_FLOOR, WRITE_MTU


def run_floor(audio, min_cpu, paced_seconds, tmp):
    out = {}
    for kind in ('sine', 'music'):
        runs = []
        for _ in range(3):
            r = subprocess.run([FLOOR, '--config', CONFIG_HEX, '--min-cpu', str(min_cpu),
                                audio['%s_raw' % kind]], capture_output=True, text=True, check=True)
            runs.append(json.loads(r.stdout))
        best = min(runs, key=lambda x: x['cpu_per_audio_s'])
        out[kind] = dict(best, runs_cpu_per_audio_s=[x['cpu_per_audio_s'] for x in runs])
    # the paced floor: one timerfd wake-up per packet, encode, send to a
    # reading process; the least any real-time A2DP source can cost here
    r = subprocess.run([FLOOR, '--config', CONFIG_HEX, '--paced', str(paced_seconds), '--mtu', str(WRITE_MTU),
                        audio['sine_raw']], capture_output=True, text=True, check=True)
    out['paced'] = json.loads(r.stdout)
    # the libraries alone: what any process linking them is resident for
    rss = sorted(json.loads(subprocess.run([RSS_FLOOR], capture_output=True, text=True,
                                           check=True).stdout)['peak_rss_kib'] for _ in range(5))
    out['rss_floor'] = {'peak_rss_kib_median': rss[2], 'runs': rss}
    # capture alone, in-process, through the same test plugin with the
    # daemon's period: what "capture included" adds here
    for kind in ('sine', 'music'):
        conf, starts, args = ours_setup(tmp, 'capfloor-' + kind, audio, 1)
        env = dict(os.environ, ALSA_CONFIG_PATH=conf)
        r = subprocess.run([CAPTURE_FLOOR, '-D', 'board', '--rate', str(RATE), '--period', '896',
                            '--seconds', str(paced_seconds / 2)], capture_output=True, text=True, env=env, check=True)
        out['capture_' + kind] = json.loads(r.stdout)
    return out
