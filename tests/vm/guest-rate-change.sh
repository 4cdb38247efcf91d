#!/bin/bash
# Scenario: the board's producer goes from 48 to 44.1 kHz mid-stream. The
# cable's "PCM Notify" is on, as on a board whose producer changes rate
# (snd-aloop pcm_notify=1): the producer then chooses its rate, and
# snd-aloop stops the running capture when it differs. a2dpsrcd must follow
# within about a second (converted meanwhile) and have the speaker
# reconfigured at 44.1 kHz through its remote endpoint (sepN).
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

codec_has() { [[ $(mgr Codec) == *"$1"* ]]; }

write_bonding
start_stack
start_sink plughw:Loopback,0,2
record rec_local 1 "$R/local.raw"
amixer -c Loopback cset iface=PCM,name='PCM Notify',device=1,subdevice=0 on > "$R/amixer.txt" 2>&1 ||
    env_fail "cannot turn snd-aloop's PCM Notify on: $(cat "$R/amixer.txt")"
start_tone 48000
write_state speaker-mode=true volume=127 "last-output=$SINK_ADDR"
start_a2dpsrcd
wait_until 30 "State streaming" mgr_is State '"streaming"' || fail "a2dpsrcd never streamed (State $(mgr State))"
event streaming
codec_has '48000 Hz' || fail "the first stream is not at 48 kHz: $(mgr Codec)"
sleep 5
event rate_change
stop tone
start_tone 44100
mono; t0=$MONO_MS
wait_until 15 "streaming at 44.1 kHz" codec_has '44100 Hz' ||
    fail "not reconfigured at 44.1 kHz (Codec $(mgr Codec), State $(mgr State))"
wait_until 10 "State streaming" mgr_is State '"streaming"' || fail "not streaming after the change (State $(mgr State))"
mono; measure follow_ms $((MONO_MS - t0))
event streaming_44k
mgr Codec > "$R/codec.txt"
sleep "${VM_STREAM_S:-8}"
event observe_end
save_statistics
