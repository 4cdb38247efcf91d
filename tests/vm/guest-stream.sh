#!/bin/bash
# Scenario 1: the board's audio, captured by a2dpsrcd from the loopback,
# streamed in speaker mode over the real kernel stack to bluealsa's sink on
# hci1, and recorded on the far side. The speaker is paired beforehand;
# a2dpsrcd connects it by itself at start-up (last-output).
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
STREAM_S=${VM_STREAM_S:-15}

write_bonding
start_stack
start_sink
record rec_local 1 "$R/local.raw"
start_tone
write_state speaker-mode=true volume=127 "last-output=$SINK_ADDR"
hciconfig -a hci0 > "$R/hciconfig.txt" 2>&1
start_a2dpsrcd
wait_until 30 "State streaming" mgr_is State '"streaming"' || fail "a2dpsrcd never streamed (State $(mgr State))"
event streaming
mgr Codec > "$R/codec.txt"
cpu_sample start
sleep "$STREAM_S"
cpu_sample end
event observe_end
busctl --system get-property org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 Statistics > "$R/statistics.txt"
ps -eo pid,comm,time,pcpu > "$R/ps.txt"
