#!/bin/bash
# Scenario: the speaker's buttons and what plays (issue 16) on the real
# stack. The speaker's side (hci1's bluetoothd, AVRCP controller) presses
# Play, Pause, Next through org.bluez.MediaControl1 on the board's device
# object: AVRCP pass-through commands over the real AVCTP link, which the
# board's bluetoothd hands to a2dpsrcd's registered player; a2dpsrcd must
# emit Manager1.MediaKey for each. The board then sets a title and the
# playing status; the speaker's side must see them on its MediaPlayer1
# (AVRCP notifications and GetElementAttributes).
source /run/vm/repo/tests/vm/guest-common.sh
trap 'stop_all; collect' EXIT

# A speaker learns the board's AVRCP target record through SDP: its
# version and features (category 1) decide whether its bluetoothd makes a
# MediaPlayer1 and asks for track details. The bond written before
# bluetoothd starts has no SDP records, so the speaker's cache gets the
# record bluetoothd 5.66 publishes for an adapter's AVRCP target (as the
# board's side read it from hci1 in a run: AVRCP 1.5, features 0x005f).
BOARD_TG_RECORD=35640900000A00010005090001350319110C09000435103506190100090017350619001709010309000535031910020900093508350619110E09010509000D35123510350619010009001B35061900170901030901002508415652435020544709031109005F
write_sink_endpoint_cache() {
    write_endpoint_cache "$SINK_ADDR" "$SRC_ADDR" 01=00:00:01:ffff02fa LastUsed=01:01
    printf '\n[ServiceRecords]\n0x00010005=%s\n' "$BOARD_TG_RECORD" >> "/var/lib/bluetooth/$SINK_ADDR/cache/$SRC_ADDR"
}

stream_to_paired_speaker
# the board's media stack listening for keys
spawn keys "$BUILD/a2dpsrcctl" monitor
wait_until 20 "AVRCP up on the speaker's side" bz_is "$BOARD" org.bluez.MediaControl1 Connected true ||
    fail "AVRCP never connected (MediaControl1.Connected on the speaker's side: $(bz "$BOARD" org.bluez.MediaControl1 Connected))"
event avrcp_up
grep -q "Player registered: sender=.* path=/org/a2dpsrc/player/hci0" "$R/bluetoothd.log" ||
    log "note: bluetoothd's log does not show our player (needs -d to print it)"

key_seen() { grep -q "MediaKey: $1 $SINK_ADDR" "$R/keys.log"; }
for key in play pause next; do
    case $key in
        play) method=Play ;;
        pause) method=Pause ;;
        next) method=Next ;;
    esac
    mono; t0=$MONO_MS
    busctl --system call org.bluez "$BOARD" org.bluez.MediaControl1 "$method" > "$R/press-$key.log" 2>&1 ||
        fail "MediaControl1.$method on the speaker's side failed: $(cat "$R/press-$key.log")"
    wait_until 5 "MediaKey $key" key_seen "$key" || fail "no MediaKey $key from a2dpsrcd after the speaker's $method"
    mono; measure "key_${key}_ms" $((MONO_MS - t0))
    event "key_$key"
    sleep 0.3       # a person's pace: not merged with the next key
done

# what plays, from the board to the speaker's display
busctl --system call org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 SetNowPlaying 'a{sv}' 3 \
    Title s "So What" Artist s "Miles Davis" Duration x 562000000 || fail "SetNowPlaying failed"
busctl --system set-property org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 PlaybackStatus s playing ||
    fail "setting PlaybackStatus failed"
event now_playing_set
# the speaker's side: MediaPlayer1 objects under the board's device
player_path() { busctl --system tree --list org.bluez 2>/dev/null | grep -m1 "^$BOARD/player"; }
title_seen() {
    local p
    p=$(player_path) || return 1
    busctl --system get-property org.bluez "$p" org.bluez.MediaPlayer1 Track 2>/dev/null | grep -q '"So What"'
}
status_seen() {
    local p
    p=$(player_path) || return 1
    [[ $(bz "$p" org.bluez.MediaPlayer1 Status) == '"playing"' ]]
}
wait_until 10 "the speaker's side sees the title" title_seen || {
    p=$(player_path)
    log "speaker-side player: ${p:-none}; Track: $(busctl --system get-property org.bluez "$p" org.bluez.MediaPlayer1 Track 2>&1)"
    fail "the speaker's side never saw the title the board set"
}
event title_seen
wait_until 5 "the speaker's side sees playing" status_seen || fail "the speaker's side never saw Status playing"
event status_seen
busctl --system introspect org.bluez "$(player_path)" > "$R/speaker-player.txt" 2>&1
event observe_end
alive a2dpsrcd || fail "a2dpsrcd is gone"
save_statistics
