"""D-Bus object base for the double's bluetoothd objects.

Reproduces what BlueZ's gdbus layer (gdbus/object.c) does for every object:
  * org.freedesktop.DBus.Properties with gdbus' errors:
      Get/GetAll on an unknown interface  -> InvalidArgs "No such interface 'X'"
      Get of an unknown/absent property   -> InvalidArgs "No such property 'X'"
      Set of an unknown/absent property   -> UnknownProperty "No such property 'X'"
      Set of a read-only property         -> PropertyReadOnly
                                             "Property 'X' is not writable"
      Set with the wrong value type       -> InvalidSignature
                                             "Invalid signature for 'X'"
  * properties that only exist in some states (the "exists" callback) are
    left out of GetAll/GetManagedObjects and PropertiesChanged lists them as
    invalidated when they disappear;
  * a method called with the wrong argument signature is not dispatched:
    libdbus answers org.freedesktop.DBus.Error.UnknownMethod;
  * GetManagedObjects/InterfacesAdded list org.freedesktop.DBus.Introspectable
    and org.freedesktop.DBus.Properties (empty) next to the real interfaces.
"""

from collections import OrderedDict
from xml.etree import ElementTree

import dbus
import dbus.lowlevel
import dbus.service

from .consts import (INTROSPECT_IFACE, PROPS_IFACE, OM_IFACE, dbus_error)


def signature_of(value):
    """Wire signature of a value received from dbus-python."""
    simple = [
        (dbus.Boolean, 'b'), (dbus.Byte, 'y'), (dbus.Int16, 'n'),
        (dbus.UInt16, 'q'), (dbus.Int32, 'i'), (dbus.UInt32, 'u'),
        (dbus.Int64, 'x'), (dbus.UInt64, 't'), (dbus.Double, 'd'),
        (dbus.ObjectPath, 'o'), (dbus.Signature, 'g'), (dbus.String, 's'),
        (dbus.types.UnixFd, 'h'),
    ]
    for t, sig in simple:
        if isinstance(value, t):
            return sig
    if isinstance(value, (dbus.ByteArray, bytes)):
        return 'ay'
    if isinstance(value, dbus.Dictionary):
        return 'a{%s}' % (value.signature or 'sv')
    if isinstance(value, dbus.Array):
        return 'a' + (value.signature or 'v')
    if isinstance(value, dbus.Struct):
        return '(%s)' % ''.join(signature_of(v) for v in value)
    if isinstance(value, bool):
        return 'b'
    if isinstance(value, int):
        return 'i'
    if isinstance(value, str):
        return 's'
    return '?'


def ay(data):
    return dbus.Array([dbus.Byte(b) for b in bytes(data)], signature='y')


def as_(items):
    return dbus.Array([dbus.String(x) for x in items], signature='s')


class Prop:
    __slots__ = ('sig', 'get', 'set', 'exists')

    def __init__(self, sig, get, set=None, exists=None):
        self.sig = sig
        self.get = get
        self.set = set
        self.exists = exists

    def present(self):
        return self.exists is None or bool(self.exists())


class BzObject(dbus.service.Object):
    # dbusmock replaces dbus.service._method_lookup with a version that first
    # looks at obj.methods[interface or obj.interface]; keep it happy.
    methods = {}
    interface = ''

    def __init__(self, world, path):
        dbus.service.Object.__init__(self)
        self.world = world
        self.path = dbus.ObjectPath(path)
        self._props = OrderedDict()
        self._announced = set()      # (iface, name) clients have seen
        self.exported = False

    # -- interfaces / properties -------------------------------------------
    def add_interface(self, iface):
        self._props.setdefault(iface, OrderedDict())

    def add_prop(self, iface, name, sig, get, set=None, exists=None):
        self._props.setdefault(iface, OrderedDict())[name] = Prop(
            sig, get, set, exists)

    def iface_active(self, iface):
        """Override to hide an interface in some states."""
        return True

    def interfaces(self):
        return [i for i in self._props if self.iface_active(i)]

    def props_of(self, iface):
        out = dbus.Dictionary(signature='sv')
        for name, p in self._props.get(iface, {}).items():
            if p.present():
                out[name] = p.get()
                self._announced.add((iface, name))
        return out

    def managed(self):
        """a{sa{sv}} as GetManagedObjects / InterfacesAdded carry it."""
        out = dbus.Dictionary(signature='sa{sv}')
        ifaces = self.interfaces()
        out[INTROSPECT_IFACE] = dbus.Dictionary(signature='sv')
        for n, iface in enumerate(ifaces):
            out[iface] = self.props_of(iface)
            if n == 0:
                out[PROPS_IFACE] = dbus.Dictionary(signature='sv')
        if not ifaces:
            out[PROPS_IFACE] = dbus.Dictionary(signature='sv')
        return out

    def all_interface_names(self):
        return list(self.managed().keys())

    def changed(self, iface, *names):
        """PropertiesChanged for names (absent ones are invalidated): queued
        and merged as gdbus does (bluez_double/changes.py), or at once."""
        if not self.exported or not self.iface_active(iface):
            return
        if self.world.coalesce:
            self.world.changes.queue(self, iface, names)
            return
        self.emit_changed_now(iface, *names)

    def emit_changed_now(self, iface, *names):
        if not self.exported or not self.iface_active(iface):
            return
        props = self._props.get(iface, {})
        values = dbus.Dictionary(signature='sv')
        gone = []
        for n in names:
            p = props.get(n)
            if p is None:
                continue
            if p.present():
                values[n] = p.get()
                self._announced.add((iface, n))
            elif (iface, n) in self._announced:
                self._announced.discard((iface, n))
                gone.append(n)
        if not values and not gone:
            return
        self.world.emit_signal(self.path, PROPS_IFACE, 'PropertiesChanged',
                               'sa{sv}as', iface, values,
                               dbus.Array(gone, signature='s'))

    # -- export --------------------------------------------------------------
    def export(self):
        if self.exported:
            return
        self.add_to_connection(self.world.bus, self.path)
        self.exported = True
        self.world.objects[str(self.path)] = self
        self.world.emit_signal('/', OM_IFACE, 'InterfacesAdded', 'oa{sa{sv}}',
                               self.path, self.managed())

    def unexport(self):
        if not self.exported:
            return
        # gdbus' generic_unregister(): queued changes go out first
        self.world.flush_changes(self)
        names = self.all_interface_names()
        self.world.objects.pop(str(self.path), None)
        self.exported = False
        try:
            self.remove_from_connection()
        except Exception:
            pass
        self.world.emit_signal('/', OM_IFACE, 'InterfacesRemoved', 'oas',
                               self.path, dbus.Array(names, signature='s'))

    # -- dispatch ---------------------------------------------------------------
    def _message_cb(self, connection, message):
        if isinstance(message, dbus.lowlevel.MethodCallMessage):
            member = message.get_member()
            iface = message.get_interface()
            sig = message.get_signature() or ''
            reject = False
            if iface and iface not in (INTROSPECT_IFACE, PROPS_IFACE) and \
                    iface in self._props and not self.iface_active(iface):
                reject = True
            else:
                try:
                    _, parent = dbus.service._method_lookup(self, member,
                                                            iface)
                    want = getattr(parent, '_dbus_in_signature', None)
                    if want is not None and want != sig:
                        reject = True
                except Exception:
                    pass
            if reject:
                err = dbus.lowlevel.ErrorMessage(
                    message, 'org.freedesktop.DBus.Error.UnknownMethod',
                    'Method "%s" with signature "%s" on interface "%s" '
                    "doesn't exist\n" % (member, sig, iface))
                connection.send_message(err)
                return
        return dbus.service.Object._message_cb(self, connection, message)

    # -- org.freedesktop.DBus.Properties ------------------------------------
    @dbus.service.method(PROPS_IFACE, in_signature='ss', out_signature='v')
    def Get(self, iface, name):
        if iface not in self._props or not self.iface_active(iface):
            raise dbus_error('InvalidArgs', "No such interface '%s'" % iface)
        p = self._props[iface].get(name)
        if p is None or not p.present():
            raise dbus_error('InvalidArgs', "No such property '%s'" % name)
        return p.get()

    @dbus.service.method(PROPS_IFACE, in_signature='s',
                         out_signature='a{sv}')
    def GetAll(self, iface):
        if iface not in self._props or not self.iface_active(iface):
            raise dbus_error('InvalidArgs', "No such interface '%s'" % iface)
        return self.props_of(iface)

    @dbus.service.method(PROPS_IFACE, in_signature='ssv', out_signature='',
                         sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def Set(self, iface, name, value, sender=None, ok=None, err=None):
        if iface not in self._props or not self.iface_active(iface):
            return err(dbus_error('InvalidArgs',
                                  "No such interface '%s'" % iface))
        p = self._props[iface].get(name)
        if p is None:
            return err(dbus_error('UnknownProperty',
                                  "No such property '%s'" % name))
        if p.set is None:
            return err(dbus_error('PropertyReadOnly',
                                  "Property '%s' is not writable" % name))
        if not p.present():
            return err(dbus_error('UnknownProperty',
                                  "No such property '%s'" % name))
        if signature_of(value) != p.sig:
            return err(dbus_error('InvalidSignature',
                                  "Invalid signature for '%s'" % name))
        self.world.log('Set %s %s.%s = %r (from %s)' % (self.path, iface,
                                                       name, value, sender))
        try:
            after = p.set(value, sender)
        except dbus.exceptions.DBusException as e:
            return err(e)
        ok()
        if callable(after):
            after()

    # -- introspection with properties ---------------------------------------
    @dbus.service.method(INTROSPECT_IFACE, in_signature='', out_signature='s',
                         path_keyword='object_path',
                         connection_keyword='connection')
    def Introspect(self, object_path, connection):
        xml = dbus.service.Object.Introspect(self, object_path, connection)
        try:
            tree = ElementTree.fromstring(xml)
        except ElementTree.ParseError:
            return xml
        for iface, props in self._props.items():
            if not self.iface_active(iface):
                for node in tree.findall("interface[@name='%s']" % iface):
                    tree.remove(node)
                continue
            node = tree.find("interface[@name='%s']" % iface)
            if node is None:
                node = ElementTree.SubElement(tree, 'interface',
                                              {'name': iface})
            for name, p in props.items():
                ElementTree.SubElement(node, 'property', {
                    'name': name, 'type': p.sig,
                    'access': 'readwrite' if p.set else 'read'})
        return ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object '
                'Introspection 1.0//EN"\n"http://www.freedesktop.org/standards'
                '/dbus/1.0/introspect.dtd">\n' +
                ElementTree.tostring(tree, encoding='unicode'))
