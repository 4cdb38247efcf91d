#!/bin/bash
# aptX to PipeWire's A2DP sink (its aptX decoder is libfreeaptx's, in
# libspa-0.2-bluetooth): the sink offers aptX and SBC, a2dpsrcd prefers
# aptX. The AVDTP configuration and the media packets that crossed the
# link say it was aptX.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

stream_to_pw_speaker "sbc aptx"
observe_stream
pw pw-dump > "$R/pw-dump.json" 2>&1
ps -eLo pid,tid,comm,cls,rtprio,time,pcpu > "$R/ps.txt"
