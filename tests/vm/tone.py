#!/usr/bin/python3
"""The tone in a check-vm recording (stdlib only): what check_audio.py judges.

A recording is raw S16_LE stereo at 48 kHz made by arecord in the VM, with
NAME.start beside it: the ALSA trigger time of the capture in CLOCK_MONOTONIC
seconds, the clock of the guest's "events" file. Sample n of a recording
was thus heard at start + n / rate, and every judgement is on one timeline.

The analysis cuts each channel into 20 ms windows and fits a sine of the
expected frequency plus a constant to each by least squares; a window is
judged on both channels (the board's tone is the same on both, and a
speaker hears both):

- present: on each channel the fit explains the window (SNR > 10 dB) at a
  level above -40 dBFS (heard: on either channel, for the silence checks);
- SNR: fitted power over residual power, per window and over a span;
- frequency: the slope of the fitted phase over a continuous span;
- glitches: the phase of the fit must advance steadily on each channel; a
  step between windows (audio dropped, repeated or zero-filled: a 997 Hz tone makes no
  packet length a whole number of periods) or a window whose fit is far
  worse than the span's median counts as one.
"""

import array
import math
import operator
import sys

RATE = 48000
CHANNELS = 2
FREQ = 997.0
WINDOW_S = 0.020
PRESENT_SNR_DB = 10.0
PRESENT_LEVEL = 32768 * 0.01          # -40 dBFS
PHASE_TOL_RAD = math.radians(6.0)
SNR_MIN_DB = 30.0
FREQ_TOL_HZ = 1.0


class Window:
    """One 20 ms window of both channels: amp and snr_db are the worse
    channel's, sig and res the sums, phase per channel."""
    __slots__ = ('t', 'amp', 'snr_db', 'sig', 'res', 'phase', 'present', 'heard')


def load(path):
    a = array.array('h')
    with open(path, 'rb') as f:
        data = f.read()
    data = data[:len(data) - len(data) % (2 * CHANNELS)]
    a.frombytes(data)
    if sys.byteorder != 'little':
        a.byteswap()
    return a


def read_start(path):
    """The recording's start (monotonic s) from NAME.start, or 0."""
    base = path[:-4] if path.endswith('.raw') else path
    try:
        with open(base + '.start') as f:
            return float(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0


def analyze(path, freq=FREQ, start=None):
    """Windows of a recording: each with its absolute time (centre)."""
    pcm = load(path)
    chans = [pcm[c::CHANNELS] for c in range(CHANNELS)]
    if start is None:
        start = read_start(path)
    n = int(RATE * WINDOW_S)
    w = 2 * math.pi * freq / RATE
    cos_t = [math.cos(w * i) for i in range(n)]
    sin_t = [math.sin(w * i) for i in range(n)]
    # normal equations of [cos, sin, 1]; the same for every window
    g = [[sum(map(operator.mul, p, q)) for q in (cos_t, sin_t, [1.0] * n)]
         for p in (cos_t, sin_t, [1.0] * n)]
    ginv = invert3(g)
    out = []
    for k in range(len(chans[0]) // n):
        fits = [fit_window(ch[k * n:(k + 1) * n], cos_t, sin_t, ginv, w, k * n) for ch in chans]
        win = Window()
        win.t = start + (k * n + n / 2) / RATE
        win.amp = min(f[0] for f in fits)
        win.sig = sum(f[1] for f in fits)
        win.res = sum(f[2] for f in fits)
        win.snr_db = min(f[3] for f in fits)
        win.phase = tuple(f[4] for f in fits)
        present = [f[3] > PRESENT_SNR_DB and f[0] > PRESENT_LEVEL for f in fits]
        win.present = all(present)
        win.heard = any(present)
        out.append(win)
    return out


def fit_window(x, cos_t, sin_t, ginv, w, first):
    """One channel's window: (amplitude, fitted power, residual power, SNR
    dB, phase on the absolute sample axis)."""
    n = len(x)
    rhs = (sum(map(operator.mul, x, cos_t)), sum(map(operator.mul, x, sin_t)), float(sum(x)))
    a, b, c = (sum(ginv[i][j] * rhs[j] for j in range(3)) for i in range(3))
    energy = float(sum(map(operator.mul, x, x)))
    fitted = a * rhs[0] + b * rhs[1] + c * rhs[2]
    sig = max(fitted - c * c * n, 0.0)
    res = max(energy - fitted, 1e-3 * n)
    # x ~ A cos(w (i + first) + phase)
    return (math.hypot(a, b), sig, res, 10 * math.log10(max(sig, 1e-9) / res),
            wrap(math.atan2(-b, a) - w * first))


def invert3(m):
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return [[(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
            [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
            [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]]


def wrap(p):
    return (p + math.pi) % (2 * math.pi) - math.pi


def segments(wins, min_gap=1):
    """Spans (t_first, t_last) of consecutive present windows."""
    spans, cur = [], None
    for w in wins:
        if w.present:
            if cur is None:
                cur = [w.t, w.t]
            cur[1] = w.t
        elif cur is not None:
            spans.append(tuple(cur))
            cur = None
    if cur is not None:
        spans.append(tuple(cur))
    return spans


def onset(path, after, level=1000, start=None):
    """Time of the first sample after `after` whose magnitude passes level
    (about -30 dBFS): where a tone begins, to the sample, in a recording
    that was digital silence before it."""
    if start is None:
        start = read_start(path)
    first = max(0, int((after - start) * RATE))
    pcm = load(path)
    for i in range(first * CHANNELS, len(pcm), CHANNELS):
        if abs(pcm[i]) > level:
            return start + (i // CHANNELS) / RATE
    return None


def first_present(wins, after=-1e18, before=1e18):
    for w in wins:
        if after <= w.t <= before and w.present:
            return w.t
    return None


def last_present(wins, after=-1e18, before=1e18):
    t = None
    for w in wins:
        if after <= w.t <= before and w.present:
            t = w.t
    return t


def span_report(wins, t0, t1, freq=FREQ):
    """What the span [t0, t1] of a recording heard: a dict of figures and
    the list of problems (empty when the tone is clean and whole)."""
    sel = [w for w in wins if t0 <= w.t <= t1]
    rep = {'from': t0, 'to': t1, 'windows': len(sel)}
    problems = []
    if not sel:
        rep['problems'] = ['no audio recorded in this span']
        return rep
    missing = [w for w in sel if not w.present]
    amps = sorted(w.amp for w in sel if w.present)
    med_amp = amps[len(amps) // 2] if amps else 0.0
    low = [w for w in sel if w.present and w.amp < 0.5 * med_amp]
    gaps = sorted({round(w.t, 2) for w in missing + low})
    rep['present_s'] = round(sum(1 for w in sel if w.present) * WINDOW_S, 2)
    rep['level_dbfs'] = round(20 * math.log10(max(med_amp, 1e-9) / 32768), 1)
    sig = sum(w.sig for w in sel if w.present)
    res = sum(w.res for w in sel if w.present)
    rep['snr_db'] = round(10 * math.log10(sig / res), 1) if sig > 0 else None
    snrs = sorted(w.snr_db for w in sel if w.present)
    rep['snr_worst_window_db'] = round(snrs[0], 1) if snrs else None
    med_snr = snrs[len(snrs) // 2] if snrs else 0.0
    # frequency: the phase slope over the present windows (unwrapped), per
    # channel; the worse channel's figure is reported
    rep['freq_hz'] = None
    glitches = []
    pres = [w for w in sel if w.present]
    if len(pres) >= 10:
        for ch in range(CHANNELS):
            ts, ph = [pres[0].t], [pres[0].phase[ch]]
            for w in pres[1:]:
                ph.append(ph[-1] + wrap(w.phase[ch] - ph[-1]))
                ts.append(w.t)
            mt, mp = sum(ts) / len(ts), sum(ph) / len(ph)
            num = sum((t - mt) * (p - mp) for t, p in zip(ts, ph))
            den = sum((t - mt) ** 2 for t in ts) or 1e-12
            slope = num / den
            f = round(freq + slope / (2 * math.pi), 3)
            if rep['freq_hz'] is None or abs(f - freq) > abs(rep['freq_hz'] - freq):
                rep['freq_hz'] = f
            for prev, cur in zip(sel, sel[1:]):
                if not (prev.present and cur.present):
                    continue
                step = wrap(cur.phase[ch] - prev.phase[ch] - slope * (cur.t - prev.t))
                if abs(step) > PHASE_TOL_RAD:
                    glitches.append((round(cur.t, 3), '%s phase step %.0f deg'
                                     % (('left', 'right')[ch], math.degrees(step))))
        for w in pres:
            if w.snr_db < med_snr - 20:
                glitches.append((round(w.t, 3), 'bad window, SNR %.0f dB' % w.snr_db))
    rep['gaps'] = len(gaps)
    rep['glitches'] = len(glitches)
    if gaps:
        problems.append('%d window(s) without the tone, first at %s' % (len(gaps), fmt_times(gaps)))
    if glitches:
        problems.append('%d glitch(es): %s' % (len(glitches), '; '.join(
            '%.3f %s' % g for g in sorted(glitches)[:5])))
    if rep['snr_db'] is not None and rep['snr_db'] < SNR_MIN_DB:
        problems.append('SNR %.1f dB < %.0f dB' % (rep['snr_db'], SNR_MIN_DB))
    if rep['freq_hz'] is not None and abs(rep['freq_hz'] - freq) > FREQ_TOL_HZ:
        problems.append('frequency %.2f Hz, expected %.0f Hz' % (rep['freq_hz'], freq))
    rep['problems'] = problems
    return rep


def silent_report(wins, t0, t1):
    """The span must hold no tone (the other output has the audio)."""
    sel = [w for w in wins if t0 <= w.t <= t1]
    heard = [w.t for w in sel if w.heard]
    return {'from': t0, 'to': t1, 'windows': len(sel), 'tone_s': round(len(heard) * WINDOW_S, 2),
            'problems': ['tone heard for %.2f s, first at %.3f' % (len(heard) * WINDOW_S, heard[0])]
                        if heard else []}


def fmt_times(ts):
    return ', '.join('%.2f' % t for t in ts[:5]) + (' ...' if len(ts) > 5 else '')
