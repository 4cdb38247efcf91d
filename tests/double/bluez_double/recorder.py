"""The speaker end of an acquired transport.

One thread per Acquire: it recv()s every SEQPACKET the daemon writes and
appends it to a recording file.  The thread never touches D-Bus; the main
loop talks to it only through the attributes and methods below.

File format (little-endian), version 2:
  header, 20 + n bytes: b'A2DPREC2', u16 header length (20 + n), u8 A2DP
                    codec type (0x00 SBC, 0x02 AAC, 0xff vendor), u8 n,
                    u16 write_mtu, u16 read_mtu, u32 0, then the n bytes of
                    the transport's Configuration (vendor header included)
  records:          u64 t_ns (CLOCK_MONOTONIC at receipt), u32 length, data
Version 3 (template parameter arrival_timestamps; b'A2DPREC3', the same
header) adds to each record, after the length, u64 t_kernel_ns: when the
kernel queued the packet on the speaker's socket, CLOCK_MONOTONIC, 0 when
the kernel gave none.  It comes from SO_TIMESTAMPNS: AF_UNIX datagram and
seqpacket sockets stamp a packet when the sender queues it to a receiver
that asked (af_unix.c unix_dgram_sendmsg, __net_timestamp), in
CLOCK_REALTIME, which the recorder turns into CLOCK_MONOTONIC with the
offset between the two clocks read at receipt.  t_ns is when this thread
read the packet, which Python's scheduling (the GIL, the main loop) delays
by up to milliseconds; t_kernel_ns has no such jitter.  With SpeakerStall
or a link limit (SpeakerLink, LinkKbps) the speaker reads late on purpose
and t_ns is the modelled arrival; without them the double's "air" takes no
time and t_kernel_ns is the arrival.
Version 1 (b'A2DPREC1', SBC only: 4 configuration bytes where version 2 has
its header length, codec and n; no configuration after the header) is still
read by speaker-analyze and harness.read_recording.
Each record is written with one os.write() so readers see whole records
(except possibly the last one while it is being written).
"""

import os
import select
import socket
import struct
import threading
import time

MAGIC = b'A2DPREC2'
MAGIC_V3 = b'A2DPREC3'
HEADER = struct.Struct('<8sHBBHHI')
RECORD = struct.Struct('<QI')
RECORD_V3 = struct.Struct('<QIQ')
# SO_TIMESTAMPNS (asm-generic/socket.h; SCM_TIMESTAMPNS is the same value)
SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
TIMESPEC = struct.Struct('@qq')


def header(codec, config, write_mtu, read_mtu, version=2):
    config = bytes(config)
    if len(config) > 255:
        raise ValueError('configuration of %d bytes' % len(config))
    return HEADER.pack(MAGIC_V3 if version == 3 else MAGIC,
                       HEADER.size + len(config), codec, len(config),
                       write_mtu, read_mtu, 0) + config


def record(t_ns, data, t_kernel_ns=None):
    """One record: version 2 without t_kernel_ns, version 3 with it."""
    if t_kernel_ns is None:
        return RECORD.pack(t_ns, len(data)) + data
    return RECORD_V3.pack(t_ns, len(data), t_kernel_ns) + data


def kernel_time_ns(ancdata):
    """The SO_TIMESTAMPNS of a recvmsg() as CLOCK_MONOTONIC ns, 0: none."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and \
                len(data) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack_from(data)
            real = sec * 1000000000 + nsec
            offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - \
                time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            return max(real - offset, 1)
    return 0


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Recorder(threading.Thread):
    POLL_S = 0.02

    def __init__(self, sock, path, codec, config, write_mtu, read_mtu,
                 timestamps=False):
        super().__init__(name='speaker-' + os.path.basename(path), daemon=True)
        self.sock = sock
        self.sock.setblocking(False)
        self.timestamps = bool(timestamps)     # format 3
        if self.timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(self._fd, header(codec, config, write_mtu, read_mtu,
                                  3 if self.timestamps else 2))
        self.write_mtu = write_mtu
        self.lock = threading.Lock()
        self.packets = 0
        self.bytes = 0
        self.oversize = 0            # packets longer than the write MTU
        self.stall_until = 0.0       # monotonic seconds
        self.link_kbps = 0           # the link's capacity (0: unlimited)
        self._tokens = 0.0           # bytes the link may carry now
        self._tokens_t = 0.0
        self.discard = False         # stream suspended: read but do not record
        self.peer_closed = False     # daemon closed its end (EOF)
        self.finished = False
        self.idle_at = 0             # last time the socket was seen empty
        self._stop = None            # None, 'drain' or 'close'
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- called from the main loop ---------------------------------------
    def stall(self, ms):
        with self.lock:
            self.stall_until = max(self.stall_until,
                                   time.monotonic() + ms / 1000.0)
        self._wake()

    def set_link(self, kbps):
        """A link that carries at most kbps kbit/s of packets (a speaker
        far away, a busy 2.4 GHz band): the speaker reads the socket no
        faster, and what does not go waits in the sender's socket.  0: no
        limit."""
        with self.lock:
            self.link_kbps = max(0, int(kbps))
            self._tokens = 0.0
            self._tokens_t = time.monotonic()
        self._wake()

    def _link_wait(self):
        """Seconds until the link may carry the next packet (0: now).
        At most two MTUs' worth of credit builds up while idle."""
        with self.lock:
            kbps = self.link_kbps
            if not kbps:
                return 0.0
            now = time.monotonic()
            rate = kbps * 1000 / 8.0
            self._tokens = min(self._tokens + (now - self._tokens_t) * rate,
                               2.0 * self.write_mtu)
            self._tokens_t = now
            return 0.0 if self._tokens >= 0 else -self._tokens / rate

    def stop(self, drain):
        """drain=True: record what is already queued, then close (Release).
        drain=False: close at once, queued data is lost (link loss)."""
        with self.lock:
            if self._stop is None or self._stop == 'drain':
                self._stop = 'drain' if drain else 'close'
        self._wake()

    def is_idle_since(self, t_ns):
        return self.finished or self.idle_at > t_ns

    def stats(self):
        with self.lock:
            return {'Packets': self.packets, 'Bytes': self.bytes,
                    'Oversize': self.oversize,
                    'PeerClosed': self.peer_closed,
                    'Finished': self.finished}

    def _wake(self):
        try:
            os.write(self._wake_w, b'x')
        except OSError:
            pass

    # -- thread ------------------------------------------------------------
    def _record(self, data, t_kernel_ns=None):
        t = now_ns()
        with self.lock:
            if self.discard:
                return
            self.packets += 1
            self.bytes += len(data)
            if self.link_kbps:
                self._tokens -= len(data)
            if len(data) > self.write_mtu:
                self.oversize += 1
        os.write(self._fd, record(t, data, t_kernel_ns))

    def _recv_one(self):
        t_kernel = None
        try:
            if self.timestamps:
                data, anc, _, _ = self.sock.recvmsg(
                    65536, socket.CMSG_SPACE(TIMESPEC.size))
                t_kernel = kernel_time_ns(anc)
            else:
                data = self.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            self.peer_closed = True
            return None
        if not data:
            self.peer_closed = True
            return None
        self._record(data, t_kernel)
        return True

    def run(self):
        try:
            while True:
                with self.lock:
                    stop = self._stop
                    stall = self.stall_until - time.monotonic()
                if stop == 'close':
                    break
                if stop == 'drain':
                    while self._recv_one():
                        pass
                    break
                if stall > 0:
                    select.select([self._wake_r], [], [], min(stall, 0.05))
                    self._drain_wake()
                    continue
                if self.peer_closed:
                    self.idle_at = now_ns()
                    select.select([self._wake_r], [], [], 0.2)
                    self._drain_wake()
                    continue
                link = self._link_wait()
                if link > 0:
                    select.select([self._wake_r], [], [], min(link, 0.05))
                    self._drain_wake()
                    continue
                t0 = now_ns()
                r, _, _ = select.select([self.sock, self._wake_r], [], [],
                                        self.POLL_S)
                if self._wake_r in r:
                    self._drain_wake()
                if self.sock in r:
                    # a bounded burst, so a stall or stop acts promptly
                    got, n = True, 0
                    while got and n < 32 and not self._link_wait():
                        got = self._recv_one()
                        n += 1
                    if got is False:
                        self.idle_at = now_ns()
                elif not r:
                    self.idle_at = t0
        finally:
            self.finished = True
            for fd in (self._fd, self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                self.sock.close()
            except OSError:
                pass

    def _drain_wake(self):
        try:
            while os.read(self._wake_r, 64):
                pass
        except BlockingIOError:
            pass
        except OSError:
            pass


def make_pair():
    """(daemon_end, speaker_end) SEQPACKET sockets, like an L2CAP channel."""
    daemon_end, speaker_end = socket.socketpair(socket.AF_UNIX,
                                                socket.SOCK_SEQPACKET)
    return daemon_end, speaker_end
