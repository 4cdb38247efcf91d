"""The speaker's buttons and what plays (issue 16): our AVRCP player, as
bluetoothd 5.66 registers, reads and calls it (the double follows
profiles/audio/media.c and avrcp.c: tests/double/bluez_double/player.py).

A key pressed on the speaker becomes a pass-through command that bluetoothd
hands to the player registered on the adapter; the daemon turns it into
Manager1.MediaKey(key, device). What the board sets with SetNowPlaying and
PlaybackStatus reaches bluetoothd through RegisterPlayer's properties and the
player's PropertiesChanged."""

import signal
import time

import dbus

from common import MANAGER, MANAGER_PATH, PROPS, SLOW, SPEAKER, SPEAKER_PATH, wait_for
from control_case import ControlCase, plain

PLAYER_PATH = '/org/a2dpsrc/player/hci0'
MPRIS = 'org.mpris.MediaPlayer2.Player'
ERR = 'org.a2dpsrc.Error.'
KEYS = ['play', 'pause', 'stop', 'next', 'previous']


class KeyRecorder:
    """MediaKey signals (and the player's PropertiesChanged) as a board's
    media stack sees them: its own connection on a GLib main loop."""

    def __init__(self, bus):
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        self.ctx = GLib.MainContext.default()
        self.conn = dbus.bus.BusConnection(bus.address, mainloop=DBusGMainLoop())
        self.keys = []
        self.player_changes = []
        self.conn.add_signal_receiver(lambda k, a: self.keys.append((str(k), str(a))), 'MediaKey',
                                      MANAGER, 'org.a2dpsrc', MANAGER_PATH)
        self.conn.add_signal_receiver(self._player_changed, 'PropertiesChanged', PROPS, 'org.a2dpsrc',
                                      PLAYER_PATH)

    def _player_changed(self, iface, changed, invalidated):
        self.player_changes.append((str(iface), plain(changed)))

    def pump(self):
        while self.ctx.iteration(False):
            pass

    def got(self):
        self.pump()
        return list(self.keys)

    def wait_keys(self, n, timeout=3.0):
        return wait_for(lambda: len(self.got()) >= n and self.got(), timeout,
                        what='%d MediaKey signals (got %r)' % (n, self.keys))

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class PlayerCase(ControlCase):

    def keys(self):
        r = KeyRecorder(self.bus)
        self.addCleanup(r.close)
        return r

    def players(self):
        return [(str(a), str(s), str(p), plain(d)) for a, s, p, d in self.bluez.GetPlayers()]

    def wait_player(self, what='player registered', pred=lambda d: True, timeout=5.0):
        owner = self.bus.name_owner('org.a2dpsrc')

        def ours():
            for a, s, p, d in self.players():
                if a == 'hci0' and s == owner and p == PLAYER_PATH and pred(d):
                    return d
            return None
        return self.daemon.wait_for(ours, timeout, what=what)

    def press(self, key, path=SPEAKER_PATH):
        return bool(self.bluez.SpeakerPressKey(dbus.ObjectPath(path), key))

    def now_playing(self, **kw):
        d = dbus.Dictionary({}, signature='sv')
        for k, v in kw.items():
            d[k] = v
        self.call('SetNowPlaying', d, signature='a{sv}')


class RegistrationTests(PlayerCase):

    def test_player_registered_with_what_bluez_needs_to_forward_keys(self):
        self.start_daemon()
        p = self.wait_player()
        # media.c forwards a key only when CanControl and the key's Can* are true
        self.assertEqual(p['Flags'], ['control', 'next', 'pause', 'play', 'previous'])
        self.assertEqual(p['Status'], 'Stopped')
        self.assertEqual(p['Track'], {'Title': ''})
        self.assertIn('Player registered: sender=%s path=%s' % (self.bus.name_owner('org.a2dpsrc'),
                                                                 PLAYER_PATH), '\n'.join(self.bluez.GetLog()))

    def test_registered_again_after_bluetoothd_restarts_with_what_plays(self):
        self.add_speaker()
        self.start_daemon()
        self.wait_player()
        self.now_playing(Title='Blue in Green', Artist='Miles Davis', Album='Kind of Blue',
                         Duration=dbus.Int64(337000000))
        self.set_mprop('PlaybackStatus', dbus.String('playing', variant_level=1))
        # killed: no Release reaches the player, only the bus says it left
        self.bluez.restart(signal.SIGKILL)
        # a new bluetoothd knows nothing of the old registration
        p = self.wait_player('player registered again', timeout=30 if SLOW else 10)
        self.assertEqual(p['Track'], {'Title': 'Blue in Green', 'Artist': 'Miles Davis',
                                      'Album': 'Kind of Blue', 'Duration': '337000'})
        self.assertEqual(p['Status'], 'Playing')
        self.daemon.wait_for(lambda: self.bluez.registered_endpoints(), 30 if SLOW else 5,
                             what='endpoint registered again')
        self.connect_speaker()
        rec = self.keys()
        wait_for(lambda: self.press('pause'), 5, what='AVRCP up and the key taken by our player')
        self.assertEqual(rec.wait_keys(1), [('pause', SPEAKER)])

    def test_unregistered_when_the_daemon_stops(self):
        self.start_daemon()
        self.wait_player()
        self.daemon.stop()
        self.assertEqual(self.players(), [])
        self.assertIn('Player unregistered: sender=', '\n'.join(self.bluez.GetLog()))

    def test_adapter_without_avrcp_refuses_once_and_audio_still_works(self):
        self.bluez.RemoveAdapter('hci0')
        self.bluez.AddAdapter('hci0', dbus.Dictionary({'Avrcp': dbus.Boolean(False)}, signature='sv'))
        self.add_speaker()
        self.start_daemon()
        self.log_has('BlueZ takes no player on hci0 (org.bluez.Error.NotSupported')
        self.connect_speaker()
        time.sleep(2.5)     # past the first retry a failure would have had
        self.assertEqual(self.daemon.log_text().count('BlueZ takes no player'), 1)
        self.assertEqual(self.players(), [])

    def test_what_changes_while_bluez_is_busy_registering_still_reaches_it(self):
        # bluetoothd adds its watch of the player's PropertiesChanged only
        # when it handles RegisterPlayer: a change signalled while the call
        # waits in its queue is routed nowhere, and must be sent again
        self.bluez.RemoveAdapter('hci0')
        self.bluez.AddAdapter('hci0', dbus.Dictionary({'RegisterPlayerDelayMs': dbus.Int32(1500)},
                                                      signature='sv'))
        self.start_daemon()
        self.daemon.wait_for(lambda: 'RegisterPlayer from' in '\n'.join(self.bluez.GetLog()), 5,
                             what='RegisterPlayer waiting in bluetoothd')
        self.now_playing(Title='So What', Artist='Miles Davis')
        self.set_mprop('PlaybackStatus', dbus.String('playing', variant_level=1))
        self.assertEqual(self.players(), [], 'the change was made while the call waited')
        p = self.wait_player('player registered with what changed meanwhile',
                             pred=lambda d: d['Status'] == 'Playing' and d['Track'].get('Title') == 'So What')
        self.assertEqual(p['Track'], {'Title': 'So What', 'Artist': 'Miles Davis'})


class KeyTests(PlayerCase):

    def test_each_key_from_the_speaker_becomes_a_media_key_signal(self):
        self.add_speaker()
        self.start_daemon()
        self.wait_player()
        self.connect_speaker()
        rec = self.keys()
        mon = self.monitor()
        self.wait_monitor_listening(mon)
        wait_for(lambda: self.press('play'), 5, what='AVRCP up and the key taken by our player')
        rec.wait_keys(1)
        for key in KEYS[1:]:
            time.sleep(0.15)    # a person's pace
            self.assertTrue(self.press(key), key)
        got = rec.wait_keys(len(KEYS))
        self.assertEqual(got, [(k, SPEAKER) for k in KEYS])
        # bluetoothd called our player once per key, as media.c does
        self.assertEqual(self.wait_player()['Calls'], ['Play', 'Pause', 'Stop', 'Next', 'Previous'])
        for key in KEYS:
            mon.wait_line(r'^\d\d:\d\d:\d\d\.\d{3} MediaKey: %s %s$' % (key, SPEAKER))
        # keys BlueZ 5.66 keeps for itself (uinput) never reach us
        time.sleep(0.15)
        self.assertFalse(self.press('fast-forward'))
        time.sleep(0.3)
        self.assertEqual(len(rec.got()), len(KEYS))

    def test_held_or_flooded_keys_are_merged(self):
        self.add_speaker()
        self.start_daemon()
        self.wait_player()
        self.connect_speaker()
        rec = self.keys()
        wait_for(lambda: self.press('next'), 5, what='AVRCP up')
        rec.wait_keys(1)
        time.sleep(0.3)
        # a held key: the speaker repeats the press every 40 ms
        self.bluez.SpeakerHoldKey(dbus.ObjectPath(SPEAKER_PATH), 'next', dbus.UInt32(10), dbus.UInt32(40))
        time.sleep(0.8)
        self.assertEqual(rec.got(), [('next', SPEAKER)] * 2)
        # a flood of different keys, faster than any finger
        for _ in range(10):
            self.press('play')
            self.press('pause')
        time.sleep(0.3)
        self.assertEqual(rec.got(), [('next', SPEAKER)] * 2 + [('play', SPEAKER)])
        # every press reached the player: the merging is the daemon's
        self.assertEqual(len(self.wait_player()['Calls']), 1 + 10 + 20)
        # and a person's next press gets through
        self.press('stop')
        self.assertEqual(rec.wait_keys(4)[-1], ('stop', SPEAKER))

    def test_key_names_the_output_with_speaker_mode_off(self):
        """Speaker mode off: the speaker stays connected (its AVRCP too) and
        is still the Output; its keys still reach the board, naming it."""
        self.add_speaker()
        self.start_daemon()
        self.wait_player()
        self.connect_speaker()
        self.set_mprop('SpeakerMode', dbus.Boolean(False, variant_level=1))
        rec = self.keys()
        wait_for(lambda: self.press('play'), 5, what='AVRCP up')
        self.assertEqual(rec.wait_keys(1), [('play', str(self.mprop('Output')))])
        self.assertEqual(str(self.mprop('Output')), SPEAKER)

    def test_calls_from_anyone_but_bluetoothd_are_refused(self):
        self.add_speaker()
        self.start_daemon()
        self.wait_player()
        rec = self.keys()
        player = self.bus.conn.get_object('org.a2dpsrc', PLAYER_PATH, introspect=False)
        for method, args, iface in [('Play', (), MPRIS), ('Next', (), MPRIS), ('Release', (), MPRIS),
                                    ('GetAll', (MPRIS,), PROPS), ('Get', (MPRIS, 'Metadata'), PROPS)]:
            with self.assertRaises(dbus.DBusException) as cm:
                getattr(player, method)(*args, dbus_interface=iface)
            self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.AccessDenied',
                             method)
        # an object that is no player
        with self.assertRaises(dbus.DBusException) as cm:
            self.bus.conn.get_object('org.a2dpsrc', PLAYER_PATH + 'x', introspect=False).Play(
                dbus_interface=MPRIS)
        self.assertEqual(cm.exception.get_dbus_name(), 'org.freedesktop.DBus.Error.UnknownObject')
        time.sleep(0.3)
        self.assertEqual(rec.got(), [])
        self.log_has('refused Play on the player from %s' % self.bus.conn.get_unique_name())
        # the stranger's Release changed nothing: the speaker's keys still come
        self.connect_speaker()
        wait_for(lambda: self.press('play'), 5, what='AVRCP up')
        self.assertEqual(rec.wait_keys(1), [('play', SPEAKER)])


class NowPlayingTests(PlayerCase):

    def test_now_playing_and_status_reach_the_player_as_bluez_reads_them(self):
        self.start_daemon()
        self.wait_player()
        rec = self.keys()
        mrec = self.recorder()
        before = len(self.wait_player()['Events'])
        self.now_playing(Title='So What', Artist='Miles Davis', Album='Kind of Blue',
                         Duration=dbus.Int64(562000000))
        p = self.wait_player('track', lambda d: d['Track'].get('Title') == 'So What')
        self.assertEqual(p['Track'], {'Title': 'So What', 'Artist': 'Miles Davis', 'Album': 'Kind of Blue',
                                      'Duration': '562000'})
        self.assertEqual(p['Events'][before:], ['TRACK_CHANGED', 'TRACK_REACHED_START'])
        self.assertEqual(p['Signals'], 1)
        # the player's own PropertiesChanged, as any MPRIS client sees it
        wait_for(lambda: rec.pump() or rec.player_changes, 3, what='player PropertiesChanged')
        iface, changed = rec.player_changes[0]
        self.assertEqual(iface, MPRIS)
        self.assertEqual(sorted(changed), ['Metadata'])
        md = changed['Metadata']
        self.assertEqual(md['xesam:title'], 'So What')
        self.assertEqual(md['xesam:artist'], ['Miles Davis'])
        self.assertEqual(md['xesam:album'], 'Kind of Blue')
        self.assertEqual(md['mpris:length'], 562000000)
        self.assertTrue(md['mpris:trackid'].startswith('/org/a2dpsrc/track/'))
        mrec.wait('NowPlaying', {'Title': 'So What', 'Artist': 'Miles Davis', 'Album': 'Kind of Blue',
                                 'Duration': 562000000, 'Position': 0})

        # PlaybackStatus: Manager1 property -> the player's, and AVRCP's
        self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'PlaybackStatus', 's', 'playing')
        mrec.wait('PlaybackStatus', 'playing')
        p = self.wait_player('playing', lambda d: d.get('Status') == 'Playing')
        self.assertEqual(p['Events'][-1], 'STATUS_CHANGED Playing')
        self.assertEqual(plain(self.mprop('PlaybackStatus')), 'playing')
        self.ctl('playback-status', 'paused')
        self.wait_player('paused', lambda d: d.get('Status') == 'Paused')
        # the same status again is no news
        n = self.wait_player()['Signals']
        self.set_mprop('PlaybackStatus', dbus.String('paused', variant_level=1))
        time.sleep(0.3)
        self.assertEqual(self.wait_player()['Signals'], n)

        # a seek in the same track: Position alone
        self.now_playing(Position=dbus.Int64(60000000))
        p = self.wait_player('seek', lambda d: d['Signals'] == n + 1)
        self.assertEqual(p['Position'], 60000)
        self.assertEqual(p['Track']['Title'], 'So What')
        self.assertEqual(p['Events'][-1], 'STATUS_CHANGED forward-seek')
        # a new track with a start position: BlueZ gets the position after the track
        self.now_playing(Title='Freddie Freeloader', Duration=dbus.Int64(589000000),
                         Position=dbus.Int64(1000000))
        p = self.wait_player('new track', lambda d: d['Track']['Title'] == 'Freddie Freeloader')
        self.assertEqual(p['Track'], {'Title': 'Freddie Freeloader', 'Duration': '589000'})
        self.assertEqual(p['Position'], 1000)
        self.assertEqual(plain(self.mprop('NowPlaying')),
                         {'Title': 'Freddie Freeloader', 'Artist': '', 'Album': '',
                          'Duration': 589000000, 'Position': 1000000})
        # nothing playing: an empty track
        self.now_playing(Title='')
        p = self.wait_player('cleared', lambda d: d['Track'] == {'Title': ''})

    def test_bad_metadata_is_refused_and_never_forwarded(self):
        self.start_daemon()
        self.wait_player()
        self.now_playing(Title='Kind of Blue', Duration=dbus.Int64(1000000))
        before = self.wait_player('track', lambda d: d['Track'].get('Title') == 'Kind of Blue')
        np_before = plain(self.mprop('NowPlaying'))
        inv = ERR + 'InvalidArguments'
        bad = [
            ({'Title': dbus.Int32(5)}, 'Title is a string'),
            ({'Title': dbus.Array([dbus.Byte(0xc3), dbus.Byte(0x28)], signature='y')}, 'Title is a string'),
            ({'Artist': dbus.Array(['a', 'b'], signature='s')}, 'Artist is a string'),
            ({'Title': 'x' * 513}, 'Title is 513 bytes long; at most 512'),
            ({'Album': 'é' * 300}, 'Album is 600 bytes long'),
            ({'Title': 'bell\a'}, 'Title is not valid UTF-8 text (or holds control characters)'),
            ({'Duration': dbus.UInt64(5)}, 'Duration is a number of microseconds (x, int64)'),
            ({'Duration': dbus.Int32(5)}, 'Duration is a number of microseconds'),
            ({'Duration': dbus.Int64(-1)}, 'Duration -1 us is out of range'),
            ({'Duration': dbus.Int64(10 ** 15)}, 'out of range'),
            ({'Title': 'ok', 'Duration': dbus.Int64(10), 'Position': dbus.Int64(11)},
             'Position 11 us is past Duration 10 us'),
            ({'Title': 'ok', 'Position': dbus.Int64(11)}, 'Position needs a known Duration'),
            ({'Position': dbus.Int64(2000000)}, 'Position 2000000 us is past Duration 1000000 us'),
            ({'Genre': 'jazz'}, "unknown key 'Genre'"),
            # one bad entry refuses the good ones with it
            ({'Title': 'Good', 'Artist': dbus.Int32(1)}, 'Artist is a string'),
        ]
        for entries, text in bad:
            d = dbus.Dictionary(entries, signature='sv')
            with self.assertRaises(dbus.DBusException, msg=repr(entries)) as cm:
                self.call('SetNowPlaying', d, signature='a{sv}')
            self.assertEqual(cm.exception.get_dbus_name(), inv, entries)
            self.assertIn(text, cm.exception.get_dbus_message(), entries)
        for args, sig in [(('x',), 's'), ((dbus.Dictionary({'Title': 'x'}, signature='ss'),), 'a{ss}'),
                          ((dbus.Dictionary({}, signature='sv'), 'x'), 'a{sv}s'), ((), '')]:
            with self.assertRaises(dbus.DBusException) as cm:
                self.call('SetNowPlaying', *args, signature=sig)
            self.assertEqual(cm.exception.get_dbus_name(), inv, sig)
            self.assertIn('SetNowPlaying takes one a{sv}', cm.exception.get_dbus_message())
        # (invalid UTF-8 in a string cannot reach us at all: libdbus checks
        # it on both ends; tests/unit/test-now-playing.c checks ours)
        for value in [dbus.String('Playing', variant_level=1), dbus.String('rewinding', variant_level=1),
                      dbus.Int32(1, variant_level=1), dbus.Boolean(True, variant_level=1)]:
            with self.assertRaises(dbus.DBusException) as cm:
                self.set_mprop('PlaybackStatus', value)
            self.assertEqual(cm.exception.get_dbus_name(), inv, value)
        time.sleep(0.3)
        after = self.wait_player()
        self.assertEqual(after['Track'], before['Track'])
        self.assertEqual(after['Status'], 'Stopped')
        self.assertEqual(after['Signals'], before['Signals'])
        self.assertEqual(plain(self.mprop('NowPlaying')), np_before)
        self.assertEqual(plain(self.mprop('PlaybackStatus')), 'stopped')
        # the daemon is fine and still takes good input
        self.now_playing(Title='Flamenco Sketches')
        self.wait_player('good input', lambda d: d['Track'].get('Title') == 'Flamenco Sketches')


class TwoDevicesTests(PlayerCase):
    """BlueZ's player calls do not say which device pressed
    (docs/dbus-api.md, MediaKey): what the signal names then."""

    def test_player_on_each_adapter_and_keys_through_another_adapter_name_no_device(self):
        self.bluez.AddAdapter('hci1', dbus.Dictionary({}, signature='sv'))
        self.add_speaker()
        other = str(self.bluez.add_device('hci1', '00:11:22:33:44:66', 'Other Speaker',
                                          {'Paired': True, 'Trusted': True}))
        self.start_daemon()
        owner = self.bus.name_owner('org.a2dpsrc')
        self.daemon.wait_for(lambda: sorted((a, p) for a, s, p, _ in self.players() if s == owner) ==
                             [('hci0', PLAYER_PATH), ('hci1', '/org/a2dpsrc/player/hci1')], 5,
                             what='a player on each adapter')
        self.connect_speaker()
        rec = self.keys()
        wait_for(lambda: self.press('play'), 5, what='AVRCP up on the output')
        self.assertEqual(rec.wait_keys(1), [('play', SPEAKER)])
        # a second device connects on the other adapter and presses a key
        self.bluez.speaker_connect(other)
        time.sleep(0.2)
        wait_for(lambda: self.press('pause', other), 5, what='AVRCP up on the other device')
        self.assertEqual(rec.wait_keys(2)[1], ('pause', ''))
        self.assertEqual(str(self.mprop('Output')), SPEAKER)
