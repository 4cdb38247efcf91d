"""Starting, waiting for and stopping the processes around a run: the
sd_notify socket, SCHED_FIFO for the double, the stress-ng load."""

import os
import signal
import socket
import subprocess
import time

from bench_procfs import read_text
from bench_settings import DOUBLE_RT_PRIO


def rt_boost(pid, prio=DOUBLE_RT_PRIO):
    """SCHED_FIFO for every thread of pid (threads created later inherit)."""
    r = subprocess.run(['chrt', '-a', '-f', '-p', str(prio), str(pid)], capture_output=True, text=True)
    return r.returncode == 0


class NotifySocket:
    """A $NOTIFY_SOCKET that records when READY=1 arrives."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode(errors='replace')
            except socket.timeout:
                return None
            t = time.monotonic()
            if 'READY=1' in msg.split('\n'):
                return t

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def stop_proc(proc, timeout=5.0, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass


def kill_pid(pid, timeout=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists('/proc/%d' % pid) or 'Z' == (read_text('/proc/%d/stat' % pid) or ' ) Z').split(') ')[1][:1]:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Load:
    """stress-ng --cpu 2: two CPU hogs at normal priority."""

    def __init__(self, workers=2):
        self.proc = subprocess.Popen(['stress-ng', '--cpu', str(workers), '--quiet'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)   # stress-ng and its own workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
