"""The whole flow a user types in a shell, from docs/dbus-api.md ("A whole
session with busctl"), run as plain one-shot busctl processes on the private
bus: scan, list, pair, connect, route, volume. The lines are read from the
document, so its example stays true."""

import os
import re
import shlex
import subprocess
import time

from common import ROOT, SPEAKER, SPEAKER_PATH, HCI0
from control_case import ControlCase, plain

DOC = os.path.join(ROOT, 'docs', 'dbus-api.md')


def session_lines():
    with open(DOC) as f:
        text = f.read()
    section = text[text.index('## A whole session with busctl'):]
    block = re.search(r'```sh\n(.*?)```', section, re.S).group(1)
    return [l for l in block.splitlines() if l.strip()]


class BusctlFlowTests(ControlCase):
    # an inquiry takes a while to hear a speaker: the scan must still run
    # after the busctl that started it has exited
    bluez_params = {'discovery_result_ms': 1500}

    def run_line(self, line):
        argv = shlex.split(line)
        self.assertEqual(argv[0], 'busctl', line)
        out = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=70)
        self.assertEqual(out.returncode, 0, '%s\n%s%s' % (line, out.stdout, out.stderr))
        return out.stdout

    def test_scan_pair_connect_route_volume_with_one_shot_busctl_calls(self):
        lines = session_lines()
        self.bluez.add_device('hci0', SPEAKER, 'Test Speaker', {'Paired': False})
        self.add_tone()
        self.start_daemon(speaker_mode=False)
        for line in lines:
            if line.startswith('sleep '):
                # the document waits; the test waits only as long as needed
                limit = float(line.split()[1])
                get = next(l for l in lines if 'GetDevices' in l)
                t0 = time.monotonic()
                while SPEAKER not in self.run_line(get):
                    self.assertLess(time.monotonic() - t0, limit,
                                    'the scan did not find the speaker: %s' % self.daemon.log_text())
                    time.sleep(0.2)
                continue
            out = self.run_line(line)
            if 'GetDevices' in line:
                self.assertIn('"%s"' % SPEAKER, out)
        # the last line reads State: streaming a moment after Connect
        self.assertIn('State', lines[-1])
        self.daemon.wait_for(lambda: self.run_line(lines[-1]).strip() == 's "streaming"', 3,
                             what='busctl reads State streaming')
        dev = self.double_device(SPEAKER_PATH)
        self.assertTrue(dev['Paired'] and dev['Trusted'], dev)
        self.assertEqual(plain(self.mprop('Routes'))['alerts'], 'bluetooth')
        t = self.wait_streaming()
        self.daemon.wait_for(lambda: 80 in plain(self.bluez.GetVolumeWrites(t)), 3,
                             what='volume 80 sent over AVRCP')
        # streaming ended the scan
        self.daemon.wait_for(lambda: not plain(self.bluez.prop(HCI0, 'org.bluez.Adapter1',
                                                               'Discovering')), 3,
                             what='scan stopped')
        self.assertFalse(plain(self.mprop('Discovering')))
