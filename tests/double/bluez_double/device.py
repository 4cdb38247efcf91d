"""/org/bluez/hciN/dev_XX_..: org.bluez.Device1 (+ org.bluez.MediaControl1
on AVRCP devices) and the remote A2DP SEP objects <device>/sepN
(org.bluez.MediaEndpoint1).

Behaviour follows src/device.c, profiles/audio/{a2dp,sink,media,avrcp}.c of
BlueZ 5.66.  The notable facts this encodes:

Connect / ConnectProfile (device.c connect_profiles):
  * another Connect pending            -> InProgress "br-connection-busy"
  * adapter off                        -> NotReady "br-connection-adapter-not-powered"
  * no profile to connect once services are known this connection
                                       -> NotAvailable "br-connection-profile-unavailable"
    (when the services were not resolved since the last connection, an SDP
     browse runs first: the ACL comes up briefly, then the same error)
  * ConnectProfile(A2DP sink) with no local source endpoint registered
    (a2dp_sink_connect: no source record) -> Failed "br-connection-profile-unavailable"
  * every local source endpoint busy with another device (5.66: one stream
    per local SEP; a2dp_avdtp_get finds no idle SEP) -> Failed "br-connection-create-socket"
  * page timeout (device out of range)  -> Failed "br-connection-page-timeout"
  * SelectConfiguration error/timeout, or the speaker rejecting the
    configuration (sink.c select_complete/stream_setup_complete -EIO)
                                       -> Failed "br-connection-create-socket"
  * SetConfiguration error/timeout (a2dp.c finalize_setup_errno(-EPERM))
                                       -> Failed "br-connection-unknown"
  * connection dropped / Disconnect() while Connect waits
                                       -> Failed "br-connection-canceled"
  * ConnectProfile with a string bt_name2string() cannot parse connects all
    auto-connect profiles, like Connect().
Disconnect: NotConnected "Not Connected" when not connected.
DisconnectProfile: unknown/unparsable UUID -> InvalidArguments.
Pair (device.c pair_device / new_authentication_return):
  InProgress "In Progress", AlreadyExists "Already Exists" when bonded,
  AuthenticationFailed / AuthenticationCanceled / AuthenticationRejected /
  AuthenticationTimeout, ConnectionAttemptFailed "Page Timeout".
CancelPairing: DoesNotExist when no pairing runs.
"""

import dbus
import dbus.service

from . import consts as C
from . import codecs, sbc
from .a2dp_setup import A2dpSetupMixin
from .base import BzObject, as_

ERRNO_REASON = {
    'EHOSTDOWN': C.BR_PAGE_TIMEOUT, 'ENOPROTOOPT': C.BR_PROFILE_UNAVAILABLE,
    'EIO': C.BR_CREATE_SOCKET, 'EOPNOTSUPP': C.BR_NOT_SUPPORTED,
    'ECONNREFUSED': C.BR_REFUSED, 'ECONNRESET': C.BR_ABORT_BY_REMOTE,
    'ECONNABORTED': C.BR_ABORT_BY_LOCAL, 'ETIMEDOUT': C.BR_TIMEOUT,
    'EBUSY': C.BR_BUSY, 'EALREADY': C.BR_ALREADY_CONNECTED,
    'EHOSTUNREACH': C.BR_ADAPTER_NOT_POWERED, 'EINVAL':
    C.BR_INVALID_ARGUMENTS, 'EPERM': C.BR_UNKNOWN, 'ECANCELED': C.BR_CANCELED,
}
REASON_ERRNO = {v: k for k, v in ERRNO_REASON.items()}


def reason_error(errno):
    return C.failed(ERRNO_REASON.get(errno, C.BR_UNKNOWN))


def class_to_icon(cls):
    """src/dbus-common.c class_to_icon() for the classes speakers use."""
    major = (cls & 0x1f00) >> 8
    minor = (cls & 0xfc) >> 2
    if major == 0x04:
        if minor in (0x01, 0x02):
            return 'audio-headset'
        if minor == 0x06:
            return 'audio-headphones'
        if minor in (0x0b, 0x0c, 0x0d):
            return 'camera-video'
        return 'audio-card'
    if major == 0x01:
        return 'computer'
    if major == 0x02:
        return 'phone'
    return None


class Device(A2dpSetupMixin, BzObject):
    def __init__(self, adapter, address, name, opts, initial=False):
        world = adapter.world
        BzObject.__init__(self, world, '%s/dev_%s' % (
            adapter.path, address.replace(':', '_')))
        self.adapter = adapter
        self.address = address
        self.name = name or None
        self.opts = dict(opts)
        o = self.opts
        stored = world.stored(adapter.name, address) or {}
        if not initial:
            stored = {}           # added at run time: the options rule
        if stored.get('Forgotten'):
            # bluetoothd removed it: the bond in the options is gone too
            o = dict(o)
            for k in ('Paired', 'Bonded', 'Trusted', 'Blocked', 'Alias',
                      'Known'):
                o.pop(k, None)
            self.opts = o
            stored = {}
        # an explicit empty list: services not resolved yet (an inquiry
        # result without EIR UUIDs), as BlueZ shows such a device
        uuids = o['UUIDs'] if 'UUIDs' in o else (stored.get('UUIDs') or C.DEFAULT_SPEAKER_UUIDS)
        self.uuids = sorted(set(C.normalize_uuid(u) or u for u in uuids))
        self.cls = int(o.get('Class', stored.get('Class',
                                                 C.DEFAULT_SPEAKER_CLASS)))
        self.icon = o.get('Icon') or class_to_icon(self.cls)
        self.modalias = o.get('Modalias')
        self.le = bool(o.get('Le', False))
        self.bredr = bool(o.get('BrEdr', True))   # False: an LE-only device
        self.paired = bool(stored.get('Paired', o.get('Paired', False)))
        self.bonded = bool(stored.get('Bonded', o.get('Bonded',
                                                      self.paired)))
        self.trusted = bool(stored.get('Trusted', o.get('Trusted', False)))
        self.blocked = bool(stored.get('Blocked', o.get('Blocked', False)))
        self.alias_set = stored.get('Alias', o.get('Alias'))
        self.legacy = bool(o.get('LegacyPairing',
                                 o.get('PairingMethod') in ('pin',
                                                            'display-pin')))
        self.in_range = bool(o.get('InRange', True))
        self.discoverable = bool(o.get('Discoverable', not self.paired))
        self.known = bool(o.get('Known', self.bonded or bool(stored)))
        self.opt_rssi = int(o.get('RSSI', -55))
        self.rssi = None
        self.temporary = not self.known
        self.svc_resolved = self.known     # SDP records known (storage)
        if not initial and (self.bonded or self.trusted or self.blocked):
            world.store_device(self)
        self.svc_refreshed = False         # ServicesResolved
        self.connected = False
        self.link_incoming = False         # the speaker opened the ACL
        self.speaker_volume = int(o.get('Volume', 64))
        self.delay_report = int(o.get('Delay', 0))
        self.read_mtu = int(o.get('ReadMTU', 895))
        self.write_mtu = int(o.get('WriteMTU', 895))
        self.rec_counter = 0

        caps = o.get('SinkCapabilities', sbc.DEFAULT_SINK_CAPS)
        try:
            from_presets = o.get('SinkCodecs') and codecs.sink_endpoints(o['SinkCodecs'])
        except ValueError as e:
            raise C.test_error(str(e), 'InvalidArguments') from None
        seps = o.get('SinkEndpoints') or from_presets or [
            {'SEID': 1, 'Codec': C.SBC_CODEC, 'Capabilities': caps}]
        self.sep_specs = [(int(s.get('SEID', i + 1)), int(s.get('Codec', 0)),
                           bytes(s.get('Capabilities', caps)),
                           s.get('Vendor')) for i, s in enumerate(seps)]
        self.remote_seps = {}

        # connection state
        self.a2dp = 'disconnected'          # connecting / connected
        self.a2dp_ep = None
        # [Endpoints] LastUsed=lseid:rseid in the device's cache file
        # (a2dp.c store_last_used), kept across restarts of either side
        self.last_used = None
        self.transport = None
        self.control = False                # AVRCP connected
        self.ext_connected = set()          # external profile UUIDs
        self.connect_req = None
        self.browsing = False
        self.disconnect_waiters = []
        self.bonding = None
        self.gen = 0                        # bumps on every link drop
        self._setup_done = None
        self._setup_cb = None
        self.idle_timer = None
        self.temp_timer = None

        D = C.DEVICE_IFACE
        self.add_prop(D, 'Address', 's', lambda: dbus.String(self.address))
        self.add_prop(D, 'AddressType', 's', lambda: dbus.String('public'))
        self.add_prop(D, 'Name', 's', lambda: dbus.String(self.name or ''),
                      exists=lambda: bool(self.name))
        self.add_prop(D, 'Alias', 's', lambda: dbus.String(self.alias),
                      self._set_alias)
        self.add_prop(D, 'Class', 'u', lambda: dbus.UInt32(self.cls),
                      exists=lambda: self.cls != 0)
        self.add_prop(D, 'Icon', 's', lambda: dbus.String(self.icon or ''),
                      exists=lambda: bool(self.icon))
        self.add_prop(D, 'Paired', 'b', lambda: dbus.Boolean(self.paired))
        self.add_prop(D, 'Bonded', 'b', lambda: dbus.Boolean(self.bonded))
        self.add_prop(D, 'Trusted', 'b', lambda: dbus.Boolean(self.trusted),
                      self._set_trusted)
        self.add_prop(D, 'Blocked', 'b', lambda: dbus.Boolean(self.blocked),
                      self._set_blocked)
        self.add_prop(D, 'LegacyPairing', 'b',
                      lambda: dbus.Boolean(self.legacy))
        self.add_prop(D, 'RSSI', 'n', lambda: dbus.Int16(self.rssi or 0),
                      exists=lambda: self.rssi is not None)
        self.add_prop(D, 'Connected', 'b',
                      lambda: dbus.Boolean(self.connected))
        self.add_prop(D, 'UUIDs', 'as', lambda: as_(self.uuids))
        self.add_prop(D, 'Modalias', 's',
                      lambda: dbus.String(self.modalias or ''),
                      exists=lambda: bool(self.modalias))
        self.add_prop(D, 'Adapter', 'o',
                      lambda: dbus.ObjectPath(self.adapter.path))
        self.add_prop(D, 'ServicesResolved', 'b',
                      lambda: dbus.Boolean(self.svc_refreshed))
        self.add_prop(C.MEDIA_CONTROL_IFACE, 'Connected', 'b',
                      lambda: dbus.Boolean(self.control))

    # -- helpers --------------------------------------------------------------------
    def opt(self, key, default=None):
        return self.opts.get(key, default)

    def ms(self, key):
        """Per-device timing override (option e.g. PageTimeoutMs)."""
        optkey = ''.join(p.capitalize() for p in key.split('_')[:-1]) + 'Ms'
        return int(self.opts.get(optkey, self.world.cfg[key]))

    @property
    def start_ms(self):
        return self.ms('start_ms')

    @property
    def suspend_ms(self):
        return self.ms('suspend_ms')

    @property
    def avrcp_rtt_ms(self):
        return 10

    @property
    def alias(self):
        if self.alias_set:
            return self.alias_set
        if self.name:
            return self.name
        return self.address.replace(':', '-')

    def has_avrcp(self):
        return C.AVRCP_TARGET_UUID in self.uuids or \
            C.AVRCP_REMOTE_UUID in self.uuids

    def iface_active(self, iface):
        if iface == C.MEDIA_CONTROL_IFACE:
            return self.has_avrcp()
        return True

    def log(self, msg):
        self.world.log('%s: %s' % (self.address, msg))

    def a2dp_connected(self):
        return self.a2dp == 'connected' and self.transport is not None

    # -- object lifetime ---------------------------------------------------------
    def export(self):
        BzObject.export(self)
        if self.temporary:
            self._arm_temporary()

    def remove_object(self):
        if self.connected:
            self.link_dropped(loss=True, quiet=True)
        self.world.cancel_timer(self.temp_timer)
        self.temp_timer = None
        for sep in list(self.remote_seps.values()):
            sep.unexport()
        self.remote_seps.clear()
        self.unexport()
        self.rssi = None
        self.svc_refreshed = False

    def forget_bond(self):
        self.paired = self.bonded = self.trusted = self.blocked = False
        self.alias_set = None
        self.svc_resolved = False
        self.known = False
        self.temporary = True
        self.world.forget_device(self)

    def adapter_removed(self):
        if self.connected:
            self.link_dropped(loss=True, quiet=True)
        self.world.cancel_timer(self.temp_timer)
        for sep in list(self.remote_seps.values()):
            sep.unexport()
        self.remote_seps.clear()
        if self.exported:
            self.world.objects.pop(str(self.path), None)
            try:
                self.remove_from_connection()
            except Exception:
                pass
            self.exported = False
            self.world.emit_signal('/', C.OM_IFACE, 'InterfacesRemoved',
                                   'oas', self.path,
                                   dbus.Array(self.all_interface_names(),
                                              signature='s'))

    def set_temporary(self, value):
        if value == self.temporary:
            return
        self.temporary = value
        if value:
            self._arm_temporary()
        else:
            self.world.cancel_timer(self.temp_timer)
            self.temp_timer = None

    def _arm_temporary(self):
        self.world.cancel_timer(self.temp_timer)
        self.temp_timer = self.world.timer(
            self.world.cfg['temporary_timeout_s'] * 1000, self._disappeared)

    def _disappeared(self):
        self.temp_timer = None
        if self.temporary and not self.connected and self.exported and \
                self.bonding is None:
            self.log('temporary device disappeared')
            self.remove_object()

    def found(self, rssi):
        """An inquiry result."""
        if not self.exported:
            self.temporary = not self.known
            self.rssi = rssi
            self.export()
            return
        if self.temporary and not self.connected:
            self._arm_temporary()
        if self.rssi != rssi:
            self.rssi = rssi
            self.changed(C.DEVICE_IFACE, 'RSSI')

    def store(self):
        if self.bonded or self.trusted or self.blocked:
            self.world.store_device(self)
        else:
            self.world.forget_device(self)

    # -- property setters -------------------------------------------------------
    def _set_alias(self, value, sender):
        v = str(value)
        self.alias_set = v or None
        self.store()
        return lambda: self.changed(C.DEVICE_IFACE, 'Alias')

    def _set_trusted(self, value, sender):
        v = bool(value)
        if v == self.trusted:
            return None
        self.trusted = v
        if v:
            self.set_temporary(False)
        self.store()
        return lambda: self.changed(C.DEVICE_IFACE, 'Trusted')

    def _set_blocked(self, value, sender):
        v = bool(value)
        if v == self.blocked:
            return None
        self.blocked = v
        self.store()

        def after():
            self.changed(C.DEVICE_IFACE, 'Blocked')
            if v and self.connected:
                self.request_disconnect(None)
            if v:
                self.svc_resolved = False     # device_block(): services gone
        return after

    # -- ACL -----------------------------------------------------------------------
    def _page(self, cb):
        """Bring the ACL up; cb(errno or None)."""
        if self.connected:
            return self.world.idle(cb, None)
        gen = self.gen
        if not self.adapter.bredr:
            return self.world.idle(cb, 'EOPNOTSUPP')
        if not self.in_range:
            self.log('paging (not in range)')

            def timeout():
                if gen == self.gen:
                    cb('EHOSTDOWN')
            return self.world.timer(self.ms('page_timeout_ms'), timeout)

        def up():
            if gen != self.gen:
                return
            if not self.in_range:
                return cb('EHOSTDOWN')
            self.acl_up()
            cb(None)
        return self.world.timer(self.ms('connect_ms'), up)

    def acl_up(self):
        if self.connected:
            return
        self.connected = True
        self.world.cancel_timer(self.temp_timer)
        self.temp_timer = None
        self.changed(C.DEVICE_IFACE, 'Connected')

    def _busy(self):
        return (self.a2dp != 'disconnected' or self.control or
                self.ext_connected or self.connect_req is not None or
                self.bonding is not None or self.browsing)

    def arm_idle(self, after_avdtp=False):
        """The kernel drops an ACL nobody uses after 2 s, 4 s when the
        speaker opened the link (hci_conn_drop); after_avdtp: an AVDTP
        session was let go, which bluetoothd closes 1 s later first."""
        self.world.cancel_timer(self.idle_timer)
        gen = self.gen
        delay = self.world.cfg['acl_idle_ms'] * (2 if self.link_incoming else 1)
        if after_avdtp:
            delay += self.ms('avdtp_disconnect_ms')

        def check():
            self.idle_timer = None
            if gen == self.gen and self.connected and not self._busy():
                self.log('idle ACL dropped')
                self.link_dropped(loss=False)
        self.idle_timer = self.world.timer(delay, check)

    def link_dropped(self, loss, quiet=False):
        """Disconnection Complete.  Order as bluetoothd sees it: the media
        channel HUP (transport idle, ClearConfiguration, transport removed),
        the AVDTP/AVRCP sessions, then mgmt Device Disconnected
        (ServicesResolved false, Connected false)."""
        self.gen += 1
        self.world.cancel_timer(self.idle_timer)
        self.idle_timer = None
        req, self.connect_req = self.connect_req, None
        if self.a2dp == 'connecting' and self._setup_cb is not None:
            self._setup_cb('ECANCELED')      # SpeakerConnect & co. hear it
        if self.transport is not None:
            self.stream_cleared(send_clear=True, link_loss=loss)
        if self.a2dp_ep is not None:
            self.setup_released(self.a2dp_ep)
            self.a2dp_ep = None
        self.a2dp = 'disconnected'
        for sep in list(self.remote_seps.values()):
            sep.unexport()
        self.remote_seps.clear()
        if self.control:
            self.control = False
            self.changed(C.MEDIA_CONTROL_IFACE, 'Connected')
        self.ext_connected.clear()
        if req is not None:
            req['err'](C.failed(C.BR_CANCELED))
        if self.bonding is not None:
            self._bonding_done('canceled')
        self.browsing = False
        was = self.connected
        self.connected = False
        self.link_incoming = False
        if self.svc_refreshed:
            self.svc_refreshed = False
            self.changed(C.DEVICE_IFACE, 'ServicesResolved')
        if was and self.paired and not self.bonded:
            # device_remove_connection(): a pairing without a stored key
            # ends with the link
            self.paired = False
            self.changed(C.DEVICE_IFACE, 'Paired')
        if was:
            self.changed(C.DEVICE_IFACE, 'Connected')
        waiters, self.disconnect_waiters = self.disconnect_waiters, []
        for cb in waiters:
            cb()
        if self.temporary and self.exported:
            self._arm_temporary()

    def request_disconnect(self, done):
        """device_request_disconnect(): a pending Connect fails with
        br-connection-canceled, services are disconnected, then the ACL."""
        if done is not None:
            self.disconnect_waiters.append(done)
        if self.connect_req is not None:
            req, self.connect_req = self.connect_req, None
            req['err'](C.failed(C.BR_CANCELED))
        gen = self.gen

        def acl_down():
            if gen == self.gen and self.connected:
                self.link_dropped(loss=False)
        if self.transport is not None:
            self.stream_cleared(send_clear=True)
        self.world.timer(self.ms('avdtp_ms'), acl_down)

    def adapter_powering_down(self):
        if self.connect_req is not None:
            req, self.connect_req = self.connect_req, None
            req['err'](C.failed(C.BR_ABORT_BY_LOCAL))
        if self.bonding is not None:
            self._bonding_done('failed')
        if self.connected:
            self.link_dropped(loss=True)
        self.gen += 1

    # -- A2DP stream ---------------------------------------------------------------
    def stream_cleared(self, send_clear=True, link_loss=False):
        """The stream went idle: transport state idle, ClearConfiguration
        (media.c clear_configuration) and the transport object removed."""
        t = self.transport
        if t is None:
            return
        ep = t.endpoint
        t.teardown(link_loss=link_loss)
        self.transport = None
        if t in ep.transports:
            ep.transports.remove(t)
        if send_clear and ep.alive:
            self.world.send_noreply(ep.sender, ep.path, C.ENDPOINT_IFACE,
                                    'ClearConfiguration', 'o', t.path)
        t.unexport()
        if self.a2dp == 'connected':
            self.a2dp = 'disconnected'
        if self.a2dp_ep is ep:
            self.a2dp_ep = None
        if self.connected and not link_loss:
            self.arm_idle(after_avdtp=True)

    # -- after a successful connection -------------------------------------------
    def _post_connect(self):
        gen = self.gen
        w = self.world
        if not self.svc_refreshed:
            def resolved():
                if gen == self.gen and self.connected and \
                        not self.svc_refreshed:
                    self.svc_resolved = True
                    self.svc_refreshed = True
                    self.changed(C.DEVICE_IFACE, 'ServicesResolved')
            w.timer(self.ms('sdp_ms'), resolved)
        if self.has_avrcp() and not self.control and \
                self.opt('Avrcp', True):
            def avrcp_up():
                if gen != self.gen or not self.connected or self.control:
                    return
                self.control = True
                self.changed(C.MEDIA_CONTROL_IFACE, 'Connected')
                if self.opt('AbsoluteVolume', True) and \
                        self.transport is not None and \
                        self.transport.volume is None:
                    self.transport.speaker_volume_changed(
                        self.speaker_volume)
            w.timer(self.ms('avrcp_ms'), avrcp_up)

    # -- services ----------------------------------------------------------------
    def _services(self):
        """Connectable services (btd_service) the device has, in priority
        order, as (name, remote uuid, auto_connect)."""
        out = []
        for u in self.world.external_profiles:
            if u is not None and self._ext_match(u):
                out.append(('ext:' + u, self._ext_match(u), True))
        if C.A2DP_SINK_UUID in self.uuids:
            out.append(('a2dp-sink', C.A2DP_SINK_UUID, True))
        if C.AVRCP_TARGET_UUID in self.uuids:
            out.append(('avrcp-target', C.AVRCP_TARGET_UUID, False))
        if C.AVRCP_REMOTE_UUID in self.uuids:
            out.append(('avrcp-remote', C.AVRCP_REMOTE_UUID, False))
        return out

    def _ext_match(self, local_uuid):
        """An external profile registered for local_uuid connects the
        matching remote role (HFP AG <-> HF, HSP AG <-> HS)."""
        peer = {C.HFP_AG_UUID: C.HFP_HF_UUID, C.HSP_AG_UUID: C.HSP_HS_UUID,
                C.HFP_HF_UUID: C.HFP_AG_UUID, C.HSP_HS_UUID: C.HSP_AG_UUID}
        remote = peer.get(local_uuid, local_uuid)
        return remote if remote in self.uuids else None

    def _service_connected(self, name):
        if name == 'a2dp-sink':
            return self.a2dp == 'connected'
        if name.startswith('avrcp'):
            return self.control
        if name.startswith('ext:'):
            return name in self.ext_connected
        return False

    def _pending_list(self, uuid):
        svcs = [] if self.blocked else self._services()
        if uuid is not None:
            return [s for s in svcs if s[1] == uuid][:1]
        return [s for s in svcs if s[2] and not self._service_connected(s[0])]

    def connect_profiles(self, method, uuid, ok, err):
        if self.connect_req is not None or self.browsing:
            return err(C.in_progress(C.BR_BUSY))
        if not self.adapter.powered:
            return err(C.not_ready(C.BR_ADAPTER_NOT_POWERED))
        self.set_temporary(False)
        if not self.svc_resolved:
            return self._browse(method, uuid, ok, err)
        pending = self._pending_list(uuid)
        if not pending:
            if self.svc_refreshed:
                if method == 'Connect' and any(
                        self._service_connected(s[0])
                        for s in self._services()):
                    return ok()
                return err(C.not_available(C.BR_PROFILE_UNAVAILABLE))
            return self._browse(method, uuid, ok, err)
        self.connect_req = {'method': method, 'ok': ok, 'err': err,
                            'pending': list(pending), 'last': None,
                            'any': False}
        self._connect_next()

    def _browse(self, method, uuid, ok, err):
        """device_browse_sdp(): needs the ACL; then retry the connect."""
        self.browsing = True
        gen = self.gen

        def paged(errno):
            if gen != self.gen:
                return
            if errno is not None:
                self.browsing = False
                return err(reason_error(errno))

            def done():
                if not self.browsing:
                    return
                self.browsing = False
                self.svc_resolved = True
                if not self.svc_refreshed:
                    self.svc_refreshed = True
                    self.changed(C.DEVICE_IFACE, 'ServicesResolved')
                self.connect_profiles(method, uuid, ok, err)
                if self.connect_req is None:
                    self.arm_idle()
            self.world.timer(self.ms('sdp_ms'), done)
        self._page(paged)

    def _connect_next(self):
        req = self.connect_req
        while req['pending']:
            svc = req['pending'][0]
            errno = self._service_connect(svc, self._service_done)
            if errno is None:
                return          # started, _service_done continues
            req['pending'].pop(0)
            req['last'] = errno
            if errno == 'EALREADY':
                req['any'] = True
        self._connect_finished()

    def _service_done(self, svc, errno):
        req = self.connect_req
        if req is None:
            return
        if errno is None:
            req['any'] = True
            self.set_temporary(False)
        else:
            req['last'] = errno
        if req['pending'] and req['pending'][0] is svc:
            req['pending'].pop(0)
        if errno in ('EHOSTDOWN', 'EHOSTUNREACH', 'ECONNABORTED') and \
                not self.connected:
            req['pending'] = []
        if req['pending']:
            return self._connect_next()
        self._connect_finished()

    def _connect_finished(self):
        req, self.connect_req = self.connect_req, None
        if req is None:
            return
        if req['any'] or req['last'] in (None, 'EALREADY'):
            req['ok']()
            if self.connected:
                self._post_connect()
        else:
            req['err'](reason_error(req['last']))
            if self.connected:
                self.arm_idle(after_avdtp=True)

    def _service_connect(self, svc, done):
        """btd_service_connect(): None when started (done(svc, errno) comes
        later), else the errno of the synchronous failure."""
        name = svc[0]
        if self._service_connected(name):
            return 'EALREADY'
        gen = self.gen
        if name == 'a2dp-sink':
            return self.a2dp_connect(svc, done)
        if name.startswith('avrcp'):
            def paged(errno):
                if gen != self.gen:
                    return
                if errno is None:
                    errno = self._connect_error()
                if errno is None:
                    self.control = True
                    self.changed(C.MEDIA_CONTROL_IFACE, 'Connected')
                done(svc, errno)
            self._page(paged)
            return None
        if name.startswith('ext:'):
            def paged(errno):
                if gen != self.gen:
                    return
                if errno is None:
                    errno = self._connect_error()
                if errno is None:
                    self.ext_connected.add(name)
                done(svc, errno)
            self._page(paged)
            return None
        return 'ENOPROTOOPT'

    def _link_security(self, done):
        """AVDTP's L2CAP channel asks for security level medium (avdtp.c
        BT_IO_SEC_MEDIUM): on a device without a key the kernel
        authenticates first, with general bonding and no Pair() behind it.
        Just Works needs no agent; a PIN goes to the default agent (after
        the autopair plugin's 0000 for audio devices); the result is
        Paired (Bonded only while the adapter is bondable) and not
        Trusted.  done(errno or None)."""
        if self.paired:
            return done(None)
        w = self.world
        method = self.opt('PairingMethod', 'just-works')
        pin = str(self.opt('PinCode', '0000'))
        gen = self.gen

        def bonded():
            if gen != self.gen:
                return
            self.paired = True
            if self.adapter.pairable and not self.bonded:
                self.bonded = True
                self.changed(C.DEVICE_IFACE, 'Bonded')
            self.store()
            self.changed(C.DEVICE_IFACE, 'Paired')
            self.log('implicit bonding on connect (not trusted)')
            done(None)

        def refused(why):
            if gen != self.gen:
                return
            self.log('implicit authentication failed: %s' % why)
            done('ECONNREFUSED')      # l2cap: security block

        if method in ('just-works', None, '') or \
                (method == 'pin' and pin == '0000' and (self.cls >> 8) & 0x1f == 4):
            return w.timer(self.ms('pair_ms'), bonded)
        if method in ('fail', 'reject', 'timeout', 'cancel'):
            return w.timer(self.ms('pair_ms'), refused, method)
        agent = w.agent_get(None)
        if agent is None:
            return w.timer(self.ms('pair_ms'), refused, 'no agent')
        dpath = dbus.ObjectPath(self.path)
        if method == 'pin':
            def got_pin(kind, values):
                if kind is None and len(values) == 1 and str(values[0]) == pin:
                    bonded()
                else:
                    refused('PIN %s' % (kind or 'wrong'))
            return w.agent_request(agent, 'RequestPinCode', 'o', [dpath], got_pin)

        def confirmed(kind, values):
            if kind is None:
                bonded()
            else:
                refused('agent said %s' % kind)
        w.agent_request(agent, 'RequestConfirmation', 'ou',
                        [dpath, dbus.UInt32(int(self.opt('Passkey', 123456)))],
                        confirmed)

    def _connect_error(self):
        e = self.opt('ConnectError')
        if not e:
            return None
        return REASON_ERRNO.get(e, e if str(e).startswith('E') else 'EPERM')

    # -- Device1 -----------------------------------------------------------------
    @dbus.service.method(C.DEVICE_IFACE, in_signature='', out_signature='',
                         async_callbacks=('ok', 'err'))
    def Connect(self, ok=None, err=None):
        self.log('Connect')
        self.connect_profiles('Connect', None, ok, err)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='s', out_signature='',
                         async_callbacks=('ok', 'err'))
    def ConnectProfile(self, uuid, ok=None, err=None):
        self.log('ConnectProfile %s' % uuid)
        self.connect_profiles('ConnectProfile', C.normalize_uuid(str(uuid)),
                              ok, err)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='', out_signature='',
                         async_callbacks=('ok', 'err'))
    def Disconnect(self, ok=None, err=None):
        self.log('Disconnect')
        if not self.connected:
            return err(C.not_connected())
        self.request_disconnect(ok)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='s', out_signature='',
                         async_callbacks=('ok', 'err'))
    def DisconnectProfile(self, uuid, ok=None, err=None):
        u = C.normalize_uuid(str(uuid))
        if u is None:
            return err(C.invalid_args())
        svc = [s for s in self._services() if s[1] == u]
        if not svc:
            return err(C.invalid_args())
        name = svc[0][0]
        if not self._service_connected(name):
            return ok()
        gen = self.gen

        def done():
            if gen != self.gen:
                return ok()
            if name == 'a2dp-sink':
                self.stream_cleared(send_clear=True)
            elif name.startswith('avrcp'):
                self.control = False
                self.changed(C.MEDIA_CONTROL_IFACE, 'Connected')
            else:
                self.ext_connected.discard(name)
            ok()
            self.arm_idle(after_avdtp=name == 'a2dp-sink')
        self.world.timer(self.ms('avdtp_ms'), done)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='', out_signature='',
                         sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def Pair(self, sender=None, ok=None, err=None):
        self.log('Pair from %s (adapter bondable: %s)' % (sender, self.adapter.pairable))
        if self.bonding is not None:
            return err(C.in_progress())
        if self.bonded:
            return err(C.already_exists())
        self.set_temporary(False)
        agent = self.world.agent_get(sender)
        b = {'sender': sender, 'ok': ok, 'err': err, 'agent': agent,
             'req': None}
        b['watch'] = self.world.watch_name(sender,
                                           lambda: self._bonding_requestor_gone(b))
        self.bonding = b
        if not self.adapter.powered:
            return self.world.idle(self._bonding_done, 'failed')
        gen = self.gen

        def paged(errno):
            if self.bonding is not b or gen != self.gen:
                return
            if errno == 'EHOSTDOWN':
                return self._bonding_done('page-timeout')
            if errno is not None:
                return self._bonding_done('failed')
            self.world.timer(self.ms('pair_ms'), self._pair_method, b)
        self._page(paged)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='', out_signature='')
    def CancelPairing(self):
        if self.bonding is None:
            raise C.does_not_exist()
        self._bonding_done('canceled')

    # -- pairing -------------------------------------------------------------------
    def _bonding_requestor_gone(self, b):
        if self.bonding is b:
            b['watch'] = None
            self._bonding_done('canceled', reply=False)
            if self.connected:
                self.request_disconnect(None)

    def _bonding_done(self, kind, reply=True):
        b, self.bonding = self.bonding, None
        if b is None:
            return
        self.world.unwatch(b.get('watch'))
        agent = b.get('agent')
        if agent is not None and b.get('req') is not None:
            self.world.agent_cancel(agent, b['req'], send=True)
        if kind is None:
            self.paired = True
            # the kernel forces a no-bonding authentication when the
            # adapter is not bondable (hci_io_capa_request_evt), even for
            # the initiator: the key is not stored (store_hint 0), the
            # device is Paired but not Bonded, and unpaired at disconnect
            first_bond = not self.bonded and self.adapter.pairable
            if first_bond:
                self.bonded = True
            self.set_temporary(False)
            if first_bond:
                self.changed(C.DEVICE_IFACE, 'Bonded')
            self.store()

            def finish():
                if not self.svc_refreshed and self.connected:
                    self.svc_resolved = True
                    self.svc_refreshed = True
                    self.changed(C.DEVICE_IFACE, 'ServicesResolved')
                self.changed(C.DEVICE_IFACE, 'Paired')
                if reply:
                    b['ok']()
                if self.connected:
                    self.arm_idle()
            if not self.svc_resolved:
                self.world.timer(self.ms('sdp_ms'), finish)
            else:
                finish()
            return
        self.log('pairing failed: %s' % kind)
        if reply:
            b['err'](C.auth_error(kind))
        if self.connected:
            if kind == 'canceled':
                self.request_disconnect(None)
            else:
                self.arm_idle()

    def _bond_if(self, b, kind):
        if self.bonding is b:
            self._bonding_done(kind)

    def _pair_method(self, b):
        if self.bonding is not b:
            return
        method = self.opt('PairingMethod', 'just-works')
        passkey = int(self.opt('Passkey', 123456))
        pin = str(self.opt('PinCode', '0000'))
        agent = b['agent']
        w = self.world
        dpath = dbus.ObjectPath(self.path)
        usable = agent is not None and agent.capability != 'NoInputNoOutput'

        def answer(check):
            def cb(kind, values):
                if self.bonding is not b:
                    return
                b['req'] = None
                if kind is not None:
                    return self._bonding_done(
                        'canceled' if kind == 'canceled' else 'failed')
                if check is not None and not check(values):
                    return self._bonding_done('failed')
                w.timer(self.ms('pair_ms'), self._bond_if, b, None)
            return cb

        if method in ('just-works', None, ''):
            return self._bonding_done(None)
        if method == 'fail':
            return self._bonding_done('failed')
        if method == 'reject':
            return self._bonding_done('rejected')
        if method == 'timeout':
            return w.timer(self.ms('pair_ms') * 3, self._bond_if, b,
                           'timeout')
        if method == 'cancel':
            self._bonding_done('canceled')
            if self.connected:
                self.link_dropped(loss=True)
            return
        if method == 'pin' and pin == '0000' and (self.cls >> 8) & 0x1f == 4:
            return self._bonding_done(None)   # autopair plugin tries 0000
        if not usable:
            return self._bonding_done('failed')
        if method == 'confirm':
            b['req'] = w.agent_request(agent, 'RequestConfirmation', 'ou',
                                       [dpath, dbus.UInt32(passkey)],
                                       answer(None))
        elif method == 'authorize':
            b['req'] = w.agent_request(agent, 'RequestAuthorization', 'o',
                                       [dpath], answer(None))
        elif method == 'passkey':
            b['req'] = w.agent_request(
                agent, 'RequestPasskey', 'o', [dpath],
                answer(lambda v: len(v) == 1 and int(v[0]) == passkey))
        elif method == 'pin':
            b['req'] = w.agent_request(
                agent, 'RequestPinCode', 'o', [dpath],
                answer(lambda v: len(v) == 1 and str(v[0]) == pin))
        elif method == 'display-passkey':
            w.send_noreply(agent.owner, agent.path, C.AGENT_IFACE,
                           'DisplayPasskey', 'ouq', dpath,
                           dbus.UInt32(passkey), dbus.UInt16(0))
            w.timer(self.ms('pair_ms'), self._bond_if, b, None)
        elif method == 'display-pin':
            b['req'] = w.agent_request(agent, 'DisplayPinCode', 'os',
                                       [dpath, pin], answer(None))
        else:
            self._bonding_done('failed')

    # -- MediaControl1 ---------------------------------------------------------
    def _control(self, what):
        if not self.control:
            raise C.not_connected()
        self.log('AVRCP %s' % what)

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Play(self):
        self._control('Play')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Pause(self):
        self._control('Pause')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Stop(self):
        self._control('Stop')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Next(self):
        self._control('Next')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Previous(self):
        self._control('Previous')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def VolumeUp(self):
        self._control('VolumeUp')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def VolumeDown(self):
        self._control('VolumeDown')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def FastForward(self):
        self._control('FastForward')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Rewind(self):
        self._control('Rewind')

    # -- speaker-side actions (control API) ---------------------------------
    def speaker_connect(self, ok, err):
        """The speaker connects on its own (reconnect at power-on)."""
        if not self.adapter.powered:
            return err(C.test_error('adapter is powered off'))
        if not self.in_range:
            return err(C.test_error('speaker is out of range'))
        if not self.paired:
            return err(C.test_error('speaker is not paired', 'NotPaired'))
        if self.a2dp_connected():
            return ok(dbus.ObjectPath(self.transport.path))
        if self.a2dp == 'connecting' or self.connect_req is not None:
            return err(C.test_error('a connection is in progress', 'Busy'))
        if self.blocked:
            return err(C.test_error('device is blocked', 'Rejected'))
        if not self.exported:
            self.export()
        gen = self.gen
        w = self.world

        def after_auth(kind):
            if gen != self.gen:
                return err(C.test_error('link dropped', 'Failed'))
            if kind is not None:
                self.log('incoming A2DP not authorized (%s)' % kind)
                self.arm_idle()
                return err(C.test_error('authorization %s' % kind,
                                        'Rejected'))
            candidates = self.a2dp_candidates()
            if not candidates:
                self.arm_idle()
                return err(C.test_error('no idle local source endpoint',
                                        'NoEndpoint'))
            ep, rsep = candidates[0]
            config = None
            if self.opt('SpeakerConnectMode', 'local-config') == \
                    'remote-config':
                if self.opt('RemoteCodec'):
                    ep, rsep = self.remote_codec_pair(self.opt('RemoteCodec'))
                    if ep is None:
                        self.arm_idle()
                        return err(C.test_error('no idle local endpoint for %s' %
                                                self.opt('RemoteCodec'), 'NoEndpoint'))
                else:
                    # the speaker sets up the stream itself, on the first of
                    # our endpoints of its codec (RemoteEndpoint: the n-th)
                    ep, rsep = candidates[int(self.opt('RemoteEndpoint', 0))
                                          % len(candidates)]
                candidates = []
                config = self.opt('RemoteConfiguration') or \
                    codecs.choose_config(rsep[1], rsep[2], ep.caps)
                if config is None:
                    self.arm_idle()
                    return err(C.test_error('no common configuration', 'NoEndpoint'))

            def done(errno):
                if errno is not None:
                    self.arm_idle(after_avdtp=True)
                    return err(C.test_error('stream setup failed: %s' %
                                            ERRNO_REASON.get(errno, errno)))
                self.set_temporary(False)
                ok(dbus.ObjectPath(self.transport.path))
                self._post_connect()
            if config is not None:
                return self.a2dp_setup(ep, rsep, done, config=config,
                                       rest=candidates[1:])

            # the speaker opened the signalling channel and configures
            # nothing: bluetoothd sets the stream up itself when the
            # session's disconnect timer fires (avdtp.c, 1 s)
            def setup():
                if gen != self.gen:
                    return err(C.test_error('link dropped', 'Failed'))
                if self.a2dp_connected():
                    return ok(dbus.ObjectPath(self.transport.path))
                if self.a2dp == 'connecting':
                    return err(C.test_error('a connection is in progress', 'Busy'))
                ready = self.a2dp_candidates()
                if not ready:
                    self.arm_idle(after_avdtp=True)
                    return err(C.test_error('no idle local source endpoint',
                                            'NoEndpoint'))
                self.a2dp_setup(ready[0][0], ready[0][1], done, rest=ready[1:])
            w.timer(self.ms('avdtp_setup_wait_ms'), setup)

        def connected():
            if gen != self.gen:
                return
            if not self.connected:
                self.link_incoming = True
            self.acl_up()
            if self.trusted:
                return after_auth(None)
            agent = w.agent_get(None)
            if agent is None:
                return after_auth('rejected (no agent)')

            def cb(kind, values):
                after_auth(None if kind is None else kind)
            w.agent_request(agent, 'AuthorizeService', 'os',
                            [dbus.ObjectPath(self.path),
                             C.ADVANCED_AUDIO_UUID], cb)
        if self.connected:
            connected()
        else:
            w.timer(self.ms('connect_ms'), connected)

    def remote_pair(self, ok, err):
        """This device pages the adapter and asks to bond (general bonding),
        as a phone or a stranger's laptop does. The kernel answers: without
        HCI_BONDABLE (Pairable false) it refuses (IO Capability Negative
        Reply, Pairing Not Allowed); with it, Just Works where neither side
        wants MITM is accepted by the kernel without asking any agent
        (hci_user_confirm_request_evt auto-accept); numeric comparison asks
        the default agent (RequestConfirmation), and is rejected when there
        is none."""
        w = self.world
        if not self.adapter.powered or not self.in_range:
            return err(C.test_error('adapter off or device out of range'))
        if self.bonded:
            return ok()
        if not self.exported:
            self.export()          # bluetoothd makes an object for the ACL
        self.acl_up()

        def bonded():
            self.paired = self.bonded = True
            self.set_temporary(False)
            self.changed(C.DEVICE_IFACE, 'Bonded')
            self.store()
            self.changed(C.DEVICE_IFACE, 'Paired')
            self.log('incoming pairing: bonded (new key, store_hint 1)')
            self.arm_idle()
            ok()

        def refused(why):
            self.log('incoming pairing refused: %s' % why)
            self.arm_idle()
            err(C.test_error('pairing refused: %s' % why, 'Rejected'))

        if not self.adapter.pairable:
            return w.timer(self.ms('pair_ms'), refused, 'pairing not allowed')
        method = self.opt('PairingMethod', 'just-works')
        if method in ('just-works', None, ''):
            return w.timer(self.ms('pair_ms'), bonded)
        agent = w.agent_get(None)
        if agent is None:
            return w.timer(self.ms('pair_ms'), refused, 'no agent')

        def answered(kind, values):
            if kind is None:
                bonded()
            else:
                refused('agent said %s' % kind)
        w.agent_request(agent, 'RequestConfirmation', 'ou',
                        [dbus.ObjectPath(self.path),
                         dbus.UInt32(int(self.opt('Passkey', 123456)))],
                        answered)

    def speaker_start(self):
        if self.transport is None:
            raise C.test_error('no transport', 'NotConnected')
        self.transport.remote_start()

    def speaker_suspend(self):
        if self.transport is None:
            raise C.test_error('no transport', 'NotConnected')
        self.transport.remote_suspend()

    def speaker_stall(self, ms):
        t = self.transport
        if t is None or t.recorder is None:
            raise C.test_error('no acquired transport', 'NotConnected')
        t.recorder.stall(ms)

    def speaker_link(self, kbps):
        """The link carries at most kbps kbit/s from now on (0: no
        limit); later streams keep it (the LinkKbps option)."""
        self.opts['LinkKbps'] = int(kbps)
        t = self.transport
        if t is not None and t.recorder is not None:
            t.recorder.set_link(kbps)

    def speaker_close_socket(self):
        """The speaker closes the media channel: the daemon's fd gets
        EPIPE/ECONNRESET and bluetoothd, seeing the channel HUP
        (avdtp.c transport_cb), takes the stream to idle: transport state
        idle, ClearConfiguration, transport removed.  ACL and AVRCP stay."""
        t = self.transport
        if t is None:
            raise C.test_error('no transport', 'NotConnected')
        t.stop_recorder(drain=False)
        self.world.timer(self.ms('avdtp_ms'),
                         lambda: self.transport is t and
                         self.stream_cleared(send_clear=True))

    def speaker_disconnect(self):
        if not self.connected:
            raise C.test_error('not connected', 'NotConnected')
        self.request_disconnect(None)

    def link_loss(self):
        if not self.connected:
            raise C.test_error('not connected', 'NotConnected')
        self.link_dropped(loss=True)

    def set_in_range(self, value):
        self.in_range = bool(value)
        if not self.in_range and self.connected:
            self.link_dropped(loss=True)
        if self.in_range and self.adapter.discovering:
            self.adapter.report_found(self)

    def speaker_set_volume(self, v):
        self.speaker_volume = int(v)
        t = self.transport
        if t is not None and self.control and self.opt('AbsoluteVolume',
                                                       True):
            t.speaker_volume_changed(int(v))

    def speaker_set_delay(self, d):
        self.delay_report = int(d)
        t = self.transport
        if t is not None and t.endpoint.delay_reporting:
            t.set_delay(int(d))
