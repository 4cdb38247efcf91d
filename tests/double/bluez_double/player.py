"""Media1.RegisterPlayer and the AVRCP target side of bluetoothd 5.66.

Sources: profiles/audio/media.c (register_player, media_player_create,
parse_player_properties, set_status/set_position/parse_player_metadata,
properties_changed/position_changed, media_player_send, media_player_exit,
release_player), profiles/audio/avrcp.c (avrcp_register_player,
target_init, handle_passthrough and its handler table) and
profiles/audio/avctp.c (handle_panel_passthrough).

What the double reproduces:
  * RegisterPlayer(o, a{sv}): AlreadyExists for the same sender and path;
    NotSupported when the adapter has no AVRCP server (adapter option
    "Avrcp": false); each known property of the dict is checked as media.c
    does (names compared case-insensitively, wrong type -> InvalidArguments
    and the player is dropped); unknown names are ignored.  Nothing is read
    back from the player: no Get/GetAll, ever.
  * After registering, bluetoothd follows the player through
    PropertiesChanged (interface org.mpris.MediaPlayer2.Player, from the
    registering sender at the player path) and Seeked; a bad value there
    stops the parse of that signal (the values before it stay).
  * A speaker's pass-through PLAY, STOP, PAUSE, FORWARD and BACKWARD are
    handed to the adapter's first player (avrcp.c target_init /
    avrcp_register_player) as Play, Stop, Pause, Next and Previous method
    calls with no reply wanted (g_dbus_send_message sets NO_REPLY), from
    org.bluez's own connection; only when CanControl and the matching
    CanPlay/CanPause/CanGoNext/CanGoPrevious were true (Stop needs
    CanControl only).  Otherwise, or with no player, the key goes to the
    uinput device instead (logged).  A release sends nothing.  FAST_FORWARD
    and REWIND never reach a player in 5.66.
  * The player owner leaving the bus removes it without a call
    (media_player_exit); UnregisterPlayer removes it without a call too; the
    adapter going away (or bluetoothd stopping) sends Release to it
    (media_player_free through the AVRCP server's destroy).
  * What bluetoothd would send the speaker (AVRCP notifications) is kept in
    the player's event list: STATUS_CHANGED, TRACK_CHANGED,
    TRACK_REACHED_START, TRACK_REACHED_END.
"""

import time

import dbus

from . import consts as C
from .base import signature_of

# avctp.c / avrcp.c pass-through operation ids
AVC_KEYS = {'play': 0x44, 'stop': 0x45, 'pause': 0x46, 'next': 0x4b,
            'previous': 0x4c, 'fast-forward': 0x49, 'rewind': 0x48,
            'volume-up': 0x41, 'volume-down': 0x42}
# handle_passthrough's table: key -> (method, Can* flag or None)
TARGET_HANDLERS = {'play': ('Play', 'play'), 'stop': ('Stop', None),
                   'pause': ('Pause', 'pause'), 'next': ('Next', 'next'),
                   'previous': ('Previous', 'previous')}


class Player:
    """media.c struct media_player."""

    def __init__(self, adapter, sender, path):
        self.adapter = adapter
        self.sender = str(sender)
        self.path = str(path)
        self.status = None
        self.position = 0          # ms, as media.c keeps it
        self.position_at = time.monotonic()
        self.duration = 0          # ms
        self.track = None          # dict as media.c's mp->track, or None
        self.settings = {}
        self.flags = {'play': False, 'pause': False, 'next': False,
                      'previous': False, 'control': False}
        self.name = None
        self.events = []           # AVRCP notifications bluetoothd would send
        self.signals = 0           # PropertiesChanged/Seeked received
        self.calls = []            # methods sent to the player
        self.watch = None
        self.matches = []

    @property
    def world(self):
        return self.adapter.world

    def event(self, name, value=None):
        self.events.append((name, value))
        self.world.log('player %s AVRCP event %s %s' % (self.path, name,
                                                        value))

    # -- media.c's parsers: each returns False for a bad value ---------------
    def get_position(self):
        """media_player_get_position(): runs on while Playing."""
        if self.status is None or self.status.lower() != 'playing':
            return self.position
        return self.position + int((time.monotonic() - self.position_at)
                                   * 1000)

    def set_status(self, v):
        if signature_of(v) != 's':
            return False
        if self.status == str(v):
            return True
        self.position = self.get_position()
        self.position_at = time.monotonic()
        self.status = str(v)
        self.event('STATUS_CHANGED', self.status)
        return True

    def set_position(self, v):
        if signature_of(v) != 'x':
            return False
        value = int(v) // 1000
        status = 'forward-seek' if value > self.get_position() \
            else 'reverse-seek'
        self.position = value
        self.position_at = time.monotonic()
        if not self.position:
            self.event('TRACK_REACHED_START')
            return True
        if self.position >= self.duration:
            self.event('TRACK_REACHED_END')
            return True
        self.event('STATUS_CHANGED', status)
        return True

    def parse_metadata(self, v):
        if not signature_of(v).startswith('a'):
            return False
        track = {}
        self.track = track
        title = False
        for key, var in v.items():
            k = str(key).lower()
            sig = signature_of(var)
            if k == 'xesam:title':
                if sig != 's':
                    return False
                track['Title'] = str(var)
                title = True
            elif k in ('xesam:artist', 'xesam:genre'):
                if not sig.startswith('a'):
                    return False
                if len(var) == 0:
                    continue
                if signature_of(var[0]) != 's':
                    return False
                track['Artist' if k == 'xesam:artist' else 'Genre'] = \
                    str(var[0])
            elif k == 'xesam:album':
                if sig != 's':
                    return False
                track['Album'] = str(var)
            elif k == 'mpris:length':
                if sig not in ('x', 't'):
                    return False
                ms = int(var) // 1000
                self.duration = ms
                track['Duration'] = str(ms)
            elif k == 'xesam:tracknumber':
                if sig not in ('i', 'u'):
                    return False
                track['TrackNumber'] = str(int(var))
        if not title:
            track['Title'] = ''
        self.position = 0
        self.position_at = time.monotonic()
        self.event('TRACK_CHANGED')
        self.event('TRACK_REACHED_START')
        return True

    def set_property(self, key, v):
        k = str(key).lower()
        sig = signature_of(v)
        if k == 'playbackstatus':
            return self.set_status(v)
        if k == 'position':
            return self.set_position(v)
        if k == 'metadata':
            return self.parse_metadata(v)
        if k == 'shuffle':
            if sig != 'b':
                return False
            self.settings['Shuffle'] = 'alltracks' if v else 'off'
            return True
        if k == 'loopstatus':
            rep = {'none': 'off', 'track': 'singletrack',
                   'playlist': 'alltracks'}.get(str(v).lower()) \
                if sig == 's' else None
            if rep is None:
                return False
            self.settings['Repeat'] = rep
            return True
        flags = {'canplay': 'play', 'canpause': 'pause', 'cangonext': 'next',
                 'cangoprevious': 'previous', 'cancontrol': 'control'}
        if k in flags:
            if sig != 'b':
                return False
            self.flags[flags[k]] = bool(v)
            return True
        if k == 'identity':
            if sig != 's':
                return False
            self.name = str(v)
            return True
        return True                 # "not supported, ignoring"

    def parse_properties(self, props):
        for key, v in props.items():
            if not self.set_property(key, v):
                return False
        return True

    # -- watches ---------------------------------------------------------------
    def start_watches(self):
        bus = self.world.bus

        def changed(iface, props, invalidated):
            if str(iface) != C.PLAYER_IFACE:
                return
            self.signals += 1
            self.parse_properties(props)

        def seeked(position):
            self.signals += 1
            self.set_position(position)

        self.matches = [
            bus.add_signal_receiver(changed, 'PropertiesChanged',
                                    C.PROPS_IFACE, self.sender, self.path),
            bus.add_signal_receiver(seeked, 'Seeked', C.PLAYER_IFACE,
                                    self.sender, self.path)]
        self.watch = self.world.watch_name(
            self.sender, lambda: self.adapter.remove_player(self, False))

    def stop_watches(self):
        self.world.unwatch(self.watch)
        for m in self.matches:
            try:
                m.remove()
            except Exception:
                pass
        self.matches = []

    # -- the speaker presses a key -----------------------------------------------
    def passthrough(self, key):
        """Returns True when the key went to the player (avrcp.c handler
        returned true), False when bluetoothd falls back to uinput."""
        handler = TARGET_HANDLERS.get(key)
        if handler is None:
            return False
        method, flag = handler
        if not self.flags['control'] or \
                (flag is not None and not self.flags[flag]):
            return False
        self.calls.append(method)
        self.world.send_noreply(self.sender, self.path, C.PLAYER_IFACE,
                                method)
        return True

    def describe(self):
        d = dbus.Dictionary({
            'Position': dbus.UInt32(self.get_position() & 0xffffffff),
            'Duration': dbus.UInt32(self.duration & 0xffffffff),
            'Flags': dbus.Array([k for k, v in sorted(self.flags.items())
                                 if v], signature='s'),
            'Events': dbus.Array([dbus.String(n if v is None else
                                              '%s %s' % (n, v))
                                  for n, v in self.events], signature='s'),
            'Signals': dbus.UInt32(self.signals),
            'Calls': dbus.Array(self.calls, signature='s')},
            signature='sv')
        if self.status is not None:
            d['Status'] = dbus.String(self.status)
        if self.track is not None:
            d['Track'] = dbus.Dictionary(self.track, signature='ss')
        if self.name is not None:
            d['Name'] = dbus.String(self.name)
        return d


class PlayerMixin:
    """The Media1 player methods and the AVRCP server of an Adapter."""

    def find_player(self, sender, path):
        for p in self.players:
            if p.sender == str(sender) and p.path == str(path):
                return p
        return None

    def remove_player(self, player, release):
        if player not in self.players:
            return
        self.players.remove(player)
        player.stop_watches()
        self.world.log('Player unregistered: sender=%s path=%s' % (
            player.sender, player.path))
        if release:
            self.world.send_noreply(player.sender, player.path,
                                    C.PLAYER_IFACE, 'Release')

    def release_all_players(self):
        """The AVRCP server goes (adapter removed, bluetoothd stopping)."""
        for p in list(self.players):
            self.remove_player(p, True)

    def register_player(self, path, props, sender):
        """media.c register_player()."""
        if self.find_player(sender, path) is not None:
            raise C.already_exists()
        if not self.avrcp:
            raise C.not_supported()
        p = Player(self, sender, path)
        p.start_watches()
        self.players.append(p)
        self.world.log('Player registered: sender=%s path=%s' % (sender,
                                                                  path))
        if not p.parse_properties(props):
            self.remove_player(p, False)
            raise C.invalid_args()

    def unregister_player(self, path, sender):
        p = self.find_player(sender, path)
        if p is None:
            raise C.does_not_exist()
        self.remove_player(p, False)

    def passthrough(self, dev, key):
        """A speaker's AVRCP pass-through press (avctp.c
        handle_panel_passthrough -> avrcp.c handle_passthrough)."""
        if key not in AVC_KEYS:
            raise C.test_error('unknown key %r (%s)' % (
                key, ', '.join(sorted(AVC_KEYS))))
        if not dev.connected or not dev.control:
            raise C.test_error('%s has no AVRCP session' % dev.address)
        player = self.players[0] if self.players else None
        if player is not None and player.passthrough(key):
            self.world.log('AVRCP %s from %s to player %s' % (
                key, dev.address, player.path))
            return True
        self.world.log('AVRCP %s from %s to uinput' % (key, dev.address))
        return False
