"""bench.py --codecs: every codec a2dpsrcd has, in one run.

For each codec (SBC, SBC-XQ, aptX, aptX HD, AAC, LDAC): a2dpsrcd streams
the sine and the music to a speaker of the double offering only that codec;
the codec's own encode-only floor (codec-floor: the codec object's
encoder_new/encode over the same PCM, in a tight loop) and its paced floor
(codec-floor --paced: one timerfd wake-up, the frames of one packet, one
send) are measured in the same run with the configuration the daemon set
on the transport.  Figures: CPU per audio-second and its ratios to both
floors, bytes on the wire per audio-second (every byte of every packet the
speaker received in the window: RTP and payload headers included), peak
RSS, SNR of the decoded tone and of the music against its reference
(speaker-analyze; LDAC is not decoded, only its framing is checked).

The peers that can send the codec (bluez-alsa, PipeWire + WirePlumber) on
the same speaker, against the same floors: bench_codec_peers.py.  Every
speaker offers 44.1 kHz only (the signals' rate), so that no stack
resamples or picks a higher rate than the others.

The library floor of each codec: rss-floor --codec NAME (the libraries
a2dpsrcd links, and the ones that codec dlopens).

Then the RSS of an SBC stream: the all-codec build against a build without
aptX, AAC and LDAC (WITH_APTX=no WITH_AAC=no WITH_LDAC=no, built in the
same run into its own BUILD directory), runs alternated, medians compared
with issue #12's 5 % bound.
"""

import json
import os
import shutil
import statistics
import subprocess
import traceback

import bench_codec_peers as P
import bench_doc as D
import bench_ours as O
import bench_provenance as PV
import bench_settings as S
import bench_table as T


def _sink(codec, caps):
    """One sink SEP of the double with these capabilities."""
    return {'SinkEndpoints': [{'SEID': 1, 'Codec': codec, 'Capabilities': caps}]}


_V = P.sinks.vendor_header
# name, what the speaker offers (AddDevice options), label.  44.1 kHz only,
# stereo, as SINK_CAPS (the double's presets offer 48 kHz and more too)
CODECS = [
    ('sbc', {'SinkCapabilities': S.SINK_CAPS}, 'SBC'),
    # SBC with dual channel and room for bitpool 38: a2dpsrcd sends SBC-XQ
    ('sbc-xq', {'SinkCapabilities': bytes([0x27, 0xff, 2, 74])}, 'SBC-XQ'),
    ('aptx', _sink(P.sinks.VENDOR, _V(*P.sinks.APTX) + bytes([0x22])), 'aptX'),
    ('aptx-hd', _sink(P.sinks.VENDOR, _V(*P.sinks.APTX_HD) + bytes([0x22, 0, 0, 0, 0])), 'aptX HD'),
    # MPEG-2/4 AAC LC, 2 channels, VBR, up to 320 kbit/s
    ('aac', _sink(P.sinks.AAC, bytes([0xc0, 0x01, 0x04, 0x80 | 0x04, 0xe2, 0x00])), 'AAC'),
    ('ldac', _sink(P.sinks.VENDOR, _V(*P.sinks.LDAC) + bytes([0x20, 0x01])), 'LDAC'),
]
STACKS = ('ours',) + P.PEERS
NOT_DECODED = {'ldac': 'not decoded (framing checked only)'}
RSS_BOUND = 1.05
CODEC_FLOOR = os.path.join(S.BUILD, 'bench', 'codec-floor')
LEAN_BUILD = os.path.join(S.BUILD, 'sbc-only')


def built_codecs():
    r = subprocess.run([CODEC_FLOOR, '--list'], capture_output=True, text=True, check=True)
    return r.stdout.split()


def codec_floor(name, config, audio, quick):
    """The codec's encode-only floor (best of 3, 1 s of CPU each) on both
    signals, and its paced floor on both (6 s); --quick: one short run each."""
    min_cpu, paced_s, n = (0.2, 1.0, 1) if quick else (1.0, 6.0, 3)
    out = {}
    for kind in ('sine', 'music'):
        runs = []
        for _ in range(n):
            r = subprocess.run([CODEC_FLOOR, '--codec', name, '--config', config, '--mtu', str(S.WRITE_MTU),
                                '--min-cpu', str(min_cpu), audio['%s_raw' % kind]],
                               capture_output=True, text=True, check=True)
            runs.append(json.loads(r.stdout))
        best = min(runs, key=lambda x: x['cpu_per_audio_s'])
        out[kind] = dict(best, runs_cpu_per_audio_s=[x['cpu_per_audio_s'] for x in runs])
        # paced on each signal: encoding costs differ by signal (AAC: 3x)
        r = subprocess.run([CODEC_FLOOR, '--codec', name, '--config', config, '--mtu', str(S.WRITE_MTU),
                            '--paced', str(paced_s), audio['%s_raw' % kind]], capture_output=True, text=True,
                           check=True)
        out['paced_' + kind] = json.loads(r.stdout)
    return out


def capture_floor(tmp, kind, audio, period, seconds):
    """Capture alone through the same test plugin with the daemon's
    period (capture-floor), ms per audio-second."""
    conf, _, _ = O.ours_setup(tmp, 'capfloor-' + kind, audio, 1)
    r = subprocess.run([S.CAPTURE_FLOOR, '-D', 'board', '--rate', str(S.RATE), '--period', str(period or 896),
                        '--seconds', str(seconds)], capture_output=True, text=True, check=True,
                       env=dict(os.environ, ALSA_CONFIG_PATH=conf))
    return json.loads(r.stdout)['cpu_per_audio_s'] * 1000


def wake_floor(period, seconds):
    """One bare wake-up per period (capture-floor --wake-only: a timerfd,
    poll, read), ms per audio-second: capture alone and the paced floor
    each hold one, the daemon one for both, so one is counted back."""
    r = subprocess.run([S.CAPTURE_FLOOR, '--wake-only', '--rate', str(S.RATE), '--period', str(period or 896),
                        '--seconds', str(seconds)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)['cpu_per_audio_s'] * 1000


def floors(audio, quick):
    """floor_of(codec, config): codec_floor, once per codec and configuration
    in a run (a peer that negotiates what a2dpsrcd did shares its floors)."""
    cache = {}

    def floor_of(name, config):
        if (name, config) not in cache:
            cache[(name, config)] = codec_floor(name, config, audio, quick)
        return cache[(name, config)]
    return floor_of


def one_codec(tmp, name, speaker, audio, seconds, quick, stacks, peers, floor_of):
    """a2dpsrcd (if 'ours' in stacks) and the peers in stacks on one codec's
    speaker; peers: whether to run them (else only why they cannot)."""
    res = {'peers': {}}
    for peer in P.PEERS:
        if peer in stacks:
            res['peers'][peer] = P.run_peer_codec(tmp, peer, name, speaker, audio, seconds, quick, floor_of, peers)
    if 'ours' not in stacks:
        res['error'] = 'a2dpsrcd not run (--only without ours)'
        return res
    try:
        ours(tmp, name, speaker, audio, seconds, quick, floor_of, res)
    except Exception as e:          # noqa: BLE001 - a codec failing is a figure, not a crash
        res['error'] = str(e).splitlines()[0][:200] if str(e) else repr(e)
        S.say('a2dpsrcd on %s failed: %s' % (name, traceback.format_exc()))
    return res


def ours(tmp, name, speaker, audio, seconds, quick, floor_of, res):
    """a2dpsrcd on one codec's speaker: its figures per signal into res."""
    for kind in ('sine',) if quick else ('sine', 'music'):
        run = O.run_ours(tmp, kind, audio, seconds, speaker=speaker, tag='-' + name)
        conf = run['transport'].get('Configuration')
        fl = res.get('floor') or floor_of(name, conf)
        res['floor'] = fl
        rate = fl['sine']['rate']
        if rate != S.RATE:         # run_ours counted audio at the capture's rate
            run['audio_s'] *= S.RATE / rate
            run['cpu']['per_audio_s'] *= rate / S.RATE
        nbytes, npk = run['wire_bytes'], run['wire_packets']
        sp = run.get('speaker') or {}
        cap = capture_floor(tmp, kind, audio, run['capture_period_frames'], 1.0 if quick else 4.0)
        wake = wake_floor(run['capture_period_frames'], 1.0 if quick else 4.0)
        cpu = run['cpu']['per_audio_s'] * 1000
        res[kind] = {
            'capture_period_frames': run['capture_period_frames'], 'capture_floor_ms_per_audio_s': cap,
            'wake_floor_ms_per_audio_s': wake,
            # the daemon's one wake-up serves capture and sending: capture
            # alone's own wake-up is not taken off, the paced floor has one
            'own_ms_per_audio_s': cpu - (cap - wake),
            'config': conf, 'codec_property': run['transport'].get('Codec'), 'rate': rate,
            'audio_s': run['audio_s'], 'cpu_ms_per_audio_s': cpu,
            'floor_ms_per_audio_s': fl[kind]['cpu_per_audio_s'] * 1000,
            'paced_ms_per_audio_s': fl['paced_' + kind]['cpu_per_audio_s'] * 1000,
            'wire_bytes_per_audio_s': nbytes / run['audio_s'] if run['audio_s'] else None,
            'wire_packets': npk, 'encoded_bytes_per_audio_s_floor': fl[kind]['bytes_per_audio_s'],
            'peak_rss_kib': run['memory']['peak_rss_kib'],
            # where it goes (docs/performance.md, "Where the memory goes")
            'rss_by_mapping_kib': run['memory'].get('rss_by_mapping_kib'),
            'snr_db': sp.get('snr_db'), 'snr_vs_ref_db': sp.get('snr_vs_ref_db'),
            'frame_errors': sp.get('frame_errors'), 'seq_gaps': sp.get('seq_gaps'),
            'gaps': sp.get('gaps'), 'dropped_ms': run['stats_window'].get('DroppedMs'),
            'underruns': run['stats_window'].get('Underruns'),
            'tone_present': sp.get('tone_present'), 'snr_db_per_channel': sp.get('snr_db_per_channel'),
            'speaker': sp,
        }


def build_lean():
    """The daemon without aptX, AAC and LDAC, built now into its own BUILD."""
    r = subprocess.run(['make', '-C', S.ROOT, '-s', 'BUILD=' + LEAN_BUILD, 'WITH_APTX=no', 'WITH_AAC=no',
                        'WITH_LDAC=no', os.path.join(LEAN_BUILD, 'a2dpsrcd')],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('lean build failed: ' + (r.stderr or r.stdout)[-300:])
    return os.path.join(LEAN_BUILD, 'a2dpsrcd')


def rss_compare(tmp, audio, seconds, rounds):
    lean = build_lean()
    snap = os.path.join(tmp, 'bin', 'a2dpsrcd-sbc-only')
    shutil.copy2(lean, snap)
    out = {'all': [], 'lean': [], 'lean_binary': lean, 'lean_sha256': PV.sha256_of(snap)}
    for i in range(rounds):
        for key, path in (('all', S.DAEMON), ('lean', snap)):
            run = O.run_ours(tmp, 'sine', audio, seconds, daemon_path=path, tag='-rss-%s-%d' % (key, i))
            out[key].append(run['memory']['peak_rss_kib'])
    out['all_median_kib'] = statistics.median(out['all'])
    out['lean_median_kib'] = statistics.median(out['lean'])
    out['ratio'] = out['all_median_kib'] / out['lean_median_kib']
    out['within_5pct'] = out['ratio'] <= RSS_BOUND
    return out


def rss_floor(codec=None):
    """rss-floor's peak RSS, median of 5: the libraries a2dpsrcd links, and
    with codec those that codec dlopens."""
    argv = [S.RSS_FLOOR] + (['--codec', codec] if codec else [])
    rss = sorted(json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
                 ['peak_rss_kib'] for _ in range(5))
    return {'peak_rss_kib_median': rss[2], 'runs': rss}


def run_codecs(tmp, audio, seconds, quick, R, only=None, peers=True):
    """only: what to run: codec names (none named: every codec), stacks
    (ours, bluealsa, pipewire; none named: all) and rss; default all.
    peers: run the peers (else only say which cannot send which codec)."""
    R['codecs'] = {}
    R['rss_floor'] = rss_floor()
    R['rss_floor_codec'] = {}
    have = built_codecs()
    R['codecs_built'] = have
    names = {c[0] for c in CODECS}
    want_codecs = (only or set()) & names
    stacks = ((only or set()) & set(STACKS)) or set(STACKS)
    run_any = not only or want_codecs or (only & set(STACKS))
    floor_of = floors(audio, quick)
    for name, speaker, label in CODECS:
        if not run_any or (want_codecs and name not in want_codecs):
            continue
        if name not in have:
            R['codecs'][name] = {'error': 'not in this build\'s codec table (work tree %s)' % R.get('git_head')}
            continue
        try:
            R['rss_floor_codec'][name] = rss_floor(name)
            R['codecs'][name] = one_codec(tmp, name, speaker, audio, seconds, quick, stacks, peers, floor_of)
        except Exception as e:      # noqa: BLE001 - a codec failing is a figure, not a crash
            R['codecs'][name] = {'error': str(e).splitlines()[0][:200] if str(e) else repr(e)}
            S.say('codec %s failed: %s' % (name, traceback.format_exc()))
    if only and 'rss' not in only:
        return
    try:
        R['rss_lean'] = rss_compare(tmp, audio, min(seconds, 10.0), 1 if quick else 2)
    except Exception as e:          # noqa: BLE001
        R['rss_lean'] = {'error': str(e)[:300]}
        S.say('RSS comparison failed: %s' % e)


# ---- the table --------------------------------------------------------------

CPU_TARGET = 1.1            # issue #12: own share <= 1.1 x (codec floor + paced floor)
RSS_TARGET_MIB = 1.7        # issue #12: peak RSS above the library floor, every codec built in

CODEC_HEADER = ['codec', 'commit', 'configuration', 'CPU ms/s sine / music', 'codec floor ms/s sine / music',
                '÷ codec floor sine / music', 'paced floor ms/s sine / music', '÷ paced floor sine / music',
                'capture alone less its wake-up ms/s sine / music', "own share ms/s sine / music",
                'own share ≤ 1.1 × paced floor (= codec floor + pacing)']
CODEC_HEADER2 = ['codec', 'commit', 'on the wire kbit/s (bytes/s)', 'encoded only, kbit/s', 'peak RSS MiB',
                 'library floor with the codec MiB', 'above it MiB (≤ 1.7)', 'SNR tone dB',
                 'SNR music vs source dB', 'frame errors / seq gaps / dropped ms']


def _pair(a, b, nd):
    return '%s / %s' % (T.fmt(a, nd), T.fmt(b, nd))


def _measured(R):
    """(label, name, sine, music) of every codec in R; sine None when
    a2dpsrcd was not measured on it."""
    for name, _, label in CODECS:
        c = R.get('codecs', {}).get(name)
        if c is None:
            continue
        if c.get('error') or not c.get('sine'):
            yield label, name, None, None
            continue
        yield label, name, c['sine'], c.get('music') or {}


def cpu_target(s, m):
    """[(own share, paced floor)] of both signals, and whether the target
    holds on every one (None: not measured)."""
    own = [(x.get('own_ms_per_audio_s'), x.get('paced_ms_per_audio_s')) for x in (s, m)]
    own = [(o, p) for o, p in own if o is not None and p]
    return own, (all(o <= CPU_TARGET * p for o, p in own) if own else None)


def rss_target(R, name, s, m):
    """(peak RSS KiB, the codec's library floor KiB, MiB above it)."""
    floor = ((R.get('rss_floor_codec') or {}).get(name) or {}).get('peak_rss_kib_median')
    peak = max(x for x in (s['peak_rss_kib'], m.get('peak_rss_kib')) if x)
    return peak, floor, (peak - floor) / 1024 if floor else None


def codec_rows(R):
    rows = []
    for label, name, s, m in _measured(R):
        if s is None:
            rows.append([label, R.get('git_head'), 'not measured: ' + R['codecs'][name].get('error', '?')] +
                        [''] * (len(CODEC_HEADER) - 3))
            continue
        own, ok = cpu_target(s, m)
        rows.append([
            label, R.get('git_head'), '`%s`' % s['config'], _pair(s['cpu_ms_per_audio_s'], m.get('cpu_ms_per_audio_s'), 2),
            _pair(s['floor_ms_per_audio_s'], m.get('floor_ms_per_audio_s'), 3),
            '%s / %s' % (T.ratio(s['cpu_ms_per_audio_s'], s['floor_ms_per_audio_s'], 1),
                         T.ratio(m.get('cpu_ms_per_audio_s'), m.get('floor_ms_per_audio_s'), 1)),
            _pair(s['paced_ms_per_audio_s'], m.get('paced_ms_per_audio_s'), 2),
            '%s / %s' % (T.ratio(s['cpu_ms_per_audio_s'], s['paced_ms_per_audio_s'], 1),
                         T.ratio(m.get('cpu_ms_per_audio_s'), m.get('paced_ms_per_audio_s'), 1)),
            _pair(*(x['capture_floor_ms_per_audio_s'] - x['wake_floor_ms_per_audio_s']
                    if x.get('wake_floor_ms_per_audio_s') is not None else x.get('capture_floor_ms_per_audio_s')
                    for x in (s, m)), 2),
            _pair(s.get('own_ms_per_audio_s'), m.get('own_ms_per_audio_s'), 2),
            '%s (%s)' % (T.verdict(ok), ' / '.join(T.ratio(o, p, 2) for o, p in own))])
    return rows


def codec_rows2(R):
    rows = []
    for label, name, s, m in _measured(R):
        if s is None:
            continue
        snr = NOT_DECODED.get(name)
        wire = s['wire_bytes_per_audio_s']
        peak, floor, above = rss_target(R, name, s, m)
        rows.append([
            label, R.get('git_head'), '%s (%s)' % (T.fmt(wire * 8 / 1000 if wire else None, 0), T.fmt(wire, 0)),
            T.fmt(s['encoded_bytes_per_audio_s_floor'] * 8 / 1000, 0), T.fmt(peak / 1024, 2),
            T.fmt(floor / 1024 if floor else None, 2),
            '%s %s' % (T.fmt(above, 2), T.verdict(above <= RSS_TARGET_MIB) if above is not None else ''),
            snr or T.fmt(s['snr_db'], 1), snr or T.fmt(m.get('snr_vs_ref_db'), 1),
            '%s / %s / %s' % (s['frame_errors'], s['seq_gaps'], s['dropped_ms'])])
    return rows


def peer_rows(R):
    def ours_rss(name):
        c = R.get('codecs', {}).get(name) or {}
        kib = [x['peak_rss_kib'] for x in (c.get('sine'), c.get('music')) if x and x.get('peak_rss_kib')]
        return max(kib) if kib else None
    return P.peer_rows(R, [(n, label) for n, _, label in CODECS], ours_rss)


def target_lines(R):
    """Issue #12's two per-codec targets, met or not, one line a codec."""
    out = []
    for label, name, s, m in _measured(R):
        if s is None:
            out.append('- %s: not measured (%s).' % (label, R['codecs'][name].get('error', '?')))
            continue
        own, ok = cpu_target(s, m)
        _, floor, above = rss_target(R, name, s, m)
        out.append('- %s: CPU, own share ≤ 1.1 × (codec floor + paced floor): %s (%s × the paced floor, '
                   'sine / music); RSS above the library floor with the codec ≤ %.1f MiB: %s (%s MiB).' % (
                       label, T.verdict(ok), ' / '.join(T.ratio(o, p, 2).rstrip('×') for o, p in own) or '—',
                       RSS_TARGET_MIB, T.verdict(None if above is None else above <= RSS_TARGET_MIB),
                       T.fmt(above, 2)))
    return out


def report(R):
    """The markdown the codec run prints and writes into the doc."""
    return [T.markdown_table(codec_rows(R), CODEC_HEADER), '',
            T.markdown_table(codec_rows2(R), CODEC_HEADER2), '',
            'Library floor (rss-floor: the libraries a2dpsrcd links, loaded, nothing else), median of 5: %s MiB; '
            'with the library each codec dlopens (`rss-floor --codec NAME`): %s.' % (
                T.fmt((R.get('rss_floor') or {}).get('peak_rss_kib_median', 0) / 1024, 2),
                ', '.join('%s %s MiB' % (n, T.fmt(f['peak_rss_kib_median'] / 1024, 2))
                          for n, f in (R.get('rss_floor_codec') or {}).items()) or '—'),
            '', 'The peers on the same speakers (CPU: their daemon processes; the client feeding them, '
            'in brackets, apart; floors: the codec\'s, with the configuration the peer negotiated):', '',
            T.markdown_table(peer_rows(R), P.PEER_HEADER), '',
            'Issue #12\'s targets, per codec:', ''] + target_lines(R) + ['', rss_line(R)]


def rss_line(R):
    r = R.get('rss_lean')
    if not r:
        return ''
    if r.get('error'):
        return 'SBC stream, all-codec build vs `WITH_APTX=no WITH_AAC=no WITH_LDAC=no`: not measured: %s' % r['error']
    return ('SBC stream peak RSS, all-codec build %.2f MiB (runs %s KiB) vs `WITH_APTX=no WITH_AAC=no '
            'WITH_LDAC=no` build %.2f MiB (runs %s KiB): ratio %.3f, %s (issue #12: within 5 %%).' % (
                r['all_median_kib'] / 1024, ', '.join(str(x) for x in r['all']),
                r['lean_median_kib'] / 1024, ', '.join(str(x) for x in r['lean']), r['ratio'],
                'within 5 % — met' if r['within_5pct'] else 'NOT within 5 % — not met'))


CODECS_BEGIN = '<!-- bench:codecs:begin (written by bench/bench.py --codecs) -->'
CODECS_END = '<!-- bench:codecs:end -->'


def write_codec_doc(path, R):
    m = R['machine']
    block = [CODECS_BEGIN, '',
             '**Latest codec run**: %s, commit %s, %s (%d cores); `%s`; %.0f s per signal per codec; '
             'took %.0f s; %s (a shared machine: compare the ratios, measured in the same run, not the '
             'absolute figures).' % (
                 R['date'], R.get('git_head'), m['cpu'], m['cores'], R['command'], R['seconds'],
                 R.get('elapsed_s', 0), D.load_line(m)),
             '', 'Codecs in this build: %s.' % ', '.join(R.get('codecs_built', [])), ''] + report(R) + [
             '', CODECS_END]
    D.replace_block(path, CODECS_BEGIN, CODECS_END, block, 'Codecs')
