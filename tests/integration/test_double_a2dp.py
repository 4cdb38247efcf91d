"""The double's A2DP: connect, acquire, record, release; acquire rules,
volume, link loss, stalls, limits, profile errors, a speaker's own
configuration, and endpoint calls that time out or fail."""

import errno
import os
import time
import unittest

import dbus

import harness
from double_client import (ADAPTER, CONFIG, DEVICE, DoubleTest, HCI0, PROPS, SINK, SRC, TRANSPORT,
                           call, spin, spin_until)


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
        # 5.66 reads mgmt Device Disconnected before the channels' HUP,
        # and ClearConfiguration's send flushes Connected false first
        self.assertLess(i_disc, i_idle)
        self.assertLess(i_idle, i_clear)
        self.assertLess(i_clear, i_gone)
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
        # device_request_disconnect(): a device with no link is answered
        # at once, never NotConnected
        call(c.iface(speaker, DEVICE).Disconnect)
        call(self.control.SetInRange, dbus.ObjectPath(speaker), False)
        call(self.control.SetDeviceOption, dbus.ObjectPath(speaker),
             'PageTimeoutMs', dbus.Int32(200))
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(speaker, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-page-timeout')

    def connect_async(self, c, dev):
        box = {}
        c.iface(dev, DEVICE).ConnectProfile(
            SINK, reply_handler=lambda *r: box.setdefault('r', r),
            error_handler=lambda e: box.setdefault('e', e), timeout=60)
        return box

    def test_disconnect_cancels_a_paging_connect(self):
        # 5.66 device_request_disconnect(): the Connect under way fails with
        # br-connection-canceled at once, the page stops (sink_disconnect
        # drops the AVDTP session being made), and Disconnect is answered
        dev = self.add_speaker(ConnectMs=1500)
        c = self.client()
        c.register_app()
        box = self.connect_async(c, dev)
        spin(0.3)
        call(c.iface(dev, DEVICE).Disconnect)
        spin_until(lambda: box, what='ConnectProfile reply', timeout=1.0)
        self.assertEqual(box['e'].get_dbus_message(), 'br-connection-canceled')
        spin(2.0)
        self.assertFalse(c.get(dev, DEVICE, 'Connected'))
        self.assertEqual(c.events.find('SetConfiguration'), [])

    def test_disconnect_during_the_service_search_leaves_connect_unanswered(self):
        # 5.66 browse_request_cancel() frees the Connect's message unanswered:
        # its caller waits for its own timeout
        dev = self.add_speaker(ServicesKnown=False, ConnectMs=200, SdpMs=1500)
        c = self.client()
        c.register_app()
        box = self.connect_async(c, dev)
        spin_until(lambda: c.get(dev, DEVICE, 'Connected'), what='the page')
        call(c.iface(dev, DEVICE).Disconnect)
        spin_until(lambda: not c.get(dev, DEVICE, 'Connected'), what='the link down')
        spin(2.0)
        self.assertEqual(box, {})
        self.assertEqual(c.events.find('SetConfiguration'), [])

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


if __name__ == '__main__':
    unittest.main()
