"""a2dpsrcd on the double: its set-up (capture, state, options), one
streaming configuration measured, its start-up time."""

import os
import re
import statistics
import subprocess
import time

import bench_settings as S
from bench_procfs import proc_delta, proc_memory, proc_snapshot
from bench_processes import Load, NotifySocket
from bench_recording import analyze, speaker_figures, start_burst, trim_recording, window_bytes
from bench_settings import PROPS, RATE, RT_PRIO, SPEAKER_PATH, say
from bench_world import new_world, time_to_registration, wait_active
from harness import Daemon, wait_for


def statistics_of(bus):
    obj = bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc')
    st = obj.Get('org.a2dpsrc.Manager1', 'Statistics', dbus_interface=PROPS)
    return {str(k): int(v) for k, v in st.items()}


def ours_setup(tmp, kind, audio, seconds_hint, multi=False):
    starts = os.path.join(tmp, 'starts-%s.txt' % kind)
    conf = os.path.join(tmp, 'asound-%s.conf' % kind)
    with open(conf, 'w') as f:
        f.write('</usr/share/alsa/alsa.conf>\n')
        f.write('pcm_type.a2dpsrc_test { lib "%s" }\n' % S.PLUGIN)
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
        if multi:
            f.write('multi-output=true\n')
    power = os.path.join(tmp, 'power')
    os.makedirs(power, exist_ok=True)
    args = ['--capture', 'board', '--local-output', S.LOCAL_OUTPUT, '--state-dir', state,
            '--power-supply', power, '--rt-priority', str(RT_PRIO),
            # the signals are made at RATE: a speaker offering 48 kHz too
            # (the codec runs) must not get them played at 48 kHz
            '--rate', str(RATE)]
    return conf, starts, args


def run_ours(tmp, kind, audio, seconds, load=False, warmup=1.0, valgrind=None, speaker=None,
             daemon_path=None, tag='', rate=RATE, second=False):
    """One configuration of a2dpsrcd; returns its figures.  speaker: what
    the speaker offers (new_world); daemon_path: another build; tag: a name
    suffix (the codec runs); second: a second speaker as well (MultiOutput,
    connected through Manager1.Connect once the first streams)."""
    name = 'ours-%s%s%s' % (kind, '-load' if load else '', tag)
    say('== %s: %g s' % (name, seconds))
    conf, starts, args = ours_setup(tmp, kind, audio, seconds, multi=second)
    bus, bluez, rt = new_world(speaker, second)
    notify = NotifySocket(os.path.join(tmp, 'notify-%s' % name))
    stress = Load() if load else None
    daemon = Daemon(bus, daemon_path or S.DAEMON, log_dir=os.path.join(tmp, name))
    os.makedirs(daemon.dir, exist_ok=True)
    res = {'config': name, 'signal': kind, 'load': load, 'double_rt': rt}
    try:
        env = {'ALSA_CONFIG_PATH': conf, 'NOTIFY_SOCKET': notify.path}
        t_spawn = time.monotonic()
        if valgrind:
            daemon.path = 'valgrind'
            daemon.start(valgrind + [S.DAEMON] + args, env)
        else:
            daemon.start(args, env)
        t_ready = notify.wait_ready(60 if valgrind else 10)
        res['ready_ms'] = (t_ready - t_spawn) * 1000 if t_ready else None
        daemon.wait_for(lambda: bluez.registered_endpoints(), 60 if valgrind else 10, what='registration')
        bluez.connect_speaker(SPEAKER_PATH)
        wait_active(bluez, 60 if valgrind else 10)
        if second:
            mgr = bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc')
            mgr.Connect(S.SPEAKER2, dbus_interface='org.a2dpsrc.Manager1', timeout=60)
            wait_active(bluez, 60 if valgrind else 10, n=2)
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
            daemon = Daemon(bus, S.DAEMON, log_dir=os.path.join(tmp, 'startup'))
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
