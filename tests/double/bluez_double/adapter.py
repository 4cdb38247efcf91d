"""/org/bluez/hciN: org.bluez.Adapter1, org.bluez.Media1 (+ the GATT and LE
advertising manager interfaces as empty stubs, as 5.66 exports them).

Sources: src/adapter.c (properties, discovery, RemoveDevice),
profiles/audio/media.c (RegisterEndpoint/RegisterApplication and friends;
RegisterPlayer in player.py).

LE-only controllers (adapter option "BrEdr": false)
---------------------------------------------------
What bluetoothd 5.66 shows for a controller without BR/EDR, as read from the
5.6x sources:
  * src/adapter.c: the Adapter1 property table has no per-transport entries,
    so the same properties exist.  "Class" reads 0: the kernel reports no
    Class of Device and adapter.c does not set major/minor/service classes on
    a controller without BR/EDR.  "AddressType" is "random" when the
    controller only has a static random address (property_get_address_type:
    LE enabled and bdaddr_type == BDADDR_LE_RANDOM), otherwise "public".
    "Roles" depends only on LE support (property_get_roles), so it is
    ["central", "peripheral"] as on a dual-mode controller.
  * Discovery only scans LE (get_scan_type() adds SCAN_TYPE_BREDR only when
    the BR/EDR setting is on): BR/EDR-only devices (our speakers) are never
    found; SetDiscoveryFilter with Transport "bredr" is accepted but finds
    nothing.
  * profiles/audio/media.c in 5.66 still registers org.bluez.Media1 and lets
    A2DP endpoints register: the check that refuses A2DP endpoints on
    adapters without MGMT_SETTING_BREDR (a2dp_endpoint_supported) only
    arrived in 2023, after 5.66.  UUIDs therefore still gains 0000110a when a
    source endpoint registers (the SDP record is added regardless).
  * Connecting a BR/EDR device through it fails in the kernel with
    EOPNOTSUPP (hci_connect_acl refuses without BR/EDR), which device.c turns
    into org.bluez.Error.Failed "br-connection-not-supported"; Pair fails
    with AuthenticationFailed (mgmt NOT_SUPPORTED is not one of the statuses
    new_authentication_return() maps).
  * The LEAdvertisingManager1 / GattManager1 interfaces are present.
"""

import dbus
import dbus.service

from . import consts as C
from .base import BzObject, as_
from .player import PlayerMixin
from .world import plain


class Endpoint:
    """A registered org.bluez.MediaEndpoint1 (media.c struct media_endpoint).
    In 5.66 one local endpoint (SEP) carries at most one stream: it is in
    use (avdtp.c lsep->info.inuse) from the SET_CONFIGURATION sent or
    accepted until the stream is freed, and a2dp.c skips it then when
    choosing for another device (a2dp_find_eps -> avdtp_find_remote_sep).
    A SelectConfiguration alone does not hold it."""

    def __init__(self, adapter, sender, path, uuid, codec, caps, vendor,
                 delay_reporting, app=None):
        self.adapter = adapter
        self.sender = str(sender)
        self.path = str(path)
        self.uuid = str(uuid)
        self.codec = int(codec)
        self.caps = bytes(caps)
        self.vendor = vendor
        self.delay_reporting = bool(delay_reporting)
        self.app = app
        self.transports = []
        self.requests = []
        self.setups = set()            # devices whose setup uses it
        self.inuse_by = None           # SET_CONFIGURATION sent, no transport yet
        self.watch = None
        self.alive = True

    @property
    def world(self):
        return self.adapter.world

    def in_use(self):
        return bool(self.transports) or self.inuse_by is not None

    def is_source(self):
        return self.uuid.lower() == C.A2DP_SOURCE_UUID

    def is_sink(self):
        return self.uuid.lower() == C.A2DP_SINK_UUID

    def call(self, method, sig, args, on_reply, on_fail, transport=None):
        """media_endpoint_async_call(): on_fail(kind) with kind 'error',
        'noreply', 'canceled' or 'signature'."""
        req = {'method': method, 'done': False, 'on_fail': on_fail,
               'transport': transport}
        self.requests.append(req)
        w = self.world

        def finish():
            req['done'] = True
            if req in self.requests:
                self.requests.remove(req)

        def reply(*values):
            if req['done']:
                return
            finish()
            w.log('endpoint %s %s replied %r' % (self.path, method, values))
            on_reply(*values)

        def error(e):
            if req['done']:
                return
            name = e.get_dbus_name()
            w.log('endpoint %s %s error %s: %s' % (self.path, method, name,
                                                   e.get_dbus_message()))
            if name == 'org.freedesktop.DBus.Error.NoReply':
                # media.c: clear the endpoint on NO_REPLY; that cancels every
                # request (this one included) and clears every transport.
                self.adapter.clear_endpoint(self)
                return
            finish()
            on_fail('error')

        w.call(self.sender, self.path, C.ENDPOINT_IFACE, method, sig, args,
               reply, error, w.cfg['endpoint_timeout_ms'])
        return req

    def cancel_all(self):
        while self.requests:
            req = self.requests.pop(0)
            if not req['done']:
                req['done'] = True
                req['on_fail']('canceled')

    def describe(self):
        return dbus.Struct((self.adapter.name, self.sender,
                            dbus.ObjectPath(self.path)), signature='sso')


class App:
    def __init__(self, adapter, sender, root):
        self.adapter = adapter
        self.sender = str(sender)
        self.root = str(root)
        self.endpoints = []
        self.players = []
        self.watch = None
        self.signal_matches = []
        self.reply = None


class DiscoveryClient:
    def __init__(self, owner):
        self.owner = owner
        self.filter = None
        self.active = False
        self.watch = None


ADAPTER_BASE_UUIDS = [C.GAP_UUID, C.GATT_UUID, C.DEVINFO_UUID,
                      C.AVRCP_TARGET_UUID, C.AVRCP_REMOTE_UUID, C.PNP_UUID]
DISCOVERY_FILTERS = ['UUIDs', 'RSSI', 'Pathloss', 'Transport',
                     'DuplicateData', 'Discoverable', 'Pattern']


class Adapter(BzObject, PlayerMixin):
    def __init__(self, world, name, props):
        BzObject.__init__(self, world, '/org/bluez/' + name)
        self.name = name
        idx = ''.join(ch for ch in name if ch.isdigit()) or '0'
        self.address = str(props.get('Address',
                                     '00:1A:7D:DA:71:%02X' % (0x10 + int(idx))))
        self.bredr = bool(props.get('BrEdr', True))
        self.le = bool(props.get('Le', True))
        self.address_type = str(props.get('AddressType', 'public'))
        self.system_name = str(props.get('Name', 'BlueZ 5.66'))
        self.alias_set = props.get('Alias')
        base_class = int(props.get('Class', 0x00010c))
        self.base_class = base_class if self.bredr else 0
        self.powered = bool(props.get('Powered', True))
        self.rfkill = False     # soft or hard rfkill block
        self.discoverable = bool(props.get('Discoverable', False))
        self.discoverable_timeout = int(props.get('DiscoverableTimeout', 180))
        # bondable: off unless AlwaysPairable or a default agent says so
        self.pairable = bool(props.get('Pairable', world.always_pairable or
                                       bool(world.default_agents)))
        self.pairable_timeout = int(props.get('PairableTimeout', 0))
        self.modalias = props.get('Modalias', 'usb:v1D6Bp0246d0542')
        self.discovering = False
        self.devices = {}
        self.endpoints = []
        self.apps = []
        self.players = []             # media.c adapter->players
        self.avrcp = bool(props.get('Avrcp', True))   # AVRCP server
        self.register_player_delay_ms = int(props.get('RegisterPlayerDelayMs', 0))
        self.register_app_delay_ms = int(props.get('RegisterApplicationDelayMs', 0))
        self.discovery = {}
        self._disc_timer = None
        self._discoverable_timer = None

        A = C.ADAPTER_IFACE
        self.add_prop(A, 'Address', 's', lambda: dbus.String(self.address))
        self.add_prop(A, 'AddressType', 's',
                      lambda: dbus.String(self.address_type))
        self.add_prop(A, 'Name', 's', lambda: dbus.String(self.system_name))
        self.add_prop(A, 'Alias', 's', lambda: dbus.String(self.alias),
                      self._set_alias)
        self.add_prop(A, 'Class', 'u', lambda: dbus.UInt32(self.cls))
        self.add_prop(A, 'Powered', 'b', lambda: dbus.Boolean(self.powered),
                      self._set_powered)
        self.add_prop(A, 'PowerState', 's', lambda: dbus.String(
            'on' if self.powered else 'off-blocked' if self.rfkill else 'off'),
            exists=lambda: self.world.experimental)
        self.add_prop(A, 'Discoverable', 'b',
                      lambda: dbus.Boolean(self.discoverable),
                      self._set_discoverable)
        self.add_prop(A, 'DiscoverableTimeout', 'u',
                      lambda: dbus.UInt32(self.discoverable_timeout),
                      self._set_discoverable_timeout)
        self.add_prop(A, 'Pairable', 'b', lambda: dbus.Boolean(self.pairable),
                      self._set_pairable)
        self.add_prop(A, 'PairableTimeout', 'u',
                      lambda: dbus.UInt32(self.pairable_timeout),
                      self._set_pairable_timeout)
        self.add_prop(A, 'Discovering', 'b',
                      lambda: dbus.Boolean(self.discovering))
        self.add_prop(A, 'UUIDs', 'as', lambda: as_(self.uuids))
        self.add_prop(A, 'Modalias', 's',
                      lambda: dbus.String(self.modalias or ''),
                      exists=lambda: bool(self.modalias))
        self.add_prop(A, 'Roles', 'as', lambda: as_(
            ['central', 'peripheral'] if self.le else []))
        self.add_interface(C.GATT_MANAGER_IFACE)
        self.add_interface(C.MEDIA_IFACE)
        self.add_prop(C.LE_ADV_MANAGER_IFACE, 'ActiveInstances', 'y',
                      lambda: dbus.Byte(0))
        self.add_prop(C.LE_ADV_MANAGER_IFACE, 'SupportedInstances', 'y',
                      lambda: dbus.Byte(5))
        self.add_prop(C.LE_ADV_MANAGER_IFACE, 'SupportedIncludes', 'as',
                      lambda: as_(['tx-power', 'appearance', 'local-name']))

    def iface_active(self, iface):
        if iface == C.LE_ADV_MANAGER_IFACE:
            return self.le
        return True

    # -- derived properties ------------------------------------------------------
    @property
    def alias(self):
        return self.alias_set if self.alias_set else self.system_name

    @property
    def uuids(self):
        u = set(ADAPTER_BASE_UUIDS)
        if any(e.is_source() for e in self.endpoints):
            u.add(C.A2DP_SOURCE_UUID)
        if any(e.is_sink() for e in self.endpoints):
            u.add(C.A2DP_SINK_UUID)
        return sorted(u)

    @property
    def cls(self):
        if not self.bredr:
            return 0
        c = self.base_class
        if any(e.is_source() for e in self.endpoints):
            c |= 0x08 << 16          # adapter.c get_uuid_mask(): Capturing
        if any(e.is_sink() for e in self.endpoints):
            c |= 0x04 << 16          # Rendering
        return c

    def _local_records_changed(self, before_uuids, before_cls):
        names = []
        if self.uuids != before_uuids:
            names.append('UUIDs')
        if self.cls != before_cls:
            names.append('Class')
        if names:
            self.changed(C.ADAPTER_IFACE, *names)

    # -- property setters ---------------------------------------------------------
    def _set_alias(self, value, sender):
        v = str(value)
        self.alias_set = v or None
        return lambda: self.changed(C.ADAPTER_IFACE, 'Alias')

    def _set_powered(self, value, sender):
        v = bool(value)
        if v == self.powered:
            return None
        if v and self.rfkill:
            # adapter.c property_set_mode_complete: MGMT_STATUS_RFKILLED
            raise C.bz_error('Blocked', 'Blocked through rfkill')
        if v:
            def after():
                self.powered = True
                self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState')
            return after
        # Links drop while the controller powers down, before the reply.
        self.power_off(reason='powered-off', emit=False)
        return lambda: self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState')

    def _set_discoverable(self, value, sender):
        v = bool(value)
        if self.discoverable_timeout > 0 and not self.powered:
            raise C.failed('Not Powered')
        if v == self.discoverable:
            return None
        self.discoverable = v
        self.world.cancel_timer(self._discoverable_timer)
        self._discoverable_timer = None
        if v and self.discoverable_timeout:
            self._discoverable_timer = self.world.timer(
                self.discoverable_timeout * 1000, self._discoverable_expired)
        return lambda: self.changed(C.ADAPTER_IFACE, 'Discoverable')

    def _discoverable_expired(self):
        self._discoverable_timer = None
        if self.discoverable:
            self.discoverable = False
            self.changed(C.ADAPTER_IFACE, 'Discoverable')

    def _set_discoverable_timeout(self, value, sender):
        self.discoverable_timeout = int(value)
        return lambda: self.changed(C.ADAPTER_IFACE, 'DiscoverableTimeout')

    def _set_pairable(self, value, sender):
        v = bool(value)
        if v == self.pairable:
            return None
        self.pairable = v
        return lambda: self.changed(C.ADAPTER_IFACE, 'Pairable')

    def set_bondable(self, v):
        """mgmt Set Bondable from bluetoothd itself (agents, timeout)."""
        if self.pairable != v:
            self.world.log('adapter %s bondable %s' % (self.name, v))
            self.pairable = v
            self.changed(C.ADAPTER_IFACE, 'Pairable')

    def _set_pairable_timeout(self, value, sender):
        self.pairable_timeout = int(value)
        return lambda: self.changed(C.ADAPTER_IFACE, 'PairableTimeout')

    # -- power ------------------------------------------------------------------
    def set_rfkill(self, blocked):
        """rfkill block/unblock: the kernel powers the controller down and
        bluetoothd follows (Powered false; PowerState off-blocked with -E).
        Unblocked, bluetoothd powers it up again as it was (AutoEnable)."""
        if blocked == self.rfkill:
            return
        self.rfkill = blocked
        if blocked:
            if self.powered:
                self.power_off(reason='rfkill')
            else:
                self.changed(C.ADAPTER_IFACE, 'PowerState')
        else:
            self.powered = True
            self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState')

    def power_off(self, reason, emit=True):
        if not self.powered:
            return
        for dev in list(self.devices.values()):
            dev.adapter_powering_down()
        for client in list(self.discovery.values()):
            self.world.unwatch(client.watch)
        self.discovery.clear()
        if self.discovering:
            self._discovery_stopped()
        for dev in list(self.devices.values()):
            if dev.exported and dev.temporary and not dev.connected:
                dev.remove_object()
        self.powered = False
        if emit:
            self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState')

    # -- devices ----------------------------------------------------------------
    def add_device(self, address, name, opts, initial=False):
        from .device import Device
        if address in self.devices:
            raise C.test_error('device %s exists' % address, 'AlreadyExists')
        dev = Device(self, address, name, opts, initial)
        self.devices[address] = dev
        if dev.known:
            dev.export()
        elif self.discovering:
            self.world.timer(self.world.cfg['discovery_result_ms'],
                             self.report_found, dev)
        return dev

    def remove_device_object(self, dev, forget=True):
        """btd_adapter_remove_device(): object and bond gone."""
        dev.remove_object()
        if forget:
            dev.forget_bond()

    def remove(self):
        """Controller unplugged."""
        self.release_all_players()
        self.release_all_endpoints()
        for app in list(self.apps):
            self._free_app(app, release=False)
        for dev in list(self.devices.values()):
            dev.adapter_removed()
        for client in list(self.discovery.values()):
            self.world.unwatch(client.watch)
        self.discovery.clear()
        self.unexport()

    # -- Adapter1 methods ---------------------------------------------------------
    @dbus.service.method(C.ADAPTER_IFACE, in_signature='', out_signature='',
                         sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def StartDiscovery(self, sender=None, ok=None, err=None):
        if not self.powered:
            return err(C.not_ready())
        client = self.discovery.get(sender)
        if client is not None and client.active:
            return err(C.busy())
        if client is None:
            client = DiscoveryClient(sender)
            client.watch = self.world.watch_name(
                sender, lambda: self._discovery_client_gone(sender))
            self.discovery[sender] = client
        client.active = True
        ok()
        if not self.discovering:
            self.discovering = True
            self.changed(C.ADAPTER_IFACE, 'Discovering')
        self.world.cancel_timer(self._disc_timer)
        self._disc_timer = self.world.timer(
            self.world.cfg['discovery_result_ms'], self._scan)

    @dbus.service.method(C.ADAPTER_IFACE, in_signature='', out_signature='',
                         sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def StopDiscovery(self, sender=None, ok=None, err=None):
        if not self.powered:
            return err(C.not_ready())
        client = self.discovery.get(sender)
        if client is None or not client.active:
            return err(C.failed('No discovery started'))
        if client.filter is not None:
            # adapter.c discovery_remove(): a client with a filter keeps it
            # (set_filter_list) for its next StartDiscovery, until it
            # leaves the bus or clears it
            client.active = False
        else:
            self.world.unwatch(client.watch)
            del self.discovery[sender]
        ok()
        self._update_discovering()

    @dbus.service.method(C.ADAPTER_IFACE, in_signature='a{sv}',
                         out_signature='', sender_keyword='sender')
    def SetDiscoveryFilter(self, props, sender=None):
        if not self.powered:
            raise C.not_ready()
        flt = self._parse_filter(props)
        client = self.discovery.get(sender)
        if client is not None:
            client.filter = flt
            if flt is None and not client.active:
                self.world.unwatch(client.watch)
                del self.discovery[sender]
            elif client.active:
                self._scan()
            return
        if flt is not None:
            client = DiscoveryClient(sender)
            client.filter = flt
            client.watch = self.world.watch_name(
                sender, lambda: self._discovery_client_gone(sender))
            self.discovery[sender] = client

    @dbus.service.method(C.ADAPTER_IFACE, in_signature='',
                         out_signature='as')
    def GetDiscoveryFilters(self):
        return as_(DISCOVERY_FILTERS)

    @dbus.service.method(C.ADAPTER_IFACE, in_signature='o', out_signature='',
                         async_callbacks=('ok', 'err'))
    def RemoveDevice(self, path, ok=None, err=None):
        dev = None
        for d in self.devices.values():
            if d.exported and d.path == path:
                dev = d
        if dev is None:
            return err(C.does_not_exist())
        if not self.powered:
            return err(C.not_ready())
        dev.temporary = True
        if not dev.connected:
            self.remove_device_object(dev)
            return ok()

        def done():
            ok()
            self.remove_device_object(dev)
        dev.request_disconnect(done)

    # -- discovery internals ------------------------------------------------------
    def _parse_filter(self, props):
        flt = {'UUIDs': None, 'RSSI': None, 'Pathloss': None,
               'Transport': 'auto', 'DuplicateData': False,
               'Discoverable': False, 'Pattern': None}
        if len(props) == 0:
            return None
        types = {'UUIDs': 'as', 'RSSI': 'n', 'Pathloss': 'q',
                 'Transport': 's', 'DuplicateData': 'b',
                 'Discoverable': 'b', 'Pattern': 's'}
        from .base import signature_of
        for key, value in props.items():
            key = str(key)
            if key not in types or signature_of(value) != types[key]:
                raise C.invalid_args()
            if key == 'UUIDs':
                uu = []
                for u in value:
                    n = C.normalize_uuid(str(u))
                    if n is None:
                        raise C.invalid_args()
                    uu.append(n)
                flt['UUIDs'] = uu
            elif key == 'Transport':
                if str(value) not in ('auto', 'bredr', 'le'):
                    raise C.invalid_args()
                flt['Transport'] = str(value)
            else:
                flt[key] = plain(value)
        if flt['RSSI'] is not None and flt['Pathloss'] is not None:
            raise C.invalid_args()
        return flt

    def _discovery_client_gone(self, owner):
        client = self.discovery.pop(owner, None)
        if client is not None:
            self._update_discovering()

    def _update_discovering(self):
        if self.discovering and not any(c.active
                                        for c in self.discovery.values()):
            self._discovery_stopped()

    def _discovery_stopped(self):
        self.world.cancel_timer(self._disc_timer)
        self._disc_timer = None
        self.discovering = False
        self.changed(C.ADAPTER_IFACE, 'Discovering')
        # adapter.c invalidate_rssi_and_tx_power()
        for dev in self.devices.values():
            if dev.rssi is not None:
                dev.rssi = None
                dev.changed(C.DEVICE_IFACE, 'RSSI')

    def _scan(self):
        self._disc_timer = None
        if not self.discovering:
            return
        for dev in list(self.devices.values()):
            self.report_found(dev)

    def _visible(self, dev):
        if not (self.powered and self.discovering and dev.in_range and
                dev.discoverable and not dev.blocked):
            return False
        # what each scan type can hear: inquiry finds BR/EDR devices, LE
        # scanning finds advertisers; a filter's Transport narrows the scan
        # (adapter.c get_scan_type / discovery_filter_to_mgmt_cp)
        bredr = self.bredr and dev.bredr
        le = self.le and dev.le
        actives = [c for c in self.discovery.values() if c.active]
        for c in actives:
            f = c.filter
            transport = f['Transport'] if f is not None else 'auto'
            if not {'bredr': bredr, 'le': le}.get(transport, bredr or le):
                continue
            if f is None:
                return True
            if f['UUIDs'] and not set(f['UUIDs']) & set(dev.uuids):
                continue
            if f['RSSI'] is not None and dev.opt_rssi < f['RSSI']:
                continue
            if f['Pattern'] and not (dev.address.startswith(f['Pattern']) or
                                     (dev.name or '').startswith(
                                         f['Pattern'])):
                continue
            return True
        return False

    def report_found(self, dev):
        if dev.adapter is not self or self.devices.get(dev.address) is not dev:
            return
        if not self._visible(dev):
            return
        dev.found(dev.opt_rssi)

    # -- Media1 ---------------------------------------------------------------
    def find_endpoint(self, sender, path):
        for e in self.endpoints:
            if e.sender == sender and e.path == str(path):
                return e
        return None

    @staticmethod
    def _parse_endpoint_props(props, is_app=False):
        """media.c parse_properties()/app_register_endpoint(); returns a dict
        or raises InvalidArguments."""
        from .base import signature_of
        out = {'UUID': None, 'Codec': None, 'Capabilities': b'',
               'Vendor': None, 'DelayReporting': False}
        want = {'uuid': 's', 'codec': 'y', 'vendor': 'u',
                'delayreporting': 'b'}
        for key, value in props.items():
            k = str(key).lower() if not is_app else str(key)
            lk = k.lower()
            if is_app and k not in ('UUID', 'Codec', 'Vendor',
                                    'DelayReporting', 'Capabilities'):
                continue            # app proxies: exact property names only
            if lk in want:
                if signature_of(value) != want[lk]:
                    raise C.invalid_args()
                name = {'uuid': 'UUID', 'codec': 'Codec', 'vendor': 'Vendor',
                        'delayreporting': 'DelayReporting'}[lk]
                out[name] = plain(value)
            elif lk == 'capabilities':
                if not signature_of(value).startswith('a'):
                    raise C.invalid_args()
                out['Capabilities'] = bytes(int(x) for x in value) \
                    if signature_of(value) == 'ay' else b''
        if out['UUID'] is None or out['Codec'] is None:
            raise C.invalid_args()
        return out

    def _endpoint_uuid_supported(self, uuid):
        u = uuid.lower()
        # media.c init_table in 5.66: A2DP source/sink always; the LE Audio
        # ones need Experimental and ISO support, which this double lacks.
        return u in (C.A2DP_SOURCE_UUID, C.A2DP_SINK_UUID)

    def create_endpoint(self, sender, path, p, app=None):
        if not self._endpoint_uuid_supported(p['UUID']):
            return None
        before = (self.uuids, self.cls)
        ep = Endpoint(self, sender, path, p['UUID'], p['Codec'],
                      p['Capabilities'], p['Vendor'], p['DelayReporting'],
                      app)
        # avdtp_register_sep(): the lowest free SEID (util_get_uid)
        used = {e.seid for e in self.endpoints}
        ep.seid = min(s for s in range(1, len(used) + 2) if s not in used)
        ep.watch = self.world.watch_name(sender,
                                         lambda: self._endpoint_exit(ep))
        self.endpoints.append(ep)
        self.world.log('Endpoint registered: sender=%s path=%s uuid=%s '
                       'codec=%d caps=%s' % (sender, path, ep.uuid, ep.codec,
                                             ep.caps.hex()))
        self._local_records_changed(*before)
        return ep

    def _endpoint_exit(self, ep):
        # media_endpoint_exit(): the owner is gone, nothing is sent to it.
        self.remove_endpoint(ep, release=False)

    def clear_endpoint(self, ep):
        """media.c clear_endpoint(): cancel requests, ClearConfiguration and
        drop every transport of the endpoint."""
        ep.cancel_all()
        for t in list(ep.transports):
            t.device.stream_cleared(send_clear=True)

    def remove_endpoint(self, ep, release):
        """media_endpoint_remove() -> a2dp_remove_sep() -> release_endpoint()
        (ClearConfiguration + Release only while the owner is on the bus)."""
        if not ep.alive:
            return
        self.world.unwatch(ep.watch)
        ep.cancel_all()
        for t in list(ep.transports):
            t.device.stream_cleared(send_clear=release)
        ep.alive = False
        for dev in list(ep.setups):
            dev.setup_aborted(ep)
        if release:
            self.world.send_noreply(ep.sender, ep.path, C.ENDPOINT_IFACE,
                                    'Release')
        before = (self.uuids, self.cls)
        if ep in self.endpoints:
            self.endpoints.remove(ep)
        if ep.app is not None and ep in ep.app.endpoints:
            ep.app.endpoints.remove(ep)
        self.world.log('Endpoint unregistered: sender=%s path=%s' % (
            ep.sender, ep.path))
        self._local_records_changed(*before)

    def release_all_endpoints(self):
        for ep in list(self.endpoints):
            self.remove_endpoint(ep, release=True)

    def pick_endpoint(self, dev, codec=None):
        """The first idle local source endpoint whose codec one of the
        device's sink SEPs has (a2dp.c a2dp_find_sep / avdtp_find_remote_sep:
        an in-use local SEP is skipped)."""
        for ep in self.endpoints:
            if not ep.is_source() or ep.in_use():
                continue
            if codec is not None and ep.codec != codec:
                continue
            rsep = dev.sink_sep_for(ep)
            if rsep is not None:
                return ep, rsep
        return None, None

    @dbus.service.method(C.MEDIA_IFACE, in_signature='oa{sv}',
                         out_signature='', sender_keyword='sender')
    def RegisterEndpoint(self, path, props, sender=None):
        if self.find_endpoint(sender, path) is not None:
            raise C.already_exists()
        if len(props) == 0:
            raise C.invalid_args()
        p = self._parse_endpoint_props(props)
        if self.create_endpoint(sender, path, p) is None:
            raise C.invalid_args()

    @dbus.service.method(C.MEDIA_IFACE, in_signature='o', out_signature='',
                         sender_keyword='sender')
    def UnregisterEndpoint(self, path, sender=None):
        ep = self.find_endpoint(sender, path)
        if ep is None:
            raise C.does_not_exist()
        self.remove_endpoint(ep, release=True)

    @dbus.service.method(C.MEDIA_IFACE, in_signature='oa{sv}',
                         out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def RegisterPlayer(self, path, props, sender=None, ok=None, err=None):
        # RegisterPlayerDelayMs: bluetoothd busy, the call waiting in its
        # queue: its properties watch (the bus match that routes the
        # player's PropertiesChanged to it) is added only when the call is
        # handled, so what the player signals meanwhile never reaches it
        delay = self.register_player_delay_ms

        def handle():
            try:
                self.register_player(path, props, sender)
            except dbus.DBusException as e:
                return err(e)
            ok()
        if delay <= 0:
            return handle()
        self.world.log('RegisterPlayer from %s waits %d ms' % (sender, delay))
        self.world.timer(delay, handle)

    @dbus.service.method(C.MEDIA_IFACE, in_signature='o', out_signature='',
                         sender_keyword='sender')
    def UnregisterPlayer(self, path, sender=None):
        self.unregister_player(path, sender)

    @dbus.service.method(C.MEDIA_IFACE, in_signature='oa{sv}',
                         out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def RegisterApplication(self, root, options, sender=None, ok=None,
                            err=None):
        root = str(root)
        if any(a.sender == sender and a.root == root for a in self.apps):
            return err(C.already_exists())
        if not root.startswith('/'):
            return err(C.failed('Failed to register application'))
        app = App(self, sender, root)
        app.reply = (ok, err)
        self.apps.append(app)
        app.watch = self.world.watch_name(sender,
                                          lambda: self._app_client_gone(app))
        # gdbus' client adds its match rules before GetManagedObjects, so
        # objects the application adds later are never missed.
        self._watch_app_objects(app)
        w = self.world

        def got(objects):
            self._app_objects(app, objects)

        def failed_(e):
            w.log('GetManagedObjects on %s %s failed: %s' % (
                sender, root, e.get_dbus_name()))
            self._app_objects(app, {})

        def read_objects():
            w.call(sender, root, C.OM_IFACE, 'GetManagedObjects', '', [],
                   got, failed_, 25000)
        # RegisterApplicationDelayMs: bluetoothd busy (or a slow machine),
        # the application's objects read this much later; until then none
        # of its endpoints exists, and a connection finds no local SEP
        if self.register_app_delay_ms > 0:
            w.log('RegisterApplication from %s reads its objects in %d ms' % (
                sender, self.register_app_delay_ms))
            w.timer(self.register_app_delay_ms, read_objects)
        else:
            read_objects()

    def _app_objects(self, app, objects):
        """gdbus client ready: media.c proxy_added_cb/client_ready_cb."""
        if app not in self.apps or app.reply is None:
            return
        ok, err = app.reply
        app.reply = None
        nproxies = 0
        error = None
        for opath, ifaces in objects.items():
            for iface, props in ifaces.items():
                if str(iface).startswith('org.freedesktop.DBus.'):
                    continue
                nproxies += 1
                if error is not None or str(iface) != C.ENDPOINT_IFACE:
                    continue
                try:
                    p = self._parse_endpoint_props(props, is_app=True)
                except dbus.exceptions.DBusException as e:
                    error = e
                    continue
                ep = self.create_endpoint(app.sender, str(opath), p, app)
                if ep is not None:
                    app.endpoints.append(ep)
        if nproxies == 0:
            err(C.failed('No object received'))
            self._free_app(app, release=False)
            return
        if error is not None:
            # client_ready_cb: the error is returned but the application
            # (and whatever endpoints it got before the bad one) stays.
            err(error)
            return
        if not app.endpoints and not app.players:
            err(C.failed('No valid media object found'))
            self._free_app(app, release=False)
            return
        self.world.log('Media application registered: %s:%s' % (app.sender,
                                                                app.root))
        ok()

    def _watch_app_objects(self, app):
        bus = self.world.bus

        def added(path, ifaces):
            if app not in self.apps or app.reply is not None or \
                    C.ENDPOINT_IFACE not in ifaces:
                return
            try:
                p = self._parse_endpoint_props(ifaces[C.ENDPOINT_IFACE],
                                               is_app=True)
            except dbus.exceptions.DBusException:
                return
            if any(e.path == str(path) for e in app.endpoints):
                return
            ep = self.create_endpoint(app.sender, str(path), p, app)
            if ep is not None:
                app.endpoints.append(ep)

        def removed(path, ifaces):
            if app not in self.apps or app.reply is not None or \
                    C.ENDPOINT_IFACE not in ifaces:
                return
            for ep in list(app.endpoints):
                if ep.path == str(path):
                    self.remove_endpoint(ep, release=True)

        app.signal_matches = [
            bus.add_signal_receiver(added, 'InterfacesAdded', C.OM_IFACE,
                                    app.sender, app.root),
            bus.add_signal_receiver(removed, 'InterfacesRemoved', C.OM_IFACE,
                                    app.sender, app.root)]

    def _app_client_gone(self, app):
        if app in self.apps:
            self._free_app(app, release=False)

    def _free_app(self, app, release):
        if app in self.apps:
            self.apps.remove(app)
        self.world.unwatch(app.watch)
        for m in app.signal_matches:
            try:
                m.remove()
            except Exception:
                pass
        app.signal_matches = []
        for ep in list(app.endpoints):
            self.remove_endpoint(ep, release=release)
        app.endpoints = []

    @dbus.service.method(C.MEDIA_IFACE, in_signature='o', out_signature='',
                         sender_keyword='sender')
    def UnregisterApplication(self, root, sender=None):
        for app in self.apps:
            if app.sender == sender and app.root == str(root):
                self._free_app(app, release=True)
                return
        raise C.does_not_exist()
