"""The shipped service unit: systemd-analyze verify is clean and the
exposure score stays at or below 2.5."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from common import ROOT, DAEMON


@unittest.skipUnless(shutil.which('systemd-analyze'), 'systemd-analyze is not installed')
class ServiceUnitTests(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='a2dpsrc-unit-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        with open(os.path.join(ROOT, 'systemd', 'a2dpsrcd.service')) as f:
            text = f.read()
        # what make install writes, with the binary where it is now
        self.unit = os.path.join(self.tmp, 'a2dpsrcd.service')
        with open(self.unit, 'w') as f:
            f.write(text.replace('@SBINDIR@', os.path.dirname(DAEMON)))

    def test_verify_clean(self):
        # --man=no: Documentation= names man pages this checkout has not
        # installed; tests/packaging/test-deb.sh verifies with them installed
        out = subprocess.run(['systemd-analyze', 'verify', '--man=no', self.unit],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr.strip(), '', out.stderr)

    def unit_settings(self):
        settings = {}
        with open(self.unit) as f:
            for line in f:
                line = line.strip()
                if '=' in line and not line.startswith('#'):
                    k, v = line.split('=', 1)
                    settings.setdefault(k, []).append(v)
        return settings

    def test_real_time_without_capabilities(self):
        """The audio thread's SCHED_FIFO comes from RLIMIT_RTPRIO alone: no
        capability lets a compromised daemon re-prioritise other processes,
        and a runaway real-time thread is stopped (issue 10, defect 8)."""
        u = self.unit_settings()
        self.assertNotIn('AmbientCapabilities', u)
        self.assertEqual(u.get('CapabilityBoundingSet'), [''])
        self.assertEqual(u.get('LimitRTPRIO'), ['95'])
        self.assertIn('LimitRTTIME', u)
        # what the filter gives back beyond @system-service: only the call
        # pthread_create() makes for a thread created SCHED_FIFO
        allowed = [v for v in u['SystemCallFilter'] if not v.startswith(('~', '@'))]
        self.assertEqual(allowed, ['sched_setscheduler'])

    def test_a_bad_configuration_is_not_restarted(self):
        # a2dpsrcd exits 2 on a bad option or configuration file (one line
        # naming file and line); a restart cannot mend it, and with
        # Restart=on-failure every 2 s it was started five times in 10 s,
        # the same line five times, until the start limit failed the unit
        conf = os.path.join(self.tmp, 'a2dpsrcd.conf')
        with open(conf, 'w') as f:
            f.write('capture = hw:Loopback,1,0\ncolour = blue\n')
        out = subprocess.run([DAEMON, '--config', conf], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn('line 2', out.stderr)
        u = self.unit_settings()
        self.assertEqual(u.get('Restart'), ['on-failure'])
        prevent = ' '.join(u.get('RestartPreventExitStatus', [])).split()
        self.assertIn('2', prevent)

    def test_exposure_at_most_2_5(self):
        out = subprocess.run(['systemd-analyze', 'security', '--offline=yes', self.unit],
                             capture_output=True, text=True)
        m = re.search(r'Overall exposure level for \S+: ([0-9.]+)', out.stdout + out.stderr)
        self.assertTrue(m, out.stdout + out.stderr)
        score = float(m.group(1))
        print('\nsystemd-analyze security exposure: %.1f' % score)
        self.assertLessEqual(score, 2.5)


if __name__ == '__main__':
    unittest.main()
