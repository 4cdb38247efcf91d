"""/org/bluez/hciN/dev_XX_..: org.bluez.Device1 (+ org.bluez.MediaControl1
on AVRCP devices).

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

Mixed in: pairing and bonding (pairing.py), MediaControl1 (media_control.py),
what the speaker does on its own (speaker.py), the A2DP stream setup
(a2dp_setup.py).
"""

import dbus
import dbus.service

from . import consts as C
from . import codecs, sbc
from .a2dp_setup import A2dpSetupMixin
from .base import BzObject, as_
from .consts import REASON_ERRNO, reason_error
from .media_control import MediaControlMixin
from .pairing import PairingMixin
from .policy import PolicyReconnectMixin
from .speaker import SpeakerMixin


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


class Device(A2dpSetupMixin, PairingMixin, MediaControlMixin, SpeakerMixin,
             PolicyReconnectMixin, BzObject):
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
        # SDP records known (storage); ServicesKnown false: a device seen
        # in a scan, whose records the pairing's search reads
        self.svc_resolved = bool(o.get('ServicesKnown', self.known))
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
        self.policy_init()

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
        # how long the speaker takes to answer SetAbsoluteVolume (device
        # option AvrcpRttMs; real speakers take some 20 to 300 ms)
        return int(self.opts.get('AvrcpRttMs', 10))

    @property
    def volume_step(self):
        # the speaker's volume steps on AVRCP's 0-127 (device option
        # VolumeStep; 1: every value, 8: a speaker with 16 steps)
        return max(1, int(self.opts.get('VolumeStep', 1)))

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
        """device_remove(): with no link, a service search under way is
        cancelled (its Connect never answered: browse_request_cancel), and
        the services are removed: a connect under way ends as
        service_remove() puts it DISCONNECTED with -ECONNABORTED, which
        device_profile_connected() answers br-connection-aborted-by-local
        (not connected, ECONNABORTED: done), and the page stops with the
        AVDTP session being made."""
        if self.connected:
            self.link_dropped(loss=True, quiet=True)
        else:
            self.browsing = False
            req, self.connect_req = self.connect_req, None
            if req is not None:
                req['err'](C.failed(C.BR_ABORT_BY_LOCAL))
            self.gen += 1
        self.world.cancel_timer(self.temp_timer)
        self.temp_timer = None
        self.policy_device_removed()
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
        self.policy_device_removed()
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
                # device_block() removes every service (none is offered
                # while blocked: _pending_list), and with them policy.c's
                # reconnect tracking (service_cb UNAVAILABLE ->
                # reconnect_remove: its timer goes).  svc_resolved stays
                # as it was: device_unblock() probes the services again
                # from the UUIDs.  A connect of its own in flight (no
                # link yet) is not modelled: bluetoothd removes the
                # services under it
                self.policy_device_removed()
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
                    self.policy_conn_failed()
            return self.world.timer(self.ms('page_timeout_ms'), timeout)

        def up():
            if gen != self.gen:
                return
            if not self.in_range:
                cb('EHOSTDOWN')
                return self.policy_conn_failed()
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
        """Disconnection Complete.  A link we or the speaker take down in
        order (loss False) loses its services first: the media channel HUP
        (transport idle, ClearConfiguration, transport removed), the
        AVDTP/AVRCP sessions, then mgmt Device Disconnected
        (ServicesResolved false, Connected false).  A link lost (loss True:
        supervision timeout, the speaker switched off) goes the other way
        round: the kernel's hci_disconn_complete_evt queues mgmt Device
        Disconnected before hci_disconn_cfm closes the L2CAP channels, so
        bluetoothd reads the mgmt socket (its first watch) first:
        device_remove_connection queues Connected false, and the
        ClearConfiguration that follows goes out through
        g_dbus_send_message, whose g_dbus_flush sends it before."""
        self.gen += 1
        self.world.cancel_timer(self.idle_timer)
        self.idle_timer = None
        if loss:
            self._acl_gone()
            self.world.flush_changes()
            self._services_gone(loss)
        else:
            self._services_gone(loss)
            self._acl_gone()
        waiters, self.disconnect_waiters = self.disconnect_waiters, []
        for cb in waiters:
            cb()
        if self.temporary and self.exported:
            self._arm_temporary()

    def _services_gone(self, loss):
        """The AVDTP and AVCTP channels closed (their HUP)."""
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
        if self.bonding is not None:
            self._bonding_done('canceled')
        self.browsing = False

    def _acl_gone(self):
        """mgmt Device Disconnected: device_remove_connection()."""
        req, self.connect_req = self.connect_req, None
        if req is not None:
            req['err'](C.failed(C.BR_CANCELED))
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

    def request_disconnect(self, done):
        """device_request_disconnect(): a bonding is cancelled, a service
        search dropped (the Connect waiting on it is never answered:
        browse_request_cancel frees its message), a pending Connect fails
        with br-connection-canceled, services are disconnected, then the
        ACL. With no link, the services' connects are cancelled (and with
        them the page: sink_disconnect drops the AVDTP session being made)
        and the caller is answered at once."""
        if self.bonding is not None:
            self._bonding_done('canceled')
        if self.browsing:
            self.log('service search cancelled; its Connect is left unanswered')
            self.browsing = False
        if self.connect_req is not None:
            req, self.connect_req = self.connect_req, None
            req['err'](C.failed(C.BR_CANCELED))
        if not self.connected:
            self.gen += 1       # what was paging stops
            if done is not None:
                done()
            return
        if done is not None:
            self.disconnect_waiters.append(done)
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
        if self.pol_active:
            # its page fails "not powered", or its timer finds the
            # adapter off (-ENETDOWN): reset either way
            self.policy_reset()

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
            self.log('%s: InProgress %s%s' % (
                method, C.BR_BUSY, '' if self.connect_req is None or
                self.connect_req['method'] else ' (bluetoothd reconnecting)'))
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
        # this search, not the next one: a search cancelled (Disconnect,
        # the link lost) must not finish as a later one
        token = self.browsing = object()
        gen = self.gen

        def paged(errno):
            if gen != self.gen:
                return
            if errno is not None:
                self.browsing = False
                return err(reason_error(errno))

            def done():
                if self.browsing is not token:
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
                    self.policy_service_connected(name)
                done(svc, errno)
            self._page(paged)
            return None
        return 'ENOPROTOOPT'

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
