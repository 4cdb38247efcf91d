"""A2DP stream setup as bluetoothd 5.66 does it for an A2DP source:
the remote SEP objects <device>/sepN (org.bluez.MediaEndpoint1, a2dp.c
register_remote_sep / set_configuration) and, mixed into Device, the
choice of local endpoint and remote SEP and the SelectConfiguration /
SetConfiguration / open sequence (profiles/audio/a2dp.c, avdtp.c, sink.c,
media.c of BlueZ 5.66)."""

import dbus
import dbus.service

from . import consts as C
from . import codecs
from .base import BzObject, ay

# what MediaEndpoint1.SetConfiguration on a remote SEP fails with
RECONFIG_ERROR = {'EIO': 'Input/output error', 'EPERM': 'Resource temporarily unavailable',
                  'EHOSTDOWN': 'Host is down', 'ECONNABORTED': 'Software caused connection abort',
                  'ECANCELED': 'Software caused connection abort'}


class RemoteSep(BzObject):
    """A remote stream end point (a2dp.c register_remote_sep)."""

    def __init__(self, device, seid, codec, caps, vendor=None):
        BzObject.__init__(self, device.world, '%s/sep%d' % (device.path, seid))
        self.device = device
        self.seid = seid
        self.codec = codec
        self.caps = bytes(caps)
        self.vendor = vendor
        E = C.ENDPOINT_IFACE
        self.add_prop(E, 'UUID', 's', lambda: dbus.String(C.A2DP_SINK_UUID))
        self.add_prop(E, 'Codec', 'y', lambda: dbus.Byte(self.codec))
        self.add_prop(E, 'Capabilities', 'ay', lambda: ay(self.caps))
        self.add_prop(E, 'Device', 'o', lambda: dbus.ObjectPath(device.path))
        self.add_prop(E, 'DelayReporting', 'b',
                      lambda: dbus.Boolean(device.delay_report > 0))

    @dbus.service.method(C.ENDPOINT_IFACE, in_signature='oa{sv}',
                         out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def SetConfiguration(self, endpoint, props, sender=None, ok=None,
                         err=None):
        """a2dp.c set_configuration(): reconfigure the stream to the given
        local endpoint (of the caller) and Capabilities."""
        dev = self.device
        ep = dev.adapter.find_endpoint(sender, endpoint)
        if ep is None or not ep.is_source() or \
                not codecs.matches(ep.codec, ep.caps, self.codec, self.caps):
            return err(C.invalid_args())
        caps = None
        for k, v in props.items():
            if str(k) == 'Capabilities':
                caps = bytes(int(x) for x in v)
        if caps is None:
            return err(C.invalid_args())
        mine = dev.transport is not None and dev.transport.endpoint is ep
        if ep.in_use() and not mine:
            return err(C.failed('Device or resource busy'))
        if not dev.connected:
            return err(C.not_connected())
        gen = dev.gen

        def done(errno):
            # reconfig_cb: btd_error_failed(strerror(-err)), err from
            # error_to_errno(): the speaker's AVDTP rejection is EIO, our
            # endpoint failing SetConfiguration EAGAIN (-EPERM there)
            if errno is None:
                ok()
            else:
                err(C.failed(RECONFIG_ERROR.get(errno, RECONFIG_ERROR['EPERM'])))

        def reconfigure():
            # a2dp_reconfigure: avdtp_set_configuration, RECONFIGURE_TIMEOUT
            # after the stream went idle
            if gen != dev.gen or not dev.connected:
                return err(C.failed('Input/output error'))
            if dev.opt('ReconfigureFails', False):
                # the SET_CONFIGURATION fails (finalize_setup_errno ->
                # reconfig_cb) and nothing reopens the stream: connected,
                # no stream
                return err(C.failed('Input/output error'))
            dev.a2dp_setup(ep, self, done, config=caps, speaker_checks=True,
                           rediscover=False)

        def closed():
            # the speaker answered CLOSE: the stream goes idle (transport
            # removed, ClearConfiguration), setup_reconfigure arms the timer
            if gen != dev.gen or not dev.connected:
                return err(C.failed('Input/output error'))
            if dev.transport is not None:
                dev.stream_cleared(send_clear=True)
            dev.world.timer(dev.ms('reconfigure_ms'), reconfigure)

        if dev.transport is None:
            # no stream to close: avdtp_set_configuration at once
            dev.a2dp_setup(ep, self, done, config=caps, speaker_checks=True)
        else:
            # a2dp_reconfig: avdtp_close, the stream stays open (and
            # streaming) until the speaker answers
            dev.world.timer(dev.ms('close_ms'), closed)
        return None


class A2dpSetupMixin:
    """Device methods for the A2DP stream setup (a Device is self)."""

    def sink_sep_for(self, ep):
        """avdtp_find_remote_sep(): the first of the speaker's SEPs of the
        local endpoint's codec (for vendor codecs, 0xff, the same vendor
        and codec id: a2dp.c endpoint_match_codec_ind) and no stream."""
        busy = self.transport.rsep.seid \
            if self.transport is not None and \
            getattr(self.transport, 'rsep', None) is not None else None
        for seid, codec, caps, vendor in self.sep_specs:
            if seid == busy:
                continue
            if codecs.matches(ep.codec, ep.caps, codec, caps):
                return (seid, codec, caps, vendor)
        return None

    def a2dp_candidates(self):
        """a2dp.c a2dp_select_eps()/a2dp_find_eps() in 5.66: the idle local
        source endpoints in registration order, each with its remote SEP;
        the LastUsed pair (stored per device as lseid:rseid) first.
        SelectConfiguration failing on one moves to the next (select_cb)."""
        out = []
        for ep in self.adapter.endpoints:
            if not ep.is_source() or ep.in_use():
                continue
            rsep = self.sink_sep_for(ep)
            if rsep is None:
                continue
            if self.last_used is not None and \
                    self.last_used == (ep.seid, rsep[0]):
                out.insert(0, (ep, rsep))
            else:
                out.append((ep, rsep))
        return out

    def a2dp_connect(self, svc, done):
        """The A2DP sink service's connect (a2dp.c a2dp_sink_connect ->
        sink.c sink_connect -> sink_setup_stream): None when started
        (done(svc, errno) comes later), else the errno of the synchronous
        failure."""
        if not any(e.is_source() for e in self.adapter.endpoints):
            return 'ENOPROTOOPT'     # a2dp_sink_connect: no source record
        if self.a2dp == 'connecting':
            return 'EALREADY'
        if all(e.in_use() for e in self.adapter.endpoints):
            # a2dp_avdtp_get(): a new AVDTP session needs a local SEP (of
            # any codec or role) in AVDTP_STATE_IDLE; with none,
            # sink_setup_stream fails and sink_connect returns -EIO before
            # anything is paged
            self.log('Unable to find any available SEP')
            return 'EIO'
        gen = self.gen

        def paged(errno):
            if gen != self.gen:
                return
            if errno is None:
                errno = self._connect_error()
            if errno is not None:
                return done(svc, errno)

            def secured(errno):
                if gen != self.gen:
                    return
                if errno is not None:
                    return done(svc, errno)
                # a2dp_discover, then the endpoint is chosen from what is
                # idle when the discovery completes
                self.a2dp_setup(None, None, lambda e: done(svc, e))
            self._link_security(secured)
        self._page(paged)
        return None

    def refuses(self, codec, caps, cfg):
        """Why the speaker rejects an AVDTP SET_CONFIGURATION of its SEP
        (caps) with cfg, or None: RejectConfiguration refuses every one,
        RefuseCodecs those of the codecs it names (it advertised them all
        the same), StrictConfig those outside its capabilities."""
        if self.opt('RejectConfiguration',
                    self.opt('RejectSelectConfiguration', False)):
            return 'speaker configured to reject'
        name = codecs.codec_name(codec, caps)
        refused = self.opt('RefuseCodecs') or []
        if name is not None and name in refused:
            return 'speaker refuses %s' % name
        if name == 'sbc' and 'sbc-xq' in refused and codecs.is_sbc_xq(cfg):
            return 'speaker refuses SBC-XQ (dual channel, bitpool %d)' % bytes(cfg)[3]
        if self.opt('StrictConfig', True):
            return codecs.check_config(codec, cfg, caps)
        return None

    def _export_seps(self):
        for seid, codec, caps, vendor in self.sep_specs:
            if seid not in self.remote_seps:
                sep = RemoteSep(self, seid, codec, caps, vendor)
                self.remote_seps[seid] = sep
                sep.export()

    def setup_aborted(self, ep):
        """The endpoint went away while a setup used it."""
        self.setup_released(ep)
        if self.a2dp_ep is ep and self.a2dp == 'connecting' and \
                self._setup_cb is not None:
            self._setup_cb('EIO')

    def setup_released(self, ep):
        """This device's setup no longer uses ep."""
        ep.setups.discard(self)
        if ep.inuse_by is self:
            ep.inuse_by = None

    def remote_codec_pair(self, name):
        """The speaker configuring name (a SinkCodecs preset name) itself:
        its first SEP of that codec and the first idle local source
        endpoint matching it, or (None, None)."""
        for spec in self.sep_specs:
            if codecs.codec_name(spec[1], spec[2]) != name and \
                    not (name == 'sbc-xq' and spec[1] == codecs.SBC):
                continue
            for ep in self.adapter.endpoints:
                if ep.is_source() and not ep.in_use() and \
                        codecs.matches(ep.codec, ep.caps, spec[1], spec[2]):
                    return ep, spec
        return None, None

    def a2dp_setup(self, ep, rsep_spec, done, config=None,
                   speaker_checks=False, rest=(), rediscover=True):
        """Configure a stream on local endpoint ep with the remote SEP.
        ep None: the pair is chosen when the discovery completes, as sink.c
        discovery_complete() -> a2dp_select_capabilities() does
        (a2dp_candidates); none left is a2dp_select_capabilities' "Unable
        to select SEP", EIO.
        config None: bluetoothd selects (SelectConfiguration first);
        otherwise the configuration is given (remote SET_CONFIGURATION or
        MediaEndpoint1.SetConfiguration) and only SetConfiguration is
        called.  speaker_checks: we send that SET_CONFIGURATION (the
        remote SEP's SetConfiguration), so the speaker checks it as it does
        one after SelectConfiguration.  rest: the next (endpoint, remote
        SEP) pairs to try, in order, when SelectConfiguration fails (a2dp.c
        select_cb); none left is "Unable to select a valid configuration".

        Nothing holds a local endpoint while SelectConfiguration runs: in
        5.66 the local SEP is marked in use (avdtp.c lsep->info.inuse) only
        when SET_CONFIGURATION goes out (avdtp_set_configuration), which is
        when the double sets ep.inuse_by.  So two speakers set up at once
        can both be asked for the same endpoint; the second to answer fails
        (a2dp.c a2dp_config: avdtp_set_configuration -EBUSY, or "SEP in bad
        state" once configured; sink.c select_complete -> EIO), with no
        retry on another endpoint (select_cb only moves on when
        SelectConfiguration itself fails).
        done(errno or None)."""
        rest = list(rest)
        w = self.world
        if isinstance(rsep_spec, RemoteSep):
            rsep_spec = (rsep_spec.seid, rsep_spec.codec, rsep_spec.caps,
                         rsep_spec.vendor)
        gen = self.gen
        cur = {'ep': None, 'spec': None}
        self.a2dp = 'connecting'
        self._setup_done = done

        def use(nep, spec):
            cur['ep'], cur['spec'] = nep, spec
            nep.setups.add(self)
            self.a2dp_ep = nep

        def release():
            if cur['ep'] is not None:
                self.setup_released(cur['ep'])

        if ep is not None:
            use(ep, rsep_spec)
            if config is not None:
                ep.inuse_by = self        # the SET_CONFIGURATION is ours

        def finish(errno):
            ep = cur['ep']
            release()
            if errno is not None:
                if self.a2dp == 'connecting':
                    self.a2dp = 'disconnected'
                if ep is not None and self.a2dp_ep is ep and \
                        self.transport is None:
                    self.a2dp_ep = None
            cb, self._setup_done = self._setup_done, None
            if cb is not None:
                cb(errno)
        self._setup_cb = finish

        def alive():
            return gen == self.gen and self._setup_done is done and \
                (cur['ep'] is None or cur['ep'].alive)

        def discovered():
            if not alive():
                return
            self._export_seps()
            if cur['ep'] is None:
                candidates = self.a2dp_candidates()
                if not candidates:
                    self.log('Unable to select SEP: no idle local endpoint '
                             'for any of the speaker\'s SEPs')
                    return finish('EIO')
                use(*candidates[0])
                rest[:] = candidates[1:]
            rsep = self.remote_seps.get(cur['spec'][0])
            if config is None:
                w.timer(self.ms('avdtp_ms'), select, rsep)
            else:
                w.timer(self.ms('avdtp_ms'), set_config, rsep, bytes(config),
                        speaker_checks)

        def select(rsep):
            if not alive():
                return
            ep = cur['ep']

            def on_reply(*values):
                if not alive():
                    return
                cfg = values[0] if values else None
                if isinstance(cfg, (dbus.Array, list)):
                    cfg = bytes(int(x) for x in cfg)
                if not isinstance(cfg, (bytes, bytearray)) or len(values) != 1:
                    self.log('SelectConfiguration reply has a wrong signature')
                    return finish('EIO')
                if ep.in_use() and ep.inuse_by is not self:
                    # a2dp_config -> avdtp_set_configuration: the local SEP
                    # carries (or is configuring) another device's stream
                    self.log('avdtp_set_configuration: Device or resource '
                             'busy (%s is in use)' % ep.path)
                    return finish('EIO')
                ep.inuse_by = self
                w.timer(self.ms('avdtp_ms'), set_config, rsep, bytes(cfg),
                        True)

            def on_fail(kind):
                if not alive():
                    return
                if kind == 'error':
                    # select_cb: the next of the list made at discovery,
                    # not checked again for use (a2dp_config fails then)
                    while rest:
                        nep, nspec = rest.pop(0)
                        if nep.alive:
                            break
                    else:
                        nep = None
                    if nep is not None:
                        self.setup_released(ep)
                        self.log('SelectConfiguration failed on %s: trying '
                                 '%s' % (ep.path, nep.path))
                        return self._select_next(nep, nspec, done, rest)
                    self.log('Unable to select a valid configuration')
                finish('EIO')
            ep.call('SelectConfiguration', 'ay', [ay(cur['spec'][2])],
                    on_reply, on_fail)

        def set_config(rsep, cfg, local_initiator):
            if not alive():
                return
            ep = cur['ep']
            _, codec, caps, _ = cur['spec']
            if local_initiator:
                # The speaker checks our AVDTP SET_CONFIGURATION; a
                # rejection reaches setconf_cfm: our endpoint never hears
                # SetConfiguration, the setup fails with EIO.
                reason = self.refuses(codec, caps, cfg)
                if reason:
                    self.log('speaker rejects SET_CONFIGURATION: %s' % reason)
                    return finish('EIO')
            from .transport import Transport
            volume = None
            if self.opt('AbsoluteVolume', True) and (
                    self.control or self.opt('VolumeAtConfig', False)):
                volume = self.speaker_volume
            t = Transport(self, ep, rsep, cfg, volume=volume)
            self.transport = t
            ep.transports.append(t)
            t.export()
            self.log('SetConfiguration %s on %s %s' % (
                t.path, ep.path, codecs.describe(codec, cfg)))

            def on_reply(*values):
                if not alive() or self.transport is not t:
                    return
                if values:
                    # "Wrong reply signature": the setup fails, the stream
                    # is aborted and its idle state clears the transport.
                    self.stream_cleared(send_clear=True)
                    return finish('EPERM')
                w.timer(self.ms('avdtp_ms'), opened, t)

            def on_fail(kind):
                if self.transport is t and kind == 'error':
                    # endpoint_reply: transport removed, no ClearConfiguration
                    self.stream_cleared(send_clear=False)
                if alive():
                    finish('EPERM')
            ep.call('SetConfiguration', 'oa{sv}',
                    [t.path, t.setup_props()], on_reply, on_fail,
                    transport=t)

        def opened(t):
            if not alive() or self.transport is not t:
                return
            ep = cur['ep']
            if ep.delay_reporting and self.delay_report > 0:
                t.set_delay(self.delay_report)
            self.a2dp = 'connected'
            self.last_used = (ep.seid, t.rsep.seid)   # update_last_used
            self.policy_service_connected('a2dp-sink')
            finish(None)

        if rediscover:
            w.timer(self.ms('avdtp_ms'), discovered)
        else:
            discovered()

    def _select_next(self, ep, rsep_spec, done, rest):
        """select_cb() moving on: SelectConfiguration on the next pair, no
        new discovery."""
        self.a2dp_setup(ep, rsep_spec, done, rest=rest, rediscover=False)
