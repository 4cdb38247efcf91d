#!/bin/bash
# Scenario 1: the board's audio, captured by a2dpsrcd from the loopback,
# streamed in speaker mode over the real kernel stack to bluealsa's sink on
# hci1, and recorded on the far side. The speaker is paired beforehand;
# a2dpsrcd connects it by itself at start-up (last-output).
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
STREAM_S=${VM_STREAM_S:-15}

stream_to_paired_speaker
hciconfig -a hci0 > "$R/hciconfig.txt" 2>&1
mgr Codec > "$R/codec.txt"
cpu_sample start
sleep "$STREAM_S"
cpu_sample end
event observe_end
save_statistics
# the doctor while streaming: its radio finding reads RSSI and link quality
# from hci0's controller (btvirt's here), which the double cannot give
"$BUILD/a2dpsrcctl" --json doctor "$SINK_ADDR" > "$R/doctor.json" 2> "$R/doctor.err"
echo $? > "$R/doctor.rc"
ps -eo pid,comm,time,pcpu > "$R/ps.txt"
