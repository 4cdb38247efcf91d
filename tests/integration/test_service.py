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
