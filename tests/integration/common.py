"""Shared set-up for the daemon's integration tests: a private system bus,
the BlueZ double, an ALSA configuration with the project's test capture
plugin, a2dpsrcd itself, and the speaker analyzer.

Audio is always judged as a speaker would: the double's speaker end records
every packet, speaker-analyze decodes it with libsbc and reports.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
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

MANAGER = 'org.a2dpsrc.Manager1'
MANAGER_PATH = '/org/a2dpsrc'
PROPS = 'org.freedesktop.DBus.Properties'
HCI0 = '/org/bluez/hci0'
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


class SpeakerJudge:
    """How the tests judge what a speaker received (a TestCase mixin, also
    used without a daemon on synthetic recordings by test_judges.py)."""

    def analyze(self, rec, *args):
        out = subprocess.run([ANALYZER] + list(args) + [rec], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            self.fail('speaker-analyze failed (%d): %s' % (out.returncode, out.stderr))
        return json.loads(out.stdout)

    def assert_clean_stream(self, a, min_snr=50.0, rate=None, fed_s=None, freq=TONE_HZ):
        """What any good stream must show, as a speaker judges it: RTP and
        SBC intact, and the tone -- at its frequency, clean, without a gap --
        over the whole window that was fed. fed_s: the tone lasted that long
        from the start of the capture (then silence); None: the tone never
        ended, so it must cover everything the speaker decoded."""
        rtp = a['rtp']
        self.assertEqual(a['mtu_violations'], 0, 'packets above the write MTU')
        self.assertEqual(rtp['seq_gaps'], 0, 'RTP sequence gaps: %s' % rtp.get('seq_gap_list'))
        self.assertEqual(rtp['ts_errors'], 0, 'RTP timestamps not continuous: %s' % rtp.get('ts_error_list'))
        self.assertEqual(rtp['pt_errors'] + rtp['version_errors'] + rtp['ssrc_changes'], 0)
        self.assertEqual(a['frame_errors'], 0, 'bad SBC frames: %s' % a.get('frame_error_detail'))
        if rate:
            self.assertEqual(a['config']['rate'], rate)
        tone = a['audio']['tone']
        self.assertTrue(tone['present'], 'no %g Hz tone in the decoded audio' % freq)
        self.assertAlmostEqual(tone['frequency_hz'], freq, delta=FREQ_TOL_HZ,
                               msg='the tone is at %.2f Hz, %g Hz was fed' % (tone['frequency_hz'], freq))
        self.assertEqual(tone['gaps'], 0, 'gaps in the decoded audio: %s' % tone.get('gap_list'))
        self.assertGreaterEqual(tone['snr_db'], min_snr)
        # gaps are only seen between the first and the last tone: the tone
        # must also start with the audio and last as long as it was fed
        decoded = a['audio']['decoded_s']
        self.assertLessEqual(tone['tone_start_s'], EDGE_S,
                             'the speaker got %.3f s of audio without the tone before it' % tone['tone_start_s'])
        if fed_s is None:
            self.assertGreaterEqual(tone['tone_end_s'], decoded - EDGE_S,
                                    'the tone stops at %.3f s of %.3f s decoded: the rest is not the tone'
                                    % (tone['tone_end_s'], decoded))
        else:
            self.assertAlmostEqual(tone['tone_s'], fed_s, delta=EDGE_S,
                                   msg='fed %.3f s of tone, the speaker got %.3f s' % (fed_s, tone['tone_s']))
        return tone


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

    # -- daemon -------------------------------------------------------------
    def write_state(self, **kv):
        lines = ['a2dpsrc-state 1']
        for k, v in kv.items():
            if isinstance(v, bool):
                v = 'true' if v else 'false'
            lines.append('%s=%s' % (k.replace('_', '-'), v))
        with open(os.path.join(self.state_dir, 'state'), 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start_daemon(self, capture='tone', args=(), local='null', speaker_mode=True,
                     wait_registered=True, env=None):
        if speaker_mode is not None and not os.path.exists(os.path.join(self.state_dir, 'state')):
            self.write_state(speaker_mode=speaker_mode)
        if capture == 'tone' and 'tone' not in self.pcms:
            self.add_tone()
        if local not in ('null', 'none') and local not in self.pcms:
            self.pcms[local] = sink_pcm(local, self.local_file)
        env = dict(env or {}, ALSA_CONFIG_PATH=self.alsa_conf())
        argv = ['--capture', capture, '--local-output', local, '--state-dir', self.state_dir,
                '--power-supply', self.power_dir, '-v'] + list(args)
        self.daemon = Daemon(self.bus, DAEMON, log_dir=self.tmp)
        if os.environ.get('A2DPSRC_VALGRIND'):
            self.daemon.path = VALGRIND[0]
            argv = VALGRIND[1:] + [DAEMON] + argv
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

    def mprop(self, name):
        return self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH).Get(
            MANAGER, name, dbus_interface=PROPS)

    def set_mprop(self, name, value):
        return self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH).Set(
            MANAGER, name, value, dbus_interface=PROPS)

    # -- speakers -----------------------------------------------------------
    def add_speaker(self, address=SPEAKER, name='Test Speaker', **opts):
        return self.bluez.add_speaker(address, name, **opts)

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

    def recording(self, index=-1):
        recs = sorted(self.bluez.recordings())
        self.assertTrue(recs, 'the speaker received nothing')
        return recs[index]


def sleep(seconds):
    time.sleep(seconds)
