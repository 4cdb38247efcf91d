/* SetNowPlaying's checks, on dictionaries built here. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check-main.h"
#include "now-playing.h"

struct msg {
        DBusMessage *m;
        DBusMessageIter it, dict;
};

static void begin(struct msg *x)
{
        x->m = dbus_message_new_method_call("org.a2dpsrc", "/org/a2dpsrc", "org.a2dpsrc.Manager1",
                                            "SetNowPlaying");
        ck_assert_ptr_nonnull(x->m);
        dbus_message_iter_init_append(x->m, &x->it);
        ck_assert(dbus_message_iter_open_container(&x->it, DBUS_TYPE_ARRAY, "{sv}", &x->dict));
}

static void add(struct msg *x, const char *key, int type, const void *value)
{
        char sig[2] = { (char)type, 0 };
        DBusMessageIter e, v;

        ck_assert(dbus_message_iter_open_container(&x->dict, DBUS_TYPE_DICT_ENTRY, NULL, &e));
        ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, sig, &v));
        ck_assert(dbus_message_iter_append_basic(&v, type, value));
        ck_assert(dbus_message_iter_close_container(&e, &v));
        ck_assert(dbus_message_iter_close_container(&x->dict, &e));
}

static void add_s(struct msg *x, const char *key, const char *s)
{
        add(x, key, DBUS_TYPE_STRING, &s);
}

static void add_x(struct msg *x, const char *key, int64_t v)
{
        add(x, key, DBUS_TYPE_INT64, &v);
}

/* Applies x to np; returns what now_playing_apply returned. */
static int apply(struct msg *x, struct now_playing *np, char *err, size_t len)
{
        DBusMessageIter it;
        int r;

        ck_assert(dbus_message_iter_close_container(&x->it, &x->dict));
        ck_assert(dbus_message_iter_init(x->m, &it));
        err[0] = '\0';
        r = now_playing_apply(np, &it, err, len);
        dbus_message_unref(x->m);
        return r;
}

START_TEST(a_track_and_a_seek)
{
        static struct now_playing np;
        struct msg x;
        char err[256];

        begin(&x);
        add_s(&x, "Title", "So What");
        add_s(&x, "Artist", "Miles Davis");
        add_s(&x, "Album", "Kind of Blue");
        add_x(&x, "Duration", 562000000);
        ck_assert_int_eq(apply(&x, &np, err, sizeof(err)), NOW_PLAYING_TRACK);
        ck_assert_str_eq(np.title, "So What");
        ck_assert_str_eq(np.artist, "Miles Davis");
        ck_assert_str_eq(np.album, "Kind of Blue");
        ck_assert_int_eq(np.duration_us, 562000000);
        ck_assert_int_eq(np.position_us, 0);
        ck_assert_uint_eq(np.track, 1);

        /* Position alone: a seek, the track stays */
        begin(&x);
        add_x(&x, "Position", 60000000);
        ck_assert_int_eq(apply(&x, &np, err, sizeof(err)), NOW_PLAYING_POSITION);
        ck_assert_str_eq(np.title, "So What");
        ck_assert_int_eq(np.position_us, 60000000);
        ck_assert_uint_eq(np.track, 1);

        /* a new track clears what it leaves out and starts at its Position */
        begin(&x);
        add_s(&x, "Title", "Freddie Freeloader");
        add_x(&x, "Position", 0);
        ck_assert_int_eq(apply(&x, &np, err, sizeof(err)), NOW_PLAYING_TRACK | NOW_PLAYING_POSITION);
        ck_assert_str_eq(np.artist, "");
        ck_assert_str_eq(np.album, "");
        ck_assert_int_eq(np.duration_us, 0);
        ck_assert_uint_eq(np.track, 2);

        /* an empty dict changes nothing */
        begin(&x);
        ck_assert_int_eq(apply(&x, &np, err, sizeof(err)), 0);
        ck_assert_str_eq(np.title, "Freddie Freeloader");
}
END_TEST

static void refused(void (*fill)(struct msg *x), const char *text)
{
        static struct now_playing np, before;
        struct msg x;
        char err[256];

        memset(&np, 0, sizeof(np));
        snprintf(np.title, sizeof(np.title), "Kind of Blue");
        np.duration_us = 1000000;
        before = np;
        begin(&x);
        fill(&x);
        ck_assert_int_eq(apply(&x, &np, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, text) != NULL, "error '%s' lacks '%s'", err, text);
        /* all or nothing */
        ck_assert(memcmp(&np, &before, sizeof(np)) == 0);
}

static void int_title(struct msg *x)
{
        int32_t v = 5;
        add(x, "Title", DBUS_TYPE_INT32, &v);
}
static void huge_title(struct msg *x)
{
        static char s[NOW_PLAYING_TEXT_MAX + 2];
        memset(s, 'x', NOW_PLAYING_TEXT_MAX + 1);
        add_s(x, "Title", s);
}
static void max_title_then_bad(struct msg *x)
{
        static char s[NOW_PLAYING_TEXT_MAX + 1];
        int32_t v = 1;
        memset(s, 'x', NOW_PLAYING_TEXT_MAX);
        add_s(x, "Title", s);                /* just fits... */
        add(x, "Artist", DBUS_TYPE_INT32, &v);  /* ...but the call is refused */
}
static void control_char(struct msg *x) { add_s(x, "Album", "line\nbreak"); }
static void unsigned_duration(struct msg *x)
{
        uint64_t v = 5;
        add(x, "Duration", DBUS_TYPE_UINT64, &v);
}
static void negative_duration(struct msg *x) { add_x(x, "Duration", -1); }
static void ten_years(struct msg *x) { add_x(x, "Duration", NOW_PLAYING_DURATION_MAX_US + 1); }
static void past_end(struct msg *x)
{
        add_s(x, "Title", "t");
        add_x(x, "Duration", 10);
        add_x(x, "Position", 11);
}
static void seek_past_end(struct msg *x) { add_x(x, "Position", 1000001); }
static void position_without_length(struct msg *x)
{
        add_s(x, "Title", "radio");
        add_x(x, "Position", 1);
}
static void unknown_key(struct msg *x) { add_s(x, "Genre", "jazz"); }

START_TEST(bad_input_refused)
{
        refused(int_title, "Title is a string (s)");
        refused(huge_title, "Title is 513 bytes long; at most 512 are taken");
        refused(max_title_then_bad, "Artist is a string");
        refused(control_char, "Album is not valid UTF-8 text");
        refused(unsigned_duration, "Duration is a number of microseconds (x, int64)");
        refused(negative_duration, "Duration -1 us is out of range");
        refused(ten_years, "out of range");
        refused(past_end, "Position 11 us is past Duration 10 us");
        refused(seek_past_end, "Position 1000001 us is past Duration 1000000 us");
        refused(position_without_length, "Position needs a known Duration");
        refused(unknown_key, "unknown key 'Genre'");
}
END_TEST

START_TEST(not_a_dict)
{
        static struct now_playing np;
        DBusMessage *m = dbus_message_new_method_call("a.b", "/", "a.b", "C");
        const char *s = "x";
        DBusMessageIter it;
        char err[128];

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID));
        ck_assert(dbus_message_iter_init(m, &it));
        ck_assert_int_eq(now_playing_apply(&np, &it, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, "SetNowPlaying takes one a{sv}");
        dbus_message_unref(m);
}
END_TEST

START_TEST(utf8)
{
        static const struct {
                const char *s;
                bool ok;
        } cases[] = {
                { "", true }, { "plain", true }, { "tab\there", true }, { "caf\xc3\xa9", true },
                { "\xe2\x82\xac", true }, { "\xf0\x9f\x8e\xb5", true },            /* € 🎵 */
                { "\xc3\x28", false },          /* bad continuation */
                { "\xc3", false },              /* cut short */
                { "\xe2\x82", false },
                { "\x80", false },              /* lone continuation */
                { "\xc0\xaf", false },          /* overlong '/' */
                { "\xe0\x80\xaf", false },      /* overlong, 3 bytes */
                { "\xf0\x80\x80\xaf", false },  /* overlong, 4 bytes */
                { "\xed\xa0\x80", false },      /* UTF-16 surrogate */
                { "\xf4\x90\x80\x80", false },  /* above U+10FFFF */
                { "\xf5\x80\x80\x80", false },
                { "\xff", false },
                { "bell\a", false }, { "esc\x1b[2J", false }, { "del\x7f", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ck_assert_msg(now_playing_text_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok,
                              "case %zu", i);
        /* an embedded NUL (only a byte array could carry one) */
        ck_assert(!now_playing_text_valid("a\0b", 3));
}
END_TEST

START_TEST(status_names)
{
        ck_assert_int_eq(playback_status_from_name("playing"), PLAYBACK_PLAYING);
        ck_assert_int_eq(playback_status_from_name("paused"), PLAYBACK_PAUSED);
        ck_assert_int_eq(playback_status_from_name("stopped"), PLAYBACK_STOPPED);
        ck_assert_int_eq(playback_status_from_name("Playing"), -1);
        ck_assert_int_eq(playback_status_from_name(""), -1);
        ck_assert_int_eq(playback_status_from_name(NULL), -1);
        ck_assert_str_eq(playback_status_mpris(PLAYBACK_PLAYING), "Playing");
        ck_assert_str_eq(playback_status_mpris(PLAYBACK_PAUSED), "Paused");
        ck_assert_str_eq(playback_status_mpris(PLAYBACK_STOPPED), "Stopped");
        ck_assert_str_eq(playback_status_name(PLAYBACK_PAUSED), "paused");
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("now-playing");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, a_track_and_a_seek);
        tcase_add_test(tc, bad_input_refused);
        tcase_add_test(tc, not_a_dict);
        tcase_add_test(tc, utf8);
        tcase_add_test(tc, status_names);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
