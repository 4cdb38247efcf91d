"""The results block of docs/performance.md."""

import bench_settings as S
from bench_procfs import read_text


RESULTS_BEGIN = '<!-- bench:results:begin (written by bench/bench.py) -->'
RESULTS_END = '<!-- bench:results:end -->'


def write_doc(path, R, table):
    m = R['machine']
    v = R['versions']
    block = [RESULTS_BEGIN, '',
             '**Latest run**: %s, %s (%d cores), kernel %s, Debian %s; %s.' % (
                 R['date'], m['cpu'], m['cores'], m['kernel'], m['os'],
                 'quick run' if R['quick'] else 'full run'),
             '', 'Daemon: `%s` (sha256 %s…, built %s; work tree %s).' % (
                 R.get('daemon', S.DAEMON), R.get('daemon_sha256'),
                 R.get('daemon_mtime'), R.get('git_head')),
             '', 'Command: `%s` (%.0f s of sine and %.0f s of music per configuration; took %.0f s; '
             'load average %s at start, %s at end).' % (
                 R['command'], R['seconds'], R['music_seconds'], R['elapsed_s'],
                 ' '.join(m['loadavg_start'].split()[:3]), ' '.join(m.get('loadavg_end', '').split()[:3])),
             '', 'Peers: bluez-alsa-utils %s (libasound2-plugin-bluez %s), pipewire %s, wireplumber %s, '
             'libspa-0.2-bluetooth %s; libsbc %s.' % (
                 v.get('bluez-alsa-utils'), v.get('libasound2-plugin-bluez'), v.get('pipewire'),
                 v.get('wireplumber'), v.get('libspa-0.2-bluetooth'), v.get('libsbc1')),
             '', table, '', RESULTS_END]
    text = read_text(path)
    if text and RESULTS_BEGIN in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_BEGIN, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        text = head + '\n'.join(block) + tail
    else:
        text = '# Performance\n\n' + '\n'.join(block) + '\n'
    with open(path, 'w') as f:
        f.write(text)
