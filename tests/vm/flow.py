#!/usr/bin/python3
"""The send path and the ACL flow of a check-vm run made with VM_TRACE=1
(stdlib only).

  flow.py RESULTS_DIR [FROM_S [TO_S]]

Reads RESULTS_DIR/trace.txt (ftrace, CLOCK_MONOTONIC seconds: the guest's
start_trace in guest-common.sh) and says where a stream's time went:

- a2dpsrcd's sends: the audio thread's send() calls, what they returned
  (EAGAIN: the socket's buffer full), the spacing of successful sends;
- the board's ACL link (hci0 -> btvirt): each ACL fragment the kernel
  hands the controller (vhci_send_frame) until the controller's Number of
  Completed Packets gives its buffer back (btvirt's controllers have one
  192-byte buffer: one fragment in flight at a time). The round trip of
  a fragment is split into btvirt's part (from the fragment to btvirt's
  next write of /dev/vhci, the completion) and the kernel's (from there
  to the event being handled);
- how busy the link was (fragments in flight over time) and how much was
  waiting: fragments a send() queued (ceil((len + 4) / ACL MTU)) and not
  yet handed to the controller;
- around every EAGAIN: what the link did in the 30 ms before it;
- how long the audio thread and btvirt waited between being woken and
  running.

By default the span from the first to the last media send; FROM_S/TO_S
(trace clock) narrow it.
"""

import re
import sys

LINE = re.compile(r'^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+)(?:: ?|(?=\()|(?= ->))(.*)$')
ACL_MTU = 192


def pct(values, p):
    if not values:
        return float('nan')
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def ms(x):
    return '%.2f' % (x * 1000.0)


def summary(name, values):
    if not values:
        return '%s: none' % name
    return '%s: n=%d p50 %s ms, p90 %s ms, p99 %s ms, max %s ms' % (
        name, len(values), ms(pct(values, 50)), ms(pct(values, 90)), ms(pct(values, 99)), ms(max(values)))


def parse(path):
    ev = []
    with open(path, errors='replace') as f:
        for line in f:
            if line.startswith('#'):
                continue
            m = LINE.match(line)
            if not m:
                continue
            task, pid, cpu, t, name, rest = m.groups()
            ev.append((float(t), name, task, int(pid), rest))
    ev.sort(key=lambda e: e[0])
    return ev


def field(rest, key):
    m = re.search(r'\b' + key + r'=(\S+)', rest)
    return m.group(1) if m else None


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip())
        return 2
    ev = parse(argv[1] + '/trace.txt')
    sends = []          # (t_enter, t_exit, len, ret)
    pending = None
    vtx = {}            # hdev -> [t]
    nocp = {}           # hdev -> [(t, cnt)]
    vwrite = []         # btvirt's writes to /dev/vhci
    wake = {}           # pid -> t of the last wake-up
    waits = {'a2dpsrc-audio': [], 'btvirt': []}
    for t, name, task, pid, rest in ev:
        if name == 'sys_sendto':
            if '->' in rest:
                if pending is not None:
                    ret = int(rest.split('->')[1].strip(), 16)
                    if ret >= 1 << 63:
                        ret -= 1 << 64
                    sends.append((pending[0], t, pending[1], ret))
                    pending = None
            else:
                pending = (t, int(re.search(r'len: ([0-9a-f]+)', rest).group(1), 16))
        elif name == 'vtx':
            vtx.setdefault(field(rest, 'hdev'), []).append(t)
        elif name == 'nocp':
            nocp.setdefault(field(rest, 'hdev'), []).append((t, int(field(rest, 'cnt'))))
        elif name == 'vwrite' and task == 'btvirt':
            vwrite.append(t)
        elif name == 'sched_wakeup':
            comm = field(rest, 'comm')
            if comm in waits:
                wake[int(field(rest, 'pid'))] = (t, comm)
        elif name == 'sched_switch':
            npid = int(field(rest, 'next_pid'))
            if npid in wake:
                t0, comm = wake.pop(npid)
                waits[comm].append(t - t0)
    media = [s for s in sends if s[2] > 100]
    if not media or not vtx:
        print('flow: no media sends or no ACL fragments in the trace')
        return 1
    t0 = float(argv[2]) if len(argv) > 2 else media[0][0]
    t1 = float(argv[3]) if len(argv) > 3 else media[-1][1]
    span = t1 - t0
    hci0 = max(vtx, key=lambda h: len(vtx[h]))
    frags = [t for t in vtx[hci0] if t0 <= t <= t1]
    done = [(t, c) for t, c in nocp.get(hci0, []) if t0 <= t <= t1]
    sends = [s for s in media if t0 <= s[0] <= t1]
    ok = [s for s in sends if s[3] > 0]
    eagain = [s for s in sends if s[3] == -11]
    print('span %.3f-%.3f s (%.2f s), board controller hdev %s' % (t0, t1, span, hci0))

    # a2dpsrcd's side
    gaps = [b[0] - a[0] for a, b in zip(ok, ok[1:])]
    per_packet = [-(-(s[3] + 4) // ACL_MTU) for s in ok]
    print('sends: %d sent (%.1f/s, %d bytes each on average, %.1f fragments), %d EAGAIN' % (
        len(ok), len(ok) / span, sum(s[3] for s in ok) // max(1, len(ok)),
        sum(per_packet) / max(1, len(per_packet)), len(eagain)))
    print('  ' + summary('between successful sends', gaps))
    print('  ' + summary('send() call', [s[1] - s[0] for s in ok]))

    # the link
    rtt, btv, kern = [], [], []
    wi = 0
    di = 0
    busy = 0.0
    for t in frags:
        while di < len(done) and done[di][0] < t:
            di += 1
        if di >= len(done):
            break
        tc = done[di][0]
        rtt.append(tc - t)
        busy += tc - t
        while wi < len(vwrite) and vwrite[wi] < t:
            wi += 1
        # btvirt forwards the fragment to hci1 then answers hci0: its last
        # write before the completion is the answer
        wj = wi
        while wj + 1 < len(vwrite) and vwrite[wj + 1] < tc:
            wj += 1
        if wi < len(vwrite) and vwrite[wj] < tc:
            btv.append(vwrite[wj] - t)
            kern.append(tc - vwrite[wj])
    demand = sum(per_packet) / span
    mean_rtt = sum(rtt) / max(1, len(rtt))
    print('link: %d fragments (%.0f/s) sent to the controller, %d completed; busy %.0f %% of the span' % (
        len(frags), len(frags) / span, sum(c for _, c in done), 100.0 * busy / span))
    print('  ' + summary('fragment round trip (sent -> completed)', rtt))
    print('  ' + summary('  of which btvirt (sent -> its completion written)', btv))
    print('  ' + summary('  of which the kernel (written -> event handled)', kern))
    print('  capacity at the mean round trip: %.0f fragments/s; the stream needs %.0f/s (%.0f %%)' % (
        1.0 / mean_rtt if mean_rtt else 0, demand, 100.0 * demand * mean_rtt))

    # what waited: fragments queued by send() and not yet handed over,
    # and how long the link sat idle while some waited
    marks = [(s[0], per_packet_n) for s, per_packet_n in zip(ok, per_packet)]
    timeline = sorted([(t, 'q', n) for t, n in marks] + [(t, 's', 1) for t in frags] +
                      [(t, 'c', c) for t, c in done])
    backlog = 0
    inflight = 0
    last = t0
    idle_waiting = 0.0
    waiting_time = 0.0
    max_backlog = 0
    eligible = None     # since when the link was free with fragments waiting
    handover = []
    for t, kind, n in timeline:
        if backlog > 0:
            waiting_time += t - last
            if inflight == 0:
                idle_waiting += t - last
        last = t
        if kind == 'q':
            backlog += n
        elif kind == 's':
            if eligible is not None:
                handover.append(t - eligible)
            backlog = max(0, backlog - 1)
            inflight += 1
        else:
            inflight = max(0, inflight - n)
        max_backlog = max(max_backlog, backlog)
        eligible = (eligible if eligible is not None else t) if backlog > 0 and inflight == 0 else None
    print('  fragments waiting in the kernel: %.0f %% of the span, at most %d; link idle while some waited: %s ms' % (
        100.0 * waiting_time / span, max_backlog, ms(idle_waiting)))
    print('  ' + summary('kernel hand-over (link free, fragment waiting -> handed to the controller)', handover))

    # the EAGAINs
    if eagain:
        print('EAGAIN: what the link did in the 30 ms before each')
        shown = 0
        for s in eagain:
            w0 = s[0] - 0.030
            n_done = sum(c for t, c in done if w0 <= t <= s[0])
            longest = max([r for f, r in zip(frags, rtt) if w0 - 0.1 <= f <= s[0]] or [0])
            if shown < 12:
                print('  %.3f: %d fragments completed, longest round trip nearby %s ms' % (s[0], n_done, ms(longest)))
            shown += 1
        if shown > 12:
            print('  ... %d more' % (shown - 12))
    print('scheduling (woken -> running):')
    for comm, v in waits.items():
        print('  ' + summary(comm, v))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
