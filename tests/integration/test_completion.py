"""Bash completion of a2dpsrcctl (packaging/completion/a2dpsrcctl), driven the way
bash drives it: COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT set as bash sets
them (':' is a word break) and the completion function called, with
bash-completion's own helpers loaded. Device addresses come from a running
daemon's GetDevices on the BlueZ double."""

import os
import re
import shutil
import subprocess
import unittest

from common import A2dpTestCase, BUILD, CTL, ROOT

COMPLETION = os.path.join(ROOT, 'packaging', 'completion', 'a2dpsrcctl')
BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'
SPK1, SPK2, PHONE = '00:11:22:33:44:55', '00:11:22:AA:BB:CC', '66:77:88:99:AA:BB'

DRIVER = r'''
source %(bc)s
source %(comp)s
line=$1
COMP_LINE=$line
COMP_POINT=${#line}
# bash's own split: blanks separate words, ':' and '=' are words of their own
COMP_WORDS=()
rest=$line
while [[ -n $rest ]]; do
    if [[ $rest =~ ^[[:space:]]+ ]]; then rest=${rest:${#BASH_REMATCH}}
    elif [[ $rest =~ ^[:=]+ ]]; then COMP_WORDS+=("$BASH_REMATCH"); rest=${rest:${#BASH_REMATCH}}
    elif [[ $rest =~ ^[^[:space:]:=]+ ]]; then COMP_WORDS+=("$BASH_REMATCH"); rest=${rest:${#BASH_REMATCH}}
    fi
done
[[ $line == *[[:space:]] || ${#COMP_WORDS[@]} -eq 0 ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_TYPE=9
fn=$(complete -p a2dpsrcctl | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
"$fn" a2dpsrcctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%%s\n' "${COMPREPLY[@]}"
''' % {'bc': BASH_COMPLETION, 'comp': COMPLETION}


@unittest.skipUnless(os.path.exists(BASH_COMPLETION), 'bash-completion is not installed (make deps)')
class CompletionTests(A2dpTestCase):

    def setUp(self):
        super().setUp()
        self.env = dict(self.bus.env)
        self.env['PATH'] = BUILD + os.pathsep + self.env['PATH']

    def complete(self, line):
        r = subprocess.run(['bash', '--norc', '--noprofile', '-c', DRIVER, 'driver', line],
                           env=self.env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(w for w in r.stdout.split('\n') if w)

    def help_text(self):
        return subprocess.run([CTL, '--help'], capture_output=True, text=True).stdout

    def help_commands(self):
        block = self.help_text().split('Commands:\n', 1)[1].split('\n\n', 1)[0]
        return sorted(l.split()[0] for l in block.splitlines() if l.strip())

    def start(self):
        self.bluez.add_speaker(SPK1, 'Kitchen')
        self.bluez.add_speaker(SPK2, 'Bedroom')
        self.bluez.add_device('hci0', PHONE, 'Phone', {'Paired': True})
        self.start_daemon(speaker_mode=False)

    def test_commands_options_and_arguments(self):
        self.start()
        commands = self.help_commands()
        self.assertTrue({'status', 'connect', 'route', 'volume', 'monitor'} <= set(commands))
        self.assertEqual(self.complete('a2dpsrcctl '), commands)
        self.assertEqual(self.complete('a2dpsrcctl con'), ['connect'])
        self.assertEqual(self.complete('a2dpsrcctl d'), ['default-output', 'devices', 'disconnect',
                                                        'doctor'])
        # every long option of --help, whatever is added later
        options = sorted(set(re.findall(r'(--[a-z][a-z-]*)', self.help_text().split('Options:', 1)[1])))
        self.assertTrue({'--help', '--json', '--timeout', '--verbose', '--version'} <= set(options))
        self.assertEqual(self.complete('a2dpsrcctl --'), options)
        # options before the command, and the timeout's value, are skipped
        self.assertEqual(self.complete('a2dpsrcctl -v --timeout 500 speaker-m'), ['speaker-mode'])
        self.assertEqual(self.complete('a2dpsrcctl -v --timeout 500 sp'), ['speaker-delay', 'speaker-mode'])
        self.assertEqual(self.complete('a2dpsrcctl --timeout '), [])
        self.assertEqual(self.complete('a2dpsrcctl speaker-mode '), ['off', 'on'])
        self.assertEqual(self.complete('a2dpsrcctl auto-reconnect o'), ['off', 'on'])
        self.assertEqual(self.complete('a2dpsrcctl mu'), ['multi-output'])
        self.assertEqual(self.complete('a2dpsrcctl multi-output '), ['off', 'on'])
        self.assertEqual(self.complete('a2dpsrcctl outp'), ['outputs'])
        self.assertEqual(self.complete('a2dpsrcctl outputs '), [])
        self.assertEqual(self.complete('a2dpsrcctl route '), ['alerts', 'media', 'voice'])
        self.assertEqual(self.complete('a2dpsrcctl route alerts '), ['bluetooth', 'local'])
        self.assertEqual(self.complete('a2dpsrcctl default-output l'), ['local'])
        # no second argument where there is none, nothing for numbers
        self.assertEqual(self.complete('a2dpsrcctl speaker-mode on '), [])
        self.assertEqual(self.complete('a2dpsrcctl volume '), [])
        self.assertEqual(self.complete('a2dpsrcctl status '), [])
        # codec names
        self.assertEqual(self.complete('a2dpsrcctl codec apt'), ['aptx', 'aptx-hd'])
        self.assertEqual(self.complete('a2dpsrcctl codecs a'), ['aac', 'all', 'aptx', 'aptx-hd'])
        # speaker-delay: a number, or auto
        self.assertEqual(self.complete('a2dpsrcctl speaker-delay 00:11:22:33:44:55 a'), ['auto'])

    def test_every_choice_in_help_completes(self):
        # each argument --help writes as choices (on|off, playing|paused|...)
        # is offered as those words, for commands added later too
        text = subprocess.run([CTL, '--help'], capture_output=True, text=True).stdout
        block = text.split('Commands:\n', 1)[1].split('\n\n', 1)[0]
        seen = 0
        for line in block.splitlines():
            words = re.split(r'\s{2,}', line.strip())[0].split()
            for i, spec in enumerate(words[1:]):
                if re.fullmatch(r'[a-z]+(\|[a-z]+)+', spec):
                    line_so_far = 'a2dpsrcctl %s ' % ' '.join(
                        [words[0]] + ['media' if w == 'CATEGORY' else 'x' for w in words[1:i + 1]])
                    self.assertEqual(self.complete(line_so_far), sorted(spec.split('|')), line_so_far)
                    seen += 1
        self.assertGreaterEqual(seen, 5)

    def test_addresses_from_the_daemon(self):
        self.start()
        every = sorted([SPK1, SPK2, PHONE])
        for cmd in ('connect', 'pair', 'forget', 'doctor', 'disconnect', 'volume 40', 'codec aptx'):
            self.assertEqual(self.complete('a2dpsrcctl %s ' % cmd), every, cmd)
        # ':' is a word break for bash: what is offered is the address's
        # rest after the last ':' typed, as bash-completion does it
        self.assertEqual(self.complete('a2dpsrcctl connect 00:11:22:'), ['33:44:55', 'AA:BB:CC'])
        self.assertEqual(self.complete('a2dpsrcctl connect 00:11:22:A'), ['AA:BB:CC'])
        self.assertEqual(self.complete('a2dpsrcctl -t 3000 forget 66'), [PHONE])

    def test_no_daemon_no_addresses_and_no_activation(self):
        # no a2dpsrcd on the bus: nothing to offer, at once, and nothing is
        # started (the private bus has no activation file, so a call that
        # tried would fail slowly; NameHasOwner is asked first)
        self.assertEqual(self.complete('a2dpsrcctl connect '), [])
        self.assertEqual(self.complete('a2dpsrcctl con'), ['connect'])


if __name__ == '__main__':
    unittest.main()
