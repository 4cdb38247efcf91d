"""What the speaker of the double received: its recording decoded by
speaker-analyze, cut to the measuring window, its bytes and start."""

import json
import subprocess

import bench_settings as S
from bench_settings import RATE, TONE, TONE_OFFSET
from harness import REC_RECORD, rec_header_len


def analyze(rec, signal_kind, audio, starts=None):
    args = [S.ANALYZER]
    if signal_kind == 'sine':
        args += ['--tone', str(TONE), '--tone-offset', str(TONE_OFFSET)]
    else:
        args += ['--ref', audio['music_raw']]
    if starts:
        args += ['--latency', starts]
    r = subprocess.run(args + [rec], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError('speaker-analyze failed: ' + r.stderr)
    return json.loads(r.stdout)


def trim_recording(rec, t0, t1, out):
    """A copy of a recording holding only the packets received in [t0, t1]
    (CLOCK_MONOTONIC seconds, as time.monotonic()): the steady-state window,
    without the start of the stream."""
    with open(rec, 'rb') as f:
        data = f.read()
    hdr_size = rec_header_len(data)
    parts = [data[:hdr_size]]
    off = hdr_size
    lo, hi = int(t0 * 1e9), int(t1 * 1e9)
    while off + REC_RECORD.size <= len(data):
        t_ns, length = REC_RECORD.unpack_from(data, off)
        end = off + REC_RECORD.size + length
        if end > len(data):
            break
        if lo <= t_ns <= hi:
            parts.append(data[off:end])
        off = end
    with open(out, 'wb') as f:
        f.write(b''.join(parts))
    return out


def window_bytes(rec, t0, t1):
    """Bytes and packets the speaker received in [t0, t1] (every byte of
    every packet: RTP and payload headers included)."""
    with open(rec, 'rb') as f:
        data = f.read()
    off, total, n = rec_header_len(data), 0, 0
    lo, hi = int(t0 * 1e9), int(t1 * 1e9)
    while off + REC_RECORD.size <= len(data):
        t_ns, length = REC_RECORD.unpack_from(data, off)
        if lo <= t_ns <= hi:
            total += length
            n += 1
        off += REC_RECORD.size + length
    return total, n


def speaker_figures(a):
    """The figures taken from speaker-analyze's JSON."""
    fpp = a.get('frames_per_packet') or {}
    packets = a.get('packets') or 0
    single = int(fpp.get('1', 0)) if isinstance(fpp, dict) else 0
    tim = a.get('timing') or {}
    iv = tim.get('interval_ms') or {}
    dr = tim.get('drift_ms') or {}
    out = {'packets': packets, 'frames': a.get('frames'),
           'full_packets_pct': a.get('full_packets_pct'),
           'single_frame_pct': 100.0 * single / packets if packets else None,
           'frames_per_packet': fpp, 'max_frames_fit': a.get('max_frames_fit'),
           'bitpools': a.get('bitpools_seen'), 'config': a.get('config'),
           'mtu_violations': a.get('mtu_violations'),
           'seq_gaps': (a.get('rtp') or {}).get('seq_gaps'),
           'ts_errors': (a.get('rtp') or {}).get('ts_errors'),
           'frame_errors': a.get('frame_errors'),
           'interval_ms': iv, 'drift_ms_per_min': dr.get('per_min'),
           'drift_ms_max_excursion': dr.get('max_excursion'), 'drift_ms_end': dr.get('end'),
           'duration_wall_s': tim.get('duration_wall_s'), 'duration_rtp_s': tim.get('duration_rtp_s')}
    tone = (a.get('audio') or {}).get('tone')
    if tone:
        out.update(snr_db=tone.get('snr_db'), snr_worst_db=tone.get('snr_worst_db'),
                   gaps=tone.get('gaps'), frequency_hz=tone.get('frequency_hz'),
                   tone_present=tone.get('present'), snr_db_per_channel=tone.get('snr_db_per_channel'))
    ref = (a.get('audio') or {}).get('ref')
    if ref:
        out.update(snr_vs_ref_db=ref.get('snr_vs_ref_db'), ref_error=ref.get('error'),
                   ref_correlation=ref.get('correlation'))
    lat = a.get('latency')
    if lat:
        out['latency'] = {'method': lat.get('method'), 'error': lat.get('error'),
                          'ms': lat.get('latency_ms'), 'mapped': lat.get('packets_mapped'),
                          'unmapped': lat.get('packets_unmapped')}
    return out


def start_burst(rec):
    """How the stream starts: receipt gaps of the first packets, ms."""
    t = []
    with open(rec, 'rb') as f:
        data = f.read(20 + 255 + 10 * (REC_RECORD.size + 2048))
    off = rec_header_len(data)
    while off + REC_RECORD.size <= len(data) and len(t) < 6:
        t_ns, length = REC_RECORD.unpack_from(data, off)
        off += REC_RECORD.size + length
        if off <= len(data):
            t.append(t_ns)
    return [round((b - a) / 1e6, 2) for a, b in zip(t, t[1:])]


def packet_ms(frames_per_packet=7):
    return frames_per_packet * 128 * 1000.0 / RATE
