#!/usr/bin/python3
"""A stranger's laptop tries to bond with the board (check-vm's stranger
scenario), through the one bluetoothd in the VM:

  stranger_pair.py STRANGER_HCI BOARD_ADDR

On /org/bluez/STRANGER_HCI: a scan until the board shows up (it must be
discoverable), then Device1.Pair on it with no agent of our own, as a
Just-Works device does. Prints one line and exits 0 when the pairing was
refused, 1 when it bonded, 2 when the board was never found or Pair never
answered.
"""

import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib


def main(hci, board):
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    adapter_path = '/org/bluez/' + hci
    dev_path = '%s/dev_%s' % (adapter_path, board.replace(':', '_'))
    adapter = dbus.Interface(bus.get_object('org.bluez', adapter_path), 'org.bluez.Adapter1')
    loop = GLib.MainLoop()
    result = {'rc': 2, 'text': 'the board was not found by the scan'}

    def done(rc, text):
        result.update(rc=rc, text=text)
        loop.quit()

    def paired():
        props = dbus.Interface(bus.get_object('org.bluez', dev_path), 'org.freedesktop.DBus.Properties')
        if props.Get('org.bluez.Device1', 'Paired'):
            done(1, 'bonded with the board: Pair succeeded')
        else:
            done(1, 'Pair answered success, yet Paired is false')

    def refused(e):
        done(0, 'refused: %s: %s' % (e.get_dbus_name(), e.get_dbus_message()))

    def pair():
        try:
            adapter.StopDiscovery()
        except dbus.exceptions.DBusException:
            pass
        dev = dbus.Interface(bus.get_object('org.bluez', dev_path), 'org.bluez.Device1')
        print('found the board; calling Pair', flush=True)
        dev.Pair(reply_handler=paired, error_handler=refused, timeout=40)
        return False

    def look():
        om = dbus.Interface(bus.get_object('org.bluez', '/'), 'org.freedesktop.DBus.ObjectManager')
        if dev_path in om.GetManagedObjects():
            GLib.idle_add(pair)
            return False
        return True

    adapter.StartDiscovery()
    GLib.timeout_add(200, look)
    GLib.timeout_add_seconds(60, lambda: done(2, result['text']) or False)
    loop.run()
    print(result['text'], flush=True)
    return result['rc']


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
