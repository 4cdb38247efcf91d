"""What a Device's speaker does on its own, driven by the test control API
(org.a2dpsrc.Test.BlueZ1: SpeakerConnect, SpeakerStart, SpeakerStall,
SpeakerLink, LinkLoss, SetInRange, ...): connecting by itself, starting,
suspending, stalling, closing its socket, leaving, turning its knobs."""

import dbus

from . import consts as C
from . import codecs
from .consts import ERRNO_REASON


class SpeakerMixin:
    """Mixed into device.Device."""

    def speaker_connect(self, ok, err):
        """The speaker connects on its own (reconnect at power-on)."""
        if not self.adapter.powered:
            return err(C.test_error('adapter is powered off'))
        if not self.in_range:
            return err(C.test_error('speaker is out of range'))
        if not self.paired:
            return err(C.test_error('speaker is not paired', 'NotPaired'))
        if self.a2dp_connected():
            return ok(dbus.ObjectPath(self.transport.path))
        if self.a2dp == 'connecting' or self.connect_req is not None:
            return err(C.test_error('a connection is in progress', 'Busy'))
        if self.blocked:
            return err(C.test_error('device is blocked', 'Rejected'))
        if not self.exported:
            self.export()
        gen = self.gen
        w = self.world

        def after_auth(kind):
            if gen != self.gen:
                return err(C.test_error('link dropped', 'Failed'))
            if kind is not None:
                self.log('incoming A2DP not authorized (%s)' % kind)
                self.arm_idle()
                return err(C.test_error('authorization %s' % kind,
                                        'Rejected'))
            candidates = self.a2dp_candidates()
            if not candidates:
                self.arm_idle()
                return err(C.test_error('no idle local source endpoint',
                                        'NoEndpoint'))
            ep, rsep = candidates[0]
            config = None
            if self.opt('SpeakerConnectMode', 'local-config') == \
                    'remote-config':
                if self.opt('RemoteCodec'):
                    ep, rsep = self.remote_codec_pair(self.opt('RemoteCodec'))
                    if ep is None:
                        self.arm_idle()
                        return err(C.test_error('no idle local endpoint for %s' %
                                                self.opt('RemoteCodec'), 'NoEndpoint'))
                else:
                    # the speaker sets up the stream itself, on the first of
                    # our endpoints of its codec (RemoteEndpoint: the n-th)
                    ep, rsep = candidates[int(self.opt('RemoteEndpoint', 0))
                                          % len(candidates)]
                candidates = []
                config = self.opt('RemoteConfiguration') or \
                    codecs.choose_config(rsep[1], rsep[2], ep.caps)
                if config is None:
                    self.arm_idle()
                    return err(C.test_error('no common configuration', 'NoEndpoint'))

            def done(errno):
                if errno is not None:
                    self.arm_idle(after_avdtp=True)
                    return err(C.test_error('stream setup failed: %s' %
                                            ERRNO_REASON.get(errno, errno)))
                self.set_temporary(False)
                ok(dbus.ObjectPath(self.transport.path))
                self._post_connect()
            if config is not None:
                return self.a2dp_setup(ep, rsep, done, config=config,
                                       rest=candidates[1:])

            # the speaker opened the signalling channel and configures
            # nothing: bluetoothd sets the stream up itself when the
            # session's disconnect timer fires (avdtp.c, 1 s)
            def setup():
                if gen != self.gen:
                    return err(C.test_error('link dropped', 'Failed'))
                if self.a2dp_connected():
                    return ok(dbus.ObjectPath(self.transport.path))
                if self.a2dp == 'connecting':
                    return err(C.test_error('a connection is in progress', 'Busy'))
                ready = self.a2dp_candidates()
                if not ready:
                    self.arm_idle(after_avdtp=True)
                    return err(C.test_error('no idle local source endpoint',
                                            'NoEndpoint'))
                self.a2dp_setup(ready[0][0], ready[0][1], done, rest=ready[1:])
            w.timer(self.ms('avdtp_setup_wait_ms'), setup)

        def connected():
            if gen != self.gen:
                return
            if not self.connected:
                self.link_incoming = True
            self.acl_up()
            if self.trusted:
                return after_auth(None)
            agent = w.agent_get(None)
            if agent is None:
                return after_auth('rejected (no agent)')

            def cb(kind, values):
                after_auth(None if kind is None else kind)
            w.agent_request(agent, 'AuthorizeService', 'os',
                            [dbus.ObjectPath(self.path),
                             C.ADVANCED_AUDIO_UUID], cb)
        if self.connected:
            connected()
        else:
            w.timer(self.ms('connect_ms'), connected)

    def speaker_start(self):
        if self.transport is None:
            raise C.test_error('no transport', 'NotConnected')
        self.transport.remote_start()

    def speaker_suspend(self):
        if self.transport is None:
            raise C.test_error('no transport', 'NotConnected')
        self.transport.remote_suspend()

    def speaker_stall(self, ms):
        t = self.transport
        if t is None or t.recorder is None:
            raise C.test_error('no acquired transport', 'NotConnected')
        t.recorder.stall(ms)

    def speaker_link(self, kbps):
        """The link carries at most kbps kbit/s from now on (0: no
        limit); later streams keep it (the LinkKbps option)."""
        self.opts['LinkKbps'] = int(kbps)
        t = self.transport
        if t is not None and t.recorder is not None:
            t.recorder.set_link(kbps)

    def speaker_close_socket(self):
        """The speaker closes the media channel: the daemon's fd gets
        EPIPE/ECONNRESET and bluetoothd, seeing the channel HUP
        (avdtp.c transport_cb), takes the stream to idle: transport state
        idle, ClearConfiguration, transport removed.  ACL and AVRCP stay."""
        t = self.transport
        if t is None:
            raise C.test_error('no transport', 'NotConnected')
        t.stop_recorder(drain=False)
        self.world.timer(self.ms('avdtp_ms'),
                         lambda: self.transport is t and
                         self.stream_cleared(send_clear=True))

    def speaker_disconnect(self):
        if not self.connected:
            raise C.test_error('not connected', 'NotConnected')
        self.request_disconnect(None)

    def link_loss(self):
        if not self.connected:
            raise C.test_error('not connected', 'NotConnected')
        self.link_dropped(loss=True)
        self.policy_link_timeout()      # reason MGMT_DEV_DISCONN_TIMEOUT

    def set_in_range(self, value):
        self.in_range = bool(value)
        if not self.in_range and self.connected:
            self.link_dropped(loss=True)
            self.policy_link_timeout()  # a supervision timeout
        if self.in_range and self.adapter.discovering:
            self.adapter.report_found(self)

    def speaker_set_volume(self, v):
        self.speaker_volume = int(v)
        t = self.transport
        if t is not None and self.control and self.opt('AbsoluteVolume',
                                                       True):
            t.speaker_volume_changed(int(v))

    def speaker_set_delay(self, d):
        self.delay_report = int(d)
        t = self.transport
        if t is not None and t.endpoint.delay_reporting:
            t.set_delay(int(d))
