"""Flash wear: the settings file is written atomically (temp file, fsync,
rename, fsync of the directory). A burst of volume presses on the speaker
must not write it once per press; the last value must still be on disk
when the daemon is stopped right after the burst."""

import ctypes
import ctypes.util
import os
import select
import signal
import struct
import threading
import time

import dbus

from common import A2dpTestCase, SPEAKER_PATH

IN_MOVED_TO = 0x80
IN_NONBLOCK = 0o4000
PRESSES = 20


class StateRenames:
    """Counts renames onto `state` in a directory (each one is a whole
    write: temp file, fsync, rename, directory fsync). Read as they come, in
    a thread: inotify merges identical events left unread."""

    def __init__(self, directory):
        libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1')
        if libc.inotify_add_watch(self.fd, directory.encode(), IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), 'inotify_add_watch')
        self.count = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            self.poll(0.05)

    def poll(self, seconds=0.0):
        end = time.monotonic() + seconds
        while True:
            r, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            if r:
                buf = os.read(self.fd, 65536)
                off = 0
                while off < len(buf):
                    _, _, _, n = struct.unpack_from('iIII', buf, off)
                    name = buf[off + 16:off + 16 + n].rstrip(b'\0')
                    if name == b'state':
                        self.count += 1
                    off += 16 + n
            elif time.monotonic() >= end:
                return self.count

    def finish(self):
        time.sleep(0.2)
        self.stop = True
        self.thread.join()
        return self.count

    def close(self):
        self.stop = True
        self.thread.join()
        os.close(self.fd)


class StateWriteTests(A2dpTestCase):

    def state_text(self):
        with open(os.path.join(self.state_dir, 'state')) as f:
            return f.read()

    def test_volume_presses_coalesce_and_the_last_survives_sigterm(self):
        self.add_speaker()
        self.start_daemon()
        t = self.connect_speaker()
        self.daemon.wait_for(lambda: 'Volume' in self.bluez.transports()[t], 2, what='AVRCP volume')
        time.sleep(1.5)           # whatever connecting saved is on disk
        renames = StateRenames(self.state_dir)
        self.addCleanup(renames.close)
        # a finger on the speaker's volume button: a press every 40 ms
        for i in range(PRESSES):
            self.bluez.SpeakerSetVolume(SPEAKER_PATH, dbus.UInt16(40 + i))
            time.sleep(0.04)
        last = 40 + PRESSES - 1
        self.daemon.wait_for(lambda: int(self.mprop('Volume')) == last, 2, what='volume followed')
        # stopped right after the burst: the last value is on disk anyway
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait_exit(5), 0)
        writes = renames.finish()
        self.assertIn('volume=%d\n' % last, self.state_text())
        self.assertLessEqual(writes, 3, '%d presses wrote the settings %d times' % (PRESSES, writes))

    def test_a_press_is_saved_within_seconds(self):
        self.add_speaker()
        self.start_daemon()
        t = self.connect_speaker()
        self.daemon.wait_for(lambda: 'Volume' in self.bluez.transports()[t], 2, what='AVRCP volume')
        self.bluez.SpeakerSetVolume(SPEAKER_PATH, dbus.UInt16(33))
        # a daemon killed outright later still has it
        self.daemon.wait_for(lambda: 'volume=33\n' in self.state_text(), 3, what='volume saved')
