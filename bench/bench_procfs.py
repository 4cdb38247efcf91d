"""What /proc says about a process: CPU and context switches per thread,
memory, which processes are which."""

import os
import re
import time

from bench_settings import CLK_TCK


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def proc_snapshot(pid):
    """CPU and context-switch counters of a process and its threads."""
    stat = read_text('/proc/%d/stat' % pid)
    if stat is None:
        return None
    fields = stat[stat.rindex(')') + 2:].split()
    snap = {'pid': pid, 't': time.monotonic(),
            'ticks': int(fields[11]) + int(fields[12]),    # utime + stime
            'threads': {}}
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        tids = []
    for tid in tids:
        base = '/proc/%d/task/%s/' % (pid, tid)
        status, sched = read_text(base + 'status'), read_text(base + 'schedstat')
        comm = (read_text(base + 'comm') or '?').strip()
        if status is None or sched is None:
            continue
        vol = int(re.search(r'^voluntary_ctxt_switches:\s*(\d+)', status, re.M).group(1))
        nonvol = int(re.search(r'^nonvoluntary_ctxt_switches:\s*(\d+)', status, re.M).group(1))
        snap['threads'][int(tid)] = {'comm': comm, 'vol': vol, 'nonvol': nonvol,
                                     'run_ns': int(sched.split()[0])}
    return snap


def proc_delta(a, b):
    """What a process did between two snapshots."""
    threads = {}
    for tid, tb in b['threads'].items():
        ta = a['threads'].get(tid, {'vol': 0, 'nonvol': 0, 'run_ns': 0})
        threads[tid] = {'comm': tb['comm'], 'vol': tb['vol'] - ta['vol'],
                        'nonvol': tb['nonvol'] - ta['nonvol'],
                        'run_s': (tb['run_ns'] - ta['run_ns']) / 1e9}
    return {'wall_s': b['t'] - a['t'],
            'cpu_ticks_s': (b['ticks'] - a['ticks']) / CLK_TCK,
            'cpu_sched_s': sum(t['run_s'] for t in threads.values()),
            'threads': threads}


def proc_memory(pid):
    status = read_text('/proc/%d/status' % pid) or ''
    rollup = read_text('/proc/%d/smaps_rollup' % pid) or ''

    def kb(text, key):
        m = re.search(r'^%s:\s*(\d+) kB' % key, text, re.M)
        return int(m.group(1)) if m else None
    return {'peak_rss_kib': kb(status, 'VmHWM'), 'rss_kib': kb(status, 'VmRSS'),
            'pss_kib': kb(rollup, 'Pss'), 'private_dirty_kib': kb(rollup, 'Private_Dirty'),
            'private_clean_kib': kb(rollup, 'Private_Clean'),
            'shared_clean_kib': kb(rollup, 'Shared_Clean'),
            'rss_by_mapping_kib': rss_by_mapping(pid)}


def rss_by_mapping(pid):
    """Resident KiB per mapped file (or [heap], [anon], [stack]): where
    the peak RSS goes."""
    out, name = {}, None
    for line in (read_text('/proc/%d/smaps' % pid) or '').splitlines():
        if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
            parts = line.split()
            name = os.path.basename(parts[5]) if len(parts) > 5 else '[anon]'
        elif line.startswith('Rss:') and name:
            out[name] = out.get(name, 0) + int(line.split()[1])
    return dict(sorted(((k, v) for k, v in out.items() if v), key=lambda kv: -kv[1]))


def children_named(ppid, name):
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        st = read_text('/proc/%s/stat' % d)
        if not st:
            continue
        comm = st[st.index('(') + 1:st.rindex(')')]
        ppid_ = int(st[st.rindex(')') + 2:].split()[1])
        if ppid_ == ppid and comm == name:
            out.append(int(d))
    return out


def processes_with_env(name, key, value):
    """Processes called name whose environment has key=value (a process
    started through a double fork has no useful parent)."""
    want = ('%s=%s' % (key, value)).encode()
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        if (read_text('/proc/%s/comm' % d) or '').strip() != name:
            continue
        try:
            with open('/proc/%s/environ' % d, 'rb') as f:
                if want in f.read().split(b'\0'):
                    out.append(int(d))
        except OSError:
            pass
    return out

