#!/bin/bash
# Diagnostic (not in the default list): a failed page on btvirt, no
# bluetoothd, no a2dpsrcd. hci0 is brought up with hciconfig, hci1 stays
# down (not page-scanning), and a plain L2CAP socket on hci0 connects to
# hci1's address: btvirt answers the page with an immediate Page Timeout,
# connect() fails with EHOSTDOWN, and the socket is closed. dmesg.txt
# shows whether the guest kernel survives that close(): Debian 12's
# 6.1.0-56 does not ("list_del corruption" in hci_chan_del, from
# l2cap_sock_release; run with VM_KERNEL_ROOT=/), 6.12 does.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
load_modules
start_radio
hciconfig hci0 up || env_fail "hciconfig hci0 up"
hciconfig hci0 noscan
event page
/usr/bin/python3 - "$SRC_ADDR" "$SINK_ADDR" > "$R/l2cap.log" 2>&1 <<'PY'
import socket, sys, time
for psm in (25, 25):
    s = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET, socket.BTPROTO_L2CAP)
    s.bind((sys.argv[1], 0))
    t = time.monotonic()
    try:
        s.connect((sys.argv[2], psm))
        print("connected?!", flush=True)
    except OSError as e:
        print(f"connect: {e} after {time.monotonic() - t:.3f} s", flush=True)
    print("closing", flush=True)
    s.close()
    print("closed", flush=True)
    time.sleep(1)
PY
rc=$?
echo "python exit $rc" >> "$R/l2cap.log"
oops=$(dmesg | grep -m1 -E 'list_del corruption|kernel BUG|BUG:|Oops')
[[ -z $oops ]] || fail "the kernel oopsed on close(): $oops (python exit $rc)"
[[ $rc == 0 ]] || fail "python exit $rc"
event closed
