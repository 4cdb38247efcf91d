"""The daemon's side of the bus socket: a message too large for the socket
at once (the reply to GetDevices on a board that knows many devices, a big
signal) goes out in full without waiting for some other message to push it.

libdbus writes what the socket takes and leaves the rest to its write
watch; a write watch that is never armed holds the rest until the daemon
happens to send something else."""

import threading
import time

import dbus

from common import A2dpTestCase, MANAGER, MANAGER_PATH

DEVICES = 1500
LONG_NAME = 'x' * 120
CALLERS = 4


class BusIoTests(A2dpTestCase):

    def test_replies_larger_than_the_socket_are_sent_at_once(self):
        self.start_daemon(speaker_mode=False)
        for i in range(DEVICES):
            self.bluez.control.AddDevice('hci0', '02:00:00:00:%02X:%02X' % (i >> 8, i & 0xff),
                                         'Device %04d %s' % (i, LONG_NAME),
                                         dbus.Dictionary({'Known': True}, signature='sv'))
        time.sleep(1.0)           # the daemon reads the last InterfacesAdded
        # each reply is ~400 kB, more than a Unix socket's send buffer; several
        # at once make sure the bus daemon cannot drain them as fast as written
        for round_ in range(3):
            results = []

            def call():
                conn = self.bus.connect()
                try:
                    mgr = dbus.Interface(conn.get_object('org.a2dpsrc', MANAGER_PATH), MANAGER)
                    t0 = time.monotonic()
                    n = len(mgr.GetDevices(timeout=10))
                    results.append((n, time.monotonic() - t0))
                except dbus.DBusException as e:
                    results.append((e.get_dbus_name(), None))
                finally:
                    conn.close()
            threads = [threading.Thread(target=call) for _ in range(CALLERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            self.assertEqual(len(results), CALLERS)
            for n, took in results:
                self.assertEqual(n, DEVICES, 'round %d: %s' % (round_, results))
                self.assertLess(took, 3.0, 'round %d: %s' % (round_, results))
