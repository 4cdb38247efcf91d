#!/usr/bin/python3
"""Marks on the guest's timeline when a link really went down (stdlib only).

  hci_watch.py DEV EVENTS

Listens on a raw HCI socket of hciDEV (passive: it sends nothing, and
bluetoothd's management socket is not disturbed) and, for every HCI
Disconnection Complete event on it, appends "link_down NS 0xREASON" to the
EVENTS file, NS being the kernel's receive time of the event converted to
CLOCK_MONOTONIC (the clock of the guest's events and of ALSA's trigger
times). For check-vm's linkloss scenario on hci0 (the board): the moment
the board's controller reports the link gone, whatever took the speaker's
side down (a power-off through bluetoothd, an HCI Disconnect) and however
long that took.
"""

import socket
import struct
import sys
import time

SOL_HCI = 0
HCI_FILTER = 2
HCI_TIME_STAMP = 3
HCI_CMSG_TSTAMP = 0x0002
HCI_EVENT_PKT = 0x04
EVT_DISCONN_COMPLETE = 0x05


def main(dev, events_path):
    s = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_RAW, socket.BTPROTO_HCI)
    # every event: type mask bit 4 (event packets), all event bits, any opcode
    s.setsockopt(SOL_HCI, HCI_FILTER, struct.pack('<IIIH2x', 1 << HCI_EVENT_PKT,
                                                  0xffffffff, 0xffffffff, 0))
    s.setsockopt(SOL_HCI, HCI_TIME_STAMP, 1)
    s.bind((dev,))
    print('watching hci%d' % dev, flush=True)
    while True:
        try:
            data, anc, _, _ = s.recvmsg(1024, socket.CMSG_SPACE(16))
        except OSError as e:    # EPIPE: the controller went away
            print('hci%d: %s' % (dev, e), flush=True)
            return
        if len(data) < 7 or data[0] != HCI_EVENT_PKT or data[1] != EVT_DISCONN_COMPLETE:
            continue
        status, handle, reason = data[3], struct.unpack_from('<H', data, 4)[0], data[6]
        # the receive time (CLOCK_REALTIME) moved onto CLOCK_MONOTONIC
        mono_ns = time.monotonic_ns()
        offset = time.time_ns() - mono_ns
        t = mono_ns
        for level, kind, payload in anc:
            if level == SOL_HCI and kind == HCI_CMSG_TSTAMP and len(payload) >= 16:
                sec, usec = struct.unpack_from('<qq', payload)
                t = min(mono_ns, sec * 1000000000 + usec * 1000 - offset)
        with open(events_path, 'a') as f:
            f.write('link_down %d 0x%02x\n' % (t, reason))
        print('link_down handle %d status 0x%02x reason 0x%02x %.3f ms before we read it'
              % (handle, status, reason, (mono_ns - t) / 1e6), flush=True)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(int(sys.argv[1].replace('hci', '')), sys.argv[2])
