/* SetNowPlaying's checks: nothing malformed reaches BlueZ or a speaker. */
#include "now-playing.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
        [PLAYBACK_STOPPED] = "stopped", [PLAYBACK_PLAYING] = "playing", [PLAYBACK_PAUSED] = "paused",
};
static const char *const status_mpris[] = {
        [PLAYBACK_STOPPED] = "Stopped", [PLAYBACK_PLAYING] = "Playing", [PLAYBACK_PAUSED] = "Paused",
};

const char *playback_status_name(enum playback_status s)
{
        return (unsigned)s <= PLAYBACK_PAUSED ? status_names[s] : "stopped";
}

const char *playback_status_mpris(enum playback_status s)
{
        return (unsigned)s <= PLAYBACK_PAUSED ? status_mpris[s] : "Stopped";
}

int playback_status_from_name(const char *s)
{
        for (int i = 0; i <= PLAYBACK_PAUSED; i++)
                if (s && strcmp(s, status_names[i]) == 0)
                        return i;
        return -1;
}

bool now_playing_text_valid(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + len;

        while (p < end) {
                unsigned c = *p, n, cp;

                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t') || c == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                } else {
                        return false;   /* continuation byte, overlong lead, > U+10FFFF */
                }
                if ((size_t)(end - p) <= n)
                        return false;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                /* overlong forms, surrogates, beyond Unicode */
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return false;
                p += n + 1;
        }
        return true;
}

struct decoded {
        struct now_playing np;
        bool track, position;
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int text_field(DBusMessageIter *v, const char *key, char *out, char *err, size_t err_len)
{
        const char *s;
        size_t n;

        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_STRING)
                return fail(err, err_len, "%s is a string (s)", key);
        dbus_message_iter_get_basic(v, &s);
        n = strlen(s);
        if (n > NOW_PLAYING_TEXT_MAX) {
                snprintf(err, err_len, "%s is %zu bytes long; at most %d are taken", key, n,
                         NOW_PLAYING_TEXT_MAX);
                return -EINVAL;
        }
        if (!now_playing_text_valid(s, n))
                return fail(err, err_len, "%s is not valid UTF-8 text (or holds control characters)", key);
        memcpy(out, s, n + 1);
        return 0;
}

static int time_field(DBusMessageIter *v, const char *key, int64_t *out, char *err, size_t err_len)
{
        int64_t x;

        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_INT64)
                return fail(err, err_len, "%s is a number of microseconds (x, int64)", key);
        dbus_message_iter_get_basic(v, &x);
        if (x < 0 || x > NOW_PLAYING_DURATION_MAX_US) {
                snprintf(err, err_len, "%s %" PRId64 " us is out of range (0 to %lld)", key, x,
                         (long long)NOW_PLAYING_DURATION_MAX_US);
                return -EINVAL;
        }
        *out = x;
        return 0;
}

static int apply_entry(struct decoded *dc, const char *key, DBusMessageIter *v, char *err, size_t err_len)
{
        struct now_playing *np = &dc->np;

        if (strcmp(key, "Title") == 0) {
                dc->track = true;
                return text_field(v, key, np->title, err, err_len);
        }
        if (strcmp(key, "Artist") == 0) {
                dc->track = true;
                return text_field(v, key, np->artist, err, err_len);
        }
        if (strcmp(key, "Album") == 0) {
                dc->track = true;
                return text_field(v, key, np->album, err, err_len);
        }
        if (strcmp(key, "Duration") == 0) {
                dc->track = true;
                return time_field(v, key, &np->duration_us, err, err_len);
        }
        if (strcmp(key, "Position") == 0) {
                dc->position = true;
                return time_field(v, key, &np->position_us, err, err_len);
        }
        return fail(err, err_len, "unknown key '%.64s' (Title, Artist, Album, Duration, Position)", key);
}

int now_playing_apply(struct now_playing *np, DBusMessageIter *dict, char *err, size_t err_len)
{
        struct decoded dc;
        DBusMessageIter arr;
        int r;

        if (dbus_message_iter_get_arg_type(dict) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(dict) != DBUS_TYPE_DICT_ENTRY) {
                snprintf(err, err_len, "SetNowPlaying takes one a{sv}");
                return -EINVAL;
        }
        memset(&dc, 0, sizeof(dc));
        dc.np.duration_us = -1;
        dc.np.position_us = -1;
        dbus_message_iter_recurse(dict, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                DBusMessageIter entry, v;
                const char *key;

                dbus_message_iter_recurse(&arr, &entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_STRING) {
                        snprintf(err, err_len, "SetNowPlaying takes an a{sv}: string keys");
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_VARIANT) {
                        snprintf(err, err_len, "SetNowPlaying takes an a{sv}: variant values");
                        return -EINVAL;
                }
                dbus_message_iter_recurse(&entry, &v);
                r = apply_entry(&dc, key, &v, err, err_len);
                if (r < 0)
                        return r;
        }
        if (!dc.track && !dc.position)
                return 0;
        if (!dc.track) {
                /* a seek: the track stays */
                dc.np.duration_us = np->duration_us;
        } else if (dc.np.duration_us < 0) {
                dc.np.duration_us = 0;
        }
        if (dc.np.position_us < 0)
                dc.np.position_us = 0;
        if (dc.np.position_us > dc.np.duration_us && dc.np.position_us > 0) {
                if (dc.np.duration_us == 0)
                        snprintf(err, err_len, "Position needs a known Duration");
                else
                        snprintf(err, err_len, "Position %" PRId64 " us is past Duration %" PRId64 " us",
                                 dc.np.position_us, dc.np.duration_us);
                return -EINVAL;
        }
        if (dc.track) {
                memcpy(np->title, dc.np.title, sizeof(np->title));
                memcpy(np->artist, dc.np.artist, sizeof(np->artist));
                memcpy(np->album, dc.np.album, sizeof(np->album));
                np->duration_us = dc.np.duration_us;
                np->track++;
        }
        np->position_us = dc.np.position_us;
        return (dc.track ? NOW_PLAYING_TRACK : 0) | (dc.position ? NOW_PLAYING_POSITION : 0);
}
