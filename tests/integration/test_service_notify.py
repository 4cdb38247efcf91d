"""What systemd is told (sd_notify): READY=1 only once the daemon is on
the bus with its objects, so that units ordered after it find them."""

import time

import dbus
import dbus.bus

from common import A2dpTestCase


class ServiceNotifyTests(A2dpTestCase):

    def test_no_ready_before_the_bus_name(self):
        # the capture is not there at start (snd-aloop's producer idle at
        # boot), and another process holds our name: the daemon fails to
        # start, and must not have told systemd it had
        path, got = self.notify_socket()
        other = dbus.bus.BusConnection(self.bus.address)
        self.addCleanup(other.close)
        self.assertEqual(other.request_name('org.a2dpsrc', dbus.bus.NAME_FLAG_DO_NOT_QUEUE),
                         dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.start_daemon(capture='later', wait_registered=False, env={'NOTIFY_SOCKET': path})
        self.assertEqual(self.daemon.wait_exit(5), 1)
        time.sleep(0.3)
        self.assertFalse([m for _, m in got if 'READY=1' in m], got)

    def test_ready_once_on_the_bus(self):
        path, got = self.notify_socket()
        self.start_daemon(capture='later', env={'NOTIFY_SOCKET': path})
        self.daemon.wait_for(lambda: [m for _, m in got if 'READY=1' in m], 5, what='READY=1')
        self.assertIsNone(self.daemon.returncode)
