"""Discovery on an Adapter as bluetoothd 5.66 does it (src/adapter.c):
StartDiscovery / StopDiscovery owned per client, SetDiscoveryFilter
(a filter outlives its client's StopDiscovery), and which devices each
scan type hears."""

import dbus.service

from . import consts as C
from .base import as_
from .world import plain


class DiscoveryClient:
    def __init__(self, owner):
        self.owner = owner
        self.filter = None
        self.active = False
        self.watch = None


DISCOVERY_FILTERS = ['UUIDs', 'RSSI', 'Pathloss', 'Transport',
                     'DuplicateData', 'Discoverable', 'Pattern']


# dbus.service.Interface: its methods join Adapter's D-Bus method table
# (introspection), which a plain mixin's would not
class DiscoveryMixin(dbus.service.Interface):
    """Mixed into adapter.Adapter."""

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
