#!/bin/bash
# Scenario: a stranger tries to bond with the board while a2dpsrcd streams.
# Another program has made the board discoverable (a phone-pairing mode);
# a third controller, hci2 (a stranger's laptop), finds it and calls Pair
# with no agent of its own: Just Works. bluetoothd 5.66 keeps an adapter
# bondable while a default agent is registered (AlwaysPairable is off; the
# first agent registered becomes the default), and the kernel then accepts
# such a pairing without asking any agent. a2dpsrcd registers its agent only
# while it pairs, so the board's kernel must refuse the bonding
# (Pairing Not Allowed): no link key stored, the stranger not Paired on
# hci0, and the stream goes on undisturbed.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
RADIOS=3
STRANGER_HCI=hci2

stream_to_paired_speaker
sleep 4     # clean streaming before anything happens
busctl --system set-property org.bluez "$SRC_HCI" org.bluez.Adapter1 Discoverable b true || fail "hci0 not discoverable"
# the stranger's laptop is bondable (its desktop has an agent): it asks for
# bonding, not for a throwaway pairing
busctl --system set-property org.bluez /org/bluez/$STRANGER_HCI org.bluez.Adapter1 Pairable b true || fail "hci2 not pairable"
bz "$SRC_HCI" org.bluez.Adapter1 Pairable > "$R/pairable.txt"
stranger=$(bz /org/bluez/$STRANGER_HCI org.bluez.Adapter1 Address | tr -d '"')
[[ -n $stranger ]] || fail "hci2 has no address"
echo "$stranger" > "$R/stranger-address.txt"
event stranger_start
/usr/bin/python3 "$REPO/tests/vm/stranger_pair.py" "$STRANGER_HCI" "$SRC_ADDR" > "$R/stranger.txt" 2>&1
rc=$?
event stranger_end
log "stranger: $(tail -n 1 "$R/stranger.txt") (rc $rc)"
echo "$rc" > "$R/stranger.rc"
# what the board's bluetoothd made of it
seen=$SRC_HCI/dev_${stranger//:/_}
bz "$seen" org.bluez.Device1 Paired > "$R/stranger-paired-on-board.txt" 2>&1
ls "/var/lib/bluetooth/$SRC_ADDR/" > "$R/board-bonds.txt" 2>&1
sleep "${VM_STREAM_S:-5}"
event observe_end
mgr State > "$R/state.txt"
save_statistics
