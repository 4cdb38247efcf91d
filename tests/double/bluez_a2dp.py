'''bluetoothd 5.66 test double for a2dpsrc (python-dbusmock template).

Start it on a private system bus:

  DBUS_SYSTEM_BUS_ADDRESS=unix:path=... /usr/bin/python3 -m dbusmock --system \\
      --template tests/double/bluez_a2dp.py [-p JSON] [-l LOGFILE]

It owns org.bluez and behaves like bluetoothd 5.66 with the audio plugins
(Adapter1, Media1, Device1, MediaTransport1, AgentManager1, ObjectManager at
/), plus a test control interface org.a2dpsrc.Test.BlueZ1 on / through which
tests act as the radio world (speakers appearing, connecting, starting,
stalling, dropping the link...).

Template parameters (JSON object, all optional):
  recdir       directory for speaker recordings (default: a new temp dir)
  storage      JSON file standing in for /var/lib/bluetooth: bonds, trust,
               block and alias survive a restart of the double through it;
               and for the kernel: an adapter's bondable state survives a
               restart (5.66 only ever turns it on at start)
  adapters     [{"name": "hci0", "props": {...}}]   (default: one powered
               BR/EDR+LE hci0).  props: Address, AddressType, Name, Alias,
               Class, Powered, Discoverable, DiscoverableTimeout, Pairable,
               PairableTimeout, Modalias, BrEdr (false = LE-only controller),
               Le, Avrcp (false = no AVRCP server: RegisterPlayer is
               NotSupported), RegisterPlayerDelayMs (bluetoothd busy:
               RegisterPlayer handled, and its properties watch added, this
               much later), RegisterApplicationDelayMs (the application's
               objects read, and its endpoints registered, this much later)
  devices      [{"adapter": "hci0", "address": "AA:..", "name": "..",
                 "opts": {...}}]  see AddDevice
  experimental true = bluetoothd -E (transport Endpoint, adapter PowerState)
  arrival_timestamps  true = speaker recordings in format 3: each packet
               also carries when the kernel queued it to the speaker's
               socket (bluez_double/recorder.py)
  strict_acquire true = only the endpoint owner may Acquire (bluetoothd
               itself lets any client Acquire an unowned transport)
  coalesce_properties  (default true) PropertiesChanged merged per
               interface and sent when idle or before anything else, as
               gdbus does (bluez_double/changes.py); false: one signal per
               change, at once
  adapters_late_ms  the adapters (and their devices) exported this long
               after the bus name is taken, as 5.66 does (main.c takes the
               name, then adapter_init reads the controllers over mgmt)
  always_pairable  main.conf AlwaysPairable (default false: an adapter is
               bondable, Pairable, only while a default agent is registered
               or a client set Pairable)
  external_profiles  local UUIDs some other client registered through
               ProfileManager1 (e.g. HFP AG "0000111f-..."): Connect() then
               connects HFP on headsets
  policy_reconnect  (default false) bluetoothd's own reconnect of a device
               lost to a supervision timeout (plugins/policy.c; on by
               default in real 5.66, opt-in here so that tests losing links
               keep the daemon's timing alone): bluez_double/policy.py
  policy_reconnect_intervals_s  main.conf ReconnectIntervals (default
               [1, 2, 4, 8, 16, 32, 64]; fractions scale a test down)
  policy_reconnect_attempts  main.conf ReconnectAttempts (default 7)
  *_ms / temporary_timeout_s  timings, see bluez_double/world.py DEFAULTS

AddDevice options (a{sv}; also the "opts" of the devices parameter):
  UUIDs as             default HSP HS, A2DP sink, AVRCP TG+CT, HFP HF, PnP;
                       [] = not resolved yet (inquiry without EIR UUIDs)
  SinkCapabilities ay  default ff ff 02 35 (SBC everything, bitpool 2..53)
  SinkEndpoints        [{SEID, Codec, Capabilities}] (default one SBC SEP 1);
                       Capabilities of a vendor codec (Codec 0xff) start
                       with its vendor header, as 5.66 shows them
  SinkCodecs as        sink SEPs from presets (bluez_double/codecs.py), SEID
                       1, 2.. in the order given: sbc, sbc-xq (dual channel,
                       max bitpool 74), aptx, aptx-hd, aac, ldac; malformed:
                       vendor-short, aptx-short, aptx-wrong-vendor,
                       aptx-empty, ldac-empty, aac-short, aac-empty
  RefuseCodecs as      codecs the speaker advertises but whose AVDTP
                       SET_CONFIGURATION it rejects (sbc, aptx, aptx-hd,
                       aac, ldac; sbc-xq: SBC in dual channel with a maximum
                       bitpool above 53): Connect fails
                       br-connection-create-socket after our
                       SelectConfiguration, a remote SEP's SetConfiguration
                       fails "Input/output error"
  Class u (0x240414 loudspeaker), Icon s, Modalias s, Le b (advertises on
                LE), BrEdr b (true; false = an LE-only device, which inquiry
                and a Transport=bredr scan never find)
  Paired b, Bonded b, Trusted b, Blocked b, Alias s, LegacyPairing b
  Known b       object exists without discovery (default: Paired)
  ServicesKnown b  its SDP records are known (default: Known); false: a
                Pair searches them (SdpMs) before it answers, and Paired
                is said only then (5.66 pending_paired)
  InRange b     answers pages / inquiry (default true)
  Discoverable b  shows up in discovery (default: not Paired)
  RSSI n (-55)
  PairingMethod s  just-works (default) | confirm | passkey | pin |
                   display-passkey | display-pin | authorize | fail |
                   reject | timeout | cancel
  Passkey u (123456), PinCode s ("0000"; audio devices auto-pair with 0000)
  AbsoluteVolume b (true), Volume q (64, the speaker's volume),
  VolumeAtConfig b (Volume already in SetConfiguration's properties)
  AvrcpRttMs u (10): how long the speaker takes to answer SetAbsoluteVolume
                (bluetoothd changes Volume when it answers)
  VolumeStep u (1): the speaker's volume step; it answers SetAbsoluteVolume
                with the nearest multiple it took (8: a 16-step speaker)
  Delay q       delay report in 1/10 ms (0 = none; only used when the local
                endpoint registered DelayReporting true)
  ReadMTU q (895), WriteMTU q (895)
  LinkKbps u    the link carries at most this many kbit/s of packets (0, the
                default: no limit); SpeakerLink changes it while streaming
  RejectConfiguration b (alias RejectSelectConfiguration): the speaker
                rejects our AVDTP SET_CONFIGURATION (every codec)
  StrictConfig b (true): reject configurations outside the sink caps (every
                codec: one bit per field, vendor header, AAC bit rate/VBR)
  ReconfigureFails b: a SetConfiguration on the speaker's sepN closes the
    stream and then fails (Failed, EIO), reopening nothing (a2dp_reconfig)
  RejectStart b: the speaker rejects AVDTP START (Acquire fails with EIO,
                the transport stays idle and configured, as in 5.66)
  SuspendAtStart b: once, the speaker suspends the stream right after it
    answered START, before bluetoothd announced it active (one
    PropertiesChanged: State idle)
  TryAcquireMs i: a TryAcquire of a pending stream completes after this
    long (default at once), so a Release can meet it (InProgress)
  ConnectError s: fail connects with this "br-connection-*" reason / errno
  SpeakerConnectMode s: local-config (the speaker opens AVDTP and waits;
                bluetoothd selects 1 s later, avdtp.c's disconnect timer:
                SelectConfiguration then SetConfiguration) | remote-config
                (the speaker configures at once: SetConfiguration only)
  RemoteCodec s: in remote-config mode, the codec (preset name) the speaker
                sets up: its first SEP of it with our first idle endpoint
                matching it (default: what Connect would pair)
  RemoteConfiguration ay: what the speaker picks in remote-config mode
                (default: codecs.choose_config, 48 kHz stereo where both
                sides have it, SBC 44.1 kHz)
  PolicyReconnect b: this device only, as the policy_reconnect parameter
  Avrcp b (true), PageTimeoutMs, ConnectMs, AvdtpMs, StartMs, SuspendMs,
  PairMs, SdpMs, AvrcpMs, AvdtpSetupWaitMs, AvdtpDisconnectMs
An unused ACL is dropped acl_idle_ms after its last user (4 s on a link
the speaker opened; an AVDTP session let go first closes after 1 s).
'''

import os
import sys

import dbus
import dbus.service

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bluez_double import consts as C          # noqa: E402
from bluez_double.world import World, plain     # noqa: E402

BUS_NAME = 'org.bluez'
MAIN_OBJ = '/'
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

TEST = C.TEST_IFACE
WORLD = None


def load(mock, parameters):
    global WORLD
    old = getattr(mock, '_bluez_world', None)
    if old is not None:             # Reset(): start from scratch
        old.teardown()
    # dbusmock announces every template method call with a
    # org.freedesktop.DBus.Mock.MethodCalled signal; bluetoothd sends no such
    # thing, so keep the bus as quiet as the real daemon (calls still go to
    # the -l log).
    mock.MethodCalled = lambda *args: None
    WORLD = World(mock, parameters or {})
    mock._bluez_world = WORLD


def _w():
    if WORLD is None:
        raise C.test_error('double not loaded')
    return WORLD


# -- org.freedesktop.DBus.ObjectManager on / ----------------------------------
@dbus.service.method(C.OM_IFACE, in_signature='', out_signature='a{oa{sa{sv}}}')
def GetManagedObjects(self):
    out = dbus.Dictionary(signature='oa{sa{sv}}')
    for path, obj in _w().objects.items():
        out[dbus.ObjectPath(path)] = obj.managed()
    return out


# -- test control interface ------------------------------------------------------
@dbus.service.method(TEST, in_signature='sa{sv}', out_signature='o')
def AddAdapter(self, name, props):
    '''Plug in a controller; returns its path.'''
    return dbus.ObjectPath(_w().add_adapter(name, props).path)


@dbus.service.method(TEST, in_signature='s', out_signature='')
def RemoveAdapter(self, name):
    '''Unplug a controller (endpoints released, devices removed).'''
    _w().remove_adapter(name)


@dbus.service.method(TEST, in_signature='sssa{sv}', out_signature='o')
def AddDevice(self, adapter, address, name, opts):
    '''A remote device exists in the radio world; returns the path its
    object has (or will have once discovered).'''
    return dbus.ObjectPath(_w().add_device(adapter, address, name, opts).path)


@dbus.service.method(TEST, in_signature='o', out_signature='')
def RemoveDevice(self, path):
    '''The device leaves the world: link dropped, object and bond gone.'''
    dev = _w().find_device(path)
    dev.adapter.remove_device_object(dev)
    del dev.adapter.devices[dev.address]


@dbus.service.method(TEST, in_signature='osv', out_signature='')
def SetDeviceOption(self, path, key, value):
    '''Change one AddDevice option at run time.'''
    dev = _w().find_device(path)
    key = str(key)
    v = plain(value)
    dev.opts[key] = v
    simple = {'ReadMTU': 'read_mtu', 'WriteMTU': 'write_mtu',
              'Delay': 'delay_report', 'Volume': 'speaker_volume',
              'RSSI': 'opt_rssi', 'Discoverable': 'discoverable'}
    if key in simple:
        setattr(dev, simple[key], v)


@dbus.service.method(TEST, in_signature='o', out_signature='o',
                     async_callbacks=('ok', 'err'))
def SpeakerConnect(self, path, ok, err):
    '''The speaker connects by itself; returns the new transport's path.'''
    try:
        dev = _w().find_device(path)
    except dbus.exceptions.DBusException as e:
        return err(e)
    dev.speaker_connect(ok, err)


@dbus.service.method(TEST, in_signature='o', out_signature='',
                     async_callbacks=('ok', 'err'))
def RemotePair(self, path, ok, err):
    '''The device (a phone, a stranger) asks the adapter to bond with it;
    fails with ...Rejected when the kernel or the agent refuses.
    PairingMethod just-works: accepted by the kernel alone while the
    adapter is Pairable; confirm: asks the default agent.'''
    try:
        dev = _w().find_device(path)
    except dbus.exceptions.DBusException as e:
        return err(e)
    dev.remote_pair(ok, err)


@dbus.service.method(TEST, in_signature='o', out_signature='')
def SpeakerStart(self, path):
    '''The speaker starts the stream (AVDTP START): idle -> pending.'''
    _w().find_device(path).speaker_start()


@dbus.service.method(TEST, in_signature='o', out_signature='')
def SpeakerSuspend(self, path):
    '''The speaker suspends the stream: the transport goes idle and its
    owner loses it; later packets are read but not recorded.'''
    _w().find_device(path).speaker_suspend()


@dbus.service.method(TEST, in_signature='ou', out_signature='')
def SpeakerStall(self, path, ms):
    '''The speaker stops reading the socket for ms milliseconds.'''
    _w().find_device(path).speaker_stall(int(ms))


@dbus.service.method(TEST, in_signature='ou', out_signature='')
def SpeakerLink(self, path, kbps):
    '''The link to the speaker carries at most kbps kbit/s of packets from
    now on (0: no limit), this stream and later ones: the speaker reads
    the socket no faster.'''
    _w().find_device(path).speaker_link(int(kbps))


@dbus.service.method(TEST, in_signature='o', out_signature='')
def SpeakerCloseSocket(self, path):
    '''The speaker closes the media channel (EPIPE/ECONNRESET for the
    sender); bluetoothd then clears the stream.'''
    _w().find_device(path).speaker_close_socket()


@dbus.service.method(TEST, in_signature='o', out_signature='')
def SpeakerDisconnect(self, path):
    '''The speaker disconnects cleanly (stream closed, then the ACL).'''
    _w().find_device(path).speaker_disconnect()


@dbus.service.method(TEST, in_signature='o', out_signature='')
def LinkLoss(self, path):
    '''The ACL link drops (out of range, power cut).'''
    _w().find_device(path).link_loss()


@dbus.service.method(TEST, in_signature='sb', out_signature='')
def SetRfkill(self, name, blocked):
    '''rfkill block (airplane mode, a radio switch) or unblock the
    controller: powered off and PowerState off-blocked (with experimental),
    Powered=true refused with org.bluez.Error.Blocked while blocked.'''
    ad = _w().adapters.get(str(name))
    if ad is None:
        raise C.test_error('no adapter %s' % name, 'DoesNotExist')
    ad.set_rfkill(bool(blocked))


@dbus.service.method(TEST, in_signature='ob', out_signature='')
def SetInRange(self, path, in_range):
    '''Move the speaker in/out of range (out of range drops the link).'''
    _w().find_device(path).set_in_range(bool(in_range))


@dbus.service.method(TEST, in_signature='oq', out_signature='')
def SpeakerSetVolume(self, path, volume):
    '''The user turns the speaker's knob (AVRCP volume notification).'''
    _w().find_device(path).speaker_set_volume(int(volume))


@dbus.service.method(TEST, in_signature='oq', out_signature='')
def SpeakerSetDelay(self, path, delay):
    '''The speaker sends a new delay report (1/10 ms).'''
    _w().find_device(path).speaker_set_delay(int(delay))


@dbus.service.method(TEST, in_signature='sos', out_signature='s',
                     async_callbacks=('ok', 'err'))
def AskAgent(self, owner, device, uuid, ok, err):
    '''Calls AuthorizeService(device, uuid) on the agent that owner
    registered, as bluetoothd does; returns '' when granted, else the
    error name.  (5.66 asks only the default agent; this reaches any.)'''
    w = _w()
    agent = w.agents.get(str(owner))
    if agent is None:
        return err(C.test_error('no agent of %s' % owner, 'DoesNotExist'))

    def cb(kind, values):
        ok(dbus.String('' if kind is None else 'org.bluez.Error.Rejected'))
    w.agent_request(agent, 'AuthorizeService', 'os',
                    [dbus.ObjectPath(device), str(uuid)], cb)


@dbus.service.method(TEST, in_signature='os', out_signature='b')
def SpeakerPressKey(self, path, key):
    '''The user presses a button on the speaker: an AVRCP pass-through
    press (then release) of key: play, pause, stop, next, previous,
    fast-forward, rewind, volume-up, volume-down.  True when bluetoothd
    handed it to a registered player (see bluez_double/player.py), false
    when it went to the uinput device.'''
    dev = _w().find_device(path)
    return dbus.Boolean(dev.adapter.passthrough(dev, str(key)))


@dbus.service.method(TEST, in_signature='osuu', out_signature='')
def SpeakerHoldKey(self, path, key, presses, interval_ms):
    '''The user holds a button: the speaker repeats the pass-through press
    presses times, interval_ms apart, then releases it.'''
    w = _w()
    dev = w.find_device(path)
    dev.adapter.passthrough(dev, str(key))
    for n in range(1, int(presses)):
        w.timer(n * int(interval_ms), dev.adapter.passthrough, dev, str(key))


@dbus.service.method(TEST, in_signature='', out_signature='a(ssoa{sv})')
def GetPlayers(self):
    '''Registered players as bluetoothd holds them: (adapter name, owner,
    path, {Status, Position (ms, running while playing), Duration (ms),
    Track {Title, Artist, Album, Duration, ...}, Flags [control, play, ...],
    Name, Events [AVRCP notifications it would send], Signals
    (PropertiesChanged/Seeked received), Calls [methods sent to it]}).'''
    out = dbus.Array(signature='(ssoa{sv})')
    for ad in _w().adapters.values():
        for p in ad.players:
            out.append(dbus.Struct((ad.name, p.sender,
                                    dbus.ObjectPath(p.path), p.describe()),
                                   signature='ssoa{sv}'))
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a(sso)')
def GetRegisteredEndpoints(self):
    '''Registered endpoints: (adapter name, owner, path).'''
    out = dbus.Array(signature='(sso)')
    for ad in _w().adapters.values():
        for ep in ad.endpoints:
            out.append(ep.describe())
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a(ssoa{sv})')
def GetEndpointDetails(self):
    '''Registered endpoints with UUID, Codec, Capabilities, DelayReporting,
    InUse and Application (root path or "").'''
    out = dbus.Array(signature='(ssoa{sv})')
    for ad in _w().adapters.values():
        for ep in ad.endpoints:
            d = dbus.Dictionary({
                'UUID': dbus.String(ep.uuid), 'Codec': dbus.Byte(ep.codec),
                'Capabilities': dbus.Array([dbus.Byte(b) for b in ep.caps],
                                           signature='y'),
                'DelayReporting': dbus.Boolean(ep.delay_reporting),
                'InUse': dbus.Boolean(ep.in_use()),
                'Application': dbus.String(ep.app.root if ep.app else '')},
                signature='sv')
            out.append(dbus.Struct((ad.name, ep.sender,
                                    dbus.ObjectPath(ep.path), d),
                                   signature='ssoa{sv}'))
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a(sso)')
def GetRegisteredApplications(self):
    '''Registered media applications: (adapter name, owner, root).'''
    out = dbus.Array(signature='(sso)')
    for ad in _w().adapters.values():
        for app in ad.apps:
            out.append(dbus.Struct((ad.name, app.sender,
                                    dbus.ObjectPath(app.root)),
                                   signature='sso'))
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a(sosb)')
def GetAgents(self):
    '''Registered agents: (owner, path, capability, is default).'''
    w = _w()
    out = dbus.Array(signature='(sosb)')
    default = w.default_agents[0] if w.default_agents else None
    for a in w.agents.values():
        out.append(dbus.Struct((a.owner, dbus.ObjectPath(a.path),
                                a.capability, a is default),
                               signature='sosb'))
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a{oa{sv}}')
def GetTransports(self):
    '''Transports: MediaTransport1 properties plus InternalState, Owner,
    EndpointOwner, EndpointPath, ReadMTU, WriteMTU, VolumeWrites, Recording
    and, while acquired, Packets, Bytes, Oversize, PeerClosed.'''
    out = dbus.Dictionary(signature='oa{sv}')
    for t in _w().all_transports():
        out[dbus.ObjectPath(t.path)] = t.describe()
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a{oa{sv}}')
def GetDevices(self):
    '''Every device of the world, exported or not, with its state.'''
    out = dbus.Dictionary(signature='oa{sv}')
    for ad in _w().adapters.values():
        for d in ad.devices.values():
            out[dbus.ObjectPath(d.path)] = dbus.Dictionary({
                'Address': dbus.String(d.address),
                'Exported': dbus.Boolean(d.exported),
                'Connected': dbus.Boolean(d.connected),
                'Paired': dbus.Boolean(d.paired),
                'Bonded': dbus.Boolean(d.bonded),
                'Trusted': dbus.Boolean(d.trusted),
                'InRange': dbus.Boolean(d.in_range),
                'A2DP': dbus.String(d.a2dp),
                'Transport': dbus.String(d.transport.path
                                         if d.transport else ''),
                'Pairing': dbus.Boolean(d.bonding is not None)},
                signature='sv')
    return out


@dbus.service.method(TEST, in_signature='', out_signature='a(ssba{sv})')
def GetDiscoveryClients(self):
    '''Discovery clients of every adapter: (adapter name, owner, scanning,
    filter as set by SetDiscoveryFilter; {} = none).'''
    out = dbus.Array(signature='(ssba{sv})')
    for ad in _w().adapters.values():
        for c in ad.discovery.values():
            flt = dbus.Dictionary(signature='sv')
            for k, v in (c.filter or {}).items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = dbus.Boolean(v)
                elif isinstance(v, int):
                    v = dbus.Int32(v)
                elif isinstance(v, list):
                    v = dbus.Array(v, signature='s')
                else:
                    v = dbus.String(v)
                flt[k] = v
            out.append(dbus.Struct((ad.name, c.owner, dbus.Boolean(c.active),
                                    flt), signature='ssba{sv}'))
    return out


@dbus.service.method(TEST, in_signature='', out_signature='as')
def GetRecordings(self):
    '''Paths of all recordings made by this instance, oldest first.'''
    return dbus.Array(_w().recordings, signature='s')


@dbus.service.method(TEST, in_signature='o', out_signature='aq')
def GetVolumeWrites(self, path):
    '''Volumes sent to the speaker over AVRCP for this transport.'''
    t = _w().find_transport(path)
    return dbus.Array([dbus.UInt16(v) for v in t.volume_writes],
                      signature='q')


@dbus.service.method(TEST, in_signature='', out_signature='',
                     async_callbacks=('ok', 'err'))
def Flush(self, ok, err):
    '''Returns once every acquired transport's socket has been read empty
    and written to its recording.'''
    _w().flush_recorders(ok, err)


@dbus.service.method(TEST, in_signature='', out_signature='as')
def GetLog(self):
    '''The double's event log (endpoint/agent calls, state changes).'''
    return dbus.Array(_w().events, signature='s')


@dbus.service.method(TEST, in_signature='', out_signature='')
def ClearLog(self):
    del _w().events[:]
