#!/usr/bin/python3
"""make bench: a2dpsrcd against the floor (pure libsbc), bluez-alsa and
PipeWire + WirePlumber, in one run, on the BlueZ double.

Every configuration streams the same audio (a 997 Hz / 998 Hz two-tone sine
at -6 dBFS and a music-like signal, made by gen-audio) as SBC 44.1 kHz joint
stereo, 16 blocks, 8 subbands, loudness, bitpool 53, to the double's speaker
with write MTU 895, and is judged the same way: CPU of the daemon
process(es) per audio-second, wake-ups, what the speaker received (decoded
by speaker-analyze), memory.  The floor (sbc-floor: libsbc alone encoding
the same PCM in a tight loop) is measured in the same run, so the ratios do
not depend on how busy the shared machine is.

    bench/bench.py [--quick] [--seconds S] [--no-peers] [--no-doc] [--json FILE]

--quick: ~15 s per configuration, no peers (for CI: shows it still works).
Prints a markdown table; writes the JSON (bench/results/latest.json) and,
unless --no-doc, docs/performance.md.  Run it as root: the speaker double
and a2dpsrcd's audio thread get SCHED_FIFO, and the peers' packages are
Debian's (see bench/README.md).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

import dbus  # noqa: E402

from harness import PrivateBus, BlueZDouble, Daemon, wait_for, REC_RECORD, rec_header_len  # noqa: E402

BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
DAEMON = os.path.join(BUILD, 'a2dpsrcd')
PLUGIN = os.path.join(BUILD, 'tests', 'libasound_module_pcm_a2dpsrc_test.so')
ANALYZER = os.path.join(BUILD, 'tests', 'speaker-analyze')
FLOOR = os.path.join(BUILD, 'bench', 'sbc-floor')
GEN = os.path.join(BUILD, 'bench', 'gen-audio')
CAPTURE_FLOOR = os.path.join(BUILD, 'bench', 'capture-floor')
RSS_FLOOR = os.path.join(BUILD, 'bench', 'rss-floor')

RATE = 44100
TONE = 997          # not 1000: see docs/performance.md ("Signals")
TONE_OFFSET = 1
AMPLITUDE = 0.5
CONFIG_HEX = '21150235'                  # 44.1k JS, 16 blk, 8 sb, loudness, 2..53
# the speaker: 44.1 kHz only, bitpool <= 53, no dual channel: with dual
# channel a2dpsrcd (and PipeWire) would stream SBC-XQ, and the table
# compares plain SBC (SBC-XQ has its row in the codec table)
SINK_CAPS = bytes([0x23, 0xff, 2, 53])
WRITE_MTU = 895
SPEAKER = '00:11:22:33:44:55'
SPEAKER_PATH = '/org/bluez/hci0/dev_00_11_22_33_44_55'
BLUEALSA_PCM = 'bluealsa:DEV=%s,PROFILE=a2dp' % SPEAKER
RT_PRIO = 40                 # a2dpsrcd's audio thread
# "none" (no local output at all) aborts the daemon when streaming starts
# (stream.c start_engine() marks a NULL local PCM as running, process() then
# calls snd_pcm_drop(NULL)); until that is fixed the bench, like make demo,
# gives it alsa-lib's "null" PCM, which the audio thread drops at the first
# period and never writes to.  --local-output none selects the real thing.
LOCAL_OUTPUT = 'null'
DOUBLE_RT_PRIO = 30          # the speaker double: the measuring instrument
CLK_TCK = os.sysconf('SC_CLK_TCK')
PROPS = 'org.freedesktop.DBus.Properties'


def say(msg=''):
    print(msg, file=sys.stderr, flush=True)


# ---- /proc ---------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def proc_snapshot(pid):
    """CPU and context-switch counters of a process and its threads."""
    stat = _read('/proc/%d/stat' % pid)
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
        status, sched = _read(base + 'status'), _read(base + 'schedstat')
        comm = (_read(base + 'comm') or '?').strip()
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
    status = _read('/proc/%d/status' % pid) or ''
    rollup = _read('/proc/%d/smaps_rollup' % pid) or ''

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
    for line in (_read('/proc/%d/smaps' % pid) or '').splitlines():
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
        st = _read('/proc/%s/stat' % d)
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
        if (_read('/proc/%s/comm' % d) or '').strip() != name:
            continue
        try:
            with open('/proc/%s/environ' % d, 'rb') as f:
                if want in f.read().split(b'\0'):
                    out.append(int(d))
        except OSError:
            pass
    return out


def rt_boost(pid, prio=DOUBLE_RT_PRIO):
    """SCHED_FIFO for every thread of pid (threads created later inherit)."""
    r = subprocess.run(['chrt', '-a', '-f', '-p', str(prio), str(pid)], capture_output=True, text=True)
    return r.returncode == 0


# ---- helpers -------------------------------------------------------------------

class NotifySocket:
    """A $NOTIFY_SOCKET that records when READY=1 arrives."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode(errors='replace')
            except socket.timeout:
                return None
            t = time.monotonic()
            if 'READY=1' in msg.split('\n'):
                return t

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def stop_proc(proc, timeout=5.0, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass


def kill_pid(pid, timeout=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists('/proc/%d' % pid) or 'Z' == (_read('/proc/%d/stat' % pid) or ' ) Z').split(') ')[1][:1]:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Load:
    """stress-ng --cpu 2: two CPU hogs at normal priority."""

    def __init__(self, workers=2):
        self.proc = subprocess.Popen(['stress-ng', '--cpu', str(workers), '--quiet'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)   # stress-ng and its own workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def analyze(rec, signal_kind, audio, starts=None):
    args = [ANALYZER]
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


# ---- the floor -------------------------------------------------------------------

def run_floor(audio, min_cpu, paced_seconds, tmp):
    out = {}
    for kind in ('sine', 'music'):
        runs = []
        for _ in range(3):
            r = subprocess.run([FLOOR, '--config', CONFIG_HEX, '--min-cpu', str(min_cpu),
                                audio['%s_raw' % kind]], capture_output=True, text=True, check=True)
            runs.append(json.loads(r.stdout))
        best = min(runs, key=lambda x: x['cpu_per_audio_s'])
        out[kind] = dict(best, runs_cpu_per_audio_s=[x['cpu_per_audio_s'] for x in runs])
    # the paced floor: one timerfd wake-up per packet, encode, send to a
    # reading process; the least any real-time A2DP source can cost here
    r = subprocess.run([FLOOR, '--config', CONFIG_HEX, '--paced', str(paced_seconds), '--mtu', str(WRITE_MTU),
                        audio['sine_raw']], capture_output=True, text=True, check=True)
    out['paced'] = json.loads(r.stdout)
    # the libraries alone: what any process linking them is resident for
    rss = sorted(json.loads(subprocess.run([RSS_FLOOR], capture_output=True, text=True,
                                           check=True).stdout)['peak_rss_kib'] for _ in range(5))
    out['rss_floor'] = {'peak_rss_kib_median': rss[2], 'runs': rss}
    # capture alone, in-process, through the same test plugin with the
    # daemon's period: what "capture included" adds here
    for kind in ('sine', 'music'):
        conf, starts, args = ours_setup(tmp, 'capfloor-' + kind, audio, 1)
        env = dict(os.environ, ALSA_CONFIG_PATH=conf)
        r = subprocess.run([CAPTURE_FLOOR, '-D', 'board', '--rate', str(RATE), '--period', '896',
                            '--seconds', str(paced_seconds / 2)], capture_output=True, text=True, env=env, check=True)
        out['capture_' + kind] = json.loads(r.stdout)
    return out


# ---- a2dpsrcd --------------------------------------------------------------------

def statistics_of(bus):
    obj = bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc')
    st = obj.Get('org.a2dpsrc.Manager1', 'Statistics', dbus_interface=PROPS)
    return {str(k): int(v) for k, v in st.items()}


def ours_setup(tmp, kind, audio, seconds_hint):
    starts = os.path.join(tmp, 'starts-%s.txt' % kind)
    conf = os.path.join(tmp, 'asound-%s.conf' % kind)
    with open(conf, 'w') as f:
        f.write('</usr/share/alsa/alsa.conf>\n')
        f.write('pcm_type.a2dpsrc_test { lib "%s" }\n' % PLUGIN)
        # The plugin plays the pre-made signal from memory, as a driver
        # hands over a DMA buffer: capture costs a copy, as on a board, not
        # the plugin's per-sample sin() (that was 68 % of the daemon's
        # instructions when the plugin synthesized the sine).
        raw = audio['music_raw'] if kind == 'music' or kind == 'capfloor-music' else audio['sine_raw']
        f.write('pcm.board { type a2dpsrc_test source "file" file "%s" start_file "%s" }\n' % (raw, starts))
    state = os.path.join(tmp, 'state-%s' % kind)
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, 'state'), 'w') as f:
        f.write('a2dpsrc-state 1\nspeaker-mode=true\nvolume=127\n')
    power = os.path.join(tmp, 'power')
    os.makedirs(power, exist_ok=True)
    args = ['--capture', 'board', '--local-output', LOCAL_OUTPUT, '--state-dir', state,
            '--power-supply', power, '--rt-priority', str(RT_PRIO),
            # the signals are made at RATE: a speaker offering 48 kHz too
            # (the codec runs) must not get them played at 48 kHz
            '--rate', str(RATE)]
    return conf, starts, args


def new_world(speaker=None):
    """speaker: the AddDevice options saying what the speaker offers
    (default: SBC only, SINK_CAPS)."""
    bus = PrivateBus().start()
    bluez = BlueZDouble(bus).start()
    rt = rt_boost(bluez.proc.pid)
    bluez.add_speaker(SPEAKER, 'Bench Speaker', WriteMTU=WRITE_MTU, Volume=127,
                      **(speaker or {'SinkCapabilities': SINK_CAPS}))
    return bus, bluez, rt


def wait_active(bluez, timeout=10):
    return wait_for(lambda: any(str(p.get('State')) == 'active' and int(p.get('Packets', 0)) > 0
                                for p in bluez.transports().values()), timeout, what='streaming')


def run_ours(tmp, kind, audio, seconds, load=False, warmup=1.0, valgrind=None, speaker=None,
             daemon_path=None, tag='', rate=RATE):
    """One configuration of a2dpsrcd; returns its figures.  speaker: what
    the speaker offers (new_world); daemon_path: another build; tag: a name
    suffix (the codec runs)."""
    name = 'ours-%s%s%s' % (kind, '-load' if load else '', tag)
    say('== %s: %g s' % (name, seconds))
    conf, starts, args = ours_setup(tmp, kind, audio, seconds)
    bus, bluez, rt = new_world(speaker)
    notify = NotifySocket(os.path.join(tmp, 'notify-%s' % name))
    stress = Load() if load else None
    daemon = Daemon(bus, daemon_path or DAEMON, log_dir=os.path.join(tmp, name))
    os.makedirs(daemon.dir, exist_ok=True)
    res = {'config': name, 'signal': kind, 'load': load, 'double_rt': rt}
    try:
        env = {'ALSA_CONFIG_PATH': conf, 'NOTIFY_SOCKET': notify.path}
        t_spawn = time.monotonic()
        if valgrind:
            daemon.path = 'valgrind'
            daemon.start(valgrind + [DAEMON] + args, env)
        else:
            daemon.start(args, env)
        t_ready = notify.wait_ready(60 if valgrind else 10)
        res['ready_ms'] = (t_ready - t_spawn) * 1000 if t_ready else None
        daemon.wait_for(lambda: bluez.registered_endpoints(), 60 if valgrind else 10, what='registration')
        bluez.connect_speaker(SPEAKER_PATH)
        wait_active(bluez, 60 if valgrind else 10)
        tp = list(bluez.transports().values())[0]
        res['transport'] = {'Codec': int(tp['Codec']), 'Configuration': bytes(tp['Configuration']).hex()}
        time.sleep(warmup)
        st0, p0 = statistics_of(bus), proc_snapshot(daemon.pid)
        if valgrind:
            subprocess.run(['callgrind_control', '-z', str(daemon.pid)], capture_output=True, check=True)
            st0, p0 = statistics_of(bus), proc_snapshot(daemon.pid)
        w0 = time.monotonic()
        time.sleep(seconds)
        w1 = time.monotonic()
        if valgrind:
            p1 = proc_snapshot(daemon.pid)
            subprocess.run(['callgrind_control', '-d', str(daemon.pid)], capture_output=True, check=True)
            st1 = statistics_of(bus)
        else:
            st1, p1 = statistics_of(bus), proc_snapshot(daemon.pid)
        res['memory'] = proc_memory(daemon.pid)
        log = daemon.log_text()
        daemon.stop()
        bluez.flush()
        rec = sorted(bluez.recordings())[-1]
        res['recording'] = rec
    finally:
        if stress:
            stress.stop()
        notify.close()
        if daemon.returncode is None:
            daemon.stop()
    d = proc_delta(p0, p1)
    audio_s = (st1['BluetoothFrames'] - st0['BluetoothFrames']) / rate
    res['window_t'] = [w0, w1]
    res['audio_s'] = audio_s
    res['window_wall_s'] = d['wall_s']
    res['cpu'] = {'ticks_s': d['cpu_ticks_s'], 'sched_s': d['cpu_sched_s'],
                  'per_audio_s': d['cpu_sched_s'] / audio_s if audio_s else None,
                  'ticks_per_audio_s': d['cpu_ticks_s'] / audio_s if audio_s else None}
    audio_tid = [t for t, v in d['threads'].items() if v['comm'] == 'a2dpsrc-audio']
    th = d['threads'][audio_tid[0]] if audio_tid else None
    res['threads'] = {v['comm'] + '/' + str(t): v for t, v in d['threads'].items()}
    res['stats_window'] = {k: st1[k] - st0.get(k, 0) for k in
                           ('Packets', 'FullPackets', 'Wakeups', 'SbcFrames', 'BluetoothFrames',
                            'CapturedFrames', 'DroppedMs', 'CaptureXruns', 'Underruns', 'Stalls')}
    res['stats_end'] = st1
    # the period streaming ran at: the last engine start logged (the
    # engine starts at the capture's own period, then restarts at the
    # period of one packet once the codec is known: the first line is not
    # the period measured)
    m = re.findall(r'audio engine at \d+ Hz, period (\d+) frames', log)
    period = int(m[-1]) if m else None
    res['capture_period_frames'] = period
    pk = res['stats_window']['Packets']
    res['wakeups'] = {
        'thread_voluntary_per_s': th['vol'] / d['wall_s'] if th else None,
        'thread_involuntary_per_s': th['nonvol'] / d['wall_s'] if th else None,
        'thread_switches_per_packet': (th['vol'] + th['nonvol']) / pk if th and pk else None,
        'thread_voluntary_per_packet': th['vol'] / pk if th and pk else None,
        'process_voluntary_per_s': sum(v['vol'] for v in d['threads'].values()) / d['wall_s'],
        'daemon_counted_per_s': res['stats_window']['Wakeups'] / d['wall_s'],
        'packets_per_s': pk / d['wall_s'],
        'periods_per_s': RATE / period if period else None,
    }
    res['daemon_latency_us'] = {'p50': st1['LatencyP50Us'], 'p99': st1['LatencyP99Us'],
                                'max': st1['LatencyMaxUs'],
                                'note': 'capture read -> socket write, whole run, 0.5 ms buckets'}
    res['full_packets_pct_daemon'] = 100.0 * res['stats_window']['FullPackets'] / pk if pk else None
    if not valgrind:
        res['speaker_whole'] = speaker_figures(analyze(rec, kind, audio, starts))
        win = trim_recording(rec, w0, w1, rec + '.window')
        res['speaker'] = speaker_figures(analyze(win, kind, audio, starts))
        res['start_burst'] = start_burst(rec)
        res['wire_bytes'], res['wire_packets'] = window_bytes(rec, w0, w1)
    bluez.close()
    bus.close()
    return res


def run_startup(tmp, audio, n):
    """Process start -> READY=1 (sd_notify) and -> endpoint registered, n times."""
    say('== ours-startup: %d starts' % n)
    conf, starts, args = ours_setup(tmp, 'sine', audio, 1)
    bus, bluez, rt = new_world()
    ready, registered = [], []
    try:
        for i in range(n):
            notify = NotifySocket(os.path.join(tmp, 'notify-start-%d' % i))
            daemon = Daemon(bus, DAEMON, log_dir=os.path.join(tmp, 'startup'))
            os.makedirs(daemon.dir, exist_ok=True)
            t0 = time.monotonic()
            daemon.start(args, {'ALSA_CONFIG_PATH': conf, 'NOTIFY_SOCKET': notify.path})
            t = notify.wait_ready(10)
            ready.append((t - t0) * 1000 if t else None)
            registered.append(time_to_registration(bluez, t0))
            daemon.stop()
            notify.close()
            wait_for(lambda: not bluez.registered_endpoints(), 5, what='unregistration')
    finally:
        bluez.close()
        bus.close()
    ok = [x for x in ready if x is not None]
    return {'ready_ms': ready, 'ready_ms_median': statistics.median(ok) if ok else None,
            'registered_ms': registered,
            'registered_ms_median': statistics.median([x for x in registered if x is not None])
            if any(x is not None for x in registered) else None}


def time_to_registration(bluez, t0, timeout=15.0):
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            if bluez.registered_endpoints():
                return (time.monotonic() - t0) * 1000
        except dbus.exceptions.DBusException:
            pass
        time.sleep(0.002)
    return None


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


# ---- peers -------------------------------------------------------------------------

PIPEWIRE_CONF = '''# a2dpsrc bench: a headless PipeWire serving only Bluetooth (written for
# the bench; every key is documented in pipewire.conf(5)).
context.properties = {
    core.daemon  = true
    core.name    = pipewire-0
    support.dbus = false
    log.level    = 2
}
context.spa-libs = {
    audio.convert.* = audioconvert/libspa-audioconvert
    support.*       = support/libspa-support
}
context.modules = [
    { name = libpipewire-module-rt args = { nice.level = -11 } flags = [ ifexists nofail ] }
    { name = libpipewire-module-protocol-native }
    { name = libpipewire-module-metadata }
    { name = libpipewire-module-spa-device-factory }
    { name = libpipewire-module-spa-node-factory }
    { name = libpipewire-module-client-node }
    { name = libpipewire-module-client-device }
    { name = libpipewire-module-access args = { } }
    { name = libpipewire-module-adapter }
    { name = libpipewire-module-link-factory }
    { name = libpipewire-module-session-manager }
]
context.objects = [
    { factory = spa-node-factory
      args = { factory.name = support.node.driver node.name = Dummy-Driver
               node.group = pipewire.dummy priority.driver = 20000 } }
    { factory = spa-node-factory
      args = { factory.name = support.node.driver node.name = Freewheel-Driver
               priority.driver = 19000 node.group = pipewire.freewheel node.freewheel = true } }
]
context.exec = [
    { path = "/usr/bin/wireplumber" args = "" }
]
'''

WP_MAIN = '''-- a2dpsrc bench: no sound card, no cameras, no session bus (portal)
alsa_monitor.enabled = false
v4l2_monitor.enabled = false
libcamera_monitor.enabled = false
default_access.properties["enable-flatpak-portal"] = false
'''

WP_BLUETOOTH = '''-- a2dpsrc bench: no logind (headless), A2DP only
bluez_monitor.properties["with-logind"] = false
bluez_monitor.properties["bluez5.headset-roles"] = "[ ]"
'''


def peer_env(bus, tmp):
    env = bus.env
    env.pop('DBUS_SESSION_BUS_ADDRESS', None)
    return env


def pipewire_env(bus, tmp, wp_bluetooth=''):
    """wp_bluetooth: more lines for WirePlumber's bluetooth fragment (the
    codec runs: bluez5.codecs)."""
    env = peer_env(bus, tmp)
    base = os.path.join(tmp, 'pw')
    for d in ('run', 'xdg/wireplumber/main.lua.d', 'xdg/wireplumber/bluetooth.lua.d', 'state', 'data'):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    os.chmod(os.path.join(base, 'run'), 0o700)
    with open(os.path.join(base, 'pipewire.conf'), 'w') as f:
        f.write(PIPEWIRE_CONF)
    with open(os.path.join(base, 'xdg/wireplumber/main.lua.d/51-a2dpsrc-bench.lua'), 'w') as f:
        f.write(WP_MAIN)
    with open(os.path.join(base, 'xdg/wireplumber/bluetooth.lua.d/51-a2dpsrc-bench.lua'), 'w') as f:
        f.write(WP_BLUETOOTH + wp_bluetooth)
    env.update(XDG_RUNTIME_DIR=os.path.join(base, 'run'), XDG_CONFIG_HOME=os.path.join(base, 'xdg'),
               XDG_STATE_HOME=os.path.join(base, 'state'), XDG_DATA_HOME=os.path.join(base, 'data'),
               PIPEWIRE_LOG_SYSTEMD='false', PIPEWIRE_RUNTIME_DIR=os.path.join(base, 'run'))
    return env, os.path.join(base, 'pipewire.conf')


class Peer:
    """Start/stop one peer stack; pids() names the daemon processes.
    opts: 'args' (more bluealsa arguments), 'wp_bluetooth' (WirePlumber lines)."""

    def __init__(self, kind, bus, tmp, valgrind=None, opts=None):
        self.kind, self.bus, self.tmp = kind, bus, tmp
        self.opts = opts or {}
        self.valgrind = valgrind or []
        self.proc = None
        self.wp = None
        self.log = os.path.join(tmp, '%s.log' % kind)

    def start(self):
        if self.kind == 'bluealsa':
            self.env = peer_env(self.bus, self.tmp)
            argv = self.valgrind + ['bluealsa', '-p', 'a2dp-source'] + self.opts.get('args', [])
        else:
            self.env, conf = pipewire_env(self.bus, self.tmp, self.opts.get('wp_bluetooth', ''))
            argv = ['pipewire', '-c', conf]
        with open(self.log, 'ab') as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def daemon_pids(self):
        pids = {self.kind: self.proc.pid}
        if self.kind == 'pipewire':
            if self.wp is None:
                self.wp = self.find_wireplumber()
            if self.wp:
                pids['wireplumber'] = self.wp
        return pids

    def find_wireplumber(self):
        wp = children_named(self.proc.pid, 'wireplumber') or \
            processes_with_env('wireplumber', 'XDG_RUNTIME_DIR', self.env['XDG_RUNTIME_DIR'])
        return wp[0] if wp else None

    def node_name(self):
        r = subprocess.run(['pw-cli', 'ls', 'Node'], env=self.env, capture_output=True, text=True,
                           timeout=10)
        m = re.search(r'node\.name = "(bluez_output\.[^"]+)"', r.stdout)
        return m.group(1) if m else None

    def play(self, wav):
        if self.kind == 'bluealsa':
            argv = ['aplay', '-q', '-D', BLUEALSA_PCM, wav]
        else:
            node = wait_for(self.node_name, 15, what='PipeWire bluez_output node')
            argv = ['pw-play', '--target', node, wav]
        self.play_argv = argv
        with open(self.log + '.client', 'ab') as log:
            self.client = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        return self.client

    def stop(self):
        if getattr(self, 'client', None):
            stop_proc(self.client)
        wp = self.wp if self.kind == 'pipewire' else None
        if self.kind == 'pipewire' and wp is None and self.proc and self.proc.poll() is None:
            wp = self.find_wireplumber()
        stop_proc(self.proc)
        if wp:
            kill_pid(wp)


def peer_versions():
    v = {}
    for pkg in ('bluez-alsa-utils', 'libasound2-plugin-bluez', 'pipewire', 'wireplumber',
                'libspa-0.2-bluetooth', 'stress-ng', 'libsbc1', 'valgrind'):
        r = subprocess.run(['dpkg-query', '-W', '-f', '${Version}\n', pkg], capture_output=True, text=True)
        v[pkg] = r.stdout.split('\n')[0].strip() if r.returncode == 0 and r.stdout.strip() else None
    return v


def peer_missing(kind):
    need = {'bluealsa': ['bluealsa', 'aplay'], 'pipewire': ['pipewire', 'wireplumber', 'pw-play', 'pw-cli']}
    missing = [b for b in need[kind] if not shutil.which(b)]
    if kind == 'bluealsa' and not os.path.exists('/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_bluealsa.so') \
            and not any(os.path.exists(os.path.join(d, 'libasound_module_pcm_bluealsa.so'))
                        for d in ('/usr/lib/%s/alsa-lib' % t for t in
                                  (platform.machine() + '-linux-gnu', 'aarch64-linux-gnu'))):
        missing.append('libasound2-plugin-bluez')
    return missing


def run_peer(tmp, kind, sig, audio, seconds, warmup=1.0, valgrind=None, speaker=None, opts=None, tag=''):
    """speaker, tag: as run_ours; opts: Peer's (the codec runs)."""
    name = '%s-%s%s%s' % (kind, sig, '-callgrind' if valgrind else '', tag)
    say('== %s: %g s' % (name, seconds))
    ptmp = os.path.join(tmp, name)
    os.makedirs(ptmp, exist_ok=True)
    bus, bluez, rt = new_world(speaker)
    peer = Peer(kind, bus, ptmp, valgrind, opts)
    res = {'config': name, 'signal': sig, 'double_rt': rt}
    try:
        t0 = time.monotonic()
        peer.start()
        res['registered_ms'] = time_to_registration(bluez, t0, 30)
        if res['registered_ms'] is None:
            raise RuntimeError('%s registered no endpoint (log %s)' % (kind, peer.log))
        if kind == 'pipewire':
            time.sleep(1.0)   # WirePlumber connects the known speaker itself (bluez5.auto-connect)
        tr = bluez.transports()
        if not tr:
            bluez.connect_speaker(SPEAKER_PATH)
        wait_for(lambda: bluez.transports(), 10, what='transport configured')
        client = peer.play(audio['%s_wav' % sig])
        wait_active(bluez, 20)
        tp = list(bluez.transports().values())[0]
        res['transport'] = {'Codec': int(tp['Codec']), 'Configuration': bytes(tp['Configuration']).hex()}
        time.sleep(warmup)
        pids = peer.daemon_pids()
        if kind == 'pipewire' and 'wireplumber' not in pids:
            raise RuntimeError('WirePlumber process not found')
        if valgrind:
            subprocess.run(['callgrind_control', '-z', str(peer.proc.pid)], capture_output=True, check=True)
        snaps0 = {k: proc_snapshot(p) for k, p in pids.items()}
        c0 = proc_snapshot(client.pid)
        w0 = time.monotonic()
        time.sleep(seconds)
        w1 = time.monotonic()
        if valgrind:
            subprocess.run(['callgrind_control', '-d', str(peer.proc.pid)], capture_output=True, check=True)
        snaps1 = {k: proc_snapshot(p) for k, p in pids.items()}
        c1 = proc_snapshot(client.pid)
        if client.poll() is not None:
            raise RuntimeError('%s client ended early (%s)' % (kind, client.returncode))
        res['memory'] = {k: proc_memory(p) for k, p in pids.items()}
        res['client_memory'] = proc_memory(client.pid)
        peer.stop()
        bluez.flush()
        rec = sorted(bluez.recordings())[-1]
        res['recording'] = rec
    finally:
        peer.stop()
    res['client_argv'] = peer.play_argv
    deltas = {k: proc_delta(snaps0[k], snaps1[k]) for k in snaps0 if snaps0[k] and snaps1[k]}
    wall = statistics.mean(d['wall_s'] for d in deltas.values())
    res['window_wall_s'] = wall
    res['audio_s'] = wall
    cpu = sum(d['cpu_sched_s'] for d in deltas.values())
    res['cpu'] = {'sched_s': cpu, 'ticks_s': sum(d['cpu_ticks_s'] for d in deltas.values()),
                  'per_audio_s': cpu / wall,
                  'per_process_per_audio_s': {k: d['cpu_sched_s'] / wall for k, d in deltas.items()}}
    cd = proc_delta(c0, c1) if c0 and c1 else None
    res['client_cpu_per_audio_s'] = cd['cpu_sched_s'] / wall if cd else None
    threads = {}
    for k, d in deltas.items():
        for t, v in d['threads'].items():
            threads['%s:%s/%d' % (k, v['comm'], t)] = v
    res['threads'] = threads
    busiest = max(threads.items(), key=lambda kv: kv[1]['run_s'])
    res['speaker_whole'] = speaker_figures(analyze(rec, sig, audio))
    res['speaker'] = speaker_figures(analyze(trim_recording(rec, w0, w1, rec + '.window'), sig, audio))
    res['start_burst'] = start_burst(rec)
    res['wire_bytes'], res['wire_packets'] = window_bytes(rec, w0, w1)
    pk = res['speaker']['packets'] / res['speaker']['duration_wall_s'] if res['speaker']['duration_wall_s'] else None
    res['wakeups'] = {
        'streaming_thread': busiest[0],
        'thread_voluntary_per_s': busiest[1]['vol'] / wall,
        'thread_involuntary_per_s': busiest[1]['nonvol'] / wall,
        'process_voluntary_per_s': sum(v['vol'] for v in threads.values()) / wall,
        'packets_per_s': pk,
        'thread_voluntary_per_packet': busiest[1]['vol'] / wall / pk if pk else None,
    }
    res['peak_rss_kib'] = {k: m['peak_rss_kib'] for k, m in res['memory'].items()}
    bluez.close()
    bus.close()
    return res


def run_peer_startup(tmp, kind, n):
    say('== %s-startup: %d starts' % (kind, n))
    out = []
    bus, bluez, rt = new_world()
    try:
        for i in range(n):
            ptmp = os.path.join(tmp, '%s-start-%d' % (kind, i))
            os.makedirs(ptmp, exist_ok=True)
            peer = Peer(kind, bus, ptmp)
            t0 = time.monotonic()
            peer.start()
            out.append(time_to_registration(bluez, t0, 30))
            peer.stop()
            try:
                wait_for(lambda: not bluez.registered_endpoints(), 10, what='unregistration')
            except TimeoutError:
                pass
    finally:
        bluez.close()
        bus.close()
    ok = [x for x in out if x is not None]
    return {'registered_ms': out, 'registered_ms_median': statistics.median(ok) if ok else None}


# ---- the table -----------------------------------------------------------------------

def fmt(v, nd=1, unit=''):
    if v is None:
        return '—'
    if isinstance(v, str):
        return v
    return ('%.*f' % (nd, v)) + unit


def ratio(a, b, nd=2):
    if a is None or b is None or not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return '—'
    return '%.*f×' % (nd, a / b)


def verdict(ok):
    if ok is None:
        return 'not measured'
    return '**met**' if ok else '**NOT MET**'


def build_table(R):
    """Rows: metric, target, ours, ours under load, bluez-alsa, PipeWire+WP,
    ours/bluez-alsa, ours/PW, met."""
    o, ol = R['runs'].get('ours-sine'), R['runs'].get('ours-sine-load')
    om = R['runs'].get('ours-music')
    ba, pw = R['runs'].get('bluealsa-sine'), R['runs'].get('pipewire-sine')
    bam, pwm = R['runs'].get('bluealsa-music'), R['runs'].get('pipewire-music')
    fl = R['floor']
    floor_ms = fl['sine']['cpu_per_audio_s'] * 1000
    floor_music_ms = fl['music']['cpu_per_audio_s'] * 1000
    pkt_ms = packet_ms()
    rows = []
    notes = R.setdefault('peer_notes', {})

    def peer_cell(run, getter, nd=1, kind=None):
        if run is None:
            why = notes.get(kind) or 'not run'
            return 'not measured: %s' % why
        if isinstance(run, dict) and run.get('error'):
            return 'not measured: %s' % run['error']
        try:
            return fmt(getter(run), nd)
        except (KeyError, TypeError):
            return '—'

    def val(run, getter):
        if not run or run.get('error'):
            return None
        try:
            return getter(run)
        except (KeyError, TypeError):
            return None

    def meets(getter, test):
        """test() on ours, and on ours under load when that ran."""
        v = val(o, getter)
        if v is None:
            return None
        ok = bool(test(v))
        if ol and not ol.get('error'):
            vl = val(ol, getter)
            ok = ok and vl is not None and bool(test(vl))
        return ok

    def row(metric, target, getter, nd=1, met=None, ratios=True, load=True, peers=True):
        ours = val(o, getter)
        rows.append([metric, target, fmt(ours, nd),
                     fmt(val(ol, getter), nd) if load else '',
                     peer_cell(ba, getter, nd, 'bluealsa') if peers else 'n/a',
                     peer_cell(pw, getter, nd, 'pipewire') if peers else 'n/a',
                     ratio(ours, val(ba, getter)) if ratios and peers else '',
                     ratio(ours, val(pw, getter)) if ratios and peers else '',
                     met if met is not None else ''])

    cpu = lambda r: r['cpu']['per_audio_s'] * 1000   # noqa: E731
    ours_cpu, load_cpu = val(o, cpu), val(ol, cpu)
    ba_cpu, pw_cpu = val(ba, cpu), val(pw, cpu)
    m1 = None if ours_cpu is None else ours_cpu <= 3 * floor_ms
    m1l = None if load_cpu is None else load_cpu <= 3 * floor_ms
    m2 = None if ba_cpu is None or ours_cpu is None else ours_cpu <= 0.15 * ba_cpu
    m3 = None if pw_cpu is None or ours_cpu is None else ours_cpu <= 0.1 * pw_cpu
    row('CPU, ms per audio-second, daemon process(es), sine (PipeWire: pipewire + wireplumber)',
        '≤ 3× floor = %.2f' % (3 * floor_ms), cpu, 2,
        met='≤3× floor: %s (load: %s); ≤0.15× bluez-alsa: %s; ≤0.1× PW+WP: %s'
            % (verdict(m1), verdict(m1l), verdict(m2), verdict(m3)))
    rows.append(['CPU ÷ floor (libsbc alone, %.3f ms/s sine, %.3f ms/s music, same run)' % (floor_ms, floor_music_ms),
                 '≤ 3×', ratio(ours_cpu, floor_ms, 1), ratio(load_cpu, floor_ms, 1),
                 ratio(ba_cpu, floor_ms, 1) if ba_cpu else peer_cell(ba, cpu, 2, 'bluealsa'),
                 ratio(pw_cpu, floor_ms, 1) if pw_cpu else peer_cell(pw, cpu, 2, 'pipewire'),
                 '', '', verdict(m1)])
    paced_ms = fl['paced']['cpu_per_audio_s'] * 1000
    rows.append(['CPU ÷ paced floor (libsbc + 1 timerfd wake-up + 1 send per packet: %.2f ms/s, same run)'
                 % paced_ms, '—', ratio(ours_cpu, paced_ms, 1), ratio(load_cpu, paced_ms, 1),
                 ratio(ba_cpu, paced_ms, 1) if ba_cpu else peer_cell(ba, cpu, 2, 'bluealsa'),
                 ratio(pw_cpu, paced_ms, 1) if pw_cpu else peer_cell(pw, cpu, 2, 'pipewire'), '', '', ''])
    music_cpu = lambda r: r['cpu']['per_audio_s'] * 1000   # noqa: E731
    rows.append(['CPU, ms per audio-second, music', '≤ 3× floor = %.2f' % (3 * floor_music_ms),
                 fmt(val(om, music_cpu), 2), '',
                 peer_cell(bam, music_cpu, 2, 'bluealsa'), peer_cell(pwm, music_cpu, 2, 'pipewire'),
                 ratio(val(om, music_cpu), val(bam, music_cpu)), ratio(val(om, music_cpu), val(pwm, music_cpu)),
                 verdict(None if val(om, music_cpu) is None else val(om, music_cpu) <= 3 * floor_music_ms)])
    client = lambda r: r['client_cpu_per_audio_s'] * 1000   # noqa: E731
    rows.append(['CPU of the feeding client, ms per audio-second (aplay / pw-play), sine', '—',
                 'in-process', '', peer_cell(ba, client, 2, 'bluealsa'), peer_cell(pw, client, 2, 'pipewire'),
                 '', '', ''])
    if fl.get('capture_sine') and fl.get('capture_music'):
        cap_s = fl['capture_sine']['cpu_per_audio_s'] * 1000
        cap_m = fl['capture_music']['cpu_per_audio_s'] * 1000
        rows.append(['Capture alone through the test plugin, same period, in its own process '
                     '(capture-floor), ms per audio-second, sine / music', '—',
                     '%.2f / %.2f' % (cap_s, cap_m), '', '', '', '', '', ''])
        net = lambda v, c: None if v is None else v - c   # noqa: E731
        o_net, om_net = net(ours_cpu, cap_s), net(val(om, music_cpu), cap_m)
        rows.append(['a2dpsrc CPU minus capture alone (≈ the daemon\'s own share), sine / music, ms per '
                     'audio-second; peers: their daemon (their feed runs in the client)', '—',
                     '%s / %s' % (fmt(o_net, 2), fmt(om_net, 2)),
                     fmt(net(load_cpu, cap_s), 2),
                     '%s / %s' % (fmt(ba_cpu, 2), fmt(val(bam, music_cpu), 2)),
                     '%s / %s' % (fmt(pw_cpu, 2), fmt(val(pwm, music_cpu), 2)),
                     '%s / %s' % (ratio(o_net, ba_cpu), ratio(om_net, val(bam, music_cpu))),
                     '%s / %s' % (ratio(o_net, pw_cpu), ratio(om_net, val(pwm, music_cpu))),
                     '≤0.15× bluez-alsa: %s; ≤0.1× PW+WP: %s' % (
                         verdict(None if o_net is None or ba_cpu is None else o_net <= 0.15 * ba_cpu),
                         verdict(None if o_net is None or pw_cpu is None else o_net <= 0.1 * pw_cpu))])
    cg = R.get('callgrind') or {}
    if cg.get('daemon') and cg.get('floor'):
        fpa = cg['floor']['per_audio_s']
        bcg = cg.get('bluealsa') or {}
        # user-space instructions only: the kernel's share (wake-ups,
        # system calls), which dominates CPU time on this VM, is not in it
        rows.append(['User-space instructions per audio-second (callgrind, %.0f s, sine, capture included): '
                     'daemon process / floor (sbc_encode only)' % cg['daemon']['audio_s'],
                     '≤ 3×', '%.2fM / %.2fM = %s' % (cg['daemon']['per_audio_s'] / 1e6, fpa / 1e6,
                                                    ratio(cg['daemon']['per_audio_s'], fpa, 2)),
                     '', '%.2fM' % (bcg['per_audio_s'] / 1e6) if bcg.get('per_audio_s') else
                     'not measured' + (': ' + cg['bluealsa_error'] if cg.get('bluealsa_error') else ''),
                     'not measured (valgrind)',
                     ratio(cg['daemon']['per_audio_s'], bcg.get('per_audio_s')) if bcg.get('per_audio_s') else '',
                     '',
                     'in user-space instructions: %s (kernel time not counted); sbc_encode is %.0f%% of them'
                     % (verdict(cg['daemon']['per_audio_s'] <= 3 * fpa),
                        100 * (cg['daemon'].get('sbc_encode_share') or 0))])
        rows.append(['… without the test capture plugin (its copy of the signal is %.0f%% of the daemon\'s instructions)'
                     % (100.0 * cg['daemon']['test_plugin_inclusive'] / cg['daemon']['instructions']),
                     '—', '%.2fM / %.2fM = %s' % (cg['daemon']['without_test_plugin_per_audio_s'] / 1e6, fpa / 1e6,
                                                  ratio(cg['daemon']['without_test_plugin_per_audio_s'], fpa, 2)),
                     '', '', '', '', '', ''])
    full = lambda r: r['speaker']['full_packets_pct']   # noqa: E731
    row('Packets full (as many frames as fit MTU 895: 7), %', '≥ 95', full, 1,
        met=verdict(meets(full, lambda v: v >= 95)))
    row('Packets with a single SBC frame, %', '—', lambda r: r['speaker']['single_frame_pct'], 1, ratios=False)
    wk = lambda r: r['wakeups']['thread_voluntary_per_s']   # noqa: E731
    allowed = None
    if o and o['wakeups'].get('periods_per_s'):
        allowed = o['wakeups']['packets_per_s'] + o['wakeups']['periods_per_s']
    row('Wake-ups/s of the streaming thread (voluntary context switches)',
        '≤ packets/s + periods/s = %s' % fmt(allowed, 1), wk, 1,
        met=verdict(meets(wk, lambda v: allowed is not None and v <= allowed)))
    row('… per packet sent', '≤ 2', lambda r: r['wakeups']['thread_voluntary_per_packet'], 2)
    row('Wake-ups/s, all threads of the daemon process(es)', '—',
        lambda r: r['wakeups']['process_voluntary_per_s'], 1)
    # latency
    def dlat(run):
        if not run or run.get('error'):
            return '—'
        d = run['daemon_latency_us']
        # percentiles are the upper bounds of 0.5 ms buckets
        pct = lambda us: ('≤ %.1f' % (us / 1000.0)) if us <= 500 else ('%.1f' % (us / 1000.0))   # noqa: E731
        return '%s / %s / %.2f' % (pct(d['p50']), pct(d['p99']), d['max'] / 1000.0)
    rows.append(['Capture→wire latency, daemon\'s own Statistics (read → send, whole run), p50 / p99 / max, ms',
                 '—', dlat(o), dlat(ol),
                 'n/a (no such statistics)', 'n/a (no such statistics)', '', '', ''])
    sl = lambda k: (lambda r: r['speaker']['latency']['ms'][k])   # noqa: E731
    rows.append(['Capture→speaker latency, test clock (last sample of each packet), p50 / p99 / max, ms',
                 '—', '%s / %s / %s' % (fmt(val(o, sl('p50'))), fmt(val(o, sl('p99'))), fmt(val(o, sl('max')))),
                 '%s / %s / %s' % (fmt(val(ol, sl('p50'))), fmt(val(ol, sl('p99'))), fmt(val(ol, sl('max')))),
                 'n/a: fed from a file by aplay, no capture clock', 'n/a: fed from a file by pw-play, no capture clock',
                 '', '', ''])
    oldest = lambda r: r['speaker']['latency']['ms']['p99'] + pkt_ms   # noqa: E731
    lat_target = pkt_ms + 5
    ok_lat = None if val(o, oldest) is None else val(o, oldest) <= lat_target
    ok_lat_l = None if val(ol, oldest) is None else val(ol, oldest) <= lat_target
    rows.append(['… p99 for the oldest sample of a packet, derived (not measured): last-sample p99 + one '
                 'packet, %.1f ms' % pkt_ms,
                 '≤ %.1f' % lat_target, fmt(val(o, oldest)), fmt(val(ol, oldest)), 'n/a', 'n/a', '', '',
                 '%s (load: %s)' % (verdict(ok_lat), verdict(ok_lat_l))])
    musl = lambda r: r['speaker']['latency']['ms']['p99']   # noqa: E731
    rows.append(['Capture→speaker p99, music (reference alignment), ms', '—', fmt(val(om, musl)), '',
                 'n/a', 'n/a', '', '', ''])
    # pacing
    ivm = lambda r: r['speaker']['interval_ms']['mean']   # noqa: E731
    ivs = lambda r: r['speaker']['interval_ms']['stddev']   # noqa: E731
    ivx = lambda r: r['speaker']['interval_ms']['max']   # noqa: E731
    row('Inter-packet interval, mean, ms', '%.1f' % pkt_ms, ivm, 2)
    row('Inter-packet interval, std dev, ms', '≤ 1', ivs, 2,
        met=verdict(meets(ivs, lambda v: v <= 1)))
    row('Inter-packet interval, max, ms', '—', ivx, 1)
    dr = lambda r: r['speaker']['drift_ms_per_min']   # noqa: E731
    row('RTP timestamp drift vs wall clock, ms per minute', '≤ 1 (abs)', dr, 2,
        met=verdict(meets(dr, lambda v: abs(v) <= 1)),
        ratios=False)
    row('RTP vs wall, largest excursion, ms', '—', lambda r: r['speaker']['drift_ms_max_excursion'], 1,
        ratios=False)
    snr = lambda r: r['speaker']['snr_db']   # noqa: E731
    row('SNR of the decoded 997 Hz sine, dB (all three encode with libsbc: equal figures cannot tell the '
        'senders apart, only show none of them damages the audio)', '≥ 65', snr, 1,
        met=verdict(meets(snr, lambda v: v >= 65)), ratios=False)
    msnr = lambda r: r['speaker']['snr_vs_ref_db']   # noqa: E731
    rows.append(['SNR of the decoded music vs its source, dB (libsbc for all, as above)', '—', fmt(val(om, msnr)), '',
                 peer_cell(bam, msnr, 1, 'bluealsa'), peer_cell(pwm, msnr, 1, 'pipewire'), '', '', ''])
    rows.append(['Audio dropped / capture xruns in the window', '0', '%s ms / %s' % (
        val(o, lambda r: r['stats_window']['DroppedMs']), val(o, lambda r: r['stats_window']['CaptureXruns'])),
        '%s ms / %s' % (val(ol, lambda r: r['stats_window']['DroppedMs']),
                        val(ol, lambda r: r['stats_window']['CaptureXruns'])), 'n/a', 'n/a', '', '', ''])
    # memory
    def rss(r):
        if 'peak_rss_kib' in r and isinstance(r['peak_rss_kib'], dict):
            return ' + '.join('%.1f' % (v / 1024) for v in r['peak_rss_kib'].values())
        return r['memory']['peak_rss_kib'] / 1024.0
    rss_sum = lambda r: (sum(r['peak_rss_kib'].values()) if isinstance(r.get('peak_rss_kib'), dict)   # noqa: E731
                         else r['memory']['peak_rss_kib']) / 1024.0
    ok_rss = meets(rss_sum, lambda v: v <= 4.0)
    rows.append(['Peak RSS (VmHWM), MiB', '≤ 4', fmt(val(o, rss_sum), 2), fmt(val(ol, rss_sum), 2),
                 peer_cell(ba, rss, 2, 'bluealsa'), peer_cell(pw, rss, 2, 'pipewire'),
                 ratio(val(o, rss_sum), val(ba, rss_sum)), ratio(val(o, rss_sum), val(pw, rss_sum)),
                 verdict(ok_rss)])

    lib_floor = (R.get('floor') or {}).get('rss_floor', {}).get('peak_rss_kib_median')
    if lib_floor:
        own = lambda r: rss_sum(r) - lib_floor / 1024.0   # noqa: E731
        rows.append(['… the daemon\'s libraries alone (rss-floor: a process that loads them and exits, '
                     'median of 5, same run), MiB', '—', fmt(lib_floor / 1024.0, 2), '', '', '', '', '', ''])
        rows.append(['… peak RSS above that floor (the daemon\'s own code, data and the library pages it '
                     'touches), MiB', '—', fmt(val(o, own), 2), fmt(val(ol, own), 2), '', '', '', '', ''])

    def pd(r):
        m = r['memory']
        if 'private_dirty_kib' in m:
            return m['private_dirty_kib'] / 1024.0
        return sum(x['private_dirty_kib'] for x in m.values()) / 1024.0
    row('Private dirty memory, MiB', '—', pd, 2)
    st = R.get('startup') or {}
    ready = st.get('ours', {}).get('ready_ms_median')
    rows.append(['Start-up: process start → READY=1, median of %d, ms' % len(st.get('ours', {}).get('ready_ms', [])),
                 '≤ 50', fmt(ready, 1), '', 'n/a (no sd_notify)', 'n/a (no sd_notify)', '', '',
                 verdict(None if ready is None else ready <= 50)])
    reg = lambda k: (st.get(k) or {}).get('registered_ms_median')   # noqa: E731
    rows.append(['Start-up: process start → endpoint registered with BlueZ, median, ms', '—',
                 fmt(reg('ours'), 1), '',
                 fmt(reg('bluealsa'), 1) if reg('bluealsa') else 'not measured: %s' % notes.get('bluealsa', 'not run'),
                 fmt(reg('pipewire'), 1) if reg('pipewire') else 'not measured: %s' % notes.get('pipewire', 'not run'),
                 ratio(reg('ours'), reg('bluealsa')), ratio(reg('ours'), reg('pipewire')), ''])
    return rows


HEADER = ['metric', 'target', 'a2dpsrc', 'a2dpsrc under load', 'bluez-alsa', 'PipeWire+WP',
          'a2dpsrc / bluez-alsa', 'a2dpsrc / PW+WP', 'met?']


def markdown_table(rows, header=None):
    header = header or HEADER
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        lines.append('| ' + ' | '.join(str(c).replace('|', '\\|') for c in r) + ' |')
    return '\n'.join(lines)


def sha256_of(path):
    import hashlib
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError:
        return None


def git_head():
    r = subprocess.run(['git', '-C', ROOT, 'describe', '--always', '--dirty'], capture_output=True, text=True)
    return r.stdout.strip() or None


def machine():
    cpu = None
    for line in (_read('/proc/cpuinfo') or '').splitlines():
        if line.startswith('model name'):
            cpu = line.split(':', 1)[1].strip()
            break
    return {'cpu': cpu, 'cores': os.cpu_count(), 'kernel': platform.release(),
            'os': (_read('/etc/debian_version') or '').strip(),
            'loadavg_start': (_read('/proc/loadavg') or '').strip()}


DEFAULT_JSON = os.path.join(ROOT, 'bench', 'results', 'latest.json')


# ---- main ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='~15 s per configuration, no peers (CI)')
    ap.add_argument('--seconds', type=float, help='audio seconds per sine configuration')
    ap.add_argument('--music-seconds', type=float, help='audio seconds per music configuration')
    ap.add_argument('--no-peers', action='store_true')
    ap.add_argument('--peers', action='store_true', help='run the peers with --quick too')
    ap.add_argument('--no-load', action='store_true')
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--only', help='comma list of: ours,load,music,bluealsa,pipewire,startup,callgrind '
                                   '(with --codecs: codec names, ours,bluealsa,pipewire and rss)')
    ap.add_argument('--json', default=DEFAULT_JSON)
    ap.add_argument('--doc', default=os.path.join(ROOT, 'docs', 'performance.md'))
    ap.add_argument('--no-doc', action='store_true')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('--table-from', metavar='JSON', help='only print the table of an earlier run')
    ap.add_argument('--daemon', help='a2dpsrcd binary to measure (default: $BUILD/a2dpsrcd)')
    ap.add_argument('--codecs', action='store_true',
                    help='only the codec run: every codec of the build, its floors, RSS against an SBC-only '
                         'build (bench_codecs.py); --seconds per signal per codec (default 20, --quick 6)')
    ap.add_argument('--local-output', default=LOCAL_OUTPUT,
                    help='a2dpsrcd --local-output (default "null"; see LOCAL_OUTPUT)')
    a = ap.parse_args()
    globals()['LOCAL_OUTPUT'] = a.local_output
    if a.daemon:
        globals()['DAEMON'] = os.path.abspath(a.daemon)

    if a.table_from:
        with open(a.table_from) as f:
            print(markdown_table(build_table(json.load(f))))
        return 0
    for p in (DAEMON, PLUGIN, ANALYZER, FLOOR, GEN, CAPTURE_FLOOR, RSS_FLOOR):
        if not os.path.exists(p):
            say('%s is missing: run make all test-tools bench-tools' % p)
            return 2
    quick = a.quick
    seconds = a.seconds or ((6.0 if quick else 20.0) if a.codecs else (15.0 if quick else 60.0))
    music_seconds = a.music_seconds or (8.0 if quick else 30.0)
    peers = a.peers or not (a.no_peers or quick)
    only = set(a.only.split(',')) if a.only else None

    def want(x):
        return only is None or x in only

    tmp = tempfile.mkdtemp(prefix='a2dpsrc-bench-')
    t_start = time.monotonic()
    # the work tree is shared: snapshot the binaries so that a rebuild by
    # someone else during the run cannot change what is measured
    snap = os.path.join(tmp, 'bin')
    os.makedirs(snap)
    for var in ('DAEMON', 'PLUGIN', 'ANALYZER'):
        dst = os.path.join(snap, os.path.basename(globals()[var]))
        shutil.copy2(globals()[var], dst)
        globals()[var] = dst
    daemon_src = a.daemon or os.path.join(BUILD, 'a2dpsrcd')
    R = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
         'command': ('BUILD=%s ' % shlex.quote(os.environ['BUILD']) if os.environ.get('BUILD') else '') +
                    ' '.join(shlex.quote(x) for x in sys.argv),
         'daemon': daemon_src, 'daemon_sha256': sha256_of(DAEMON), 'git_head': git_head(),
         'daemon_mtime': time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(daemon_src))),
         'machine': machine(), 'versions': peer_versions(), 'quick': quick,
         'seconds': seconds, 'music_seconds': music_seconds,
         'setup': {'rate': RATE, 'config': CONFIG_HEX, 'sink_caps': SINK_CAPS.hex(), 'write_mtu': WRITE_MTU,
                   'tone_hz': TONE, 'tone_offset_hz': TONE_OFFSET, 'amplitude': AMPLITUDE,
                   'rt_priority': RT_PRIO, 'double_rt_priority': DOUBLE_RT_PRIO},
         'runs': {}, 'peer_notes': {}}
    try:
        # the audio every configuration gets
        audio = {}
        secs = max(seconds, music_seconds) + 15
        for kind in ('sine', 'music'):
            raw = os.path.join(tmp, kind + '.raw')
            wav = os.path.join(tmp, kind + '.wav')
            extra = (['--freq', str(TONE), '--offset', str(TONE_OFFSET), '--amp', str(AMPLITUDE)]
                     if kind == 'sine' else [])
            subprocess.run([GEN, kind, '--rate', str(RATE), '--seconds', str(secs)] + extra + [raw], check=True)
            subprocess.run([GEN, kind, '--rate', str(RATE), '--seconds', str(secs), '--wav'] + extra + [wav],
                           check=True)
            audio[kind + '_raw'], audio[kind + '_wav'] = raw, wav
        if a.codecs:
            return run_codec_mode(a, R, tmp, audio, seconds, quick, t_start, peers)
        say('== floor: libsbc alone')
        R['floor'] = run_floor(audio, 0.5 if quick else 2.0, 5.0 if quick else 20.0, tmp)
        if want('ours'):
            R['runs']['ours-sine'] = run_ours(tmp, 'sine', audio, seconds)
        if want('music'):
            R['runs']['ours-music'] = run_ours(tmp, 'music', audio, music_seconds)
        if want('load') and not a.no_load:
            if shutil.which('stress-ng'):
                R['runs']['ours-sine-load'] = run_ours(tmp, 'sine', audio, seconds, load=True)
            else:
                R['runs']['ours-sine-load'] = {'error': 'stress-ng is not installed'}
                say('no stress-ng: the run under load is skipped')
        R['startup'] = {}
        if want('startup'):
            R['startup']['ours'] = run_startup(tmp, audio, 10)
        if want('callgrind') and not a.no_callgrind and shutil.which('valgrind'):
            try:
                R["callgrind"] = run_callgrind(tmp, audio, 4.0 if quick else 10.0, peers=peers)
            except Exception as e:      # an instrument failing is reported, not fatal
                R['callgrind'] = {'error': str(e)}
                say('callgrind failed: %s' % e)
        for kind in ('bluealsa', 'pipewire'):
            if not peers or not want(kind):
                R['peer_notes'][kind] = 'skipped (--quick)' if quick else 'skipped'
                continue
            missing = peer_missing(kind)
            if missing:
                R['peer_notes'][kind] = 'not installed (%s)' % ', '.join(missing)
                continue
            for sig, secs_ in (('sine', seconds), ('music', music_seconds)):
                try:
                    R['runs']['%s-%s' % (kind, sig)] = run_peer(tmp, kind, sig, audio, secs_)
                except Exception as e:
                    R['runs']['%s-%s' % (kind, sig)] = {'error': str(e).splitlines()[0][:200]}
                    say('%s-%s failed: %s' % (kind, sig, e))
            if want('startup'):
                try:
                    R['startup'][kind] = run_peer_startup(tmp, kind, 5)
                except Exception as e:
                    say('%s start-up failed: %s' % (kind, e))
        R['machine']['loadavg_end'] = (_read('/proc/loadavg') or '').strip()
        R['elapsed_s'] = time.monotonic() - t_start
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json, 'w') as f:      # the raw figures first, whatever the table does
            json.dump(R, f, indent=1, sort_keys=True, default=str)
        rows = build_table(R)
        R['table'] = [dict(zip(HEADER, r)) for r in rows]
        table = markdown_table(rows)
        print(table)
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json, 'w') as f:
            json.dump(R, f, indent=1, sort_keys=True, default=str)
        say('JSON: %s' % a.json)
        if not a.no_doc:
            write_doc(a.doc, R, table)
            say('table: %s' % a.doc)
    finally:
        if a.keep:
            say('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run_codec_mode(a, R, tmp, audio, seconds, quick, t_start, peers):
    """--codecs: every codec (bench_codecs.py), the peers on each
    (bench_codec_peers.py); its own JSON and doc block."""
    import bench_codecs
    bench_codecs.run_codecs(tmp, audio, seconds, quick, R, set(a.only.split(',')) if a.only else None, peers)
    R['machine']['loadavg_end'] = (_read('/proc/loadavg') or '').strip()
    R['elapsed_s'] = time.monotonic() - t_start
    out = a.json if a.json != DEFAULT_JSON else os.path.join(ROOT, 'bench', 'results', 'codecs.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(R, f, indent=1, sort_keys=True, default=str)
    print('\n'.join(bench_codecs.report(R)))
    say('JSON: %s' % out)
    if not a.no_doc:
        bench_codecs.write_codec_doc(a.doc, R)
        say('codec table: %s' % a.doc)
    return 0


RESULTS_BEGIN = '<!-- bench:results:begin (written by bench/bench.py) -->'
RESULTS_END = '<!-- bench:results:end -->'


def write_doc(path, R, table):
    m = R['machine']
    v = R['versions']
    block = [RESULTS_BEGIN, '',
             '**Latest run**: %s, %s (%d cores), kernel %s, Debian %s; %s.' % (
                 R['date'], m['cpu'], m['cores'], m['kernel'], m['os'],
                 'quick run' if R['quick'] else 'full run'),
             '', 'Daemon: `%s` (sha256 %s…, built %s; work tree %s).' % (
                 R.get('daemon', DAEMON), R.get('daemon_sha256'),
                 R.get('daemon_mtime'), R.get('git_head')),
             '', 'Command: `%s` (%.0f s of sine and %.0f s of music per configuration; took %.0f s; '
             'load average %s at start, %s at end).' % (
                 R['command'], R['seconds'], R['music_seconds'], R['elapsed_s'],
                 ' '.join(m['loadavg_start'].split()[:3]), ' '.join(m.get('loadavg_end', '').split()[:3])),
             '', 'Peers: bluez-alsa-utils %s (libasound2-plugin-bluez %s), pipewire %s, wireplumber %s, '
             'libspa-0.2-bluetooth %s; libsbc %s.' % (
                 v.get('bluez-alsa-utils'), v.get('libasound2-plugin-bluez'), v.get('pipewire'),
                 v.get('wireplumber'), v.get('libspa-0.2-bluetooth'), v.get('libsbc1')),
             '', table, '', RESULTS_END]
    text = _read(path)
    if text and RESULTS_BEGIN in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_BEGIN, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        text = head + '\n'.join(block) + tail
    else:
        text = '# Performance\n\n' + '\n'.join(block) + '\n'
    with open(path, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    sys.exit(main())
