#!/usr/bin/python3
"""make bench: a2dpsrcd against the floor (pure libsbc), bluez-alsa and
PipeWire + WirePlumber, in one run, on the BlueZ double.

Every configuration streams the same audio (a 997 Hz / 998 Hz two-tone sine
at -6 dBFS and a music-like signal, made by gen-audio) as SBC 44.1 kHz joint
stereo, 16 blocks, 8 subbands, loudness, bitpool 53, to the double's speaker
with write MTU 895, and is judged the same way: CPU of the daemon
process(es) per audio-second, wake-ups, what the speaker received (decoded
by speaker-analyze), memory.  The floor (sbc-floor: libsbc alone encoding
the same PCM in a tight loop) is measured in the same run, so the ratios do
not depend on how busy the shared machine is.

    bench/bench.py [--quick] [--seconds S] [--no-peers] [--no-doc] [--json FILE]

--quick: ~15 s per configuration, no peers (for CI: shows it still works).
Prints a markdown table; writes the JSON (bench/results/latest.json) and,
unless --no-doc, docs/performance.md.  Run it as root: the speaker double
and a2dpsrcd's audio thread get SCHED_FIFO, and the peers' packages are
Debian's (see bench/README.md).

This file is the command line and the order of the run; the work is in
the bench_*.py modules beside it (bench/README.md says which does what).
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import bench_settings as S
from bench_callgrind import run_callgrind
from bench_doc import write_doc
from bench_floor import run_floor
from bench_ours import run_ours, run_startup
from bench_peers import peer_missing, peer_versions, run_peer, run_peer_startup
from bench_procfs import read_text
from bench_provenance import git_head, machine, sha256_of
from bench_settings import (AMPLITUDE, BUILD, CONFIG_HEX, DEFAULT_JSON, DOUBLE_RT_PRIO, GEN, RATE, ROOT, RT_PRIO,
                            SINK_CAPS, TONE, TONE_OFFSET, WRITE_MTU, say)
from bench_table import HEADER, build_table, markdown_table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='~15 s per configuration, no peers (CI)')
    ap.add_argument('--seconds', type=float, help='audio seconds per sine configuration')
    ap.add_argument('--music-seconds', type=float, help='audio seconds per music configuration')
    ap.add_argument('--no-peers', action='store_true')
    ap.add_argument('--peers', action='store_true', help='run the peers with --quick too')
    ap.add_argument('--no-load', action='store_true')
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--only', help='comma list of: ours,load,music,bluealsa,pipewire,startup,callgrind '
                                   '(with --codecs: codec names, ours,bluealsa,pipewire and rss)')
    ap.add_argument('--json', default=DEFAULT_JSON)
    ap.add_argument('--doc', default=os.path.join(ROOT, 'docs', 'performance.md'))
    ap.add_argument('--no-doc', action='store_true')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('--table-from', metavar='JSON', help='only print the table of an earlier run')
    ap.add_argument('--daemon', help='a2dpsrcd binary to measure (default: $BUILD/a2dpsrcd)')
    ap.add_argument('--codecs', action='store_true',
                    help='only the codec run: every codec of the build, its floors, RSS against an SBC-only '
                         'build (bench_codecs.py); --seconds per signal per codec (default 20, --quick 6)')
    ap.add_argument('--two', action='store_true',
                    help='only the two-speaker run: SBC to two speakers (MultiOutput) against one, '
                         'alternating (bench_two.py); --seconds per run (default 20, --quick 6)')
    ap.add_argument('--local-output', default=S.LOCAL_OUTPUT,
                    help='a2dpsrcd --local-output (default "null"; see LOCAL_OUTPUT)')
    a = ap.parse_args()
    S.LOCAL_OUTPUT = a.local_output
    if a.daemon:
        S.DAEMON = os.path.abspath(a.daemon)

    if a.table_from:
        with open(a.table_from) as f:
            print(markdown_table(build_table(json.load(f))))
        return 0
    for p in (S.DAEMON, S.PLUGIN, S.ANALYZER, S.FLOOR, S.GEN, S.CAPTURE_FLOOR, S.RSS_FLOOR):
        if not os.path.exists(p):
            say('%s is missing: run make all test-tools bench-tools' % p)
            return 2
    quick = a.quick
    seconds = a.seconds or ((6.0 if quick else 20.0) if a.codecs or a.two else (15.0 if quick else 60.0))
    music_seconds = a.music_seconds or (8.0 if quick else 30.0)
    peers = a.peers or not (a.no_peers or quick)
    only = set(a.only.split(',')) if a.only else None

    def want(x):
        return only is None or x in only

    tmp = tempfile.mkdtemp(prefix='a2dpsrc-bench-')
    t_start = time.monotonic()
    # the work tree is shared: snapshot the binaries so that a rebuild by
    # someone else during the run cannot change what is measured
    snap = os.path.join(tmp, 'bin')
    os.makedirs(snap)
    for var in ('DAEMON', 'PLUGIN', 'ANALYZER'):
        dst = os.path.join(snap, os.path.basename(getattr(S, var)))
        shutil.copy2(getattr(S, var), dst)
        setattr(S, var, dst)
    daemon_src = a.daemon or os.path.join(BUILD, 'a2dpsrcd')
    R = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
         'command': ('BUILD=%s ' % shlex.quote(os.environ['BUILD']) if os.environ.get('BUILD') else '') +
                    ' '.join(shlex.quote(x) for x in sys.argv),
         'daemon': daemon_src, 'daemon_sha256': sha256_of(S.DAEMON), 'git_head': git_head(),
         'daemon_mtime': time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(daemon_src))),
         'machine': machine(), 'versions': peer_versions(), 'quick': quick,
         'seconds': seconds, 'music_seconds': music_seconds,
         'setup': {'rate': RATE, 'config': CONFIG_HEX, 'sink_caps': SINK_CAPS.hex(), 'write_mtu': WRITE_MTU,
                   'tone_hz': TONE, 'tone_offset_hz': TONE_OFFSET, 'amplitude': AMPLITUDE,
                   'rt_priority': RT_PRIO, 'double_rt_priority': DOUBLE_RT_PRIO},
         'runs': {}, 'peer_notes': {}}
    try:
        # the audio every configuration gets
        audio = {}
        secs = max(seconds, music_seconds) + 15
        for kind in ('sine', 'music'):
            raw = os.path.join(tmp, kind + '.raw')
            wav = os.path.join(tmp, kind + '.wav')
            extra = (['--freq', str(TONE), '--offset', str(TONE_OFFSET), '--amp', str(AMPLITUDE)]
                     if kind == 'sine' else [])
            subprocess.run([GEN, kind, '--rate', str(RATE), '--seconds', str(secs)] + extra + [raw], check=True)
            subprocess.run([GEN, kind, '--rate', str(RATE), '--seconds', str(secs), '--wav'] + extra + [wav],
                           check=True)
            audio[kind + '_raw'], audio[kind + '_wav'] = raw, wav
        if a.codecs:
            return run_codec_mode(a, R, tmp, audio, seconds, quick, t_start, peers)
        if a.two:
            return run_two_mode(a, R, tmp, audio, seconds, quick, t_start)
        say('== floor: libsbc alone')
        R['floor'] = run_floor(audio, 0.5 if quick else 2.0, 5.0 if quick else 20.0, tmp)
        if want('ours'):
            R['runs']['ours-sine'] = run_ours(tmp, 'sine', audio, seconds)
        if want('music'):
            R['runs']['ours-music'] = run_ours(tmp, 'music', audio, music_seconds)
        if want('load') and not a.no_load:
            if shutil.which('stress-ng'):
                R['runs']['ours-sine-load'] = run_ours(tmp, 'sine', audio, seconds, load=True)
            else:
                R['runs']['ours-sine-load'] = {'error': 'stress-ng is not installed'}
                say('no stress-ng: the run under load is skipped')
        R['startup'] = {}
        if want('startup'):
            R['startup']['ours'] = run_startup(tmp, audio, 10)
        if want('callgrind') and not a.no_callgrind and shutil.which('valgrind'):
            try:
                R["callgrind"] = run_callgrind(tmp, audio, 4.0 if quick else 10.0, peers=peers)
            except Exception as e:      # an instrument failing is reported, not fatal
                R['callgrind'] = {'error': str(e)}
                say('callgrind failed: %s' % e)
        for kind in ('bluealsa', 'pipewire'):
            if not peers or not want(kind):
                R['peer_notes'][kind] = 'skipped (--quick)' if quick else 'skipped'
                continue
            missing = peer_missing(kind)
            if missing:
                R['peer_notes'][kind] = 'not installed (%s)' % ', '.join(missing)
                continue
            for sig, secs_ in (('sine', seconds), ('music', music_seconds)):
                try:
                    R['runs']['%s-%s' % (kind, sig)] = run_peer(tmp, kind, sig, audio, secs_)
                except Exception as e:
                    R['runs']['%s-%s' % (kind, sig)] = {'error': str(e).splitlines()[0][:200]}
                    say('%s-%s failed: %s' % (kind, sig, e))
            if want('startup'):
                try:
                    R['startup'][kind] = run_peer_startup(tmp, kind, 5)
                except Exception as e:
                    say('%s start-up failed: %s' % (kind, e))
        R['machine']['loadavg_end'] = (read_text('/proc/loadavg') or '').strip()
        R['elapsed_s'] = time.monotonic() - t_start
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json, 'w') as f:      # the raw figures first, whatever the table does
            json.dump(R, f, indent=1, sort_keys=True, default=str)
        rows = build_table(R)
        R['table'] = [dict(zip(HEADER, r)) for r in rows]
        table = markdown_table(rows)
        print(table)
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json, 'w') as f:
            json.dump(R, f, indent=1, sort_keys=True, default=str)
        say('JSON: %s' % a.json)
        if not a.no_doc:
            write_doc(a.doc, R, table)
            say('table: %s' % a.doc)
    finally:
        if a.keep:
            say('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def finish_mode(a, R, t_start, json_name, report, write_doc, what):
    """The end of a --codecs or --two run: its JSON (bench/results/NAME
    unless --json), its report, its block of the doc."""
    R['machine']['loadavg_end'] = (read_text('/proc/loadavg') or '').strip()
    R['elapsed_s'] = time.monotonic() - t_start
    out = a.json if a.json != DEFAULT_JSON else os.path.join(ROOT, 'bench', 'results', json_name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(R, f, indent=1, sort_keys=True, default=str)
    print('\n'.join(report(R)))
    say('JSON: %s' % out)
    if not a.no_doc:
        write_doc(a.doc, R)
        say('%s: %s' % (what, a.doc))
    return 0


def run_codec_mode(a, R, tmp, audio, seconds, quick, t_start, peers):
    """--codecs: every codec (bench_codecs.py), the peers on each
    (bench_codec_peers.py)."""
    import bench_codecs
    bench_codecs.run_codecs(tmp, audio, seconds, quick, R, set(a.only.split(',')) if a.only else None, peers)
    return finish_mode(a, R, t_start, 'codecs.json', bench_codecs.report, bench_codecs.write_codec_doc,
                       'codec table')


def run_two_mode(a, R, tmp, audio, seconds, quick, t_start):
    """--two: two speakers against one (bench_two.py)."""
    import bench_two
    bench_two.run_two(tmp, audio, seconds, 2 if quick else 3, R)
    return finish_mode(a, R, t_start, 'two.json', bench_two.report, bench_two.write_two_doc,
                       'two-speaker table')


if __name__ == '__main__':
    sys.exit(main())
