#!/bin/bash
# Scenario 4: bluetoothd restarted mid-session (as systemctl restart
# bluetooth does): a2dpsrcd must follow it off the bus, register its
# endpoint and agent with the new bluetoothd, and reconnect the speaker.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

# how many times bluetoothd's log FILE shows a2dpsrcd's endpoint registered
registrations() { grep -c "Endpoint registered: sender=.* path=/org/a2dpsrc/" "$R/$1.log"; }
registered_in() { [[ $(registrations "$1") -ge 1 ]]; }

stream_to_paired_speaker
sleep "${VM_BEFORE_S:-5}"

event bluetoothd_stop
stop bluetoothd TERM
event bluetoothd_gone
alive a2dpsrcd || fail "a2dpsrcd died with bluetoothd"
spawn bluetoothd2 /usr/libexec/bluetooth/bluetoothd -n
wait_until 10 "org.bluez back" has_name org.bluez || fail "bluetoothd did not come back"
event bluetoothd_up
mono; t0=$MONO_MS
wait_until 10 "a2dpsrcd's endpoint registered again" registered_in bluetoothd2 ||
    fail "a2dpsrcd did not register its endpoint with the new bluetoothd"
mono; measure reregistered_ms $((MONO_MS - t0))
wait_until 40 "State streaming again" mgr_is State '"streaming"' || fail "no reconnect (State $(mgr State))"
event streaming_again
sleep "${VM_AFTER_S:-6}"
event observe_end
alive a2dpsrcd || fail "a2dpsrcd is gone"
save_statistics
