#!/bin/bash
# Scenario 3: link loss and return. While a2dpsrcd streams to the paired
# speaker, the speaker's controller (hci1) drops the link as a controller
# being switched off does (HCI Disconnect, reason 0x15 "power off"):
# a2dpsrcd must play locally (another loopback substream, recorded) within
# 200 ms, reconnect by itself, and move the audio back to Bluetooth.
#
# Why not power hci1 off through bluetoothd: btvirt 5.66 answers a page to
# a controller that is off (or not page-scanning) with an immediate Page
# Timeout, and BlueZ 5.66's bluetoothd then crashes on the failed A2DP
# reconnect (SIGSEGV; reproduced with bluealsa as the source too, without
# a2dpsrcd). VM_LINKLOSS=power runs that variant anyway (hci1 powered off
# for VM_AWAY_S seconds), to see whether a newer BlueZ still does it.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
MODE=${VM_LINKLOSS:-drop}

write_bonding
start_stack
start_sink
record rec_local 1 "$R/local.raw"
start_tone
write_state speaker-mode=true volume=127 "last-output=$SINK_ADDR"
start_a2dpsrcd
wait_until 30 "State streaming" mgr_is State '"streaming"' || fail "a2dpsrcd never streamed (State $(mgr State))"
event streaming
sleep "${VM_BEFORE_S:-5}"

not_streaming() { ! mgr_is State '"streaming"'; }
if [[ $MODE == power ]]; then
    event link_loss
    power hci1 false || fail "cannot power hci1 off"
    wait_until 10 "a2dpsrcd to notice" not_streaming || fail "still streaming after the link loss"
    event noticed "$(mgr State)"
    sleep "${VM_AWAY_S:-4}"
    event speaker_back
    power hci1 true || fail "cannot power hci1 on (bluetoothd $(alive bluetoothd && echo alive || echo dead))"
else
    event link_loss
    hcitool -i hci1 dc "$SRC_ADDR" 21 || fail "hcitool dc failed"    # 21 = 0x15, power off
    event link_dropped
    wait_until 10 "a2dpsrcd to notice" not_streaming || fail "still streaming after the link loss"
    event noticed "$(mgr State)"
    event speaker_back
fi
wait_until 40 "State streaming again" mgr_is State '"streaming"' ||
    fail "no reconnect (State $(mgr State), bluetoothd $(alive bluetoothd && echo alive || echo dead))"
event streaming_again
sleep "${VM_AFTER_S:-6}"
event observe_end
busctl --system get-property org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 Statistics > "$R/statistics.txt"
