"""The double with two speakers and our endpoints, against bluetoothd 5.66
(issue #13's base): which local endpoint the second speaker gets.

What 5.66 does (profiles/audio/a2dp.c, avdtp.c, sink.c):
  * a local SEP carrying a stream to one speaker is skipped for another:
    a2dp_find_eps() keeps only SEPs for which avdtp_find_remote_sep()
    finds a remote SEP, and that returns nothing for a local SEP whose
    info.inuse is set (from the SET_CONFIGURATION sent or accepted until
    the stream is freed).  So the next registered endpoint of the codec
    is asked SelectConfiguration, then SetConfiguration.
  * with no idle local SEP at all, a2dp_avdtp_get() gives no session and
    sink_connect() returns -EIO before paging: Failed
    "br-connection-create-socket" at once.  With an idle SEP of another
    codec or role, the speaker is paged and discovered first, then
    a2dp_select_capabilities() fails ("Unable to select SEP"): the same
    error, after the ACL came up.
  * nothing holds an endpoint while SelectConfiguration runs, so two
    speakers set up at once can both be asked for the same endpoint;
    the second answer fails in a2dp_config() (avdtp_set_configuration
    -EBUSY) and sink.c select_complete() reports -EIO: no other endpoint
    is tried.
  * LastUsed (lseid:rseid) is put first only when that local SEP is
    idle, and is rewritten to whatever endpoint was used (open_cfm ->
    update_last_used), so the spare endpoint is not tied to one speaker.

Run: cd tests/integration && /usr/bin/python3 -m unittest test_double_two_speakers
"""

import time
import unittest

import dbus

import harness
from double_client import (DEVICE, HCI0, MEDIA, SINK, DoubleTest, Events,
                           FakeApp, FakeEndpoint, call, spin_until)

A = '00:11:22:33:44:0A'
B = '00:11:22:33:44:0B'


class TwoSpeakers(DoubleTest):

    def register(self, client, n, uuids=None):
        """One application with n SBC endpoints /src/ep0.., each with its
        own event record (so a test sees which one was asked)."""
        eps = []
        for i in range(n):
            kw = {'uuid': uuids[i]} if uuids else {}
            eps.append(FakeEndpoint(client.conn, '/src/ep%d' % i, Events(), **kw))
        client.endpoints.extend(eps)
        client.app = FakeApp(client.conn, '/src', eps)
        call(client.iface(HCI0, MEDIA).RegisterApplication,
             dbus.ObjectPath('/src'), dbus.Dictionary({}, signature='sv'))
        return eps

    def endpoint_of(self, dev):
        t = self.bluez.transport_for(dev)
        self.assertIsNotNone(t, 'no transport for %s' % dev)
        return str(self.bluez.transports()[t]['EndpointPath'])

    def selects(self, ep):
        return len(ep.events.find('SelectConfiguration'))

    def connect_both(self, client, a, b):
        """ConnectProfile on both speakers at once; {dev: None or error}."""
        box = {}
        for dev in (a, b):
            client.iface(dev, DEVICE).ConnectProfile(
                SINK, reply_handler=lambda d=dev: box.setdefault(d, None),
                error_handler=lambda e, d=dev: box.setdefault(d, e), timeout=10)
        spin_until(lambda: len(box) == 2, 15, 'both ConnectProfile replies')
        return box

    def disconnect(self, client, dev):
        call(client.iface(dev, DEVICE).Disconnect)
        spin_until(lambda: self.bluez.transport_for(dev) is None)

    def test_second_speaker_gets_the_second_endpoint_of_the_codec(self):
        a, b = self.add_speaker(A), self.add_speaker(B)
        c = self.client()
        ep0, ep1 = self.register(c, 2)
        self.connect(c, a)
        self.assertEqual(self.endpoint_of(a), '/src/ep0')
        self.assertEqual((self.selects(ep0), self.selects(ep1)), (1, 0))
        self.connect(c, b)
        self.assertEqual(self.endpoint_of(b), '/src/ep1')
        # ep0, carrying a's stream, was not even asked for b
        self.assertEqual((self.selects(ep0), self.selects(ep1)), (1, 1))
        (setconf,) = ep1.events.find('SetConfiguration')
        self.assertEqual(str(setconf[2]['Device']), b)
        self.assertTrue(setconf[1].startswith(b + '/sep1/fd'))
        inuse = {str(p): bool(d['InUse'])
                 for _, _, p, d in self.control.GetEndpointDetails()}
        self.assertEqual(inuse, {'/src/ep0': True, '/src/ep1': True})

    def test_no_idle_endpoint_fails_at_once_without_paging(self):
        a, b = self.add_speaker(A), self.add_speaker(B)
        c = self.client()
        (ep0,) = self.register(c, 1)
        self.connect(c, a)
        for method in ('ConnectProfile', 'Connect'):
            args = (SINK,) if method == 'ConnectProfile' else ()
            t0 = time.monotonic()
            with self.assertRaises(dbus.DBusException) as cm:
                call(getattr(c.iface(b, DEVICE), method), *args)
            self.assertEqual((cm.exception.get_dbus_name(),
                              cm.exception.get_dbus_message()),
                             ('org.bluez.Error.Failed',
                              'br-connection-create-socket'), method)
            self.assertLess(time.monotonic() - t0, 0.15, method)
        self.assertEqual(c.prop_changes(b, 'Connected'), [])
        self.assertEqual(self.selects(ep0), 1)
        self.assertEqual(self.endpoint_of(a), '/src/ep0')

    def test_idle_endpoint_of_another_role_pages_first(self):
        # an idle local SEP (here a sink endpoint) lets a2dp_avdtp_get make
        # a session: b is paged and discovered before the choice fails
        a, b = self.add_speaker(A), self.add_speaker(B)
        c = self.client()
        self.register(c, 2, uuids=[harness.A2DP_SOURCE_UUID, SINK])
        self.connect(c, a)
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(b, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(),
                         'br-connection-create-socket')
        self.assertEqual(c.prop_changes(b, 'Connected')[:1], [True])
        self.assertIn('Unable to select SEP', '\n'.join(self.bluez.event_log()))

    def test_simultaneous_setups_collide_on_one_endpoint(self):
        a, b = self.add_speaker(A), self.add_speaker(B)
        c = self.client()
        ep0, ep1 = self.register(c, 2)
        box = self.connect_both(c, a, b)
        # both were asked on ep0 (nothing holds it during the selection);
        # the second answer finds it configured and the setup fails
        self.assertEqual((self.selects(ep0), self.selects(ep1)), (2, 0))
        failed = [d for d, e in box.items() if e is not None]
        self.assertEqual(len(failed), 1, box)
        self.assertEqual(box[failed[0]].get_dbus_message(),
                         'br-connection-create-socket')
        won = a if failed[0] == b else b
        self.assertEqual(self.endpoint_of(won), '/src/ep0')
        # tried again alone, the loser gets the spare
        self.connect(c, failed[0])
        self.assertEqual(self.endpoint_of(failed[0]), '/src/ep1')

    def test_last_used_is_skipped_when_busy_and_then_moves(self):
        a, b = self.add_speaker(A), self.add_speaker(B)
        c = self.client()
        self.register(c, 2)
        self.connect(c, b)
        self.assertEqual(self.endpoint_of(b), '/src/ep0')   # LastUsed 01:01
        self.disconnect(c, b)
        self.connect(c, a)
        self.assertEqual(self.endpoint_of(a), '/src/ep0')
        self.connect(c, b)                # its LastUsed endpoint is busy
        self.assertEqual(self.endpoint_of(b), '/src/ep1')   # LastUsed 02:01
        self.disconnect(c, a)
        self.disconnect(c, b)
        # alone again, b goes to ep1 although ep0 is idle; a gets ep0
        self.connect(c, b)
        self.assertEqual(self.endpoint_of(b), '/src/ep1')
        self.connect(c, a)
        self.assertEqual(self.endpoint_of(a), '/src/ep0')


class ArrivalTimestamps(DoubleTest):
    params = {'arrival_timestamps': True}

    def test_recording_carries_the_kernel_arrival_time(self):
        # SO_TIMESTAMPNS on the speaker's SEQPACKET socket: the kernel
        # stamps each packet when the daemon's send() queues it
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        tpath = self.connect(c, dev)
        sock, _, _ = self.acquire(c, tpath)
        sent = []
        for i in range(20):
            before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            sock.send(bytes([0x80, 0x60, 0, i]) + b'k' * 200)
            sent.append((before, time.clock_gettime_ns(time.CLOCK_MONOTONIC)))
            time.sleep(0.003)
        call(self.control.Flush)
        hdr, records = harness.read_recording(self.bluez.recordings()[0],
                                              kernel_times=True)
        self.assertEqual((hdr['magic'], hdr['version']), (b'A2DPREC3', 3))
        self.assertEqual(len(records), len(sent))
        for (before, after), (t_read, t_kernel, data) in zip(sent, records):
            self.assertIsNotNone(t_kernel)
            self.assertGreaterEqual(t_kernel, before - 50000)   # clock conversion
            self.assertLessEqual(t_kernel, after + 50000)
            self.assertLessEqual(t_kernel, t_read + 50000)
        # readers of the old form still get (t_ns, bytes)
        _, plain = harness.read_recording(self.bluez.recordings()[0])
        self.assertEqual([r[1] for r in plain], [r[2] for r in records])
        sock.close()


if __name__ == '__main__':
    unittest.main()
