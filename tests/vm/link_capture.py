#!/usr/bin/python3
"""Records the ACL data a controller received: what crossed the air
(stdlib only).

  link_capture.py DEV OUT.btsnoop

A raw HCI socket on hciDEV (passive: it sends nothing; bound, it sees the
controller's traffic) keeps every incoming ACL data packet, in memory, and
on SIGTERM or SIGINT writes them as a btsnoop file in BlueZ's monitor
format (what `btmon -w` writes: opcode ACL RX, index DEV), which
check_audio.py reads (and btmon -r, Wireshark). Not btmon itself: under TCG
it wrote each packet through 9p as it came and dropped most of them.

Each packet's time is the kernel's (HCI_TIME_STAMP: when the controller's
packet was received, wall clock), not when this reader got to it: the
two-speakers scenario compares arrival times on two links to the
millisecond.
"""

import signal
import socket
import struct
import sys
import time

SOL_HCI = 0
HCI_DATA_DIR = 1
HCI_FILTER = 2
HCI_TIME_STAMP = 3
HCI_CMSG_DIR = 0x0001
HCI_CMSG_TSTAMP = 0x0002
TIMEVAL = struct.Struct('@ll')
HCI_ACLDATA_PKT = 0x02
BTSNOOP_MONITOR = 2001
OP_ACL_RX = 5
EPOCH_DELTA_US = 0x00dcddb30f2f8000     # btsnoop: microseconds since year 0


def main(dev, out):
    s = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_RAW, socket.BTPROTO_HCI)
    s.setsockopt(SOL_HCI, HCI_FILTER, struct.pack('<IIIH2x', 1 << HCI_ACLDATA_PKT, 0, 0, 0))
    s.setsockopt(SOL_HCI, HCI_DATA_DIR, 1)
    s.setsockopt(SOL_HCI, HCI_TIME_STAMP, 1)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)          # SO_RCVBUFFORCE (root)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((dev,))
    records = []
    stop = []

    def on_signal(*_):
        stop.append(1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s.settimeout(0.2)
    print('capturing hci%d' % dev, flush=True)
    while not stop:
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4) + socket.CMSG_SPACE(TIMEVAL.size))
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        except OSError as e:        # the controller went away
            print('hci%d: %s' % (dev, e), flush=True)
            break
        incoming = any(level == SOL_HCI and kind == HCI_CMSG_DIR and payload[:1] != b'\0'
                       for level, kind, payload in anc)
        t = time.time()
        for level, kind, payload in anc:
            if level == SOL_HCI and kind == HCI_CMSG_TSTAMP and len(payload) >= TIMEVAL.size:
                sec, usec = TIMEVAL.unpack_from(payload)
                t = sec + usec / 1e6
        if data[:1] == bytes([HCI_ACLDATA_PKT]) and incoming:
            records.append((t, data[1:]))
    with open(out, 'wb') as f:
        f.write(b'btsnoop\0' + struct.pack('>II', 1, BTSNOOP_MONITOR))
        for t, pkt in records:
            f.write(struct.pack('>IIIIq', len(pkt), len(pkt), dev << 16 | OP_ACL_RX, 0,
                                int(t * 1e6) + EPOCH_DELTA_US) + pkt)
    print('hci%d: %d ACL packets received, written to %s' % (dev, len(records), out), flush=True)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(int(sys.argv[1].replace('hci', '')), sys.argv[2])
