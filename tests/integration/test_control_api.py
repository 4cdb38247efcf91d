"""The control API's contract: docs/dbus-api.md and the daemon's
Introspect agree; every property read and written through dbus-python,
busctl and a2dpsrcctl; refused calls get the documented errors."""

import os
import re
import time
import unittest
import xml.etree.ElementTree as ET

import dbus

from common import MANAGER, MANAGER_PATH, PROPS, SPEAKER, ROOT
from control_case import ERR, VOLATILE, ControlCase, plain

API_DOC = os.path.join(ROOT, 'docs', 'dbus-api.md')


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
        self.assertEqual(writable, ['AutoReconnect', 'Codecs', 'IdleSuspend', 'MultiOutput', 'PlaybackStatus',
                                    'Routes', 'SpeakerMode', 'Volume'])
        self.start_daemon()
        rec = self.recorder()

        # busctl set-property: each one changes, is announced, reads back
        sets = [
            ('Volume', ['q', '80'], 80),
            ('IdleSuspend', ['u', '300'], 300),
            ('AutoReconnect', ['b', 'false'], False),
            ('MultiOutput', ['b', 'true'], True),
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
        self.ctl('multi-output', 'off')
        mon.wait_line(r' MultiOutput: off$')
        rec.wait('MultiOutput', False)
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
        self.assertEqual(out.returncode, 2)
        self.assertIn("'86401' is not 0-86400 seconds", out.stderr)
        out = self.busctl('set-property', 'org.a2dpsrc', MANAGER_PATH, MANAGER, 'IdleSuspend', 'u', '86401',
                          check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('at most 86400', out.stderr)
        out = self.ctl('connect', '00:DE:AD:BE:EF:00', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('No device 00:DE:AD:BE:EF:00 is known', out.stderr)
        self.assertEqual(self.settings(), before)
        self.assertEqual(self.state_file(), file_before)


if __name__ == '__main__':
    unittest.main()
