"""Discovery through the control API: StartDiscovery/StopDiscovery,
GetDevices with RSSI, the scan's time limit, BR/EDR only, and the adapter
going away during a scan."""

import time
import unittest

import dbus
import dbus.bus

from common import MANAGER, MANAGER_PATH, SPEAKER, HCI0, wait_for
from control_case import ERR, SPEAKER_B, ControlCase, plain


class DiscoveryTests(ControlCase):

    def adapter_discovering(self):
        return bool(self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Discovering'))

    def test_scan_finds_speaker_with_rssi_and_stops(self):
        # not paired: BlueZ shows it only once an inquiry finds it
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False, 'RSSI': -61})
        self.start_daemon()
        self.assertIsNone(self.device_entry(SPEAKER_B))
        rec = self.recorder()
        self.call('StartDiscovery')
        rec.wait('Discovering', True)
        self.assertTrue(self.adapter_discovering())
        entry = self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 3, what='speaker found')
        self.assertEqual(entry, {'Address': SPEAKER_B, 'Name': 'Kitchen', 'Paired': False,
                                 'Trusted': False, 'Connected': False, 'AudioSink': True, 'RSSI': -61})
        # busctl sees the same list
        devs = self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'GetDevices', as_json=True)
        self.assertEqual(devs['type'], 'aa{sv}')
        self.assertIn(SPEAKER_B, [d['Address']['data'] for d in devs['data'][0]])
        self.call('StopDiscovery')
        rec.wait('Discovering', False)
        self.assertFalse(self.adapter_discovering())
        # RSSI is only there while in range during a scan
        self.daemon.wait_for(lambda: 'RSSI' not in self.device_entry(SPEAKER_B), 2)
        # stopping what is not running is no error
        self.call('StopDiscovery')

    def test_a_long_name_in_another_script_is_cut_at_a_character(self):
        # a speaker names itself (up to 248 bytes over the air); one in
        # kanji is three bytes a character: kept to what fits, it must be
        # cut between characters, or libdbus aborts the daemon as it
        # sends the name out (not UTF-8)
        name = '\u97f3' * 80
        self.bluez.add_device('hci0', SPEAKER_B, name, {'Paired': False, 'RSSI': -61})
        self.start_daemon()
        self.call('StartDiscovery')
        entry = self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 3, what='speaker found')
        got = str(entry['Name'])
        self.assertTrue(got and name.startswith(got), got)
        self.assertGreater(len(got.encode()), 100)
        self.call('StopDiscovery')
        self.assertIsNone(self.daemon.proc.poll())

    def test_rssi_is_from_the_current_scan(self):
        path = self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False, 'RSSI': -61})
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: 'RSSI' in (self.device_entry(SPEAKER_B) or {}), 3)
        self.call('StopDiscovery')
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2)
        # carried away: the next scan does not hear it
        self.bluez.SetInRange(path, False)
        self.call('StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2)
        time.sleep(0.3)      # several inquiry results' time
        entry = self.device_entry(SPEAKER_B)
        self.assertIsNotNone(entry)     # still known for a while (temporary)
        self.assertNotIn('RSSI', entry)

    def test_scan_outlives_its_caller_and_ends_at_its_time_limit(self):
        # busctl leaves the bus right after its call: the scan it started
        # goes on (BlueZ ties it to the daemon), bounded by scan-timeout
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False})
        self.start_daemon(args=['--scan-timeout', '5'])
        t0 = time.monotonic()
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2, what='adapter discovering')
        self.wait_prop('Discovering', True)
        time.sleep(1)
        self.assertTrue(self.adapter_discovering(), 'the scan ended with its caller')
        self.assertIsNotNone(self.device_entry(SPEAKER_B))
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 8, what='scan stopped at its limit')
        self.assertGreater(time.monotonic() - t0, 4.5)
        self.wait_prop('Discovering', False)
        self.assertIn('the scan ran for 5 s; stopping it', self.daemon.log_text())
        # a caller gone before its call is read: the scan runs all the same
        self.busctl('--expect-reply=no', 'call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2, what='adapter discovering')
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StopDiscovery')
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')

    def test_scan_looks_for_bredr_devices_only(self):
        # LE advertisers (beacons, tags) would flood GetDevices and take
        # air time: A2DP sinks are BR/EDR, so the scan is Transport=bredr
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False})
        self.bluez.add_device('hci0', 'C4:7C:8D:6A:12:34', 'Beacon',
                              {'Paired': False, 'Le': True, 'BrEdr': False, 'UUIDs': [],
                               'Class': 0})
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 3, what='speaker found')
        time.sleep(0.3)      # several inquiry results' time
        self.assertIsNone(self.device_entry('C4:7C:8D:6A:12:34'), 'an LE-only advertiser was listed')
        clients = [plain(c) for c in self.bluez.GetDiscoveryClients()]
        self.assertEqual([(c[0], c[2], c[3].get('Transport')) for c in clients],
                         [('hci0', True, 'bredr')], clients)
        self.call('StopDiscovery')
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')

    def test_streaming_ends_the_scan(self):
        self.add_speaker()
        self.add_tone()
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2, what='adapter discovering')
        self.connect_speaker()
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')
        self.wait_prop('Discovering', False)
        self.assertIn('streaming started: stopping the scan', self.daemon.log_text())

    def test_ctl_scan_lists_what_it_found(self):
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False, 'RSSI': -70})
        self.add_speaker()
        self.start_daemon()
        out = self.ctl('scan', '1').stdout
        self.assertIn('found: %s  Kitchen  [speaker, -70 dBm]' % SPEAKER_B, out)
        self.assertIn('%s  Test Speaker  [speaker, paired, trusted]' % SPEAKER, out)
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')
        self.assertFalse(plain(self.mprop('Discovering')))

    def test_stop_right_after_start_stops_the_scan(self):
        # an app that starts and at once stops (both calls in flight
        # together) must not leave the radio scanning
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        self.start_daemon()
        ctx = GLib.MainContext.default()
        app = dbus.bus.BusConnection(self.bus.address, mainloop=DBusGMainLoop())
        self.addCleanup(app.close)
        o = app.get_object('org.a2dpsrc', MANAGER_PATH, introspect=False)
        replies = []
        for method in ('StartDiscovery', 'StopDiscovery'):
            o.get_dbus_method(method, MANAGER)(reply_handler=lambda *a, m=method: replies.append((m, None)),
                                               error_handler=lambda e, m=method: replies.append((m, e)))

        def answered():
            while ctx.iteration(False):
                pass
            return len(replies) == 2
        wait_for(answered, 5, what='both replies')
        self.assertEqual(sorted(replies), [('StartDiscovery', None), ('StopDiscovery', None)])
        # whatever the order BlueZ saw them in, no scan is left running
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')
        self.assertFalse(plain(self.mprop('Discovering')))

    def test_adapter_unplugged_during_a_scan(self):
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2)
        self.wait_prop('Discovering', True)
        self.bluez.RemoveAdapter('hci0')
        self.wait_prop('SpeakerModeBlocker', 'no-adapter')
        self.assertFalse(plain(self.mprop('Discovering')))
        self.assertEqual(plain(self.call('GetDevices')), [])
        self.call('StopDiscovery')
        self.assert_error(ERR + 'NotAvailable', self.call, 'StartDiscovery')
        # plugged in again: scanning works
        self.bluez.add_adapter('hci0')
        self.wait_prop('SpeakerModeBlocker', '')
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: self.adapter_discovering(), 2)
        self.wait_prop('Discovering', True)
        self.call('StopDiscovery')
        self.wait_prop('Discovering', False)
        self.assertIsNone(self.daemon.returncode)

    def test_discovery_without_adapter_is_not_available(self):
        self.bluez.RemoveAdapter('hci0')
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-adapter')
        self.assert_error(ERR + 'NotAvailable', self.call, 'StartDiscovery')
        self.assertFalse(plain(self.mprop('Discovering')))


if __name__ == '__main__':
    unittest.main()
