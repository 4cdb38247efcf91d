"""Instructions per audio-second under callgrind: a2dpsrcd, bluez-alsa
and the floor."""

import os
import re
import subprocess

from bench_ours import run_ours
from bench_peers import peer_missing, run_peer
from bench_settings import CONFIG_HEX, FLOOR, RATE, say


def run_callgrind(tmp, audio, seconds, peers=True):
    """Instructions per audio-second: a2dpsrcd (whole process, streaming
    window only) and the floor (sbc_encode only), under callgrind."""
    say('== callgrind: %g s of audio' % seconds)
    out = {}
    cg = os.path.join(tmp, 'callgrind')
    os.makedirs(cg, exist_ok=True)
    vg = ['valgrind', '--tool=callgrind', '--callgrind-out-file=%s/daemon.%%p' % cg]
    res = run_ours(tmp, 'sine', audio, seconds, warmup=2.0, valgrind=vg)
    dumps = sorted(f for f in os.listdir(cg) if f.startswith('daemon.') and f.endswith('.1'))
    if not dumps:
        out['daemon_error'] = 'no callgrind dump'
    else:
        path = os.path.join(cg, dumps[0])
        total = callgrind_total(path)
        enc = callgrind_inclusive(path, 'sbc_encode')
        # the test capture plugin (a copy from the pre-made signal) runs inside the daemon:
        # its callbacks do not call each other, so their inclusive costs add
        top = callgrind_top(path, 400)
        plug = {}
        for ir, name in top:
            m = re.search(r'pcm_a2dpsrc_test\.c:(tp_\w+)', name)
            if m:
                plug[m.group(1)] = max(plug.get(m.group(1), 0), ir)
        plugin = sum(plug.values())
        out['daemon'] = {'instructions': total, 'audio_s': res['audio_s'],
                         'test_plugin_inclusive': plugin, 'test_plugin_functions': plug,
                         'without_test_plugin_per_audio_s': (total - plugin) / res['audio_s']
                         if total and res['audio_s'] else None,
                         'per_audio_s': total / res['audio_s'] if total and res['audio_s'] else None,
                         'sbc_encode_inclusive': enc,
                         'sbc_encode_share': enc / total if enc and total else None,
                         'top_inclusive': top[:30]}
    if peers and not peer_missing('bluealsa'):
        # bluez-alsa's daemon the same way; its feed (aplay) runs in the
        # client, as in the CPU rows. Audio seconds: what the speaker got
        # in the window (under valgrind a sender may fall behind real time)
        bvg = ['valgrind', '--tool=callgrind', '--callgrind-out-file=%s/bluealsa.%%p' % cg]
        try:
            pres = run_peer(tmp, 'bluealsa', 'sine', audio, seconds, warmup=2.0, valgrind=bvg)
            bd = sorted(f for f in os.listdir(cg) if f.startswith('bluealsa.') and f.endswith('.1'))
            frames = pres['speaker'].get('frames')
            audio_s = frames * 128 / RATE if frames else None
            if bd and audio_s:
                bpath = os.path.join(cg, bd[0])
                btotal = callgrind_total(bpath)
                out['bluealsa'] = {'instructions': btotal, 'audio_s': audio_s,
                                   'per_audio_s': btotal / audio_s if btotal else None,
                                   'sbc_encode_inclusive': callgrind_inclusive(bpath, 'sbc_encode'),
                                   'top_inclusive': callgrind_top(bpath, 400)[:30]}
            else:
                out['bluealsa_error'] = 'no callgrind dump or no frames received'
        except Exception as e:     # noqa: BLE001 - a peer failing is a figure, not a crash
            out['bluealsa_error'] = str(e)
    fl = os.path.join(cg, 'floor.out')
    subprocess.run(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + fl,
                    '--toggle-collect=sbc_encode', FLOOR, '--config', CONFIG_HEX, '--audio-seconds',
                    str(seconds), audio['sine_raw']], capture_output=True, check=True)
    total = callgrind_total(fl)
    out['floor'] = {'instructions': total, 'audio_s': seconds,
                    'per_audio_s': total / seconds if total else None,
                    'note': 'inclusive cost of sbc_encode() only (--toggle-collect)'}
    if out.get('daemon', {}).get('per_audio_s') and out['floor']['per_audio_s']:
        out['ratio'] = out['daemon']['per_audio_s'] / out['floor']['per_audio_s']
        out['ratio_without_test_plugin'] = (out['daemon']['without_test_plugin_per_audio_s'] /
                                            out['floor']['per_audio_s'])
    return out


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith('summary:') or line.startswith('totals:'):
                return int(line.split()[1])
    return None


def callgrind_annotate(path):
    r = subprocess.run(['callgrind_annotate', '--inclusive=yes', '--threshold=100', path],
                       capture_output=True, text=True)
    return r.stdout


def callgrind_inclusive(path, fn):
    for line in callgrind_annotate(path).splitlines():
        m = re.match(r'\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*:(\S+)', line)
        if m and m.group(2).split('(')[0] == fn:
            return int(m.group(1).replace(',', ''))
    return None


def callgrind_top(path, n):
    top = []
    for line in callgrind_annotate(path).splitlines():
        m = re.match(r'\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+)', line)
        if m and ':' in m.group(2) and not line.strip().startswith('Ir'):
            top.append([int(m.group(1).replace(',', '')), m.group(2)])
        if len(top) >= n:
            break
    return top
