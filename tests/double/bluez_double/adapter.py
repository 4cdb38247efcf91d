"""/org/bluez/hciN: org.bluez.Adapter1, org.bluez.Media1 (+ the GATT and LE
advertising manager interfaces as empty stubs, as 5.66 exports them).

Sources: src/adapter.c (properties, RemoveDevice).  Mixed in: discovery
(discovery.py), Media1's endpoints and applications (media.py), its players
and the AVRCP server (player.py).

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
from .discovery import DiscoveryMixin
from .media import MediaMixin
from .player import PlayerMixin


ADAPTER_BASE_UUIDS = [C.GAP_UUID, C.GATT_UUID, C.DEVINFO_UUID,
                      C.AVRCP_TARGET_UUID, C.AVRCP_REMOTE_UUID, C.PNP_UUID]


class Adapter(DiscoveryMixin, MediaMixin, BzObject, PlayerMixin):
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
        # ... or as the kernel kept it: bluetoothd 5.66 only ever turns
        # it on at start (adapter.c read_info_complete), so a bondable
        # adapter stays bondable across a restart
        self.pairable = bool(props.get('Pairable', world.always_pairable or
                                       bool(world.default_agents) or
                                       world.kernel_bondable(name)))
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
        # 5.66 adapter_stop(): dev_class = 0 and "Class" emitted on power
        # down (the kernel zeroes hdev->dev_class in hci_dev_close_sync)
        if not self.bredr or not self.powered:
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
                self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState', 'Class')
            return after
        # Links drop while the controller powers down, before the reply.
        self.power_off(reason='powered-off', emit=False)
        return lambda: self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState', 'Class')

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
        self.world.keep_bondable(self.name, v)
        return lambda: self.changed(C.ADAPTER_IFACE, 'Pairable')

    def set_bondable(self, v):
        """mgmt Set Bondable from bluetoothd itself (agents, timeout)."""
        if self.pairable != v:
            self.world.log('adapter %s bondable %s' % (self.name, v))
            self.pairable = v
            self.world.keep_bondable(self.name, v)
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
            self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState', 'Class')

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
            self.changed(C.ADAPTER_IFACE, 'Powered', 'PowerState', 'Class')

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
