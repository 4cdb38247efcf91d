"""The simulated bluetoothd process: bus plumbing, timers, client tracking,
agents, bond storage and the registry of adapters.

Everything runs on the single GLib main loop that python-dbusmock iterates;
calls to clients (endpoints, agents) are always asynchronous so a client may
call back into the double while it is answering.
"""

import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections import OrderedDict

import dbus
import dbus.lowlevel
from gi.repository import GLib

from . import consts as C
from .base import BzObject
from .changes import PropertyChanges, flush_before_replies

# Timings in milliseconds unless the name says otherwise.  BlueZ/kernel values
# where they exist; every one can be overridden by a template parameter of
# the same name (and the per-device ones by device options, see device.py).
DEFAULTS = {
    'page_timeout_ms': 5120,      # HCI default page timeout (0x2000 slots)
    'connect_ms': 20,             # ACL + L2CAP setup with a device in range
    'avdtp_ms': 5,                # one AVDTP signalling round trip
    'start_ms': 10,               # AVDTP START round trip (Acquire)
    'suspend_ms': 5,              # AVDTP SUSPEND round trip (Release)
    'close_ms': 5,                # AVDTP CLOSE round trip (a reconfigure
                                  # waits for the speaker's answer)
    'reconfigure_ms': 500,        # a2dp.c RECONFIGURE_TIMEOUT: the new
                                  # SET_CONFIGURATION after the close
    'pair_ms': 30,                # SSP exchange
    'sdp_ms': 20,                 # SDP browse
    'avrcp_ms': 50,               # AVRCP comes up this long after A2DP
    'acl_idle_ms': 2000,          # kernel drops an unused ACL after 2 s
                                  # (hci_conn_drop: twice that on a link
                                  # the remote opened)
    'avdtp_disconnect_ms': 1000,  # avdtp.c DISCONNECT_TIMEOUT: an AVDTP
                                  # session nobody holds closes after 1 s
    'avdtp_setup_wait_ms': 1000,  # the same timer on a signalling channel
                                  # the speaker opened: bluetoothd sets the
                                  # stream up itself when it fires
                                  # (disconnect_timeout -> sink_setup_stream)
    'suspend_timeout_ms': 5000,   # a2dp.c SUSPEND_TIMEOUT: remote START not
                                  # followed by an Acquire is suspended
    'endpoint_timeout_ms': 3000,  # media.c REQUEST_TIMEOUT
    'agent_timeout_ms': 60000,    # agent.c REQUEST_TIMEOUT
    'discovery_result_ms': 50,    # first inquiry result after StartDiscovery
    'temporary_timeout_s': 30,    # main.conf TemporaryTimeout default
}


def plain(v):
    """dbus-python values -> plain Python (recursively)."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.ByteArray, bytes)):
        return bytes(v)
    if isinstance(v, dbus.Array) and v.signature == 'y':
        return bytes(int(x) for x in v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.UInt16, dbus.Int32,
                      dbus.UInt32, dbus.Int64, dbus.UInt64)):
        return int(v)
    if isinstance(v, dbus.Double):
        return float(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(v)
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


IO_CAPS = {'': 'KeyboardDisplay', 'DisplayOnly': 'DisplayOnly',
           'DisplayYesNo': 'DisplayYesNo', 'KeyboardOnly': 'KeyboardOnly',
           'NoInputNoOutput': 'NoInputNoOutput',
           'KeyboardDisplay': 'KeyboardDisplay'}


class Agent:
    def __init__(self, owner, path, capability):
        self.owner = owner
        self.path = path
        self.capability = capability       # normalised IO capability name
        self.request = None                # the one outstanding request
        self.watch = None


class AgentRequest:
    def __init__(self, agent, method):
        self.agent = agent
        self.method = method
        self.done = False


class RootObject(BzObject):
    """/org/bluez: AgentManager1 and ProfileManager1 (src/agent.c,
    src/profile.c)."""

    def __init__(self, world):
        BzObject.__init__(self, world, '/org/bluez')
        self.add_interface(C.AGENT_MANAGER_IFACE)
        self.add_interface(C.PROFILE_MANAGER_IFACE)

    @dbus.service.method(C.AGENT_MANAGER_IFACE, in_signature='os',
                         out_signature='', sender_keyword='sender')
    def RegisterAgent(self, path, capability, sender=None):
        w = self.world
        if sender in w.agents:
            raise C.already_exists()
        cap = IO_CAPS.get(str(capability))
        if cap is None:
            raise C.invalid_args()
        agent = Agent(sender, str(path), cap)
        agent.watch = w.watch_name(sender, lambda: w.agent_gone(agent))
        w.agents[sender] = agent
        w.log('agent registered %s %s %s' % (sender, path, cap))
        # agent.c agent_create(): with no default agent, the new one becomes
        # the default (IO capability, bondable); else it waits at the tail
        if w.default_agents:
            w.default_agents.append(agent)
        else:
            w.default_agents.insert(0, agent)
            w.log('default agent %s %s (first agent)' % (sender, path))
            w.default_agent_changed()

    @dbus.service.method(C.AGENT_MANAGER_IFACE, in_signature='o',
                         out_signature='', sender_keyword='sender')
    def UnregisterAgent(self, path, sender=None):
        w = self.world
        agent = w.agents.get(sender)
        if agent is None or agent.path != str(path):
            raise C.does_not_exist()
        w.log('agent unregistered %s %s' % (sender, path))
        w.agent_gone(agent)

    @dbus.service.method(C.AGENT_MANAGER_IFACE, in_signature='o',
                         out_signature='', sender_keyword='sender')
    def RequestDefaultAgent(self, path, sender=None):
        w = self.world
        agent = w.agents.get(sender)
        if agent is None or agent.path != str(path):
            raise C.does_not_exist()
        if agent in w.default_agents:
            w.default_agents.remove(agent)
        w.default_agents.insert(0, agent)
        w.log('default agent %s %s' % (sender, path))
        w.default_agent_changed()

    @dbus.service.method(C.PROFILE_MANAGER_IFACE, in_signature='osa{sv}',
                         out_signature='', sender_keyword='sender')
    def RegisterProfile(self, path, uuid, options, sender=None):
        w = self.world
        key = (sender, str(path))
        u = C.normalize_uuid(str(uuid))
        if u is None:
            raise C.invalid_args()
        if key in w.profiles or any(p['uuid'] == u
                                    for p in w.profiles.values()):
            raise C.already_exists()
        w.profiles[key] = {'uuid': u, 'options': plain(options)}
        w.watch_name(sender, lambda: w.profiles.pop(key, None))
        w.log('profile registered %s %s %s' % (sender, path, u))

    @dbus.service.method(C.PROFILE_MANAGER_IFACE, in_signature='o',
                         out_signature='', sender_keyword='sender')
    def UnregisterProfile(self, path, sender=None):
        if self.world.profiles.pop((sender, str(path)), None) is None:
            raise C.does_not_exist()


class World:
    def __init__(self, mock, params):
        self.mock = mock
        self.bus = mock.bus_name.get_bus()
        self.params = params or {}
        self.cfg = dict(DEFAULTS)
        for k in DEFAULTS:
            if k in self.params:
                self.cfg[k] = self.params[k]
        self.experimental = bool(self.params.get('experimental', False))
        self.strict_acquire = bool(self.params.get('strict_acquire', False))
        # recordings in format 3, with the kernel's arrival time per packet
        self.arrival_timestamps = bool(self.params.get('arrival_timestamps', False))
        # main.conf AlwaysPairable (default false): the adapters are then
        # bondable exactly while a default agent exists
        self.always_pairable = bool(self.params.get('always_pairable', False))
        # gdbus' deferred, merged PropertiesChanged (bluez_double/changes.py)
        self.coalesce = bool(self.params.get('coalesce_properties', True))
        self.changes = PropertyChanges(self)
        if self.coalesce:
            flush_before_replies(self)
        self.external_profiles = [C.normalize_uuid(u) for u in
                                  self.params.get('external_profiles', [])]
        self.recdir = self.params.get('recdir') or tempfile.mkdtemp(
            prefix='bluez-double-rec-')
        os.makedirs(self.recdir, exist_ok=True)
        self.objects = OrderedDict()
        self.adapters = OrderedDict()
        self.agents = OrderedDict()
        self.default_agents = []
        self.profiles = {}
        self.transport_counter = 0      # transport.c: static int fd = 0
        self.recordings = []
        self.events = []
        self.recorders = []
        self._watches = {}
        self._watch_seq = 0
        self._dead = set()
        self.stopping = False
        self.storage_path = self.params.get('storage')
        self.storage = self._load_storage()

        self._noc_match = self.bus.add_signal_receiver(
            self._name_owner_changed, signal_name='NameOwnerChanged',
            dbus_interface='org.freedesktop.DBus',
            bus_name='org.freedesktop.DBus', path='/org/freedesktop/DBus')

        self.root = RootObject(self)
        self.root.export()

        from .adapter import Adapter   # noqa: circular
        self.Adapter = Adapter
        # 5.66 takes its bus name before it reads its controllers
        # (main.c: connect_dbus, then adapter_init's mgmt round trips):
        # adapters_late_ms exports them, and their devices, that long after
        late = int(self.params.get('adapters_late_ms', 0))
        if late:
            self.timer(late, self._populate)
        else:
            self._populate()

        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, self._on_signal)
        self.log('bluetoothd double started, recdir %s' % self.recdir)

    def _populate(self):
        """The controllers, the devices the test gave, and the bonded
        devices bluetoothd remembers but the world does not know."""
        adapters = self.params.get('adapters')
        if not adapters:
            adapters = [{'name': 'hci0', 'props': {}}]
        for a in adapters:
            self.add_adapter(a['name'], a.get('props', {}))
        for d in self.params.get('devices', []):
            self.add_device(d['adapter'], d['address'], d.get('name', ''),
                            d.get('opts', {}), initial=True)
        for aname, devs in self.storage.items():
            ad = self.adapters.get(aname)
            if ad is None:
                continue
            for addr, info in devs.items():
                if addr not in ad.devices and not info.get('Forgotten'):
                    ad.add_device(addr, info.get('Name', ''),
                                  {'InRange': False, 'Discoverable': False,
                                   'UUIDs': info.get('UUIDs'),
                                   'Class': info.get('Class', 0)},
                                  initial=True)

    # -- logging --------------------------------------------------------------
    def log(self, msg):
        line = '%.3f %s' % (time.monotonic(), msg)
        self.events.append(line)
        if len(self.events) > 5000:
            del self.events[:1000]
        try:
            self.mock.log('[bluez] ' + msg)
        except Exception:
            pass

    # -- bus helpers ------------------------------------------------------------
    def flush_changes(self, obj=None):
        self.changes.flush(obj)

    def emit_signal(self, path, iface, member, sig, *args):
        if not self.changes.flushing:
            self.flush_changes()          # gdbus keeps the order
        msg = dbus.lowlevel.SignalMessage(str(path), iface, member)
        msg.append(*args, signature=sig)
        self.bus.send_message(msg)

    def call(self, dest, path, iface, member, sig, args, on_reply, on_error,
             timeout_ms):
        self.log('call %s %s %s.%s' % (dest, path, iface, member))
        self.flush_changes()
        self.bus.call_async(dest, str(path), iface, member, sig, list(args),
                            on_reply, on_error, timeout=timeout_ms / 1000.0,
                            byte_arrays=True)

    def send_noreply(self, dest, path, iface, member, sig='', *args):
        self.log('send %s %s %s.%s' % (dest, path, iface, member))
        self.flush_changes()
        msg = dbus.lowlevel.MethodCallMessage(dest, str(path), iface, member)
        msg.set_no_reply(True)
        if sig:
            msg.append(*args, signature=sig)
        self.bus.send_message(msg)

    def timer(self, ms, fn, *args):
        def run():
            if not self.stopping:
                try:
                    fn(*args)
                except Exception:
                    self.internal_error()
            return False
        return GLib.timeout_add(max(0, int(ms)), run)

    def internal_error(self):
        """A bug in the double: make it loud (stderr and the event log)."""
        text = traceback.format_exc()
        sys.stderr.write('bluez double INTERNAL ERROR\n' + text)
        sys.stderr.flush()
        self.log('INTERNAL ERROR ' + text.replace('\n', ' | '))

    def idle(self, fn, *args):
        return self.timer(0, fn, *args)

    @staticmethod
    def cancel_timer(tid):
        if tid:
            try:
                GLib.source_remove(tid)
            except Exception:
                pass

    # -- clients leaving the bus ---------------------------------------------
    def watch_name(self, name, cb):
        """Call cb() once when the unique name leaves the bus."""
        name = str(name)
        self._watch_seq += 1
        wid = self._watch_seq
        self._watches.setdefault(name, OrderedDict())[wid] = cb
        if name in self._dead:
            self.idle(self._fire, name)
        else:
            # Catch clients that left before the watch existed.
            def reply(has):
                if not has:
                    self._dead.add(name)
                    self._fire(name)
            self.bus.call_async('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                'org.freedesktop.DBus', 'NameHasOwner', 's',
                                [name], reply, lambda e: None)
        return (name, wid)

    def unwatch(self, handle):
        if not handle:
            return
        name, wid = handle
        self._watches.get(name, {}).pop(wid, None)

    def _name_owner_changed(self, name, old, new):
        if name.startswith(':') and not new:
            self._dead.add(str(name))
            self._fire(str(name))

    def _fire(self, name):
        cbs = self._watches.pop(name, {})
        if cbs:
            self.log('client %s left the bus' % name)
        for cb in cbs.values():
            try:
                cb()
            except Exception:            # keep the double alive
                self.internal_error()

    # -- agents -----------------------------------------------------------------
    def agent_gone(self, agent):
        self.unwatch(agent.watch)
        if self.agents.get(agent.owner) is agent:
            del self.agents[agent.owner]
        if agent in self.default_agents:
            head = self.default_agents[0] is agent
            self.default_agents.remove(agent)
            if head:
                self.default_agent_changed()
        if agent.request is not None:
            req, agent.request = agent.request, None
            if not req.done:
                req.done = True
                req.callback('canceled', None)
        self.log('agent removed %s %s' % (agent.owner, agent.path))

    def default_agent_changed(self):
        """agent.c set_io_cap() -> adapter.c adapter_set_io_capability():
        without AlwaysPairable, a default agent makes every adapter
        bondable (mgmt Set Bondable, the Pairable property) and its
        absence clears it."""
        if self.always_pairable:
            return
        on = bool(self.default_agents)
        for ad in self.adapters.values():
            ad.set_bondable(on)

    def agent_get(self, owner=None):
        """agent.c agent_get(): the caller's agent, else the default one."""
        if owner and owner in self.agents:
            return self.agents[owner]
        return self.default_agents[0] if self.default_agents else None

    def agent_request(self, agent, method, sig, args, callback):
        """Ask an agent; callback(error_kind or None, reply_values).
        error_kind: 'rejected' (agent error), 'timeout', 'canceled', 'busy'."""
        if agent.request is not None:
            callback('busy', None)
            return None
        req = AgentRequest(agent, method)
        req.callback = callback
        agent.request = req

        def done(kind, values):
            if req.done:
                return
            req.done = True
            if agent.request is req:
                agent.request = None
            callback(kind, values)

        def on_reply(*values):
            self.log('agent %s replied %r' % (method, values))
            done(None, values)

        def on_error(e):
            name = e.get_dbus_name()
            self.log('agent %s error %s' % (method, name))
            if name == 'org.freedesktop.DBus.Error.NoReply':
                # agent.c: "Timed out waiting for reply from agent", the
                # request fails and the agent gets Cancel().
                done('timeout', None)
                if agent.owner in self.agents:
                    self.send_noreply(agent.owner, agent.path,
                                      C.AGENT_IFACE, 'Cancel')
            else:
                done('rejected', None)

        self.call(agent.owner, agent.path, C.AGENT_IFACE, method, sig, args,
                  on_reply, on_error, self.cfg['agent_timeout_ms'])
        return req

    def agent_cancel(self, agent, req=None, send=True):
        """agent.c agent_cancel(): Cancel() the outstanding request."""
        cur = agent.request
        if cur is None or (req is not None and cur is not req):
            return
        agent.request = None
        if send and agent.owner in self.agents:
            self.send_noreply(agent.owner, agent.path, C.AGENT_IFACE,
                              'Cancel')
        if not cur.done:
            cur.done = True
            cur.callback('canceled', None)

    # -- adapters / devices --------------------------------------------------
    def add_adapter(self, name, props):
        name = str(name)
        if name in self.adapters:
            raise C.test_error('adapter %s exists' % name, 'AlreadyExists')
        ad = self.Adapter(self, name, plain(props))
        self.adapters[name] = ad
        ad.export()
        return ad

    def remove_adapter(self, name):
        ad = self.adapters.get(str(name))
        if ad is None:
            raise C.test_error('no adapter %s' % name, 'DoesNotExist')
        ad.remove()
        del self.adapters[str(name)]

    def add_device(self, adapter, address, name, opts, initial=False):
        ad = self.adapters.get(str(adapter))
        if ad is None:
            raise C.test_error('no adapter %s' % adapter, 'DoesNotExist')
        return ad.add_device(str(address).upper(), str(name), plain(opts),
                             initial)

    def find_device(self, path):
        path = str(path)
        for ad in self.adapters.values():
            for dev in ad.devices.values():
                if str(dev.path) == path:
                    return dev
        raise C.test_error('no device %s' % path, 'DoesNotExist')

    def find_transport(self, path):
        obj = self.objects.get(str(path))
        from .transport import Transport
        if isinstance(obj, Transport):
            return obj
        for t in self.all_transports():
            if str(t.path) == str(path):
                return t
        raise C.test_error('no transport %s' % path, 'DoesNotExist')

    def all_transports(self):
        out = []
        for ad in self.adapters.values():
            for dev in ad.devices.values():
                if dev.transport is not None:
                    out.append(dev.transport)
        return out

    def next_transport_number(self):
        n = self.transport_counter
        self.transport_counter += 1
        return n

    def recording_path(self, dev):
        base = 'dev_' + dev.address.replace(':', '_')
        k = dev.rec_counter
        while True:
            k += 1
            path = os.path.join(self.recdir, '%s-%d.rec' % (base, k))
            if not os.path.exists(path):
                dev.rec_counter = k
                return path

    # -- the kernel's state of an adapter, which outlives bluetoothd (kept in
    # the storage file too, under '_kernel': the double's one file) -------
    def kernel_bondable(self, name):
        return bool(self.storage.get('_kernel', {}).get(name, {}).get('bondable', False))

    def keep_bondable(self, name, on):
        self.storage.setdefault('_kernel', {}).setdefault(name, {})['bondable'] = bool(on)
        self._save_storage()

    # -- bond storage (what /var/lib/bluetooth keeps across restarts) --------
    def _load_storage(self):
        if not self.storage_path:
            return {}
        try:
            with open(self.storage_path) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_storage(self):
        if not self.storage_path:
            return
        tmp = self.storage_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.storage, f, indent=1, sort_keys=True)
        os.replace(tmp, self.storage_path)

    def store_device(self, dev):
        if not dev.bonded and not dev.trusted and not dev.blocked:
            return self.forget_device(dev)
        self.storage.setdefault(dev.adapter.name, {})[dev.address] = {
            'Name': dev.name, 'Alias': dev.alias_set, 'Class': dev.cls,
            'UUIDs': dev.uuids, 'Paired': dev.paired, 'Bonded': dev.bonded,
            'Trusted': dev.trusted, 'Blocked': dev.blocked,
            'LegacyPairing': dev.legacy}
        self._save_storage()

    def forget_device(self, dev):
        """Bond removed; a tombstone keeps a restart from resurrecting a
        bond that only the initial device options describe."""
        devs = self.storage.setdefault(dev.adapter.name, {})
        if devs.get(dev.address) != {'Forgotten': True}:
            devs[dev.address] = {'Forgotten': True}
            self._save_storage()

    def stored(self, adapter, address):
        return self.storage.get(adapter, {}).get(address)

    # -- recorders -----------------------------------------------------------
    def flush_recorders(self, ok, err, timeout_s=10.0):
        t_req = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        deadline = time.monotonic() + timeout_s

        def check():
            pending = [r for r in self.recorders
                       if not r.is_idle_since(t_req)]
            if not pending:
                ok()
                return False
            if time.monotonic() > deadline:
                err(C.test_error('recordings still busy: %s' % ', '.join(
                    r.path for r in pending), 'Timeout'))
                return False
            return True
        if check():
            GLib.timeout_add(5, check)

    # -- shutdown ---------------------------------------------------------------
    def teardown(self):
        """Drop everything without telling anyone (dbusmock Reset())."""
        self.stopping = True
        for obj in list(self.objects.values()):
            try:
                obj.remove_from_connection()
            except Exception:
                pass
            obj.exported = False
        self.objects.clear()
        for r in self.recorders:
            r.stop(drain=False)
        try:
            self._noc_match.remove()
        except Exception:
            pass

    def _on_signal(self):
        """SIGTERM: like bluetoothd, power the adapters down (which drops
        every link: transports go idle, ClearConfiguration, Connected false),
        then release endpoints and agents, then exit."""
        if self.stopping:
            return False
        self.log('terminating')
        try:
            for ad in list(self.adapters.values()):
                ad.power_off(reason='shutdown')
            for ad in list(self.adapters.values()):
                ad.release_all_players()
                ad.release_all_endpoints()
            for agent in list(self.agents.values()):
                self.send_noreply(agent.owner, agent.path, C.AGENT_IFACE,
                                  'Release')
            self.bus.flush()
        finally:
            self.stopping = True
            for r in list(self.recorders):
                r.stop(drain=True)
            for r in list(self.recorders):
                r.join(1.0)
            os._exit(0)
        return False
