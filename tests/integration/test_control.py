"""The control API end to end: org.a2dpsrc.Manager1 exercised through
dbus-python, busctl and a2dpsrcctl against the daemon running on the BlueZ
double. Every method, property and error of docs/dbus-api.md, pairing,
discovery, one output at a time, fallback power and adapter blockers,
restarts, and the D-Bus policy file.

Audio routing, fallback timing, volume and idle suspend are in
test_routing.py."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import dbus
import dbus.bus

from common import (A2dpTestCase, CTL, DAEMON, MANAGER, MANAGER_PATH, PROPS, SPEAKER, SPEAKER_PATH,
                    HCI0, ROOT, wait_for)
from harness import DBUS_DAEMON, DEBIAN_DEFAULT_POLICY, Daemon, _die_with_parent, _kill

API_DOC = os.path.join(ROOT, 'docs', 'dbus-api.md')
POLICY = os.path.join(ROOT, 'dbus', 'org.a2dpsrc.conf')
ERR = 'org.a2dpsrc.Error.'
SPEAKER_B = '00:11:22:33:44:66'
SPEAKER_B_PATH = HCI0 + '/dev_00_11_22_33_44_66'
HEADSET = '00:AA:BB:CC:DD:01'
HEADSET_UUIDS = ['00001108-0000-1000-8000-00805f9b34fb',    # HSP HS
                 '0000111e-0000-1000-8000-00805f9b34fb']    # HFP HF
# what Statistics counts on its own: never compared as a setting
VOLATILE = ('Statistics', 'Latency')


def dev_path(address, adapter=HCI0):
    return '%s/dev_%s' % (adapter, address.replace(':', '_'))


def plain(v):
    """dbus-python values -> plain Python."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.UInt16, dbus.Int32, dbus.UInt32,
                      dbus.Int64, dbus.UInt64)):
        return int(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(v)
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


# -- docs/dbus-api.md ----------------------------------------------------------

def parse_api_doc(path=API_DOC):
    """(properties, methods, statistics) as the document states them:
    properties {name: (signature, 'read'|'readwrite', rest of heading)},
    methods {name: (in signature, out signature)}, statistics {key: type}."""
    props, methods, stats = {}, {}, {}
    section = None
    heading = None
    paragraphs = {}
    with open(path, encoding='utf-8') as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith('## '):
            section = line[3:].strip()
            heading = None
            continue
        if line.startswith('### '):
            h = line[4:].strip()
            heading = h
            paragraphs[h] = []
            if section == 'Properties':
                m = re.match(r'(\w+) — `([^`]+)`, (read/write|read)\b(.*)$', h)
                if not m:
                    raise ValueError('property heading not understood: %r' % h)
                props[m.group(1)] = (m.group(2), 'readwrite' if m.group(3) == 'read/write' else 'read',
                                     m.group(4))
            elif section == 'Methods':
                m = re.match(r'(.*?)(?:\s*→\s*`([^`]+)`)?$', h)
                out = m.group(2) or ''
                for part in m.group(1).split(' / '):
                    mm = re.match(r'(\w+)\(([^)]*)\)$', part.strip())
                    if not mm:
                        raise ValueError('method heading not understood: %r' % h)
                    args = [a.split()[0] for a in mm.group(2).split(',') if a.strip()]
                    methods[mm.group(1)] = (''.join(args), out)
            continue
        if heading is not None:
            paragraphs[heading].append(line)
    stat_heading = [h for h in paragraphs if h.startswith('Statistics ')]
    if stat_heading:
        para = ' '.join(paragraphs[stat_heading[0]])
        pending = []
        for name, typ in re.findall(r'`(\w+)`|\((t|u|b)[:)]', para):
            if name:
                pending.append(name)
            else:
                for n in pending:
                    stats[n] = typ
                pending = []
    return props, methods, stats


def parse_introspection(xml):
    """The Manager1 interface of an Introspect reply, in the same shapes as
    parse_api_doc, plus {property: EmitsChangedSignal annotation or None}."""
    root = ET.fromstring(xml)
    props, methods, emits = {}, {}, {}
    ifaces = [i for i in root.findall('interface') if i.get('name') == MANAGER]
    if len(ifaces) != 1:
        raise ValueError('Introspect has %d %s interfaces' % (len(ifaces), MANAGER))
    for p in ifaces[0].findall('property'):
        props[p.get('name')] = (p.get('type'), p.get('access'))
        ann = [a.get('value') for a in p.findall('annotation')
               if a.get('name') == 'org.freedesktop.DBus.Property.EmitsChangedSignal']
        emits[p.get('name')] = ann[0] if ann else None
    for m in ifaces[0].findall('method'):
        ins = ''.join(a.get('type') for a in m.findall('arg') if a.get('direction', 'in') == 'in')
        outs = ''.join(a.get('type') for a in m.findall('arg') if a.get('direction') == 'out')
        methods[m.get('name')] = (ins, outs)
    return props, methods, emits, [i.get('name') for i in root.findall('interface')]


# -- PropertiesChanged, seen from a client -----------------------------------------

class ChangeRecorder:
    """PropertiesChanged of /org/a2dpsrc, as an app subscribed to them sees
    them: a connection of its own on a GLib main loop, pumped while waiting."""

    def __init__(self, bus):
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        self.ctx = GLib.MainContext.default()
        self.conn = dbus.bus.BusConnection(bus.address, mainloop=DBusGMainLoop())
        self.changes = []       # (monotonic, name, value)
        # AddMatch is a blocking call: subscribed once this returns
        self.conn.add_signal_receiver(self._on_changed, 'PropertiesChanged', PROPS,
                                      'org.a2dpsrc', MANAGER_PATH)

    def _on_changed(self, iface, changed, invalidated):
        if iface != MANAGER:
            return
        now = time.monotonic()
        for k, v in changed.items():
            self.changes.append((now, str(k), plain(v)))

    def pump(self):
        while self.ctx.iteration(False):
            pass

    def values(self, name):
        self.pump()
        return [v for _, n, v in self.changes if n == name]

    def wait(self, name, value, timeout=3.0):
        """Until a PropertiesChanged carried name = value; returns when."""
        def seen():
            self.pump()
            for t, n, v in self.changes:
                if n == name and v == value:
                    return t
            return None
        return wait_for(seen, timeout, what='PropertiesChanged %s = %r (seen: %r)' % (
            name, value, [(n, v) for _, n, v in self.changes]))

    def clear(self):
        self.pump()
        del self.changes[:]

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class CtlMonitor:
    """`a2dpsrcctl monitor` in the background; its lines collected."""

    def __init__(self, env, prefix=()):
        self.proc = subprocess.Popen(list(prefix) + [CTL, 'monitor'], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def wait_line(self, pattern, timeout=3.0):
        rx = re.compile(pattern)

        def seen():
            for l in self.lines:
                if rx.search(l):
                    return l
            if self.proc.poll() is not None:
                raise AssertionError('a2dpsrcctl monitor exited %s: %r' % (self.proc.returncode,
                                                                         self.lines))
            return None
        return wait_for(seen, timeout, what='monitor line /%s/ (got %r)' % (pattern, self.lines))

    def close(self):
        _kill(self.proc, signal.SIGINT, 3)
        if self.proc.stdout:
            self.proc.stdout.close()


# -- the test base ---------------------------------------------------------------

class ControlCase(A2dpTestCase):
    """A2dpTestCase with the control API's clients at hand."""

    def env(self):
        e = self.bus.env
        e.pop('DBUS_SESSION_BUS_ADDRESS', None)
        return e

    def busctl(self, *args, check=True, as_json=False, timeout=30):
        argv = ['busctl', '--system']
        if as_json:
            argv.append('--json=short')
        out = subprocess.run(argv + list(args), env=self.env(), capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            self.fail('busctl %s failed (%d): %s' % (' '.join(args), out.returncode, out.stderr))
        if as_json and out.returncode == 0:
            return json.loads(out.stdout)
        return out

    def ctl(self, *args, check=True, timeout=30):
        out = subprocess.run([CTL] + list(args), env=self.env(), capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            self.fail('a2dpsrcctl %s failed (%d): %s%s' % (' '.join(args), out.returncode,
                                                           out.stdout, out.stderr))
        return out

    def obj(self):
        # no introspection: calls go out exactly as typed here
        return self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH, introspect=False)

    def call(self, method, *args, signature=None, timeout=30):
        return self.obj().get_dbus_method(method, MANAGER)(*args, signature=signature,
                                                           timeout=timeout)

    def getall(self):
        return plain(self.obj().GetAll(MANAGER, dbus_interface=PROPS))

    def settings(self):
        """Every property but the counters: what a refused call must not
        change."""
        return {k: v for k, v in self.getall().items() if k not in VOLATILE}

    def stats(self):
        return plain(self.obj().Get(MANAGER, 'Statistics', dbus_interface=PROPS))

    def wait_prop(self, name, value, timeout=5.0):
        return self.daemon.wait_for(lambda: plain(self.mprop(name)) == value, timeout,
                                    what='%s == %r' % (name, value))

    def recorder(self):
        r = ChangeRecorder(self.bus)
        self.addCleanup(r.close)
        return r

    def monitor(self):
        m = CtlMonitor(self.env())
        self.addCleanup(m.close)
        return m

    def wait_monitor_listening(self, mon):
        """The monitor subscribes before its first Get; once it reports a
        change (IdleSuspend set to 1, 2, ...) it is surely listening."""
        n = 0

        def primed():
            nonlocal n
            n += 1
            self.ctl('idle-suspend', str(n))
            return any('IdleSuspend: %d s' % n in l for l in mon.lines)
        wait_for(primed, 5, interval=0.05, what='a2dpsrcctl monitor listening')

    def assert_error(self, name, fn, *args, **kw):
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.get_dbus_name(), name, cm.exception.get_dbus_message())
        return cm.exception.get_dbus_message()

    def state_file(self):
        with open(os.path.join(self.state_dir, 'state')) as f:
            return f.read()

    def double_device(self, path):
        return plain(self.bluez.GetDevices()[dbus.ObjectPath(path)])

    def device_entry(self, address):
        for d in plain(self.call('GetDevices')):
            if d['Address'].upper() == address.upper():
                return d
        return None

    def transport_state(self, device_path):
        for props in self.bluez.transports().values():
            if str(props.get('Device')) == device_path:
                return str(props['State'])
        return None

    def log_has(self, text, timeout=3.0):
        return self.daemon.wait_for(lambda: text in self.daemon.log_text(), timeout,
                                    what='daemon log: %r' % text)

    def power_supply(self, name, **attrs):
        d = os.path.join(self.power_dir, name)
        os.makedirs(d, exist_ok=True)
        for k, v in attrs.items():
            # rename into place: the daemon never reads a half-written value
            tmp = os.path.join(d, '.%s.tmp' % k)
            with open(tmp, 'w') as f:
                f.write('%s\n' % v)
            os.rename(tmp, os.path.join(d, k))


# ==================================================================================

class ApiContractTests(ControlCase):

    def test_introspection_matches_docs(self):
        """docs/dbus-api.md and the daemon's Introspect name the same
        methods and properties with the same signatures and access, both
        ways, and agree on which property has no change signal."""
        doc_props, doc_methods, doc_stats = parse_api_doc()
        self.assertTrue(doc_props and doc_methods and doc_stats, 'nothing parsed from the doc')
        self.start_daemon()
        xml = str(self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH, introspect=False).Introspect(
            dbus_interface='org.freedesktop.DBus.Introspectable'))
        props, methods, emits, ifaces = parse_introspection(xml)
        for iface in (MANAGER, PROPS, 'org.freedesktop.DBus.Introspectable', 'org.freedesktop.DBus.Peer'):
            self.assertIn(iface, ifaces)

        self.assertEqual(sorted(doc_props), sorted(props), 'property names: docs vs Introspect')
        for name, (sig, access, rest) in doc_props.items():
            self.assertEqual(props[name], (sig, access), 'property %s: docs say %s %s' % (name, sig, access))
            no_signal = 'no change signal' in rest
            self.assertEqual(emits[name] == 'false', no_signal,
                             '%s: EmitsChangedSignal %r, docs %r' % (name, emits[name], rest))
        self.assertEqual(sorted(doc_methods), sorted(methods), 'method names: docs vs Introspect')
        for name, sigs in doc_methods.items():
            self.assertEqual(methods[name], sigs, 'method %s (in, out)' % name)

        # busctl reads the same description
        out = self.busctl('introspect', '--xml-interface', 'org.a2dpsrc', MANAGER_PATH).stdout
        self.assertEqual(parse_introspection(out)[:2], (props, methods))

        # the Statistics keys and types the docs list are what GetAll gives
        st = self.busctl('get-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Statistics',
                         as_json=True)
        self.assertEqual(st['type'], 'a{sv}')
        got = {k: v['type'] for k, v in st['data'].items()}
        self.assertEqual(got, doc_stats)

    def test_every_property_readable_by_busctl_and_ctl(self):
        doc_props, _, _ = parse_api_doc()
        out = self.ctl('status', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('a2dpsrcd is not running', out.stderr)
        self.start_daemon()
        all_ = self.getall()
        self.assertEqual(sorted(all_), sorted(doc_props))
        # defaults, as documented
        self.assertEqual(all_['SpeakerMode'], True)        # the state file the harness wrote
        self.assertEqual(all_['SpeakerModeBlocker'], '')
        self.assertEqual(all_['State'], 'idle')
        self.assertEqual(all_['Output'], '')
        self.assertEqual(all_['Routes'], {'media': 'bluetooth', 'alerts': 'local', 'voice': 'local'})
        self.assertEqual(all_['Volume'], 64)
        self.assertEqual(all_['AutoReconnect'], True)
        self.assertEqual(all_['IdleSuspend'], 0)
        self.assertEqual(all_['Codec'], '')
        self.assertEqual(all_['Latency'], 0)
        self.assertEqual(all_['Discovering'], False)
        self.assertEqual(all_['PlaybackStatus'], 'stopped')
        self.assertEqual(all_['NowPlaying'], {'Title': '', 'Artist': '', 'Album': '', 'Duration': 0,
                                              'Position': 0})

        # Get, one by one, through busctl, with the documented type
        bc_all = self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, PROPS, 'GetAll', 's', MANAGER,
                             as_json=True)
        self.assertEqual(bc_all['type'], 'a{sv}')
        bc_all = bc_all['data'][0]
        for name, (sig, _, _) in doc_props.items():
            got = self.busctl('get-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, name, as_json=True)
            self.assertEqual(got['type'], sig, name)
            self.assertEqual(bc_all[name]['type'], sig, name)
            if name not in VOLATILE:
                # busctl's JSON gives an a{sv}'s values as {type, data}
                unwrap = (lambda v: {k: e['data'] for k, e in v.items()}) if sig == 'a{sv}' else \
                    (lambda v: v)
                self.assertEqual(unwrap(got['data']), all_[name], name)
                self.assertEqual(unwrap(bc_all[name]['data']), all_[name], name)
                self.assertEqual(plain(self.mprop(name)), all_[name], name)

        # a2dpsrcctl status shows every property, in words
        out = self.ctl('status').stdout
        lines = dict(l.split(': ', 1) for l in out.splitlines() if ': ' in l and not l.startswith(' '))
        shown = set(re.findall(r'^(\w+):', out, re.M))
        self.assertEqual(shown, set(doc_props), out)
        self.assertEqual(lines['SpeakerMode'], 'on')
        self.assertEqual(lines['SpeakerModeBlocker'], 'none')
        self.assertEqual(lines['State'], 'idle')
        self.assertEqual(lines['Output'], 'none')
        self.assertEqual(lines['Routes'], 'media=bluetooth alerts=local voice=local')
        self.assertEqual(lines['Volume'], '64 (50%)')
        self.assertEqual(lines['AutoReconnect'], 'on')
        self.assertEqual(lines['IdleSuspend'], 'never')
        self.assertEqual(lines['Codec'], 'none')
        self.assertEqual(lines['Discovering'], 'no')
        self.assertEqual(lines['PlaybackStatus'], 'stopped')
        self.assertEqual(lines['NowPlaying'], 'nothing')
        counters = re.findall(r'^    (\w+): (?:\d+|yes|no)$', out, re.M)
        self.assertEqual(sorted(counters), sorted(parse_api_doc()[2]), out)

    def test_every_writable_property_set_by_busctl_and_ctl_signals_change(self):
        doc_props, _, _ = parse_api_doc()
        writable = sorted(n for n, (_, a, _) in doc_props.items() if a == 'readwrite')
        self.assertEqual(writable, ['AutoReconnect', 'Codecs', 'IdleSuspend', 'PlaybackStatus', 'Routes',
                                    'SpeakerMode', 'Volume'])
        self.start_daemon()
        rec = self.recorder()

        # busctl set-property: each one changes, is announced, reads back
        sets = [
            ('Volume', ['q', '80'], 80),
            ('IdleSuspend', ['u', '300'], 300),
            ('AutoReconnect', ['b', 'false'], False),
            ('Routes', ['a{ss}', '2', 'alerts', 'bluetooth', 'voice', 'bluetooth'],
             {'media': 'bluetooth', 'alerts': 'bluetooth', 'voice': 'bluetooth'}),
            ('PlaybackStatus', ['s', 'paused'], 'paused'),
            ('Codecs', ['as', '1', 'sbc'], ['sbc']),
            ('SpeakerMode', ['b', 'false'], False),
        ]
        for name, args, value in sets:
            self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, name, *args)
            rec.wait(name, value)
            self.assertEqual(plain(self.mprop(name)), value)
        rec.wait('State', 'off')
        # setting a value it already has announces nothing
        rec.clear()
        self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume', 'q', '80')
        time.sleep(0.3)
        self.assertEqual(rec.values('Volume'), [])

        # a2dpsrcctl, watched by a2dpsrcctl monitor
        mon = self.monitor()
        self.wait_monitor_listening(mon)
        rec.clear()
        self.ctl('speaker-mode', 'on')
        mon.wait_line(r'^\d\d:\d\d:\d\d\.\d{3} SpeakerMode: on$')
        mon.wait_line(r' State: idle$')
        rec.wait('SpeakerMode', True)
        self.ctl('route', 'voice', 'local')
        mon.wait_line(r' Routes: media=bluetooth alerts=bluetooth voice=local$')
        rec.wait('Routes', {'media': 'bluetooth', 'alerts': 'bluetooth', 'voice': 'local'})
        self.ctl('default-output', 'local')
        mon.wait_line(r' Routes: media=local alerts=local voice=local$')
        self.ctl('volume', '127')
        mon.wait_line(r' Volume: 127 \(100%\)$')
        rec.wait('Volume', 127)
        self.ctl('auto-reconnect', 'on')
        mon.wait_line(r' AutoReconnect: on$')
        rec.wait('AutoReconnect', True)
        self.ctl('idle-suspend', '0')
        mon.wait_line(r' IdleSuspend: never$')
        rec.wait('IdleSuspend', 0)
        self.ctl('codecs', 'all')
        mon.wait_line(r' Codecs: \[.*sbc-xq, sbc\]$')
        rec.wait('Codecs', [str(c) for c in self.mprop('Codecs')])
        self.assertEqual(self.settings()['Routes'], {'media': 'local', 'alerts': 'local', 'voice': 'local'})
        # and every change went to disk
        text = self.state_file()
        for line in ('speaker-mode=true', 'route.media=local', 'route.alerts=local', 'route.voice=local',
                     'volume=127', 'idle-suspend=0', 'auto-reconnect=true',
                     'codecs=' + ','.join(str(c) for c in self.mprop('Codecs'))):
            self.assertIn(line + '\n', text)

    def test_refused_calls_get_documented_errors_and_change_nothing(self):
        self.add_speaker()
        self.start_daemon()
        o = self.obj()
        before = self.settings()
        file_before = self.state_file()
        inv = ERR + 'InvalidArguments'

        def set_(name, value, sig='ssv'):
            return o.Set(MANAGER, name, value, dbus_interface=PROPS, signature=sig)

        cases = [
            (inv, set_, 'Volume', dbus.UInt16(200, variant_level=1)),
            (inv, set_, 'Volume', dbus.UInt16(128, variant_level=1)),
            (inv, set_, 'Volume', dbus.String('80', variant_level=1)),
            (inv, set_, 'Volume', dbus.UInt32(80, variant_level=1)),
            (inv, set_, 'Volume', dbus.Int16(-1, variant_level=1)),
            (inv, set_, 'SpeakerMode', dbus.String('false', variant_level=1)),
            (inv, set_, 'AutoReconnect', dbus.UInt32(0, variant_level=1)),
            (inv, set_, 'IdleSuspend', dbus.Int32(-1, variant_level=1)),
            (inv, set_, 'IdleSuspend', dbus.String('300', variant_level=1)),
            (inv, set_, 'IdleSuspend', dbus.UInt32(86401, variant_level=1)),
            (inv, set_, 'Volume', dbus.UInt16(80, variant_level=2)),
            (inv, set_, 'Routes', dbus.Dictionary({'music': 'local'}, signature='ss', variant_level=1)),
            (inv, set_, 'Routes', dbus.Dictionary({'media': 'speaker'}, signature='ss', variant_level=1)),
            # one bad entry refuses the good ones with it
            (inv, set_, 'Routes', dbus.Dictionary({'alerts': 'bluetooth', 'bogus': 'local'},
                                                  signature='ss', variant_level=1)),
            (inv, set_, 'Routes', dbus.Dictionary({'media': 'local'}, signature='sv', variant_level=1)),
            (inv, set_, 'Routes', dbus.Array(['media', 'local'], signature='s', variant_level=1)),
            ('org.freedesktop.DBus.Error.PropertyReadOnly', set_, 'State', dbus.String('off', variant_level=1)),
            ('org.freedesktop.DBus.Error.PropertyReadOnly', set_, 'Statistics',
             dbus.Dictionary({}, signature='sv', variant_level=1)),
            ('org.freedesktop.DBus.Error.UnknownProperty', set_, 'Loudness', dbus.UInt16(1, variant_level=1)),
            ('org.freedesktop.DBus.Error.InvalidArgs', o.Set, MANAGER, 'Volume', dbus.UInt16(1),
             {'dbus_interface': PROPS, 'signature': 'ssq'}),
            ('org.freedesktop.DBus.Error.InvalidArgs', o.Get, MANAGER,
             {'dbus_interface': PROPS, 'signature': 's'}),
            ('org.freedesktop.DBus.Error.InvalidArgs', o.Get, MANAGER, 'Volume', 'x',
             {'dbus_interface': PROPS, 'signature': 'sss'}),
            ('org.freedesktop.DBus.Error.InvalidArgs', o.GetAll, MANAGER, 'x',
             {'dbus_interface': PROPS, 'signature': 'ss'}),
            ('org.freedesktop.DBus.Error.InvalidArgs', o.Set, MANAGER, 'Volume',
             dbus.UInt16(1, variant_level=1), 'x', {'dbus_interface': PROPS, 'signature': 'ssvs'}),
            ('org.freedesktop.DBus.Error.UnknownProperty', o.Get, MANAGER, 'Loudness',
             {'dbus_interface': PROPS}),
            ('org.freedesktop.DBus.Error.UnknownInterface', o.Get, 'org.a2dpsrc.Nope', 'Volume',
             {'dbus_interface': PROPS}),
        ]
        m = self.call
        for addr in ('nonsense', '', '00:11:22:33:44', '00:11:22:33:44:55:66', '00-11-22-33-44-55',
                     '00:11:22:33:44:5G', ' 00:11:22:33:44:55'):
            for meth in ('Pair', 'Connect', 'Forget'):
                cases.append((inv, m, meth, addr, {'signature': 's'}))
        cases += [
            (inv, m, 'Pair', SPEAKER, 'extra', {'signature': 'ss'}),
            (inv, m, 'Pair', dbus.UInt32(5), {'signature': 'u'}),
            (inv, m, 'Connect', {'signature': ''}),
            (inv, m, 'Forget', SPEAKER, dbus.Boolean(True), {'signature': 'sb'}),
            (inv, m, 'StartDiscovery', 'now', {'signature': 's'}),
            (inv, m, 'StopDiscovery', dbus.UInt32(1), {'signature': 'u'}),
            (inv, m, 'GetDevices', 'all', {'signature': 's'}),
            (inv, m, 'Disconnect', SPEAKER, {'signature': 's'}),
            (inv, m, 'Reset', dbus.Boolean(True), {'signature': 'b'}),
            (inv, m, 'SetDefaultOutput', 'speaker', {'signature': 's'}),
            (inv, m, 'SetDefaultOutput', {'signature': ''}),
            (inv, m, 'SetDefaultOutput', 'local', 'local', {'signature': 'ss'}),
            (ERR + 'NotFound', m, 'Pair', '00:DE:AD:BE:EF:00', {'signature': 's'}),
            (ERR + 'NotFound', m, 'Connect', '00:DE:AD:BE:EF:00', {'signature': 's'}),
            (ERR + 'NotFound', m, 'Forget', '00:DE:AD:BE:EF:00', {'signature': 's'}),
            ('org.freedesktop.DBus.Error.UnknownMethod', m, 'Explode', {'signature': ''}),
        ]
        for case in cases:
            name, fn, args = case[0], case[1], list(case[2:])
            kw = args.pop() if args and isinstance(args[-1], dict) and not isinstance(
                args[-1], dbus.Dictionary) else {}
            with self.subTest(call=(getattr(fn, '__name__', fn), args)):
                with self.assertRaises(dbus.exceptions.DBusException) as cm:
                    fn(*args, **kw)
                self.assertEqual(cm.exception.get_dbus_name(), name, cm.exception.get_dbus_message())
                # a sentence for the user, not an empty error
                self.assertTrue(cm.exception.get_dbus_message())
        self.assertEqual(self.settings(), before)
        self.assertEqual(self.state_file(), file_before)
        self.assertIsNone(self.daemon.returncode)

        # busctl shows the daemon's sentence
        out = self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume', 'q', '200',
                          check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('between 0 and 127', out.stderr)
        out = self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Routes', 'a{ss}', '1',
                          'media', 'speaker', check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("'bluetooth' or 'local'", out.stderr)
        out = self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Pair', 's', 'nonsense', check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('not a Bluetooth address', out.stderr)
        # a2dpsrcctl refuses bad arguments itself (exit 2), and shows the
        # daemon's refusals (exit 1)
        for args in (('volume', '200'), ('volume', '-1'), ('route', 'music', 'local'),
                     ('route', 'media', 'speaker'), ('pair', 'nonsense'), ('idle-suspend', 'x'),
                     ('speaker-mode', 'maybe'), ('status', 'extra')):
            out = self.ctl(*args, check=False)
            self.assertEqual(out.returncode, 2, (args, out.stdout, out.stderr))
        out = self.ctl('idle-suspend', '86401', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('at most 86400', out.stderr)
        out = self.ctl('connect', '00:DE:AD:BE:EF:00', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('No device 00:DE:AD:BE:EF:00 is known', out.stderr)
        self.assertEqual(self.settings(), before)
        self.assertEqual(self.state_file(), file_before)



class DiscoveryTests(ControlCase):

    def adapter_discovering(self):
        return bool(self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Discovering'))

    def test_scan_finds_speaker_with_rssi_and_stops(self):
        # not paired: BlueZ shows it only once an inquiry finds it
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False, 'RSSI': -61})
        self.start_daemon()
        self.assertIsNone(self.device_entry(SPEAKER_B))
        rec = self.recorder()
        self.call('StartDiscovery')
        rec.wait('Discovering', True)
        self.assertTrue(self.adapter_discovering())
        entry = self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 3, what='speaker found')
        self.assertEqual(entry, {'Address': SPEAKER_B, 'Name': 'Kitchen', 'Paired': False,
                                 'Trusted': False, 'Connected': False, 'AudioSink': True, 'RSSI': -61})
        # busctl sees the same list
        devs = self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'GetDevices', as_json=True)
        self.assertEqual(devs['type'], 'aa{sv}')
        self.assertIn(SPEAKER_B, [d['Address']['data'] for d in devs['data'][0]])
        self.call('StopDiscovery')
        rec.wait('Discovering', False)
        self.assertFalse(self.adapter_discovering())
        # RSSI is only there while in range during a scan
        self.daemon.wait_for(lambda: 'RSSI' not in self.device_entry(SPEAKER_B), 2)
        # stopping what is not running is no error
        self.call('StopDiscovery')

    def test_rssi_is_from_the_current_scan(self):
        path = self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False, 'RSSI': -61})
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: 'RSSI' in (self.device_entry(SPEAKER_B) or {}), 3)
        self.call('StopDiscovery')
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2)
        # carried away: the next scan does not hear it
        self.bluez.SetInRange(path, False)
        self.call('StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2)
        time.sleep(0.3)      # several inquiry results' time
        entry = self.device_entry(SPEAKER_B)
        self.assertIsNotNone(entry)     # still known for a while (temporary)
        self.assertNotIn('RSSI', entry)

    def test_scan_outlives_its_caller_and_ends_at_its_time_limit(self):
        # busctl leaves the bus right after its call: the scan it started
        # goes on (BlueZ ties it to the daemon), bounded by scan-timeout
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False})
        self.start_daemon(args=['--scan-timeout', '5'])
        t0 = time.monotonic()
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2, what='adapter discovering')
        self.wait_prop('Discovering', True)
        time.sleep(1)
        self.assertTrue(self.adapter_discovering(), 'the scan ended with its caller')
        self.assertIsNotNone(self.device_entry(SPEAKER_B))
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 8, what='scan stopped at its limit')
        self.assertGreater(time.monotonic() - t0, 4.5)
        self.wait_prop('Discovering', False)
        self.assertIn('the scan ran for 5 s; stopping it', self.daemon.log_text())
        # a caller gone before its call is read: the scan runs all the same
        self.busctl('--expect-reply=no', 'call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2, what='adapter discovering')
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StopDiscovery')
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')

    def test_scan_looks_for_bredr_devices_only(self):
        # LE advertisers (beacons, tags) would flood GetDevices and take
        # air time: A2DP sinks are BR/EDR, so the scan is Transport=bredr
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False})
        self.bluez.add_device('hci0', 'C4:7C:8D:6A:12:34', 'Beacon',
                              {'Paired': False, 'Le': True, 'BrEdr': False, 'UUIDs': [],
                               'Class': 0})
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 3, what='speaker found')
        time.sleep(0.3)      # several inquiry results' time
        self.assertIsNone(self.device_entry('C4:7C:8D:6A:12:34'), 'an LE-only advertiser was listed')
        clients = [plain(c) for c in self.bluez.GetDiscoveryClients()]
        self.assertEqual([(c[0], c[2], c[3].get('Transport')) for c in clients],
                         [('hci0', True, 'bredr')], clients)
        self.call('StopDiscovery')
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')

    def test_streaming_ends_the_scan(self):
        self.add_speaker()
        self.add_tone()
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2, what='adapter discovering')
        self.connect_speaker()
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')
        self.wait_prop('Discovering', False)
        self.assertIn('streaming started: stopping the scan', self.daemon.log_text())

    def test_ctl_scan_lists_what_it_found(self):
        self.bluez.add_device('hci0', SPEAKER_B, 'Kitchen', {'Paired': False, 'RSSI': -70})
        self.add_speaker()
        self.start_daemon()
        out = self.ctl('scan', '1').stdout
        self.assertIn('found: %s  Kitchen  [speaker, -70 dBm]' % SPEAKER_B, out)
        self.assertIn('%s  Test Speaker  [speaker, paired, trusted]' % SPEAKER, out)
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')
        self.assertFalse(plain(self.mprop('Discovering')))

    def test_stop_right_after_start_stops_the_scan(self):
        # an app that starts and at once stops (both calls in flight
        # together) must not leave the radio scanning
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        self.start_daemon()
        ctx = GLib.MainContext.default()
        app = dbus.bus.BusConnection(self.bus.address, mainloop=DBusGMainLoop())
        self.addCleanup(app.close)
        o = app.get_object('org.a2dpsrc', MANAGER_PATH, introspect=False)
        replies = []
        for method in ('StartDiscovery', 'StopDiscovery'):
            o.get_dbus_method(method, MANAGER)(reply_handler=lambda *a, m=method: replies.append((m, None)),
                                               error_handler=lambda e, m=method: replies.append((m, e)))

        def answered():
            while ctx.iteration(False):
                pass
            return len(replies) == 2
        wait_for(answered, 5, what='both replies')
        self.assertEqual(sorted(replies), [('StartDiscovery', None), ('StopDiscovery', None)])
        # whatever the order BlueZ saw them in, no scan is left running
        self.daemon.wait_for(lambda: not self.adapter_discovering(), 2, what='scan stopped')
        self.assertFalse(plain(self.mprop('Discovering')))

    def test_adapter_unplugged_during_a_scan(self):
        self.start_daemon()
        self.call('StartDiscovery')
        self.daemon.wait_for(self.adapter_discovering, 2)
        self.wait_prop('Discovering', True)
        self.bluez.RemoveAdapter('hci0')
        self.wait_prop('SpeakerModeBlocker', 'no-adapter')
        self.assertFalse(plain(self.mprop('Discovering')))
        self.assertEqual(plain(self.call('GetDevices')), [])
        self.call('StopDiscovery')
        self.assert_error(ERR + 'NotAvailable', self.call, 'StartDiscovery')
        # plugged in again: scanning works
        self.bluez.add_adapter('hci0')
        self.wait_prop('SpeakerModeBlocker', '')
        self.call('StartDiscovery')
        self.daemon.wait_for(lambda: self.adapter_discovering(), 2)
        self.wait_prop('Discovering', True)
        self.call('StopDiscovery')
        self.wait_prop('Discovering', False)
        self.assertIsNone(self.daemon.returncode)

    def test_discovery_without_adapter_is_not_available(self):
        self.bluez.RemoveAdapter('hci0')
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-adapter')
        self.assert_error(ERR + 'NotAvailable', self.call, 'StartDiscovery')
        self.assertFalse(plain(self.mprop('Discovering')))


class PairingTests(ControlCase):

    def add_unpaired(self, address=SPEAKER_B, method='just-works', **opts):
        o = {'Paired': False, 'Known': True, 'PairingMethod': method}
        o.update(opts)
        return self.bluez.add_device('hci0', address, 'New Speaker', o)

    def test_pair_just_works_trusts_the_speaker(self):
        path = self.add_unpaired()
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B), 2)
        self.call('Pair', SPEAKER_B)
        dev = self.double_device(path)
        self.assertTrue(dev['Paired'])
        self.daemon.wait_for(lambda: self.double_device(path)['Trusted'], 2, what='trusted in BlueZ')
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B)['Trusted'], 2)
        self.assertTrue(self.device_entry(SPEAKER_B)['Paired'])
        # our agent (NoInputNoOutput) was there for the pairing only, the
        # adapter bondable for it only (without it the kernel keeps no
        # key), and the bond is kept
        owner = self.bus.name_owner('org.a2dpsrc')
        self.assertTrue(dev['Bonded'], dev)
        log = '\n'.join(self.bluez.event_log())
        self.assertIn('agent registered %s /org/a2dpsrc/agent NoInputNoOutput' % owner, log)
        self.assertIn('Pair from %s (adapter bondable: True)' % owner, log)
        self.daemon.wait_for(lambda: not plain(self.bluez.prop(HCI0, 'org.bluez.Adapter1', 'Pairable')),
                             2, what='adapter not pairable')
        self.daemon.wait_for(lambda: list(self.bluez.GetAgents()) == [], 2, what='agent gone')
        # remembered as ours: a reset forgets it
        self.assertIn('paired=%s\n' % SPEAKER_B, self.state_file())
        # pairing a paired speaker again is fine
        self.call('Pair', SPEAKER_B)

    def test_pair_through_ctl_and_busctl(self):
        self.add_unpaired(SPEAKER_B)
        self.add_unpaired('00:11:22:33:44:77')
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:77'), 2)
        self.ctl('pair', SPEAKER_B.lower())
        self.busctl('--timeout=30', 'call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Pair', 's',
                    '00:11:22:33:44:77')
        for a in (SPEAKER_B, '00:11:22:33:44:77'):
            self.daemon.wait_for(lambda: self.device_entry(a)['Trusted'], 2)

    def test_pair_failures_map_to_documented_errors(self):
        cases = [
            # numeric comparison cannot be done without a display: refused
            ('confirm', ERR + 'AuthenticationFailed'),
            ('fail', ERR + 'AuthenticationFailed'),
            ('reject', ERR + 'AuthenticationFailed'),
            ('timeout', ERR + 'Timeout'),
        ]
        paths = {}
        for i, (method, _) in enumerate(cases):
            paths[method] = self.add_unpaired('00:11:22:33:44:%02X' % (0x80 + i), method)
        # out of range: the page times out
        far = self.add_unpaired('00:11:22:33:44:90', 'just-works', InRange=False, PageTimeoutMs=200)
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:90'), 2)
        for i, (method, err) in enumerate(cases):
            with self.subTest(method=method):
                msg = self.assert_error(err, self.call, 'Pair', '00:11:22:33:44:%02X' % (0x80 + i))
                self.assertIn('00:11:22:33:44:%02X' % (0x80 + i), msg)
                self.assertFalse(self.double_device(paths[method])['Paired'])
                self.assertFalse(self.double_device(paths[method])['Trusted'])
        self.assert_error(ERR + 'Timeout', self.call, 'Pair', '00:11:22:33:44:90')
        self.assertFalse(self.double_device(far)['Paired'])
        self.assertNotIn('paired=', self.state_file())
        # a legacy speaker with PIN 0000 pairs by itself
        self.add_unpaired('00:11:22:33:44:91', 'pin', PinCode='0000')
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:91'), 2)
        self.call('Pair', '00:11:22:33:44:91')

    def test_headset_only_device_is_not_an_audio_sink(self):
        path = self.bluez.add_device('hci0', HEADSET, 'Headset', {
            'Paired': False, 'Known': True, 'UUIDs': HEADSET_UUIDS, 'Class': 0x240404})
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry(HEADSET), 2)
        self.assertFalse(self.device_entry(HEADSET)['AudioSink'])
        before = self.settings()
        msg = self.assert_error(ERR + 'NotAudioSink', self.call, 'Pair', HEADSET)
        self.assertIn('headset', msg)
        self.assert_error(ERR + 'NotAudioSink', self.call, 'Connect', HEADSET)
        self.assertFalse(self.double_device(path)['Paired'])
        self.assertFalse(self.double_device(path)['Connected'])
        self.assertEqual(self.settings(), before)
        out = self.ctl('pair', HEADSET, check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('no A2DP audio sink', out.stderr)

    def test_second_pair_while_pairing_is_in_progress(self):
        self.add_unpaired(SPEAKER_B, PairMs=700)
        self.add_unpaired('00:11:22:33:44:77')
        self.start_daemon()
        self.daemon.wait_for(lambda: self.device_entry('00:11:22:33:44:77'), 2)
        first = subprocess.Popen(['busctl', '--system', '--timeout=30', 'call', 'org.a2dpsrc',
                                  MANAGER_PATH, MANAGER, 'Pair', 's', SPEAKER_B], env=self.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: first.poll() is None and first.kill())
        self.log_has('pairing with %s' % SPEAKER_B)
        for addr in ('00:11:22:33:44:77', SPEAKER_B):
            msg = self.assert_error(ERR + 'InProgress', self.call, 'Pair', addr)
            self.assertIn(SPEAKER_B, msg)
        _, err = first.communicate(timeout=10)
        self.assertEqual(first.returncode, 0, err)
        self.assertTrue(self.device_entry(SPEAKER_B)['Paired'])
        self.assertFalse(self.device_entry('00:11:22:33:44:77')['Paired'])
        # and the next pairing goes through
        self.call('Pair', '00:11:22:33:44:77')

    def test_unsolicited_agent_requests_are_rejected(self):
        # paired with someone else's help, not trusted, not paired by us:
        # its incoming connection needs the default agent, and ours is not
        # registered outside our pairings, so BlueZ refuses it
        stranger = self.add_speaker(SPEAKER_B, 'Stranger', Trusted=False)
        self.start_daemon()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.bluez.speaker_connect(stranger)
        self.assertIn('Rejected', cm.exception.get_dbus_name())
        self.assertIsNone(self.bluez.transport_for(stranger))
        self.assertEqual(plain(self.mprop('Output')), '')
        log = '\n'.join(self.bluez.event_log())
        self.assertIn('incoming A2DP not authorized (rejected (no agent))', log)

        # anyone but bluetoothd calling the agent is refused outright
        agent = self.bus.conn.get_object('org.a2dpsrc', '/org/a2dpsrc/agent', introspect=False)
        for method, args, sig in (('RequestConfirmation', [dbus.ObjectPath(stranger), dbus.UInt32(1)], 'ou'),
                                  ('AuthorizeService', [dbus.ObjectPath(stranger), 'x'], 'os'),
                                  ('RequestPinCode', [dbus.ObjectPath(stranger)], 'o'),
                                  ('Release', [], '')):
            self.assert_error('org.freedesktop.DBus.Error.AccessDenied',
                              agent.get_dbus_method(method, 'org.bluez.Agent1'), *args, signature=sig)

        # a speaker we paired is trusted, so it reconnects by itself
        friend = self.bluez.add_device('hci0', '00:11:22:33:44:77', 'Friend',
                                       {'Paired': False, 'Known': True})
        self.call('Pair', '00:11:22:33:44:77')
        self.daemon.wait_for(lambda: self.double_device(friend)['Trusted'], 2, what='trusted')
        self.bluez.speaker_connect(friend)
        self.wait_streaming(friend)

    def test_agent_authorizes_only_audio_services(self):
        # while registered (during our pairing) our agent may be the default
        # one, asked for the services of untrusted devices: only the
        # device being paired, and only for audio
        friend = self.add_unpaired('00:11:22:33:44:77', PairMs=3000)
        stranger = self.add_speaker(SPEAKER_B, 'Stranger', Trusted=False)
        self.start_daemon()
        owner = self.bus.name_owner('org.a2dpsrc')
        pair = subprocess.Popen(['busctl', '--system', '--timeout=30', 'call', 'org.a2dpsrc', MANAGER_PATH,
                                 MANAGER, 'Pair', 's', '00:11:22:33:44:77'], env=self.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(pair.kill)
        self.daemon.wait_for(lambda: self.bluez.GetAgents(), 3, what='our agent registered')
        for uuid in ('0000110d-0000-1000-8000-00805f9b34fb',     # A2DP signalling
                     '0000110a-0000-1000-8000-00805f9b34fb', '0000110b-0000-1000-8000-00805f9b34fb',
                     '0000110e-0000-1000-8000-00805f9b34fb', '0000110c-0000-1000-8000-00805f9b34fb'):
            self.assertEqual(str(self.bluez.AskAgent(owner, friend, uuid)), '', uuid)
            self.assertEqual(str(self.bluez.AskAgent(owner, stranger, uuid)), 'org.bluez.Error.Rejected',
                             uuid)
        # a speaker needs none of these: HID, serial port, OBEX push, PAN, HFP
        for uuid in ('00001124-0000-1000-8000-00805f9b34fb', '00001101-0000-1000-8000-00805f9b34fb',
                     '00001105-0000-1000-8000-00805f9b34fb', '00001116-0000-1000-8000-00805f9b34fb',
                     '0000111e-0000-1000-8000-00805f9b34fb'):
            self.assertEqual(str(self.bluez.AskAgent(owner, friend, uuid)), 'org.bluez.Error.Rejected', uuid)
        self.log_has('rejected unsolicited AuthorizeService for %s' % stranger)


class OutputTests(ControlCase):

    def test_connect_second_speaker_drops_the_first(self):
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        rec = self.recorder()
        self.call('Connect', SPEAKER)
        self.wait_streaming(SPEAKER_PATH)
        rec.wait('Output', SPEAKER)
        rec.wait('State', 'streaming')
        # the double's default speaker offers dual channel and bitpool 53: SBC-XQ
        self.assertTrue(plain(self.mprop('Codec')).startswith('SBC-XQ 48000 Hz dual-channel'))
        self.assertGreater(plain(self.mprop('Latency')), 0)
        self.assertEqual(len(self.bluez.recordings()), 1)

        self.ctl('connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        rec.wait('Output', SPEAKER_B)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3,
                             what='first speaker disconnected')
        self.assertIn('dropping %s for %s' % (SPEAKER, SPEAKER_B), self.daemon.log_text())
        # dropped on purpose: no reconnect to it is planned, and no link
        # "lost" either (the audio thread let go of A before its socket did)
        self.assertNotIn('reconnecting %s' % SPEAKER, self.daemon.log_text())
        self.assertNotIn('link to the speaker lost', self.daemon.log_text())
        self.assertEqual(self.stats()['LinkErrors'], 0)
        # B gets the audio: a new recording that grows
        recs = self.bluez.recordings()
        self.assertEqual(len(recs), 2)
        self.assertIn('22_33_44_66', os.path.basename(recs[-1]))
        size = os.path.getsize(recs[-1])
        self.daemon.wait_for(lambda: os.path.getsize(recs[-1]) > size + 2000, 2, what='B recording grows')
        self.assertIn('last-output=%s\n' % SPEAKER_B, self.state_file())

        # Disconnect: no output, and no reconnect
        self.ctl('disconnect')
        rec.wait('Output', '')
        rec.wait('State', 'idle')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_B_PATH)['Connected'], 3)
        self.assertIn('last-output=\n', self.state_file())
        time.sleep(1.5)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_B_PATH))
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertNotIn('link to the speaker lost', self.daemon.log_text())
        self.assertEqual(self.stats()['LinkErrors'], 0)

    def test_connect_in_progress_and_disconnect_cancels_it(self):
        self.add_speaker(ConnectMs=800)
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        rec = self.recorder()
        first = subprocess.Popen(['busctl', '--system', '--timeout=30', 'call', 'org.a2dpsrc', MANAGER_PATH,
                                  MANAGER, 'Connect', 's', SPEAKER], env=self.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: first.poll() is None and first.kill())
        rec.wait('State', 'connecting')
        msg = self.assert_error(ERR + 'InProgress', self.call, 'Connect', SPEAKER_B)
        self.assertIn(SPEAKER, msg)
        _, err = first.communicate(timeout=10)
        self.assertEqual(first.returncode, 0, err)
        self.wait_streaming()
        rec.wait('State', 'streaming')
        # connecting again to the output is done at once
        self.call('Connect', SPEAKER)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)

        # a Disconnect while connecting answers the Connect
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Disconnect')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3)
        second = subprocess.Popen(['busctl', '--system', '--timeout=30', 'call', 'org.a2dpsrc', MANAGER_PATH,
                                   MANAGER, 'Connect', 's', SPEAKER], env=self.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: second.poll() is None and second.kill())
        self.wait_prop('State', 'connecting')
        self.call('Disconnect')
        _, err = second.communicate(timeout=10)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn('cancelled by Disconnect', err)
        self.wait_prop('State', 'idle')
        time.sleep(1.0)
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        # (BlueZ itself would have cancelled the page; this double completes
        # it, and the daemon sends the speaker away)
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3)

    def test_connect_during_an_automatic_reconnect(self):
        self.add_speaker()
        self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        # A drops and takes its time answering the reconnect
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'ConnectMs', dbus.Int32(1500, variant_level=1))
        mark = len(self.daemon.log_text())
        self.bluez.LinkLoss(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'connecting %s' % SPEAKER in self.daemon.log_text()[mark:], 3,
                             what='automatic reconnect under way')
        self.wait_prop('State', 'connecting')
        # the user picks B meanwhile: B it is, and A stays away
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        # A's page completes in the meantime: sent away, not adopted
        self.log_has('%s connected, but is no longer wanted; disconnecting it' % SPEAKER, timeout=5)
        self.assertIsNone(self.daemon.returncode)
        self.assertEqual(plain(self.mprop('Output')), SPEAKER_B)
        self.assertIsNotNone(self.bluez.transport_for(SPEAKER_B_PATH))
        self.assertEqual(self.transport_state(SPEAKER_B_PATH), 'active')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Connected'], 3,
                             what='A sent away')
        self.assertIn('last-output=%s\n' % SPEAKER_B, self.state_file())
        self.assertEqual(self.daemon.log_text()[mark:].count('reconnecting %s' % SPEAKER), 1,
                         'a reconnect to A planned after the user chose B')

    def test_connect_joins_an_automatic_reconnect_to_the_same_speaker(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.bluez.SetDeviceOption(SPEAKER_PATH, 'ConnectMs', dbus.Int32(800, variant_level=1))
        mark = len(self.daemon.log_text())
        self.bluez.LinkLoss(SPEAKER_PATH)
        self.daemon.wait_for(lambda: 'connecting %s' % SPEAKER in self.daemon.log_text()[mark:], 3)
        t0 = time.monotonic()
        self.call('Connect', SPEAKER)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.wait_streaming()
        self.assertEqual(plain(self.mprop('Output')), SPEAKER)
        self.assertIsNone(self.daemon.returncode)

    def test_connect_errors(self):
        self.add_speaker(InRange=False, PageTimeoutMs=200)
        self.start_daemon()
        msg = self.assert_error(ERR + 'NotAvailable', self.call, 'Connect', SPEAKER)
        self.assertIn('did not answer', msg)
        self.assertEqual(plain(self.mprop('State')), 'idle')
        self.assertEqual(plain(self.mprop('Output')), '')

    def test_connect_turns_speaker_mode_on(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon()
        self.assertEqual(plain(self.mprop('State')), 'off')
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.assertTrue(plain(self.mprop('SpeakerMode')))
        self.wait_prop('State', 'streaming')
        # off again: the stream is released, the speaker stays connected
        self.set_mprop('SpeakerMode', False)
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) == 'idle', 2)
        self.assertTrue(self.double_device(SPEAKER_PATH)['Connected'])
        self.wait_prop('State', 'off')

    def test_forget_removes_the_pairing(self):
        self.add_speaker()
        other = self.add_speaker(SPEAKER_B, 'Speaker B')
        self.start_daemon()
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Forget', 's', SPEAKER_B)
        self.assertFalse(self.double_device(other)['Paired'])
        self.daemon.wait_for(lambda: self.device_entry(SPEAKER_B) is None, 2)
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.ctl('forget', SPEAKER)
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_PATH)['Exported'], 3,
                             what='device removed from BlueZ')
        dev = self.double_device(SPEAKER_PATH)
        self.assertFalse(dev['Paired'])
        self.assertFalse(dev['Connected'])
        self.assertIsNone(self.device_entry(SPEAKER))
        self.assertEqual(plain(self.mprop('Output')), '')
        self.assertIn('last-output=\n', self.state_file())
        self.assert_error(ERR + 'NotFound', self.call, 'Forget', SPEAKER)

    def test_reset_forgets_our_speakers_and_settings(self):
        self.bluez.add_device('hci0', SPEAKER_B, 'Ours', {'Paired': False, 'Known': True})
        other = self.add_speaker()     # paired before us: not ours to forget
        self.start_daemon()
        self.call('Pair', SPEAKER_B)
        self.call('Connect', SPEAKER_B)
        self.wait_streaming(SPEAKER_B_PATH)
        self.set_mprop('Volume', dbus.UInt16(100))
        self.set_mprop('IdleSuspend', dbus.UInt32(60))
        self.ctl('reset')
        self.daemon.wait_for(lambda: not self.double_device(SPEAKER_B_PATH)['Exported'], 3)
        self.assertTrue(self.double_device(other)['Paired'])
        s = self.settings()
        self.assertEqual((s['Volume'], s['IdleSuspend'], s['Output'], s['SpeakerMode']), (64, 0, '', False))
        # registered afresh; the agent only ever exists during a pairing
        self.daemon.wait_for(lambda: self.bluez.registered_endpoints(), 3)
        self.assertEqual(list(self.bluez.GetAgents()), [])



class PowerTests(ControlCase):

    def on_battery(self):
        self.power_supply('BAT0', type='Battery', status='Discharging', scope='System', present=1)
        self.power_supply('AC', type='Mains', online=0)

    def test_speaker_mode_refused_on_battery(self):
        self.add_speaker()
        self.on_battery()
        self.start_daemon()
        # the saved "on" gives way to the battery at start-up
        self.assertFalse(plain(self.mprop('SpeakerMode')))
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), 'on-battery')
        self.assertEqual(plain(self.mprop('State')), 'off')
        before = self.settings()
        msg = self.assert_error(ERR + 'OnBattery', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('battery', msg)
        self.assert_error(ERR + 'OnBattery', self.call, 'Connect', SPEAKER)
        out = self.ctl('speaker-mode', 'on', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('runs on battery', out.stderr)
        self.assertEqual(self.settings(), before)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        # plugged in: the poll (every 2 s) lifts the blocker
        rec = self.recorder()
        self.power_supply('AC', online=1)
        rec.wait('SpeakerModeBlocker', '', timeout=4)
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.assertTrue(plain(self.mprop('SpeakerMode')))

    def test_going_onto_battery_while_streaming_switches_speaker_mode_off(self):
        self.add_speaker()
        self.power_supply('BAT0', type='Battery', status='Charging', scope='System')
        self.power_supply('AC', type='Mains', online=1)
        self.start_daemon()
        self.connect_speaker()
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), '')
        rec = self.recorder()
        self.power_supply('BAT0', status='Discharging')
        self.power_supply('AC', online=0)
        t0 = time.monotonic()
        t = rec.wait('SpeakerMode', False, timeout=4)
        self.assertLess(t - t0, 3.0, 'speaker mode stayed on for %.1f s on battery' % (t - t0))
        rec.wait('State', 'off')
        rec.wait('SpeakerModeBlocker', 'on-battery')
        self.log_has('speaker mode switched off: the board runs on battery')
        self.daemon.wait_for(lambda: self.transport_state(SPEAKER_PATH) in (None, 'idle'), 2,
                             what='stream released')
        self.assertIn('speaker-mode=false\n', self.state_file())
        self.assertIsNone(self.daemon.returncode)

    def test_no_battery_counts_as_mains(self):
        self.power_supply('AC', type='Mains', online=0)
        self.power_supply('usb', type='USB', online=0)
        # a peripheral's battery is not the board's
        self.power_supply('hid-mouse-battery', type='Battery', status='Discharging', scope='Device')
        self.add_speaker()
        self.start_daemon()
        self.assertEqual(plain(self.mprop('SpeakerModeBlocker')), '')
        self.assertTrue(plain(self.mprop('SpeakerMode')))
        self.connect_speaker()


class LeOnlyAdapterTests(ControlCase):
    bluez_params = {'adapters': [{'name': 'hci0', 'props': {'BrEdr': False}}]}

    def test_le_only_adapter_is_not_supported(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-br-edr')
        before = self.settings()
        msg = self.assert_error(ERR + 'NotSupported', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('not supported on this device', msg)
        msg = self.assert_error(ERR + 'NotSupported', self.call, 'Connect', SPEAKER)
        self.assertIn('not supported on this device', msg)
        out = self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'SpeakerMode', 'b', 'true',
                          check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('not supported on this device', out.stderr)
        self.assertEqual(self.settings(), before)
        self.assertEqual(self.ctl('status').stdout.count('SpeakerModeBlocker: no-br-edr'), 1)


class AdapterTests(ControlCase):

    def test_no_adapter_then_one_plugged_in(self):
        self.bluez.RemoveAdapter('hci0')
        self.add_tone()
        self.write_state(speaker_mode=False)
        self.start_daemon(wait_registered=False)
        self.wait_prop('SpeakerModeBlocker', 'no-adapter')
        msg = self.assert_error(ERR + 'NotSupported', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('No Bluetooth adapter', msg)
        self.assertFalse(plain(self.mprop('SpeakerMode')))
        rec = self.recorder()
        self.bluez.add_adapter('hci0')
        rec.wait('SpeakerModeBlocker', '')
        self.set_mprop('SpeakerMode', True)
        rec.wait('SpeakerMode', True)

    def test_adapter_powered_off_is_not_available(self):
        self.add_speaker()
        self.write_state(speaker_mode=False)
        self.start_daemon()
        rec = self.recorder()
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(False))
        rec.wait('SpeakerModeBlocker', 'adapter-off')
        msg = self.assert_error(ERR + 'NotAvailable', self.set_mprop, 'SpeakerMode', True)
        self.assertIn('powered off', msg)
        self.assert_error(ERR + 'NotAvailable', self.call, 'StartDiscovery')
        self.bluez.set_prop(HCI0, 'org.bluez.Adapter1', 'Powered', dbus.Boolean(True))
        rec.wait('SpeakerModeBlocker', '')
        self.call('Connect', SPEAKER)
        self.wait_streaming()


class RestartTests(ControlCase):

    def restart(self):
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)
        mark = len(self.daemon.log_text())
        self.start_daemon()
        return mark

    def test_settings_and_last_output_survive_a_restart(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume', 'q', '90')
        self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Routes', 'a{ss}', '1',
                    'alerts', 'bluetooth')
        self.ctl('idle-suspend', '30')
        self.ctl('auto-reconnect', 'on')
        saved = self.settings()
        # saved atomically: only the file itself, private
        self.assertEqual(sorted(os.listdir(self.state_dir)), ['state'])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.state_dir, 'state')).st_mode), 0o600)
        text = self.state_file()
        for line in ('a2dpsrc-state 1', 'speaker-mode=true', 'route.alerts=bluetooth', 'volume=90',
                     'idle-suspend=30', 'auto-reconnect=true', 'last-output=%s' % SPEAKER):
            self.assertIn(line + '\n', text)

        mark = self.restart()
        s = self.settings()
        for k in ('SpeakerMode', 'Routes', 'Volume', 'AutoReconnect', 'IdleSuspend'):
            self.assertEqual(s[k], saved[k], k)
        # the last output comes back by itself
        self.wait_streaming(timeout=6)
        self.wait_prop('Output', SPEAKER)
        self.wait_prop('State', 'streaming')
        self.assertIn('last output %s' % SPEAKER, self.daemon.log_text()[mark:])

    def test_monitor_follows_a_restart_and_a_leftover_tmp_is_ignored(self):
        self.add_tone()
        self.start_daemon()
        self.set_mprop('Volume', dbus.UInt16(77))
        mon = self.monitor()
        wait_for(lambda: mon.proc.poll() is None and self.bus.name_owner('org.a2dpsrc'), 2)
        self.wait_monitor_listening(mon)
        self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)
        mon.wait_line(r' a2dpsrcd stopped$')
        # a save cut short by a crash leaves state.tmp behind: not read
        with open(os.path.join(self.state_dir, 'state.tmp'), 'w') as f:
            f.write('a2dpsrc-state 1\nvolume=5\n')
        self.start_daemon()
        mon.wait_line(r' a2dpsrcd started$')
        self.assertEqual(plain(self.mprop('Volume')), 77)
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, 'state.tmp')))
        # the monitor goes on showing changes of the new daemon
        self.ctl('volume', '78')
        mon.wait_line(r' Volume: 78 \(61%\)$')
        # Peer answers too
        self.busctl('call', 'org.a2dpsrc', MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping')

    def test_auto_reconnect_off_survives_a_restart(self):
        self.add_speaker()
        self.start_daemon()
        self.call('Connect', SPEAKER)
        self.wait_streaming()
        self.set_mprop('AutoReconnect', False)
        self.restart()
        self.assertFalse(plain(self.mprop('AutoReconnect')))
        time.sleep(2.0)
        self.assertIsNone(self.bluez.transport_for(SPEAKER_PATH))
        self.assertEqual(plain(self.mprop('Output')), '')
        # asking brings it back
        self.call('Connect', SPEAKER)
        self.wait_streaming()

    def test_corrupt_state_file_is_set_aside(self):
        bad = {
            'garbage': b'\x00\xff\xfe garbage \x01\x02\n',
            'truncated': b'a2dpsrc-state 1\nspeaker-mode=true\nvolume=1',
            'wrong version': b'a2dpsrc-state 9\nspeaker-mode=true\n',
            'bad value': b'a2dpsrc-state 1\nvolume=300\n',
        }
        self.add_tone()
        for i, (what, data) in enumerate(bad.items()):
            with self.subTest(what=what):
                for f in os.listdir(self.state_dir):
                    os.unlink(os.path.join(self.state_dir, f))
                with open(os.path.join(self.state_dir, 'state'), 'wb') as f:
                    f.write(data)
                mark = len(self.daemon.log_text()) if self.daemon else 0
                self.start_daemon(speaker_mode=None)
                s = self.settings()
                self.assertEqual((s['SpeakerMode'], s['Volume'], s['IdleSuspend'], s['AutoReconnect']),
                                 (False, 64, 0, True))
                self.assertEqual(s['Routes'], {'media': 'bluetooth', 'alerts': 'local', 'voice': 'local'})
                aside = [f for f in os.listdir(self.state_dir) if f.startswith('state.corrupt-')]
                self.assertEqual(len(aside), 1, os.listdir(self.state_dir))
                with open(os.path.join(self.state_dir, aside[0]), 'rb') as f:
                    self.assertEqual(f.read(), data)
                log = self.daemon.log_text()[mark:]
                self.assertRegex(log, r'warning: settings in .* were unreadable \(.*moved to %s\)' % aside[0])
                # the next change writes a good file again
                self.set_mprop('Volume', dbus.UInt16(70))
                self.assertIn('volume=70\n', self.state_file())
                self.assertEqual(self.daemon.stop(signal.SIGTERM, 5), 0)



class SystemLikeBus:
    """A second private dbus-daemon configured like Debian's system bus
    (method calls denied unless a policy file punches a hole), with
    dbus/org.a2dpsrc.conf in its system.d. Reachable by any uid."""

    CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
""" + DEBIAN_DEFAULT_POLICY + """  <includedir>%(confd)s</includedir>
</busconfig>
"""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='a2dpsrc-sysbus-')
        # other uids must reach the socket
        os.chmod(self.dir, 0o755)
        confd = os.path.join(self.dir, 'system.d')
        os.makedirs(confd)
        shutil.copy(POLICY, os.path.join(confd, 'org.a2dpsrc.conf'))
        self.socket = os.path.join(self.dir, 'system_bus_socket')
        self.config = os.path.join(self.dir, 'system.conf')
        with open(self.config, 'w') as f:
            f.write(self.CONFIG % {'socket': self.socket, 'confd': confd})
        self.log_path = os.path.join(self.dir, 'dbus-daemon.log')
        with open(self.log_path, 'w') as log:
            self.proc = subprocess.Popen([DBUS_DAEMON, '--config-file=' + self.config, '--nofork',
                                          '--print-address'], stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError('dbus-daemon did not start: %s' % open(self.log_path).read())

    @property
    def env(self):
        env = dict(os.environ)
        env['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        return env

    def log_text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def close(self):
        _kill(self.proc, signal.SIGTERM, 5)
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PolicyTests(ControlCase):
    """dbus/org.a2dpsrc.conf on a system-like bus: anyone reads, only root
    (and the a2dpsrc group, which does not exist here) changes things."""

    AS_NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']

    def run_as(self, user, argv):
        prefix = self.AS_NOBODY if user == 'nobody' else []
        env = self.sysbus.env
        env['HOME'] = '/'
        return subprocess.run(prefix + argv, env=env, capture_output=True, text=True, timeout=30)

    def test_policy_lets_anyone_read_and_only_root_change(self):
        self.sysbus = SystemLikeBus()
        self.addCleanup(self.sysbus.close)
        self.add_tone()
        self.write_state(speaker_mode=False)
        # a2dpsrcd as root owns the name the policy grants root
        daemon = Daemon(self.sysbus, DAEMON, log_dir=self.tmp)
        self.addCleanup(daemon.close)
        daemon.start(['--capture', 'tone', '--local-output', 'null', '--state-dir', self.state_dir,
                      '--power-supply', self.power_dir, '-v'],
                     {'ALSA_CONFIG_PATH': self.alsa_conf()})

        def owned():
            r = self.run_as('root', ['busctl', '--system', 'status', 'org.a2dpsrc'])
            return r.returncode == 0
        daemon.wait_for(owned, 5, what='org.a2dpsrc on the system-like bus')

        bc = ['busctl', '--system']
        # nobody: reads and introspects
        r = self.run_as('nobody', bc + ['get-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'q 64'), r.stderr)
        r = self.run_as('nobody', bc + ['introspect', 'org.a2dpsrc', MANAGER_PATH])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('.Connect', r.stdout)
        r = self.run_as('nobody', [CTL, 'status'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('Volume: 64 (50%)', r.stdout)
        # ... and is refused every change
        refused = [
            bc + ['set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume', 'q', '10'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'StartDiscovery'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'GetDevices'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Reset'],
            bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Connect', 's', SPEAKER],
            bc + ['call', 'org.a2dpsrc', '/org/a2dpsrc/agent', 'org.bluez.Agent1', 'Release'],
        ]
        for argv in refused:
            r = self.run_as('nobody', argv)
            self.assertNotEqual(r.returncode, 0, argv)
            self.assertIn('Access denied', r.stderr, argv)
        r = self.run_as('nobody', [CTL, 'volume', '10'])
        self.assertEqual(r.returncode, 1)
        self.assertIn('permission denied', r.stderr)
        # nor may it take the name
        r = self.run_as('nobody', ['/usr/bin/python3', '-c',
                                   'import dbus.bus, sys; c = dbus.bus.BusConnection(sys.argv[1]); '
                                   'c.request_name("org.a2dpsrc")', self.sysbus.address])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('AccessDenied', r.stderr)

        # root: every change goes through, and nobody's monitor hears of it
        env = self.sysbus.env
        env['HOME'] = '/'
        mon = CtlMonitor(env, self.AS_NOBODY)
        self.addCleanup(mon.close)
        vol = 9

        def heard():
            nonlocal vol
            vol += 1
            r = self.run_as('root', [CTL, 'volume', str(vol)])
            self.assertEqual(r.returncode, 0, r.stderr)
            return any(re.search(r' Volume: %d \(\d+%%\)$' % vol, l) for l in mon.lines)
        wait_for(heard, 5, interval=0.05, what="nobody's monitor hearing root's change")
        self.assertLess(vol, 100)
        r = self.run_as('root', bc + ['set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'IdleSuspend',
                                      'u', '5'])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_as('root', bc + ['call', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'GetDevices'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'aa{sv} 0'), r.stderr)
        # which nobody sees
        r = self.run_as('nobody', bc + ['get-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'Volume'])
        self.assertEqual(r.stdout.strip(), 'q %d' % vol)
        self.assertIsNone(daemon.returncode)


if __name__ == '__main__':
    unittest.main()


class UnresolvedServicesTests(A2dpTestCase):
    """A speaker found by inquiry may list no UUIDs until paired: its
    Class of Device decides whether Pair may go ahead."""

    def test_pair_with_unknown_uuids_follows_class_of_device(self):
        self.start_daemon()
        spk = self.bluez.add_device('hci0', '00:11:22:33:44:77', 'Quiet Speaker',
                                    {'UUIDs': [], 'Class': 0x240414, 'Paired': False, 'Known': True})
        phone = self.bluez.add_device('hci0', '00:11:22:33:44:78', 'Phone',
                                      {'UUIDs': [], 'Class': 0x5a020c, 'Paired': False, 'Known': True})
        self.daemon.wait_for(lambda: len(self.manager().GetDevices()) >= 2, 3)
        self.manager().Pair('00:11:22:33:44:77', timeout=30)
        self.assertTrue(bool(self.bluez.prop(spk, 'org.bluez.Device1', 'Paired')))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.manager().Pair('00:11:22:33:44:78', timeout=30)
        self.assertEqual(cm.exception.get_dbus_name(), 'org.a2dpsrc.Error.NotAudioSink')
        self.assertFalse(bool(self.bluez.prop(phone, 'org.bluez.Device1', 'Paired')))
