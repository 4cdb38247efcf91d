#!/bin/bash
# Scenario 2: pairing and connecting through a2dpsrcd's own API from a
# shell: StartDiscovery, GetDevices, Pair and Connect, each a one-shot
# busctl call on org.a2dpsrc.Manager1 (the scan outlives the busctl that
# started it); a2dpsrcd's agent answers bluetoothd for the pairing, with
# hci0 Pairable only while it runs; then the stream is recorded on the far
# side.
# Nothing is paired beforehand. The speaker only remembers the board's
# endpoint (write_sink_endpoint_cache: the BlueZ 5.66 workaround).
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
MGR=(busctl --system --timeout=60 call org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1)

write_sink_endpoint_cache
start_stack
# the speaker in pairing mode: discoverable, and bondable (nothing else
# makes hci1 so: a2dpsrcd has no agent registered outside its own pairing)
busctl --system set-property org.bluez "$SINK_HCI" org.bluez.Adapter1 Discoverable b true || fail "hci1 not discoverable"
busctl --system set-property org.bluez "$SINK_HCI" org.bluez.Adapter1 Pairable b true || fail "hci1 not pairable"
start_sink
record rec_local 1 "$R/local.raw"
start_tone
write_state speaker-mode=true volume=127
start_a2dpsrcd
wait_until 10 "State idle" mgr_is State '"idle"' || fail "a2dpsrcd not idle but $(mgr State)"

speaker_listed() { "${MGR[@]}" GetDevices | grep -q "\"Address\" s \"$SINK_ADDR\""; }
event scan
mono; t0=$MONO_MS
"${MGR[@]}" StartDiscovery > "$R/scan.txt" 2>&1 || fail "StartDiscovery failed: $(cat "$R/scan.txt")"
wait_until 15 "the speaker in GetDevices" speaker_listed || fail "discovery did not find $SINK_ADDR"
measure found_ms "$WAITED_MS"
"${MGR[@]}" GetDevices > "$R/devices-found.txt" 2>&1
grep -q '"AudioSink" b true' "$R/devices-found.txt" || fail "GetDevices does not call the speaker an AudioSink: $(cat "$R/devices-found.txt")"
mgr Discovering > "$R/discovering.txt"

[[ $(bz "$SRC_HCI" org.bluez.Adapter1 Pairable) == "false" ]] || fail "hci0 pairable before Pair: $(bz "$SRC_HCI" org.bluez.Adapter1 Pairable)"
mono; t0=$MONO_MS
"${MGR[@]}" Pair s "$SINK_ADDR" > "$R/pair.txt" 2>&1 || fail "Pair failed: $(cat "$R/pair.txt")"
mono; measure pair_ms $((MONO_MS - t0))
event paired
"${MGR[@]}" GetDevices > "$R/devices-paired.txt" 2>&1
grep -q '"Paired" b true "Trusted" b true' "$R/devices-paired.txt" ||
    fail "after Pair the speaker is not paired and trusted: $(cat "$R/devices-paired.txt")"
# the speaker's side of the pairing: it trusts the board it paired with, as
# speakers do (the one bluetoothd would otherwise ask the default agent,
# a2dpsrcd's, which rightly refuses requests for hci1's devices)
wait_until 5 "the board known on hci1" bz_is "$BOARD" org.bluez.Device1 Paired true || fail "hci1 does not show the pairing"
busctl --system set-property org.bluez "$BOARD" org.bluez.Device1 Trusted b true || fail "cannot trust the board on hci1"

wait_until 5 "hci0 not pairable after Pair" bz_is "$SRC_HCI" org.bluez.Adapter1 Pairable false || fail "hci0 left pairable after Pair"
bz "$SPEAKER" org.bluez.Device1 Bonded > "$R/bonded.txt" 2>&1
mono; t0=$MONO_MS
"${MGR[@]}" Connect s "$SINK_ADDR" > "$R/connect.txt" 2>&1 || fail "Connect failed: $(cat "$R/connect.txt")"
mono; measure connect_ms $((MONO_MS - t0))
event connected
wait_until 10 "State streaming" mgr_is State '"streaming"' || fail "not streaming after Connect (State $(mgr State))"
event streaming
# streaming ended the scan
wait_until 5 "the scan ended" mgr_is Discovering false || fail "still discovering while streaming"
[[ $(mgr Output) == "\"$SINK_ADDR\"" ]] || fail "Output is $(mgr Output)"
mgr Codec > "$R/codec.txt"
sleep "${VM_STREAM_S:-8}"
event observe_end
save_statistics
