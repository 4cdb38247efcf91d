#!/bin/bash
# SBC-XQ to bluealsa's A2DP sink: bluez-alsa 4.0's SBC sink offers every
# channel mode, dual channel among them, with bitpools up to 250, so no
# option of its own is needed (its --sbc-quality=xq is for its encoder, as
# a source). a2dpsrcd prefers SBC-XQ over SBC; the SBC frames that crossed
# the link must be dual channel at XQ's bitpool.
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT
VM_XQ=1

stream_to_paired_speaker
observe_stream
