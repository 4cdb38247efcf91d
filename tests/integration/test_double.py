"""Tests of the bluetoothd double itself (tests/double/bluez_a2dp.py).

A Python client plays the daemon: it exports an ObjectManager with an A2DP
source MediaEndpoint1 on its own bus connection and drives the double the
way a2dpsrcd would.  Every call goes out asynchronously while a GLib loop
spins, so the fake endpoint can answer the double's calls meanwhile.

Run: cd tests/integration && /usr/bin/python3 -m unittest test_double
"""

import errno
import os
import signal
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


class TestObjects(DoubleTest):
    def test_tree_and_properties(self):
        dev = self.add_speaker()
        objs = call(self.ctl.iface('/', OM).GetManagedObjects)
        self.assertIn('org.bluez.AgentManager1', objs['/org/bluez'])
        a = objs[HCI0]
        for i in (ADAPTER, MEDIA, 'org.freedesktop.DBus.Properties',
                  'org.freedesktop.DBus.Introspectable'):
            self.assertIn(i, a)
        ad = a[ADAPTER]
        self.assertTrue(ad['Powered'])
        self.assertFalse(ad['Discovering'])
        self.assertEqual(ad['Roles'], ['central', 'peripheral'])
        self.assertNotIn(SRC, ad['UUIDs'])
        d = objs[dev][DEVICE]
        self.assertTrue(d['Paired'])
        self.assertTrue(d['Trusted'])
        self.assertFalse(d['Connected'])
        self.assertEqual(d['Icon'], 'audio-card')
        self.assertIn(SINK, d['UUIDs'])
        self.assertNotIn('RSSI', d)
        # gdbus' Properties errors
        props = self.ctl.iface(dev, PROPS)
        with self.assertRaises(dbus.DBusException) as cm:
            call(props.Get, DEVICE, 'RSSI')
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.freedesktop.DBus.Error.InvalidArgs')
        with self.assertRaises(dbus.DBusException) as cm:
            call(props.Set, DEVICE, 'Paired', dbus.Boolean(False),
                 signature='ssv')
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.freedesktop.DBus.Error.PropertyReadOnly')
        call(props.Set, DEVICE, 'Alias', dbus.String('Kitchen'),
             signature='ssv')
        spin_until(lambda: self.ctl.prop_changes(dev, 'Alias'))
        self.assertEqual(self.ctl.get(dev, DEVICE, 'Alias'), 'Kitchen')
        # wrong argument signature: not dispatched
        with self.assertRaises(dbus.DBusException) as cm:
            call(self.ctl.iface(dev, DEVICE).ConnectProfile, dbus.UInt32(3))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.freedesktop.DBus.Error.UnknownMethod')

    def test_le_only_adapter(self):
        path = self.bluez.add_adapter('hci1', {'BrEdr': False,
                                               'AddressType': 'random'})
        props = call(self.ctl.iface(path, PROPS).GetAll, ADAPTER)
        self.assertEqual(props['Class'], 0)
        self.assertEqual(props['AddressType'], 'random')
        self.assertEqual(props['Roles'], ['central', 'peripheral'])
        c = self.client()
        c.endpoints.append(FakeEndpoint(c.conn, '/le/ep', c.events))
        call(c.iface(path, MEDIA).RegisterEndpoint, dbus.ObjectPath('/le/ep'),
             c.endpoints[0].props())
        self.assertIn(SRC, c.get(path, ADAPTER, 'UUIDs'))
        dev = self.bluez.add_device('hci1', '00:11:22:33:44:99', 'BR speaker',
                                    {'Paired': True})
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-not-supported')


class TestA2DP(DoubleTest):
    def test_connect_acquire_record_release(self):
        dev = self.add_speaker(Delay=1500)
        c = self.client()
        (ep,) = c.register_app(delay_reporting=True)
        eps = self.bluez.registered_endpoints()
        self.assertEqual(eps, [('hci0', c.name, '/src/ep0')])
        self.assertIn(SRC, c.get(HCI0, ADAPTER, 'UUIDs'))

        call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        ev = c.events
        i_sel = ev.index('SelectConfiguration')
        self.assertEqual(ev.items[i_sel][1], bytes([0xff, 0xff, 0x02, 0x35]))
        i_set = ev.index('SetConfiguration')
        self.assertLess(i_sel, i_set)
        tpath, props = ev.items[i_set][1], ev.items[i_set][2]
        self.assertEqual(tpath, dev + '/sep1/fd0')
        self.assertEqual(props['UUID'], SRC)
        self.assertEqual(props['State'], 'idle')
        self.assertEqual(props['Codec'], 0)
        self.assertEqual(bytes(props['Configuration']), CONFIG)
        self.assertEqual(props['Device'], dev)
        self.assertNotIn('Endpoint', props)
        # transport announced before SetConfiguration, Delay after it
        self.assertLess(ev.index('InterfacesAdded',
                                 lambda e: e[1] == tpath), i_set)
        self.assertEqual(c.get(dev, DEVICE, 'Connected'), True)
        self.assertEqual(c.get(tpath, TRANSPORT, 'Delay'), 1500)

        sock, rmtu, wmtu = self.acquire(c, tpath)
        self.assertEqual((rmtu, wmtu), (895, 895))
        spin_until(lambda: 'active' in c.prop_changes(tpath, 'State'))
        packets = [bytes([0x80, 0x60, 0, i]) + b'x' * (100 + i)
                   for i in range(5)]
        for p in packets:
            sock.send(p)
        call(self.control.Flush)
        (rec,) = self.bluez.recordings()
        self.assertTrue(os.path.basename(rec).startswith(
            'dev_00_11_22_33_44_55-1'))
        hdr, records = harness.read_recording(rec)
        self.assertEqual(hdr['config'], CONFIG)
        self.assertEqual((hdr['write_mtu'], hdr['read_mtu']), (895, 895))
        self.assertEqual([r[1] for r in records], packets)
        self.assertEqual(sorted(r[0] for r in records),
                         [r[0] for r in records])

        call(c.iface(tpath, TRANSPORT).Release)
        spin_until(lambda: c.prop_changes(tpath, 'State')[-1:] == ['idle'])
        sock.close()

    def test_acquire_rules(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        other = self.client()
        t_other = other.iface(tpath, TRANSPORT)
        with self.assertRaises(dbus.DBusException) as cm:
            call(t_other.TryAcquire)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.NotAvailable')
        sock, _, _ = self.acquire(c, tpath)
        for m in (t_other.Acquire, t_other.Release):
            with self.assertRaises(dbus.DBusException) as cm:
                call(m)
            self.assertEqual(cm.exception.get_dbus_name(),
                             'org.bluez.Error.NotAuthorized')
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(tpath, TRANSPORT).Acquire)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.NotAuthorized')
        call(c.iface(tpath, TRANSPORT).Release)
        sock.close()
        # the speaker starts the stream: pending, TryAcquire works
        call(self.control.SpeakerStart, dbus.ObjectPath(dev))
        spin_until(lambda: 'pending' in c.prop_changes(tpath, 'State'))
        fd, _, _ = call(c.iface(tpath, TRANSPORT).TryAcquire)
        os.close(fd.take())
        self.assertEqual(c.get(tpath, TRANSPORT, 'State'), 'active')

    def test_release_during_try_acquire(self):
        # 5.66 release(): cancels a pending Acquire, but a pending
        # TryAcquire gets InProgress and still completes
        dev = self.add_speaker(TryAcquireMs=300)
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        call(self.control.SpeakerStart, dbus.ObjectPath(dev))
        spin_until(lambda: 'pending' in c.prop_changes(tpath, 'State'))
        box = {}
        c.iface(tpath, TRANSPORT).TryAcquire(
            reply_handler=lambda *r: box.setdefault('r', r),
            error_handler=lambda e: box.setdefault('e', e))
        # sent after the TryAcquire on the same connection: bluetoothd sees
        # them in that order
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(tpath, TRANSPORT).Release)
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.InProgress')
        spin_until(lambda: box, what='TryAcquire reply')
        self.assertIn('r', box)
        os.close(box['r'][0].take())
        self.assertEqual(c.get(tpath, TRANSPORT, 'State'), 'active')

    def test_volume(self):
        dev = self.add_speaker(Volume=40)
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        spin_until(lambda: c.prop_changes(tpath, 'Volume'), what='Volume')
        self.assertEqual(c.get(tpath, TRANSPORT, 'Volume'), 40)
        props = c.iface(tpath, PROPS)
        with self.assertRaises(dbus.DBusException) as cm:
            call(props.Set, TRANSPORT, 'Volume', dbus.UInt16(128),
                 signature='ssv')
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.InvalidArguments')
        call(props.Set, TRANSPORT, 'Volume', dbus.UInt16(90),
             signature='ssv')
        spin_until(lambda: 90 in c.prop_changes(tpath, 'Volume'))
        self.assertEqual(list(call(self.control.GetVolumeWrites,
                                   dbus.ObjectPath(tpath))), [90])
        call(self.control.SpeakerSetVolume, dbus.ObjectPath(dev),
             dbus.UInt16(10))
        spin_until(lambda: 10 in c.prop_changes(tpath, 'Volume'))

    def test_link_loss_order(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        sock, _, _ = self.acquire(c, tpath)
        spin_until(lambda: 'active' in c.prop_changes(tpath, 'State'))
        start = len(c.events.items)
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        ev = c.events
        def disconnected(e):
            return e[1] == dev and e[2] == DEVICE and \
                'Connected' in e[3] and not e[3]['Connected']
        spin_until(lambda: ev.find('PropertiesChanged', disconnected))
        i_idle = ev.index('PropertiesChanged', lambda e: e[1] == tpath and
                          e[3].get('State') == 'idle', start)
        i_clear = ev.index('ClearConfiguration', lambda e: e[1] == tpath,
                           start)
        i_gone = ev.index('InterfacesRemoved', lambda e: e[1] == tpath,
                          start)
        i_disc = ev.index('PropertiesChanged', disconnected, start)
        self.assertLess(i_idle, i_clear)
        self.assertLess(i_clear, i_gone)
        self.assertLess(i_gone, i_disc)
        with self.assertRaises(OSError) as cm:
            for _ in range(3):
                sock.send(b'\x80' * 50)
                time.sleep(0.01)
        self.assertIn(cm.exception.errno, (errno.EPIPE, errno.ECONNRESET,
                                           errno.ECONNREFUSED))
        self.assertEqual(self.bluez.transports(), {})

    def test_stall_and_close_socket(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        sock, _, wmtu = self.acquire(c, tpath)
        sock.setblocking(False)
        call(self.control.SpeakerStall, dbus.ObjectPath(dev),
             dbus.UInt32(800))
        sent = 0
        with self.assertRaises(BlockingIOError):
            for _ in range(10000):
                sock.send(b'y' * 600)
                sent += 1
        self.assertGreater(sent, 0)
        call(self.control.Flush, timeout=10)
        hdr, records = harness.read_recording(self.bluez.recordings()[0])
        self.assertEqual(len(records), sent)
        call(self.control.SpeakerCloseSocket, dbus.ObjectPath(dev))
        spin_until(lambda: c.events.find('ClearConfiguration'))
        with self.assertRaises(OSError) as cm:
            sock.send(b'z' * 10)
        self.assertIn(cm.exception.errno, (errno.EPIPE, errno.ECONNRESET,
                                           errno.ECONNREFUSED))
        self.assertTrue(c.get(dev, DEVICE, 'Connected'))

    def test_link_limit(self):
        # a link of 200 kbit/s: the speaker reads no faster, whatever is
        # offered (here ~960 kbit/s); lifted, the backlog comes at once
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        sock, _, wmtu = self.acquire(c, tpath)
        sock.setblocking(False)
        call(self.control.SpeakerLink, dbus.ObjectPath(dev), dbus.UInt32(200))
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                sock.send(b'l' * 600)
            except BlockingIOError:
                pass
            time.sleep(0.005)
        _, records = harness.read_recording(self.bluez.recordings()[0])
        t0 = records[0][0]
        late = [(t, len(d)) for t, d in records if t - t0 > 0.3e9]
        kbps = sum(n for _, n in late[1:]) * 8 / ((late[-1][0] - late[0][0]) / 1e9) / 1000
        self.assertGreater(kbps, 150)
        self.assertLess(kbps, 230)
        call(self.control.SpeakerLink, dbus.ObjectPath(dev), dbus.UInt32(0))
        spin_until(lambda: len(harness.read_recording(self.bluez.recordings()[0])[1]) > len(records) + 20)

    def test_second_speaker_needs_its_own_endpoint(self):
        a = self.add_speaker('00:11:22:33:44:01')
        b = self.add_speaker('00:11:22:33:44:02')
        c = self.client()
        c.register_app(n=1)
        self.connect(c, a)
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(b, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-create-socket')
        c2 = self.client()
        c2.register_app(root='/two')
        self.assertTrue(self.connect(c2, b))

    def test_profile_errors(self):
        headset = self.add_speaker('00:11:22:33:44:03', UUIDs=[
            '00001108-0000-1000-8000-00805f9b34fb',
            '0000111e-0000-1000-8000-00805f9b34fb'])
        speaker = self.add_speaker('00:11:22:33:44:04')
        c = self.client()
        # no source endpoint registered yet
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(speaker, DEVICE).ConnectProfile, SINK)
        self.assertEqual((cm.exception.get_dbus_name(),
                          cm.exception.get_dbus_message()),
                         ('org.bluez.Error.Failed',
                          'br-connection-profile-unavailable'))
        c.register_app()
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(headset, DEVICE).ConnectProfile, SINK)
        self.assertEqual((cm.exception.get_dbus_name(),
                          cm.exception.get_dbus_message()),
                         ('org.bluez.Error.NotAvailable',
                          'br-connection-profile-unavailable'))
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(speaker, DEVICE).Disconnect)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.NotConnected')
        call(self.control.SetInRange, dbus.ObjectPath(speaker), False)
        call(self.control.SetDeviceOption, dbus.ObjectPath(speaker),
             'PageTimeoutMs', dbus.Int32(200))
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(speaker, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-page-timeout')

    def test_speaker_connect_remote_config(self):
        dev = self.add_speaker(SpeakerConnectMode='remote-config')
        c = self.client()
        c.register_app()
        tpath = call(self.control.SpeakerConnect, dbus.ObjectPath(dev))
        self.assertEqual(c.events.find('SelectConfiguration'), [])
        (setconf,) = c.events.find('SetConfiguration')
        self.assertEqual(setconf[1], tpath)
        self.assertEqual(bytes(setconf[2]['Configuration']),
                         bytes([0x21, 0x15, 0x02, 0x35]))


class TestEndpointTimeouts(DoubleTest):
    params = {'endpoint_timeout_ms': 400}

    def test_select_configuration_timeout_and_error(self):
        dev = self.add_speaker()
        c = self.client()
        (ep,) = c.register_app()
        ep.select = lambda caps: None
        t0 = time.monotonic()
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-create-socket')
        ep.select = lambda caps: dbus.exceptions.DBusException(
            'no', name='org.bluez.Error.Rejected')
        with self.assertRaises(dbus.DBusException):
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        ep.select = lambda caps: CONFIG
        ep.set_noreply = True
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        # no reply to SetConfiguration: the configuration is cleared
        (setconf,) = c.events.find('SetConfiguration')
        spin_until(lambda: c.events.find('ClearConfiguration',
                                         lambda e: e[1] == setconf[1]))
        self.assertEqual(self.bluez.transports(), {})


class TestRegistration(DoubleTest):
    def test_application_errors(self):
        c = self.client()
        media = c.iface(HCI0, MEDIA)
        FakeApp(c.conn, '/empty', [])
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterApplication, dbus.ObjectPath('/empty'),
                 dbus.Dictionary({}, signature='sv'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.Failed')
        self.bad_app = FakeApp(c.conn, '/bad', [], extra={
            dbus.ObjectPath('/bad/ep'): dbus.Dictionary({ENDPOINT: dbus.Dictionary(
                {'UUID': dbus.String(SRC), 'Codec': dbus.String('sbc')},
                signature='sv')}, signature='sa{sv}')})
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterApplication, dbus.ObjectPath('/bad'),
                 dbus.Dictionary({}, signature='sv'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.InvalidArguments')
        c.register_app()
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterApplication, dbus.ObjectPath('/src'),
                 dbus.Dictionary({}, signature='sv'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.AlreadyExists')
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.UnregisterApplication, dbus.ObjectPath('/nope'))
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.DoesNotExist')
        call(media.UnregisterApplication, dbus.ObjectPath('/src'))
        spin_until(lambda: c.events.find('Release'))
        self.assertEqual(self.bluez.registered_endpoints(), [])

    def test_client_exit_and_restart(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        agent_client = self.client()
        FakeAgent(agent_client.conn, '/agent', agent_client.events)
        am = agent_client.iface('/org/bluez', 'org.bluez.AgentManager1')
        call(am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        # the endpoint owner leaves: its transports go away with it
        c.close()
        spin_until(lambda: not self.bluez.registered_endpoints(),
                   what='endpoint dropped')
        spin_until(lambda: self.ctl.events.find(
            'InterfacesRemoved', lambda e: e[1] == tpath))
        c = self.client()
        c.register_app()
        self.assertTrue(self.connect(c, dev))
        # SIGTERM: links dropped, endpoints and agents released
        self.bluez.restart(signal.SIGTERM)
        spin_until(lambda: c.events.find('Release'), what='Release')
        self.assertTrue(c.events.find('ClearConfiguration'))
        self.assertTrue(agent_client.events.find('Agent.Release'))
        self.assertEqual(self.bluez.registered_endpoints(), [])
        self.assertEqual(list(call(self.control.GetAgents)), [])
        # the bond survives, the connection does not
        self.assertTrue(c.get(dev, DEVICE, 'Paired'))
        self.assertFalse(c.get(dev, DEVICE, 'Connected'))
        c.register_app(root='/again')
        self.bluez.restart(signal.SIGKILL)
        self.assertEqual(self.bluez.registered_endpoints(), [])


MPRIS = 'org.mpris.MediaPlayer2.Player'


class FakePlayer(dbus.service.Object):
    """A registered MPRIS player: records what bluetoothd calls, with the
    caller and whether a reply was wanted."""

    def __init__(self, conn, path, events):
        dbus.service.Object.__init__(self, conn, path)
        self.events = events

    def _got(self, name, sender):
        self.events.add('player', name, str(sender))

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Play(self, sender=None):
        self._got('Play', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Pause(self, sender=None):
        self._got('Pause', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Stop(self, sender=None):
        self._got('Stop', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Next(self, sender=None):
        self._got('Next', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Previous(self, sender=None):
        self._got('Previous', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Release(self, sender=None):
        self._got('Release', sender)

    @dbus.service.signal(PROPS, signature='sa{sv}as')
    def PropertiesChanged(self, iface, changed, invalidated):
        pass


def sv(**kw):
    return dbus.Dictionary(kw, signature='sv')


CAN_ALL = dict(CanControl=dbus.Boolean(True), CanPlay=dbus.Boolean(True), CanPause=dbus.Boolean(True),
               CanGoNext=dbus.Boolean(True), CanGoPrevious=dbus.Boolean(True))


class TestPlayer(DoubleTest):
    """Media1.RegisterPlayer and pass-through keys as media.c/avrcp.c 5.66."""

    def players(self):
        return {str(p): (str(s), d) for _, s, p, d in self.control.GetPlayers()}

    def test_register_errors_and_what_bluez_keeps(self):
        c = self.client()
        media = c.iface(HCI0, MEDIA)
        # a known property of the wrong type: refused, nothing kept
        for bad in (sv(PlaybackStatus=dbus.Int32(1)), sv(CanPlay=dbus.String('yes')),
                    sv(Metadata=dbus.String('x')),
                    sv(Metadata=sv(**{'xesam:artist': dbus.String('not a list')})),
                    sv(Position=dbus.UInt32(5)), sv(LoopStatus=dbus.String('Sometimes'))):
            with self.assertRaises(dbus.DBusException) as cm:
                call(media.RegisterPlayer, dbus.ObjectPath('/p'), bad)
            self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.InvalidArguments', bad)
            self.assertEqual(self.players(), {})
        # names are compared without case; unknown ones are ignored
        call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv(
            playbackstatus=dbus.String('Paused'), Unknown=dbus.Int32(1), Metadata=sv(**{
                'xesam:title': dbus.String('T'), 'xesam:artist': dbus.Array(['A', 'B'], signature='s'),
                'mpris:length': dbus.Int64(2000000)}), **CAN_ALL))
        sender, d = self.players()['/p']
        self.assertEqual(sender, c.name)
        self.assertEqual(str(d['Status']), 'Paused')
        self.assertEqual(dict((str(k), str(v)) for k, v in d['Track'].items()),
                         {'Title': 'T', 'Artist': 'A', 'Duration': '2000'})
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv())
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.AlreadyExists')
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.UnregisterPlayer, dbus.ObjectPath('/q'))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.DoesNotExist')
        # another sender's UnregisterPlayer does not reach ours
        with self.assertRaises(dbus.DBusException):
            call(self.client().iface(HCI0, MEDIA).UnregisterPlayer, dbus.ObjectPath('/p'))
        call(media.UnregisterPlayer, dbus.ObjectPath('/p'))
        self.assertEqual(self.players(), {})
        # the owner leaving the bus drops its player
        call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv())
        c.close()
        spin_until(lambda: self.players() == {}, what='player dropped with its owner')

    def test_adapter_without_avrcp(self):
        self.control.AddAdapter('hci1', sv(Avrcp=dbus.Boolean(False)))
        with self.assertRaises(dbus.DBusException) as cm:
            call(self.client().iface('/org/bluez/hci1', MEDIA).RegisterPlayer, dbus.ObjectPath('/p'), sv())
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.NotSupported')

    def test_keys_follow_can_flags_and_come_from_bluez(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        FakePlayer(c.conn, '/p', c.events)
        media = c.iface(HCI0, MEDIA)
        call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv(CanControl=dbus.Boolean(True),
                                                              CanPlay=dbus.Boolean(True)))
        self.connect(c, dev)
        press = self.control.SpeakerPressKey
        spin_until(lambda: dev in [str(p) for p, d in self.control.GetDevices().items()
                                   if d['Connected']], what='connected')
        spin(0.5)   # AVRCP comes up after A2DP
        self.assertTrue(press(dbus.ObjectPath(dev), 'play'))
        self.assertTrue(press(dbus.ObjectPath(dev), 'stop'))    # Stop needs CanControl only
        self.assertFalse(press(dbus.ObjectPath(dev), 'pause'))  # CanPause not given: uinput
        self.assertFalse(press(dbus.ObjectPath(dev), 'fast-forward'))
        spin_until(lambda: len(c.events.find('player')) == 2, what='two calls to the player')
        owner = self.bus.name_owner('org.bluez')
        self.assertEqual([e[1:] for e in c.events.find('player')], [('Play', owner), ('Stop', owner)])
        # PropertiesChanged from the owner, at the player path, is followed
        msg = dbus.lowlevel.SignalMessage('/p', PROPS, 'PropertiesChanged')
        msg.append(MPRIS, sv(CanPause=dbus.Boolean(True), PlaybackStatus=dbus.String('Playing')),
                   dbus.Array([], signature='s'), signature='sa{sv}as')
        c.conn.send_message(msg)
        spin_until(lambda: str(self.players()['/p'][1].get('Status', '')) == 'Playing', what='status followed')
        self.assertTrue(press(dbus.ObjectPath(dev), 'pause'))
        # the adapter going away releases the player
        self.control.RemoveAdapter('hci0')
        spin_until(lambda: c.events.find('player', lambda e: e[1] == 'Release'), what='Release')


class TestAgentsAndPairing(DoubleTest):
    def setUp(self):
        super().setUp()
        self.agent_client = self.client()
        self.agent = FakeAgent(self.agent_client.conn, '/agent',
                               self.agent_client.events)
        self.am = self.agent_client.iface('/org/bluez',
                                          'org.bluez.AgentManager1')

    def test_agent_manager_errors(self):
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        cases = [
            (self.am.RegisterAgent, (dbus.ObjectPath('/agent'), 'DisplayYesNo'),
             'AlreadyExists'),
            (self.am.RequestDefaultAgent, (dbus.ObjectPath('/other'),),
             'DoesNotExist'),
            (self.am.UnregisterAgent, (dbus.ObjectPath('/other'),),
             'DoesNotExist'),
        ]
        other = self.client()
        cases.append((other.iface('/org/bluez', 'org.bluez.AgentManager1')
                      .RegisterAgent, (dbus.ObjectPath('/a'), 'Telepathy'),
                      'InvalidArguments'))
        for method, args, name in cases:
            with self.assertRaises(dbus.DBusException) as cm:
                call(method, *args)
            self.assertEqual(cm.exception.get_dbus_name(),
                             'org.bluez.Error.' + name)
        call(self.am.UnregisterAgent, dbus.ObjectPath('/agent'))

    def test_discovery_and_just_works(self):
        a, b = self.client(), self.client()
        dev = self.bluez.add_device('hci0', '00:11:22:33:44:20', 'New',
                                    {'Discoverable': True})
        ad_a, ad_b = a.iface(HCI0, ADAPTER), b.iface(HCI0, ADAPTER)
        with self.assertRaises(dbus.DBusException) as cm:
            call(ad_b.StopDiscovery)
        self.assertEqual((cm.exception.get_dbus_name(),
                          cm.exception.get_dbus_message()),
                         ('org.bluez.Error.Failed', 'No discovery started'))
        call(ad_a.StartDiscovery)
        with self.assertRaises(dbus.DBusException) as cm:
            call(ad_a.StartDiscovery)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.InProgress')
        spin_until(lambda: a.events.find('InterfacesAdded',
                                         lambda e: e[1] == dev))
        added = a.events.find('InterfacesAdded', lambda e: e[1] == dev)[0]
        self.assertIn('RSSI', added[2][DEVICE])
        call(ad_b.StartDiscovery)
        call(ad_a.StopDiscovery)
        self.assertTrue(a.get(HCI0, ADAPTER, 'Discovering'))
        b.close()                        # the last discoverer leaves
        spin_until(lambda: False in a.prop_changes(HCI0, 'Discovering'))
        # Just Works: the agent is not asked, Trusted stays false
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        call(a.iface(dev, DEVICE).Pair)
        self.assertTrue(a.get(dev, DEVICE, 'Paired'))
        self.assertFalse(a.get(dev, DEVICE, 'Trusted'))
        self.assertEqual([e for e in self.agent_client.events.kinds()
                          if e.startswith('Agent.')], [])
        with self.assertRaises(dbus.DBusException) as cm:
            call(a.iface(dev, DEVICE).Pair)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.AlreadyExists')

    def test_pair_confirm_accept_and_reject(self):
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        d1 = self.bluez.add_device('hci0', '00:11:22:33:44:31', 'C1', {
            'Known': True, 'PairingMethod': 'confirm', 'Passkey': 654321})
        d2 = self.bluez.add_device('hci0', '00:11:22:33:44:32', 'C2', {
            'Known': True, 'PairingMethod': 'confirm'})
        c = self.client()
        call(c.iface(d1, DEVICE).Pair)
        ev = self.agent_client.events.find('Agent.RequestConfirmation')
        self.assertEqual(ev, [('Agent.RequestConfirmation', d1, 654321)])
        self.assertTrue(c.get(d1, DEVICE, 'Paired'))
        self.agent.accept = False
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(d2, DEVICE).Pair)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.AuthenticationFailed')
        self.assertFalse(c.get(d2, DEVICE, 'Paired'))
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(d2, DEVICE).CancelPairing)
        self.assertEqual(cm.exception.get_dbus_name(),
                         'org.bluez.Error.DoesNotExist')

    def test_speaker_connect_asks_authorization(self):
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.am.RequestDefaultAgent, dbus.ObjectPath('/agent'))
        dev = self.bluez.add_device('hci0', '00:11:22:33:44:40', 'S',
                                    {'Paired': True})
        c = self.client()
        c.register_app()
        tpath = call(self.control.SpeakerConnect, dbus.ObjectPath(dev))
        self.assertEqual(self.agent_client.events.find(
            'Agent.AuthorizeService'), [('Agent.AuthorizeService', dev,
                                         '0000110d-0000-1000-8000-'
                                         '00805f9b34fb')])
        kinds = c.events.kinds()
        self.assertLess(kinds.index('SelectConfiguration'),
                        kinds.index('SetConfiguration'))
        self.assertEqual(self.bluez.transport_for(dev), tpath)

    def test_bondable_follows_the_default_agent(self):
        # 5.66 without AlwaysPairable: adapter_set_io_capability() turns
        # Set Bondable on with a default agent and off without one
        # agent_create(): the first agent registered is the default one
        c = self.client()
        self.assertFalse(c.get(HCI0, ADAPTER, 'Pairable'))
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        self.assertTrue(c.get(HCI0, ADAPTER, 'Pairable'))
        self.assertEqual([bool(a[3]) for a in call(self.control.GetAgents)], [True])
        # a second one waits behind it, and takes over when it leaves
        other = self.client()
        other_am = other.iface('/org/bluez', 'org.bluez.AgentManager1')
        call(other_am.RegisterAgent, dbus.ObjectPath('/a2'), 'NoInputNoOutput')
        call(self.am.UnregisterAgent, dbus.ObjectPath('/agent'))
        self.assertEqual([(str(a[1]), bool(a[3])) for a in call(self.control.GetAgents)],
                         [('/a2', True)])
        self.assertTrue(c.get(HCI0, ADAPTER, 'Pairable'))
        call(other_am.UnregisterAgent, dbus.ObjectPath('/a2'))
        self.assertFalse(c.get(HCI0, ADAPTER, 'Pairable'))

    def test_remote_pairing_follows_the_kernel(self):
        stranger = self.bluez.add_device('hci0', '00:11:22:33:44:50', 'L', {})
        phone = self.bluez.add_device('hci0', '00:11:22:33:44:51', 'P',
                                      {'PairingMethod': 'confirm'})
        c = self.client()
        # not bondable (no agent): refused
        with self.assertRaises(dbus.DBusException) as cm:
            call(self.control.RemotePair, dbus.ObjectPath(stranger))
        self.assertIn('Rejected', cm.exception.get_dbus_name())
        self.assertFalse(c.get(stranger, DEVICE, 'Paired'))
        # bondable (a default agent): Just Works is accepted by the kernel
        # alone; numeric comparison asks the default agent
        call(self.am.RegisterAgent, dbus.ObjectPath('/agent'), 'DisplayYesNo')
        call(self.control.RemotePair, dbus.ObjectPath(stranger))
        self.assertTrue(c.get(stranger, DEVICE, 'Bonded'))
        self.assertEqual([e for e in self.agent_client.events.kinds()
                          if e.startswith('Agent.')], [])
        call(self.control.RemotePair, dbus.ObjectPath(phone))
        self.assertEqual(self.agent_client.events.find('Agent.RequestConfirmation'),
                         [('Agent.RequestConfirmation', phone, 123456)])
        self.assertTrue(c.get(phone, DEVICE, 'Paired'))

    def test_pair_while_not_bondable_keeps_no_key(self):
        # the kernel forces no-bonding: Paired until the link drops
        dev = self.bluez.add_device('hci0', '00:11:22:33:44:52', 'S',
                                    {'Known': True})
        c = self.client()
        call(self.agent_client.iface(dev, DEVICE).Pair)      # no agent at all
        self.assertTrue(c.get(dev, DEVICE, 'Paired'))
        self.assertFalse(c.get(dev, DEVICE, 'Bonded'))
        call(self.control.LinkLoss, dbus.ObjectPath(dev))
        spin_until(lambda: not c.get(dev, DEVICE, 'Paired'), what='unpaired')
        # with Pairable set by the caller, the bond is kept
        call(c.iface(HCI0, PROPS).Set, ADAPTER, 'Pairable', dbus.Boolean(True), signature='ssv')
        call(self.agent_client.iface(dev, DEVICE).Pair)
        self.assertTrue(c.get(dev, DEVICE, 'Bonded'))

    def test_discovery_filter_transport_and_lifetime(self):
        le = self.bluez.add_device('hci0', '00:11:22:33:44:53', 'Tag',
                                   {'Le': True, 'BrEdr': False, 'UUIDs': []})
        spk = self.bluez.add_device('hci0', '00:11:22:33:44:54', 'Spk', {})
        a = self.client()
        ad = a.iface(HCI0, ADAPTER)
        call(ad.SetDiscoveryFilter, dbus.Dictionary({'Transport': 'bredr'},
                                                    signature='sv'))
        call(ad.StartDiscovery)
        spin_until(lambda: a.events.find('InterfacesAdded', lambda e: e[1] == spk))
        time.sleep(0.2)
        self.assertEqual(a.events.find('InterfacesAdded', lambda e: e[1] == le), [])
        call(ad.StopDiscovery)
        # 5.66 keeps the filter after StopDiscovery (set_filter_list)
        clients = [tuple(plain_struct(x)) for x in call(self.control.GetDiscoveryClients)]
        self.assertEqual([(x[0], x[2], x[3].get('Transport')) for x in clients],
                         [('hci0', False, 'bredr')])
        # an unfiltered scan hears LE advertisers too
        b = self.client()
        call(b.iface(HCI0, ADAPTER).StartDiscovery)
        spin_until(lambda: b.events.find('InterfacesAdded', lambda e: e[1] == le))


if __name__ == '__main__':
    unittest.main()
