"""The double's speaker side for codecs beyond SBC (issue #12): sinks
offering several codecs through SinkCodecs presets, vendor codecs matched
by vendor and codec id as bluetoothd 5.66 does, malformed vendor
capabilities, a speaker refusing a codec it advertised, a speaker setting
up a codec itself, and recordings carrying the codec and its whole
configuration.

A Python client plays the daemon (double_client's fake endpoints).

Run: cd tests/integration && /usr/bin/python3 -m unittest test_double_codecs
"""

import os
import sys
import unittest

import dbus

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'double'))

import harness                                          # noqa: E402
from bluez_double import codecs                         # noqa: E402
from double_client import (DoubleTest, FakeEndpoint, FakeApp, call,  # noqa: E402
                           DEVICE, ENDPOINT, TRANSPORT, PROPS, SINK, MEDIA, HCI0,
                           SBC_ALL, CONFIG)

APTX_HDR = codecs.vendor_header(*codecs.APTX)
APTX_HD_HDR = codecs.vendor_header(*codecs.APTX_HD)
LDAC_HDR = codecs.vendor_header(*codecs.LDAC)
# what a2dpsrc would advertise and pick (48 kHz stereo)
APTX_CAPS = APTX_HDR + bytes([0xf2])
APTX_CONFIG = APTX_HDR + bytes([0x12])
APTX_HD_CAPS = APTX_HD_HDR + bytes([0xf2, 0, 0, 0, 0])
AAC_CAPS = bytes([0xc0, 0xff, 0x8c, 0x84, 0xe2, 0x00])
AAC_CONFIG = bytes([0x80, 0x00, 0x84, 0x84, 0xe2, 0x00])   # MPEG-2 LC 48k stereo VBR 320k


class CodecEndpoint(FakeEndpoint):
    """A local source endpoint of any codec."""

    def __init__(self, conn, path, events, codec, caps, config):
        FakeEndpoint.__init__(self, conn, path, events, caps=caps)
        self.codec = codec
        self.select = lambda caps: config

    def props(self):
        p = FakeEndpoint.props(self)
        p['Codec'] = dbus.Byte(self.codec)
        return p


class CodecTest(DoubleTest):

    def register(self, client, specs, root='/src'):
        """specs: [(codec, caps, config)] in registration order."""
        eps = [CodecEndpoint(client.conn, '%s/ep%d' % (root, i), client.events, *s)
               for i, s in enumerate(specs)]
        client.endpoints.extend(eps)
        client.app = FakeApp(client.conn, root, eps)
        call(client.iface(HCI0, MEDIA).RegisterApplication,
             dbus.ObjectPath(root), dbus.Dictionary({}, signature='sv'))
        return eps

    def speaker(self, names, **opts):
        return self.add_speaker(SinkCodecs=list(names), **opts)

    def seps(self, client, dev):
        objs = call(client.iface('/', 'org.freedesktop.DBus.ObjectManager')
                    .GetManagedObjects)
        return {str(p): {str(k): v for k, v in ifs[ENDPOINT].items()}
                for p, ifs in objs.items()
                if str(p).startswith(dev + '/sep') and ENDPOINT in ifs}

    def setconfs(self, client):
        return client.events.find('SetConfiguration')


class TestSinkPresets(CodecTest):
    def test_every_codec_exported_as_566_does(self):
        dev = self.speaker(['ldac', 'aptx-hd', 'aptx', 'aac', 'sbc-xq', 'sbc'])
        c = self.client()
        self.register(c, [(0, SBC_ALL, CONFIG)])
        self.connect(c, dev)
        seps = self.seps(c, dev)
        self.assertEqual(sorted(seps), ['%s/sep%d' % (dev, i) for i in range(1, 7)])
        want = {1: (0xff, LDAC_HDR), 2: (0xff, APTX_HD_HDR), 3: (0xff, APTX_HDR),
                4: (0x02, b''), 5: (0x00, b''), 6: (0x00, b'')}
        for seid, (codec, hdr) in want.items():
            p = seps['%s/sep%d' % (dev, seid)]
            # a2dp.c sep_properties: no Vendor property, the vendor header
            # is in Capabilities
            self.assertEqual(set(p), {'UUID', 'Codec', 'Capabilities', 'Device',
                                      'DelayReporting'})
            self.assertEqual(int(p['Codec']), codec)
            self.assertEqual(bytes(p['Capabilities'])[:len(hdr)], hdr)
        self.assertEqual(bytes(seps[dev + '/sep5']['Capabilities']),
                         bytes([0xff, 0xff, 0x02, 0x4a]))
        self.assertEqual(len(seps[dev + '/sep2']['Capabilities']), 11)
        self.assertEqual(len(seps[dev + '/sep1']['Capabilities']), 8)
        # the SBC endpoint was paired with the first SBC SEP
        (sc,) = self.setconfs(c)
        self.assertTrue(sc[1].startswith(dev + '/sep5/fd'))

    def test_vendor_codecs_match_by_vendor_and_codec_id(self):
        # 5.66 pairs a vendor endpoint only with a SEP of the same vendor
        # and codec id: an aptX endpoint never meets an aptX HD sink
        dev = self.speaker(['aptx-hd', 'sbc'])
        c = self.client()
        self.register(c, [(0xff, APTX_CAPS, APTX_CONFIG), (0, SBC_ALL, CONFIG)])
        self.connect(c, dev)
        (sel,) = c.events.find('SelectConfiguration')
        self.assertEqual(sel[1], bytes(sbc_caps()))
        (sc,) = self.setconfs(c)
        self.assertEqual(sc[2]['Codec'], 0)

    def test_aptx_stream_and_its_recording(self):
        dev = self.speaker(['aptx', 'sbc'])
        c = self.client()
        self.register(c, [(0xff, APTX_CAPS, APTX_CONFIG), (0, SBC_ALL, CONFIG)])
        tpath = self.connect(c, dev)
        (sel,) = c.events.find('SelectConfiguration')
        self.assertEqual(sel[1], codecs.PRESETS['aptx'][1])
        (sc,) = self.setconfs(c)
        self.assertEqual(int(sc[2]['Codec']), 0xff)
        self.assertEqual(bytes(sc[2]['Configuration']), APTX_CONFIG)
        self.assertEqual(int(c.get(tpath, TRANSPORT, 'Codec')), 0xff)
        self.assertEqual(bytes(c.get(tpath, TRANSPORT, 'Configuration')), APTX_CONFIG)
        sock, _, _ = self.acquire(c, tpath)
        packets = [bytes([i]) * 400 for i in range(3)]
        for p in packets:
            sock.send(p)
        call(self.control.Flush)
        hdr, records = harness.read_recording(self.bluez.recordings()[0])
        self.assertEqual((hdr['magic'], hdr['codec'], hdr['config']),
                         (b'A2DPREC2', 0xff, APTX_CONFIG))
        self.assertEqual(hdr['header_len'], 20 + len(APTX_CONFIG))
        self.assertEqual([r[1] for r in records], packets)
        sock.close()

    def test_malformed_vendor_capabilities_match_nothing(self):
        for bad in ('vendor-short', 'aptx-wrong-vendor'):
            with self.subTest(bad=bad):
                dev = self.speaker([bad, 'sbc'], address='00:11:22:33:44:5%d' % len(bad))
                c = self.client()
                self.register(c, [(0xff, APTX_CAPS, APTX_CONFIG), (0, SBC_ALL, CONFIG)],
                              root='/src%d' % len(bad))
                self.connect(c, dev)
                seps = self.seps(c, dev)
                self.assertEqual(bytes(seps[dev + '/sep1']['Capabilities']),
                                 codecs.PRESETS[bad][1])
                self.assertEqual([int(e[2]['Codec']) for e in self.setconfs(c)], [0])

    def test_malformed_but_matching_caps_reach_select(self):
        # the header matches: bluetoothd hands the broken caps to our
        # SelectConfiguration, which must refuse them itself
        dev = self.speaker(['aptx-short', 'sbc'])
        c = self.client()
        self.register(c, [(0xff, APTX_CAPS, APTX_CONFIG), (0, SBC_ALL, CONFIG)])
        c.endpoints[0].select = lambda caps: dbus.exceptions.DBusException(
            'bad caps', name='org.bluez.Error.InvalidArguments')
        try:
            self.connect(c, dev)
        except dbus.DBusException:
            pass
        sel = c.events.find('SelectConfiguration')
        self.assertEqual(sel[0][1], APTX_HDR)


class TestRefusals(CodecTest):
    def test_speaker_refuses_an_advertised_codec(self):
        dev = self.speaker(['aptx', 'sbc'], RefuseCodecs=['aptx'])
        c = self.client()
        self.register(c, [(0xff, APTX_CAPS, APTX_CONFIG), (0, SBC_ALL, CONFIG)])
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        # sink.c stream_setup_complete: -EIO from the AVDTP rejection
        self.assertEqual(cm.exception.get_dbus_message(), 'br-connection-create-socket')
        self.assertEqual(len(c.events.find('SelectConfiguration')), 1)
        self.assertEqual(self.setconfs(c), [])      # setconf_cfm never calls it
        self.assertIn('speaker rejects SET_CONFIGURATION: speaker refuses aptx',
                      ' '.join(self.bluez.event_log()))
        # the remote SEPs were discovered: switching through them works
        # for SBC and fails as 5.66's reconfig_cb reports it for aptX
        aptx_ep, sbc_ep = c.endpoints
        sep = c.iface(dev + '/sep1', ENDPOINT)
        with self.assertRaises(dbus.DBusException) as cm:
            call(sep.SetConfiguration, dbus.ObjectPath(aptx_ep.path),
                 caps_prop(APTX_CONFIG))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.Failed')
        self.assertEqual(cm.exception.get_dbus_message(), 'Input/output error')
        call(c.iface(dev + '/sep2', ENDPOINT).SetConfiguration,
             dbus.ObjectPath(sbc_ep.path), caps_prop(CONFIG))
        (sc,) = self.setconfs(c)
        self.assertEqual(int(sc[2]['Codec']), 0)
        self.assertTrue(self.bluez.transport_for(dev))

    def test_speaker_refusing_sbc_xq_takes_plain_sbc(self):
        dev = self.speaker(['sbc-xq'], RefuseCodecs=['sbc-xq'])
        c = self.client()
        xq = bytes([0x24, 0x15, 2, 74])         # 44.1k dual channel 16/8 loudness 2..74
        self.register(c, [(0, SBC_ALL, xq)])
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev, DEVICE).ConnectProfile, SINK)
        self.assertEqual(cm.exception.get_dbus_message(), 'br-connection-create-socket')
        self.assertIn('speaker refuses SBC-XQ', ' '.join(self.bluez.event_log()))
        c.endpoints[0].select = lambda caps: CONFIG       # joint stereo 2..53
        self.connect(c, dev)
        (sc,) = self.setconfs(c)
        self.assertEqual(bytes(sc[2]['Configuration']), CONFIG)

    def test_unknown_preset_is_a_clear_error(self):
        with self.assertRaises(dbus.DBusException) as cm:
            self.speaker(['sbc', 'opus'])
        self.assertIn("no sink codec preset 'opus'", cm.exception.get_dbus_message())

    def test_remote_sep_set_configuration_is_checked_by_the_speaker(self):
        dev = self.speaker(['sbc', 'aptx'])
        c = self.client()
        self.register(c, [(0, SBC_ALL, CONFIG), (0xff, APTX_CAPS, APTX_CONFIG)])
        self.connect(c, dev)
        sep = c.iface(dev + '/sep2', ENDPOINT)
        aptx_ep = c.endpoints[1]
        # two frequency bits: not a configuration, the strict sink says no
        with self.assertRaises(dbus.DBusException) as cm:
            call(sep.SetConfiguration, dbus.ObjectPath(aptx_ep.path),
                 caps_prop(APTX_HDR + bytes([0x32])))
        self.assertEqual(cm.exception.get_dbus_message(), 'Input/output error')
        # the wrong vendor's endpoint for this SEP: InvalidArguments
        with self.assertRaises(dbus.DBusException) as cm:
            call(sep.SetConfiguration, dbus.ObjectPath(c.endpoints[0].path),
                 caps_prop(CONFIG))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.InvalidArguments')
        call(sep.SetConfiguration, dbus.ObjectPath(aptx_ep.path),
             caps_prop(APTX_CONFIG))
        tpath = self.bluez.transport_for(dev)
        self.assertEqual(bytes(c.get(tpath, TRANSPORT, 'Configuration')), APTX_CONFIG)
        self.assertIn('/sep2/', tpath)

    def test_our_endpoint_failing_reconfiguration(self):
        dev = self.speaker(['sbc', 'aptx'])
        c = self.client()
        self.register(c, [(0, SBC_ALL, CONFIG), (0xff, APTX_CAPS, APTX_CONFIG)])
        self.connect(c, dev)
        c.endpoints[1].set_error = dbus.exceptions.DBusException(
            'no', name='org.bluez.Error.Rejected')
        with self.assertRaises(dbus.DBusException) as cm:
            call(c.iface(dev + '/sep2', ENDPOINT).SetConfiguration,
                 dbus.ObjectPath(c.endpoints[1].path),
                 caps_prop(APTX_CONFIG))
        # finalize_setup_errno(-EPERM) -> error_to_errno -> -EAGAIN
        self.assertEqual(cm.exception.get_dbus_message(), 'Resource temporarily unavailable')


class TestSpeakerConfigures(CodecTest):
    def test_speaker_sets_up_aptx_itself(self):
        dev = self.speaker(['sbc', 'aptx'], SpeakerConnectMode='remote-config',
                           RemoteCodec='aptx')
        c = self.client()
        self.register(c, [(0, SBC_ALL, CONFIG), (0xff, APTX_CAPS, APTX_CONFIG)])
        tpath = call(self.control.SpeakerConnect, dbus.ObjectPath(dev))
        self.assertEqual(c.events.find('SelectConfiguration'), [])
        (sc,) = self.setconfs(c)
        self.assertEqual(sc[1], tpath)
        self.assertIn('/sep2/', tpath)
        self.assertEqual(int(sc[2]['Codec']), 0xff)
        # 48 kHz stereo: within both sides' capabilities
        self.assertEqual(bytes(sc[2]['Configuration']), APTX_CONFIG)

    def test_speaker_sets_up_aac_with_a_configuration_of_its_own(self):
        pick = bytes([0x80, 0x01, 0x04, 0x00, 0xfa, 0x00])  # 44.1k stereo CBR 64000
        dev = self.speaker(['aac', 'sbc'], SpeakerConnectMode='remote-config',
                           RemoteCodec='aac', RemoteConfiguration=pick)
        c = self.client()
        self.register(c, [(0x02, AAC_CAPS, AAC_CONFIG), (0, SBC_ALL, CONFIG)])
        call(self.control.SpeakerConnect, dbus.ObjectPath(dev))
        (sc,) = self.setconfs(c)
        self.assertEqual((int(sc[2]['Codec']), bytes(sc[2]['Configuration'])), (2, pick))


class TestPureHelpers(unittest.TestCase):
    def test_check_config(self):
        caps = codecs.PRESETS['aac'][1]
        self.assertIsNone(codecs.check_config(2, AAC_CONFIG, caps))
        self.assertIn('object type', codecs.check_config(2, bytes([0xc0]) + AAC_CONFIG[1:], caps))
        over = AAC_CONFIG[:3] + bytes([0x85, 0, 0])
        self.assertIn('bit rate', codecs.check_config(2, over, caps))
        self.assertIn('vendor header', codecs.check_config(
            0xff, APTX_HD_HDR + bytes([0x12, 0, 0, 0, 0]), codecs.PRESETS['aptx'][1]))
        self.assertIn('needs 8', codecs.check_config(0xff, LDAC_HDR + bytes([0x10]),
                                                      codecs.PRESETS['ldac'][1]))
        self.assertIsNone(codecs.check_config(0xff, LDAC_HDR + bytes([0x10, 0x01]),
                                              codecs.PRESETS['ldac'][1]))

    def test_choose_config(self):
        self.assertEqual(codecs.choose_config(0x02, codecs.PRESETS['aac'][1], AAC_CAPS),
                         bytes([0x80, 0x00, 0x84, 0x84, 0xe2, 0x00]))
        self.assertEqual(codecs.choose_config(0xff, codecs.PRESETS['ldac'][1],
                                              LDAC_HDR + bytes([0x30, 0x07])),
                         LDAC_HDR + bytes([0x10, 0x01]))
        self.assertIsNone(codecs.choose_config(0xff, codecs.PRESETS['aptx-empty'][1], APTX_CAPS))
        self.assertIsNone(codecs.choose_config(0xff, codecs.PRESETS['aptx'][1], APTX_HD_CAPS))


def caps_prop(blob):
    return dbus.Dictionary({'Capabilities': dbus.Array([dbus.Byte(b) for b in bytes(blob)],
                                                       signature='y')}, signature='sv')


def sbc_caps():
    return codecs.PRESETS['sbc'][1]


if __name__ == '__main__':
    unittest.main()
