"""Test harness for a2dpsrc integration tests and `make demo`.

Standard library + python3-dbus only.  Everything started here is stopped
and every temporary directory removed at interpreter exit, even when a test
fails half-way (and each class also works as a context manager).

    bus = PrivateBus().start()
    bluez = BlueZDouble(bus).start()          # one powered hci0
    spk = bluez.add_device('hci0', '00:11:22:33:44:55', 'Speaker',
                           {'Paired': True, 'Trusted': True})
    daemon = Daemon(bus, 'build/a2dpsrcd').start(['--foreground'])
    daemon.wait_for(lambda: bluez.registered_endpoints(), 5)
    ...
    hdr, records = read_recording(bluez.recordings()[0])

Calls made through this module are blocking D-Bus calls on a connection
without a main loop: fine for driving the double, which answers by itself.
"""

import atexit
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref

import dbus
import dbus.bus

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
TEMPLATE = os.path.join(ROOT, 'tests', 'double', 'bluez_a2dp.py')
PYTHON = '/usr/bin/python3'
DBUS_DAEMON = shutil.which('dbus-daemon') or '/usr/bin/dbus-daemon'

TEST_IFACE = 'org.a2dpsrc.Test.BlueZ1'
A2DP_SOURCE_UUID = '0000110a-0000-1000-8000-00805f9b34fb'
A2DP_SINK_UUID = '0000110b-0000-1000-8000-00805f9b34fb'

_live = weakref.WeakSet()


def _cleanup_all():
    for obj in list(_live):
        try:
            obj.close()
        except Exception:
            pass


atexit.register(_cleanup_all)


def wait_for(predicate, timeout=5.0, interval=0.01, what=None):
    """Poll predicate() until it returns something truthy; return that.
    Raises TimeoutError (with `what` or the predicate's repr) on timeout.
    Exceptions from predicate count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:       # not ready yet
            last_exc = e
        if time.monotonic() >= deadline:
            msg = 'timed out after %.1f s waiting for %s' % (
                timeout, what or getattr(predicate, '__name__', predicate))
            if last_exc is not None:
                msg += ' (last error: %r)' % (last_exc,)
            raise TimeoutError(msg)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def _die_with_parent():
    """preexec_fn: children get SIGKILL if the test process dies, so
    nothing outlives a crashed or killed test run."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)          # PR_SET_PDEATHSIG
    except Exception:
        pass


def _kill(proc, sig, timeout):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# The default context of Debian 12's /usr/share/dbus-1/system.conf: method
# calls are denied unless a policy file punches a hole (the policy tests'
# buses; PrivateBus itself allows everything).
DEBIAN_DEFAULT_POLICY = '''  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
'''


class PrivateBus:
    """A dbus-daemon acting as the system bus, in a private temp dir."""

    CONFIG = '''<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_replies_per_connection">8192</limit>
</busconfig>
'''

    def __init__(self):
        self.dir = None
        self.proc = None
        self.address = None
        self._conn = None
        _live.add(self)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix='a2dpsrc-bus-')
        sock = os.path.join(self.dir, 'system_bus_socket')
        conf = os.path.join(self.dir, 'system.conf')
        with open(conf, 'w') as f:
            f.write(self.CONFIG.format(socket=sock))
        with open(os.path.join(self.dir, 'dbus-daemon.log'), 'w') as log:
            self.proc = subprocess.Popen(
                [DBUS_DAEMON, '--config-file=' + conf, '--nofork',
                 '--print-address'], stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError('dbus-daemon did not start (see %s)' %
                               self.dir)
        self.address = line
        return self

    @property
    def env(self):
        """Environment for children: the private bus is their system bus."""
        env = dict(os.environ)
        env['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        return env

    def connect(self, mainloop=None):
        """A new connection to the bus (blocking use unless mainloop)."""
        if mainloop is None:
            return dbus.bus.BusConnection(self.address)
        return dbus.bus.BusConnection(self.address, mainloop=mainloop)

    @property
    def conn(self):
        """A shared blocking connection for the harness."""
        if self._conn is None:
            self._conn = self.connect()
        return self._conn

    def name_owner(self, name):
        try:
            return str(self.conn.get_name_owner(name))
        except dbus.exceptions.DBusException:
            return None

    def stop(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        _kill(self.proc, signal.SIGTERM, 5)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def close(self):
        self.stop()
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class BlueZDouble:
    """The bluetoothd double (tests/double/bluez_a2dp.py) as a process.

    params: template parameters (see the template's docstring); recdir and
    storage default to files in the harness' own temp dir.  Devices added
    with add_device() are remembered and re-added on restart() (the radio
    world does not change when bluetoothd restarts; bonds survive through
    the storage file)."""

    def __init__(self, bus, params=None, template=TEMPLATE):
        self.bus = bus
        self.template = template
        self.params = dict(params or {})
        self.dir = tempfile.mkdtemp(prefix='a2dpsrc-bluez-')
        self.params.setdefault('recdir', os.path.join(self.dir, 'rec'))
        self.params.setdefault('storage', os.path.join(self.dir,
                                                       'storage.json'))
        os.makedirs(self.params['recdir'], exist_ok=True)
        self.proc = None
        self.log_path = os.path.join(self.dir, 'bluez-double.log')
        self.calls_path = os.path.join(self.dir, 'bluez-calls.log')
        self.restarts = 0
        _live.add(self)

    @property
    def recdir(self):
        return self.params['recdir']

    def start(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError('double already running')
        log = open(self.log_path, 'a')
        self.proc = subprocess.Popen(
            [PYTHON, '-m', 'dbusmock', '--system', '--template',
             self.template, '-p', json.dumps(self.params),
             '-l', self.calls_path],
            env=self.bus.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError('double exited with %s; log:\n%s' % (
                    self.proc.returncode, self.log_text()[-3000:]))
            return self.bus.name_owner('org.bluez')
        try:
            wait_for(up, timeout, what='org.bluez on the bus')
        except RuntimeError as e:
            raise RuntimeError(str(e)) from None
        self.owner = self.bus.name_owner('org.bluez')
        return self

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Stop the double (SIGTERM: orderly, like bluetoothd; SIGKILL:
        crash) and wait until org.bluez is gone from the bus."""
        if self.proc is None:
            return
        _kill(self.proc, sig, timeout)
        self.proc = None
        try:
            wait_for(lambda: self.bus.name_owner('org.bluez') is None, 5,
                     what='org.bluez to leave the bus')
        except TimeoutError:
            pass

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        self.restarts += 1
        return self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        self.stop(signal.SIGKILL)
        if os.environ.get('A2DPSRC_KEEP_TMP'):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def log_text(self):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    # -- D-Bus access -------------------------------------------------------
    def obj(self, path):
        return self.bus.conn.get_object('org.bluez', path,
                                        introspect=False)

    @property
    def control(self):
        return dbus.Interface(self.obj('/'), TEST_IFACE)

    def props(self, path, iface):
        return dbus.Interface(self.obj(path), 'org.freedesktop.DBus.Properties'
                              ).GetAll(iface)

    def prop(self, path, iface, name):
        return dbus.Interface(self.obj(path), 'org.freedesktop.DBus.Properties'
                              ).Get(iface, name)

    def set_prop(self, path, iface, name, value):
        dbus.Interface(self.obj(path), 'org.freedesktop.DBus.Properties'
                       ).Set(iface, name, value, signature='ssv')

    def managed_objects(self):
        return dbus.Interface(self.obj('/'),
                              'org.freedesktop.DBus.ObjectManager'
                              ).GetManagedObjects()

    # -- control API helpers ------------------------------------------------
    def add_adapter(self, name, props=None):
        self.params.setdefault('adapters', [{'name': 'hci0', 'props': {}}])
        self.params['adapters'] = [a for a in self.params['adapters']
                                   if a['name'] != name]
        self.params['adapters'].append({'name': name, 'props': props or {}})
        return str(self.control.AddAdapter(name, dbus.Dictionary(
            props or {}, signature='sv')))

    def add_device(self, adapter, address, name, opts=None):
        """Add a remote device; remembered for restart().  Returns its
        object path."""
        opts = dict(opts or {})
        self.params.setdefault('devices', [])
        self.params['devices'] = [d for d in self.params['devices']
                                  if d['address'] != address or
                                  d['adapter'] != adapter]
        self.params['devices'].append({'adapter': adapter,
                                       'address': address, 'name': name,
                                       'opts': _jsonable(opts)})
        return str(self.control.AddDevice(adapter, address, name,
                                          _dbus_opts(opts)))

    def add_speaker(self, address='00:11:22:33:44:55', name='Test Speaker',
                    adapter='hci0', **opts):
        """A paired, trusted A2DP speaker in range."""
        o = {'Paired': True, 'Trusted': True}
        o.update(opts)
        return self.add_device(adapter, address, name, o)

    def connect_speaker(self, device_path, timeout=10.0):
        """Device1.ConnectProfile(A2DP sink) from the harness connection
        (the endpoint must be registered by someone else)."""
        dev = dbus.Interface(self.obj(device_path), 'org.bluez.Device1')
        dev.ConnectProfile(A2DP_SINK_UUID, timeout=timeout)

    def speaker_connect(self, device_path, timeout=10.0):
        return str(self.control.SpeakerConnect(device_path, timeout=timeout))

    def registered_endpoints(self):
        return [(str(a), str(o), str(p))
                for a, o, p in self.control.GetRegisteredEndpoints()]

    def transports(self):
        return {str(k): dict(v) for k, v in
                self.control.GetTransports().items()}

    def transport_for(self, device_path):
        for path, props in self.transports().items():
            if str(props.get('Device')) == device_path:
                return path
        return None

    def recordings(self):
        return [str(p) for p in self.control.GetRecordings()]

    def flush(self, timeout=15.0):
        self.control.Flush(timeout=timeout)

    def event_log(self):
        return [str(x) for x in self.control.GetLog()]

    def __getattr__(self, name):
        """Any other control method: bluez.LinkLoss(path) etc."""
        if name[:1].isupper():
            return getattr(self.control, name)
        raise AttributeError(name)


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return list(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


BYTE_OPTS = ('SinkCapabilities', 'RemoteConfiguration')
STRLIST_OPTS = ('UUIDs', 'SinkCodecs', 'RefuseCodecs')
UINT16_OPTS = ('ReadMTU', 'WriteMTU', 'Delay', 'Volume')


def _dbus_opts(opts):
    out = dbus.Dictionary(signature='sv')
    for k, v in opts.items():
        if k in BYTE_OPTS:
            out[k] = dbus.Array([dbus.Byte(b) for b in bytes(v)],
                                signature='y')
        elif k in UINT16_OPTS:
            out[k] = dbus.UInt16(v)
        elif k == 'Class' or k == 'Passkey':
            out[k] = dbus.UInt32(v)
        elif k == 'RSSI':
            out[k] = dbus.Int16(v)
        elif k in STRLIST_OPTS:
            out[k] = dbus.Array(v, signature='s')
        elif k == 'SinkEndpoints':
            out[k] = dbus.Array([dbus.Dictionary(
                {'SEID': dbus.Byte(s.get('SEID', i + 1)),
                 'Codec': dbus.Byte(s.get('Codec', 0)),
                 'Capabilities': dbus.Array([dbus.Byte(b) for b in bytes(
                     s['Capabilities'])], signature='y')}, signature='sv')
                for i, s in enumerate(v)], signature='a{sv}')
        else:
            out[k] = v
        if isinstance(v, int) and not isinstance(v, bool) and k not in \
                BYTE_OPTS + UINT16_OPTS + ('Class', 'Passkey', 'RSSI'):
            out[k] = dbus.Int32(v)
    return out


class Daemon:
    """Any daemon under test (build/a2dpsrcd), run against the private bus.
    stdout and stderr go to a log file."""

    def __init__(self, bus, path, log_dir=None):
        self.bus = bus
        self.path = path
        self.dir = log_dir or tempfile.mkdtemp(prefix='a2dpsrc-daemon-')
        self._own_dir = log_dir is None
        self.log_path = os.path.join(self.dir, os.path.basename(path) +
                                     '.log')
        self.proc = None
        _live.add(self)

    def start(self, args=(), env=None):
        e = self.bus.env
        if env:
            e.update(env)
        log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([self.path] + list(args), env=e,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=_die_with_parent)
        log.close()
        return self

    def wait_for(self, predicate, timeout=5.0, what=None):
        """wait_for() that fails early, with the log, if the daemon dies."""
        def check():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError('%s exited with %s; log:\n%s' % (
                    self.path, self.proc.returncode, self.log_text()[-4000:]))
            return predicate()
        try:
            return wait_for(check, timeout, what=what)
        except TimeoutError as e:
            raise TimeoutError('%s; daemon log tail:\n%s' % (
                e, self.log_text()[-2000:])) from None

    def wait_exit(self, timeout=5.0):
        return self.proc.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal the daemon and wait; SIGKILL after timeout.  Returns the
        exit status."""
        if self.proc is None:
            return None
        _kill(self.proc, sig, timeout)
        return self.proc.returncode

    @property
    def returncode(self):
        return None if self.proc is None else self.proc.poll()

    @property
    def pid(self):
        return None if self.proc is None else self.proc.pid

    def log_text(self):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def close(self):
        self.stop(signal.SIGKILL, 2)
        if self._own_dir and not os.environ.get('A2DPSRC_KEEP_TMP'):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- recordings ---------------------------------------------------------------
REC_MAGIC = b'A2DPREC2'
REC_MAGIC_V1 = b'A2DPREC1'
REC_MAGIC_V3 = b'A2DPREC3'                  # version 2's header
REC_HEADER = struct.Struct('<8sHBBHHI')      # version 2, then the configuration
REC_HEADER_V1 = struct.Struct('<8s4sHHI')
REC_RECORD = struct.Struct('<QI')
REC_RECORD_V3 = struct.Struct('<QIQ')        # + t_kernel_ns


def rec_header_len(data):
    """Where the records start in a recording's first bytes (version 2:
    the header's length field; version 1: 20)."""
    if data[:8] == REC_MAGIC_V1:
        return REC_HEADER_V1.size
    return REC_HEADER.unpack_from(data, 0)[1]


def read_recording(path, kernel_times=False):
    """Parse a speaker recording (tests/tools/README.md), version 3, 2 or 1.
    Returns (header, records) where header is {'magic', 'version', 'codec'
    (A2DP codec type), 'config' (the whole configuration, vendor header
    included), 'write_mtu', 'read_mtu', 'reserved', 'header_len'} and
    records a list of (t_ns, bytes); with kernel_times, of (t_ns,
    t_kernel_ns, bytes), t_kernel_ns None where the recording has none
    (versions 1 and 2, or 0 in version 3).  A partially written last
    record is ignored."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < REC_HEADER.size:
        raise ValueError('%s: short header (%d bytes)' % (path, len(data)))
    if data[:8] == REC_MAGIC_V1:
        magic, config, wmtu, rmtu, reserved = REC_HEADER_V1.unpack_from(data, 0)
        codec, hlen, version = 0, REC_HEADER_V1.size, 1
    else:
        magic, hlen, codec, clen, wmtu, rmtu, reserved = REC_HEADER.unpack_from(data, 0)
        if magic not in (REC_MAGIC, REC_MAGIC_V3) or hlen < REC_HEADER.size + clen or \
                hlen > len(data):
            raise ValueError('%s: bad magic %r or header length %d' % (path, magic, hlen))
        config = data[REC_HEADER.size:REC_HEADER.size + clen]
        version = 3 if magic == REC_MAGIC_V3 else 2
    header = {'magic': magic, 'version': version, 'codec': codec, 'config': config,
              'write_mtu': wmtu, 'read_mtu': rmtu, 'reserved': reserved, 'header_len': hlen}
    rec = REC_RECORD_V3 if version == 3 else REC_RECORD
    records = []
    off = hlen
    while off + rec.size <= len(data):
        fields = rec.unpack_from(data, off)
        t_ns, length = fields[0], fields[1]
        t_kernel = (fields[2] or None) if version == 3 else None
        start = off + rec.size
        if start + length > len(data):
            break                 # still being written
        payload = data[start:start + length]
        records.append((t_ns, t_kernel, payload) if kernel_times else (t_ns, payload))
        off = start + length
    return header, records


def main(argv):
    """python3 harness.py [JSON_PARAMS]: run a bus and the double until
    Ctrl-C, printing the bus address (handy for poking with busctl)."""
    params = json.loads(argv[1]) if len(argv) > 1 else {}
    with PrivateBus() as bus:
        with BlueZDouble(bus, params) as bluez:
            print('DBUS_SYSTEM_BUS_ADDRESS=%s' % bus.address, flush=True)
            print('recordings in %s, log %s' % (bluez.recdir,
                                                 bluez.log_path), flush=True)
            try:
                while bluez.running:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
