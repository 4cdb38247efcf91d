#!/bin/bash
# Scenario 5: the speaker connects by itself (as speakers do when switched
# on): hci1's side opens A2DP to the board and configures the stream with
# its own choice (bluealsa's sink takes the highest bitpool our endpoint
# allows: 250). a2dpsrcd, idle with speaker mode on, must adopt it as the
# output, send with a bitpool a real link carries, and stream cleanly.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

write_bonding
# The speaker discovers the board's endpoints itself, as one does: the
# pre-written cache names the board's SBC endpoint SEID 1, which it was
# while a2dpsrcd registered SBC alone; SEIDs follow registration order
# (LDAC, aptX HD, aptX, AAC, SBC-XQ, SBC since every codec is in the
# table), so the speaker configured SEID 1, now LDAC, with SBC, the
# board's bluetoothd rejected it (Configuration not supported) and this
# failed every time. No crossed discovery: the board, the acceptor here,
# has its cache of the speaker's endpoints.
rm -f "/var/lib/bluetooth/$SINK_ADDR/cache/$SRC_ADDR"
start_stack
start_sink
record rec_local 1 "$R/local.raw"
start_tone
write_state speaker-mode=true volume=127
start_a2dpsrcd
wait_until 10 "State idle" mgr_is State '"idle"' || fail "a2dpsrcd not idle but $(mgr State)"

event connect
mono; t0=$MONO_MS
busctl --system --timeout=40 call org.bluez "$BOARD" org.bluez.Device1 ConnectProfile s "$A2DP_SOURCE_UUID" \
    > "$R/connect.txt" 2>&1 || fail "the speaker could not connect: $(cat "$R/connect.txt")"
mono; measure speaker_connect_ms $((MONO_MS - t0))
event connected
wait_until 10 "State streaming" mgr_is State '"streaming"' || fail "not streaming after the speaker connected (State $(mgr State))"
event streaming
[[ $(mgr Output) == "\"$SINK_ADDR\"" ]] || fail "Output is $(mgr Output)"
mgr Codec > "$R/codec.txt"
sleep "${VM_STREAM_S:-10}"
event observe_end
mgr Codec >> "$R/codec.txt"
save_statistics
