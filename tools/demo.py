#!/usr/bin/python3
"""make demo: the main job of a2dpsrcd on this machine, start to finish.

A private system bus, the BlueZ double with one virtual speaker, a2dpsrcd
capturing a 997 Hz tone through alsa-lib (the project's test capture
plugin stands in for the snd-aloop device), speaker mode on, the speaker
connected; after a few seconds of streaming, what the speaker received is
decoded with libsbc and reported.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from harness import PrivateBus, BlueZDouble, Daemon, wait_for  # noqa: E402

BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
SECONDS = float(os.environ.get('DEMO_SECONDS', '5'))
TONE = 997
SPEAKER = '00:11:22:33:44:55'
SPEAKER_PATH = '/org/bluez/hci0/dev_00_11_22_33_44_55'


def say(msg):
    print(msg, flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix='a2dpsrc-demo-')
    starts = os.path.join(tmp, 'starts.txt')
    conf = os.path.join(tmp, 'asound.conf')
    with open(conf, 'w') as f:
        f.write('</usr/share/alsa/alsa.conf>\n')
        f.write('pcm_type.a2dpsrc_test { lib "%s/tests/libasound_module_pcm_a2dpsrc_test.so" }\n' % BUILD)
        # the board's audio: 997 Hz left, 998 Hz right (the 1 Hz offset lets
        # the analyzer tell true capture time, hence latency)
        f.write('pcm.board { type a2dpsrc_test source "sine" frequency %d channel_offset_hz 1 '
                'amplitude 0.5 duration %g start_file "%s" }\n' % (TONE, SECONDS, starts))
    state = os.path.join(tmp, 'state')
    os.makedirs(state)
    with open(os.path.join(state, 'state'), 'w') as f:
        f.write('a2dpsrc-state 1\nspeaker-mode=true\nvolume=127\n')
    power = os.path.join(tmp, 'power')
    os.makedirs(power)

    say('== a2dpsrc demo: %g s of a %d Hz tone to a virtual Bluetooth speaker' % (SECONDS, TONE))
    with PrivateBus() as bus:
        bus.start()
        say('private system bus     %s' % bus.address)
        bluez = BlueZDouble(bus)
        bluez.start()
        bluez.add_speaker(SPEAKER, 'Demo Speaker', Delay=150)
        say('BlueZ double           org.bluez, hci0, speaker %s (paired, SBC, MTU 895)' % SPEAKER)
        daemon = Daemon(bus, os.path.join(BUILD, 'a2dpsrcd'), log_dir=tmp)
        t0 = time.monotonic()
        daemon.start(['--capture', 'board', '--local-output', 'null', '--state-dir', state,
                      '--power-supply', power, '--rt-priority', '40'],
                     {'ALSA_CONFIG_PATH': conf})
        daemon.wait_for(lambda: bluez.registered_endpoints(), 5, what='endpoint registration')
        eps = [p.rsplit('/', 1)[1][len('a2dp_source_'):]
               for _, _, p in bluez.registered_endpoints()]
        say('a2dpsrcd               registered %d source endpoints (%s) in %.0f ms'
            % (len(eps), ', '.join(eps), (time.monotonic() - t0) * 1000))
        bluez.connect_speaker(SPEAKER_PATH)
        daemon.wait_for(lambda: any(str(p.get('State')) == 'active'
                                    for p in bluez.transports().values()), 5, what='streaming')
        say('streaming...')
        time.sleep(SECONDS + 0.6)
        mgr = bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc')
        props = mgr.GetAll('org.a2dpsrc.Manager1', dbus_interface='org.freedesktop.DBus.Properties')
        bluez.flush()
        rec = sorted(bluez.recordings())[-1]
        out = subprocess.run([os.path.join(BUILD, 'tests', 'speaker-analyze'), '--tone', str(TONE),
                              '--tone-offset', '1', '--latency', starts, rec],
                             capture_output=True, text=True)
        daemon.stop()
        if out.returncode != 0:
            say('speaker-analyze failed: ' + out.stderr)
            return 1
        a = json.loads(out.stdout)

    st = props['Statistics']
    tone = a['audio']['tone']
    rtp = a['rtp']
    tim = a['timing']
    lat = a['latency'].get('latency_ms') or {}
    kbps = a['bytes'] * 8 / max(tim['duration_wall_s'], 1e-9) / 1000
    say('')
    say('What the speaker received')
    say('  codec            %s' % props['Codec'])
    say('  packets          %d (%d SBC frames, %.1f%% filled to the MTU, %d over it)'
        % (a['packets'], a['frames'], a['full_packets_pct'], a['mtu_violations']))
    say('  bitrate          %.0f kbit/s on the link' % kbps)
    say('  RTP              %d sequence gaps, %d timestamp errors, %d SSRC changes'
        % (rtp['seq_gaps'], rtp['ts_errors'], rtp['ssrc_changes']))
    say('  audio            %.3f s of tone (fed %.3f s) at %.2f Hz, SNR %.1f dB (worst 20 ms: %.1f dB)'
        % (tone['tone_s'], SECONDS, tone['frequency_hz'], tone['snr_db'], tone['snr_worst_db']))
    say('  gaps             %d after the first 100 ms' % tone['gaps'])
    say('  packet spacing   %.2f ms mean, %.2f ms std dev, %.2f ms max'
        % (tim['interval_ms']['mean'], tim['interval_ms']['stddev'], tim['interval_ms']['max']))
    say('  RTP vs wall      %.2f ms drift per minute' % tim['drift_ms']['per_min'])
    if lat:
        say('  capture->speaker %.1f ms p50, %.1f ms p99, %.1f ms max (true capture time from the '
            'source clock)' % (lat['p50'], lat['p99'], lat['max']))
    say('')
    say('What a2dpsrcd reports')
    say('  Latency          %.1f ms (capture period + queue + SBC delay + speaker Delay 15.0 ms)'
        % (props['Latency'] / 1000.0))
    say('  capture->socket  p50 %.1f ms, p99 %.1f ms (its own clock)'
        % (st['LatencyP50Us'] / 1000.0, st['LatencyP99Us'] / 1000.0))
    say('  wake-ups         %d for %d packets; dropped %d ms; capture xruns %d'
        % (st['Wakeups'], st['Packets'], st['DroppedMs'], st['CaptureXruns']))
    ok = (tone['present'] and tone['gaps'] == 0 and rtp['seq_gaps'] == 0 and a['mtu_violations'] == 0
          and abs(tone['tone_s'] - SECONDS) < 0.05 and tone['snr_db'] >= 50)
    say('')
    say('RESULT: %s' % ('the speaker got the board\'s audio intact' if ok else 'PROBLEMS, see above'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
