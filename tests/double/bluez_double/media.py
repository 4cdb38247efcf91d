"""org.bluez.Media1 of an Adapter (profiles/audio/media.c of BlueZ 5.66):
RegisterEndpoint and RegisterApplication with their endpoints, and the
Media1 player methods (the players themselves in player.py)."""

import dbus
import dbus.service

from . import consts as C
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


# dbus.service.Interface: its methods join Adapter's D-Bus method table
class MediaMixin(dbus.service.Interface):
    """Mixed into adapter.Adapter."""

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
