"""PropertiesChanged as bluetoothd 5.66 sends it (gdbus/object.c).

g_dbus_emit_property_changed() does not send anything: it queues the
property (once; a second change before the flush adds nothing) on its
object's interface and schedules process_changes() for when the main loop
is idle. The flush sends one PropertiesChanged per interface with every
queued property, its value read at flush time -- so a state that went
idle -> active -> idle in one go is announced once, as "idle" -- or lists
it as invalidated when it no longer exists. Everything bluetoothd sends
through gdbus first flushes what is queued (g_dbus_send_message,
g_dbus_send_message_with_reply, method replies: "to guarantee message
order"), and an object unregistered with changes queued sends them before
InterfacesRemoved.

World.coalesce (template parameter coalesce_properties, default true)
turns this on; false sends each change at once, in its own signal.
"""

from collections import OrderedDict

import dbus.service
from gi.repository import GLib


class PropertyChanges:
    def __init__(self, world):
        self.world = world
        self.pending = OrderedDict()     # object -> OrderedDict(iface -> [names])
        self.idle_id = 0
        self.flushing = False

    def queue(self, obj, iface, names):
        ifaces = self.pending.setdefault(obj, OrderedDict())
        queued = ifaces.setdefault(iface, [])
        for n in names:
            if n not in queued:
                queued.append(n)
        if not self.idle_id:
            self.idle_id = GLib.idle_add(self._on_idle)

    def _on_idle(self):
        self.idle_id = 0
        self.flush()
        return False

    def flush(self, obj=None):
        """Send what is queued (for obj only, when given)."""
        if self.flushing:
            return
        self.flushing = True
        try:
            targets = [obj] if obj is not None else list(self.pending)
            for o in targets:
                for iface, names in self.pending.pop(o, {}).items():
                    o.emit_changed_now(iface, *names)
        finally:
            self.flushing = False
        if not self.pending and self.idle_id:
            GLib.source_remove(self.idle_id)
            self.idle_id = 0


_hooked = []


def flush_before_replies(world):
    """Method replies (also async ok/err callbacks) go out after a flush,
    as g_dbus_send_message() does; dbus-python sends them through these two
    module functions."""
    _hooked[:] = [world]
    if getattr(dbus.service, '_a2dpsrc_flush_hooked', False):
        return
    ret, err = dbus.service._method_reply_return, dbus.service._method_reply_error

    def reply_return(*args, **kw):
        for w in _hooked:
            w.flush_changes()
        return ret(*args, **kw)

    def reply_error(*args, **kw):
        for w in _hooked:
            w.flush_changes()
        return err(*args, **kw)
    dbus.service._method_reply_return = reply_return
    dbus.service._method_reply_error = reply_error
    dbus.service._a2dpsrc_flush_hooked = True
