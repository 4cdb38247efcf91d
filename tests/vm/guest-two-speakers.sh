#!/bin/bash
# Scenario: two speakers at once (MultiOutput, issue #13) on the real stack.
# A third controller, hci2, is a second speaker: bluealsa's A2DP sink on
# hci1 (A) and another bluealsa on hci2 (B), both paired beforehand. The
# board plays bursts of the tone after silence; a2dpsrcd streams to A (its
# last output), then Connect(B) adds B. Both links are captured with the
# kernel's receive times; the judge (two_speakers.py) decodes what each
# speaker received and compares when each presents the same onset: arrival
# + its place in the packet + the Delay a2dpsrcd aligned on (GetOutputs:
# A's assumed 125 ms, B's set 190 ms).
# What it proves beyond the double: bluetoothd 5.66 gives B's stream the
# spare endpoint, two real L2CAP links carry both, and the alignment holds
# on real sockets.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
RADIOS=4                            # hci3: see hold_link.py
SINK2_ADDR=00:AA:01:02:00:02        # hci2: speaker B (btvirt's third)
HOLDER_ADDR=00:AA:01:03:00:03       # hci3
SINK2_HCI=/org/bluez/hci2
SPEAKER2=$SRC_HCI/dev_${SINK2_ADDR//:/_}

# 1.5 s of silence, 0.5 s of the tone, 40 times: an onset every 2 s
# (run-vm.sh writes it beside the tone)
ONSETS=${TONE%/*}/onsets.raw

outputs() {
    busctl --system call org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 GetOutputs 2>/dev/null
}
both_streaming() { [[ $(outputs | grep -o '"State" s "streaming"' | wc -l) == 2 ]]; }

write_bonding
write_bond "$SRC_ADDR" "$SINK2_ADDR" "$A2DP_SINK_UUID;0000110c-0000-1000-8000-00805f9b34fb;0000110e-0000-1000-8000-00805f9b34fb;"
write_bond "$SINK2_ADDR" "$SRC_ADDR" "$A2DP_SOURCE_UUID;0000110c-0000-1000-8000-00805f9b34fb;0000110e-0000-1000-8000-00805f9b34fb;"
write_endpoint_cache "$SINK2_ADDR" "$SRC_ADDR" 01=00:00:01:ffff02fa LastUsed=01:01
write_endpoint_cache "$SRC_ADDR" "$SINK2_ADDR" 01=01:00:01:ffff02fa 02=01:00:01:ffff02fa
start_stack
a=$(bz "$SINK2_HCI" org.bluez.Adapter1 Address) || env_fail "hci2 has no Address"
[[ $a == "\"$SINK2_ADDR\"" ]] || env_fail "hci2 is $a, expected $SINK2_ADDR"
spawn link_capture2 /usr/bin/python3 "$REPO/tests/vm/link_capture.py" hci2 "$R/hci2.btsnoop"
wait_until 10 "link_capture.py on hci2" grep -q capturing "$R/link_capture2.log" || env_fail "link_capture.py did not start on hci2"
start_sink
spawn bluealsa2 bluealsa -B b -i hci2 -p a2dp-sink
wait_until 10 "org.bluealsa.b" has_name org.bluealsa.b || env_fail "the second bluealsa did not come on the bus"
record rec_bt2 3 "$R/bt2.raw"
spawn aplay2 bluealsa-aplay -B b -v -D hw:Loopback,0,3 --pcm-buffer-time=200000 --pcm-period-time=20000 "$SRC_ADDR"

status=/proc/asound/Loopback/pcm0p/sub0/status
spawn tone aplay -D hw:Loopback,0,0 -f S16_LE -r $RATE -c 2 -t raw -B 500000 -F 20000 "$ONSETS"
wait_until 10 "the onsets playing" grep -q "state: RUNNING" "$status" || env_fail "aplay of the onsets did not start"
awk '/^trigger_time:/ { print $2 }' "$status" > "$R/tone.start"

# XQ stays off for both (see write_state): the judge decodes plain SBC.
# bluealsa reports no delay: A is assumed at 125 ms, and B is set at 190 ms,
# so that A must be held back 65 ms to be heard with B (not aligned, the
# same onset would be 65 ms apart)
write_state speaker-mode=true multi-output=true volume=127 "last-output=$SINK_ADDR" "no-xq=$SINK2_ADDR" \
    "speaker-delay=$SINK2_ADDR 190000"
start_a2dpsrcd
wait_until 30 "State streaming" mgr_is State '"streaming"' || fail "a2dpsrcd never streamed to A (State $(mgr State))"
event streaming
# btvirt's connection handles: a link from hci3 to B first (hold_link.py).
# B takes links from its bonded board only (bluetoothd's accept list) unless
# it is connectable: discoverable, as a speaker in pairing mode is
busctl --system set-property org.bluez "$SINK2_HCI" org.bluez.Adapter1 Discoverable b true ||
    env_fail "hci2 not discoverable"
spawn hold_link /usr/bin/python3 "$REPO/tests/vm/hold_link.py" "$HOLDER_ADDR" "$SINK2_ADDR"
wait_until 20 "hci3's link to B" grep -q holding "$R/hold_link.log" || env_fail "hci3 could not link to B: $(cat "$R/hold_link.log")"
mono; t0=$MONO_MS
busctl --system --timeout=40 call org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 Connect s "$SINK2_ADDR" \
    > "$R/connect-b.txt" 2>&1 || fail "Connect(B) failed: $(cat "$R/connect-b.txt")"
wait_until 20 "both speakers streaming" both_streaming || fail "B did not join A: $(outputs)"
mono; measure second_speaker_ms $((MONO_MS - t0))
event both_streaming
outputs > "$R/outputs-start.txt"
cpu_sample start
sleep "${VM_STREAM_S:-16}"
cpu_sample end
event observe_end
busctl --system --json=short call org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 GetOutputs > "$R/outputs.json" ||
    fail "cannot read GetOutputs"
save_statistics
