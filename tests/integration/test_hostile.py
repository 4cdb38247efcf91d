"""A hostile D-Bus client: thousands of randomized calls with wrong
signatures, huge arrays, invalid values, unknown members, and clients that
leave before the reply, aimed at Manager1, the endpoint and the agent, all
while the daemon streams. Every call gets an error or a valid reply; no
rejected call changes state; the stream continues unharmed."""

import os
import random
import signal
import time
import unittest

import dbus
import dbus.lowlevel

from common import A2dpTestCase, TONE_HZ, MANAGER, MANAGER_PATH, PROPS, SLOW

CALLS = int(os.environ.get('HOSTILE_CALLS', '10000'))
ENDPOINT_PATH = '/org/a2dpsrc/bluez/hci0/a2dp_source_sbc'
AGENT_PATH = '/org/a2dpsrc/agent'
SIGS = ['', 's', 'o', 'b', 'q', 'u', 'i', 'y', 'd', 'ay', 'as', 'a{sv}', 'a{ss}', 'v', '(ss)',
        'ss', 'sss', 'ssv', 'oa{sv}', 'ou', 'ouq', 'h', 'aay', 'a{oa{sv}}']
MANAGER_METHODS = ['StartDiscovery', 'StopDiscovery', 'GetDevices', 'Pair', 'Connect', 'Disconnect',
                   'Forget', 'SetDefaultOutput', 'Reset', 'Nope', '']
ENDPOINT_METHODS = ['SelectConfiguration', 'SetConfiguration', 'ClearConfiguration', 'Release']
AGENT_METHODS = ['Release', 'RequestPinCode', 'DisplayPinCode', 'RequestPasskey', 'DisplayPasskey',
                 'RequestConfirmation', 'RequestAuthorization', 'AuthorizeService', 'Cancel']
PROPERTIES = ['SpeakerMode', 'SpeakerModeBlocker', 'State', 'Output', 'Routes', 'Volume',
              'AutoReconnect', 'IdleSuspend', 'Codec', 'Latency', 'Discovering', 'Statistics', 'Bogus']


def rand_value(rng, sig):
    """A value of D-Bus type sig, often nasty."""
    if sig == 's':
        return rng.choice(['', 'media', 'bluetooth', 'x' * rng.choice([1, 300, 70000]), '00:11:22:33:44:55',
                           'ZZ:11:22:33:44:55', '\u00e9\u4e2d', 'local', 'alerts', '../../etc'])
    if sig == 'o':
        return dbus.ObjectPath(rng.choice(['/', '/org/bluez/hci0/dev_00_11_22_33_44_55/sep1/fd0',
                                           '/x' * 50, '/org/a2dpsrc']))
    if sig == 'b':
        return dbus.Boolean(rng.random() < 0.5)
    if sig == 'q':
        return dbus.UInt16(rng.choice([0, 127, 128, 65535]))
    if sig == 'u':
        return dbus.UInt32(rng.choice([0, 1, 86401, 2 ** 32 - 1]))
    if sig == 'i':
        return dbus.Int32(rng.choice([-1, 0, 2 ** 31 - 1]))
    if sig == 'y':
        return dbus.Byte(rng.randrange(256))
    if sig == 'd':
        return dbus.Double(rng.choice([0.0, -1e300, float('nan')]))
    if sig == 'h':
        return dbus.types.UnixFd(os.open('/dev/null', os.O_RDONLY))
    if sig == 'ay':
        n = rng.choice([0, 1, 3, 4, 5, 100, 200000])
        return dbus.ByteArray(bytes(rng.randrange(256) for _ in range(min(n, 64))) * (n // 64 + 1))[:n] \
            if n else dbus.Array([], signature='y')
    if sig == 'aay':
        return dbus.Array([rand_value(rng, 'ay') for _ in range(rng.randrange(3))], signature='ay')
    if sig == 'as':
        return dbus.Array([rng.choice(['', 'a', 'media', '\u00e9']) for _ in range(rng.choice([0, 2, 20000]))],
                          signature='s')
    if sig == 'a{sv}':
        return dbus.Dictionary({rand_value(rng, 's')[:40]: rand_value(rng, rng.choice(['s', 'ay', 'y', 'q', 'b']))
                                for _ in range(rng.randrange(6))}, signature='sv')
    if sig == 'a{ss}':
        return dbus.Dictionary({rng.choice(['media', 'alerts', 'voice', 'x', '']):
                                rng.choice(['bluetooth', 'local', 'both', ''])
                                for _ in range(rng.randrange(5))}, signature='ss')
    if sig == 'a{oa{sv}}':
        return dbus.Dictionary({}, signature='oa{sv}')
    if sig == 'v':
        inner = rng.choice(['s', 'b', 'q', 'u', 'ay', 'a{ss}', 'i'])
        return rand_value(rng, inner)
    if sig == '(ss)':
        return dbus.Struct((rand_value(rng, 's'), rand_value(rng, 's')), signature='ss')
    raise ValueError(sig)


def split_sig(sig):
    out, i = [], 0
    while i < len(sig):
        j = i + 1
        if sig[i] == 'a':
            if sig[i + 1] == '{':
                depth, j = 0, i + 1
                while True:
                    depth += sig[j] == '{'
                    depth -= sig[j] == '}'
                    j += 1
                    if depth == 0:
                        break
            elif sig[i + 1] == 'a':
                j = i + 3
            else:
                j = i + 2
        elif sig[i] == '(':
            j = sig.index(')', i) + 1
        out.append(sig[i:j])
        i = j
    return out


class HostileTests(A2dpTestCase):

    def state_snapshot(self):
        """What a refused call must not change: Manager1's properties, and the
        registrations -- bluetoothd's record of our endpoint, agent and
        transport owner -- and the daemon's own belief in them (a Release it
        obeyed is logged, and it would skip unregistering at exit)."""
        props = dict(self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH).GetAll(
            MANAGER, dbus_interface=PROPS))
        for volatile in ('Statistics', 'Latency', 'Codec', 'Discovering'):
            props.pop(volatile, None)
        transports = {p: (str(t['State']), str(t['Owner'])) for p, t in self.bluez.transports().items()}
        log = self.daemon.log_text()
        return {'manager': props,
                'endpoints': sorted(self.bluez.registered_endpoints()),
                'agents': sorted(tuple(str(x) for x in a) for a in self.bluez.GetAgents()),
                'transports': transports,
                'released': [l for l in log.splitlines() if 'released our' in l]}

    def assert_still_registered_at_exit(self, agent_registered):
        """The daemon still believes in its registrations: on SIGTERM it
        unregisters the endpoint (and the agent, when one is registered:
        only while a pairing of its own runs) itself; a daemon that obeyed a
        stranger's Release would skip that."""
        self.bluez.ClearLog()
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)
        text = '\n'.join(self.bluez.event_log())
        self.assertIn('Endpoint unregistered', text)
        if agent_registered:
            self.assertIn('agent unregistered', text)

    def pick_call(self, rng):
        """(path, interface, member, signature, args, may_succeed)"""
        kind = rng.random()
        if kind < 0.45:
            member = rng.choice(MANAGER_METHODS)
            sig = rng.choice(SIGS)
            # only calls that must be refused: a well-formed Reset() or
            # Forget() would change state legitimately
            if sig == '' and member in ('Disconnect', 'Reset', 'StartDiscovery', 'StopDiscovery'):
                sig = 'u'
            args = [rand_value(rng, x) for x in split_sig(sig)]
            if sig == 's' and member in ('Pair', 'Connect', 'Forget') and \
                    args[0].upper() in ('00:11:22:33:44:55',):
                args[0] = 'ZZ:11:22:33:44:55'
            if sig == 's' and member == 'SetDefaultOutput' and args[0] in ('bluetooth', 'local'):
                args[0] = 'both'
            return MANAGER_PATH, MANAGER, member, sig, args
        if kind < 0.75:
            member = rng.choice(['Get', 'Set', 'GetAll', 'Nope'])
            prop = rng.choice(PROPERTIES)
            if member == 'Set':
                # a wrong type, or an out-of-range value of the right one
                bad = {'SpeakerMode': 'q', 'Routes': 'a{ss}', 'Volume': 'q', 'AutoReconnect': 's',
                       'IdleSuspend': 'u'}.get(prop, 'b')
                val = rand_value(rng, rng.choice([bad, 's', 'i', 'ay']))
                if prop == 'Volume' and isinstance(val, dbus.UInt16) and val <= 127:
                    val = dbus.UInt16(128)
                if prop == 'IdleSuspend' and isinstance(val, dbus.UInt32) and val <= 86400:
                    val = dbus.UInt32(86401)
                if prop == 'Routes' and isinstance(val, dbus.Dictionary):
                    val[dbus.String('nonsense')] = dbus.String('bluetooth')
                if prop in ('AutoReconnect', 'SpeakerMode') and isinstance(val, dbus.Boolean):
                    val = dbus.String('yes')
                iface = rng.choice([MANAGER, MANAGER, 'org.nope'])
                return MANAGER_PATH, PROPS, 'Set', 'ssv', [iface, prop, val]
            return MANAGER_PATH, PROPS, member, rng.choice(['ss', 's', '', 'sss', 'ay']), None
        if kind < 0.9:
            return ENDPOINT_PATH, 'org.bluez.MediaEndpoint1', rng.choice(ENDPOINT_METHODS), rng.choice(SIGS), None
        return AGENT_PATH, 'org.bluez.Agent1', rng.choice(AGENT_METHODS), rng.choice(SIGS), None

    def test_ten_thousand_hostile_calls(self):
        rng = random.Random(1234)
        self.add_speaker()
        self.start_daemon()
        self.connect_speaker()
        mgr_props = self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH)
        before = self.state_snapshot()
        packets_before = int(mgr_props.Get(MANAGER, 'Statistics', dbus_interface=PROPS)['Packets'])
        conn = self.bus.connect()
        answered = errors = valid = sent = left = 0
        counts = {}
        # per target (Manager1, endpoint, agent): the answers it gave
        answers = {'manager': {}, 'endpoint': {}, 'agent': {}}
        t0 = time.monotonic()
        n = 0
        while sent < CALLS:
            n += 1
            path, iface, member, sig, args = self.pick_call(rng)
            if args is None:
                args = [rand_value(rng, s) for s in split_sig(sig)]
            msg = dbus.lowlevel.MethodCallMessage('org.a2dpsrc', path, iface or None, member or 'X')
            try:
                msg.append(signature=sig, *args)
            except Exception:
                continue
            sent += 1
            if rng.random() < 0.02:
                # a client that leaves before the answer
                c = self.bus.connect()
                c.send_message(msg)
                c.close()
                left += 1
                continue
            target = {ENDPOINT_PATH: 'endpoint', AGENT_PATH: 'agent'}.get(path, 'manager')
            try:
                conn.send_message_with_reply_and_block(msg, 10000)
                valid += 1
                name = 'valid reply to %s(%s)' % (member, sig)
            except dbus.exceptions.DBusException as e:
                name = e.get_dbus_name() or ''
                if name == 'org.freedesktop.DBus.Error.NoReply':
                    self.fail('no answer to %s.%s(%s)' % (iface, member, sig))
                errors += 1
                counts[name] = counts.get(name, 0) + 1
            answers[target][name] = answers[target].get(name, 0) + 1
            answered += 1
            self.assertIsNone(self.daemon.returncode, 'the daemon died at call %d: %s.%s(%s)'
                              % (n, iface, member, sig))
        elapsed = time.monotonic() - t0
        print('\n%d calls in %.1f s (%d from clients that left): %d errors, %d valid replies; %s'
              % (sent, elapsed, left, errors, valid, sorted(counts.items())))
        self.assertEqual(answered + left, sent)
        # endpoint and agent: strangers are refused, every time, with
        # AccessDenied (before their arguments are even looked at)
        for target in ('endpoint', 'agent'):
            got = answers[target]
            self.assertGreater(sum(got.values()), CALLS // 50, 'too few calls at the %s' % target)
            self.assertEqual(set(got), {'org.freedesktop.DBus.Error.AccessDenied'},
                             'the %s answered a stranger otherwise than AccessDenied: %s' % (target, got))
        # state untouched by everything that was rejected
        after = self.state_snapshot()
        self.assertEqual(before, after)
        # and the stream never stopped
        time.sleep(0.5)
        packets_after = int(mgr_props.Get(MANAGER, 'Statistics', dbus_interface=PROPS)['Packets'])
        self.assertGreater(packets_after, packets_before + int(elapsed * 40))
        self.bluez.flush()
        a = self.analyze(self.recording(), '--tone', str(TONE_HZ))
        self.assert_clean_stream(a)
        self.assert_still_registered_at_exit(bool(after['agents']))


if __name__ == '__main__':
    unittest.main()
