#!/bin/bash
# Peer interop: a2dpsrcd streams to PipeWire's A2DP sink (PipeWire 0.3.65 +
# WirePlumber on hci1, offering SBC only) over the real stack; what
# PipeWire plays is recorded. The speaker is opted out of SBC-XQ
# (no-xq), so this stays plain SBC once a2dpsrcd has SBC-XQ; the SBC frames
# that crossed the link say which it was.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

stream_to_pw_speaker "sbc" "no-xq=$SINK_ADDR"
observe_stream
pw pw-dump > "$R/pw-dump.json" 2>&1
ps -eLo pid,tid,comm,cls,rtprio,time,pcpu > "$R/ps.txt"
