# shellcheck shell=bash
# Sourced by the guest scripts (tests/vm/guest-*.sh) inside the check-vm VM.
# The guest is the host's own Debian system (read-only over 9p) with tmpfs
# on /run, /tmp and /var/lib/bluetooth; this file starts the real stack in
# it: snd-aloop, hci_vhci + btvirt (two BR/EDR controllers on one virtual
# air), the system bus, bluetoothd, the far-side sink (bluealsa on hci1,
# bluealsa-aplay into a loopback substream) and a2dpsrcd on hci0.
#
# Loopback substreams (what is played on hw:Loopback,0,N is captured on
# hw:Loopback,1,N):
#   0  the board's audio: aplay plays the tone, a2dpsrcd captures it
#   1  a2dpsrcd's local output, recorded as local.raw
#   2  the far side: bluealsa-aplay plays what hci1 received, recorded as bt.raw
#
# Every process the guest starts writes its log into the results folder,
# which run-vm.sh reads after the VM is gone; "events" holds the guest's
# timeline (CLOCK_MONOTONIC ms) and *.start the exact start of each
# recording (the ALSA trigger time, same clock).

R=/run/vm/results
REPO=/run/vm/repo
BUILD=$REPO/${VM_BUILD:-build}
A2DPSRCD=$REPO/${VM_DAEMON:-${VM_BUILD:-build}/a2dpsrcd}
SRC_ADDR=00:AA:01:00:00:00          # hci0: a2dpsrcd's adapter
SINK_ADDR=00:AA:01:01:00:01         # hci1: the speaker's
SRC_HCI=/org/bluez/hci0
SINK_HCI=/org/bluez/hci1
SPEAKER=$SRC_HCI/dev_${SINK_ADDR//:/_}   # the speaker, seen from hci0
BOARD=$SINK_HCI/dev_${SRC_ADDR//:/_}     # the board, seen from hci1
A2DP_SINK_UUID=0000110b-0000-1000-8000-00805f9b34fb
A2DP_SOURCE_UUID=0000110a-0000-1000-8000-00805f9b34fb
RATE=48000
TONE=$REPO/${VM_DATA:-${VM_BUILD:-build}/vm}/tone.raw
STATE_DIR=/tmp/state

BTD_DEBUG=${VM_BTD_DEBUG:-}
declare -A PIDS=()

# ---- time and the record --------------------------------------------------

# MONO_NS/MONO_MS: CLOCK_MONOTONIC now (the clock of ALSA's trigger times),
# without forking: the first "now at" line of /proc/timer_list.
mono() {
    local a b c
    while read -r a b c _; do
        if [[ $a == now && $b == at ]]; then
            MONO_NS=$c
            MONO_MS=$((c / 1000000))
            return 0
        fi
    done < /proc/timer_list
    MONO_NS=0 MONO_MS=0
    return 1
}

log() {
    mono
    printf '%d.%03d %s\n' $((MONO_MS / 1000)) $((MONO_MS % 1000)) "$*" | tee -a "$R/guest.log" >/dev/console
}

# event NAME [VALUE]: a point of the timeline, judged on the host
event() {
    mono
    echo "$1 $MONO_NS ${2:-}" >> "$R/events"
    log "event $1 ${2:-}"
}

# measure NAME VALUE: a figure the host prints (e.g. connect_ms 812)
measure() {
    echo "$1 $2" >> "$R/measures"
    log "measure $1 = $2"
}

fail() {
    log "FAIL: $*"
    echo "$*" >> "$R/failures"
    exit 1
}

# env_fail: the VM's own stack (modules, btvirt, the bus, bluetoothd,
# bluealsa) did not come up: not a2dpsrcd's doing, reported as such
env_fail() {
    echo "$*" >> "$R/env-failure"
    fail "$*"
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 50 ms
wait_until() {
    local limit=$1 what=$2 start
    shift 2
    mono; start=$MONO_MS
    while ! "$@" >/dev/null 2>&1; do
        mono
        if (( MONO_MS - start > limit * 1000 )); then
            log "timed out after ${limit} s waiting for: $what"
            return 1
        fi
        sleep 0.05
    done
    mono
    WAITED_MS=$((MONO_MS - start))
    return 0
}

# ---- processes ------------------------------------------------------------

# spawn NAME COMMAND...: runs COMMAND in the background, log in $R/NAME.log
spawn() {
    local name=$1
    shift
    "$@" > "$R/$name.log" 2>&1 &
    PIDS[$name]=$!
    log "started $name (pid $!): $*"
}

alive() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

# stop NAME [SIGNAL]: signals it and waits up to 5 s; status in $R/NAME.exit
stop() {
    local name=$1 sig=${2:-TERM} pid=${PIDS[$1]:-} i rc
    [[ -n $pid ]] || return 0
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name did not exit on SIG$sig within 5 s; killing it"
        echo "hung" > "$R/$name.exit"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    [[ -f $R/$name.exit ]] || echo "$rc" > "$R/$name.exit"
    unset 'PIDS[$name]'
    log "stopped $name (status $rc)"
}

stop_all() {
    local n
    for n in a2dpsrcd tone rec_local rec_bt aplay bluealsa pipewire bluetoothd link_capture btvirt dbus; do
        [[ -n ${PIDS[$n]:-} ]] && stop "$n" "$([[ $n == rec_* ]] && echo INT || echo TERM)"
    done
    for n in "${!PIDS[@]}"; do stop "$n"; done
}

# ---- D-Bus ----------------------------------------------------------------

# prop SERVICE PATH IFACE NAME: the value alone (busctl's second field on)
prop() {
    local v
    v=$(busctl --system get-property "$1" "$2" "$3" "$4" 2>/dev/null) || return 1
    echo "${v#* }"
}

bz() { prop org.bluez "$1" "$2" "$3"; }
mgr() { prop org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 "$1"; }
has_name() {
    [[ $(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
             NameHasOwner s "$1" 2>/dev/null) == "b true" ]]
}
bz_is() { [[ $(bz "$1" "$2" "$3") == "$4" ]]; }
mgr_is() { [[ $(mgr "$1") == "$2" ]]; }

# ---- the stack ------------------------------------------------------------

load_modules() {
    modprobe hci_vhci || env_fail "modprobe hci_vhci failed"
    modprobe snd-aloop || env_fail "modprobe snd-aloop failed"
    [[ -e /proc/asound/Loopback ]] || env_fail "snd-aloop loaded but no Loopback card"
}

start_bus() {
    mkdir -p /run/dbus
    spawn dbus dbus-daemon --config-file="$REPO/tests/vm/system-bus.conf" --nofork --nopidfile --nosyslog
    wait_until 10 "the system bus" test -S /run/dbus/system_bus_socket || env_fail "no system bus"
    wait_until 5 "the system bus to answer" has_name org.freedesktop.DBus || env_fail "system bus does not answer"
}

# RADIOS=3 or 4 (set by a scenario before start_stack): more controllers,
# hci2 (a stranger's, or a second speaker) and hci3
RADIOS=${RADIOS:-2}

# the controllers past hci1
extra_radios() {
    local i
    for ((i = 2; i < RADIOS; i++)); do echo "hci$i"; done
}

# a controller whose initialisation completed knows its address
both_controllers_ready() {
    [[ $(hciconfig hci0 2>/dev/null) == *"BD Address: $SRC_ADDR"* &&
       $(hciconfig hci1 2>/dev/null) == *"BD Address: $SINK_ADDR"* ]] || return 1
    local h
    for h in $(extra_radios); do
        [[ $(hciconfig "$h" 2>/dev/null) == *"BD Address: 00:AA:01:"* ]] || return 1
    done
}

# btvirt's two controllers. On a loaded host the kernel's HCI Reset of a
# new controller can time out before btvirt serves it ("hci0: Opcode
# 0x0c03 failed: -110"), and that controller never reaches the management
# interface: then btvirt is started again.
start_radio() {
    local try
    for try in 1 2 3; do
        spawn btvirt chrt -f "${VM_BTVIRT_RTPRIO:-90}" btvirt -l"$RADIOS"
        if wait_until 15 "hci0 and hci1 ready" both_controllers_ready; then
            [[ $try == 1 ]] || measure btvirt_tries "$try"
            return 0
        fi
        log "btvirt's controllers did not come up (try $try): $(dmesg | grep -i 'hci[01]:' | tail -n 3 | tr '\n' ' ')"
        stop btvirt KILL
        rm -f "$R/btvirt.exit"
        sleep 1
    done
    env_fail "btvirt's controllers did not come up in 3 tries"
}

# What crosses the air: tests/vm/link_capture.py keeps the ACL data hci1
# (the speaker) receives and writes it to hci.btsnoop when stopped;
# check_audio.py reads the SBC frames from it.
capture_link() {
    spawn link_capture /usr/bin/python3 "$REPO/tests/vm/link_capture.py" hci1 "$R/hci.btsnoop"
    wait_until 10 "link_capture.py" grep -q capturing "$R/link_capture.log" || env_fail "link_capture.py did not start"
}

# VM_BTD_GDB=1: bluetoothd runs under gdb (batch): on a crash its log ends
# with the signal, a backtrace and the registers (Debian's bluetoothd is
# stripped: frames inside it show as addresses or the nearest exported name)
start_bluetoothd() {
    local gdb=()
    [[ -n ${VM_BTD_GDB:-} ]] && gdb=(gdb -q -batch -nx -ex 'set pagination off'
        -ex 'handle SIGTERM nostop noprint pass' -ex 'handle SIGPIPE nostop noprint pass' -ex run
        -ex 'bt full' -ex 'info registers' -ex 'x/8i $pc-16' -ex 'info proc mappings' --args)
    spawn bluetoothd "${gdb[@]}" /usr/libexec/bluetooth/bluetoothd -n ${BTD_DEBUG:+-d}
    wait_until 10 "org.bluez" has_name org.bluez || env_fail "bluetoothd did not come on the bus"
    wait_until 10 "hci0 in bluetoothd" bz "$SRC_HCI" org.bluez.Adapter1 Address ||
        env_fail "bluetoothd does not show hci0"
    wait_until 10 "hci1 in bluetoothd" bz "$SINK_HCI" org.bluez.Adapter1 Address ||
        env_fail "bluetoothd does not show hci1"
    local h
    for h in $(extra_radios); do
        wait_until 10 "$h in bluetoothd" bz "/org/bluez/$h" org.bluez.Adapter1 Address ||
            env_fail "bluetoothd does not show $h"
    done
}

power() {   # power hciN true|false
    busctl --system set-property org.bluez "/org/bluez/$1" org.bluez.Adapter1 Powered b "$2"
}

# The check that a listed address really is what btvirt made, so that the
# fixed addresses used for bonding files stay true.
check_addresses() {
    local a
    a=$(bz "$SRC_HCI" org.bluez.Adapter1 Address) || env_fail "hci0 has no Address"
    [[ $a == "\"$SRC_ADDR\"" ]] || env_fail "hci0 is $a, expected $SRC_ADDR"
    a=$(bz "$SINK_HCI" org.bluez.Adapter1 Address) || env_fail "hci1 has no Address"
    [[ $a == "\"$SINK_ADDR\"" ]] || env_fail "hci1 is $a, expected $SINK_ADDR"
}

power_on_both() {
    power hci0 true && power hci1 true || env_fail "cannot power the adapters on"
    wait_until 10 "hci0 powered" bz_is "$SRC_HCI" org.bluez.Adapter1 Powered true || env_fail "hci0 not powered"
    wait_until 10 "hci1 powered" bz_is "$SINK_HCI" org.bluez.Adapter1 Powered true || env_fail "hci1 not powered"
    local h
    for h in $(extra_radios); do
        power "$h" true || env_fail "cannot power $h on"
        wait_until 10 "$h powered" bz_is "/org/bluez/$h" org.bluez.Adapter1 Powered true || env_fail "$h not powered"
    done
}

# The base: modules, radio, bus, bluetoothd, both adapters powered.
# Bonding files, if any, must be written before (write_bonding).
start_stack() {
    load_modules
    start_trace
    start_bus
    start_radio
    capture_link
    start_bluetoothd
    check_addresses
    power_on_both
    event stack_up
}

# The speaker: bluealsa's A2DP sink on hci1, played into substream 2 and
# recorded there.
# start_sink [PCM]: PCM plughw:Loopback,0,2 for a stream at another rate
# than the 48 kHz recording
start_sink() {
    spawn bluealsa bluealsa -i hci1 -p a2dp-sink
    wait_until 10 "org.bluealsa" has_name org.bluealsa || env_fail "bluealsa did not come on the bus"
    record rec_bt 2 "$R/bt.raw"
    spawn aplay bluealsa-aplay -v -D "${1:-hw:Loopback,0,2}" --pcm-buffer-time=200000 --pcm-period-time=20000 "$SRC_ADDR"
}

# The speaker as PipeWire 0.3.65 + WirePlumber 0.4.13 (Debian 12's; the
# A2DP codecs are libspa-0.2-bluetooth's, aptX from libfreeaptx0) instead
# of bluealsa: its A2DP sink on hci1, played by pipewire.conf's static
# ALSA sink node into substream 2 and recorded there as in start_sink.
# start_pw_sink CODECS: the codecs its sink offers, PipeWire's names
# ("sbc aptx"; bluez5.codecs). Headless, its own XDG_RUNTIME_DIR, no
# session bus, as nobody (with the audio group for /dev/snd and rlimits
# for a real-time data thread): the system bus policy
# (tests/vm/system-bus.conf) keeps that user's Media1 calls off hci0.
PW_DIR=/tmp/pw
start_pw_sink() {
    local codecs=$1 conf=$REPO/tests/vm/pipewire
    rm -rf "$PW_DIR"
    mkdir -p "$PW_DIR/run" "$PW_DIR/state" "$PW_DIR/data" "$PW_DIR/xdg"
    cp -r "$conf/wireplumber" "$PW_DIR/xdg/"
    echo "bluez_monitor.properties[\"bluez5.codecs\"] = \"[ $codecs ]\"" \
        > "$PW_DIR/xdg/wireplumber/bluetooth.lua.d/52-codecs.lua"
    chown -R nobody:nogroup "$PW_DIR"
    chmod 0700 "$PW_DIR/run"
    # no udev in the guest: the devtmpfs nodes are root's alone
    chgrp audio /dev/snd/* && chmod g+rw /dev/snd/* || env_fail "cannot open /dev/snd to the audio group"
    record rec_bt 2 "$R/bt.raw"
    spawn pipewire env -i PATH="$PATH" HOME="$PW_DIR" LANG=C.UTF-8 \
        XDG_RUNTIME_DIR="$PW_DIR/run" PIPEWIRE_RUNTIME_DIR="$PW_DIR/run" XDG_CONFIG_HOME="$PW_DIR/xdg" \
        XDG_STATE_HOME="$PW_DIR/state" XDG_DATA_HOME="$PW_DIR/data" PIPEWIRE_LOG_SYSTEMD=false PIPEWIRE_CPU="${VM_PW_CPU:-0}" \
        WIREPLUMBER_DEBUG="${VM_PW_DEBUG:-2}" PIPEWIRE_DEBUG="${VM_PW_DEBUG:-2}" \
        prlimit --rtprio="${VM_PW_RTPRIO:-95}" --nice=40 --memlock=unlimited \
        setpriv --reuid=nobody --regid=nogroup --groups=audio \
        pipewire -c "$conf/pipewire.conf"
    # registered: hci1 shows the A2DP sink service, hci0 none of PipeWire's
    wait_until 20 "PipeWire's A2DP sink on hci1" pw_sink_registered ||
        env_fail "PipeWire's A2DP sink did not register on hci1 (UUIDs $(bz "$SINK_HCI" org.bluez.Adapter1 UUIDs))"
    event pw_sink_up
    bz "$SRC_HCI" org.bluez.Adapter1 UUIDs > "$R/hci0-uuids.txt"
    bz "$SINK_HCI" org.bluez.Adapter1 UUIDs > "$R/hci1-uuids.txt"
    if grep -qi "$A2DP_SINK_UUID\|$A2DP_SOURCE_UUID" "$R/hci0-uuids.txt"; then
        env_fail "PipeWire registered A2DP on hci0 too: $(cat "$R/hci0-uuids.txt")"
    fi
}

pw_sink_registered() { [[ $(bz "$SINK_HCI" org.bluez.Adapter1 UUIDs) == *"$A2DP_SINK_UUID"* ]]; }

# pw CMD...: a PipeWire tool (pw-dump, pw-link) on the far side's PipeWire
pw() {
    env -i PATH="$PATH" HOME="$PW_DIR" XDG_RUNTIME_DIR="$PW_DIR/run" PIPEWIRE_RUNTIME_DIR="$PW_DIR/run" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# record NAME SUBSTREAM FILE: arecord from hw:Loopback,1,SUBSTREAM; the
# exact start (ALSA trigger time) goes to FILE's .start. The recording is
# made in /tmp (tmpfs) and copied to FILE by collect: written through 9p
# as it came (a write every 20 ms, each a round trip to qemu), it cost the
# guest's CPUs and the host's more than the rest of the scenario, and once
# met a guest kernel double fault in that path (netfs, 6.12).
REC_DIR=/tmp/rec
declare -A RECORDINGS=()
record() {
    local name=$1 sub=$2 file=$3 status=/proc/asound/Loopback/pcm1c/sub$2/status
    mkdir -p "$REC_DIR"
    RECORDINGS[$REC_DIR/${file##*/}]=$file
    spawn "$name" arecord -D "hw:Loopback,1,$sub" -f S16_LE -r $RATE -c 2 -t raw -B 500000 -F 20000 "$REC_DIR/${file##*/}"
    wait_until 10 "$name running" grep -q "state: RUNNING" "$status" || env_fail "$name: arecord did not start"
    awk '/^trigger_time:/ { print $2 }' "$status" > "${file%.raw}.start"
}

# The board's audio: the tone played into substream 0, looped for as long
# as the scenario lasts. start_tone [RATE]: the 48 kHz tone file played at
# another rate is a tone of 997 * RATE / 48000 Hz.
start_tone() {
    local status=/proc/asound/Loopback/pcm0p/sub0/status
    spawn tone aplay -D hw:Loopback,0,0 -f S16_LE -r "${1:-$RATE}" -c 2 -t raw -B 500000 -F 20000 "$TONE"
    wait_until 10 "the tone playing" grep -q "state: RUNNING" "$status" || env_fail "aplay of the tone did not start"
    awk '/^trigger_time:/ { print $2 }' "$status" > "$R/tone.start"
}

# write_state KEY=VALUE...: a2dpsrcd's saved settings. The speaker is
# opted out of SBC-XQ (no-xq) unless the scenario sets VM_XQ=1: under TCG
# btvirt's emulated link did not carry XQ's 456 kbit/s (2026-12-02, host
# load 2-5: the bitpool stepped from 35 to 10-20 and the tone had gaps in
# `stream` and `rate44k-first`), while these scenarios judge plain SBC at
# bitpool 51, which it carries cleanly. SBC-XQ has its own scenario.
write_state() {
    local xq=()
    [[ ${VM_XQ:-0} == 1 ]] || xq=("no-xq=$SINK_ADDR")
    mkdir -p "$STATE_DIR" /tmp/no-power-supply
    { echo "a2dpsrc-state 1"; printf '%s\n' "$@" "${xq[@]}"; } > "$STATE_DIR/state"
}

start_a2dpsrcd() {
    spawn a2dpsrcd "$A2DPSRCD" --capture hw:Loopback,1,0 --local-output hw:Loopback,0,1 \
        --adapter hci0 --state-dir "$STATE_DIR" --power-supply /tmp/no-power-supply \
        --rt-priority 40 -v "$@"
    wait_until 10 "org.a2dpsrc" has_name org.a2dpsrc || fail "a2dpsrcd did not come on the bus"
    event a2dpsrcd_up
}

# The common start of the scenarios with a speaker paired beforehand: the
# stack, the sink (recorded), the local output recorded, the tone playing,
# and a2dpsrcd connecting its last output by itself until it streams.
stream_to_paired_speaker() {
    write_bonding
    start_stack
    start_sink
    record rec_local 1 "$R/local.raw"
    start_tone
    write_state speaker-mode=true volume=127 "last-output=$SINK_ADDR"
    start_a2dpsrcd
    wait_until 30 "State streaming" mgr_is State '"streaming"' || fail "a2dpsrcd never streamed (State $(mgr State))"
    event streaming
}

# The scenarios with PipeWire's sink (pw-sbc, aptx, aptx-hd): as
# stream_to_paired_speaker, with start_pw_sink CODECS as the speaker; the
# board discovers the speaker's endpoints itself (write_bonds: no cache of
# them). STATE...: more of a2dpsrcd's saved settings.
stream_to_pw_speaker() {
    local codecs=$1
    shift
    write_bonds
    start_stack
    start_pw_sink "$codecs"
    record rec_local 1 "$R/local.raw"
    start_tone
    write_state speaker-mode=true volume=127 "last-output=$SINK_ADDR" "$@"
    start_a2dpsrcd
    wait_until 30 "State streaming" mgr_is State '"streaming"' || fail "a2dpsrcd never streamed (State $(mgr State))"
    event streaming
}

# observe_stream: VM_STREAM_S (15) s of streaming, a2dpsrcd's Codec before
# and after (codec.txt), its Statistics at the end
observe_stream() {
    mgr Codec > "$R/codec.txt"
    cpu_sample start
    sleep "${VM_STREAM_S:-15}"
    cpu_sample end
    event observe_end
    mgr Codec >> "$R/codec.txt"
    save_statistics
}

# a2dpsrcd's Statistics at the end of a scenario, for check_audio.py
save_statistics() {
    busctl --system get-property org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 Statistics > "$R/statistics.txt" ||
        fail "cannot read a2dpsrcd's Statistics (the wake-up check needs them)"
}

# ---- bonding ----------------------------------------------------------------

# The pairing of hci0 and hci1 as bluetoothd stores it, written before
# bluetoothd starts, so that a scenario begins with a paired, trusted
# speaker (the addresses are btvirt's and its link key is fixed: a Pair
# on btvirt stores exactly this key). The AVDTP endpoint caches make
# each side skip discovering the other's endpoints: with both ends on
# BlueZ 5.66, the sink's "reverse discover" during the first
# source-initiated connection ends in "Transaction label doesn't match"
# (fixed in later BlueZ) and leaves the device br-connection-busy.
LINK_KEY=00010203040506070809000102030405

write_bond() {   # write_bond LOCAL REMOTE SERVICES
    local dir=/var/lib/bluetooth/$1/$2
    mkdir -p "$dir"
    cat > "$dir/info" <<END
[General]
Name=BlueZ 5.66
SupportedTechnologies=BR/EDR;
Trusted=true
Blocked=false
Services=$3

[LinkKey]
Key=$LINK_KEY
Type=7
PINLength=0
END
}

# write_endpoint_cache LOCAL REMOTE ENDPOINT-LINES...
write_endpoint_cache() {
    local dir=/var/lib/bluetooth/$1/cache
    mkdir -p "$dir"
    { printf '[General]\nName=BlueZ 5.66\n\n[Endpoints]\n'; printf '%s\n' "${@:3}"; } > "$dir/$2"
}

# The speaker remembers the board's SBC source endpoint (seid 1, delay
# reporting, our capabilities ff ff 02 fa): enough to dodge the BlueZ 5.66
# bug, also for a fresh pairing. Since every codec is in the table SEID 1
# is LDAC's (SEIDs follow registration order): the entry only keeps the
# speaker from discovering when the board connects; a scenario where the
# speaker configures the stream itself removes it (speaker-connects).
write_sink_endpoint_cache() {
    write_endpoint_cache "$SINK_ADDR" "$SRC_ADDR" 01=00:00:01:ffff02fa LastUsed=01:01
}

# both sides bonded; the speaker remembers the board's endpoint
write_bonds() {
    write_bond "$SRC_ADDR" "$SINK_ADDR" "$A2DP_SINK_UUID;0000110c-0000-1000-8000-00805f9b34fb;0000110e-0000-1000-8000-00805f9b34fb;"
    write_bond "$SINK_ADDR" "$SRC_ADDR" "$A2DP_SOURCE_UUID;0000110c-0000-1000-8000-00805f9b34fb;0000110e-0000-1000-8000-00805f9b34fb;"
    write_sink_endpoint_cache
}

write_bonding() {
    write_bonds
    # bluealsa's two SBC sink endpoints, as the board's bluetoothd saw them
    write_endpoint_cache "$SRC_ADDR" "$SINK_ADDR" 01=01:00:01:ffff02fa 02=01:00:01:ffff02fa
}

# ---- diagnostics ----------------------------------------------------------

# cpu_sample NAME: /proc/stat's cpu line, to tell later how busy the VM was
cpu_sample() { echo "$1 $(head -1 /proc/stat)" >> "$R/cpu"; }

# VM_TRACE=1: the send path and the ACL flow, in the kernel's trace
# buffer (ftrace, CLOCK_MONOTONIC), written to $R/trace.txt at the end and
# read by tests/vm/flow.py: a2dpsrcd's audio thread's send() calls (entry,
# result), every HCI packet the kernel hands a vhci controller
# (vhci_send_frame: ACL fragments on their way to btvirt), btvirt's reads
# and writes of /dev/vhci, each Number of Completed Packets event (a
# controller's ACL buffer free again) and when the audio thread and btvirt
# are woken and run. Controllers are told apart by their hci_dev pointer
# (no structure offsets needed). Costs little: no user-space reader while
# it runs.
TRACEFS=/sys/kernel/tracing
start_trace() {
    [[ ${VM_TRACE:-} == 1 ]] || return 0
    local t=$TRACEFS
    mountpoint -q $t || mount -t tracefs tracefs $t || fail "cannot mount tracefs"
    echo mono > $t/trace_clock
    echo 16384 > $t/buffer_size_kb
    {
        echo 'p:a2d/vtx hci_vhci:vhci_send_frame hdev=%di skb=%si'
        echo 'p:a2d/nocp bluetooth:hci_num_comp_pkts_evt hdev=%di n=+0(%si):u8 h=+1(%si):u16 cnt=+3(%si):u16'
        echo 'p:a2d/vread hci_vhci:vhci_read'
        echo 'p:a2d/vwrite hci_vhci:vhci_write'
    } >> $t/kprobe_events || fail "cannot add the kprobes (tracefs: $(cat $t/error_log 2>/dev/null | tail -n 2))"
    echo 1 > $t/events/a2d/enable
    echo 'comm == "a2dpsrc-audio"' > $t/events/syscalls/sys_enter_sendto/filter
    echo 'comm == "a2dpsrc-audio"' > $t/events/syscalls/sys_exit_sendto/filter
    echo 1 > $t/events/syscalls/sys_enter_sendto/enable
    echo 1 > $t/events/syscalls/sys_exit_sendto/enable
    echo 'comm == "a2dpsrc-audio" || comm == "btvirt"' > $t/events/sched/sched_wakeup/filter
    echo 'prev_comm == "a2dpsrc-audio" || next_comm == "a2dpsrc-audio" || prev_comm == "btvirt" || next_comm == "btvirt"' \
        > $t/events/sched/sched_switch/filter
    echo 1 > $t/events/sched/sched_wakeup/enable
    echo 1 > $t/events/sched/sched_switch/enable
    echo 1 > $t/tracing_on
    log "tracing the send path and the ACL flow (VM_TRACE=1)"
}

stop_trace() {
    [[ ${VM_TRACE:-} == 1 && -e $TRACEFS/tracing_on ]] || return 0
    echo 0 > $TRACEFS/tracing_on
    cat $TRACEFS/trace > /tmp/trace.txt
    cp /tmp/trace.txt "$R/trace.txt"
    cat $TRACEFS/per_cpu/cpu*/stats > "$R/trace-stats.txt" 2>/dev/null
}

# ---- collection -----------------------------------------------------------

collect() {
    local f
    for f in "${!RECORDINGS[@]}"; do
        [[ -f $f ]] && cp "$f" "${RECORDINGS[$f]}"
    done
    stop_trace
    cp -r /var/lib/bluetooth "$R/var-lib-bluetooth" 2>/dev/null
    dmesg > "$R/dmesg.txt" 2>/dev/null
    cat /proc/asound/Loopback/pcm*/sub*/status > "$R/alsa-status.txt" 2>/dev/null
    sync
}
