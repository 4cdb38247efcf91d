"""Codec control (issue #12): Manager1.SetCodec switching a running stream
through the speaker's remote SEP (MediaEndpoint1.SetConfiguration on
.../sepN), its rate limit and errors; Manager1.Codecs restricting the codecs
(saved, applied by registering the endpoints again, a stream on a removed
codec switched to the best one left); GetDevices listing each speaker's
codecs from its SEPs. Each stream after a switch is judged by decoding what
the speaker received."""

import os
import signal
import subprocess
import time

import dbus

from common import A2dpTestCase, CTL, MANAGER, SPEAKER, SPEAKER_PATH, TONE_HZ

ERR = 'org.a2dpsrc.Error.'


class CodecControlTests(A2dpTestCase):

    def built(self):
        return [p.rsplit('/', 1)[1][len('a2dp_source_'):].replace('_', '-')
                for _, _, p in self.bluez.registered_endpoints() if '/hci0/' in p]

    def leaves(self):
        return [p.rsplit('/', 1)[1] for _, _, p in self.bluez.registered_endpoints() if '/hci0/' in p]

    def start_streaming(self, *codecs, args=()):
        self.add_codec_speaker(*codecs)
        self.add_tone(channel_offset_hz=1)
        self.start_daemon(args=args)
        self.connect_speaker()
        time.sleep(0.8)

    def error(self, call, *args):
        with self.assertRaises(dbus.exceptions.DBusException) as e:
            call(*args)
        return e.exception.get_dbus_name(), e.exception.get_dbus_message()

    def wait_codec(self, prefix, timeout=3):
        return self.daemon.wait_for(lambda: str(self.mprop('Codec')).startswith(prefix), timeout,
                                    what='Codec %s...' % prefix)

    def switch_and_judge(self, name, prefix, codec):
        """SetCodec(name) on a running stream: the stream resumes within
        about a second, on the new codec, and what the speaker decodes after
        the switch is clean."""
        before = set(self.bluez.recordings())
        t0 = time.monotonic()
        self.manager().SetCodec(name)

        def resumed():
            new = [r for r in self.bluez.recordings() if r not in before]
            return new and os.path.getsize(new[-1]) > 4096 and new[-1]
        rec = self.daemon.wait_for(resumed, 3, what='the stream resumed')
        gap = time.monotonic() - t0
        self.assertLess(gap, 1.5, 'the stream took %.2f s to resume after SetCodec' % gap)
        self.wait_codec(prefix)
        time.sleep(2.0)
        self.bluez.flush()
        a = self.analyze(rec, '--tone', str(TONE_HZ), '--tone-offset', '1')
        self.assert_clean_stream(a, codec=codec)
        return a

    # -- SetCodec -------------------------------------------------------------
    def test_set_codec_switches_sbc_xq_to_sbc_and_back(self):
        self.start_streaming('sbc-xq')
        self.wait_codec('SBC-XQ ')
        a = self.switch_and_judge('sbc', 'SBC 48000 Hz joint-stereo', 'sbc')
        self.assertEqual(a['config']['mode'], 'joint_stereo')
        time.sleep(2.1)     # the rate limit
        a = self.switch_and_judge('sbc-xq', 'SBC-XQ 48000 Hz dual-channel', 'sbc')
        self.assertEqual(a['config']['mode'], 'dual_channel')
        self.assertIn('the stream is switched to SBC-XQ', self.daemon.log_text())

    def test_set_codec_sbc_to_aptx_and_back(self):
        # a speaker offering SBC and aptX: the daemon starts on aptX (its
        # preference), is switched to SBC, then to aptX again
        self.start_streaming('sbc', 'aptx')
        self.assertIn('aptx', self.built(), 'aptX is not in the codec table of this build')
        self.wait_codec('aptX ')
        self.manager().SetCodec('sbc')
        self.wait_codec('SBC ')
        time.sleep(2.1)     # the rate limit
        self.switch_and_judge('aptx', 'aptX 48000 Hz', 'aptx')

    def test_set_codec_rate_limited(self):
        self.start_streaming('sbc-xq')
        self.manager().SetCodec('sbc')
        name, text = self.error(self.manager().SetCodec, 'sbc-xq')
        self.assertEqual(name, ERR + 'Busy')
        self.assertRegex(text, r'try again in \d\.\d s')
        time.sleep(2.1)
        self.manager().SetCodec('sbc-xq')
        self.wait_codec('SBC-XQ ')

    def test_set_codec_same_codec_is_nothing_to_do(self):
        self.start_streaming('sbc-xq')
        self.manager().SetCodec('sbc-xq')
        self.assertNotIn('switching', self.daemon.log_text())

    def test_set_codec_errors(self):
        self.add_codec_speaker('sbc')
        self.start_daemon()
        mgr = self.manager()
        name, text = self.error(mgr.SetCodec, 'sbc')
        self.assertEqual(name, ERR + 'NotConnected')
        self.assertIn('No speaker is connected', text)
        name, text = self.error(mgr.SetCodec, 'mp3')
        self.assertEqual(name, ERR + 'InvalidArguments')
        self.assertIn("'mp3' is not a codec", text)
        self.assertIn('sbc, sbc-xq, aptx, aptx-hd, aac, ldac', text)
        name, text = self.error(lambda: mgr.SetCodec(dbus.UInt32(5), signature='u'))
        self.assertEqual(name, ERR + 'InvalidArguments')
        missing = [c for c in ('ldac', 'aac', 'aptx-hd', 'aptx') if c not in self.built()]
        if missing:
            name, text = self.error(mgr.SetCodec, missing[0])
            self.assertEqual(name, ERR + 'NotSupported')
            self.assertIn('not built into this a2dpsrc', text)
        self.connect_speaker()
        # a speaker with SBC alone (no dual channel at bitpool 74 for XQ? it has
        # the default SBC caps): it offers no aptX
        for c in ('aptx', 'ldac'):
            if c in self.built():
                name, text = self.error(mgr.SetCodec, c)
                self.assertEqual(name, ERR + 'NotSupported')
                self.assertIn('does not offer', text)
        self.set_mprop('Codecs', dbus.Array(['sbc'], signature='s'))
        name, text = self.error(mgr.SetCodec, 'sbc-xq')
        self.assertEqual(name, ERR + 'NotSupported')
        self.assertIn('SBC-XQ is turned off: Codecs allows sbc', text)

    def test_set_codec_left_out_by_command_line(self):
        self.start_streaming('sbc-xq', args=['--codecs', 'sbc'])
        name, text = self.error(self.manager().SetCodec, 'sbc-xq')
        self.assertEqual(name, ERR + 'NotSupported')
        self.assertIn('left out by --codecs', text)

    def test_speaker_refusing_the_switch_is_an_error(self):
        self.add_codec_speaker('sbc-xq', ReconfigureFails=True)
        self.add_tone()
        self.start_daemon()
        self.connect_speaker()
        name, text = self.error(self.manager().SetCodec, 'sbc')
        self.assertEqual(name, ERR + 'Failed')
        self.assertIn('The speaker did not take SBC', text)
        # the stream was closed by BlueZ: the speaker is brought back
        self.wait_streaming(timeout=8)

    # -- Codecs ---------------------------------------------------------------
    def test_codecs_property_errors(self):
        self.add_speaker()
        self.start_daemon()
        self.assertEqual(list(self.mprop('Codecs'))[-2:], ['sbc-xq', 'sbc'])
        for value, err, words in (
                ([], 'InvalidArguments', 'must name sbc'),
                (['sbc-xq'], 'InvalidArguments', 'must name sbc'),
                (['sbc', 'mp3'], 'InvalidArguments', "'mp3' is not a codec (the codecs: sbc, sbc-xq"),
                (['sbc', 'sbc'], 'InvalidArguments', 'named twice')):
            name, text = self.error(self.set_mprop, 'Codecs', dbus.Array(value, signature='s'))
            self.assertEqual(name, ERR + err, text)
            self.assertIn(words, text)
        name, text = self.error(self.set_mprop, 'Codecs', dbus.String('sbc'))
        self.assertEqual(name, ERR + 'InvalidArguments')
        missing = [c for c in ('ldac', 'aac', 'aptx-hd', 'aptx') if c not in self.built()]
        if missing:
            name, text = self.error(self.set_mprop, 'Codecs', dbus.Array(['sbc', missing[0]], signature='s'))
            self.assertEqual(name, ERR + 'NotSupported')
            self.assertIn('not built into this a2dpsrc', text)
        # nothing was changed by a refused value
        self.assertEqual(list(self.mprop('Codecs'))[-2:], ['sbc-xq', 'sbc'])

    def test_codecs_within_the_command_line(self):
        self.add_speaker()
        self.start_daemon(args=['--codecs', 'sbc'])
        self.assertEqual(list(self.mprop('Codecs')), ['sbc'])
        name, text = self.error(self.set_mprop, 'Codecs', dbus.Array(['sbc-xq', 'sbc'], signature='s'))
        self.assertEqual(name, ERR + 'NotSupported')
        self.assertIn('left out by --codecs', text)

    def test_codecs_saved_restored_and_registered(self):
        self.add_speaker()
        self.start_daemon()
        self.assertIn('a2dp_source_sbc_xq', self.leaves())
        self.set_mprop('Codecs', dbus.Array(['sbc'], signature='s'))
        # no stream: registered again at once, with SBC alone
        self.daemon.wait_for(lambda: self.leaves() == ['a2dp_source_sbc'], 3,
                             what='the endpoints registered again')
        self.assertIn('codecs=sbc\n', open(os.path.join(self.state_dir, 'state')).read())
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)
        self.start_daemon()
        self.assertEqual(list(self.mprop('Codecs')), ['sbc'])
        self.assertEqual(self.leaves(), ['a2dp_source_sbc'])
        # and back: every codec again
        self.set_mprop('Codecs', dbus.Array(['sbc-xq', 'sbc'], signature='s'))
        self.daemon.wait_for(lambda: self.leaves()[-2:] == ['a2dp_source_sbc_xq', 'a2dp_source_sbc'],
                             3, what='SBC-XQ registered again')
        self.assertIn('codecs=sbc-xq,sbc\n', open(os.path.join(self.state_dir, 'state')).read())

    def test_codec_removed_while_in_use_switches_the_stream(self):
        self.start_streaming('sbc-xq')
        self.wait_codec('SBC-XQ ')
        before = set(self.bluez.recordings())
        self.set_mprop('Codecs', dbus.Array(['sbc'], signature='s'))
        self.wait_codec('SBC 48000 Hz joint-stereo')

        def resumed():
            new = [r for r in self.bluez.recordings() if r not in before]
            return new and os.path.getsize(new[-1]) > 4096 and new
        new = self.daemon.wait_for(resumed, 3, what='the stream resumed on SBC')
        time.sleep(2.0)
        self.bluez.flush()
        a = self.analyze(new[-1], '--tone', str(TONE_HZ), '--tone-offset', '1')
        self.assert_clean_stream(a, codec='sbc')
        self.assertEqual(a['config']['mode'], 'joint_stereo')
        # registering again waits for the stream to end: the endpoints
        # removed refuse BlueZ meanwhile
        self.assertIn('a2dp_source_sbc_xq', self.leaves())
        self.manager().Disconnect()
        self.daemon.wait_for(lambda: self.leaves() == ['a2dp_source_sbc'], 5,
                             what='the endpoints registered again once the stream ended')

    # -- GetDevices -----------------------------------------------------------
    def test_get_devices_lists_the_speakers_codecs(self):
        self.start_streaming('sbc-xq', 'aptx', 'aptx-hd', 'aac', 'ldac')
        dev = [x for x in self.manager().GetDevices() if str(x['Address']) == SPEAKER][0]
        self.assertEqual([str(c) for c in dev['Codecs']],
                         ['ldac', 'aptx-hd', 'aptx', 'aac', 'sbc-xq', 'sbc'])

    def test_get_devices_sbc_speakers(self):
        # SBC with dual channel and room for bitpool 35/38 is SBC-XQ too
        self.start_streaming('sbc')
        dev = [x for x in self.manager().GetDevices() if str(x['Address']) == SPEAKER][0]
        self.assertEqual([str(c) for c in dev['Codecs']], ['sbc-xq', 'sbc'])
        self.manager().Disconnect()
        other, other_path = '00:11:22:33:44:66', SPEAKER_PATH[:-2] + '66'
        self.add_speaker(address=other, SinkCapabilities=bytes([0xfb, 0xff, 2, 53]))
        self.manager().Connect(other)
        self.wait_streaming(other_path)
        dev = [x for x in self.manager().GetDevices() if str(x['Address']) == other][0]
        self.assertEqual([str(c) for c in dev['Codecs']], ['sbc'])

    def test_get_devices_without_seps_has_no_codecs(self):
        self.add_speaker()
        self.start_daemon()
        dev = [x for x in self.manager().GetDevices() if str(x['Address']) == SPEAKER][0]
        self.assertNotIn('Codecs', dev)


class CtlCodecTests(A2dpTestCase):
    """a2dpsrcctl codec / codecs / devices / status against the daemon."""

    def ctl(self, *args, check=True):
        env = dict(self.bus.env)
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        out = subprocess.run([CTL] + list(args), env=env, capture_output=True, text=True, timeout=30)
        if check and out.returncode != 0:
            self.fail('a2dpsrcctl %s failed (%d): %s%s' % (' '.join(args), out.returncode,
                                                           out.stdout, out.stderr))
        return out

    def test_codec_and_codecs_commands(self):
        self.add_codec_speaker('sbc-xq')
        self.add_tone()
        self.start_daemon()
        self.assertEqual(self.ctl('codec').stdout, 'none (no speaker connected)\n')
        out = self.ctl('codec', 'sbc', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('No speaker is connected', out.stderr)
        self.connect_speaker()
        self.assertTrue(self.ctl('codec').stdout.startswith('SBC-XQ 48000 Hz'))
        self.assertIn('SBC-XQ 48000 Hz', self.ctl('status').stdout)
        self.assertIn('codecs: sbc-xq, sbc', self.ctl('devices').stdout)
        self.ctl('codec', 'sbc')
        self.daemon.wait_for(lambda: self.ctl('codec').stdout.startswith('SBC 48000 Hz joint-stereo'),
                             3, what='the switch')
        out = self.ctl('codec', 'mp3', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn("'mp3' is not a codec", out.stderr)
        # codecs: show, restrict, all again
        self.assertTrue(self.ctl('codecs').stdout.rstrip().endswith('sbc-xq, sbc]'))
        self.ctl('codecs', 'sbc')
        self.assertEqual(self.ctl('codecs').stdout, '[sbc]\n')
        out = self.ctl('codecs', 'sbc-xq', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('must name sbc', out.stderr)
        self.ctl('codecs', 'all')
        self.assertEqual(list(self.mprop('Codecs'))[-2:], ['sbc-xq', 'sbc'])
        # every codec this build allows, saved as such
        self.assertIn('codecs=%s\n' % ','.join(str(c) for c in self.mprop('Codecs')),
                      open(os.path.join(self.state_dir, 'state')).read())
        # sbc-xq: the per-speaker opt-out, saved; the next connection is plain SBC
        state = os.path.join(self.state_dir, 'state')
        self.ctl('codecs', 'all')
        self.ctl('sbc-xq', SPEAKER.lower(), 'off')
        self.assertIn('no-xq=%s' % SPEAKER.upper(), open(state).read())
        out = self.ctl('sbc-xq', 'speaker', 'off', check=False)
        self.assertEqual(out.returncode, 2)
        self.assertIn("'speaker' is not a Bluetooth address", out.stderr)
        self.ctl('disconnect')
        self.daemon.wait_for(lambda: not str(self.mprop('Codec')), 5, what='disconnected')
        self.ctl('connect', SPEAKER)
        self.daemon.wait_for(lambda: str(self.mprop('Codec')).startswith('SBC 48000 Hz joint-stereo'),
                             10, what='plain SBC')
        self.ctl('sbc-xq', SPEAKER, 'on')
        self.assertNotIn('no-xq=', open(state).read())
