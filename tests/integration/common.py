"""Shared set-up for the daemon's integration tests: a private system bus,
the BlueZ double, an ALSA configuration with the project's test capture
plugin, a2dpsrcd itself, and the speaker analyzer.

Audio is always judged as a speaker would: the double's speaker end records
every packet, speaker-analyze decodes it (libsbc for SBC, libavcodec for
aptX, aptX HD and AAC; LDAC's framing is checked, not decoded) and reports.
"""

import array
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import dbus

import harness
from harness import PrivateBus, BlueZDouble, Daemon, wait_for, ROOT

BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
DAEMON = os.path.join(BUILD, 'a2dpsrcd')
CTL = os.path.join(BUILD, 'a2dpsrcctl')
PLUGIN = os.path.join(BUILD, 'tests', 'libasound_module_pcm_a2dpsrc_test.so')
ANALYZER = os.path.join(BUILD, 'tests', 'speaker-analyze')
GEN_REC = os.path.join(BUILD, 'tests', 'gen-recording')
# LD_PRELOADed: moves CLOCK_BOOTTIME and the wall clock as a suspend or an
# NTP step does (tests/tools/clock-shift.c)
CLOCK_SHIFT = os.path.join(BUILD, 'tests', 'libclock-shift.so')

MANAGER = 'org.a2dpsrc.Manager1'
MANAGER_PATH = '/org/a2dpsrc'
PROPS = 'org.freedesktop.DBus.Properties'
HCI0 = '/org/bluez/hci0'
# what systemd/a2dpsrcd.service gives the audio thread
RT_PRIORITY = 40
SPEAKER = '00:11:22:33:44:55'
SPEAKER_PATH = HCI0 + '/dev_00_11_22_33_44_55'
SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                     'Invalid read', 'Invalid write', 'definitely lost: 1', 'definitely lost: 2',
                     'Conditional jump or move depends on uninitialised')
# valgrind wraps the daemon when asked (make check-valgrind)
VALGRIND = ['valgrind', '--leak-check=full', '--error-exitcode=99', '--errors-for-leak-kinds=definite',
            '--show-leak-kinds=definite', '--track-fds=no']

# 997 Hz, not 1 kHz: at 48 kHz a packet of 3 frames is a whole number of
# 1 kHz periods, and a lost packet would leave no trace in the phase.
TONE_HZ = 997
# how far the tone's measured frequency may be off (the sender cannot
# shift it; a wrong rate or lost samples would)
FREQ_TOL_HZ = 0.5
# the analyzer finds the tone's edges to its 10 ms blocks; SBC's filter
# delay and the first frame's ramp add a few ms more
EDGE_S = 0.03


# How each codec is judged (docs/testing.md): the SNR floor of a clean
# 997 Hz tone with a margin under what tests/tools/test_analyzer.sh measures
# (SBC bitpool 53: 67 dB; aptX 68; aptX HD 80; AAC 69 at 256 kbit/s,
# 39 at 128 kbit/s), how late the tone may start and how early it may end
# (the codec's encoder + decoder delay: AAC's priming frame is 1024 samples
# and the decoder's as many again), the phase tolerance of the gap
# finder (AAC's coding noise moves the phase more), and dip_below: a
# window whose SNR falls 15 dB under the median is a gap only when it is
# under this too (None: always).  AAC is a perceptual coder: on a pure
# tone its SNR varies from window to window, at 128-256 kbit/s down to
# 33-47 dB under a median of 38-70 (docs/codecs.md), with nothing lost;
# a lost, repeated or corrupt frame puts its windows near 0 dB and moves
# the phase.  LDAC is not decoded: its recordings are judged by their
# framing.
CODEC_JUDGE = {
    'sbc': {'min_snr': 50.0, 'edge_s': 0.03, 'phase_tol': None, 'dip_below': None},
    'sbc-xq': {'min_snr': 50.0, 'edge_s': 0.03, 'phase_tol': None, 'dip_below': None},
    'aptx': {'min_snr': 55.0, 'edge_s': 0.03, 'phase_tol': None, 'dip_below': None},
    'aptx_hd': {'min_snr': 65.0, 'edge_s': 0.03, 'phase_tol': None, 'dip_below': None},
    'aac': {'min_snr': 30.0, 'edge_s': 0.07, 'phase_tol': 5.0, 'dip_below': 20.0},
    'ldac': {'min_snr': None, 'edge_s': None, 'phase_tol': None, 'dip_below': None},
}
# a recording's codec, as speaker-analyze names it (harness.read_recording)
CODEC_NAMES = {(0x00, None): 'sbc', (0x02, None): 'aac', (0xff, (0x4f, 0x0001)): 'aptx',
               (0xff, (0xd7, 0x0024)): 'aptx_hd', (0xff, (0x12d, 0x00aa)): 'ldac'}


def recording_codec(rec):
    """'sbc', 'aptx', 'aptx_hd', 'aac', 'ldac' or 'unknown' from a
    recording's header."""
    hdr, _ = harness.read_recording(rec)
    cfg = bytes(hdr['config'])
    vendor = None
    if hdr['codec'] == 0xff and len(cfg) >= 6:
        vendor = (int.from_bytes(cfg[:4], 'little'), int.from_bytes(cfg[4:6], 'little'))
    return CODEC_NAMES.get((hdr['codec'], vendor), 'unknown')


# under valgrind or sanitizers everything is slower
SLOW = bool(os.environ.get('A2DPSRC_VALGRIND') or os.environ.get('A2DPSRC_SANITIZED'))


def pcm(name, **keys):
    """One ALSA PCM of the test plugin."""
    body = []
    for k, v in keys.items():
        if isinstance(v, bool):
            v = 'true' if v else 'false'
        elif isinstance(v, str):
            v = '"%s"' % v
        body.append('  %s %s' % (k, v))
    return 'pcm.%s {\n  type a2dpsrc_test\n%s\n}\n' % (name, '\n'.join(body))


def file_pcm(name, path, slave='null'):
    """alsa-lib's own file plugin: the samples of path, exactly, read in
    place of the slave's (over "null" unclocked, over a paced test PCM at
    real time)."""
    return ('pcm.%s {\n  type file\n  slave.pcm "%s"\n  file "%s"\n'
            '  infile "%s"\n  format "raw"\n}\n' % (name, slave, '/dev/null', path))


def sink_pcm(name, path):
    """A local output whose samples land in a raw file."""
    return ('pcm.%s {\n  type file\n  slave.pcm "null"\n  file "%s"\n'
            '  format "raw"\n}\n' % (name, path))


def make_music(path, rate=48000, seconds=4.0, seed=12):
    """A deterministic music-like stereo signal, raw S16_LE, written to
    path (the same bytes for the same arguments): notes of a few harmonics
    with a fast attack and an exponential decay, four a second, from a
    fixed scale, a different line in each channel; under them a slow chirp
    (150 Hz to 6 kHz) and low noise (-50 dBFS), so nothing repeats and the
    analyzer's cross-correlation (--ref) finds one alignment.  Peaks near
    -9 dBFS, RMS about -21 dBFS (the defaults).  Returns the path."""
    rng = random.Random(seed)
    scale = [220.0 * 2 ** (k / 12.0) for k in (0, 2, 3, 5, 7, 8, 10, 12, 14, 15, 17, 19, 24)]
    n = int(rate * seconds)
    note_len = rate // 4
    lines = []
    for ch in range(2):
        notes = []
        for start in range(0, n, note_len):
            f = rng.choice(scale) * (1.0 if ch == 0 else 1.5)
            notes.append((start, f, 0.25 + 0.1 * rng.random()))
        lines.append(notes)
    out = array.array('h', bytes(4 * n))
    tau = 2 * math.pi / rate
    decay = math.exp(-1.0 / (0.12 * rate))
    attack = int(0.008 * rate)
    for ch in range(2):
        for start, f, amp in lines[ch]:
            # a note rings on for two note lengths, decaying
            env = amp
            for i in range(start, min(n, start + 2 * note_len)):
                k = i - start
                e = env * (k / attack if k < attack else 1.0)
                w = tau * f * i
                v = e * (math.sin(w) + 0.5 * math.sin(2 * w + 0.3) + 0.25 * math.sin(3 * w + 1.1))
                out[2 * i + ch] += int(v * 32767 * 0.5)
                if k >= attack:
                    env *= decay
    noise = random.Random(seed + 1)
    f0, f1 = 150.0, 6000.0
    k_rate = math.log(f1 / f0) / seconds
    for i in range(n):
        t = i / rate
        # exponential chirp: phase = 2 pi f0 (e^(k t) - 1) / k
        c = 0.08 * math.sin(2 * math.pi * f0 * (math.exp(k_rate * t) - 1) / k_rate)
        for ch in range(2):
            v = out[2 * i + ch] + int((c * (1 if ch == 0 else -1) + 0.003 * (noise.random() - 0.5)) * 32767)
            out[2 * i + ch] = max(-32767, min(32767, v))
    with open(path, 'wb') as f:
        f.write(out.tobytes())
    return path


class SpeakerJudge:
    """How the tests judge what a speaker received (a TestCase mixin, also
    used without a daemon on synthetic recordings by test_judges.py)."""

    def analyze(self, rec, *args):
        args = list(args)
        judge = CODEC_JUDGE.get(recording_codec(rec), {})
        if judge.get('phase_tol') and '--phase-tol' not in args:
            args += ['--phase-tol', str(judge['phase_tol'])]
        if judge.get('dip_below') is not None and '--dip-below' not in args:
            args += ['--dip-below', str(judge['dip_below'])]
        out = subprocess.run([ANALYZER] + args + [rec], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            self.fail('speaker-analyze failed (%d): %s' % (out.returncode, out.stderr))
        return json.loads(out.stdout)

    def assert_clean_stream(self, a, min_snr=None, rate=None, fed_s=None, freq=TONE_HZ,
                            codec=None):
        """What any good stream must show, as a speaker judges it: RTP and
        the codec's frames intact, and the tone -- at its frequency, clean,
        without a gap -- over the whole window that was fed. fed_s: the tone
        lasted that long from the start of the capture (then silence); None:
        the tone never ended, so it must cover everything the speaker
        decoded.  Any codec: min_snr defaults to the codec's floor
        (CODEC_JUDGE); codec, when given, is the codec the stream must be
        in; LDAC, not decoded, is judged by assert_clean_framing."""
        name = a.get('codec', 'sbc')
        if codec is not None:
            self.assertEqual(name, codec.replace('-', '_').replace('sbc_xq', 'sbc'),
                             'the stream is %s' % name)
        judge = CODEC_JUDGE.get(name, CODEC_JUDGE['sbc'])
        if name == 'ldac':
            return self.assert_clean_framing(a, rate=rate, fed_s=fed_s)
        if min_snr is None:
            min_snr = judge['min_snr']
        edge = judge['edge_s']
        rtp = a['rtp']
        self.assertEqual(a['mtu_violations'], 0, 'packets above the write MTU')
        self.assertEqual(rtp['seq_gaps'], 0, 'RTP sequence gaps: %s' % rtp.get('seq_gap_list'))
        self.assertEqual(rtp['ts_errors'], 0, 'RTP timestamps not continuous: %s' % rtp.get('ts_error_list'))
        self.assertEqual(rtp['pt_errors'] + rtp['version_errors'] + rtp['ssrc_changes'], 0)
        self.assertEqual(a['frame_errors'], 0, 'bad %s frames: %s' % (name, a.get('frame_error_detail')))
        if name != 'sbc':
            # (SBC streams have always been judged without it)
            self.assertEqual(a['config_mismatches'], 0, 'frames not of the configuration')
        if rate:
            self.assertEqual(a['config']['rate'], rate)
        tone = a['audio']['tone']
        self.assertTrue(tone['present'], 'no %g Hz tone in the decoded audio' % freq)
        self.assertAlmostEqual(tone['frequency_hz'], freq, delta=FREQ_TOL_HZ,
                               msg='the tone is at %.2f Hz, %g Hz was fed' % (tone['frequency_hz'], freq))
        self.assertEqual(tone['gaps'], 0, 'gaps in the decoded audio: %s%s'
                         % (tone.get('gap_list'), self.daemon_complaints()))
        self.assertGreaterEqual(tone['snr_db'], min_snr)
        # gaps are only seen between the first and the last tone: the tone
        # must also start with the audio and last as long as it was fed
        decoded = a['audio']['decoded_s']
        self.assertLessEqual(tone['tone_start_s'], edge,
                             'the speaker got %.3f s of audio without the tone before it' % tone['tone_start_s'])
        if fed_s is None:
            self.assertGreaterEqual(tone['tone_end_s'], decoded - edge,
                                    'the tone stops at %.3f s of %.3f s decoded: the rest is not the tone'
                                    % (tone['tone_end_s'], decoded))
        else:
            self.assertAlmostEqual(tone['tone_s'], fed_s, delta=edge,
                                   msg='fed %.3f s of tone, the speaker got %.3f s (tone from %.3f to %.3f s of %.3f s decoded)'
                                   % (fed_s, tone['tone_s'], tone['tone_start_s'], tone['tone_end_s'], decoded))
        return tone

    def daemon_complaints(self):
        """What the daemon under test warned about (overruns, congestion,
        stalls), for a failure's message: a gap with them is told apart
        from one without."""
        daemon = getattr(self, 'daemon', None)
        if daemon is None:
            return ''
        lines = [l for l in daemon.log_text().splitlines()
                 if ' warning: ' in l or ' error: ' in l or ' notice: ' in l]
        return '; the daemon said: %s' % ' | '.join(lines[-8:]) if lines else \
            '; the daemon warned of nothing'

    def assert_clean_framing(self, a, rate=None, fed_s=None, bitrate_kbps=None):
        """A stream judged by its framing alone (LDAC: no open decoder):
        RTP intact, every frame whole and of the configuration, the frame
        count of each packet right, and RTP time covering what was fed.
        bitrate_kbps: the frames' bit rate must be this (within 1 %)."""
        rtp = a['rtp']
        self.assertGreater(a['frames'], 0, 'no frames')
        self.assertEqual(a['mtu_violations'], 0, 'packets above the write MTU')
        self.assertEqual(rtp['seq_gaps'], 0, 'RTP sequence gaps: %s' % rtp.get('seq_gap_list'))
        self.assertEqual(rtp['ts_errors'], 0, 'RTP timestamps not continuous: %s' % rtp.get('ts_error_list'))
        self.assertEqual(rtp['pt_errors'] + rtp['version_errors'] + rtp['ssrc_changes'], 0)
        self.assertEqual(a['frame_errors'], 0, 'bad frames: %s' % a.get('frame_error_detail'))
        self.assertEqual(a['config_mismatches'], 0, 'frames not of the configuration')
        self.assertTrue(a['config']['valid'], 'configuration %s' % a['config'].get('blob'))
        if rate:
            self.assertEqual(a['config']['rate'], rate)
        if fed_s is not None:
            self.assertGreaterEqual(a['timing']['duration_rtp_s'], fed_s - 0.05,
                                    'fed %.3f s, the frames carry %.3f s' % (fed_s, a['timing']['duration_rtp_s']))
        if bitrate_kbps is not None:
            self.assertAlmostEqual(a['codec_detail']['bitrate_kbps'], bitrate_kbps,
                                   delta=bitrate_kbps / 100.0)


def receipt_timing(rec, rate, skip_s=0.3):
    """How the packets of a recording arrived (any codec with an RTP
    header): the spacing of their receipt (median, 99th percentile and
    largest interval, ms), the speaker's lateness (how much later than the
    RTP clock, set by the earliest packet, a packet came: the jitter buffer
    a speaker needs not to run dry, ms), and the wall and RTP time covered.
    skip_s: the stream's start is left out (the first packets come as fast
    as the socket takes them)."""
    _, records = harness.read_recording(rec)
    pkts = [(t, int.from_bytes(d[4:8], 'big')) for t, d in records if len(d) >= 12]
    if len(pkts) < 3:
        return None
    t_first = pkts[0][0]
    pkts = [p for p in pkts if p[0] - t_first >= skip_s * 1e9] or pkts
    iv = sorted((b[0] - a[0]) / 1e6 for a, b in zip(pkts, pkts[1:]))
    t0, ts0 = pkts[0]
    late, lag_min, ts_prev, rtp_s = 0.0, None, ts0, 0.0
    for t, ts in pkts:
        rtp_s += ((ts - ts_prev) & 0xffffffff) / rate
        ts_prev = ts
        lag = (t - t0) / 1e6 - rtp_s * 1000
        lag_min = lag if lag_min is None else min(lag_min, lag)
        late = max(late, lag - lag_min)
    return {'packets': len(pkts), 'spacing_median_ms': iv[len(iv) // 2],
            'spacing_p99_ms': iv[min(len(iv) - 1, int(len(iv) * 0.99))],
            'spacing_max_ms': iv[-1], 'late_max_ms': late,
            'wall_s': (pkts[-1][0] - t0) / 1e9, 'rtp_s': rtp_s}


# End-to-end floors (docs/codecs.md "Figures, end to end"): what the tests
# of test_codec_aptx.py and test_codec_aac.py assert, each a margin under
# the lowest of several runs through the double.  tone: SNR of the 997 Hz
# tone (-6 dBFS) over the whole stream; music: SNR of make_music's signal
# against the reference after alignment.  stepped: AAC's floors when the
# sender stepped its bit rate down during the stream (the double's speaker,
# a python thread, reads late on a loaded machine and the sender sees
# congestion: 192 and 128 kbit/s give 33-38 dB on the tone, 30-33 on music).
E2E_FLOORS = {
    'aptx': {'tone': 60.0, 'music': 42.0},
    'aptx_hd': {'tone': 72.0, 'music': 52.0},
    'aac': {'tone': 55.0, 'music': 35.0, 'stepped': {'tone': 30.0, 'music': 25.0}},
}
# how much later than its packet duration a packet may arrive after the
# one before it (the audio thread is real-time, the double's speaker a
# python thread: 58-75 ms seen on a loaded two-core machine), and how far
# the mean interval may stray from it
SPACING_MAX_LATE_MS = 80.0
SPACING_MEAN_TOL = 0.03


class CodecFigures:
    """Streams a codec on the tone or on music and judges it, the way
    test_codec_aptx.py and test_codec_aac.py share (an A2dpTestCase
    mixin).  With A2DPSRC_FIGURES=FILE each stream's figures are appended
    to FILE as a JSON line (how docs/codecs.md's table was made); with
    A2DPSRC_KEEP_REC=DIR each recording is copied there, named after the
    test."""

    def figures(self, a, kind, **extra):
        path = os.environ.get('A2DPSRC_FIGURES')
        if not path:
            return
        t = a['timing']['interval_ms']
        fig = {'test': self.id().rsplit('.', 1)[-1], 'signal': kind, 'codec': a['codec'],
               'rate': a['config']['rate'], 'packets': a['packets'],
               'bitrate_kbps': (a.get('codec_detail') or {}).get('bitrate_kbps'),
               'interval_ms': t, 'mtu': a['config']['write_mtu'],
               'fragments': a.get('fragments'), 'codec_name': self.codec_name,
               'latency_ms': self.latency_us / 1000.0,
               'send_ms_p50_p99': [int(self.stats['LatencyP50Us']) / 1000.0,
                                   int(self.stats['LatencyP99Us']) / 1000.0]}
        if kind == 'tone':
            tone = a['audio']['tone']
            fig.update(snr_db=tone['snr_db'], snr_worst_db=tone['snr_worst_db'], gaps=tone['gaps'])
        else:
            fig.update(snr_db=a['audio']['ref']['snr_vs_ref_db'], delay=a['audio']['ref']['delay_samples'])
        fig.update(extra)
        with open(path, 'a') as f:
            f.write(json.dumps(fig) + '\n')

    def codec_stream(self, codecs, capture, seconds, speaker=None):
        """The daemon (its audio thread SCHED_FIFO as the unit runs it,
        start_daemon) streams to a speaker offering codecs; returns the
        recording."""
        self.add_codec_speaker(*codecs, **(speaker or {}))
        self.start_daemon(capture=capture)
        self.connect_speaker()
        time.sleep(seconds + 0.6)
        self.codec_name = str(self.mprop('Codec'))
        self.stats = dict(self.mprop('Statistics'))
        self.latency_us = int(self.mprop('Latency'))
        self.bluez.flush()
        if os.environ.get('A2DPSRC_KEEP_REC'):
            shutil.copy(self.recording(), os.path.join(os.environ['A2DPSRC_KEEP_REC'],
                                                       self.id().rsplit('.', 1)[-1] + '.rec'))
        return self.recording()

    def tone_stream(self, codecs, codec, rate, capture_rate=None, seconds=3.0, speaker=None,
                    min_snr=None):
        """The tone (-6 dBFS, 997 Hz) for seconds, from a capture fixed at
        capture_rate when given; the stream must be codec at rate, clean
        (assert_clean_stream) and above the codec's end-to-end floor."""
        keys = {'rate': capture_rate} if capture_rate else {}
        self.add_tone(duration=seconds, **keys)
        rec = self.codec_stream(codecs, 'tone', seconds, speaker)
        floor = self.e2e_floor(codec, 'tone') if min_snr is None else min_snr
        a = self.judge_recording(rec, fed_s=seconds, codec=codec, rate=rate, min_snr=floor)
        self.figures(a, 'tone', kbps=int(self.stats['Kbps']), stepped=self.stepped_down())
        return a

    def stepped_down(self):
        """Whether the sender stepped the codec's quality down (a link
        congested: on the double, its speaker reading late)."""
        return 'quality now' in self.daemon.log_text()

    def e2e_floor(self, codec, kind):
        floors = E2E_FLOORS[codec.replace('-', '_')]
        if self.stepped_down() and 'stepped' in floors:
            return floors['stepped'][kind]
        return floors[kind]

    def music_stream(self, codecs, codec, rate, seconds=4.0, speaker=None, min_snr=None):
        """make_music's signal at rate (unity gain); the speaker's decoded
        audio against it: aligned once (one offset for the whole stream,
        so lost or repeated audio would ruin it), SNR over the floor, RTP
        and frames intact."""
        self.write_state(speaker_mode=True, volume=127)
        ref = self.add_music(rate=rate, seconds=seconds)
        rec = self.codec_stream(codecs, 'music', seconds, speaker)
        a = self.analyze(rec, '--ref', ref)
        name = codec.replace('-', '_')
        self.assertEqual(a['codec'], name)
        self.assertEqual(a['config']['rate'], rate)
        rtp = a['rtp']
        self.assertEqual(a['mtu_violations'], 0, 'packets above the write MTU')
        self.assertEqual(rtp['seq_gaps'], 0, 'RTP sequence gaps: %s' % rtp.get('seq_gap_list'))
        self.assertEqual(rtp['ts_errors'], 0, 'RTP timestamps: %s' % rtp.get('ts_error_list'))
        self.assertEqual(a['frame_errors'], 0, 'bad frames: %s' % a.get('frame_error_detail'))
        r = a['audio']['ref']
        self.assertFalse(r['error'], r)
        self.assertGreater(r['correlation'], 0.9, r)
        # most of the music was compared (the stream starts a little
        # after the capture: what came before is not the speaker's)
        self.assertGreater(r['compared_samples'], (seconds - 1.0) * rate, r)
        floor = self.e2e_floor(codec, 'music') if min_snr is None else min_snr
        self.assertGreaterEqual(r['snr_vs_ref_db'], floor, r)
        self.figures(a, 'music', kbps=int(self.stats['Kbps']), stepped=self.stepped_down())
        return a

    def assert_packets(self, a, samples, rate):
        """Packets of samples (per channel) each, on average; they arrive
        spaced by their duration: the mean interval within
        SPACING_MEAN_TOL of it, none more than SPACING_MAX_LATE_MS late."""
        per_packet = a['frames'] * a['frame_samples'] / a['packets']
        self.assertAlmostEqual(per_packet, samples, delta=samples * 0.01,
                               msg='%.1f samples a packet, %d expected' % (per_packet, samples))
        dur_ms = 1000.0 * samples / rate
        t = a['timing']['interval_ms']
        self.assertAlmostEqual(t['mean'], dur_ms, delta=dur_ms * SPACING_MEAN_TOL,
                               msg='packets every %.2f ms on average, each carries %.2f ms'
                               % (t['mean'], dur_ms))
        self.assertLessEqual(t['max'], dur_ms + SPACING_MAX_LATE_MS,
                             'a packet %.1f ms after the one before (each carries %.2f ms)'
                             % (t['max'], dur_ms))


class A2dpTestCase(SpeakerJudge, unittest.TestCase):
    """Bus + double per test; the daemon started by the test."""

    bluez_params = None

    def setUp(self):
        for path in (DAEMON, PLUGIN, ANALYZER):
            if not os.path.exists(path):
                self.fail('%s is missing: run make all test-tools' % path)
        self.tmp = tempfile.mkdtemp(prefix='a2dpsrc-test-')
        self.addCleanup(self._cleanup_tmp)
        self.bus = PrivateBus().start()
        self.addCleanup(self.bus.close)
        self.bluez = BlueZDouble(self.bus, self.bluez_params)
        self.addCleanup(self.bluez.close)
        self.bluez.start()
        self.state_dir = os.path.join(self.tmp, 'state')
        os.makedirs(self.state_dir)
        self.power_dir = os.path.join(self.tmp, 'power')
        os.makedirs(self.power_dir)
        self.starts_file = os.path.join(self.tmp, 'starts.txt')
        self.local_file = os.path.join(self.tmp, 'local.raw')
        self.daemon = None
        self.pcms = {}

    def _cleanup_tmp(self):
        if os.environ.get('A2DPSRC_KEEP_TMP'):
            print('kept', self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- ALSA ---------------------------------------------------------------
    def alsa_conf(self):
        path = os.path.join(self.tmp, 'asound.conf')
        with open(path, 'w') as f:
            f.write('</usr/share/alsa/alsa.conf>\n')
            f.write('pcm_type.a2dpsrc_test { lib "%s" }\n' % PLUGIN)
            for text in self.pcms.values():
                f.write(text)
        return path

    def add_tone(self, name='tone', freq=TONE_HZ, duration=0, **keys):
        keys.setdefault('start_file', self.starts_file)
        self.pcms[name] = pcm(name, source='sine', frequency=freq, amplitude=0.5,
                              duration=duration, **keys)
        return name

    def add_music(self, name='music', rate=48000, seconds=4.0):
        """The capture plays make_music's signal (then silence) in real
        time: alsa-lib's file plugin reads it in place of a silent, paced
        test PCM (fixed at rate). Returns the reference file for --ref.
        The state must give unity gain (volume=127) for the comparison."""
        ref = make_music(os.path.join(self.tmp, name + '.raw'), rate, seconds)
        self.pcms[name + '_clock'] = pcm(name + '_clock', amplitude=0, rate=rate,
                                         start_file=self.starts_file)
        self.pcms[name] = file_pcm(name, ref, slave=name + '_clock')
        return ref

    # -- daemon -------------------------------------------------------------
    def write_state(self, **kv):
        lines = ['a2dpsrc-state 1']
        for k, v in kv.items():
            if isinstance(v, bool):
                v = 'true' if v else 'false'
            lines.append('%s=%s' % (k.replace('_', '-'), v))
        with open(os.path.join(self.state_dir, 'state'), 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def broken_libavcodec(self):
        """A folder for LD_LIBRARY_PATH with libavcodec.so.N that are no
        ELF objects: findable, as the daemon checks, and failing dlopen."""
        broken = os.path.join(self.tmp, 'broken-libs')
        os.mkdir(broken)
        for major in range(57, 63):
            with open(os.path.join(broken, 'libavcodec.so.%d' % major), 'wb') as f:
                f.write(b'not an ELF object')
        return broken

    def stall_daemon(self, seconds):
        """Stops the whole daemon for that long (a busy board), its audio
        thread with it; the captures' clocks run on."""
        os.kill(self.daemon.pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(self.daemon.pid, signal.SIGCONT)

    def notify_socket(self):
        """A socket for NOTIFY_SOCKET, read as systemd reads it, all along
        (sd_notify blocks on a full queue): (its path, [(monotonic time,
        message)])."""
        path = os.path.join(self.tmp, 'notify')
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        sock.settimeout(0.1)
        got, stop = [], threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    got.append((time.monotonic(), sock.recv(4096).decode()))
                except socket.timeout:
                    pass
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        return path, got

    def start_daemon(self, capture='tone', args=(), local='null', speaker_mode=True,
                     wait_registered=True, env=None, wrap=()):
        """wrap: a command line the daemon's runs under (it execs it)."""
        if speaker_mode is not None and not os.path.exists(os.path.join(self.state_dir, 'state')):
            self.write_state(speaker_mode=speaker_mode)
        if capture == 'tone' and 'tone' not in self.pcms:
            self.add_tone()
        if local not in ('null', 'none') and local not in self.pcms:
            self.pcms[local] = sink_pcm(local, self.local_file)
        env = dict(env or {}, ALSA_CONFIG_PATH=self.alsa_conf())
        args = list(args)
        # the audio thread as the unit runs it (SCHED_FIFO 40): a test of
        # timing must not judge a configuration no board ships. Not under
        # valgrind, whose serialised threads a real-time one would starve.
        if '--rt-priority' not in args and not os.environ.get('A2DPSRC_VALGRIND'):
            args = ['--rt-priority', str(RT_PRIORITY)] + args
        argv = ['--capture', capture, '--local-output', local, '--state-dir', self.state_dir,
                '--power-supply', self.power_dir, '-v'] + args
        self.daemon = Daemon(self.bus, DAEMON, log_dir=self.tmp)
        if os.environ.get('A2DPSRC_VALGRIND'):
            self.daemon.path = VALGRIND[0]
            argv = VALGRIND[1:] + [DAEMON] + argv
        if wrap:
            argv = list(wrap[1:]) + [self.daemon.path] + argv
            self.daemon.path = wrap[0]
        self.daemon.start(argv, env)
        self.addCleanup(self._stop_daemon)
        if wait_registered:
            self.daemon.wait_for(lambda: self.bluez.registered_endpoints(), 30 if SLOW else 5,
                                 what='endpoint registered')
        return self.daemon

    def _stop_daemon(self):
        if self.daemon and self.daemon.returncode is None:
            self.daemon.stop(signal.SIGTERM, 10)
        log = self.daemon.log_text()
        if self._outcome_failed():
            print('\n--- daemon log ---\n' + log[-6000:])
        # a sanitizer or valgrind report anywhere fails the test
        for marker in SANITIZER_MARKERS:
            if marker in log:
                i = log.index(marker)
                self.fail('%s in the daemon log:\n%s' % (marker, log[max(0, i - 500):i + 4000]))

    def _outcome_failed(self):
        outcome = getattr(self, '_outcome', None)
        result = getattr(outcome, 'result', None)
        if result is None:
            return False
        return any(t is self for t, _ in result.failures + result.errors)

    def manager(self):
        return dbus.Interface(self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH), MANAGER)

    def call_async(self, method, signature, *args, dest='org.a2dpsrc', path=MANAGER_PATH,
                   iface=MANAGER, timeout=30, stderr=subprocess.PIPE):
        """A method call left in flight (busctl in its own process, so the
        test goes on while the daemon has not answered); killed at cleanup
        if still waiting. stderr=subprocess.STDOUT folds the error into
        stdout."""
        env = dict(self.bus.env)
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        argv = ['busctl', '--system', '--timeout=%d' % timeout, 'call', dest, path, iface, method]
        if signature:
            argv += [signature] + [str(a) for a in args]
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def mprop(self, name):
        return self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH).Get(
            MANAGER, name, dbus_interface=PROPS)

    def set_mprop(self, name, value):
        return self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH).Set(
            MANAGER, name, value, dbus_interface=PROPS)

    # -- speakers -----------------------------------------------------------
    def add_speaker(self, address=SPEAKER, name='Test Speaker', **opts):
        return self.bluez.add_speaker(address, name, **opts)

    def add_codec_speaker(self, *codecs, address=SPEAKER, name='Test Speaker', **opts):
        """A speaker offering these codecs, one sink SEP each in the order
        given (SinkCodecs presets: sbc, sbc-xq, aptx, aptx-hd, aac, ldac,
        and the malformed ones of tests/double/bluez_double/codecs.py).
        refuse=[...]: codecs it advertises but refuses to configure
        (sbc-xq: SBC in dual channel);
        configures=NAME: it sets that codec up itself when it connects."""
        refuse = opts.pop('refuse', None)
        if refuse:
            opts['RefuseCodecs'] = list(refuse)
        own = opts.pop('configures', None)
        if own:
            opts.update(SpeakerConnectMode='remote-config', RemoteCodec=own)
        return self.add_speaker(address, name, SinkCodecs=list(codecs), **opts)

    def judge_recording(self, rec=None, fed_s=None, codec=None, **kw):
        """Analyse a recording (default: the last) with the tone and judge
        it as assert_clean_stream does for its codec; returns the analysis."""
        a = self.analyze(rec or self.recording(), '--tone', str(TONE_HZ))
        self.assert_clean_stream(a, fed_s=fed_s, codec=codec, **kw)
        return a

    def connect_speaker(self, path=SPEAKER_PATH):
        """The speaker connects (ConnectProfile from the radio side) and the
        daemon, in speaker mode, takes the stream."""
        self.bluez.connect_speaker(path)
        return self.wait_streaming(path)

    def wait_streaming(self, path=SPEAKER_PATH, timeout=5):
        def active():
            for t, props in self.bluez.transports().items():
                if str(props.get('Device')) == path and str(props.get('State')) == 'active':
                    return t
            return None
        return self.daemon.wait_for(active, timeout, what='transport active')

    def clock_shift_env(self, boot_s=0, real_s=0):
        """The daemon's environment for reading shifted clocks; shift_clocks
        moves them while it runs."""
        self.clock_shift_file = os.path.join(self.tmp, 'clock-shift')
        self.shift_clocks(boot_s, real_s)
        return {'LD_PRELOAD': CLOCK_SHIFT, 'A2DPSRC_CLOCK_SHIFT': self.clock_shift_file,
                # a sanitized daemon wants its runtime first of all
                'ASAN_OPTIONS': os.environ.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'}

    def shift_clocks(self, boot_s, real_s):
        """CLOCK_BOOTTIME and CLOCK_REALTIME this many seconds ahead of the
        machine's (a suspend of S s: both += S; an NTP step: the wall clock
        alone); CLOCK_MONOTONIC is left alone."""
        tmp = self.clock_shift_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%.6f %.6f\n' % (boot_s, real_s))
        os.rename(tmp, self.clock_shift_file)

    def recording(self, index=-1):
        recs = sorted(self.bluez.recordings())
        self.assertTrue(recs, 'the speaker received nothing')
        return recs[index]


def sleep(seconds):
    time.sleep(seconds)
