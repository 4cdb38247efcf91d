#!/bin/bash
# aptX HD to PipeWire's A2DP sink: the sink offers aptX HD, aptX and SBC,
# a2dpsrcd prefers aptX HD. The AVDTP configuration and the media packets
# that crossed the link say it was aptX HD.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

stream_to_pw_speaker "sbc aptx aptx_hd"
observe_stream
pw pw-dump > "$R/pw-dump.json" 2>&1
ps -eLo pid,tid,comm,cls,rtprio,time,pcpu > "$R/ps.txt"
