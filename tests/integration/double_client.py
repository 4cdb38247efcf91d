"""For the tests of the bluetoothd double itself (tests/double/bluez_a2dp.py):
a Python client plays the daemon.  It exports an ObjectManager with an A2DP
source MediaEndpoint1 on its own bus connection and drives the double the
way a2dpsrcd would.  Every call goes out asynchronously while a GLib loop
spins, so the fake endpoint can answer the double's calls meanwhile.

DoubleTest is the test base: a private bus per class, a fresh double per
test, and a traceback in the double's output fails the test.
"""

import socket
import time
import unittest

import dbus
import dbus.lowlevel
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

import harness

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)

SRC = harness.A2DP_SOURCE_UUID
SINK = harness.A2DP_SINK_UUID
ENDPOINT = 'org.bluez.MediaEndpoint1'
TRANSPORT = 'org.bluez.MediaTransport1'
DEVICE = 'org.bluez.Device1'
ADAPTER = 'org.bluez.Adapter1'
MEDIA = 'org.bluez.Media1'
PROPS = 'org.freedesktop.DBus.Properties'
OM = 'org.freedesktop.DBus.ObjectManager'
AGENT = 'org.bluez.Agent1'
HCI0 = '/org/bluez/hci0'
SBC_ALL = bytes([0xff, 0xff, 0x02, 0xfa])
CONFIG = bytes([0x21, 0x15, 0x02, 0x35])   # 44.1k joint 16/8 loudness 2..53


def spin_until(pred, timeout=5.0, what='condition'):
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    tick = GLib.timeout_add(20, lambda: True)
    try:
        while True:
            value = pred()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError('timed out waiting for %s' % what)
            ctx.iteration(True)
    finally:
        GLib.source_remove(tick)


def spin(seconds):
    end = time.monotonic() + seconds
    spin_until(lambda: time.monotonic() >= end, seconds + 1)


def plain_struct(v):
    """dbus values -> plain Python, recursively (for comparisons)."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dict, dbus.Dictionary)):
        return {str(k): plain_struct(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain_struct(x) for x in v]
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    return v


def call(method, *args, timeout=10.0, **kw):
    """Asynchronous D-Bus call, main loop spinning until the answer."""
    box = {}
    method(*args, reply_handler=lambda *r: box.setdefault('r', r),
           error_handler=lambda e: box.setdefault('e', e), timeout=timeout,
           **kw)
    spin_until(lambda: box, timeout + 5, 'reply of %s' % method._method_name)
    if 'e' in box:
        raise box['e']
    r = box['r']
    return None if not r else (r[0] if len(r) == 1 else r)


class Events:
    """Ordered record of what one client connection saw."""

    def __init__(self):
        self.items = []

    def add(self, kind, *data):
        self.items.append((kind,) + data)

    def kinds(self):
        return [e[0] for e in self.items]

    def find(self, kind, pred=lambda e: True):
        return [e for e in self.items if e[0] == kind and pred(e)]

    def index(self, kind, pred=lambda e: True, start=0):
        for i, e in enumerate(self.items[start:], start):
            if e[0] == kind and pred(e):
                return i
        raise AssertionError('no %s event in %r' % (kind, self.kinds()))


class FakeEndpoint(dbus.service.Object):
    """The daemon's A2DP source endpoint."""

    def __init__(self, conn, path, events, caps=SBC_ALL, uuid=SRC,
                 delay_reporting=False):
        dbus.service.Object.__init__(self, conn, path)
        self.path = path
        self.events = events
        self.caps = caps
        self.uuid = uuid
        self.delay_reporting = delay_reporting
        self.select = lambda caps: CONFIG     # bytes, Exception or None
        self.set_error = None
        self.set_noreply = False

    def props(self):
        return dbus.Dictionary({
            'UUID': dbus.String(self.uuid), 'Codec': dbus.Byte(0),
            'Capabilities': dbus.Array([dbus.Byte(b) for b in self.caps],
                                       signature='y'),
            'DelayReporting': dbus.Boolean(self.delay_reporting)},
            signature='sv')

    @dbus.service.method(ENDPOINT, in_signature='ay', out_signature='ay',
                         async_callbacks=('ok', 'err'), byte_arrays=True)
    def SelectConfiguration(self, caps, ok, err):
        self.events.add('SelectConfiguration', bytes(caps))
        r = self.select(bytes(caps))
        if r is None:
            return                              # never answer
        if isinstance(r, Exception):
            return err(r)
        ok(dbus.ByteArray(r))

    @dbus.service.method(ENDPOINT, in_signature='oa{sv}', out_signature='',
                         async_callbacks=('ok', 'err'))
    def SetConfiguration(self, transport, props, ok, err):
        self.events.add('SetConfiguration', str(transport), dict(props))
        if self.set_noreply:
            return
        if self.set_error:
            return err(self.set_error)
        ok()

    @dbus.service.method(ENDPOINT, in_signature='o', out_signature='')
    def ClearConfiguration(self, transport):
        self.events.add('ClearConfiguration', str(transport))

    @dbus.service.method(ENDPOINT, in_signature='', out_signature='')
    def Release(self):
        self.events.add('Release', self.path)

    @dbus.service.method(PROPS, in_signature='s', out_signature='a{sv}')
    def GetAll(self, iface):
        return self.props()


class FakeApp(dbus.service.Object):
    def __init__(self, conn, root, endpoints, extra=None):
        dbus.service.Object.__init__(self, conn, root)
        self.endpoints = endpoints
        self.extra = extra or {}

    @dbus.service.method(OM, in_signature='', out_signature='a{oa{sa{sv}}}')
    def GetManagedObjects(self):
        out = dbus.Dictionary(signature='oa{sa{sv}}')
        for ep in self.endpoints:
            out[dbus.ObjectPath(ep.path)] = dbus.Dictionary(
                {ENDPOINT: ep.props()}, signature='sa{sv}')
        out.update(self.extra)
        return out


class FakeAgent(dbus.service.Object):
    def __init__(self, conn, path, events):
        dbus.service.Object.__init__(self, conn, path)
        self.events = events
        self.accept = True

    def _answer(self, name, *args):
        self.events.add('Agent.' + name, *args)
        if not self.accept:
            raise dbus.exceptions.DBusException(
                'rejected', name='org.bluez.Error.Rejected')

    @dbus.service.method(AGENT, in_signature='ou', out_signature='')
    def RequestConfirmation(self, device, passkey):
        self._answer('RequestConfirmation', str(device), int(passkey))

    @dbus.service.method(AGENT, in_signature='os', out_signature='')
    def AuthorizeService(self, device, uuid):
        self._answer('AuthorizeService', str(device), str(uuid))

    @dbus.service.method(AGENT, in_signature='o', out_signature='u')
    def RequestPasskey(self, device):
        self._answer('RequestPasskey', str(device))
        return dbus.UInt32(123456)

    @dbus.service.method(AGENT, in_signature='', out_signature='')
    def Cancel(self):
        self.events.add('Agent.Cancel')

    @dbus.service.method(AGENT, in_signature='', out_signature='')
    def Release(self):
        self.events.add('Agent.Release')


class Client:
    """One bus connection playing a daemon."""

    def __init__(self, bus):
        self.conn = bus.connect(mainloop=dbus.mainloop.glib.DBusGMainLoop())
        self.name = self.conn.get_unique_name()
        self.events = Events()
        self.conn.add_signal_receiver(
            self._props_changed, 'PropertiesChanged', PROPS, 'org.bluez',
            path_keyword='path')
        self.conn.add_signal_receiver(
            lambda p, i: self.events.add('InterfacesAdded', str(p), dict(i)),
            'InterfacesAdded', OM, 'org.bluez', '/')
        self.conn.add_signal_receiver(
            lambda p, i: self.events.add('InterfacesRemoved', str(p),
                                         [str(x) for x in i]),
            'InterfacesRemoved', OM, 'org.bluez', '/')
        self.endpoints = []
        self.app = None

    def _props_changed(self, iface, changed, invalidated, path=None):
        self.events.add('PropertiesChanged', str(path), str(iface),
                        dict(changed), [str(x) for x in invalidated])

    def prop_changes(self, path, name):
        return [e[3][name] for e in self.events.find('PropertiesChanged')
                if e[1] == path and name in e[3]]

    def iface(self, path, iface):
        return dbus.Interface(self.conn.get_object('org.bluez', path,
                                                   introspect=False), iface)

    def get(self, path, iface, name):
        return call(self.iface(path, PROPS).Get, iface, name)

    def register_app(self, root='/src', n=1, **kw):
        eps = [FakeEndpoint(self.conn, '%s/ep%d' % (root, i), self.events,
                            **kw) for i in range(n)]
        self.endpoints.extend(eps)
        self.app = FakeApp(self.conn, root, eps)
        call(self.iface(HCI0, MEDIA).RegisterApplication,
             dbus.ObjectPath(root), dbus.Dictionary({}, signature='sv'))
        return eps

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class DoubleTest(unittest.TestCase):
    params = {}

    @classmethod
    def setUpClass(cls):
        cls.bus = harness.PrivateBus().start()

    @classmethod
    def tearDownClass(cls):
        cls.bus.close()

    def setUp(self):
        self.bluez = harness.BlueZDouble(self.bus, dict(self.params)).start()
        self.clients = []
        self.ctl = self.client()

    def tearDown(self):
        for c in self.clients:
            c.close()
        log = self.bluez.log_text()
        self.bluez.close()
        # a bug in the double shows up as a traceback in its output
        self.assertNotIn('Traceback', log)
        self.assertNotIn('INTERNAL ERROR', log)

    def client(self):
        c = Client(self.bus)
        self.clients.append(c)
        return c

    @property
    def control(self):
        return self.ctl.iface('/', harness.TEST_IFACE)

    def add_speaker(self, address='00:11:22:33:44:55', **opts):
        o = {'Paired': True, 'Trusted': True}
        o.update(opts)
        return self.bluez.add_device('hci0', address, 'Speaker', o)

    def connect(self, client, dev):
        call(client.iface(dev, DEVICE).ConnectProfile, SINK)
        return self.bluez.transport_for(dev)

    def acquire(self, client, transport):
        fd, rmtu, wmtu = call(client.iface(transport, TRANSPORT).Acquire)
        sock = socket.socket(fileno=fd.take())
        return sock, int(rmtu), int(wmtu)
