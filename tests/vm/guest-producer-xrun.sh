#!/bin/bash
# Scenario: the board's producer underruns once mid-stream (it is held
# back for 0.8 s, longer than its 0.5 s buffer, as a busy board's audio
# engine can be) and recovers by itself, as aplay and every ALSA client do.
# snd-aloop stops the playback substream on the xrun, so the cable's
# "PCM Slave Active" goes off and on again within a few hundred ms. That
# is not a producer going away: a2dpsrcd must keep its capture, engine
# and stream (the same RTP stream, no transport released), and the speaker
# must hear the tone again as soon as the producer plays.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

stream_to_paired_speaker
sleep 4
event xrun
kill -STOP "${PIDS[tone]}"
sleep 0.8
kill -CONT "${PIDS[tone]}"
event xrun_end
sleep "${VM_STREAM_S:-6}"
event observe_end
mgr State > "$R/state.txt"
save_statistics
