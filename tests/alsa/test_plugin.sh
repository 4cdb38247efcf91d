#!/bin/bash
# Tests of the a2dpsrc test capture plugin (tests/alsa/pcm_a2dpsrc_test.c):
# bit-exact signal through arecord, pacing, file source, fault injection,
# xrun recovery, start_file bookkeeping, valgrind.
#
# Needs, under $BUILD/tests (BUILD defaults to ./build):
#   libasound_module_pcm_a2dpsrc_test.so  pcm-client
# and arecord (alsa-utils).  Ends with "N passed, N failed".
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PLUGIN=$BUILD/tests/libasound_module_pcm_a2dpsrc_test.so
CLIENT=$BUILD/tests/pcm-client
PY=${PYTHON:-/usr/bin/python3}
CHECK="$PY $ROOT/tests/alsa/check_capture.py"

for f in "$PLUGIN" "$CLIENT"; do
	if [ ! -e "$f" ]; then
		echo "missing $f (make $f)" >&2
		exit 2
	fi
done
command -v arecord >/dev/null || { echo "arecord not found" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }
# run NAME CMD...: passes when CMD exits 0; shows its output otherwise
run() {
	local name=$1
	shift
	if "$@" >"$TMP/out" 2>&1; then
		ok "$name"
	else
		ko "$name"
		sed 's/^/     /' "$TMP/out"
	fi
}
now() { date +%s.%N; }
# elapsed START: seconds since START
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# within X LO HI
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

export ALSA_CONFIG_PATH=$TMP/asound.conf
cat >"$ALSA_CONFIG_PATH" <<EOF
</usr/share/alsa/alsa.conf>
pcm_type.a2dpsrc_test { lib "$PLUGIN" }
pcm.tone { type a2dpsrc_test source "sine" frequency 1000 amplitude 0.5 paced true start_file "$TMP/starts" }
pcm.fast { type a2dpsrc_test frequency 1000 amplitude 0.5 paced false }
pcm.twotone { type a2dpsrc_test frequency 997 channel_offset_hz 3 amplitude 0.9 start_file "$TMP/starts" }
pcm.short { type a2dpsrc_test frequency 440 amplitude 0.25 duration 0.25 paced false }
pcm.rawfile { type a2dpsrc_test source "file" file "$TMP/in.raw" paced false }
pcm.xrun { type a2dpsrc_test frequency 1000 amplitude 0.5 xrun_at_ms 300 start_file "$TMP/starts" }
pcm.stall { type a2dpsrc_test frequency 1000 amplitude 0.5 xrun_at_ms 300 stall_ms 200 start_file "$TMP/starts" }
pcm.every { type a2dpsrc_test frequency 1000 amplitude 0.5 xrun_every_ms 300 start_file "$TMP/starts" }
pcm.fastx { type a2dpsrc_test frequency 1000 amplitude 0.5 paced false xrun_at_ms 300 xrun_every_ms 250 stall_ms 100 start_file "$TMP/starts" }
pcm.badkey { type a2dpsrc_test frequency 1000 nonsense 1 }
pcm.fixed44 { type a2dpsrc_test frequency 1000 amplitude 0.5 rate 44100 paced false }
pcm.conv44 { type plug slave.pcm "fixed44" }
pcm.mono1 { type a2dpsrc_test frequency 1000 amplitude 0.5 channels 1 paced false }
pcm.producer { type a2dpsrc_test frequency 1000 amplitude 0.5 rate_file "$TMP/producer" }
EOF

# -- arecord: paced real time, bit-exact ------------------------------------
rm -f "$TMP/starts"
t0=$(now)
arecord -q -D tone -f S16_LE -c 2 -r 48000 -d 1 "$TMP/tone.wav" 2>"$TMP/err"
t=$(elapsed "$t0")
run "arecord 48k stereo 1 s: 1 kHz sine bit-exact" \
	$CHECK "$TMP/tone.wav" --channels 2 --rate 48000 --freq 1000 --amp 0.5 --frames 48000
if within "$t" 0.95 1.6; then ok "paced capture takes real time ($t s)"; else ko "paced capture took $t s"; fi
if [ "$(wc -l <"$TMP/starts")" = 1 ] && [ "$(cut -d' ' -f2,3 "$TMP/starts")" = "48000 0" ]; then
	ok "start_file: one line, rate 48000, nothing discarded"
else
	ko "start_file content: $(cat "$TMP/starts")"
fi

# -- unpaced: as fast as the reader ------------------------------------------
t0=$(now)
arecord -q -D fast -f S16_LE -c 2 -r 48000 -d 1 "$TMP/fast.wav" 2>"$TMP/err"
t=$(elapsed "$t0")
run "unpaced capture bit-exact" \
	$CHECK "$TMP/fast.wav" --channels 2 --rate 48000 --freq 1000 --amp 0.5 --frames 48000
if within "$t" 0 0.2; then ok "unpaced 1 s capture in $t s (< 0.2)"; else ko "unpaced capture took $t s"; fi

# -- other rates, mono, duration, channel offset ------------------------------
arecord -q -D fast -f S16_LE -c 1 -r 44100 -d 1 "$TMP/mono.wav" 2>"$TMP/err"
run "44.1 kHz mono bit-exact" $CHECK "$TMP/mono.wav" --channels 1 --rate 44100 --frames 44100
arecord -q -D fast -f S16_LE -c 2 -r 8000 -d 1 "$TMP/8k.wav" 2>"$TMP/err"
run "8 kHz stereo bit-exact" $CHECK "$TMP/8k.wav" --channels 2 --rate 8000 --frames 8000
arecord -q -D fast -f S16_LE -c 2 -r 96000 -d 1 "$TMP/96k.wav" 2>"$TMP/err"
run "96 kHz stereo bit-exact" $CHECK "$TMP/96k.wav" --channels 2 --rate 96000 --frames 96000
arecord -q -D short -f S16_LE -c 2 -r 48000 -d 1 "$TMP/short.wav" 2>"$TMP/err"
run "duration 0.25 s then silence" \
	$CHECK "$TMP/short.wav" --channels 2 --rate 48000 --freq 440 --amp 0.25 --duration 0.25
rm -f "$TMP/starts"
run "channel_offset_hz: right channel 3 Hz higher (paced, poll)" \
	"$CLIENT" -D twotone --nonblock --freq 997 --offset 3 --amp 0.9 --seconds 0.5 \
	--start-file "$TMP/starts" --expect-xruns 0
rm -f "$TMP/starts"
if arecord -q -D tone -f S16_LE -c 2 -r 48000 -d 1 -F 1000 "$TMP/x.wav" >/dev/null 2>&1 &&
   arecord -q -D tone -f S16_LE -c 2 -r 48000 -d 1 --period-size=4000 --buffer-size=12000 "$TMP/y.wav" >/dev/null 2>&1; then
	ok "arecord with other period sizes"
else
	ko "arecord with other period sizes"
fi
if arecord -q -D tone -f S16_LE -c 3 -r 48000 -d 1 "$TMP/z.wav" >/dev/null 2>&1 ||
   arecord -q -D tone -f U8 -c 2 -r 48000 -d 1 "$TMP/z.wav" >/dev/null 2>&1 ||
   arecord -q -D badkey -f S16_LE -c 2 -r 48000 -d 1 "$TMP/z.wav" >/dev/null 2>&1; then
	ko "unsupported channels/format/config key accepted"
else
	ok "unsupported channels, format and config keys refused"
fi

# -- file source: exactly the file, then silence --------------------------------
$PY -c '
import random, struct, sys
r = random.Random(3)
open(sys.argv[1], "wb").write(struct.pack("<24000h", *[r.randrange(-32768, 32768) for _ in range(24000)]))
' "$TMP/in.raw"
arecord -q -D rawfile -t raw -f S16_LE -c 2 -r 48000 -d 1 "$TMP/file.raw" 2>"$TMP/err"
run "file source returns the file exactly, then silence" \
	$CHECK "$TMP/file.raw" --channels 2 --rate 48000 --file "$TMP/in.raw" --frames 48000

# -- non-blocking poll client: pacing, avail, delay --------------------------------
rm -f "$TMP/starts"
run "poll/non-blocking: avail follows the clock, no busy loop, bit-exact" \
	"$CLIENT" -D tone --nonblock --start-file "$TMP/starts" --expect-xruns 0 \
	--min-wall 0.95 --max-wall 1.6
rm -f "$TMP/starts"
run "poll/non-blocking with snd_pcm_start, odd sizes at 22.05 kHz" \
	"$CLIENT" -D tone --nonblock --explicit-start --rate 22050 --period 1000 \
	--buffer 3000 --start-file "$TMP/starts" --expect-xruns 0

rm -f "$TMP/starts"
run "snd_pcm_forward (as a2dpsrc skips a backlog): position and audio stay right (poll)" \
	"$CLIENT" -D tone --nonblock --start-file "$TMP/starts" --expect-xruns 0 \
	--forward-at 300
rm -f "$TMP/starts"
run "snd_pcm_forward, blocking, then an injected xrun" \
	"$CLIENT" -D xrun --start-file "$TMP/starts" --expect-xruns 1 --forward-at 150
run "snd_pcm_forward, unpaced" \
	"$CLIENT" -D fast --unpaced --expect-xruns 0 --forward-at 300

# -- xruns ------------------------------------------------------------------------
# Counting injected xruns: a 200 ms buffer, so that the client descheduled
# for more than the default 40 ms on a busy machine (47 ms seen in CI) is
# not a second, real overrun; the overrun tests below keep the small one.
XBUF="--buffer 9600"
rm -f "$TMP/starts"
run "injected xrun: one -EPIPE, snd_pcm_recover continues (poll)" \
	"$CLIENT" -D xrun --nonblock $XBUF --start-file "$TMP/starts" --expect-xruns 1
rm -f "$TMP/starts"
run "injected xrun: one -EPIPE, snd_pcm_recover continues (blocking)" \
	"$CLIENT" -D xrun $XBUF --start-file "$TMP/starts" --expect-xruns 1
rm -f "$TMP/starts"
run "stall: readi blocks for the stall, then -EPIPE" \
	"$CLIENT" -D stall $XBUF --start-file "$TMP/starts" --expect-xruns 1 --min-block 150
disc=$(awk 'NR == 2 { print $3 }' "$TMP/starts")
if [ -n "$disc" ] && [ "$disc" -ge 9600 ]; then
	ok "stall: >= 200 ms of audio discarded ($disc frames)"
else
	ko "stall: discarded '$disc' frames"
fi
rm -f "$TMP/starts"
run "xrun_every_ms: three xruns in one second" \
	"$CLIENT" -D every --nonblock $XBUF --start-file "$TMP/starts" --expect-xruns 3
rm -f "$TMP/starts"
run "unpaced injections: xruns at signal positions, stalls skip audio" \
	"$CLIENT" -D fastx --unpaced --start-file "$TMP/starts" --expect-xruns 5 --max-wall 0.2
rm -f "$TMP/starts"
run "overrun: a reader that sleeps past the buffer gets -EPIPE, audio is lost" \
	"$CLIENT" -D tone --start-file "$TMP/starts" --expect-xruns 1 \
	--sleep-at 200 --sleep 300
disc=$(awk 'NR == 2 { print $3 }' "$TMP/starts")
if [ -n "$disc" ] && [ "$disc" -ge 9600 ]; then
	ok "overrun: lost audio counted ($disc frames)"
else
	ko "overrun: discarded '$disc' frames"
fi
rm -f "$TMP/starts"
run "drop, pause, prepare: signal follows the clock across the restart" \
	"$CLIENT" -D tone --nonblock --start-file "$TMP/starts" --expect-xruns 0 \
	--drop-at 300 --pause 200

# -- a device fixed at one rate; a producer's rate (snd-aloop) ----------------
if "$CLIENT" -D fixed44 --rate 48000 --unpaced --seconds 0.1 >/dev/null 2>&1; then
	ko "rate 44100: 48000 refused as by a hw device"
else
	ok "rate 44100: 48000 refused as by a hw device"
fi
arecord -q -D fixed44 -f S16_LE -c 2 -r 44100 -s 44100 "$TMP/f44.wav" 2>"$TMP/err"
run "rate 44100: 44.1 kHz bit-exact" \
	$CHECK "$TMP/f44.wav" --channels 2 --rate 44100 --freq 1000 --amp 0.5 --frames 44100
arecord -q -D conv44 -f S16_LE -c 2 -r 48000 -s 4800 "$TMP/c48.wav" 2>"$TMP/err"
if [ "$(stat -c %s "$TMP/c48.wav" 2>/dev/null || echo 0)" -ge 19200 ]; then
	ok "plug over rate 44100 converts to 48000"
else
	ko "plug over rate 44100 did not convert: $(cat "$TMP/err")"
fi
if "$CLIENT" -D mono1 --channels 2 --unpaced --seconds 0.1 >/dev/null 2>&1 ||
   ! "$CLIENT" -D mono1 --channels 1 --unpaced --seconds 0.1 >/dev/null 2>&1; then
	ko "channels 1: stereo refused, mono taken"
else
	ok "channels 1: stereo refused, mono taken"
fi
echo 44100 >"$TMP/producer"
if "$CLIENT" -D producer --rate 48000 --seconds 0.1 >/dev/null 2>&1; then
	ko "rate_file 44100: another rate refused"
else
	ok "rate_file 44100: another rate refused"
fi
rm -f "$TMP/producer"
(sleep 0.5; echo 44100 >"$TMP/producer") &
if "$CLIENT" -D producer --rate 48000 --nonblock --seconds 2 >"$TMP/out" 2>&1; then
	ko "rate_file: a producer changing rate breaks a running capture"
else
	ok "rate_file: a producer changing rate breaks a running capture"
fi
wait
rm -f "$TMP/producer"

# -- leaks and close while running --------------------------------------------
if command -v valgrind >/dev/null; then
	VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
	rm -f "$TMP/starts"
	run "valgrind: poll client with injected xrun and forward" \
		$VG "$CLIENT" -D xrun --nonblock $XBUF --start-file "$TMP/starts" \
		--seconds 0.6 --expect-xruns 1 --forward-at 100
	rm -f "$TMP/starts"
	run "valgrind: close while running" \
		$VG "$CLIENT" -D tone --close-running --seconds 0.2 --start-file "$TMP/starts"
	run "valgrind: unpaced" \
		$VG "$CLIENT" -D fastx --unpaced --seconds 0.2 --expect-xruns 0
else
	# a skip says so in the closing line, and fails where none may be (CI)
	if [ -n "${A2DPSRC_NO_SKIP:-}" ]; then
		ko "valgrind not installed (A2DPSRC_NO_SKIP)"
	else
		echo "skip valgrind checks (valgrind not installed)"
		skipped="valgrind"
	fi
fi

echo "$pass passed, $fail failed${skipped:+, 1 skipped ($skipped not installed)}"
[ "$fail" = 0 ]
