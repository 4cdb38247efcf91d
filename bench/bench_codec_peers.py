"""bench.py --codecs: the peers on each codec.

bluez-alsa and PipeWire + WirePlumber stream to the same speaker of the
double as a2dpsrcd does for that codec (one sink SEP, that codec only), and
are measured as bench.py measures them on SBC (run_peer): CPU of their
daemon processes per audio-second (the client feeding them, aplay or
pw-play, apart), bytes on the wire per audio-second, peak RSS, SNR where
speaker-analyze decodes the codec.  The codec and configuration a peer
negotiated are read from the transport's Codec and Configuration, not
assumed; its floors are the codec's own (codec-floor) with that
configuration, measured in the same run.

Which codecs a peer can send is asked of the peer: bluez-alsa lists its
A2DP source codecs in `bluealsa --help` (enabled with -c NAME; SBC-XQ is
its --sbc-quality=xq); PipeWire has one SPA plugin per codec family
(libspa-codec-bluez5-*.so, from libspa-0.2-bluetooth), enabled with
WirePlumber's bluez5.codecs.  A peer that cannot send a codec is reported
with the reason.
"""

import functools
import glob
import os
import re
import subprocess
import sys

import bench_peers as BP
import bench_settings as S
import bench_table as T
sys.path.insert(0, os.path.join(S.ROOT, 'tests', 'double'))
from bluez_double import codecs as sinks  # noqa: E402

PEERS = ('bluealsa', 'pipewire')
LABEL = {'bluealsa': 'bluez-alsa', 'pipewire': 'PipeWire+WP'}
# our codec name -> bluealsa's name for it (`bluealsa --help`), its
# arguments.  LDAC at its high quality (990 kbit/s) on both peers, as
# a2dpsrcd starts (bluealsa's default is standard, PipeWire's ABR)
BLUEALSA = {'sbc': ('SBC', []), 'sbc-xq': ('SBC', ['--sbc-quality=xq']), 'aptx': ('aptX', ['-c', 'aptX']),
            'aptx-hd': ('aptX-HD', ['-c', 'aptX-HD']), 'aac': ('AAC', ['-c', 'AAC']),
            'ldac': ('LDAC', ['-c', 'LDAC', '--ldac-quality=high'])}
# our codec name -> PipeWire's (bluez5.codecs), the SPA plugin that has it
PIPEWIRE = {'sbc': ('sbc', 'sbc'), 'sbc-xq': ('sbc_xq', 'sbc'), 'aptx': ('aptx', 'aptx'),
            'aptx-hd': ('aptx_hd', 'aptx'), 'aac': ('aac', 'aac'), 'ldac': ('ldac', 'ldac')}
NOT_DECODED = 'not decoded'


@functools.lru_cache(maxsize=None)
def _version(pkg):
    return BP.peer_versions().get(pkg)


def bluealsa_source_codecs():
    """The A2DP source codecs `bluealsa --help` lists, and its help text."""
    r = subprocess.run(['bluealsa', '--help'], capture_output=True, text=True, timeout=10)
    text = r.stdout + r.stderr
    m = re.search(r'^\s*a2dp-source:\s*(.+)$', text, re.M)
    return ([c.strip() for c in m.group(1).split(',')] if m else []), text


def pipewire_plugins():
    """The codec families of PipeWire's Bluetooth SPA plugins installed."""
    out = {}
    for p in glob.glob('/usr/lib/*/spa-0.2/bluez5/libspa-codec-bluez5-*.so'):
        out[re.sub(r'^libspa-codec-bluez5-|\.so$', '', os.path.basename(p))] = p
    return out


def can_send(peer, codec):
    """(Peer options, None), or (None, why it cannot send codec)."""
    missing = BP.peer_missing(peer)
    if missing:
        return None, 'not installed (%s)' % ', '.join(missing)
    if peer == 'bluealsa':
        name, args = BLUEALSA[codec]
        have, text = bluealsa_source_codecs()
        ver = 'bluez-alsa-utils %s' % _version('bluez-alsa-utils')
        if name not in have:
            return None, '%s is built without it: `bluealsa --help` lists A2DP source codecs %s' % (
                ver, ', '.join(have) or 'none')
        for opt in (a.split('=')[0] for a in args if a.startswith('--')):
            if opt not in text:
                return None, '%s has no %s option' % (ver, opt)
        return {'args': args}, None
    name, plugin = PIPEWIRE[codec]
    have = pipewire_plugins()
    if plugin not in have:
        return None, ('libspa-0.2-bluetooth %s has no libspa-codec-bluez5-%s.so (Bluetooth codec plugins: %s)' % (
            _version('libspa-0.2-bluetooth'), plugin, ', '.join(sorted(have)) or 'none'))
    lua = '\nbluez_monitor.properties["bluez5.codecs"] = "[ %s ]"\n' % name
    if codec == 'sbc-xq':
        lua += 'bluez_monitor.properties["bluez5.enable-sbc-xq"] = true\n'
    if codec == 'ldac':
        lua += ('table.insert(bluez_monitor.rules, { matches = { { { "device.name", "matches", "bluez_card.*" } } },\n'
                '  apply_properties = { ["bluez5.a2dp.ldac.quality"] = "hq" } })\n')
    return {'wp_bluetooth': lua}, None


def negotiated(transport):
    """Our name of the codec a transport carries, from its Codec and
    Configuration (SBC in dual channel is SBC-XQ's kind)."""
    conf = bytes.fromhex(transport['Configuration'])
    name = sinks.codec_name(transport['Codec'], conf)
    if name == 'sbc' and sinks.is_sbc_xq(conf):
        return 'sbc-xq'
    return name or 'codec 0x%02x' % transport['Codec']


def one_signal(r, codec, kind, floor_of):
    """The figures of one peer run (run_peer's result)."""
    conf = r['transport']['Configuration']
    got = negotiated(r['transport'])
    sp = r.get('speaker') or {}
    out = {'config': conf, 'codec_property': r['transport']['Codec'], 'negotiated': got,
           'audio_s': r['audio_s'], 'cpu_ms_per_audio_s': r['cpu']['per_audio_s'] * 1000,
           'cpu_ms_per_audio_s_by_process': {k: v * 1000 for k, v in r['cpu']['per_process_per_audio_s'].items()},
           'client_cpu_ms_per_audio_s': (r['client_cpu_per_audio_s'] or 0) * 1000,
           'client_argv': r.get('client_argv'),
           'wire_bytes_per_audio_s': r['wire_bytes'] / r['audio_s'] if r['audio_s'] else None,
           'wire_packets': r['wire_packets'],
           'peak_rss_kib': sum(r['peak_rss_kib'].values()), 'peak_rss_kib_by_process': r['peak_rss_kib'],
           'snr_db': sp.get('snr_db'), 'snr_vs_ref_db': sp.get('snr_vs_ref_db'),
           'frame_errors': sp.get('frame_errors'), 'seq_gaps': sp.get('seq_gaps'), 'gaps': sp.get('gaps'),
           'speaker': sp}
    if got != codec:
        out['error'] = 'negotiated %s, not %s (configuration %s)' % (got, codec, conf)
        return out
    try:
        fl = floor_of(codec, conf)
        out.update(floor_ms_per_audio_s=fl[kind]['cpu_per_audio_s'] * 1000,
                   paced_ms_per_audio_s=fl['paced_' + kind]['cpu_per_audio_s'] * 1000)
    except Exception as e:      # noqa: BLE001 - a configuration codec-floor cannot encode
        out['floor_error'] = 'codec-floor: %s' % (getattr(e, 'stderr', None) or e)
    return out


def run_peer_codec(tmp, peer, codec, speaker, audio, seconds, quick, floor_of, run):
    """One peer on one codec's speaker: {'cannot': why}, {'skipped': why},
    or its figures per signal ({'error': ...} for a run that failed)."""
    opts, why = can_send(peer, codec)
    if why:
        return {'cannot': why}
    if not run:
        return {'skipped': 'not run (--quick without --peers, or --no-peers)', 'opts': opts}
    out = {'opts': opts}
    for kind in ('sine',) if quick else ('sine', 'music'):
        try:
            r = BP.run_peer(tmp, peer, kind, audio, seconds, speaker=speaker, opts=opts, tag='-' + codec)
            out[kind] = one_signal(r, codec, kind, floor_of)
        except Exception as e:  # noqa: BLE001 - a peer failing is a figure, not a crash
            out[kind] = {'error': (str(e).splitlines() or [repr(e)])[0][:300]}
            S.say('%s on %s (%s) failed: %s' % (peer, codec, kind, e))
    return out


# ---- the table --------------------------------------------------------------

PEER_HEADER = ['codec', 'peer', 'negotiated (transport Configuration)', 'CPU ms/s sine / music (client)',
               '÷ codec floor sine / music', '÷ paced floor sine / music', 'a2dpsrcd ÷ peer CPU sine / music',
               'on the wire kbit/s', 'peak RSS MiB (processes)', 'a2dpsrcd ÷ peer RSS',
               'SNR tone / music dB']


def _ratio(a, b):
    return T.ratio(a, b, 2)


def peer_rows(R, codecs, ours_rss):
    """codecs: (name, label) in table order; ours_rss(name): a2dpsrcd's peak
    RSS KiB on that codec, or None."""
    rows = []
    for name, label in codecs:
        c = R.get('codecs', {}).get(name) or {}
        ours = c if not c.get('error') else {}
        for peer in PEERS:
            p = (c.get('peers') or {}).get(peer)
            if p is None:
                continue
            head = [label, LABEL[peer]]
            if p.get('cannot') or p.get('skipped'):
                text = ('cannot send it: ' + p['cannot']) if p.get('cannot') else p['skipped']
                rows.append(head + [text] + [''] * (len(PEER_HEADER) - 3))
                continue
            s, m = p.get('sine') or {}, p.get('music') or {}
            if s.get('error') and 'negotiated' not in s:
                rows.append(head + ['not measured: ' + s['error']] + [''] * (len(PEER_HEADER) - 3))
                continue
            os_, om = ours.get('sine') or {}, ours.get('music') or {}
            cpu = lambda x: x.get('cpu_ms_per_audio_s')            # noqa: E731
            neg = '%s `%s`%s' % (s.get('negotiated'), s.get('config'),
                                 (' — ' + s['error']) if s.get('error') else '')
            if m.get('config') and m.get('config') != s.get('config'):
                neg += '; music `%s`' % m['config']
            snr = NOT_DECODED if name == 'ldac' else '%s / %s' % (T.fmt(s.get('snr_db'), 1),
                                                                 T.fmt(m.get('snr_vs_ref_db'), 1))
            if s.get('gaps'):
                snr += ' (tone gaps: %s)' % s['gaps']
            wire = s.get('wire_bytes_per_audio_s')
            top = max((x for x in (s, m) if x.get('peak_rss_kib')), key=lambda x: x['peak_rss_kib'], default={})
            rss = [top['peak_rss_kib']] if top else []
            by = top.get('peak_rss_kib_by_process') or {}
            ours_kib = ours_rss(name)
            rows.append(head + [
                neg,
                '%s / %s (%s)' % (T.fmt(cpu(s), 2), T.fmt(cpu(m), 2), T.fmt(s.get('client_cpu_ms_per_audio_s'), 2)),
                '%s / %s' % (_ratio(cpu(s), s.get('floor_ms_per_audio_s')),
                             _ratio(cpu(m), m.get('floor_ms_per_audio_s'))),
                '%s / %s' % (_ratio(cpu(s), s.get('paced_ms_per_audio_s')),
                             _ratio(cpu(m), m.get('paced_ms_per_audio_s'))),
                '%s / %s' % (_ratio(cpu(os_), cpu(s)), _ratio(cpu(om), cpu(m))),
                T.fmt(wire * 8 / 1000 if wire else None, 0),
                '%s (%s)' % (T.fmt(max(rss) / 1024 if rss else None, 2),
                             ' + '.join('%s %.2f' % (k, v / 1024) for k, v in by.items())),
                _ratio(ours_kib, max(rss) if rss else None), snr])
    return rows
