"""The shipped D-Bus policy (dbus/org.a2dpsrc.conf) on a real dbus-daemon
with clients running as different users: who may call the daemon, who may
send it anything else, and what its own user may send.

Stand-ins (the test needs no users of its own): `daemon` plays the a2dpsrc
user, `bin` a member of the a2dpsrc group, `nobody` everyone else, root
bluetoothd. The policy is loaded with those names put in place of a2dpsrc;
the bus's own defaults are those of Debian's system.conf."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, DBUS_DAEMON, DEBIAN_DEFAULT_POLICY, PYTHON, wait_for, _die_with_parent

POLICY = os.path.join(ROOT, 'dbus', 'org.a2dpsrc.conf')
A2DPSRC_USER, GROUP_MEMBER, STRANGER = 'daemon', 'bin', 'nobody'

BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
''' + DEBIAN_DEFAULT_POLICY + '''  <!-- what bluetooth.conf gives bluetoothd; the bystander (another
       program's agent, say) takes calls only where a policy says so -->
  <policy user="root">
    <allow own="org.bluez"/>
    <allow own="org.example.Victim"/>
    <allow send_destination="org.bluez"/>
  </policy>
  <include>{policy}</include>
</busconfig>
'''

# A service that answers every method call and notes every message it gets.
SERVICE = r'''
import sys, dbus, dbus.lowlevel, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
name, log = sys.argv[1], sys.argv[2]
bus = dbus.bus.BusConnection(sys.argv[3])
def on_message(conn, msg):
    with open(log, 'a') as f:
        f.write('%d %s.%s\n' % (msg.get_type(), msg.get_interface(), msg.get_member()))
    if msg.get_type() == 1:
        conn.send_message(dbus.lowlevel.MethodReturnMessage(msg))
        return dbus.lowlevel.HANDLER_RESULT_HANDLED
    return dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED
bus.add_message_filter(on_message)
bus.request_name(name, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
print('ready', flush=True)
GLib.MainLoop().run()
'''


def as_user(name):
    pw = pwd.getpwnam(name)

    def drop():
        _die_with_parent()
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


@unittest.skipUnless(os.geteuid() == 0, 'clients as other users need root')
class PolicyTests(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='a2dpsrc-policy-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)
        with open(POLICY) as f:
            text = f.read()
        self.assertIn('user="a2dpsrc"', text)
        self.assertIn('group="a2dpsrc"', text)
        policy = os.path.join(self.tmp, 'policy.conf')
        with open(policy, 'w') as f:
            f.write(text.replace('user="a2dpsrc"', 'user="%s"' % A2DPSRC_USER)
                        .replace('group="a2dpsrc"', 'group="%s"' % GROUP_MEMBER))
        sock = os.path.join(self.tmp, 'bus')
        conf = os.path.join(self.tmp, 'bus.conf')
        with open(conf, 'w') as f:
            f.write(BUS_CONFIG.format(socket=sock, policy=policy))
        with open(os.path.join(self.tmp, 'bus.log'), 'w') as log:
            self.bus = subprocess.Popen([DBUS_DAEMON, '--config-file=' + conf, '--nofork',
                                         '--print-address'], stdout=subprocess.PIPE, stderr=log,
                                        preexec_fn=_die_with_parent)
        self.addCleanup(self.stop, self.bus)
        self.address = self.bus.stdout.readline().decode().strip()
        self.assertTrue(self.address, 'dbus-daemon did not start')
        self.logs = {}
        self.service('org.a2dpsrc', A2DPSRC_USER)
        self.service('org.bluez', 'root')
        self.service('org.example.Victim', 'root')

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def service(self, name, user):
        log = os.path.join(self.tmp, name + '.log')
        open(log, 'w').close()
        os.chmod(log, 0o666)
        p = subprocess.Popen([PYTHON, '-c', SERVICE, name, log, self.address],
                             stdout=subprocess.PIPE, preexec_fn=as_user(user))
        self.addCleanup(self.stop, p)
        self.assertEqual(p.stdout.readline().strip(), b'ready')
        self.logs[name] = log

    def received(self, name):
        with open(self.logs[name]) as f:
            return f.read()

    def send(self, user, dest, member, *args, path='/', signal_=False):
        """dbus-send as user; returns the D-Bus error name, or '' when the
        call was delivered and answered."""
        iface, _, meth = member.rpartition('.')
        argv = ['dbus-send', '--bus=' + self.address, '--dest=' + dest,
                '--type=' + ('signal' if signal_ else 'method_call')]
        if not signal_:
            argv.append('--print-reply')
        argv += [path, member] + list(args)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             preexec_fn=as_user(user))
        if out.returncode == 0:
            return ''
        first = out.stderr.strip().split(':')[0]
        return first.replace('Error ', '')

    def assert_denied(self, user, dest, member, *args, **kw):
        self.assertEqual(self.send(user, dest, member, *args, **kw),
                         'org.freedesktop.DBus.Error.AccessDenied',
                         '%s may call %s on %s' % (user, member, dest))

    def assert_allowed(self, user, dest, member, *args, **kw):
        self.assertEqual(self.send(user, dest, member, *args, **kw), '',
                         '%s may not call %s on %s' % (user, member, dest))

    def signal_delivered(self, user, dest, member, *args):
        """Sends a unicast signal; True when the receiver got it."""
        before = self.received(dest).count(member.rpartition('.')[2])
        self.send(user, dest, member, *args, signal_=True)
        time.sleep(0.3)
        return self.received(dest).count(member.rpartition('.')[2]) > before

    def test_the_service_user_sends_agent_and_endpoint_calls_to_bluez_only(self):
        # bluetoothd's agent and endpoint API is what bluetoothd sends; the
        # daemon never calls another program's agent or endpoint
        self.assert_denied(A2DPSRC_USER, 'org.example.Victim', 'org.bluez.Agent1.RequestPinCode',
                           'objpath:/org/bluez/hci0/dev_00_11_22_33_44_55')
        self.assert_denied(A2DPSRC_USER, 'org.example.Victim', 'org.bluez.MediaEndpoint1.ClearConfiguration',
                           'objpath:/x')
        self.assert_denied(A2DPSRC_USER, 'org.example.Victim', 'org.example.Victim.Anything')
        # what it does send: calls to bluetoothd (the speaker's remote
        # endpoint for reconfiguration included) and to its own name
        self.assert_allowed(A2DPSRC_USER, 'org.bluez', 'org.bluez.Media1.RegisterApplication',
                            'objpath:/org/a2dpsrc', 'dict:string:string:', path='/org/bluez/hci0')
        self.assert_allowed(A2DPSRC_USER, 'org.bluez', 'org.bluez.MediaEndpoint1.SetConfiguration',
                            'objpath:/x', 'dict:string:string:',
                            path='/org/bluez/hci0/dev_00_11_22_33_44_55/sep1')

    def test_everyone_reads_only_the_group_changes(self):
        get = ('org.freedesktop.DBus.Properties.Get', 'string:org.a2dpsrc.Manager1', 'string:State')
        for user in (STRANGER, GROUP_MEMBER, 'root'):
            self.assert_allowed(user, 'org.a2dpsrc', *get, path='/org/a2dpsrc')
            self.assert_allowed(user, 'org.a2dpsrc', 'org.freedesktop.DBus.Introspectable.Introspect',
                                path='/org/a2dpsrc')
        self.assert_denied(STRANGER, 'org.a2dpsrc', 'org.a2dpsrc.Manager1.Disconnect', path='/org/a2dpsrc')
        self.assert_denied(STRANGER, 'org.a2dpsrc', 'org.freedesktop.DBus.Properties.Set',
                           'string:org.a2dpsrc.Manager1', 'string:SpeakerMode', 'variant:boolean:false',
                           path='/org/a2dpsrc')
        self.assert_allowed(GROUP_MEMBER, 'org.a2dpsrc', 'org.a2dpsrc.Manager1.Disconnect',
                            path='/org/a2dpsrc')

    def test_nobody_sends_the_daemon_unicast_signals(self):
        # the recorder works: a bystander gets a stranger's unicast signal
        self.assertTrue(self.signal_delivered(STRANGER, 'org.example.Victim',
                                              'org.freedesktop.DBus.Properties.Get',
                                              'string:x', 'string:y'))
        # a stranger's signal dressed as the methods everyone may call
        self.assertFalse(self.signal_delivered(STRANGER, "org.a2dpsrc",
                                               'org.freedesktop.DBus.Properties.Get',
                                               'string:org.a2dpsrc.Manager1', 'string:State'),
                         'a stranger\'s signal named like Properties.Get was delivered')
        self.assertFalse(self.signal_delivered(STRANGER, "org.a2dpsrc",
                                               'org.freedesktop.DBus.Introspectable.Introspect'),
                         'a stranger\'s signal named like Introspect was delivered')
        # a group member's forged NameOwnerChanged (issue 10, defect 7)
        self.assertFalse(self.signal_delivered(GROUP_MEMBER, 'org.a2dpsrc',
                                               'org.freedesktop.DBus.NameOwnerChanged',
                                               'string:org.bluez', 'string::1.1', 'string:'),
                         'a group member\'s unicast NameOwnerChanged was delivered')


if __name__ == '__main__':
    unittest.main()
