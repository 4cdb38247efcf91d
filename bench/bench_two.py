"""--two: a2dpsrcd streaming SBC to two speakers at once (MultiOutput,
issue #13) against one, in the same run: the daemon's CPU time per wall
second, its audio thread's, and its RSS. One and two alternate, repeated,
so that a shared machine's load falls on both alike; the ratios of the
medians are the result."""

import statistics

from bench_ours import run_ours
import bench_doc as D
from bench_settings import say

TWO_BEGIN = '<!-- bench:two:begin (written by bench/bench.py --two) -->'
TWO_END = '<!-- bench:two:end -->'


def figures(res):
    wall = res['window_wall_s']
    audio = [v for k, v in res['threads'].items() if k.startswith('a2dpsrc-audio/')]
    return {'cpu_ms_per_s': 1000.0 * res['cpu']['sched_s'] / wall,
            'audio_thread_ms_per_s': 1000.0 * audio[0]['run_s'] / wall if audio else None,
            'rss_kib': res['memory']['rss_kib'], 'peak_rss_kib': res['memory']['peak_rss_kib'],
            'packets': res['stats_window']['Packets']}


def run_two(tmp, audio, seconds, repeats, R):
    runs = {1: [], 2: []}
    for i in range(repeats):
        for n in (1, 2):
            res = run_ours(tmp, 'sine', audio, seconds, tag='-%dspk-%d' % (n, i), second=n == 2)
            runs[n].append(figures(res))
            say('%d speaker(s): %s' % (n, runs[n][-1]))
    R['two'] = {'runs': runs, 'repeats': repeats, 'seconds': seconds}
    med = {n: {k: statistics.median(r[k] for r in runs[n]) for k in ('cpu_ms_per_s', 'rss_kib')}
           for n in (1, 2)}
    thread = {n: [r['audio_thread_ms_per_s'] for r in runs[n] if r['audio_thread_ms_per_s'] is not None]
              for n in (1, 2)}
    for n in (1, 2):
        med[n]['audio_thread_ms_per_s'] = statistics.median(thread[n]) if thread[n] else None
    R['two']['median'] = med
    R['two']['ratio'] = {k: med[2][k] / med[1][k] for k in med[1] if med[1][k] and med[2][k]}
    return R['two']


def report(R):
    t = R['two']
    med, ratio = t['median'], t['ratio']
    lines = ['| speakers | daemon CPU, ms per s | audio thread, ms per s | RSS, KiB |',
             '|---|---|---|---|']
    for n in (1, 2):
        m = med[n] if n in med else med[str(n)]
        lines.append('| %d | %.1f | %s | %d |' % (
            n, m['cpu_ms_per_s'],
            '%.1f' % m['audio_thread_ms_per_s'] if m.get('audio_thread_ms_per_s') else '-', m['rss_kib']))
    lines += ['', 'Two speakers against one (medians of %d alternating runs of %.0f s, SBC to both): '
              'daemon CPU %.2f x, audio thread %s, RSS %.2f x.' % (
                  t['repeats'], t['seconds'], ratio.get('cpu_ms_per_s', 0),
                  '%.2f x' % ratio['audio_thread_ms_per_s'] if 'audio_thread_ms_per_s' in ratio else '-',
                  ratio.get('rss_kib', 0))]
    return lines


def write_two_doc(path, R):
    m = R['machine']
    block = [TWO_BEGIN, '',
             '**Latest two-speaker run**: %s, commit %s, %s (%d cores); `%s`; took %.0f s; %s '
             '(compare the ratios, measured in the same run).' % (
                 R['date'], R.get('git_head'), m['cpu'], m['cores'], R['command'], R.get('elapsed_s', 0),
                 D.load_line(m)),
             ''] + report(R) + ['', TWO_END]
    D.replace_block(path, TWO_BEGIN, TWO_END, block, 'Two speakers against one')
