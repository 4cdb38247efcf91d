"""Pairing and bonding of a Device, as bluetoothd 5.66 and the kernel do it
(src/device.c pair_device / new_authentication_return, the kernel's
hci_event.c): Device1.Pair and CancelPairing with the agent's part, the
implicit bonding an AVDTP channel's security level brings about, and a
pairing the remote device starts.

Pair: InProgress "In Progress", AlreadyExists "Already Exists" when bonded,
  AuthenticationFailed / AuthenticationCanceled / AuthenticationRejected /
  AuthenticationTimeout, ConnectionAttemptFailed "Page Timeout".
CancelPairing: DoesNotExist when no pairing runs.
"""

import dbus
import dbus.service

from . import consts as C


# dbus.service.Interface: its methods join Device's D-Bus method table
# (introspection), which a plain mixin's would not
class PairingMixin(dbus.service.Interface):
    """Mixed into device.Device."""

    def _link_security(self, done):
        """AVDTP's L2CAP channel asks for security level medium (avdtp.c
        BT_IO_SEC_MEDIUM): on a device without a key the kernel
        authenticates first, with general bonding and no Pair() behind it.
        Just Works needs no agent; a PIN goes to the default agent (after
        the autopair plugin's 0000 for audio devices); the result is
        Paired (Bonded only while the adapter is bondable) and not
        Trusted.  done(errno or None)."""
        if self.paired:
            return done(None)
        w = self.world
        method = self.opt('PairingMethod', 'just-works')
        pin = str(self.opt('PinCode', '0000'))
        gen = self.gen

        def bonded():
            if gen != self.gen:
                return
            self.paired = True
            if self.adapter.pairable and not self.bonded:
                self.bonded = True
                self.changed(C.DEVICE_IFACE, 'Bonded')
            self.store()
            self.changed(C.DEVICE_IFACE, 'Paired')
            self.log('implicit bonding on connect (not trusted)')
            done(None)

        def refused(why):
            if gen != self.gen:
                return
            self.log('implicit authentication failed: %s' % why)
            done('ECONNREFUSED')      # l2cap: security block

        if method in ('just-works', None, '') or \
                (method == 'pin' and pin == '0000' and (self.cls >> 8) & 0x1f == 4):
            return w.timer(self.ms('pair_ms'), bonded)
        if method in ('fail', 'reject', 'timeout', 'cancel'):
            return w.timer(self.ms('pair_ms'), refused, method)
        agent = w.agent_get(None)
        if agent is None:
            return w.timer(self.ms('pair_ms'), refused, 'no agent')
        dpath = dbus.ObjectPath(self.path)
        if method == 'pin':
            def got_pin(kind, values):
                if kind is None and len(values) == 1 and str(values[0]) == pin:
                    bonded()
                else:
                    refused('PIN %s' % (kind or 'wrong'))
            return w.agent_request(agent, 'RequestPinCode', 'o', [dpath], got_pin)

        def confirmed(kind, values):
            if kind is None:
                bonded()
            else:
                refused('agent said %s' % kind)
        w.agent_request(agent, 'RequestConfirmation', 'ou',
                        [dpath, dbus.UInt32(int(self.opt('Passkey', 123456)))],
                        confirmed)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='', out_signature='',
                         sender_keyword='sender',
                         async_callbacks=('ok', 'err'))
    def Pair(self, sender=None, ok=None, err=None):
        self.log('Pair from %s (adapter bondable: %s)' % (sender, self.adapter.pairable))
        if self.bonding is not None:
            return err(C.in_progress())
        if self.bonded:
            return err(C.already_exists())
        self.set_temporary(False)
        agent = self.world.agent_get(sender)
        b = {'sender': sender, 'ok': ok, 'err': err, 'agent': agent,
             'req': None}
        b['watch'] = self.world.watch_name(sender,
                                           lambda: self._bonding_requestor_gone(b))
        self.bonding = b
        if not self.adapter.powered:
            return self.world.idle(self._bonding_done, 'failed')
        gen = self.gen
        linked = self.connected

        def paged(errno):
            if gen != self.gen:
                return
            if self.bonding is not b:
                # cancelled while paging: the kernel aborts the link it
                # was making for the pairing (mgmt cancel_pair_device)
                if errno is None and not linked and self.connected:
                    self.request_disconnect(None)
                return
            if errno == 'EHOSTDOWN':
                return self._bonding_done('page-timeout')
            if errno is not None:
                return self._bonding_done('failed')
            self.world.timer(self.ms('pair_ms'), self._pair_method, b)
        self._page(paged)

    @dbus.service.method(C.DEVICE_IFACE, in_signature='', out_signature='')
    def CancelPairing(self):
        if self.bonding is None:
            # device.c cancel_pairing(): with no bonding request (the bond
            # made, the service search before Pair's reply still to go),
            # mgmt Unpair Device: the kernel drops the key and the link,
            # and bluetoothd, not told, still lists the bond
            if self.paired or self.bonded:
                self.log('CancelPairing with no pairing under way: the kernel drops the key '
                         'of a bond bluetoothd still lists')
            raise C.does_not_exist()
        self._bonding_done('canceled')

    def _bonding_requestor_gone(self, b):
        if self.bonding is b:
            b['watch'] = None
            self._bonding_done('canceled', reply=False)
            if self.connected:
                self.request_disconnect(None)

    def _bonding_done(self, kind, reply=True):
        b, self.bonding = self.bonding, None
        if b is None:
            return
        self.world.unwatch(b.get('watch'))
        agent = b.get('agent')
        if agent is not None and b.get('req') is not None:
            self.world.agent_cancel(agent, b['req'], send=True)
        if kind is None:
            self.paired = True
            # the kernel forces a no-bonding authentication when the
            # adapter is not bondable (hci_io_capa_request_evt), even for
            # the initiator: the key is not stored (store_hint 0), the
            # device is Paired but not Bonded, and unpaired at disconnect
            first_bond = not self.bonded and self.adapter.pairable
            if first_bond:
                self.bonded = True
            self.set_temporary(False)
            if first_bond:
                self.changed(C.DEVICE_IFACE, 'Bonded')
            self.store()

            def finish():
                if not self.svc_refreshed and self.connected:
                    self.svc_resolved = True
                    self.svc_refreshed = True
                    self.changed(C.DEVICE_IFACE, 'ServicesResolved')
                self.changed(C.DEVICE_IFACE, 'Paired')
                if reply:
                    b['ok']()
                if self.connected:
                    self.arm_idle()
            if not self.svc_resolved:
                self.world.timer(self.ms('sdp_ms'), finish)
            else:
                finish()
            return
        self.log('pairing failed: %s' % kind)
        if reply:
            b['err'](C.auth_error(kind))
        if self.connected:
            if kind == 'canceled':
                self.request_disconnect(None)
            else:
                self.arm_idle()

    def _bond_if(self, b, kind):
        if self.bonding is b:
            self._bonding_done(kind)

    def _pair_method(self, b):
        if self.bonding is not b:
            return
        method = self.opt('PairingMethod', 'just-works')
        passkey = int(self.opt('Passkey', 123456))
        pin = str(self.opt('PinCode', '0000'))
        agent = b['agent']
        w = self.world
        dpath = dbus.ObjectPath(self.path)
        usable = agent is not None and agent.capability != 'NoInputNoOutput'

        def answer(check):
            def cb(kind, values):
                if self.bonding is not b:
                    return
                b['req'] = None
                if kind is not None:
                    return self._bonding_done(
                        'canceled' if kind == 'canceled' else 'failed')
                if check is not None and not check(values):
                    return self._bonding_done('failed')
                w.timer(self.ms('pair_ms'), self._bond_if, b, None)
            return cb

        if method in ('just-works', None, ''):
            return self._bonding_done(None)
        if method == 'fail':
            return self._bonding_done('failed')
        if method == 'reject':
            return self._bonding_done('rejected')
        if method == 'timeout':
            return w.timer(self.ms('pair_ms') * 3, self._bond_if, b,
                           'timeout')
        if method == 'cancel':
            self._bonding_done('canceled')
            if self.connected:
                self.link_dropped(loss=True)
            return
        if method == 'pin' and pin == '0000' and (self.cls >> 8) & 0x1f == 4:
            return self._bonding_done(None)   # autopair plugin tries 0000
        if not usable:
            return self._bonding_done('failed')
        if method == 'confirm':
            b['req'] = w.agent_request(agent, 'RequestConfirmation', 'ou',
                                       [dpath, dbus.UInt32(passkey)],
                                       answer(None))
        elif method == 'authorize':
            b['req'] = w.agent_request(agent, 'RequestAuthorization', 'o',
                                       [dpath], answer(None))
        elif method == 'passkey':
            b['req'] = w.agent_request(
                agent, 'RequestPasskey', 'o', [dpath],
                answer(lambda v: len(v) == 1 and int(v[0]) == passkey))
        elif method == 'pin':
            b['req'] = w.agent_request(
                agent, 'RequestPinCode', 'o', [dpath],
                answer(lambda v: len(v) == 1 and str(v[0]) == pin))
        elif method == 'display-passkey':
            w.send_noreply(agent.owner, agent.path, C.AGENT_IFACE,
                           'DisplayPasskey', 'ouq', dpath,
                           dbus.UInt32(passkey), dbus.UInt16(0))
            w.timer(self.ms('pair_ms'), self._bond_if, b, None)
        elif method == 'display-pin':
            b['req'] = w.agent_request(agent, 'DisplayPinCode', 'os',
                                       [dpath, pin], answer(None))
        else:
            self._bonding_done('failed')

    def remote_pair(self, ok, err):
        """This device pages the adapter and asks to bond (general bonding),
        as a phone or a stranger's laptop does. The kernel answers: without
        HCI_BONDABLE (Pairable false) it refuses (IO Capability Negative
        Reply, Pairing Not Allowed); with it, Just Works where neither side
        wants MITM is accepted by the kernel without asking any agent
        (hci_user_confirm_request_evt auto-accept); numeric comparison asks
        the default agent (RequestConfirmation), and is rejected when there
        is none."""
        w = self.world
        if not self.adapter.powered or not self.in_range:
            return err(C.test_error('adapter off or device out of range'))
        if self.bonded:
            return ok()
        if not self.exported:
            self.export()          # bluetoothd makes an object for the ACL
        self.acl_up()

        def bonded():
            self.paired = self.bonded = True
            self.set_temporary(False)
            self.changed(C.DEVICE_IFACE, 'Bonded')
            self.store()
            self.changed(C.DEVICE_IFACE, 'Paired')
            self.log('incoming pairing: bonded (new key, store_hint 1)')
            self.arm_idle()
            ok()

        def refused(why):
            self.log('incoming pairing refused: %s' % why)
            self.arm_idle()
            err(C.test_error('pairing refused: %s' % why, 'Rejected'))

        if not self.adapter.pairable:
            return w.timer(self.ms('pair_ms'), refused, 'pairing not allowed')
        method = self.opt('PairingMethod', 'just-works')
        if method in ('just-works', None, ''):
            return w.timer(self.ms('pair_ms'), bonded)
        agent = w.agent_get(None)
        if agent is None:
            return w.timer(self.ms('pair_ms'), refused, 'no agent')

        def answered(kind, values):
            if kind is None:
                bonded()
            else:
                refused('agent said %s' % kind)
        w.agent_request(agent, 'RequestConfirmation', 'ou',
                        [dbus.ObjectPath(self.path),
                         dbus.UInt32(int(self.opt('Passkey', 123456)))],
                        answered)
