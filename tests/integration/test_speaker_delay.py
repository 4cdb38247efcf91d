#!/usr/bin/env python3
"""The speaker's own delay: reported (MediaTransport1 Delay), set by the
user for a speaker that reports none (Manager1.SetSpeakerDelay, saved), or
assumed (125 ms). Latency counts it; two speakers will be aligned on it
(issue #13, docs/multi-output.md)."""

import os
import subprocess
import unittest

import dbus

from common import A2dpTestCase, CTL, MANAGER, SPEAKER

ASSUMED_US = 125000


class SpeakerDelayTests(A2dpTestCase):

    def call(self, method, *args, signature=None):
        obj = self.bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc', introspect=False)
        return obj.get_dbus_method(method, MANAGER)(*args, signature=signature)

    def latency(self):
        return int(self.mprop('Latency'))

    def state_text(self):
        return open(os.path.join(self.state_dir, 'state')).read()

    def device_entry(self):
        for dev in self.call('GetDevices'):
            if str(dev['Address']) == SPEAKER:
                return dev
        self.fail('the speaker is not in GetDevices')

    def wait_latency(self, low, high, what):
        """Latency moves with the queue by a few ms: wait until it is in
        [low, high] microseconds."""
        return self.daemon.wait_for(lambda: low <= self.latency() <= high, 5, what=what)

    def stream(self, **opts):
        self.add_speaker(**opts)
        self.start_daemon()
        self.connect_speaker()

    def test_unreported_delay_is_assumed_then_set_then_forgotten(self):
        self.stream()
        # capture period + queue + codec delay stay well under 60 ms here
        self.wait_latency(ASSUMED_US, ASSUMED_US + 60000, 'the assumed 125 ms counted')
        self.assertNotIn('SpeakerDelayUs', self.device_entry())
        self.call('SetSpeakerDelay', SPEAKER.lower(), dbus.UInt32(40000), signature='su')
        self.wait_latency(40000, 40000 + 60000, 'the 40 ms set counted')
        self.assertIn('speaker-delay=%s 40000\n' % SPEAKER, self.state_text())
        self.assertEqual(int(self.device_entry()['SpeakerDelayUs']), 40000)
        # 0: back to the assumption, and nothing left in the file
        self.call('SetSpeakerDelay', SPEAKER, dbus.UInt32(0), signature='su')
        self.wait_latency(ASSUMED_US, ASSUMED_US + 60000, 'back to the assumed 125 ms')
        self.assertNotIn('speaker-delay', self.state_text())
        self.assertNotIn('SpeakerDelayUs', self.device_entry())

    def test_reported_delay_wins_over_the_one_set(self):
        # the speaker reports 250 ms (Delay 2500 in 1/10 ms): what it does
        # now, whatever its user set for it
        self.stream(Delay=2500)
        self.wait_latency(250000, 250000 + 60000, 'the reported 250 ms counted')
        self.call('SetSpeakerDelay', SPEAKER, dbus.UInt32(40000), signature='su')
        self.assertEqual(int(self.device_entry()['SpeakerDelayUs']), 40000)
        self.assertGreaterEqual(self.latency(), 250000)

    def test_saved_delay_applies_after_a_restart(self):
        self.write_state(speaker_mode=True, speaker_delay='%s 300000' % SPEAKER)
        self.stream()
        self.wait_latency(300000, 300000 + 60000, 'the saved 300 ms counted')
        self.assertEqual(int(self.device_entry()['SpeakerDelayUs']), 300000)

    def test_bad_arguments_get_clear_errors(self):
        self.add_speaker()
        self.start_daemon()
        cases = [(('speaker', dbus.UInt32(1000)), 'su', 'not a Bluetooth address'),
                 ((SPEAKER, dbus.UInt32(1000001)), 'su', 'at most 1000000'),
                 ((SPEAKER, dbus.Int32(1000)), 'si', 'takes a device address and microseconds'),
                 ((SPEAKER,), 's', 'takes a device address and microseconds')]
        for args, sig, text in cases:
            with self.assertRaises(dbus.exceptions.DBusException) as e:
                self.call('SetSpeakerDelay', *args, signature=sig)
            self.assertEqual(e.exception.get_dbus_name(), 'org.a2dpsrc.Error.InvalidArguments')
            self.assertIn(text, e.exception.get_dbus_message())
        self.assertNotIn('speaker-delay', self.state_text())
        self.assertIsNone(self.daemon.returncode, 'the daemon died')

    def test_a2dpsrcctl_sets_milliseconds_and_auto(self):
        self.add_speaker()
        self.start_daemon()
        env = dict(self.bus.env)
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        r = subprocess.run([CTL, 'speaker-delay', SPEAKER, '180'], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('speaker-delay=%s 180000\n' % SPEAKER, self.state_text())
        r = subprocess.run([CTL, 'speaker-delay', SPEAKER, 'auto'], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('speaker-delay', self.state_text())


if __name__ == '__main__':
    unittest.main()
