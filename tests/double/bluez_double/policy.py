"""bluetoothd 5.66's own reconnect of a lost device (plugins/policy.c),
mixed into device.Device.  Opt-in: template parameter policy_reconnect
(default false) or device option PolicyReconnect.

Real 5.66 has it on by default (main.conf [Policy] ReconnectUUIDs includes
the A2DP sink, ReconnectAttempts=7, ReconnectIntervals=1,2,4,8,16,32,64).
It is off in the double unless asked for because most tests lose a link on
purpose and time what the daemon does alone; with it on, bluetoothd pages
the speaker as well and their timing changes.  Tests of the daemon living
with it turn it on.

What 5.66 does, and what is modelled:
  * service_cb: a service with auto_connect (here the A2DP sink and
    external profiles) reaching CONNECTED adds it to the device's reconnect
    list, marks the device for reconnection when its UUID is in
    ReconnectUUIDs (A2DP sink: yes) and sets active = false.  The attempt
    count and a timer already running are left as they are.
  * disconnect_cb: only reason MGMT_DEV_DISCONN_TIMEOUT (supervision
    timeout: LinkLoss, SetInRange false) starts it: reset (attempt 0,
    timer removed), then reconnect_set_timer: active, a timer of
    intervals[attempt] s.  A Disconnect (reason LOCAL_HOST), the idle ACL
    dropped, the speaker disconnecting, the adapter powering off: nothing.
  * reconnect_timeout -> btd_device_connect_services(): -EBUSY while a
    Connect/ConnectProfile or a service search is under way (or its own
    connect), -ENETDOWN when powered off, -ENOENT with services unknown,
    -EALREADY when every service is connected: any of these resets the
    reconnect for good (until the next link loss).  Otherwise its services
    are connected as for a Connect (dev->pending) but with no D-Bus caller:
    meanwhile Connect and ConnectProfile answer InProgress
    "br-connection-busy" (device.c connect_profiles), and the A2DP stream
    comes up with SelectConfiguration/SetConfiguration on our endpoints as
    for any connection.  attempt++.
  * conn_fail_cb (mgmt Connect Failed: any page of the device that fails,
    ours included): while active, at ReconnectAttempts it resets, else
    reconnect_set_timer again.  5.66 does not remove a timer still
    running there (a page of someone else's failing while the next try
    waits): both fire; modelled so.
  * interval_timeout is one static in 5.66 (for every device): attempts
    past the list keep the last interval; modelled per world.
  * What ends it besides: the services going (service_cb UNAVAILABLE ->
    reconnect_remove frees the tracking and its timer): the device
    removed, or blocked (device_block removes every service; unblocking
    probes them again, untracked until one connects).  Not a
    Device1.Disconnect: with no link it cancels a connect under way
    (dev->pending) but leaves the timer; Trusted is not looked at.
  * Not modelled: MGMT_DEV_DISCONN_LOCAL_HOST_SUSPEND (reconnect on
    resume), a page cancelled by Disconnect reporting Connect Failed (the
    double's cancelled page reports nothing), a pairing's page failing.

Parameters: policy_reconnect (bool), policy_reconnect_intervals_s (list,
may be fractions of a second to scale a test), policy_reconnect_attempts.
"""

DEFAULT_INTERVALS_S = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_ATTEMPTS = 7


class PolicyReconnectMixin:
    """Mixed into device.Device; state lives in pol_* attributes."""

    def policy_init(self):
        self.pol_reconnect = False     # reconnect->reconnect
        self.pol_services = []         # reconnect->services (names)
        self.pol_active = False
        self.pol_attempt = 0
        self.pol_timer = None

    def policy_enabled(self):
        return bool(self.opt('PolicyReconnect',
                             self.world.params.get('policy_reconnect', False)))

    def _policy_intervals(self):
        return list(self.world.params.get('policy_reconnect_intervals_s',
                                          DEFAULT_INTERVALS_S))

    def _policy_attempts(self):
        return int(self.world.params.get('policy_reconnect_attempts',
                                         DEFAULT_ATTEMPTS))

    # -- service_cb --------------------------------------------------------------
    def policy_service_connected(self, name):
        if not self.policy_enabled():
            return
        if name not in self.pol_services:
            self.pol_services.append(name)
        self.pol_active = False
        if not self.pol_reconnect:
            self.pol_reconnect = name == 'a2dp-sink'

    # -- reconnect_reset / reconnect_set_timer -----------------------------------
    def policy_reset(self):
        self.pol_attempt = 0
        self.pol_active = False
        self.world.cancel_timer(self.pol_timer)
        self.pol_timer = None

    def _policy_set_timer(self):
        self.pol_active = True
        iv = self._policy_intervals()
        if self.pol_attempt < len(iv):
            self.world.policy_interval_s = iv[self.pol_attempt]
        s = getattr(self.world, 'policy_interval_s', iv[0])
        self.log('policy: reconnect attempt %d/%d in %g s' % (
            self.pol_attempt + 1, self._policy_attempts(), s))
        # the previous timer, if one runs, is not removed (5.66)
        self.pol_timer = self.world.timer(s * 1000, self._policy_timeout)

    # -- disconnect_cb (reason MGMT_DEV_DISCONN_TIMEOUT only) --------------------
    def policy_link_timeout(self):
        if not self.policy_enabled() or not self.pol_reconnect:
            return
        self.policy_reset()
        self._policy_set_timer()

    # -- reconnect_timeout -------------------------------------------------------
    def _policy_timeout(self):
        self.pol_timer = None
        err = self._policy_connect_services()
        if err is not None:
            self.log('policy: Reconnecting services failed: %s' % err)
            self.policy_reset()
            return
        self.pol_attempt += 1

    def _policy_connect_services(self):
        """btd_device_connect_services(dev, reconnect->services): None when
        started, else the errno."""
        if self.connect_req is not None or self.browsing:
            return 'EBUSY'
        if not self.adapter.powered:
            return 'ENETDOWN'
        if not self.svc_resolved:
            return 'ENOENT'
        svcs = [s for s in self._services() if s[0] in self.pol_services]
        self.log('policy: reconnecting %s' % ', '.join(s[0] for s in svcs))

        def ok():
            self.log('policy: reconnected')

        def err(e):
            self.log('policy: reconnect failed: %s' % e.get_dbus_message())
        self.connect_req = {'method': None, 'ok': ok, 'err': err,
                            'pending': list(svcs), 'last': None,
                            'any': False}
        req = self.connect_req
        last = 'ENOENT'
        while req['pending']:
            svc = req['pending'][0]
            errno = self._service_connect(svc, self._service_done)
            if errno is None:
                return None
            req['pending'].pop(0)
            last = errno
        self.connect_req = None
        return last

    # -- conn_fail_cb ------------------------------------------------------------
    def policy_conn_failed(self, status='page-timeout'):
        if not self.policy_enabled() or not self.pol_reconnect or \
                not self.pol_active:
            return
        if status == 'not-powered' or \
                self.pol_attempt == self._policy_attempts():
            self.log('policy: giving up reconnecting')
            self.policy_reset()
            return
        self._policy_set_timer()

    def policy_device_removed(self):
        """service_cb UNAVAILABLE for every service: the tracking goes."""
        self.policy_reset()
        self.pol_reconnect = False
        self.pol_services = []

