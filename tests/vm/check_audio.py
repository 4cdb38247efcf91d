#!/usr/bin/python3
"""Judges what check-vm's loopback recordings heard (stdlib only).

A recording is raw S16_LE stereo at 48 kHz made by arecord in the VM, with
NAME.start beside it: the ALSA trigger time of the capture in CLOCK_MONOTONIC
seconds, the clock of the guest's "events" file. Sample n of a recording
was thus heard at start + n / rate, and every judgement is on one timeline.

Each scenario's recordings are judged by the tone's analysis (tone.py);
besides the audio, a scenario's verdict reads a2dpsrcd's exit status
(a2dpsrcd.exit: it must stop by itself on SIGTERM, with status 0), its
Statistics (statistics.txt) and what crossed the link (air.py: the AVDTP
configuration, the media packets and SBC frames hci1 received, kept by
tests/vm/link_capture.py in hci.btsnoop).

Usage:
  check_audio.py analyze FILE [--freq HZ]      one recording, a summary
  check_audio.py judge SCENARIO DIR            a check-vm scenario's verdict
  check_audio.py link FILE.btsnoop             the codec and frames in a capture
"""

import json
import os
import re
import sys

from air import MediaPackets, configurations, link_payloads, sbc_frames, sbc_mode
from tone import (FREQ, WINDOW_S, analyze, first_present, last_present, onset, read_start, segments,
                  silent_report, span_report)

# ---- scenario judgement -------------------------------------------------------

class Run:
    """A scenario's results folder: events, measures, recordings."""

    def __init__(self, folder):
        self.dir = folder
        self.events = {}
        self.order = []
        try:
            with open(os.path.join(folder, 'events')) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2:
                        name, t = parts[0], int(parts[1]) / 1e9
                        self.events.setdefault(name, []).append(t)
                        self.order.append((t, name))
        except OSError:
            pass
        self.measures = {}
        try:
            with open(os.path.join(folder, 'measures')) as f:
                for line in f:
                    parts = line.split(None, 1)
                    if len(parts) == 2:
                        self.measures[parts[0]] = parts[1].strip()
        except OSError:
            pass
        self.verdicts = []
        self.figures = []
        self.notes = []
        self._rec = {}

    def ev(self, name, i=0):
        v = self.events.get(name)
        if not v or len(v) <= i:
            raise Missing('event %s%s missing' % (name, '' if i == 0 else ' #%d' % (i + 1)))
        return v[i]

    def rec(self, name, freq=FREQ):
        if (name, freq) not in self._rec:
            path = os.path.join(self.dir, name + '.raw')
            if not os.path.exists(path) or os.path.getsize(path) == 0:
                raise Missing('recording %s.raw missing or empty' % name)
            if read_start(path) == 0.0:
                raise Missing('%s.start missing: recording not on the timeline' % name)
            self._rec[(name, freq)] = analyze(path, freq)
        return self._rec[(name, freq)]

    def check(self, what, rep):
        ok = not rep['problems']
        keys = ('present_s', 'snr_db', 'snr_worst_window_db', 'freq_hz', 'level_dbfs', 'gaps',
                'glitches', 'tone_s')
        figs = ', '.join('%s=%s' % (k, rep[k]) for k in keys if k in rep)
        self.verdicts.append((ok, '%s [%.2f s]: %s%s' % (what, rep['to'] - rep['from'], figs,
                                                         '' if ok else ' -- ' + '; '.join(rep['problems']))))
        return ok

    def require(self, ok, text):
        self.verdicts.append((bool(ok), text))
        return ok

    def note(self, what, rep):
        """Reported, not judged: what the VM's own hiccups can spoil."""
        keys = ('present_s', 'snr_db', 'gaps', 'glitches')
        self.notes.append('%s [%.2f s]: %s%s' % (what, rep['to'] - rep['from'],
                          ', '.join('%s=%s' % (k, rep[k]) for k in keys if k in rep),
                          '' if not rep['problems'] else ' -- ' + '; '.join(rep['problems'])))

    def figure(self, name, value, unit=''):
        self.figures.append('%s %s%s' % (name, value, unit))

    def link_payloads(self):
        """The L2CAP frames the speaker's controller received (hci.btsnoop)."""
        path = os.path.join(self.dir, 'hci.btsnoop')
        if not os.path.exists(path):
            raise Missing('hci.btsnoop missing: no capture of the link')
        if not hasattr(self, '_payloads'):
            self._payloads = link_payloads(path)
        return self._payloads

    def link_frames(self):
        """The SBC frames the speaker's controller received."""
        if not hasattr(self, '_frames'):
            self._frames = sbc_frames(self.link_payloads())
        return self._frames


class Missing(Exception):
    pass


def ms(t):
    return int(round(t * 1000))


SETTLE_S = 1.0    # start-up of a stream on the far side: bluealsa's buffer fills


def judge_streamed(run, bt, first, t_end, what, min_s, freq=FREQ):
    """The far side heard the tone cleanly from first (+ settling) to
    t_end, for at least min_s, while the local output stayed silent."""
    run.check(what, span_report(bt, first + SETTLE_S, t_end - 0.1, freq))
    run.check('local output silent while the speaker streams',
              silent_report(run.rec('local', freq), first + SETTLE_S, t_end - 0.1))
    run.require(t_end - first - SETTLE_S >= min_s, 'observed at least %d s of streaming' % min_s)


def judge_stream(run):
    """Scenario 1: board audio -> a2dpsrcd -> hci0 -> hci1 -> bluealsa."""
    bt = run.rec('bt')
    t_on = run.ev('a2dpsrcd_up')
    t_stream = run.ev('streaming')
    t_end = run.ev('observe_end')
    first = first_present(bt, after=t_on)
    if not run.require(first is not None, 'the far side heard the tone'):
        return
    run.figure('connect', ms(t_stream - t_on), ' ms (a2dpsrcd up -> State streaming)')
    run.figure('first_tone_far_side', ms(first - t_on), ' ms after a2dpsrcd was up')
    judge_streamed(run, bt, first, t_end, 'far side, %.0f s after start-up' % (t_end - first - SETTLE_S), 10)
    judge_doctor(run)


def judge_doctor(run):
    """`a2dpsrcctl doctor` while streaming: the radio finding measured the
    link (RSSI, link quality) on the real controller, and nothing was a
    problem."""
    try:
        with open(os.path.join(run.dir, 'doctor.json')) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        run.require(False, 'a2dpsrcctl doctor gave JSON (%s)' % e)
        return
    found = {x['id']: x for x in doc.get('findings', [])}
    radio = found.get('radio', {})
    run.figure('doctor radio', radio.get('seen', '(none)'))
    seen = radio.get('seen', '')
    # btvirt's emulated controller answers Read RSSI and refuses Read Link
    # Quality with an error status: the finding must say so, not invent one
    run.require(re.search(r'^RSSI -?\d+ dB', seen) is not None and
                re.search(r'link quality (\d+/255|not available \(the controller refuses these reads\))',
                          seen) is not None,
                'doctor read RSSI from the controller (and link quality, or why not): %s' % seen)
    problems = [x['id'] for x in doc.get('findings', []) if x.get('verdict') == 'problem']
    run.require(not problems, 'doctor found no problem while streaming (%s)' % ', '.join(problems))


def judge_pair(run):
    """Scenario 2: discovery, Pair, Connect through org.a2dpsrc.Manager1."""
    bt = run.rec('bt')
    t_conn = run.ev('connected')
    t_end = run.ev('observe_end')
    first = first_present(bt, after=t_conn - 5)
    if not run.require(first is not None, 'the far side heard the tone after Connect'):
        return
    run.figure('first_tone_far_side', ms(first - t_conn), ' ms after Connect returned')
    judge_streamed(run, bt, first, t_end, 'far side after Connect', 5)


def judge_linkloss(run):
    """Scenario 3: the speaker is switched off mid-stream (or drops the link)
    and comes back. The fallback is timed from the link going down: hci0's
    Disconnection Complete (link_down, from hci_watch.py), the moment a
    board learns that its speaker is gone; what the speaker's side took to
    get there from the request (link_loss) is a figure of its own."""
    bt, local = run.rec('bt'), run.rec('local')
    t_stream = run.ev('streaming')
    t_request = run.ev('link_loss')
    t_loss = run.ev('link_down') if 'link_down' in run.events else t_request
    t_back = run.ev('speaker_back')
    first = first_present(bt, after=t_stream - 5)
    if not run.require(first is not None, 'the far side heard the tone before the link loss'):
        return
    run.check('far side before the link loss', span_report(bt, first + SETTLE_S, t_request - 0.05))
    run.check('local output silent while the speaker streams',
              silent_report(local, first + SETTLE_S, t_request - 0.05))
    # the fallback: the tone on the local output after the link loss (a
    # window's time is its centre: its onset is half a window earlier)
    back_local = first_present(local, after=t_loss)
    if run.require(back_local is not None, 'the local output took over after the link loss'):
        fallback = onset(os.path.join(run.dir, 'local.raw'), t_loss) - t_loss
        run.figure('fallback_to_local', ms(fallback), ' ms after the link went down'
                   if 'link_down' in run.events else ' ms after the link loss began')
        if 'link_down' in run.events:
            run.figure('power_off_to_link_down' if 'power_off_returned' in run.events
                       else 'drop_command_to_link_down', ms(t_loss - t_request),
                       ' ms (the speaker side, before that)')
        elif 'link_dropped' in run.events:
            run.figure('link_drop_command', ms(run.ev('link_dropped') - t_loss), ' ms (hcitool dc, inside that)')
        run.require(fallback <= 0.200, 'local output within 200 ms of the link loss (%d ms)' % ms(fallback))
    back_bt = first_present(bt, after=t_back)
    if not run.require(back_bt is not None, 'the far side heard the tone again after the speaker came back'):
        return
    run.figure('reconnect_to_tone', ms(back_bt - t_loss), ' ms after the link loss')
    t_end = run.ev('observe_end')
    last_local = last_present(local, after=t_loss, before=back_bt)
    if back_local is not None and last_local is not None and last_local - back_local > 0.3:
        run.note('local output while the speaker is away',
                 span_report(local, back_local + 0.05, last_local - 0.05))
    run.check('far side after the reconnect', span_report(bt, back_bt + SETTLE_S, t_end - 0.1))
    run.check('local output silent after the reconnect',
              silent_report(local, back_bt + SETTLE_S, t_end - 0.1))
    run.require(t_end - back_bt - SETTLE_S >= 4, 'observed at least 4 s after the reconnect')


def judge_btd_restart(run):
    """Scenario 4: bluetoothd restarted mid-session."""
    bt, local = run.rec('bt'), run.rec('local')
    t_stream = run.ev('streaming')
    t_kill = run.ev('bluetoothd_stop')
    t_up = run.ev('bluetoothd_up')
    t_end = run.ev('observe_end')
    first = first_present(bt, after=t_stream - 5)
    if not run.require(first is not None, 'the far side heard the tone before the restart'):
        return
    run.check('far side before the restart', span_report(bt, first + SETTLE_S, t_kill - 0.05))
    back_local = first_present(local, after=t_kill)
    if run.require(back_local is not None, 'the local output took over while bluetoothd was away'):
        run.figure('fallback_to_local', ms(onset(os.path.join(run.dir, 'local.raw'), t_kill) - t_kill),
                   ' ms after bluetoothd was sent SIGTERM')
    back_bt = first_present(bt, after=t_up)
    if not run.require(back_bt is not None, 'the far side heard the tone again after the restart'):
        return
    run.figure('reconnect_to_tone', ms(back_bt - t_up), ' ms after bluetoothd came back')
    run.check('far side after the restart', span_report(bt, back_bt + SETTLE_S, t_end - 0.1))
    run.check('local output silent after the reconnect',
              silent_report(local, back_bt + SETTLE_S, t_end - 0.1))
    run.require(t_end - back_bt - SETTLE_S >= 4, 'observed at least 4 s after the reconnect')


def judge_speaker_connects(run):
    """Scenario 5: the speaker opens the stream with its own configuration."""
    bt = run.rec('bt')
    t_conn = run.ev('connected')
    t_end = run.ev('observe_end')
    first = first_present(bt, after=t_conn - 5)
    if not run.require(first is not None, 'the far side heard the tone after the speaker connected'):
        return
    run.figure('first_tone_far_side', ms(first - t_conn), ' ms after the speaker\'s ConnectProfile returned')
    run.figure('codec', '; '.join(codec_lines(run)) or '?')
    require_link_bitpool(run)
    judge_streamed(run, bt, first, t_end, 'far side after the speaker connected', 5)


# The 48 kHz tone file played by a producer at 44.1 kHz
FREQ_AT_44K1 = FREQ * 44100 / 48000


def codec_lines(run):
    try:
        with open(os.path.join(run.dir, 'codec.txt')) as f:
            return [line.strip().strip('"') for line in f if line.strip()]
    except OSError:
        return []


def judge_rate44k_first(run):
    """The producer plays at 44.1 kHz before a2dpsrcd starts: streamed at
    44.1 kHz, the tone (916 Hz) clean on the far side."""
    bt = run.rec('bt', FREQ_AT_44K1)
    t_on = run.ev('a2dpsrcd_up')
    t_end = run.ev('observe_end')
    run.figure('codec', '; '.join(codec_lines(run)) or '?')
    run.require(any('44100 Hz' in c for c in codec_lines(run)), 'streamed at the capture\'s 44.1 kHz')
    first = first_present(bt, after=t_on)
    if not run.require(first is not None, 'the far side heard the 44.1 kHz producer\'s tone'):
        return
    run.figure('first_tone_far_side', ms(first - t_on), ' ms after a2dpsrcd was up')
    judge_streamed(run, bt, first, t_end, 'far side, the 44.1 kHz producer', 8, FREQ_AT_44K1)


def judge_rate_change(run):
    """The producer goes from 48 to 44.1 kHz mid-stream: the new tone
    (916 Hz) on the far side soon after, cleanly, at 44.1 kHz."""
    t_change = run.ev('rate_change')
    t_44 = run.ev('streaming_44k')
    t_end = run.ev('observe_end')
    run.figure('codec', '; '.join(codec_lines(run)) or '?')
    bt = run.rec('bt', FREQ_AT_44K1)
    first = first_present(bt, after=t_change)
    if not run.require(first is not None, 'the far side heard the producer\'s new tone'):
        return
    run.figure('new_tone_far_side', ms(first - t_change), ' ms after the producer restarted')
    run.require(first - t_change < 5.0, 'the new tone reached the speaker within 5 s (%.1f s)'
                % (first - t_change))
    judge_streamed(run, bt, max(first, t_44), t_end, 'far side after the rate change', 5,
                   FREQ_AT_44K1)
def judge_producer_xrun(run):
    """The producer underran once and recovered: a2dpsrcd kept its capture
    and stream (snd-aloop's "PCM Slave Active" blinked off for a few hundred
    ms; that is no producer going away), and the tone came back at once."""
    bt = run.rec('bt')
    t_on, t_x, t_back = run.ev('a2dpsrcd_up'), run.ev('xrun'), run.ev('xrun_end')
    t_end = run.ev('observe_end')
    log = read_text(run, 'a2dpsrcd.log')
    blinked = 'the loopback\'s producer stopped' in log
    run.figure('producer_seen_stopping', 'yes' if blinked else 'no (no ctl event reached the daemon)')
    run.require('let go for the next producer' not in log,
                'the capture was not let go for the producer\'s underrun')
    run.require(read_text(run, 'state.txt') == '"streaming"',
                'a2dpsrcd still streaming (%s)' % read_text(run, 'state.txt'))
    first = first_present(bt, after=t_on)
    if not run.require(first is not None, 'the far side heard the tone'):
        return
    run.check('far side before the underrun', span_report(bt, first + SETTLE_S, t_x - 0.05))
    back = first_present(bt, after=t_back)
    if not run.require(back is not None, 'the far side heard the tone again after the underrun'):
        return
    run.figure('tone_back', ms(back - t_back), ' ms after the producer was let run again')
    run.require(back - t_back < 1.0, 'the tone was back within 1 s of the producer (%.2f s)' % (back - t_back))
    judge_streamed(run, bt, back, t_end, 'far side after the underrun', 4)


def read_text(run, name):
    try:
        with open(os.path.join(run.dir, name)) as f:
            return f.read().strip()
    except OSError:
        return ''


def judge_stranger(run):
    """A stranger's Pair with the discoverable board while a2dpsrcd streams:
    refused by the board's kernel, nothing stored, the stream undisturbed."""
    bt = run.rec('bt')
    t_on = run.ev('a2dpsrcd_up')
    t_try, t_tried = run.ev('stranger_start'), run.ev('stranger_end')
    t_end = run.ev('observe_end')
    said = read_text(run, 'stranger.txt').splitlines()
    said = said[-1] if said else '(no output)'
    run.figure('stranger_pair', ms(t_tried - t_try), ' ms (%s)' % said)
    run.require(read_text(run, 'stranger.rc') == '0', 'the stranger could not pair: %s' % said)
    stranger = read_text(run, 'stranger-address.txt')
    run.require(read_text(run, 'stranger-paired-on-board.txt') != 'true',
                'the board does not show the stranger as Paired')
    run.require(stranger and stranger not in read_text(run, 'board-bonds.txt').split(),
                'the board stored no bond for the stranger (%s)' % (stranger or '?'))
    run.require(read_text(run, 'state.txt') == '"streaming"',
                'a2dpsrcd still streaming (%s)' % read_text(run, 'state.txt'))
    first = first_present(bt, after=t_on)
    if not run.require(first is not None, 'the far side heard the tone'):
        return
    # the stranger's page, pairing and SDP share hci0's one 192-byte ACL
    # buffer with the stream in btvirt: what that costs is reported; the
    # stream must be clean before and again after
    run.check('far side before the stranger', span_report(bt, first + SETTLE_S, t_try - 0.05))
    run.note('far side during the stranger\'s attempt', span_report(bt, t_try, t_tried + SETTLE_S))
    run.check('far side after the stranger', span_report(bt, t_tried + SETTLE_S, t_end - 0.1))
    run.check('local output silent while the speaker streams',
              silent_report(run.rec('local'), first + SETTLE_S, t_end - 0.1))
    run.require(t_try - first - SETTLE_S >= 2, 'observed at least 2 s before the attempt')
    run.require(t_end - t_tried - SETTLE_S >= 3, 'observed at least 3 s after the attempt')


def require_link_bitpool(run, max_bitpool=53):
    """What crossed the link, not what the daemon says it sends: SBC frames
    the speaker's controller received, each with a bitpool it can take."""
    frames = run.link_frames()
    pools = sorted({fr[0] for fr in frames})
    run.require(len(frames) >= 100 and 2 <= pools[0] and pools[-1] <= max_bitpool,
                'sends with a bitpool a link carries (2..%d; %d SBC frames crossed the link, bitpools %s)'
                % (max_bitpool, len(frames), pools or '-'))


def judge_pagefail(run):
    """Diagnostic: a failed page and close() of its L2CAP socket (no audio);
    the guest fails it if the kernel oopses."""
    run.require('closed' in run.events, 'the L2CAP socket was closed and the guest went on')


def judge_avrcp(run):
    """The speaker's buttons (AVRCP pass-through from hci1's controller)
    became MediaKey signals, and the title and status the board set reached
    the speaker's side; the stream played on meanwhile."""
    for key in ('play', 'pause', 'next'):
        if run.require('key_' + key in run.events, 'the speaker\'s %s became MediaKey %s' % (key, key)):
            run.figure('key_' + key, ms(run.ev('key_' + key) - run.ev('avrcp_up')), ' ms after AVRCP was up')
    run.require('title_seen' in run.events, 'the speaker\'s side saw the title the board set')
    run.require('status_seen' in run.events, 'the speaker\'s side saw PlaybackStatus playing')
    bt = run.rec('bt')
    first = first_present(bt, after=run.ev('a2dpsrcd_up'))
    if not run.require(first is not None, 'the far side heard the tone'):
        return
    # AVRCP's commands and notifications share btvirt's one ACL buffer with
    # the stream: under TCG a press has cost one 20 ms window (seen once in a
    # CI-length check-vm, clean on the retry). So the window is reported and
    # the tone must fill 90 % of it; gap-freeness is judged by the stream
    # scenarios, as for the stranger's attempt.
    t_end = run.ev('observe_end')
    rep = span_report(bt, first + SETTLE_S, t_end - 0.1)
    run.note('far side while keys were pressed', rep)
    run.require(rep['present_s'] >= 0.9 * (rep['to'] - rep['from']),
                'the tone played on while keys were pressed (%.2f of %.2f s)'
                % (rep['present_s'], rep['to'] - rep['from']))
    run.check('local output silent while the speaker streams',
              silent_report(run.rec('local'), first + SETTLE_S, t_end - 0.1))
    run.require(t_end - first - SETTLE_S >= 2, 'observed at least 2 s of streaming')


# ---- codecs: the stream's codec proven from what crossed the link ------------------

def require_link_codec(run, name, modes=None):
    """The last configuration the board set (AVDTP Set Configuration or
    Reconfigure, as hci1 received it) is NAME, in one of MODES."""
    confs = configurations(run.link_payloads())
    last = confs[-1] if confs else None
    return run.require(last is not None and last.name == name and (modes is None or last.mode in modes),
                       'the board configured %s%s on the link (AVDTP: %s)'
                       % (name, ' ' + ' or '.join(modes) if modes else '', last or 'no configuration seen'))


def require_sbc_frames(run, modes, min_bitpool=2, max_bitpool=250):
    """At least 100 SBC frames crossed the link, every one in one of MODES
    with a bitpool in range, and the top bitpool reached min_bitpool."""
    frames = run.link_frames()
    seen = sorted({sbc_mode(fr[1]) for fr in frames})
    pools = sorted({fr[0] for fr in frames})
    top = pools[-1] if pools else 0
    run.require(len(frames) >= 100 and set(seen) <= set(modes) and min_bitpool <= top <= max_bitpool,
                'SBC frames on the link in %s, top bitpool %d..%d (%d frames, %s, bitpools %s)'
                % (' or '.join(modes), min_bitpool, max_bitpool, len(frames), ', '.join(seen) or '-',
                   pools or '-'))


def require_aptx_packets(run, hd):
    """The media packets are aptX's (bare codewords of 4 bytes, no RTP
    header) or aptX HD's (RTP, then codewords of 6 bytes)."""
    m = MediaPackets(run.link_payloads())
    unit, sizes = (6, m.sizes_after_rtp) if hd else (4, m.sizes_bare)
    whole = m.whole(sizes, unit)
    rtp_right = m.rtp >= 0.99 * m.packets if hd else m.rtp <= 0.01 * m.packets
    run.require(m.packets >= 100 and rtp_right and whole == m.packets,
                '%s media packets: %s, whole %d-byte codewords (%d packets, %d with an RTP header in '
                'sequence, %d whole)' % ('aptX HD' if hd else 'aptX',
                                         'RTP header' if hd else 'no RTP header', unit, m.packets, m.rtp,
                                         whole))


# PipeWire as the far side (docs/vm-testing.md): its A2DP input paces what
# it plays by its own buffer level, and under TCG's jitter that buffer
# overruns now and then (PipeWire drops data) and its timing bends the
# tone. So the strict span is a note there, and the verdict is that
# PipeWire played the tone: present through the span, at the right level,
# within 0.6 % of its frequency (PipeWire's rate control moves it by up to
# 0.5 %).
PW_PRESENT_MIN = 0.95
PW_FREQ_TOL_HZ = 6.0
PW_LEVEL_DBFS = -6.0


def judge_pw_far_side(run, bt, first, t_end):
    rep = span_report(bt, first + SETTLE_S, t_end - 0.1)
    span = rep['to'] - rep['from']
    run.note('far side (PipeWire), judged strictly', rep)
    freq, level = rep.get('freq_hz'), rep.get('level_dbfs')
    run.require(rep.get('present_s', 0) >= PW_PRESENT_MIN * span and freq is not None and
                abs(freq - FREQ) <= PW_FREQ_TOL_HZ and level is not None and abs(level - PW_LEVEL_DBFS) <= 1.0,
                'PipeWire played the tone [%.2f s]: present %.2f s (>= %d %%), %s Hz (%.0f +- %.0f), %s dBFS '
                '(%.0f +- 1)' % (span, rep.get('present_s', 0), PW_PRESENT_MIN * 100, freq, FREQ, PW_FREQ_TOL_HZ,
                                 level, PW_LEVEL_DBFS))
    run.check('local output silent while the speaker streams',
              silent_report(run.rec('local'), first + SETTLE_S, t_end - 0.1))
    run.require(span >= 10, 'observed at least 10 s of streaming')


def judge_codec_stream(run, codec_checks, pipewire=False):
    """As `stream` (start-up with the paired speaker, 15 s), for a codec:
    the far side's tone clean (PipeWire: played, judge_pw_far_side), the
    codec proven from the link."""
    bt = run.rec('bt')
    t_on = run.ev('a2dpsrcd_up')
    t_stream = run.ev('streaming')
    t_end = run.ev('observe_end')
    run.figure('codec', '; '.join(codec_lines(run)) or '?')
    codec_checks(run)
    first = first_present(bt, after=t_on)
    if not run.require(first is not None, 'the far side heard the tone'):
        return
    run.figure('connect', ms(t_stream - t_on), ' ms (a2dpsrcd up -> State streaming)')
    run.figure('first_tone_far_side', ms(first - t_on), ' ms after a2dpsrcd was up')
    if pipewire:
        judge_pw_far_side(run, bt, first, t_end)
    else:
        judge_streamed(run, bt, first, t_end, 'far side, %.0f s after start-up' % (t_end - first - SETTLE_S), 10)


PLAIN_SBC = ('joint stereo', 'stereo')


def judge_pw_sbc(run):
    """SBC to PipeWire's sink; plain SBC (the speaker is opted out of XQ)."""
    def checks(r):
        require_link_codec(r, 'SBC', PLAIN_SBC)
        require_sbc_frames(r, PLAIN_SBC, 2, 53)
    judge_codec_stream(run, checks, pipewire=True)


def judge_aptx(run):
    judge_codec_stream(run, lambda r: (require_link_codec(r, 'aptX'), require_aptx_packets(r, False)), pipewire=True)


def judge_aptx_hd(run):
    judge_codec_stream(run, lambda r: (require_link_codec(r, 'aptX HD'), require_aptx_packets(r, True)),
                       pipewire=True)


# SBC-XQ's bitpool at 48 kHz (38 at 44.1 kHz): about 452 kbit/s, dual channel
XQ_MIN_BITPOOL = 35


def judge_sbc_xq(run):
    """SBC-XQ to bluealsa's sink: dual channel at XQ's bitpool."""
    def checks(r):
        require_link_codec(r, 'SBC', ('dual channel',))
        require_sbc_frames(r, ('dual channel',), XQ_MIN_BITPOOL)
    judge_codec_stream(run, checks)


def judge_two_speakers(run):
    """Two speakers (MultiOutput): both far sides hear the bursts, B's
    stream is on a spare endpoint, and the same sample is presented on both
    together (two_speakers.py)."""
    import two_speakers
    a_addr, b_addr = '00:AA:01:01:00:01', '00:AA:01:02:00:02'
    run.figure('second_speaker', run.measures.get('second_speaker_ms', '?'), ' ms from Connect(B) to both streaming')
    # the endpoint bluetoothd configured B's stream on, as a2dpsrcd was
    # called there (bluetoothd 5.66's MediaTransport1 does not show it)
    said = [line for line in read_text(run, 'a2dpsrcd.log').splitlines()
            if 'dev_00_AA_01_02_00_02/' in line and ' configured: ' in line]
    run.require(said and said[-1].endswith('(on a spare endpoint)'),
                'B\'s stream is on a spare endpoint: %s' % (said[-1] if said else 'not configured'))
    t_end = run.ev('observe_end')
    t_both = run.ev('both_streaming')
    for name, what in (('bt', 'A'), ('bt2', 'B')):
        wins = run.rec(name)
        run.require(first_present(wins, t_both, t_end) is not None,
                    'the far side of %s hears the bursts while both stream' % what)
    run.second_packets = len(two_speakers.media_packets(os.path.join(run.dir, 'hci2.btsnoop'), 2)[1])
    two_speakers.judge(run, a_addr, b_addr)


JUDGES = {'two-speakers': judge_two_speakers, 'pagefail': judge_pagefail, 'stream': judge_stream, 'pair': judge_pair, 'linkloss': judge_linkloss,
          'btd-restart': judge_btd_restart, 'speaker-connects': judge_speaker_connects, 'avrcp': judge_avrcp,
          'rate44k-first': judge_rate44k_first, 'rate-change': judge_rate_change,
          'stranger': judge_stranger, 'producer-xrun': judge_producer_xrun, 'pw-sbc': judge_pw_sbc,
          'aptx': judge_aptx, 'aptx-hd': judge_aptx_hd, 'sbc-xq': judge_sbc_xq}


def statistics(folder):
    """a2dpsrcd's Statistics at the end (busctl's a{sv} output) as a dict."""
    try:
        with open(os.path.join(folder, 'statistics.txt')) as f:
            words = f.read().split()
    except OSError:
        return {}
    out = {}
    for i in range(len(words) - 2):
        name, sig, val = words[i], words[i + 1], words[i + 2]
        if name.startswith('"') and sig in ('t', 'u') and val.isdigit():
            out[name.strip('"')] = int(val)
    return out


# scenarios whose guest saves a2dpsrcd's Statistics (save_statistics)
NEEDS_STATISTICS = {'stream', 'pair', 'linkloss', 'btd-restart', 'speaker-connects', 'avrcp', 'pw-sbc', 'aptx',
                    'aptx-hd', 'sbc-xq'}


def judge_thread(run, scenario):
    """The audio thread wakes about once per packet (or local period): the
    link in the VM carries 5-8 Mbit/s, so a stream of 345 kbit/s is never
    congested, and a thread that polls and finds no room spins."""
    st = statistics(run.dir)
    if not ('Packets' in st and 'Wakeups' in st):
        if scenario in NEEDS_STATISTICS:
            run.require(False, 'a2dpsrcd\'s Statistics were not saved (statistics.txt: %s): the wake-up '
                        'check cannot run' % (sorted(st) or 'missing or empty'))
        return
    run.figure('a2dpsrcd', 'packets %s, wakeups %s, underruns %s, dropped %s ms, bitpool at the end %s'
               % tuple(st.get(k, '?') for k in ('Packets', 'Wakeups', 'Underruns', 'DroppedMs', 'Bitpool')))
    if 'Packets' in st and 'Wakeups' in st:
        # Packets counts the first speaker's; a second one's packets (from
        # its link) have their own wake-ups
        packets = st['Packets'] + getattr(run, 'second_packets', 0)
        run.require(st['Wakeups'] <= 3 * packets + 500,
                    'the audio thread wakes about once per packet (%d wake-ups for %d packets)'
                    % (st['Wakeups'], packets))


def judge_exit(run):
    """a2dpsrcd, once started, stopped by itself on SIGTERM at the end with
    status 0 (the guest's stop() writes "hung" when it had to kill it)."""
    if 'a2dpsrcd_up' not in run.events:
        return
    try:
        with open(os.path.join(run.dir, 'a2dpsrcd.exit')) as f:
            status = f.read().strip()
    except OSError:
        status = 'missing'
    run.require(status == '0', 'a2dpsrcd exited with status 0 on SIGTERM (a2dpsrcd.exit: %s)' % status)


def judge_link(run):
    """Figures for every scenario with a capture of the link: what the
    board configured, and the SBC frames."""
    if not os.path.exists(os.path.join(run.dir, 'hci.btsnoop')):
        return
    confs = configurations(run.link_payloads())
    run.figure('configured', '; '.join(str(c) for c in confs) or
               '- (no AVDTP configuration from the board on the link)')
    frames = run.link_frames()
    pools = sorted({fr[0] for fr in frames})
    modes = sorted({sbc_mode(fr[1]) for fr in frames})
    run.figure('link', '%d SBC frames received by hci1, bitpool %s%s'
               % (len(frames), '%d..%d' % (pools[0], pools[-1]) if pools else '-',
                  ', ' + ', '.join(modes) if modes else ''))


def judge(scenario, folder):
    run = Run(folder)
    try:
        JUDGES[scenario](run)
    except Missing as e:
        run.require(False, str(e))
    judge_thread(run, scenario)
    judge_exit(run)
    try:
        judge_link(run)
    except (Missing, ValueError) as e:
        run.require(False, str(e))
    for f in run.figures:
        print('  time  %s' % f)
    for ok, text in run.verdicts:
        print('  %s  %s' % ('ok  ' if ok else 'FAIL', text))
    for text in run.notes:
        print('  note  %s' % text)
    if not run.verdicts:
        print('  FAIL  nothing was judged')
        return 1
    return 0 if all(ok for ok, _ in run.verdicts) else 1


def main(argv):
    if len(argv) >= 3 and argv[1] == 'analyze':
        freq = float(argv[argv.index('--freq') + 1]) if '--freq' in argv else FREQ
        wins = analyze(argv[2], freq)
        if not wins:
            print('empty recording')
            return 1
        print('windows %d (%.2f s), start %.3f' % (len(wins), len(wins) * WINDOW_S, wins[0].t))
        for s in segments(wins):
            print('tone %.3f .. %.3f (%.2f s)' % (s[0], s[1], s[1] - s[0] + WINDOW_S))
            rep = span_report(wins, s[0], s[1], freq)
            print('   ', {k: v for k, v in rep.items() if k not in ('from', 'to')})
        return 0
    if len(argv) == 3 and argv[1] == 'link':
        payloads = link_payloads(argv[2])
        for c in configurations(payloads):
            print('configured: %s' % c)
        frames = sbc_frames(payloads)
        pools = {}
        for bp, _ in frames:
            pools[bp] = pools.get(bp, 0) + 1
        print('%d SBC frames; bitpool: frames %s' % (len(frames), sorted(pools.items())))
        return 0
    if len(argv) == 4 and argv[1] == 'judge' and argv[2] in JUDGES:
        return judge(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
