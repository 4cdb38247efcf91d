"""What keeps speaker mode off, through the control API: the board on
battery, an LE-only adapter, no adapter, an adapter powered off."""

import time
import unittest

import dbus

from common import MANAGER, MANAGER_PATH, SPEAKER, SPEAKER_PATH, HCI0
from control_case import ERR, ControlCase, plain


class PowerTests(ControlCase):

    def on_battery(self):
        self.power_supply('BAT0', type='Battery', status='Discharging', scope='System', present=1)
        self.power_supply('AC', type='Mains', online=0)

    def test_speaker_mode_refused_on_battery(self):
        self.add_speaker()
        self.on_battery()
        self.start_daemon()
        # the saved "on" gives way to the battery at start-up
        self.assertFalse(plain(self.mprop('SpeakerMode')))
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), 'on-battery')
        self.assertEqual(plain(self.mprop('State')), 'off')
        before = self.settings()
        msg = self.assert_error(ERR + 'OnBattery', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('battery', msg)
        self.assert_error(ERR + 'OnBattery', self.call, 'Connect', SPEAKER)
        out = self.ctl('speaker-mode', 'on', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('runs on battery', out.stderr)
        self.assertEqual(self.settings(), before)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        # plugged in: the poll (every 2 s) lifts the blocker
        rec = self.recorder()
        self.power_supply('AC', online=1)
        rec.wait('SpeakerModeBlocker', '', timeout=4)
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.assertTrue(plain(self.mprop('SpeakerMode')))

    def test_going_onto_battery_while_streaming_switches_speaker_mode_off(self):
        self.add_speaker()
        self.power_supply('BAT0', type='Battery', status='Charging', scope='System')
        self.power_supply('AC', type='Mains', online=1)
        self.start_daemon()
        self.connect_speaker()
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), '')
        rec = self.recorder()
        self.power_supply('BAT0', status='Discharging')
        self.power_supply('AC', online=0)
        t0 = time.monotonic()
        t = rec.wait('SpeakerMode', False, timeout=4)
        self.assertLess(t - t0, 3.0, 'speaker mode stayed on for %.1f s on battery' % (t - t0))
        rec.wait('State', 'off')
        rec.wait('SpeakerModeBlocker', 'on-battery')
        self.log_has('speaker mode switched off: the board runs on battery')
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) in (None, 'idle'), 2,
                             what='stream released')
        self.assertIn('speaker-mode=false\n', self.state_file())
        self.assertIsNone(self.daemon.returncode)

    def test_no_battery_counts_as_mains(self):
        self.power_supply('AC', type='Mains', online=0)
        self.power_supply('usb', type='USB', online=0)
        # a peripheral's battery is not the board's
        self.power_supply('hid-mouse-battery', type='Battery', status='Discharging', scope='Device')
        self.add_speaker()
        self.start_daemon()
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), '')
        self.assertTrue(plain(self.mprop('SpeakerMode')))
        self.connect_speaker()


class LeOnlyAdapterTests(ControlCase):
    bluez_params = {'adapters': [{'name': 'hci0', 'props': {'BrEdr': False}}]}

    def test_le_only_adapter_is_not_supported(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-br-edr')
        before = self.settings()
        msg = self.assert_error(ERR + 'NotSupported', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('not supported on this device', msg)
        msg = self.assert_error(ERR + 'NotSupported', self.call, 'Connect', SPEAKER)
        self.assertIn('not supported on this device', msg)
        out = self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'SpeakerMode', 'b', 'true',
                          check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('not supported on this device', out.stderr)
        self.assertEqual(self.settings(), before)
        self.assertEqual(self.ctl('status').stdout.count('SpeakerModeBlocker: no-br-edr'), 1)


class AdapterOffAtStartTests(ControlCase):
    # the kernel clears the Class of Device of an adapter powered off, and
    # bluetoothd 5.66 shows it so (adapter_stop): Bluetooth switched off
    # (rfkill restored at boot) is not an LE-only controller
    bluez_params = {'adapters': [{'name': 'hci0', 'props': {'Powered': False}}]}

    def test_an_adapter_off_from_the_start_is_off_not_le_only(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon()
        self.assertEqual(int(self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Class')), 0)
        self.wait_prop('SpeakerModeBlocker', 'adapter-off')
        msg = self.assert_error(ERR + 'NotAvailable', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('powered off', msg)
        doctor = self.ctl('doctor', check=False).stdout
        self.assertNotIn('Low Energy', doctor)
        self.assertIn('powered off', doctor)
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(True))
        self.wait_prop('SpeakerModeBlocker', '')
        self.call('Connect', SPEAKER)
        self.wait_streaming()


class AdapterTests(ControlCase):

    def test_no_adapter_then_one_plugged_in(self):
        self.bluez.RemoveAdapter('hci0')
        self.add_tone()
        self.write_state(speaker_mode=False)
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-adapter')
        msg = self.assert_error(ERR + 'NotSupported', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('No Bluetooth adapter', msg)
        self.assertFalse(plain(self.mprop('SpeakerMode')))
        rec = self.recorder()
        self.bluez.add_adapter('hci0')
        rec.wait('SpeakerModeBlocker', '')
        self.set_mprop('SpeakerMode', True)
        rec.wait('SpeakerMode', True)

    def test_calls_before_bluetoothd_and_its_adapter_are_up_say_so(self):
        # At boot a companion app calls as soon as a2dpsrcd is on the bus:
        # bluetoothd may still be starting (or restarting after a crash),
        # and a UART controller is attached seconds after it (hciuart,
        # btattach). Meanwhile no device is known, and Connect/Pair/Forget
        # of the paired speaker said "NotFound: No device ... is known;
        # scan for it first", which sends the user scanning for a speaker
        # that is paired (and the scan says there is no adapter)
        self.add_tone()
        self.write_state(speaker_mode=False, paired=SPEAKER)
        self.bluez.stop()
        self.start_daemon(wait_registered=False)
        self.daemon.wait_for(lambda: self.bus.name_owner('org.a2dpsrc'), 5, what='a2dpsrcd on the bus')
        for method in ('Connect', 'Pair', 'Forget'):
            msg = self.assert_error(ERR + 'NotAvailable', self.call, method, SPEAKER)
            self.assertIn('bluetoothd is not running', msg, method)
            self.assertNotIn('scan', msg, method)
        out = self.ctl('connect', SPEAKER, check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('bluetoothd is not running', out.stderr)
        # bluetoothd is up, its controller not yet
        self.bluez.start()
        self.bluez.RemoveAdapter('hci0')
        self.log_has('bluetoothd is on the bus as')
        time.sleep(0.3)     # its objects read, the adapter's removal seen
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), 'no-adapter')
        for method in ('Connect', 'Pair', 'Forget'):
            msg = self.assert_error(ERR + 'NotSupported', self.call, method, SPEAKER)
            self.assertIn('No Bluetooth adapter is available', msg, method)
        # nothing was lost: the speaker is still ours, and connects once
        # the controller is there
        self.assertIn(SPEAKER, self.state_file())
        self.bluez.add_adapter('hci0')
        self.add_speaker()
        self.call('Connect', SPEAKER)
        self.wait_streaming()

    def back_at_once(self, off, on):
        """Streaming; Bluetooth goes away (off()) for 8 s, long enough
        for a backoff to have grown to 8 s; on() brings it back: the
        speaker plays again within 3 s."""
        self.add_speaker()
        self.add_tone()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        off()
        time.sleep(8)
        t0 = time.monotonic()
        on()
        self.wait_streaming(timeout=30)
        took = time.monotonic() - t0
        self.assertLess(took, 3.0, 'streaming again %.1f s after Bluetooth came back' % took)

    def test_the_speaker_comes_back_at_once_when_bluetooth_is_switched_on(self):
        def power(on):
            return lambda: self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(on))
        self.back_at_once(power(False), power(True))
        # no connection was tried while the adapter was off
        self.assertNotIn('br-connection-adapter-not-powered', self.daemon.log_text())

    def test_the_speaker_comes_back_at_once_when_the_dongle_is_plugged_in_again(self):
        # an unplug shows as the kernel's power-off, then the index gone
        def unplug():
            self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(False))
            time.sleep(0.5)
            self.bluez.RemoveAdapter('hci0')

        def plug():
            self.bluez.add_adapter('hci0')
            self.add_speaker()
        self.back_at_once(unplug, plug)

    def test_a_second_adapter_serves_while_the_first_is_off(self):
        # the board's own controller (hci0) switched off, a dongle (hci1)
        # on: the speaker on the dongle plays
        self.bluez.add_adapter('hci1')
        path = self.add_speaker(adapter='hci1')
        self.add_tone()
        self.start_daemon()
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(False))
        self.wait_prop('SpeakerModeBlocker', '')
        time.sleep(0.5)
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), '')
        self.call('Connect', SPEAKER)
        self.wait_streaming(path)

    def test_a_speaker_on_both_adapters_is_the_one_its_link_is_on(self):
        # paired on the board's hci0 and, while hci0 was off, on the dongle
        # (hci1) too: hci0 coming back on does not connect it a second
        # time, and Disconnect ends the link it plays on
        self.bluez.add_adapter('hci1')
        on_hci0 = self.add_speaker()
        on_hci1 = self.add_speaker(adapter='hci1', Paired=False, Trusted=False)
        self.add_tone()
        self.start_daemon()
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(False))
        self.wait_prop('SpeakerModeBlocker', '')
        self.call('StartDiscovery')
        time.sleep(1.0)
        self.call('Connect', SPEAKER)
        self.wait_streaming(on_hci1)
        self.bluez.ClearLog()
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(True))
        time.sleep(1.5)
        self.assertNotIn('ConnectProfile', '\n'.join(self.bluez.event_log()))
        self.assertIsNone(self.bluez.transport_for(on_hci0))
        self.assertEqual([str(a) for a in self.mprop('Outputs')], [SPEAKER])
        self.assertEqual(plain(self.mprop('State')), 'streaming')
        self.call('Disconnect')
        self.daemon.wait_for(lambda: not self.double_device(on_hci1)['Connected'], 3,
                             what='the link on hci1 ended')
        self.assertIsNone(self.bluez.transport_for(on_hci1))

    def test_adapter_powered_off_is_not_available(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon()
        rec = self.recorder()
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(False))
        rec.wait('SpeakerModeBlocker', 'adapter-off')
        msg = self.assert_error(ERR + 'NotAvailable', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('powered off', msg)
        self.assert_error(ERR + 'NotAvailable', self.call, 'StartDiscovery')
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(True))
        rec.wait('SpeakerModeBlocker', '')
        self.call('Connect', SPEAKER)
        self.wait_streaming()


if __name__ == '__main__':
    unittest.main()
