"""The peers on the double: bluez-alsa and PipeWire + WirePlumber, their
configuration, one streaming configuration measured, their start-up."""

import os
import platform
import re
import shutil
import statistics
import subprocess
import time

from bench_procfs import children_named, processes_with_env, proc_delta, proc_memory, proc_snapshot
from bench_processes import kill_pid, stop_proc
from bench_recording import analyze, speaker_figures, start_burst, trim_recording, window_bytes
from bench_settings import BLUEALSA_PCM, SPEAKER_PATH, say
from bench_world import new_world, time_to_registration, wait_active
from harness import wait_for


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
