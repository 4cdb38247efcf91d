"""Restarts of the daemon, seen through the control API: settings and the
last output survive, a2dpsrcctl monitor follows, a corrupt state file is
set aside."""

import os
import signal
import stat
import time
import unittest

import dbus

from common import MANAGER, MANAGER_PATH, SPEAKER, SPEAKER_PATH, wait_for
from control_case import ControlCase, plain


class RestartTests(ControlCase):

    def restart(self):
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)
        mark = len(self.daemon.log_text())
        self.start_daemon()
        return mark

    def test_sighup_is_said_and_ignored(self):
        # a user at a shell sends SIGHUP, as many daemons take it, to have
        # the configuration read again: by default the signal ended the
        # daemon at once, no clean-up, and systemd counts a SIGHUP death a
        # clean exit (Restart=on-failure does not restart it): the board
        # without its speaker until the next boot
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        os.kill(self.daemon.pid, signal.SIGHUP)
        self.daemon.wait_for(lambda: 'SIGHUP ignored' in self.daemon.log_text(), 3,
                             what='SIGHUP said')
        self.assertIsNone(self.daemon.returncode)
        self.assertEqual(plain(self.mprop('State')), 'streaming')
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)

    def test_settings_and_last_output_survive_a_restart(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume', 'q', '90')
        self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Routes', 'a{ss}', '1',
                    'alerts', 'bluetooth')
        self.ctl('idle-suspend', '30')
        self.ctl('auto-reconnect', 'on')
        saved = self.settings()
        # saved atomically: only the file itself, private
        self.assertEqual(sorted(os.listdir(self.state_dir)), ['state'])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.state_dir, 'state')).st_mode), 0o600)
        text = self.state_file()
        for line in ('a2dpsrc-state 1', 'speaker-mode=true', 'route.alerts=bluetooth', 'volume=90',
                     'idle-suspend=30', 'auto-reconnect=true', 'last-output=%s' % SPEAKER):
            self.assertIn(line + '\n', text)

        mark = self.restart()
        s = self.settings()
        for k in ('SpeakerMode', 'Routes', 'Volume', 'AutoReconnect', 'IdleSuspend'):
            self.assertEqual(s[k], saved[k], k)
        # the last output comes back by itself
        self.wait_streaming(timeout=6)
        self.wait_prop('Output', SPEAKER)
        self.wait_prop('State', 'streaming')
        self.assertIn('last output %s' % SPEAKER, self.daemon.log_text()[mark:])

    def test_monitor_follows_a_restart_and_a_leftover_tmp_is_ignored(self):
        self.add_tone()
        self.start_daemon()
        self.set_mprop('Volume', dbus.UInt16(77))
        mon = self.monitor()
        wait_for(lambda: mon.proc.poll() is None and self.bus.name_owner('org.a2dpsrc'), 2)
        self.wait_monitor_listening(mon)
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)
        mon.wait_line(r' a2dpsrcd stopped$')
        # a save cut short by a crash leaves state.tmp behind: not read
        with open(os.path.join(self.state_dir, 'state.tmp'), 'w') as f:
            f.write('a2dpsrc-state 1\nvolume=5\n')
        self.start_daemon()
        mon.wait_line(r' a2dpsrcd started$')
        self.assertEqual(plain(self.mprop('Volume')), 77)
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, 'state.tmp')))
        # the monitor goes on showing changes of the new daemon
        self.ctl('volume', '78')
        mon.wait_line(r' Volume: 78 \(61%\)$')
        # Peer answers too
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping')

    def test_a_last_output_unpaired_in_bluez_is_not_reconnected(self):
        # removed with bluetoothctl while we were down, and found again by
        # a scan: reconnecting would bond implicitly, untrusted, a bond
        # nobody asked for (the double says 'implicit bonding')
        self.add_speaker(Paired=False, Trusted=False, Known=True)
        self.write_state(speaker_mode=True, last_output=SPEAKER, paired=SPEAKER)
        self.start_daemon()
        self.call('StartDiscovery')
        time.sleep(4.0)
        events = '\n'.join(self.bluez.event_log())
        self.assertNotIn('implicit bonding', events)
        self.assertNotIn('ConnectProfile', events)
        self.assertFalse(self.double_device(SPEAKER_PATH)['Connected'])
        self.assertIn('%s is no longer paired; not reconnecting it' % SPEAKER, self.daemon.log_text())
        # a Connect pairs it again, and connects
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.assertTrue(self.double_device(SPEAKER_PATH)['Trusted'])

    def test_a_playing_speaker_removed_in_bluez_is_not_retried_for_ever(self):
        # bluetoothctl remove while it plays: 5.66 disconnects it, then
        # drops the object and the bond. Its reconnect went on backing off
        # to a minute for the daemon's life, a log line a minute, for a
        # device no try could find
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        mark = len(self.daemon.log_text())
        adapter = dbus.Interface(self.bluez.obj('/org/bluez/hci0'), 'org.bluez.Adapter1')
        adapter.RemoveDevice(dbus.ObjectPath(SPEAKER_PATH))
        time.sleep(3.5)
        log = self.daemon.log_text()[mark:]
        # the try after a link loss's second, and no more
        self.assertEqual(log.count('reconnecting %s in' % SPEAKER), 1, log)
        self.assertIn('%s is no longer known to BlueZ; not reconnecting it' % SPEAKER, log)
        self.assertEqual(plain(self.mprop('Output')), '')
        # in pairing mode, found by a scan and connected (so paired)
        # again, it plays
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'Discoverable', True)
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER), 3, what='speaker found again')
        self.call('Connect', SPEAKER)
        self.wait_streaming()

    def test_a_speaker_removed_in_bluez_while_being_reconnected_is_let_go(self):
        # out of range, it is paged again and again; removed meanwhile,
        # 5.66 answers the ConnectProfile under way (service_remove:
        # br-connection-aborted-by-local) and the daemon stops there
        self.add_speaker(PageTimeoutMs=3000)
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        mark = len(self.daemon.log_text())
        self.bluez.SetInRange(SPEAKER_PATH, False)
        self.daemon.wait_for(lambda: 'info: connecting %s' % SPEAKER in self.daemon.log_text()[mark:], 3,
                             what='paged again')
        time.sleep(0.5)     # in the middle of its 3 s page
        self.wait_prop('State', 'connecting')
        mark = len(self.daemon.log_text())
        self.bluez.ClearLog()
        adapter = dbus.Interface(self.bluez.obj('/org/bluez/hci0'), 'org.bluez.Adapter1')
        adapter.RemoveDevice(dbus.ObjectPath(SPEAKER_PATH))
        self.daemon.wait_for(lambda: plain(self.mprop('State')) != 'connecting', 2,
                             what='the connection under way over')
        time.sleep(4.0)
        log = self.daemon.log_text()[mark:]
        self.assertIn('%s is no longer known to BlueZ; not reconnecting it' % SPEAKER, log)
        self.assertNotIn('ConnectProfile', '\n'.join(self.bluez.event_log()))
        self.assertNotEqual(plain(self.mprop('State')), 'connecting')

    def test_auto_reconnect_off_survives_a_restart(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.set_mprop('AutoReconnect', False)
        self.restart()
        self.assertFalse(plain(self.mprop('AutoReconnect')))
        time.sleep(2.0)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.assertEqual(plain(self.mprop('Output')), '')
        # asking brings it back
        self.call('Connect', SPEAKER)
        self.wait_streaming()

    def test_corrupt_state_file_is_set_aside(self):
        bad = {
            'garbage': b'\x00\xff\xfe garbage \x01\x02\n',
            'truncated': b'a2dpsrc-state 1\nspeaker-mode=true\nvolume=1',
            'wrong version': b'a2dpsrc-state 9\nspeaker-mode=true\n',
            'bad value': b'a2dpsrc-state 1\nvolume=300\n',
        }
        self.add_tone()
        for i, (what, data) in enumerate(bad.items()):
            with self.subTest(what=what):
                for f in os.listdir(self.state_dir):
                    os.unlink(os.path.join(self.state_dir, f))
                with open(os.path.join(self.state_dir, 'state'), 'wb') as f:
                    f.write(data)
                mark = len(self.daemon.log_text()) if self.daemon else 0
                self.start_daemon(speaker_mode=None)
                s = self.settings()
                self.assertEqual((s['SpeakerMode'], s['Volume'], s['IdleSuspend'], s['AutoReconnect']),
                                 (False, 64, 0, True))
                self.assertEqual(s['Routes'], {'media': 'bluetooth', 'alerts': 'local', 'voice': 'local'})
                aside = [f for f in os.listdir(self.state_dir) if f.startswith('state.corrupt-')]
                self.assertEqual(len(aside), 1, os.listdir(self.state_dir))
                with open(os.path.join(self.state_dir, aside[0]), 'rb') as f:
                    self.assertEqual(f.read(), data)
                log = self.daemon.log_text()[mark:]
                self.assertRegex(log, r'warning: settings in .* were unreadable \(.*moved to %s\)' % aside[0])
                # the next change writes a good file again
                self.set_mprop('Volume', dbus.UInt16(70))
                self.assertIn('volume=70\n', self.state_file())
                self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)


if __name__ == '__main__':
    unittest.main()
