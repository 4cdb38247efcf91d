"""The control API's clients, for the tests of org.a2dpsrc.Manager1:
ControlCase (an A2dpTestCase with dbus-python, busctl and a2dpsrcctl at
hand), a PropertiesChanged recorder, `a2dpsrcctl monitor` in the
background, and the addresses and helpers those tests share."""

import json
import os
import re
import signal
import subprocess
import threading
import time

import dbus
import dbus.bus

from common import A2dpTestCase, CTL, MANAGER, MANAGER_PATH, PROPS, HCI0, wait_for
from harness import _die_with_parent, _kill

ERR = 'org.a2dpsrc.Error.'
SPEAKER_B = '00:11:22:33:44:66'
SPEAKER_B_PATH = HCI0 + '/dev_00_11_22_33_44_66'
HEADSET = '00:AA:BB:CC:DD:01'
HEADSET_UUIDS = ['00001108-0000-1000-8000-00805f9b34fb',    # HSP HS
                 '0000111e-0000-1000-8000-00805f9b34fb']    # HFP HF
# what Statistics counts on its own: never compared as a setting
VOLATILE = ('Statistics', 'Latency')


def dev_path(address, adapter=HCI0):
    return '%s/dev_%s' % (adapter, address.replace(':', '_'))


def plain(v):
    """dbus-python values -> plain Python."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.UInt16, dbus.Int32, dbus.UInt32,
                      dbus.Int64, dbus.UInt64)):
        return int(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(v)
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


# -- PropertiesChanged, seen from a client -----------------------------------------

class ChangeRecorder:
    """PropertiesChanged of /org/a2dpsrc, as an app subscribed to them sees
    them: a connection of its own on a GLib main loop, pumped while waiting."""

    def __init__(self, bus):
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        self.ctx = GLib.MainContext.default()
        self.conn = dbus.bus.BusConnection(bus.address, mainloop=DBusGMainLoop())
        self.changes = []       # (monotonic, name, value)
        self.output_changes = []        # (monotonic, address, {key: value})
        # AddMatch is a blocking call: subscribed once this returns
        self.conn.add_signal_receiver(self._on_changed, 'PropertiesChanged', PROPS,
                                      'org.a2dpsrc', MANAGER_PATH)
        self.conn.add_signal_receiver(self._on_output_changed, 'OutputChanged', MANAGER,
                                      'org.a2dpsrc', MANAGER_PATH)

    def _on_changed(self, iface, changed, invalidated):
        if iface != MANAGER:
            return
        now = time.monotonic()
        for k, v in changed.items():
            self.changes.append((now, str(k), plain(v)))

    def _on_output_changed(self, address, changed):
        self.output_changes.append((time.monotonic(), str(address), plain(changed)))

    def outputs_said(self, address, key):
        """The values OutputChanged gave key for address, in turn."""
        self.pump()
        return [c[key] for _, a, c in self.output_changes if a == address and key in c]

    def wait_output(self, address, key, value, timeout=3.0):
        """Until an OutputChanged for address carried key = value."""
        return wait_for(lambda: value in self.outputs_said(address, key), timeout,
                        what='OutputChanged %s %s = %r (seen: %r)' % (address, key, value, self.output_changes))

    def pump(self):
        while self.ctx.iteration(False):
            pass

    def values(self, name):
        self.pump()
        return [v for _, n, v in self.changes if n == name]

    def wait(self, name, value, timeout=3.0):
        """Until a PropertiesChanged carried name = value; returns when."""
        def seen():
            self.pump()
            for t, n, v in self.changes:
                if n == name and v == value:
                    return t
            return None
        return wait_for(seen, timeout, what='PropertiesChanged %s = %r (seen: %r)' % (
            name, value, [(n, v) for _, n, v in self.changes]))

    def clear(self):
        self.pump()
        del self.changes[:]

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class CtlMonitor:
    """`a2dpsrcctl monitor` in the background; its lines collected."""

    def __init__(self, env, prefix=()):
        self.proc = subprocess.Popen(list(prefix) + [CTL, 'monitor'], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def wait_line(self, pattern, timeout=3.0):
        rx = re.compile(pattern)

        def seen():
            for l in self.lines:
                if rx.search(l):
                    return l
            if self.proc.poll() is not None:
                raise AssertionError('a2dpsrcctl monitor exited %s: %r' % (self.proc.returncode,
                                                                         self.lines))
            return None
        return wait_for(seen, timeout, what='monitor line /%s/ (got %r)' % (pattern, self.lines))

    def close(self):
        _kill(self.proc, signal.SIGINT, 3)
        if self.proc.stdout:
            self.proc.stdout.close()


# -- the test base ---------------------------------------------------------------

class ControlCase(A2dpTestCase):
    """A2dpTestCase with the control API's clients at hand."""

    def env(self):
        e = self.bus.env
        e.pop('DBUS_SESSION_BUS_ADDRESS', None)
        return e

    def busctl(self, *args, check=True, as_json=False, timeout=30):
        argv = ['busctl', '--system']
        if as_json:
            argv.append('--json=short')
        out = subprocess.run(argv + list(args), env=self.env(), capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            self.fail('busctl %s failed (%d): %s' % (' '.join(args), out.returncode, out.stderr))
        if as_json and out.returncode == 0:
            return json.loads(out.stdout)
        return out

    def ctl(self, *args, check=True, timeout=30):
        out = subprocess.run([CTL] + list(args), env=self.env(), capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            self.fail('a2dpsrcctl %s failed (%d): %s%s' % (' '.join(args), out.returncode,
                                                           out.stdout, out.stderr))
        return out

    def obj(self):
        # no introspection: calls go out exactly as typed here
        return self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH, introspect=False)

    def call(self, method, *args, signature=None, timeout=30):
        return self.obj().get_dbus_method(method, MANAGER)(*args, signature=signature,
                                                           timeout=timeout)

    def getall(self):
        return plain(self.obj().GetAll(MANAGER, dbus_interface=PROPS))

    def settings(self):
        """Every property but the counters: what a refused call must not
        change."""
        return {k: v for k, v in self.getall().items() if k not in VOLATILE}

    def stats(self):
        return plain(self.obj().Get(MANAGER, 'Statistics', dbus_interface=PROPS))

    def wait_prop(self, name, value, timeout=5.0):
        return self.daemon.wait_for(lambda: plain(self.mprop(name)) == value, timeout,
                                    what='%s == %r' % (name, value))

    def recorder(self):
        r = ChangeRecorder(self.bus)
        self.addCleanup(r.close)
        return r

    def monitor(self):
        m = CtlMonitor(self.env())
        self.addCleanup(m.close)
        return m

    def wait_monitor_listening(self, mon):
        """The monitor subscribes before its first Get; once it reports a
        change (IdleSuspend set to 1, 2, ...) it is surely listening."""
        n = 0

        def primed():
            nonlocal n
            n += 1
            self.ctl('idle-suspend', str(n))
            return any('IdleSuspend: %d s' % n in l for l in mon.lines)
        wait_for(primed, 5, interval=0.05, what='a2dpsrcctl monitor listening')

    def assert_error(self, name, fn, *args, **kw):
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.get_dbus_name(), name, cm.exception.get_dbus_message())
        return cm.exception.get_dbus_message()

    def state_file(self):
        with open(os.path.join(self.state_dir, 'state')) as f:
            return f.read()

    def double_device(self, path):
        return plain(self.bluez.GetDevices()[dbus.ObjectPath(path)])

    def device_entry(self, address):
        for d in plain(self.call('GetDevices')):
            if d['Address'].upper() == address.upper():
                return d
        return None

    def transport_state(self, device_path):
        for props in self.bluez.transports().values():
            if str(props.get('Device')) == device_path:
                return str(props['State'])
        return None

    def log_has(self, text, timeout=3.0):
        return self.daemon.wait_for(lambda: text in self.daemon.log_text(), timeout,
                                    what='daemon log: %r' % text)

    def power_supply(self, name, **attrs):
        d = os.path.join(self.power_dir, name)
        os.makedirs(d, exist_ok=True)
        for k, v in attrs.items():
            # rename into place: the daemon never reads a half-written value
            tmp = os.path.join(d, '.%s.tmp' % k)
            with open(tmp, 'w') as f:
                f.write('%s\n' % v)
            os.rename(tmp, os.path.join(d, k))
