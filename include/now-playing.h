/* What the board says is playing (SetNowPlaying, PlaybackStatus) and the
 * checks it passes before anything reaches BlueZ. Pure logic over the
 * caller's a{sv}; nothing here talks to a bus. */
#ifndef A2DPSRC_NOW_PLAYING_H
#define A2DPSRC_NOW_PLAYING_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes per text field. A speaker's display shows a few dozen characters;
 * longer text is a mistake (or an attack), refused rather than cut. */
#define NOW_PLAYING_TEXT_MAX 512
/* Ten days: longer "tracks" are a unit mistake (ms or ns for us). */
#define NOW_PLAYING_DURATION_MAX_US (10LL * 24 * 3600 * 1000000)

enum playback_status { PLAYBACK_STOPPED, PLAYBACK_PLAYING, PLAYBACK_PAUSED };

struct now_playing {
        char title[NOW_PLAYING_TEXT_MAX + 1];
        char artist[NOW_PLAYING_TEXT_MAX + 1];
        char album[NOW_PLAYING_TEXT_MAX + 1];
        int64_t duration_us;    /* 0: not known */
        int64_t position_us;    /* as last set, from the track's start */
        uint32_t track;         /* counts tracks set, for MPRIS' trackid */
};

/* What a SetNowPlaying call changed. */
enum { NOW_PLAYING_TRACK = 1, NOW_PLAYING_POSITION = 2 };

/* Applies SetNowPlaying's a{sv} (Title, Artist, Album: s; Duration,
 * Position: x, microseconds) to *np, all or nothing. Any of Title, Artist,
 * Album or Duration describes a new track: the fields it leaves out are
 * cleared and the position starts at Position or 0. Position alone is a
 * seek in the current track. Returns the NOW_PLAYING_* changed (0 for an
 * empty dict), or -EINVAL with a sentence in err: unknown key, wrong type,
 * text longer than NOW_PLAYING_TEXT_MAX or not UTF-8, negative or
 * implausible time, Position past Duration. */
int now_playing_apply(struct now_playing *np, DBusMessageIter *dict, char *err, size_t err_len);

/* s[0..len) is well-formed UTF-8 without NUL or other C0 controls but tab. */
bool now_playing_text_valid(const char *s, size_t len);

/* "playing", "paused", "stopped" */
const char *playback_status_name(enum playback_status s);
/* MPRIS' "Playing", "Paused", "Stopped" */
const char *playback_status_mpris(enum playback_status s);
/* One of the names above (lower case); -1 otherwise. */
int playback_status_from_name(const char *s);

#endif
