"""The results block of docs/performance.md."""

import bench_settings as S
from bench_procfs import read_text


RESULTS_BEGIN = '<!-- bench:results:begin (written by bench/bench.py) -->'
RESULTS_END = '<!-- bench:results:end -->'


def load_line(m):
    """'load average A at start, B at end' of a run's machine record."""
    return 'load average %s at start, %s at end' % (
        ' '.join(m['loadavg_start'].split()[:3]), ' '.join(m.get('loadavg_end', '').split()[:3]))


def replace_block(path, begin, end, lines, heading):
    """Writes lines (begin ... end markers included) into the file in place
    of the block between begin and end; without one, the block goes at the
    end under heading (None: the file becomes the block alone)."""
    text = read_text(path) or '# Performance\n'
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + '\n'.join(lines) + rest.split(end, 1)[1]
    elif heading is None:
        text = '# Performance\n\n' + '\n'.join(lines) + '\n'
    else:
        text = text.rstrip('\n') + '\n\n## %s\n\n' % heading + '\n'.join(lines) + '\n'
    with open(path, 'w') as f:
        f.write(text)


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
             '%s).' % (R['command'], R['seconds'], R['music_seconds'], R['elapsed_s'], load_line(m)),
             '', 'Peers: bluez-alsa-utils %s (libasound2-plugin-bluez %s), pipewire %s, wireplumber %s, '
             'libspa-0.2-bluetooth %s; libsbc %s.' % (
                 v.get('bluez-alsa-utils'), v.get('libasound2-plugin-bluez'), v.get('pipewire'),
                 v.get('wireplumber'), v.get('libspa-0.2-bluetooth'), v.get('libsbc1')),
             '', table, '', RESULTS_END]
    replace_block(path, RESULTS_BEGIN, RESULTS_END, block, None)
