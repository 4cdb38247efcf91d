"""Manager1.Diagnose and `a2dpsrcctl doctor` (issue 14): every check is made
to fail on the double, and the verdict and the fix are read back, through
D-Bus and through the command line (checklist, --json, exit status)."""

import json
import time

import dbus

from common import HCI0, SPEAKER, SPEAKER_PATH
from test_control import ControlCase, ERR, HEADSET, HEADSET_UUIDS, dev_path, plain


class DoctorCase(ControlCase):

    def diagnose(self, address=''):
        out = {}
        for fid, verdict, seen, fix in self.call('Diagnose', address):
            self.assertNotIn(str(fid), out, 'finding %s twice' % fid)
            out[str(fid)] = (str(verdict), str(seen), str(fix))
        return out

    def finding(self, fid, address=SPEAKER, verdict=None):
        f = self.diagnose(address)
        self.assertIn(fid, f, 'no finding %s: %s' % (fid, f))
        if verdict:
            self.assertEqual(f[fid][0], verdict, '%s: %s' % (fid, f[fid]))
        return f[fid]

    def wait_finding(self, fid, verdict, address=SPEAKER, timeout=10):
        last = []

        def check():
            last[:] = [self.diagnose(address).get(fid)]
            return last[0] and last[0][0] == verdict
        try:
            self.daemon.wait_for(check, timeout, what='%s %s' % (fid, verdict))
        except AssertionError:
            self.fail('%s never became %s: %s' % (fid, verdict, last))
        return last[0]

    def doctor(self, *args):
        return self.ctl('doctor', *args, check=False)


class BoardTests(DoctorCase):

    def test_healthy_board(self):
        self.start_daemon()
        f = self.diagnose('')
        for fid in ('bluetoothd', 'speaker-mode', 'capture', 'scan'):
            self.assertEqual(f[fid][0], 'ok', f)
        out = self.doctor()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn('a2dpsrc doctor: the board', out.stdout)
        self.assertIn('[ ok ] bluetoothd', out.stdout.replace('  ', ' '))
        j = json.loads(self.ctl('--json', 'doctor').stdout)
        self.assertEqual(j['address'], '')
        self.assertEqual(j['verdict'], 'ok')
        self.assertEqual({x['id'] for x in j['findings']}, set(f))

    def test_bad_arguments(self):
        self.add_speaker()
        self.start_daemon()
        msg = self.assert_error(ERR + 'InvalidArguments', self.call, 'Diagnose', 'speaker')
        self.assertIn('not a Bluetooth address', msg)
        self.assert_error(ERR + 'InvalidArguments', self.call, 'Diagnose', dbus.UInt32(1))
        self.assert_error(ERR + 'InvalidArguments', self.call, 'Diagnose', SPEAKER, 'x')
        self.assert_error(ERR + 'InvalidArguments', self.call, 'Diagnose')
        msg = self.assert_error(ERR + 'NotFound', self.call, 'Diagnose', '00:11:22:33:44:99')
        self.assertIn('00:11:22:33:44:99', msg)
        # lower case is the same device
        self.assertIn('device-known', self.diagnose(SPEAKER.lower()))
        out = self.doctor('nonsense')
        self.assertEqual(out.returncode, 2)
        out = self.doctor('00:11:22:33:44:99')
        self.assertEqual(out.returncode, 1)
        self.assertIn('00:11:22:33:44:99', out.stderr)
        self.assertIsNone(self.daemon.returncode)

    def test_speaker_mode_blocked_on_battery(self):
        self.power_supply('BAT0', type='Battery', status='Discharging', scope='System', present=1)
        self.power_supply('AC', type='Mains', online=0)
        self.start_daemon()
        v, seen, fix = self.finding('speaker-mode', '', 'problem')
        self.assertIn('battery', seen)
        self.assertIn('mains', fix)
        out = self.doctor()
        self.assertEqual(out.returncode, 1)
        self.assertIn('[FAIL] speaker-mode', out.stdout)
        self.assertIn('-> Plug the board into mains power', out.stdout)

    def test_speaker_mode_blocked_adapter_off(self):
        self.start_daemon()
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', False)
        v, seen, fix = self.wait_finding('speaker-mode', 'problem', '')
        self.assertIn('hci0 is powered off', seen)
        self.assertIn('bluetoothctl power on', fix)

    def test_speaker_mode_off(self):
        self.write_state(speaker_mode=False)
        self.start_daemon()
        v, seen, fix = self.finding('speaker-mode', '', 'warning')
        self.assertIn('a2dpsrcctl speaker-mode on', fix)
        self.assertEqual(self.doctor().returncode, 0)   # a warning is no problem

    def test_bluetoothd_gone(self):
        self.start_daemon()
        self.bluez.stop()
        v, seen, fix = self.wait_finding('bluetoothd', 'problem', '')
        self.assertIn('systemctl start bluetooth', fix)

    def test_capture_missing(self):
        self.start_daemon(capture='nosuchpcm')
        v, seen, fix = self.finding('capture', '', 'problem')
        self.assertIn('nosuchpcm', seen)
        self.assertIn('snd-aloop', fix)


class NoBrEdrTests(DoctorCase):
    bluez_params = {'adapters': [{'name': 'hci0', 'props': {'BrEdr': False}}]}

    def test_le_only_adapter(self):
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-br-edr')
        v, seen, fix = self.finding('speaker-mode', '', 'problem')
        self.assertIn('hci0 is Bluetooth Low Energy only', seen)
        self.assertIn('BR/EDR', fix)


class DeviceTests(DoctorCase):

    def test_streaming_speaker_is_healthy(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        self.wait_finding('volume', 'ok')       # AVRCP comes up after the stream
        f = self.diagnose(SPEAKER)
        for fid in ('device-known', 'a2dp-sink', 'in-range', 'bond', 'busy', 'auto-sleep',
                    'suspended', 'silence', 'routing', 'volume', 'codec', 'link-quality', 'scan'):
            self.assertEqual(f[fid][0], 'ok', '%s: %s' % (fid, f[fid]))
        self.assertIn('audio sink (A2DP)', f['a2dp-sink'][1])
        out = self.doctor(SPEAKER)
        self.assertEqual(out.returncode, 0, out.stdout)

    def test_not_an_a2dp_sink(self):
        self.bluez.add_device('hci0', HEADSET, 'Headset', {'Paired': True, 'UUIDs': HEADSET_UUIDS})
        self.start_daemon()
        v, seen, fix = self.finding('a2dp-sink', HEADSET, 'problem')
        self.assertIn('headset (HSP)', seen)
        self.assertIn('hands-free (HFP)', seen)
        self.assertNotIn('audio sink (A2DP)', seen)
        self.assertIn('cannot play music', fix)

    def test_out_of_range(self):
        self.add_speaker(InRange=False, PageTimeoutMs=200)
        self.start_daemon()
        self.assert_error(ERR + 'NotAvailable', self.call, 'Connect', SPEAKER)
        v, seen, fix = self.finding('in-range', SPEAKER, 'problem')
        self.assertIn('did not answer 1 connection attempt', seen)
        self.assertIn('not connected since a2dpsrcd started', seen)
        self.assertIn('within a few metres', fix)
        out = self.doctor(SPEAKER, '--json')
        self.assertEqual(out.returncode, 1)
        j = json.loads(out.stdout)
        self.assertEqual(j['verdict'], 'problem')
        self.assertIn('in-range', [x['id'] for x in j['findings'] if x['verdict'] == 'problem'])

    def test_bond_lost(self):
        # the speaker forgot the board: it answers the page, and the kernel's
        # authentication with the board's stale key fails: the L2CAP channel
        # is refused (ECONNREFUSED, bluetoothd's "br-connection-refused")
        self.add_speaker(ConnectError='br-connection-refused')
        self.start_daemon()
        self.assert_error(ERR + 'Failed', self.call, 'Connect', SPEAKER)
        v, seen, fix = self.finding('bond', SPEAKER, 'problem')
        self.assertIn('forgotten the pairing', seen)
        self.assertIn('br-connection-refused', seen)
        self.assertIn('a2dpsrcctl forget %s' % SPEAKER, fix)
        self.assertEqual(self.finding('in-range')[0], 'ok')

    def test_device_removed_from_bluetoothd(self):
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        adapter = dbus.Interface(self.bluez.obj(HCI0), 'org.bluez.Adapter1')
        adapter.RemoveDevice(dbus.ObjectPath(SPEAKER_PATH))
        v, seen, fix = self.wait_finding('device-known', 'problem')
        self.assertIn('does not know', seen)
        self.assertIn('pairing mode', fix)
