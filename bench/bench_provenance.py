"""What a run records about itself: the binary, the commit, the machine."""

import hashlib
import os
import platform
import subprocess

from bench_procfs import read_text
from bench_settings import ROOT


def sha256_of(path):
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError:
        return None


def git_head():
    r = subprocess.run(['git', '-C', ROOT, 'describe', '--always', '--dirty'], capture_output=True, text=True)
    return r.stdout.strip() or None


def machine():
    cpu = None
    for line in (read_text('/proc/cpuinfo') or '').splitlines():
        if line.startswith('model name'):
            cpu = line.split(':', 1)[1].strip()
            break
    return {'cpu': cpu, 'cores': os.cpu_count(), 'kernel': platform.release(),
            'os': (read_text('/etc/debian_version') or '').strip(),
            'loadavg_start': (read_text('/proc/loadavg') or '').strip()}
