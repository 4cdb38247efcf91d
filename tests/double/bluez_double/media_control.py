"""org.bluez.MediaControl1 of a Device on AVRCP devices (profiles/audio/
control.c of BlueZ 5.66): the pass-through commands, NotConnected while
AVRCP is not."""

import dbus
import dbus.service

from . import consts as C


# dbus.service.Interface: its methods join Device's D-Bus method table
class MediaControlMixin(dbus.service.Interface):
    """Mixed into device.Device."""

    def _control(self, what):
        if not self.control:
            raise C.not_connected()
        self.log('AVRCP %s' % what)

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Play(self):
        self._control('Play')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Pause(self):
        self._control('Pause')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Stop(self):
        self._control('Stop')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Next(self):
        self._control('Next')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Previous(self):
        self._control('Previous')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def VolumeUp(self):
        self._control('VolumeUp')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def VolumeDown(self):
        self._control('VolumeDown')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def FastForward(self):
        self._control('FastForward')

    @dbus.service.method(C.MEDIA_CONTROL_IFACE, in_signature='',
                         out_signature='')
    def Rewind(self):
        self._control('Rewind')
