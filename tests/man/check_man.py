#!/usr/bin/python3
"""The man pages: man --warnings and lexgrog accept each one, and each
documents everything the program itself knows of.

- a2dpsrcd(8), OPTIONS: every long option `a2dpsrcd --help` prints;
- a2dpsrcctl(1), OPTIONS: every long option `a2dpsrcctl --help` prints;
  COMMANDS: every command it lists;
- a2dpsrcd.conf(5), KEYS: every key the config parser accepts
  (options_set() in src/options.c).

It proves it can fail: for each page it removes one documented item from a
copy of the page's source, renders that with scdoc and expects the check to
name exactly that item as missing.

Usage: check_man.py BUILD   (BUILD holds a2dpsrcd, a2dpsrcctl and man/)
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def long_options(help_text):
    return sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', help_text)))


def ctl_commands(help_text):
    m = re.search(r'^Commands:\n(.*?)\n\n', help_text, re.S | re.M)
    if not m:
        sys.exit('check_man: no "Commands:" section in a2dpsrcctl --help')
    return sorted(line.split()[0] for line in m.group(1).splitlines() if line.strip())


def config_keys():
    with open(os.path.join(ROOT, 'src', 'options.c')) as f:
        text = f.read()
    m = re.search(r'\nint options_set\(.*?\n}\n', text, re.S)
    if not m:
        sys.exit('check_man: options_set() not found in src/options.c')
    return sorted(set(re.findall(r'strcmp\(key, "([a-z][a-z-]*)"\)', m.group(0))))


def render(page):
    """The page as man shows it, one paragraph a line (no line breaks, so
    no hyphenation), as {SECTION: [lines]}."""
    env = dict(os.environ, MANWIDTH='4000', LC_ALL='C.UTF-8')
    out = run(['man', '-E', 'ascii', '-l', page], env=env)
    if out.returncode != 0:
        sys.exit('check_man: man -l %s failed: %s' % (page, out.stderr))
    text = run(['col', '-bx'], input=out.stdout).stdout
    sections, cur = {}, None
    for line in text.splitlines():
        if re.match(r'^[A-Z][A-Z ]+$', line):
            cur = line.strip()
            sections[cur] = []
        elif cur and line.strip():
            sections[cur].append(line)
    return sections


def terms(section_lines):
    """The tagged terms of a section: lines at the section's first indent
    (descriptions sit deeper)."""
    if not section_lines:
        return []
    indent = min(len(l) - len(l.lstrip()) for l in section_lines)
    return [l.strip() for l in section_lines if len(l) - len(l.lstrip()) == indent]


def missing(page, section, wanted, pick):
    """The items of `wanted` that no term of `section` in `page` names;
    pick(term) gives the names a term documents."""
    sections = render(page)
    if section not in sections:
        return list(wanted)
    have = set()
    for t in terms(sections[section]):
        have.update(pick(t))
    return [w for w in wanted if w not in have]


def pick_options(term):
    return re.findall(r'(--[a-z][a-z-]*)', term)


def pick_first_word(term):
    return term.split()[:1]


def lint(page):
    errors = []
    out = run(['man', '--warnings', '-E', 'UTF-8', '-l', page],
              env=dict(os.environ, MANWIDTH='80', LC_ALL='C.UTF-8'))
    if out.returncode != 0 or out.stderr.strip():
        errors.append('man --warnings %s:\n%s' % (page, out.stderr))
    out = run(['lexgrog', page])
    # lexgrog prints 'PAGE: "name - description"' for a page man-db can
    # index, 'PAGE: parse failed' and a non-zero status otherwise
    if out.returncode != 0 or 'parse failed' in out.stdout + out.stderr:
        errors.append('lexgrog %s: %s%s' % (page, out.stdout, out.stderr))
    return errors


def without_item(scd, item):
    """The scdoc source with the term naming `item` and its description
    removed."""
    lines = open(scd).read().split('\n')
    for i, line in enumerate(lines):
        if line.startswith('*') and re.search(r'\*%s\*' % re.escape(item), line):
            j = i + 1
            while j < len(lines) and lines[j].startswith('\t'):
                j += 1
            return '\n'.join(lines[:i] + lines[j:])
    sys.exit('check_man: %s: no term for %s to remove' % (scd, item))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    daemon_help = run([os.path.join(build, 'a2dpsrcd'), '--help']).stdout
    ctl_help = run([os.path.join(build, 'a2dpsrcctl'), '--help']).stdout
    keys = config_keys()
    if len(keys) < 5:
        sys.exit('check_man: found only %r in options_set(): has the parser changed shape?' % keys)

    # (page, section, wanted, how a term names things)
    checks = [
        ('a2dpsrcd.8', 'OPTIONS', long_options(daemon_help), pick_options),
        ('a2dpsrcctl.1', 'OPTIONS', long_options(ctl_help), pick_options),
        ('a2dpsrcctl.1', 'COMMANDS', ctl_commands(ctl_help), pick_first_word),
        ('a2dpsrcd.conf.5', 'KEYS', keys, pick_first_word),
    ]
    failures = []
    for name in sorted({c[0] for c in checks}):
        failures += lint(os.path.join(build, 'man', name))
    for name, section, wanted, pick in checks:
        if not wanted:
            failures.append('%s %s: found nothing to look for' % (name, section))
            continue
        gone = missing(os.path.join(build, 'man', name), section, wanted, pick)
        if gone:
            failures.append('%s, %s: not documented: %s' % (name, section, ' '.join(gone)))
        else:
            print('check_man: %s %s documents all %d: %s' % (name, section, len(wanted),
                                                             ' '.join(wanted)))

    # the negative control: the last item of each check, removed, is missed
    with tempfile.TemporaryDirectory(prefix='a2dpsrc-man-') as tmp:
        for name, section, wanted, pick in checks:
            if not wanted:
                continue
            item = wanted[-1]
            doctored = os.path.join(tmp, name)
            src = without_item(os.path.join(ROOT, 'docs', 'man', name + '.scd'), item)
            with open(doctored, 'w') as f:
                f.write(run(['scdoc'], input=src).stdout)
            gone = missing(doctored, section, wanted, pick)
            if gone != [item]:
                failures.append('%s %s without %s: the check missed %r, not [%r]'
                                % (name, section, item, gone, item))
            else:
                print('check_man: %s without %s: caught' % (name, item))

    for f in failures:
        print('check_man: FAIL: ' + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
