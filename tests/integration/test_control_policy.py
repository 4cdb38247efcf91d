"""The D-Bus policy file (dbus/org.a2dpsrc.conf) on a bus configured like
Debian's system bus: anyone reads, only root changes things."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from common import CTL, DAEMON, MANAGER, MANAGER_PATH, SPEAKER, ROOT, wait_for
from control_case import ControlCase, CtlMonitor
from harness import DBUS_DAEMON, DEBIAN_DEFAULT_POLICY, Daemon, _die_with_parent, _kill

POLICY = os.path.join(ROOT, 'dbus', 'org.a2dpsrc.conf')


class SystemLikeBus:
    """A second private dbus-daemon configured like Debian's system bus
    (method calls denied unless a policy file punches a hole), with
    dbus/org.a2dpsrc.conf in its system.d. Reachable by any uid."""

    CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
""" + DEBIAN_DEFAULT_POLICY + """  <includedir>%(confd)s</includedir>
</busconfig>
"""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='a2dpsrc-sysbus-')
        # other uids must reach the socket
        os.chmod(self.dir, 0o755)
        confd = os.path.join(self.dir, 'system.d')
        os.makedirs(confd)
        shutil.copy(POLICY, os.path.join(confd, 'org.a2dpsrc.conf'))
        self.socket = os.path.join(self.dir, 'system_bus_socket')
        self.config = os.path.join(self.dir, 'system.conf')
        with open(self.config, 'w') as f:
            f.write(self.CONFIG % {'socket': self.socket, 'confd': confd})
        self.log_path = os.path.join(self.dir, 'dbus-daemon.log')
        with open(self.log_path, 'w') as log:
            self.proc = subprocess.Popen([DBUS_DAEMON, '--config-file=' + self.config, '--nofork',
                                          '--print-address'], stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError('dbus-daemon did not start: %s' % open(self.log_path).read())

    @property
    def env(self):
        env = dict(os.environ)
        env['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        return env

    def log_text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def close(self):
        _kill(self.proc, signal.SIGTERM, 5)
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PolicyTests(ControlCase):
    """dbus/org.a2dpsrc.conf on a system-like bus: anyone reads, only root
    (and the a2dpsrc group, which does not exist here) changes things."""

    AS_NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']

    def run_as(self, user, argv):
        prefix = self.AS_NOBODY if user == 'nobody' else []
        env = self.sysbus.env
        env['HOME'] = '/'
        return subprocess.run(prefix + argv, env=env, capture_output=True, text=True, timeout=30)

    def test_policy_lets_anyone_read_and_only_root_change(self):
        self.sysbus = SystemLikeBus()
        self.addCleanup(self.sysbus.close)
        self.add_tone()
        self.write_state(speaker_mode=False)
        # a2dpsrcd as root owns the name the policy grants root
        daemon = Daemon(self.sysbus, DAEMON, log_dir=self.tmp)
        self.addCleanup(daemon.close)
        daemon.start(['--capture', 'tone', '--local-output', 'null', '--state-dir', self.state_dir,
                      '--power-supply', self.power_dir, '-v'],
                     {'ALSA_CONFIG_PATH': self.alsa_conf()})

        def owned():
            r = self.run_as('root', ['busctl', '--system', 'status', 'org.a2dpsrc'])
            return r.returncode == 0
        daemon.wait_for(owned, 5, what='org.a2dpsrc on the system-like bus')

        bc = ['busctl', '--system']
        # nobody: reads and introspects
        r = self.run_as('nobody', bc + ['get-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'q 64'), r.stderr)
        r = self.run_as('nobody', bc + ['introspect', 'org.a2dpsrc', MANAGER_PATH])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('.Connect', r.stdout)
        r = self.run_as('nobody', [CTL, 'status'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('Volume: 64 (50%)', r.stdout)
        # ... and is refused every change
        refused = [
            bc + ['set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume', 'q', '10'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StartDiscovery'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'GetDevices'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Reset'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Connect', 's', SPEAKER],
            bc + ['call', 'org.a2dpsrc', '/org/a2dpsrc/agent', 'org.bluez.Agent1', 'Release'],
        ]
        for argv in refused:
            r = self.run_as('nobody', argv)
            self.assertNotEqual(r.returncode, 0, argv)
            self.assertIn('Access denied', r.stderr, argv)
        r = self.run_as('nobody', [CTL, 'volume', '10'])
        self.assertEqual(r.returncode, 1)
        self.assertIn('permission denied', r.stderr)
        # nor may it take the name
        r = self.run_as('nobody', ['/usr/bin/python3', '-c',
                                   'import dbus.bus, sys; c = dbus.bus.BusConnection(sys.argv[1]); '
                                   'c.request_name("org.a2dpsrc")', self.sysbus.address])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('AccessDenied', r.stderr)

        # root: every change goes through, and nobody's monitor hears of it
        env = self.sysbus.env
        env['HOME'] = '/'
        mon = CtlMonitor(env, self.AS_NOBODY)
        self.addCleanup(mon.close)
        vol = 9

        def heard():
            nonlocal vol
            vol += 1
            r = self.run_as('root', [CTL, 'volume', str(vol)])
            self.assertEqual(r.returncode, 0, r.stderr)
            return any(re.search(r' Volume: %d \(\d+%%\)$' % vol, l) for l in mon.lines)
        wait_for(heard, 5, interval=0.05, what="nobody's monitor hearing root's change")
        self.assertLess(vol, 100)
        r = self.run_as('root', bc + ['set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'IdleSuspend',
                                      'u', '5'])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_as('root', bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'GetDevices'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'aa{sv} 0'), r.stderr)
        # which nobody sees
        r = self.run_as('nobody', bc + ['get-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume'])
        self.assertEqual(r.stdout.strip(), 'q %d' % vol)
        self.assertIsNone(daemon.returncode)


if __name__ == '__main__':
    unittest.main()
