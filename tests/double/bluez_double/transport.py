"""org.bluez.MediaTransport1 for an A2DP source stream
(profiles/audio/transport.c as of 5.66).

Path: <device>/sep<SEID>/fd<N>, N from one process-wide counter starting at 0
(transport.c media_transport_create: "static int fd = 0").

Properties (a2dp_properties in 5.66): Device o, UUID s (the *local*
endpoint's UUID), Codec y, Configuration ay, State s, Delay q (only while a
delay report is known, read-only), Volume q (only once AVRCP reported the
speaker's absolute volume; writable 0..127), Endpoint o (experimental only).

States (transport_state_t): idle, pending, requesting (shown "idle"),
active, suspending (shown "active"); PropertiesChanged only when the shown
string changes.
"""

import dbus
import dbus.service

from . import consts as C
from .base import BzObject, ay
from .recorder import Recorder, make_pair

SHOWN = {'idle': 'idle', 'requesting': 'idle', 'pending': 'pending',
         'active': 'active', 'suspending': 'active'}


class Transport(BzObject):
    def __init__(self, device, endpoint, rsep, config, volume=None):
        world = device.world
        n = world.next_transport_number()
        BzObject.__init__(self, world, '%s/fd%d' % (rsep.path, n))
        self.device = device
        self.endpoint = endpoint
        self.rsep = rsep
        self.config = bytes(config)
        self.state = 'idle'
        self.owner = None
        self.owner_watch = None
        self.pending = None            # ('Acquire'|'TryAcquire'|'Release', ok, err)
        self.volume = volume           # None: property absent
        self.delay = 0                 # 0: property absent
        self.recorder = None
        self.volume_writes = []
        self.gen = 0                   # invalidates scheduled steps
        self.suspend_timer = None
        self.alive = True

        T = C.TRANSPORT_IFACE
        self.add_prop(T, 'Device', 'o', lambda: dbus.ObjectPath(device.path))
        self.add_prop(T, 'UUID', 's', lambda: dbus.String(endpoint.uuid))
        self.add_prop(T, 'Codec', 'y', lambda: dbus.Byte(endpoint.codec))
        self.add_prop(T, 'Configuration', 'ay', lambda: ay(self.config))
        self.add_prop(T, 'State', 's', lambda: dbus.String(SHOWN[self.state]))
        self.add_prop(T, 'Delay', 'q', lambda: dbus.UInt16(self.delay),
                      exists=lambda: self.delay != 0)
        self.add_prop(T, 'Volume', 'q',
                      lambda: dbus.UInt16(self.volume or 0),
                      self._set_volume, exists=lambda: self.volume is not None)
        self.add_prop(T, 'Endpoint', 'o',
                      lambda: dbus.ObjectPath(self.rsep.path),
                      exists=lambda: self.world.experimental)

    # -- state --------------------------------------------------------------------
    def set_state(self, state):
        old = self.state
        if old == state:
            return
        self.state = state
        self.world.log('transport %s %s -> %s' % (self.path, old, state))
        if SHOWN[old] != SHOWN[state]:
            self.changed(C.TRANSPORT_IFACE, 'State')

    def setup_props(self):
        return self.props_of(C.TRANSPORT_IFACE)

    def _set_owner(self, owner):
        self.owner = owner
        self.owner_watch = self.world.watch_name(owner, self._owner_exit)

    def _remove_owner(self, reply_pending_eio=True):
        """media_transport_remove_owner(): a pending request of the owner is
        answered with EIO, the stream is suspended (state idle)."""
        if self.owner is None:
            return
        pending, self.pending = self.pending, None
        if pending is not None and reply_pending_eio:
            pending[2](C.failed('Input/output error'))
        self.world.unwatch(self.owner_watch)
        self.owner = None
        self.owner_watch = None
        if self.state in ('requesting', 'active', 'suspending'):
            self.set_state('idle')

    def _owner_exit(self):
        self.owner_watch = None
        self.world.log('transport %s owner %s left' % (self.path, self.owner))
        self.pending = None
        self.owner_watch = None
        self.owner = None
        if self.state in ('requesting', 'active', 'suspending'):
            self.set_state('idle')
        self.stop_recorder(drain=True)

    # -- socket / speaker -------------------------------------------------------
    def _open_stream(self):
        dev = self.device
        daemon_end, speaker_end = make_pair()
        path = self.world.recording_path(dev)
        self.stop_recorder(drain=True)
        rec = Recorder(speaker_end, path, self.endpoint.codec, self.config, dev.write_mtu,
                       dev.read_mtu, timestamps=self.world.arrival_timestamps)
        rec.set_link(int(dev.opt('LinkKbps', 0)))
        self.recorder = rec
        self.world.recorders.append(rec)
        self.world.recordings.append(path)
        rec.start()
        fd = dbus.types.UnixFd(daemon_end)     # keeps its own dup
        daemon_end.close()
        self.world.log('transport %s acquired, recording %s' % (self.path,
                                                                 path))
        return fd

    def stop_recorder(self, drain):
        if self.recorder is not None:
            self.recorder.stop(drain)
            self.recorder = None

    # -- remote (speaker) events ------------------------------------------------
    def remote_start(self):
        """AVDTP START from the sink: idle -> pending; a2dp.c arms
        SUSPEND_TIMEOUT and suspends if nobody acquires in time."""
        if self.state != 'idle':
            return False
        self.set_state('pending')
        self.world.cancel_timer(self.suspend_timer)
        gen = self.gen
        self.suspend_timer = self.world.timer(
            self.world.cfg['suspend_timeout_ms'], self._suspend_timeout, gen)
        return True

    def _suspend_timeout(self, gen):
        self.suspend_timer = None
        if gen == self.gen and self.alive and self.state == 'pending':
            self.world.log('transport %s: nobody acquired, suspending' %
                           self.path)
            self.set_state('idle')

    def remote_suspend(self):
        """AVDTP SUSPEND from the sink: the owner loses the transport."""
        self.world.cancel_timer(self.suspend_timer)
        if self.recorder is not None:
            with self.recorder.lock:
                self.recorder.discard = True
        if self.owner is not None:
            self._remove_owner()
        elif self.state != 'idle':
            self.set_state('idle')

    def teardown(self, link_loss=False):
        """The stream is gone (closed, aborted, link lost): the state goes
        idle first (owner removed), the caller then sends
        ClearConfiguration and unexports."""
        self.gen += 1
        self.world.cancel_timer(self.suspend_timer)
        if self.owner is not None:
            self._remove_owner()
        elif self.state != 'idle':
            self.set_state('idle')
        self.stop_recorder(drain=not link_loss)
        self.alive = False

    # -- Volume -------------------------------------------------------------------
    def _set_volume(self, value, sender):
        v = int(value)
        if v > 127:
            raise C.invalid_args()
        if v == self.volume:
            return None
        # transport.c: reply first, then avrcp_set_volume(); for a source
        # transport the property changes when the speaker confirms.
        self.volume_writes.append(v)
        self.world.log('AVRCP SetAbsoluteVolume %d -> %s' % (
            v, self.device.address))
        gen = self.gen

        def confirmed():
            if gen != self.gen or not self.alive:
                return
            # a speaker with fewer steps than AVRCP's 128 answers the
            # volume it took, its nearest step (avrcp_handle_set_volume
            # shows that one)
            step = self.device.volume_step
            took = min(127, int(v / step + 0.5) * step) if step > 1 else v
            self.device.speaker_volume = took
            if self.volume != took:
                self.volume = took
                self.changed(C.TRANSPORT_IFACE, 'Volume')
        return lambda: self.world.timer(self.device.avrcp_rtt_ms, confirmed)

    def speaker_volume_changed(self, v):
        old = self.volume
        self.volume = v
        if old != v:
            self.changed(C.TRANSPORT_IFACE, 'Volume')

    def set_delay(self, delay):
        if delay == self.delay:
            return
        self.delay = delay
        self.changed(C.TRANSPORT_IFACE, 'Delay')

    # -- methods ----------------------------------------------------------------
    def _check_acquire(self, sender):
        if self.world.strict_acquire and sender != self.endpoint.sender:
            return C.not_authorized()
        if self.owner is not None:
            return C.not_authorized()
        if self.state in ('requesting', 'active', 'suspending'):
            return C.not_authorized()
        if not self.device.a2dp_connected():
            return C.not_authorized()
        return None

    def _resume(self, method, sender, ok, err):
        self._set_owner(sender)
        self.pending = (method, ok, err)
        gen = self.gen
        if self.state == 'pending':
            # Already streaming (remote START): a2dp_resume completes at
            # once (TryAcquireMs: later, to open the window in which a
            # Release meets the pending request).
            self.world.cancel_timer(self.suspend_timer)
            delay = self.device.opt('TryAcquireMs', 0)
            if delay:
                self.world.timer(delay, self._resume_done, gen, ok)
            else:
                self.world.idle(self._resume_done, gen, ok)
            return
        self.set_state('requesting')
        self.world.timer(self.device.start_ms, self._resume_done, gen, ok)

    def _resume_done(self, gen, ok):
        if gen != self.gen or not self.alive or self.pending is None or \
                self.pending[1] is not ok:
            return
        if self.device.opt('RejectStart', False):
            self.world.log('speaker rejected AVDTP START on %s' % self.path)
            self._remove_owner()          # Acquire fails with EIO
            return
        fd = self._open_stream()
        self.pending = None
        ok(fd, dbus.UInt16(self.device.read_mtu),
           dbus.UInt16(self.device.write_mtu))
        self.set_state('active')
        if self.device.opt('SuspendAtStart', False):
            # the speaker's SUSPEND, read in the same main-loop turn as its
            # START answer, before gdbus' idle flush: "active" is never
            # announced, the one PropertiesChanged says idle (once)
            self.device.opts['SuspendAtStart'] = False
            self.world.log('speaker suspends right after START on %s' % self.path)
            self.remote_suspend()

    @dbus.service.method(C.TRANSPORT_IFACE, in_signature='',
                         out_signature='hqq', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def Acquire(self, sender=None, ok=None, err=None):
        e = self._check_acquire(sender)
        if e is not None:
            return err(e)
        self._resume('Acquire', sender, ok, err)

    @dbus.service.method(C.TRANSPORT_IFACE, in_signature='',
                         out_signature='hqq', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def TryAcquire(self, sender=None, ok=None, err=None):
        e = self._check_acquire(sender)
        if e is not None:
            return err(e)
        if self.state != 'pending':
            return err(C.not_available())
        self._resume('TryAcquire', sender, ok, err)

    @dbus.service.method(C.TRANSPORT_IFACE, in_signature='',
                         out_signature='', sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def Release(self, sender=None, ok=None, err=None):
        if self.owner is None or self.owner != sender:
            return err(C.not_authorized())
        if self.pending is not None:
            if self.pending[0] == 'Acquire':
                # 5.66 release(): a pending Acquire is dropped without a
                # reply (media_owner_remove), the caller's call times out;
                # its a2dp_cancel() leaves the setup without callbacks, so
                # the stream is aborted (avdtp_abort)
                self.world.log('Release cancels pending Acquire (no reply): '
                               'AVDTP ABORT')
                self.pending = None
                return self._release_aborting(ok)
            # ... but only "Acquire": a pending TryAcquire (or Release)
            # gets InProgress, and the TryAcquire still completes
            self.world.log('Release refused: %s pending' % self.pending[0])
            return err(C.in_progress())
        if self.state == 'requesting':
            self._remove_owner()
            self.stop_recorder(drain=True)
            return ok()
        self.set_state('suspending')
        self.pending = ('Release', ok, err)
        gen = self.gen
        self.world.timer(self.device.suspend_ms, self._suspend_done, gen, ok)

    def _release_aborting(self, ok):
        """The rest of release() with the stream aborting: SUSPENDING (shown
        "active"), a2dp_suspend() refuses the aborting SEP, so the owner is
        removed (idle) and the Release answered at once; when the ABORT
        completes, the stream is idle: ClearConfiguration, the transport
        gone, A2DP disconnected (the ACL stays while AVRCP uses it)."""
        self.set_state('suspending')
        self._remove_owner()
        self.stop_recorder(drain=True)
        ok()
        gen, dev = self.gen, self.device

        def aborted():
            if gen == self.gen and self.alive and dev.transport is self:
                dev.log('stream aborted')
                dev.stream_cleared(send_clear=True)
        self.world.timer(dev.ms('avdtp_ms'), aborted)

    def _suspend_done(self, gen, ok):
        if gen != self.gen or not self.alive:
            return
        if self.pending is not None and self.pending[1] is ok:
            self.pending = None
            ok()
        self.stop_recorder(drain=True)
        self.set_state('idle')
        if self.owner is not None:
            self.world.unwatch(self.owner_watch)
            self.owner = None
            self.owner_watch = None

    # -- control-API view -------------------------------------------------------
    def describe(self):
        d = self.props_of(C.TRANSPORT_IFACE)
        d['InternalState'] = dbus.String(self.state)
        d['Owner'] = dbus.String(self.owner or '')
        d['EndpointOwner'] = dbus.String(self.endpoint.sender)
        d['EndpointPath'] = dbus.ObjectPath(self.endpoint.path)
        d['ReadMTU'] = dbus.UInt16(self.device.read_mtu)
        d['WriteMTU'] = dbus.UInt16(self.device.write_mtu)
        d['VolumeWrites'] = dbus.Array([dbus.UInt16(v)
                                        for v in self.volume_writes],
                                       signature='q')
        rec = self.recorder
        d['Recording'] = dbus.String(rec.path if rec else '')
        if rec is not None:
            for k, v in rec.stats().items():
                d[k] = dbus.Boolean(v) if isinstance(v, bool) else \
                    dbus.UInt64(v)
        return d
