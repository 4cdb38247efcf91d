#!/usr/bin/python3
"""A RealtimeKit1 double on the system bus (DBUS_SYSTEM_BUS_ADDRESS): its
properties, and MakeThreadRealtime as rtkit-daemon serves it, refusing a
priority above MaxRealtimePriority (rtkit's default is 20) and setting the
thread SCHED_RR with SCHED_RESET_ON_FORK itself, as rtkit-daemon does
with its own privilege.

Usage: rtkit_double.py MAX_PRIORITY   (prints 'ready' once on the bus)"""

import os
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = 'org.freedesktop.RealtimeKit1'
PATH = '/org/freedesktop/RealtimeKit1'
PROPS = 'org.freedesktop.DBus.Properties'


class RealtimeKit(dbus.service.Object):
    def __init__(self, bus, max_priority):
        super().__init__(bus, PATH)
        self.props = {'MaxRealtimePriority': dbus.Int32(max_priority),
                      'MinNiceLevel': dbus.Int32(-15),
                      'RTTimeUSecMax': dbus.Int64(200000)}

    @dbus.service.method(PROPS, in_signature='ss', out_signature='v')
    def Get(self, iface, prop):
        if iface != NAME or prop not in self.props:
            raise dbus.exceptions.DBusException('no such property', name='org.freedesktop.DBus.Error.InvalidArgs')
        return self.props[prop]

    @dbus.service.method(NAME, in_signature='tu', out_signature='')
    def MakeThreadRealtime(self, thread, priority):
        if priority > self.props['MaxRealtimePriority']:
            raise dbus.exceptions.DBusException('priority too high',
                                                name='org.freedesktop.DBus.Error.AccessDenied')
        os.sched_setscheduler(int(thread), os.SCHED_RR | os.SCHED_RESET_ON_FORK,
                              os.sched_param(int(priority)))


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    obj = RealtimeKit(bus, int(sys.argv[1]))
    name = dbus.service.BusName(NAME, bus)      # held while it runs
    print('ready', flush=True)
    GLib.MainLoop().run()
    return obj, name


if __name__ == '__main__':
    main()
