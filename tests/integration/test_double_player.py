"""Media1.RegisterPlayer on the double and the AVRCP pass-through keys
it calls the registered player with."""

import unittest

import dbus
import dbus.service

from double_client import (DoubleTest, HCI0, MEDIA, PROPS, call, spin, spin_until)


MPRIS = 'org.mpris.MediaPlayer2.Player'


class FakePlayer(dbus.service.Object):
    """A registered MPRIS player: records what bluetoothd calls, with the
    caller and whether a reply was wanted."""

    def __init__(self, conn, path, events):
        dbus.service.Object.__init__(self, conn, path)
        self.events = events

    def _got(self, name, sender):
        self.events.add('player', name, str(sender))

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Play(self, sender=None):
        self._got('Play', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Pause(self, sender=None):
        self._got('Pause', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Stop(self, sender=None):
        self._got('Stop', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Next(self, sender=None):
        self._got('Next', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Previous(self, sender=None):
        self._got('Previous', sender)

    @dbus.service.method(MPRIS, sender_keyword='sender')
    def Release(self, sender=None):
        self._got('Release', sender)

    @dbus.service.signal(PROPS, signature='sa{sv}as')
    def PropertiesChanged(self, iface, changed, invalidated):
        pass


def sv(**kw):
    return dbus.Dictionary(kw, signature='sv')


CAN_ALL = dict(CanControl=dbus.Boolean(True), CanPlay=dbus.Boolean(True), CanPause=dbus.Boolean(True),
               CanGoNext=dbus.Boolean(True), CanGoPrevious=dbus.Boolean(True))


class TestPlayer(DoubleTest):
    """Media1.RegisterPlayer and pass-through keys as media.c/avrcp.c 5.66."""

    def players(self):
        return {str(p): (str(s), d) for _, s, p, d in self.control.GetPlayers()}

    def test_register_errors_and_what_bluez_keeps(self):
        c = self.client()
        media = c.iface(HCI0, MEDIA)
        # a known property of the wrong type: refused, nothing kept
        for bad in (sv(PlaybackStatus=dbus.Int32(1)), sv(CanPlay=dbus.String('yes')),
                    sv(Metadata=dbus.String('x')),
                    sv(Metadata=sv(**{'xesam:artist': dbus.String('not a list')})),
                    sv(Position=dbus.UInt32(5)), sv(LoopStatus=dbus.String('Sometimes'))):
            with self.assertRaises(dbus.DBusException) as cm:
                call(media.RegisterPlayer, dbus.ObjectPath('/p'), bad)
            self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.InvalidArguments', bad)
            self.assertEqual(self.players(), {})
        # names are compared without case; unknown ones are ignored
        call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv(
            playbackstatus=dbus.String('Paused'), Unknown=dbus.Int32(1), Metadata=sv(**{
                'xesam:title': dbus.String('T'), 'xesam:artist': dbus.Array(['A', 'B'], signature='s'),
                'mpris:length': dbus.Int64(2000000)}), **CAN_ALL))
        sender, d = self.players()['/p']
        self.assertEqual(sender, c.name)
        self.assertEqual(str(d['Status']), 'Paused')
        self.assertEqual(dict((str(k), str(v)) for k, v in d['Track'].items()),
                         {'Title': 'T', 'Artist': 'A', 'Duration': '2000'})
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv())
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.AlreadyExists')
        with self.assertRaises(dbus.DBusException) as cm:
            call(media.UnregisterPlayer, dbus.ObjectPath('/q'))
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.DoesNotExist')
        # another sender's UnregisterPlayer does not reach ours
        with self.assertRaises(dbus.DBusException):
            call(self.client().iface(HCI0, MEDIA).UnregisterPlayer, dbus.ObjectPath('/p'))
        call(media.UnregisterPlayer, dbus.ObjectPath('/p'))
        self.assertEqual(self.players(), {})
        # the owner leaving the bus drops its player
        call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv())
        c.close()
        spin_until(lambda: self.players() == {}, what='player dropped with its owner')

    def test_adapter_without_avrcp(self):
        self.control.AddAdapter('hci1', sv(Avrcp=dbus.Boolean(False)))
        with self.assertRaises(dbus.DBusException) as cm:
            call(self.client().iface('/org/bluez/hci1', MEDIA).RegisterPlayer, dbus.ObjectPath('/p'), sv())
        self.assertEqual(cm.exception.get_dbus_name(), 'org.bluez.Error.NotSupported')

    def test_keys_follow_can_flags_and_come_from_bluez(self):
        dev = self.add_speaker()
        c = self.client()
        c.register_app()
        FakePlayer(c.conn, '/p', c.events)
        media = c.iface(HCI0, MEDIA)
        call(media.RegisterPlayer, dbus.ObjectPath('/p'), sv(CanControl=dbus.Boolean(True),
                                                              CanPlay=dbus.Boolean(True)))
        self.connect(c, dev)
        press = self.control.SpeakerPressKey
        spin_until(lambda: dev in [str(p) for p, d in self.control.GetDevices().items()
                                   if d['Connected']], what='connected')
        spin(0.5)   # AVRCP comes up after A2DP
        self.assertTrue(press(dbus.ObjectPath(dev), 'play'))
        self.assertTrue(press(dbus.ObjectPath(dev), 'stop'))    # Stop needs CanControl only
        self.assertFalse(press(dbus.ObjectPath(dev), 'pause'))  # CanPause not given: uinput
        self.assertFalse(press(dbus.ObjectPath(dev), 'fast-forward'))
        spin_until(lambda: len(c.events.find('player')) == 2, what='two calls to the player')
        owner = self.bus.name_owner('org.bluez')
        self.assertEqual([e[1:] for e in c.events.find('player')], [('Play', owner), ('Stop', owner)])
        # PropertiesChanged from the owner, at the player path, is followed
        msg = dbus.lowlevel.SignalMessage('/p', PROPS, 'PropertiesChanged')
        msg.append(MPRIS, sv(CanPause=dbus.Boolean(True), PlaybackStatus=dbus.String('Playing')),
                   dbus.Array([], signature='s'), signature='sa{sv}as')
        c.conn.send_message(msg)
        spin_until(lambda: str(self.players()['/p'][1].get('Status', '')) == 'Playing', what='status followed')
        self.assertTrue(press(dbus.ObjectPath(dev), 'pause'))
        # the adapter going away releases the player
        self.control.RemoveAdapter('hci0')
        spin_until(lambda: c.events.find('player', lambda e: e[1] == 'Release'), what='Release')


if __name__ == '__main__':
    unittest.main()
