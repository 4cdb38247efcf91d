"""dbus/org.a2dpsrc.Manager1.xml, the interface XML shipped for app
developers: it says what the running daemon serves (Introspect), documents
every member, and gdbus-codegen makes a working client from it."""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import dbus

from common import A2dpTestCase, MANAGER, MANAGER_PATH, ROOT, wait_for

XML = os.path.join(ROOT, 'dbus', 'org.a2dpsrc.Manager1.xml')
CLIENT = os.path.join(ROOT, 'docs', 'examples', 'gdbus-state.c')
DOC = 'org.gtk.GDBus.DocString'


def interface(root, name):
    for iface in root.iter('interface'):
        if iface.get('name') == name:
            return iface
    raise AssertionError('no interface %s' % name)


def annotations(elem):
    """The annotations that change behaviour; documentation aside."""
    return sorted((a.get('name'), a.get('value')) for a in elem.findall('annotation')
                  if a.get('name') != DOC)


def shape(iface):
    """Everything a client depends on, as comparable text lines."""
    lines = ['interface annotations %r' % (annotations(iface),)]
    for m in iface.findall('method'):
        args = [(a.get('name'), a.get('type'), a.get('direction', 'in')) for a in m.findall('arg')]
        lines.append('method %s %r %r' % (m.get('name'), args, annotations(m)))
    for s in iface.findall('signal'):
        args = [(a.get('name'), a.get('type')) for a in s.findall('arg')]
        lines.append('signal %s %r %r' % (s.get('name'), args, annotations(s)))
    for p in iface.findall('property'):
        lines.append('property %s %s %s %r' % (p.get('name'), p.get('type'), p.get('access'),
                                               annotations(p)))
    return sorted(lines)


class InterfaceXmlTests(A2dpTestCase):

    def setUp(self):
        super().setUp()
        self.start_daemon(speaker_mode=False)
        self.mgr = self.bus.conn.get_object('org.a2dpsrc', MANAGER_PATH)

    def introspect(self):
        return ET.fromstring(str(self.mgr.Introspect(
            dbus_interface='org.freedesktop.DBus.Introspectable')))

    def test_xml_matches_introspect(self):
        shipped = shape(interface(ET.parse(XML).getroot(), MANAGER))
        served = shape(interface(self.introspect(), MANAGER))
        only_xml = [l for l in shipped if l not in served]
        only_daemon = [l for l in served if l not in shipped]
        self.assertEqual((only_xml, only_daemon), ([], []),
                         '\nin %s only:\n  %s\nin the daemon\'s Introspect only:\n  %s'
                         % (os.path.relpath(XML, ROOT), '\n  '.join(only_xml),
                            '\n  '.join(only_daemon)))

    def test_every_member_documented(self):
        iface = interface(ET.parse(XML).getroot(), MANAGER)
        undocumented = [
            '%s %s' % (e.tag, e.get('name') or '') for e in
            [iface] + iface.findall('method') + iface.findall('signal') + iface.findall('property')
            if not [a for a in e.findall('annotation') if a.get('name') == DOC and a.get('value')]]
        self.assertEqual(undocumented, [])

    def test_gdbus_codegen_client_reads_state(self):
        for tool in ('gdbus-codegen', 'cc', 'pkg-config'):
            self.assertTrue(shutil.which(tool), '%s is missing (make deps)' % tool)
        out = os.path.join(self.tmp, 'client')
        os.makedirs(out)
        subprocess.run(['gdbus-codegen', '--interface-prefix', 'org.a2dpsrc.',
                        '--c-namespace', 'A2dpsrc', '--generate-c-code',
                        os.path.join(out, 'a2dpsrc-manager1'), XML], check=True)
        flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'gio-2.0', 'gio-unix-2.0'],
                               check=True, capture_output=True, text=True).stdout.split()
        exe = os.path.join(out, 'gdbus-state')
        cc = subprocess.run(['cc', '-Wall', '-Werror', '-I', out, '-o', exe, CLIENT,
                             os.path.join(out, 'a2dpsrc-manager1.c')] + flags,
                            capture_output=True, text=True)
        self.assertEqual(cc.returncode, 0, cc.stderr)

        def client_state():
            r = subprocess.run([exe], env=self.bus.env, capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.strip()

        want = str(self.mgr.Get(MANAGER, 'State', dbus_interface='org.freedesktop.DBus.Properties'))
        self.assertEqual(want, 'off')
        self.assertEqual(client_state(), want)
        # a changed State reads as changed: the client asks the daemon
        self.mgr.Set(MANAGER, 'SpeakerMode', dbus.Boolean(True),
                     dbus_interface='org.freedesktop.DBus.Properties')
        wait_for(lambda: self.mgr.Get(MANAGER, 'State',
                                      dbus_interface='org.freedesktop.DBus.Properties') != 'off',
                 5, what='State to leave off')
        want = str(self.mgr.Get(MANAGER, 'State', dbus_interface='org.freedesktop.DBus.Properties'))
        self.assertEqual(client_state(), want)


if __name__ == '__main__':
    import unittest
    unittest.main()
