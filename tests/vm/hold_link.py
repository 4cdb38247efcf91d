#!/usr/bin/python3
"""Holds an L2CAP channel (SDP's PSM) from one controller to another, to
keep their ACL link up until killed (stdlib only).

  hold_link.py FROM-ADDRESS TO-ADDRESS

Why (two-speakers): btvirt (BlueZ 5.66's emulator, unchanged since) gives
each side of a new link the lowest connection handle free on that side,
from 42 on, and forwards ACL data with the sender's handle. The board
(hci0), linked to A already (42 on both sides), gets 43 for a link to B,
while B's controller, with no link yet, gets 42: every ACL packet from the
board to B then carries a handle B does not know ("ACL packet for unknown
connection handle 43"), and the board's AVDTP connection to B is reset.
Real controllers each have their own handles for the same link; the air
carries none. A link from a fourth controller to B, made first and held
while the board connects, takes handle 42 on B's side, so that the
board's link to B is 43 on both sides.
"""

import socket
import sys
import time

SDP_PSM = 1


def main(local, remote):
    s = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET, socket.BTPROTO_L2CAP)
    s.bind((local, 0))
    s.settimeout(20)
    s.connect((remote, SDP_PSM))
    print('holding the link %s -> %s' % (local, remote), flush=True)
    while True:
        time.sleep(60)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
