#!/bin/bash
# Scenario: the board's producer already plays at 44.1 kHz into
# hw:Loopback,0,0 when a2dpsrcd starts. snd-aloop lets the side that opened
# first fix the rate: a2dpsrcd must capture at 44.1 kHz, negotiate 44.1 kHz
# with the speaker (which takes both) and stream the tone. The 48 kHz tone
# file played at 44.1 kHz is a 916.02 Hz tone; the far side plays through
# plughw into the 48 kHz recording.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

write_bonding
start_stack
start_sink plughw:Loopback,0,2
record rec_local 1 "$R/local.raw"
start_tone 44100
write_state speaker-mode=true volume=127 "last-output=$SINK_ADDR"
start_a2dpsrcd
wait_until 30 "State streaming" mgr_is State '"streaming"' ||
    fail "a2dpsrcd never streamed (State $(mgr State), StreamBlocked $(mgr StreamBlocked))"
event streaming
mgr Codec > "$R/codec.txt"
grep -q '44100 Hz' "$R/codec.txt" || fail "not streaming at the capture's 44.1 kHz: $(cat "$R/codec.txt")"
sleep "${VM_STREAM_S:-10}"
event observe_end
mgr StreamBlocked >> "$R/codec.txt"
save_statistics
