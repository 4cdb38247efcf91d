/* Saved settings: the text format and the file that holds it. */
#include <check.h>

#include "check-main.h"
#include "tmptree.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "a2dp-codec.h"
#include "speaker-delay.h"
#include "state.h"

static void assert_state_eq(const struct saved_state *a, const struct saved_state *b)
{
        ck_assert_int_eq(a->speaker_mode, b->speaker_mode);
        for (int c = 0; c < CAT_COUNT; c++)
                ck_assert_int_eq(a->routes[c], b->routes[c]);
        ck_assert_uint_eq(a->volume, b->volume);
        ck_assert_uint_eq(a->idle_suspend, b->idle_suspend);
        ck_assert_int_eq(a->auto_reconnect, b->auto_reconnect);
        ck_assert_int_eq(a->multi_output, b->multi_output);
        ck_assert_str_eq(a->last_output, b->last_output);
        ck_assert_uint_eq(a->n_paired, b->n_paired);
        for (unsigned i = 0; i < a->n_paired; i++)
                ck_assert_str_eq(a->paired[i], b->paired[i]);
        ck_assert_uint_eq(a->codecs, b->codecs);
        ck_assert_uint_eq(a->n_no_xq, b->n_no_xq);
        for (unsigned i = 0; i < a->n_no_xq; i++)
                ck_assert_str_eq(a->no_xq[i], b->no_xq[i]);
        ck_assert_uint_eq(a->n_rechoose, b->n_rechoose);
        for (unsigned i = 0; i < a->n_rechoose; i++)
                ck_assert_str_eq(a->rechoose[i], b->rechoose[i]);
        ck_assert_uint_eq(a->n_delays, b->n_delays);
        for (unsigned i = 0; i < a->n_delays; i++) {
                ck_assert_str_eq(a->delays[i].addr, b->delays[i].addr);
                ck_assert_uint_eq(a->delays[i].us, b->delays[i].us);
        }
}

static int parse_str(const char *text, struct saved_state *s, char *err, size_t err_len)
{
        return state_parse(text, strlen(text), s, err, err_len);
}

/* Every field away from its default. */
static void sample(struct saved_state *s)
{
        state_defaults(s);
        s->speaker_mode = true;
        s->routes[CAT_MEDIA] = ROUTE_LOCAL;
        s->routes[CAT_ALERTS] = ROUTE_BLUETOOTH;
        s->routes[CAT_VOICE] = ROUTE_BLUETOOTH;
        s->volume = 127;
        s->idle_suspend = STATE_IDLE_SUSPEND_MAX;       /* the most: a day */
        s->auto_reconnect = false;
        s->multi_output = true;
        s->codecs = 1u << CODEC_SBC | 1u << CODEC_SBC_XQ | 1u << CODEC_LDAC;
        snprintf(s->last_output, sizeof(s->last_output), "00:11:22:AA:BB:CC");
        ck_assert_int_eq(state_paired_add(s, "00:11:22:AA:BB:CC"), 0);
        ck_assert_int_eq(state_paired_add(s, "FF:EE:DD:CC:BB:AA"), 0);
}

START_TEST(defaults)
{
        struct saved_state s;
        char buf[STATE_FORMAT_MAX];

        state_defaults(&s);
        ck_assert(!s.speaker_mode);
        ck_assert_int_eq(s.routes[CAT_MEDIA], ROUTE_BLUETOOTH);
        ck_assert_int_eq(s.routes[CAT_ALERTS], ROUTE_LOCAL);
        ck_assert_int_eq(s.routes[CAT_VOICE], ROUTE_LOCAL);
        ck_assert_uint_eq(s.volume, STATE_VOLUME_DEFAULT);
        ck_assert_uint_eq(s.idle_suspend, 0);
        ck_assert(s.auto_reconnect);
        ck_assert(!s.multi_output);
        ck_assert_str_eq(s.last_output, "");
        ck_assert_uint_eq(s.n_paired, 0);

        ck_assert_int_gt(state_format(&s, buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "a2dpsrc-state 1\n"
                              "speaker-mode=false\n"
                              "route.media=bluetooth\n"
                              "route.alerts=local\n"
                              "route.voice=local\n"
                              "volume=64\n"
                              "idle-suspend=0\n"
                              "auto-reconnect=true\n"
                              "last-output=\n");
}
END_TEST

START_TEST(version_line_only_gives_defaults)
{
        struct saved_state s, d;
        char err[128];

        sample(&s);
        state_defaults(&d);
        ck_assert_int_eq(parse_str("a2dpsrc-state 1\n", &s, err, sizeof(err)), 0);
        assert_state_eq(&s, &d);
}
END_TEST

START_TEST(round_trip_every_field)
{
        struct saved_state a, b;
        char buf[STATE_FORMAT_MAX], err[128];
        int n;

        sample(&a);
        n = state_format(&a, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq(strlen(buf), (size_t)n);
        ck_assert_int_eq(state_parse(buf, (size_t)n, &b, err, sizeof(err)), 0);
        assert_state_eq(&a, &b);

        /* each field alone, both ways */
        for (int field = 0; field < 9; field++) {
                state_defaults(&a);
                switch (field) {
                case 0: a.speaker_mode = true; break;
                case 1: a.routes[CAT_MEDIA] = ROUTE_LOCAL; break;
                case 2: a.routes[CAT_VOICE] = ROUTE_BLUETOOTH; break;
                case 3: a.volume = 0; break;
                case 4: a.idle_suspend = 300; break;
                case 5: a.auto_reconnect = false; break;
                case 8: a.multi_output = true; break;
                case 6: snprintf(a.last_output, sizeof(a.last_output), "12:34:56:78:9A:BC"); break;
                case 7:
                        for (int i = 0; i < STATE_MAX_PAIRED; i++) {
                                char addr[STATE_ADDR_LEN];
                                snprintf(addr, sizeof(addr), "00:00:00:00:00:%02X", i);
                                ck_assert_int_eq(state_paired_add(&a, addr), 0);
                        }
                        break;
                }
                n = state_format(&a, buf, sizeof(buf));
                ck_assert_int_gt(n, 0);
                ck_assert_int_eq(state_parse(buf, (size_t)n, &b, err, sizeof(err)), 0);
                assert_state_eq(&a, &b);
        }
}
END_TEST

/* codecs= (Manager1.Codecs): names in registration order, any order read,
 * names a newer a2dpsrc wrote skipped, sbc required, absent = all. */
START_TEST(codecs_key)
{
        struct saved_state s;
        char buf[STATE_FORMAT_MAX], err[128];

        ck_assert_int_eq(parse_str("a2dpsrc-state 1\ncodecs=sbc,aptx,opus\n", &s, err, sizeof(err)), 0);
        ck_assert_uint_eq(s.codecs, 1u << CODEC_SBC | 1u << CODEC_APTX);
        ck_assert_int_gt(state_format(&s, buf, sizeof(buf)), 0);
        ck_assert_ptr_nonnull(strstr(buf, "\ncodecs=aptx,sbc\n"));
        ck_assert_int_eq(parse_str("a2dpsrc-state 1\ncodecs=aptx\n", &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "codecs: the list must name sbc"));
        ck_assert_int_eq(parse_str("a2dpsrc-state 1\ncodecs=\n", &s, err, sizeof(err)), -EINVAL);
        state_defaults(&s);
        ck_assert_uint_eq(s.codecs, 0);
        ck_assert_int_gt(state_format(&s, buf, sizeof(buf)), 0);
        ck_assert_ptr_null(strstr(buf, "codecs="));
        s.codecs = 1u << CODEC_APTX;            /* no sbc: never saved */
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
        s.codecs = 1u << CODEC_SBC | 1u << CODEC_COUNT;
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(addresses_upper_case)
{
        struct saved_state s;
        char buf[STATE_FORMAT_MAX], err[128];

        ck_assert_int_eq(parse_str("a2dpsrc-state 1\nlast-output=aa:bb:cc:dd:ee:0f\n"
                                   "paired=aa:bb:cc:dd:ee:0f\npaired=AA:BB:CC:DD:EE:0F\n",
                                   &s, err, sizeof(err)), 0);
        ck_assert_str_eq(s.last_output, "AA:BB:CC:DD:EE:0F");
        ck_assert_uint_eq(s.n_paired, 1);       /* the same device twice */
        ck_assert_str_eq(s.paired[0], "AA:BB:CC:DD:EE:0F");

        state_defaults(&s);
        snprintf(s.last_output, sizeof(s.last_output), "ab:cd:ef:01:23:45");
        ck_assert_int_gt(state_format(&s, buf, sizeof(buf)), 0);
        ck_assert_ptr_nonnull(strstr(buf, "last-output=AB:CD:EF:01:23:45\n"));
}
END_TEST

START_TEST(lenient_layout)
{
        struct saved_state s;
        char err[128];

        ck_assert_int_eq(parse_str("a2dpsrc-state   1  \r\n"
                                   "# written by hand\r\n"
                                   "\n"
                                   "  volume = 10 \r\n"
                                   "speaker-mode=true\n", &s, err, sizeof(err)), 0);
        ck_assert_uint_eq(s.volume, 10);
        ck_assert(s.speaker_mode);
}
END_TEST

START_TEST(unknown_keys_kept)
{
        struct saved_state s, again;
        char err[128], buf[STATE_FORMAT_MAX], big[3000];
        int n;

        ck_assert_int_eq(parse_str("a2dpsrc-state 1\n"
                                   "equalizer=rock\n"
                                   "volume=5\n"
                                   "future.thing = \x01\x7f\xff anything\n"
                                   "route.subwoofer=nowhere\n"
                                   "=\n", &s, err, sizeof(err)), 0);
        ck_assert_uint_eq(s.volume, 5);
        /* a newer a2dpsrc's settings are written back after ours: a
         * downgrade and an upgrade again lose nothing */
        n = state_format(&s, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_str_eq(buf + n - strlen("equalizer=rock\nfuture.thing=\x01\x7f\xff anything\n"
                                          "route.subwoofer=nowhere\n=\n"),
                         "equalizer=rock\nfuture.thing=\x01\x7f\xff anything\nroute.subwoofer=nowhere\n=\n");
        ck_assert_int_eq(state_parse(buf, (size_t)n, &again, err, sizeof(err)), 0);
        ck_assert_mem_eq(&s, &again, sizeof(s));
        /* what does not fit the kept kilobyte is dropped, the rest stays */
        n = snprintf(big, sizeof(big), "a2dpsrc-state 1\n");
        for (int i = 0; i < 100; i++)
                n += snprintf(big + n, sizeof(big) - (size_t)n, "future.%02d=%s\n", i, "0123456789");
        ck_assert_int_eq(state_parse(big, (size_t)n, &s, err, sizeof(err)), 0);
        ck_assert_uint_le(s.unknown_len, STATE_UNKNOWN_MAX);
        ck_assert_uint_eq(s.unknown_len, 1024 / 21 * 21);     /* 21-byte lines */
        ck_assert_int_eq(memcmp(s.unknown, "future.00=0123456789\n", 21), 0);
}
END_TEST

START_TEST(last_value_wins)
{
        struct saved_state s;
        char err[128];

        ck_assert_int_eq(parse_str("a2dpsrc-state 1\nvolume=5\nvolume=6\n", &s, err, sizeof(err)), 0);
        ck_assert_uint_eq(s.volume, 6);
}
END_TEST

/* Found by fuzz-state: an address cleared by a later empty line left its old
 * bytes behind the NUL, so two equal states compared unequal byte-wise. */
START_TEST(cleared_address_leaves_nothing_behind)
{
        struct saved_state s, d;
        char err[128];

        state_defaults(&d);
        ck_assert_int_eq(parse_str("a2dpsrc-state 1\nlast-output=00:11:22:33:44:55\n"
                                   "last-output=\n", &s, err, sizeof(err)), 0);
        ck_assert_int_eq(memcmp(&s, &d, sizeof(s)), 0);
}
END_TEST

START_TEST(malformed_fields_named)
{
        static const struct {
                const char *line;
                const char *says;
        } cases[] = {
                { "speaker-mode=yes", "speaker-mode" },
                { "speaker-mode=", "speaker-mode" },
                { "speaker-mode=TRUE", "speaker-mode" },
                { "auto-reconnect=1", "auto-reconnect" },
                { "multi-output=on", "multi-output" },
                { "route.media=speaker", "route.media" },
                { "route.alerts=", "route.alerts" },
                { "route.voice=Bluetooth", "route.voice" },
                { "volume=128", "volume" },
                { "volume=-1", "volume" },
                { "volume=", "volume" },
                { "volume=0x10", "volume" },
                { "volume=1 2", "volume" },
                { "volume=99999999999999999999999", "volume" },
                { "idle-suspend=4294967296", "idle-suspend" },
                { "idle-suspend=86401", "idle-suspend: '86401' is not 0-86400 seconds" },
                { "idle-suspend=+5", "idle-suspend" },
                { "idle-suspend=1.5", "idle-suspend" },
                { "last-output=AA:BB:CC:DD:EE", "last-output" },
                { "last-output=AA:BB:CC:DD:EE:FF:00", "last-output" },
                { "last-output=AA-BB-CC-DD-EE-FF", "last-output" },
                { "last-output=GG:BB:CC:DD:EE:FF", "last-output" },
                { "paired=", "paired" },
                { "paired=none", "paired" },
                { "just some words", "key=value" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct saved_state s, d;
                char text[256], err[128];

                snprintf(text, sizeof(text), "a2dpsrc-state 1\nvolume=3\n\n%s\n", cases[i].line);
                ck_assert_msg(parse_str(text, &s, err, sizeof(err)) == -EINVAL,
                              "accepted '%s'", cases[i].line);
                ck_assert_msg(strstr(err, "line 4: ") == err, "'%s' gave '%s'", cases[i].line, err);
                ck_assert_msg(strstr(err, cases[i].says), "'%s' gave '%s'", cases[i].line, err);
                /* nothing half-applied */
                state_defaults(&d);
                assert_state_eq(&s, &d);
        }
}
END_TEST

START_TEST(too_many_paired)
{
        char text[2048], err[128];
        struct saved_state s;
        size_t n;

        n = (size_t)snprintf(text, sizeof(text), "a2dpsrc-state 1\n");
        for (int i = 0; i <= STATE_MAX_PAIRED; i++)
                n += (size_t)snprintf(text + n, sizeof(text) - n, "paired=00:00:00:00:01:%02X\n", i);
        ck_assert_int_eq(parse_str(text, &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 34"));
        ck_assert_ptr_nonnull(strstr(err, "paired"));
}
END_TEST

START_TEST(bad_files)
{
        struct saved_state s;
        char err[128];

        ck_assert_int_eq(state_parse("", 0, &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "empty"));
        ck_assert_int_eq(state_parse(NULL, 0, &s, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(parse_str("volume=3\n", &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 1: not an a2dpsrc state file"));
        ck_assert_int_eq(parse_str("a2dpsrc-state\n", &s, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(parse_str("a2dpsrc-statex 1\n", &s, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(parse_str("a2dpsrc-state one\n", &s, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(parse_str("a2dpsrc-state 2\nvolume=3\n", &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "version 2"));
        ck_assert_int_eq(parse_str("a2dpsrc-state 1\nvolume=3", &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 2: no newline"));
        ck_assert_int_eq(state_parse("a2dpsrc-state 1\n\0\0\0\n", 21, &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 2: NUL"));
        /* err is optional, and a tiny one is not overrun */
        ck_assert_int_eq(parse_str("junk\n", &s, NULL, 0), -EINVAL);
        err[5] = 'x';
        ck_assert_int_eq(parse_str("junk\n", &s, err, 5), -EINVAL);
        ck_assert_int_eq(err[5], 'x');
}
END_TEST

START_TEST(every_truncation)
{
        struct saved_state a, b;
        char buf[STATE_FORMAT_MAX], err[128];
        int n;

        sample(&a);
        n = state_format(&a, buf, sizeof(buf));
        for (int cut = 0; cut < n; cut++) {
                int r = state_parse(buf, (size_t)cut, &b, err, sizeof(err));
                /* a cut inside a line is caught; on a line boundary the
                 * missing keys keep their defaults */
                if (cut == 0 || buf[cut - 1] != '\n')
                        ck_assert_msg(r == -EINVAL, "cut at %d accepted", cut);
                else
                        ck_assert_msg(r == 0, "cut at %d: %s", cut, err);
        }
}
END_TEST

START_TEST(random_bytes)
{
        struct saved_state s;
        char buf[600], out[STATE_FORMAT_MAX], err[64];

        srand(12345);
        for (int iter = 0; iter < 5000; iter++) {
                size_t len = (size_t)(rand() % (int)sizeof(buf));
                size_t start = 0;

                /* half of them past the version line, to reach the keys */
                if (iter & 1) {
                        memcpy(buf, "a2dpsrc-state 1\n", 16);
                        start = 16;
                        if (len < start)
                                len = start;
                }
                for (size_t i = start; i < len; i++) {
                        static const char alphabet[] = "=\n:#. 0123456789ABCDEFabcdef-trueflsvolumpaired";
                        int r = rand();
                        buf[i] = (r & 0x100) ? (char)r : alphabet[(r >> 9) % (int)(sizeof(alphabet) - 1)];
                }
                state_parse(buf, len, &s, err, sizeof(err));
                /* whatever came out must be saveable */
                ck_assert_int_ge(state_format(&s, out, sizeof(out)), 0);
        }
}
END_TEST

START_TEST(mutations_keep_round_trip)
{
        struct saved_state a, b, c;
        char orig[STATE_FORMAT_MAX], buf[STATE_FORMAT_MAX], again[STATE_FORMAT_MAX], err[128];
        int n;

        sample(&a);
        n = state_format(&a, orig, sizeof(orig));
        srand(777);
        for (int iter = 0; iter < 5000; iter++) {
                int m;

                memcpy(buf, orig, (size_t)n);
                for (int k = rand() % 4; k >= 0; k--)
                        buf[rand() % n] = (char)(rand() % 256);
                if (state_parse(buf, (size_t)n, &b, err, sizeof(err)) < 0)
                        continue;
                m = state_format(&b, again, sizeof(again));
                ck_assert_int_gt(m, 0);
                ck_assert_int_eq(state_parse(again, (size_t)m, &c, err, sizeof(err)), 0);
                assert_state_eq(&b, &c);
        }
}
END_TEST

START_TEST(format_refuses)
{
        struct saved_state s;
        char buf[STATE_FORMAT_MAX];
        int n;

        state_defaults(&s);
        s.volume = 128;
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
        state_defaults(&s);
        s.routes[CAT_VOICE] = (enum route)7;
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
        state_defaults(&s);
        snprintf(s.last_output, sizeof(s.last_output), "hello");
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
        state_defaults(&s);
        memset(s.last_output, 'A', sizeof(s.last_output));       /* no NUL */
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
        state_defaults(&s);
        s.n_paired = 2;
        snprintf(s.paired[0], sizeof(s.paired[0]), "AA:BB:CC:DD:EE:FF");
        snprintf(s.paired[1], sizeof(s.paired[1]), "aa:bb:cc:dd:ee:ff");
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);
        s.n_paired = STATE_MAX_PAIRED + 1;
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf)), -EINVAL);

        /* too small a buffer, at every size */
        sample(&s);
        n = state_format(&s, buf, sizeof(buf));
        for (int len = 0; len <= n; len++) {
                char small[STATE_FORMAT_MAX];
                ck_assert_int_eq(state_format(&s, small, (size_t)len), -ENOSPC);
        }
        ck_assert_int_eq(state_format(&s, buf, (size_t)n + 1), n);
}
END_TEST

START_TEST(format_max_fits)
{
        struct saved_state s, back;
        char buf[STATE_FORMAT_MAX], err[128];
        int n;

        sample(&s);
        s.n_paired = 0;
        /* every list full, every delay at its longest */
        for (int i = 0; i < STATE_MAX_PAIRED; i++) {
                char addr[STATE_ADDR_LEN];
                snprintf(addr, sizeof(addr), "AA:BB:CC:DD:EE:%02X", i);
                ck_assert_int_eq(state_paired_add(&s, addr), 0);
                ck_assert_int_eq(state_no_xq_set(&s, addr, true), 0);
                ck_assert_int_eq(state_rechoose_codec_set(&s, addr, true), 0);
                ck_assert_int_eq(state_speaker_delay_set(&s, addr, SPEAKER_DELAY_MAX_US), 0);
        }
        n = state_format(&s, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(state_parse(buf, (size_t)n, &back, err, sizeof(err)), 0);
        assert_state_eq(&s, &back);
}
END_TEST

/* rechoose-codec: set per address (any case), written in upper case and
 * read back, cleared whether set or not, bad addresses refused and named. */
START_TEST(rechoose_codec)
{
        struct saved_state s, back;
        char buf[STATE_FORMAT_MAX], err[128];
        int n;

        state_defaults(&s);
        ck_assert(!state_rechoose_codec(&s, "AA:BB:CC:DD:EE:01"));
        ck_assert_int_eq(state_rechoose_codec_set(&s, "aa:bb:cc:dd:ee:01", true), 0);
        ck_assert_int_eq(state_rechoose_codec_set(&s, "AA:BB:CC:DD:EE:02", true), 0);
        ck_assert_int_eq(state_rechoose_codec_set(&s, "AA:BB:CC:DD:EE:01", true), 0);
        ck_assert_uint_eq(s.n_rechoose, 2);
        ck_assert(state_rechoose_codec(&s, "AA:BB:CC:DD:EE:01"));
        ck_assert_int_eq(state_rechoose_codec_set(&s, "speaker", true), -EINVAL);
        n = state_format(&s, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_ptr_nonnull(strstr(buf, "rechoose-codec=AA:BB:CC:DD:EE:01\n"
                                          "rechoose-codec=AA:BB:CC:DD:EE:02\n"));
        ck_assert_int_eq(state_parse(buf, (size_t)n, &back, err, sizeof(err)), 0);
        assert_state_eq(&s, &back);
        ck_assert_int_eq(state_rechoose_codec_set(&s, "AA:BB:CC:DD:EE:01", false), 0);
        ck_assert_int_eq(state_rechoose_codec_set(&s, "AA:BB:CC:DD:EE:01", false), 0);
        ck_assert(!state_rechoose_codec(&s, "AA:BB:CC:DD:EE:01"));
        ck_assert(state_rechoose_codec(&s, "AA:BB:CC:DD:EE:02"));
        ck_assert_int_eq(parse_str("a2dpsrc-state 1\nrechoose-codec=AA:BB\n", &back, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 2: rechoose-codec"));
}
END_TEST

/* speaker-delay (Manager1.SetSpeakerDelay): per address, 1..max us, 0
 * forgets, read back as written, bad lines named. */
START_TEST(speaker_delays)
{
        struct saved_state s, back;
        char buf[STATE_FORMAT_MAX], err[128];
        int n;

        state_defaults(&s);
        ck_assert_uint_eq(state_speaker_delay(&s, "AA:BB:CC:DD:EE:01"), 0);
        ck_assert_int_eq(state_speaker_delay_set(&s, "aa:bb:cc:dd:ee:01", 180000), 0);
        ck_assert_int_eq(state_speaker_delay_set(&s, "AA:BB:CC:DD:EE:02", 40000), 0);
        ck_assert_uint_eq(state_speaker_delay(&s, "AA:BB:CC:DD:EE:01"), 180000);
        ck_assert_str_eq(s.delays[0].addr, "AA:BB:CC:DD:EE:01");
        ck_assert_int_eq(state_speaker_delay_set(&s, "AA:BB:CC:DD:EE:01", 150000), 0);
        ck_assert_uint_eq(s.n_delays, 2);
        ck_assert_uint_eq(state_speaker_delay(&s, "aa:bb:cc:dd:ee:01"), 150000);
        ck_assert_int_eq(state_speaker_delay_set(&s, "AA:BB:CC:DD:EE:03", SPEAKER_DELAY_MAX_US + 1), -EINVAL);
        ck_assert_int_eq(state_speaker_delay_set(&s, "speaker", 1000), -EINVAL);
        n = state_format(&s, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_ptr_nonnull(strstr(buf, "speaker-delay=AA:BB:CC:DD:EE:01 150000\n"
                                          "speaker-delay=AA:BB:CC:DD:EE:02 40000\n"));
        ck_assert_int_eq(state_parse(buf, (size_t)n, &back, err, sizeof(err)), 0);
        assert_state_eq(&s, &back);
        /* 0 forgets, keeping the others in order; forgetting none is fine */
        ck_assert_int_eq(state_speaker_delay_set(&s, "AA:BB:CC:DD:EE:01", 0), 0);
        ck_assert_int_eq(state_speaker_delay_set(&s, "AA:BB:CC:DD:EE:09", 0), 0);
        ck_assert_uint_eq(s.n_delays, 1);
        ck_assert_str_eq(s.delays[0].addr, "AA:BB:CC:DD:EE:02");
        ck_assert_uint_eq(state_speaker_delay(&s, "AA:BB:CC:DD:EE:01"), 0);
        /* full */
        for (unsigned i = 0; s.n_delays < STATE_MAX_PAIRED; i++) {
                char addr[STATE_ADDR_LEN];
                snprintf(addr, sizeof(addr), "00:00:00:00:00:%02X", i & 0xffu);
                ck_assert_int_eq(state_speaker_delay_set(&s, addr, 1), 0);
        }
        ck_assert_int_eq(state_speaker_delay_set(&s, "11:11:11:11:11:11", 1000), -ENOSPC);

        static const char *const bad[] = {
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE:01 0\n",
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE:01 1000001\n",
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE:01\n",
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE:01,1000\n",
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE 1000\n",
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE:01 -5\n",
                "a2dpsrc-state 1\nspeaker-delay=AA:BB:CC:DD:EE:01 10\nspeaker-delay=aa:bb:cc:dd:ee:01 20\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_int_eq(parse_str(bad[i], &back, err, sizeof(err)), -EINVAL);
                ck_assert_msg(strstr(err, "speaker-delay") != NULL, "%s: %s", bad[i], err);
                ck_assert_uint_eq(back.n_delays, 0);
        }
}
END_TEST

START_TEST(paired_list)
{
        struct saved_state s;

        state_defaults(&s);
        ck_assert_int_eq(state_paired_add(&s, "nope"), -EINVAL);
        ck_assert_int_eq(state_paired_add(&s, "AA:BB:CC:DD:EE:FF:"), -EINVAL);
        ck_assert_int_eq(state_paired_add(&s, "aa:bb:cc:dd:ee:01"), 0);
        ck_assert_int_eq(state_paired_add(&s, "AA:BB:CC:DD:EE:02"), 0);
        ck_assert_int_eq(state_paired_add(&s, "AA:BB:CC:DD:EE:03"), 0);
        ck_assert_int_eq(state_paired_add(&s, "AA:BB:CC:DD:EE:01"), 0);
        ck_assert_uint_eq(s.n_paired, 3);
        ck_assert_str_eq(s.paired[0], "AA:BB:CC:DD:EE:01");
        ck_assert(state_paired_contains(&s, "aa:bb:cc:dd:ee:02"));
        ck_assert(!state_paired_contains(&s, "AA:BB:CC:DD:EE:04"));
        ck_assert_int_eq(state_paired_remove(&s, "AA:BB:CC:DD:EE:04"), -ENOENT);
        ck_assert_int_eq(state_paired_remove(&s, "aa:bb:cc:dd:ee:02"), 0);
        ck_assert_uint_eq(s.n_paired, 2);
        ck_assert_str_eq(s.paired[0], "AA:BB:CC:DD:EE:01");
        ck_assert_str_eq(s.paired[1], "AA:BB:CC:DD:EE:03");
        ck_assert_int_eq(state_paired_remove(&s, "AA:BB:CC:DD:EE:03"), 0);
        ck_assert_int_eq(state_paired_remove(&s, "AA:BB:CC:DD:EE:01"), 0);
        ck_assert_uint_eq(s.n_paired, 0);

        for (int i = 0; i < STATE_MAX_PAIRED; i++) {
                char addr[STATE_ADDR_LEN];
                snprintf(addr, sizeof(addr), "00:00:00:00:00:%02X", i);
                ck_assert_int_eq(state_paired_add(&s, addr), 0);
        }
        ck_assert_int_eq(state_paired_add(&s, "00:00:00:00:01:00"), -ENOSPC);
        ck_assert_int_eq(state_paired_add(&s, "00:00:00:00:00:00"), 0);
}
END_TEST

START_TEST(route_names)
{
        ck_assert_str_eq(route_name(ROUTE_BLUETOOTH), "bluetooth");
        ck_assert_str_eq(route_name(ROUTE_LOCAL), "local");
        ck_assert_int_eq(route_from_name("local"), ROUTE_LOCAL);
        ck_assert_int_eq(route_from_name("bluetooth"), ROUTE_BLUETOOTH);
        ck_assert_int_eq(route_from_name("usb"), -EINVAL);
}
END_TEST

/* ---- files -------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
        tmptree_make(tmpdir, sizeof(tmpdir), "state");
}

static void teardown(void)
{
        if (tmpdir[0])
                tmptree_remove(tmpdir);
        tmpdir[0] = '\0';
}

static void write_file(const char *name, const char *text, size_t len)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
}

static size_t read_file(const char *name, char *buf, size_t len)
{
        char path[256];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        f = fopen(path, "r");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        n = fread(buf, 1, len - 1, f);
        buf[n] = '\0';
        fclose(f);
        return n;
}

static bool exists(const char *name)
{
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        return access(path, F_OK) == 0;
}

/* Names in tmpdir that start with prefix. */
static int count_prefixed(const char *prefix, char *first, size_t first_len)
{
        DIR *d = opendir(tmpdir);
        struct dirent *e;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
                        if (n++ == 0 && first)
                                snprintf(first, first_len, "%s", e->d_name);
                }
        closedir(d);
        return n;
}

START_TEST(save_and_load)
{
        struct saved_state a, b;
        char err[256], path[256];
        struct stat st;

        make_tmpdir();
        sample(&a);
        ck_assert_int_eq(state_save(tmpdir, &a), 0);
        ck_assert(!exists("state.tmp"));
        snprintf(path, sizeof(path), "%s/state", tmpdir);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(state_load(tmpdir, &b, err, sizeof(err)), 0);
        assert_state_eq(&a, &b);

        /* replacing it */
        a.volume = 1;
        ck_assert_int_eq(state_save(tmpdir, &a), 0);
        ck_assert_int_eq(state_load(tmpdir, &b, err, sizeof(err)), 0);
        ck_assert_uint_eq(b.volume, 1);

        /* never saves what it could not read back */
        a.volume = 200;
        ck_assert_int_eq(state_save(tmpdir, &a), -EINVAL);
        ck_assert_int_eq(state_load(tmpdir, &b, err, sizeof(err)), 0);
        ck_assert_uint_eq(b.volume, 1);
}
END_TEST

START_TEST(load_missing)
{
        struct saved_state s, d;
        char err[256], path[256];

        state_defaults(&d);
        make_tmpdir();
        sample(&s);
        ck_assert_int_eq(state_load(tmpdir, &s, err, sizeof(err)), 0);
        assert_state_eq(&s, &d);
        snprintf(path, sizeof(path), "%s/not-there", tmpdir);
        sample(&s);
        ck_assert_int_eq(state_load(path, &s, err, sizeof(err)), 0);
        assert_state_eq(&s, &d);
        ck_assert_int_eq(state_save(path, &s), -ENOENT);
}
END_TEST

START_TEST(corrupt_set_aside)
{
        static const char junk[] = "a2dpsrc-state 1\nvolume=900\n";
        struct saved_state s, d;
        char err[256], name[256], buf[256];

        state_defaults(&d);
        make_tmpdir();
        write_file("state", junk, sizeof(junk) - 1);
        sample(&s);
        ck_assert_int_eq(state_load(tmpdir, &s, err, sizeof(err)), STATE_LOAD_CORRUPT);
        assert_state_eq(&s, &d);
        ck_assert_ptr_nonnull(strstr(err, "line 2: volume"));
        ck_assert_ptr_nonnull(strstr(err, "moved to state.corrupt-"));
        ck_assert(!exists("state"));
        ck_assert_int_eq(count_prefixed("state.corrupt-", name, sizeof(name)), 1);
        read_file(name, buf, sizeof(buf));
        ck_assert_str_eq(buf, junk);

        /* a second one, within the same second, keeps the first */
        write_file("state", "garbage", 7);
        ck_assert_int_eq(state_load(tmpdir, &s, err, sizeof(err)), STATE_LOAD_CORRUPT);
        ck_assert_int_eq(count_prefixed("state.corrupt-", NULL, 0), 2);

        /* and the defaults save fine afterwards */
        ck_assert_int_eq(state_save(tmpdir, &s), 0);
        ck_assert_int_eq(state_load(tmpdir, &s, err, sizeof(err)), 0);
}
END_TEST

START_TEST(oversized_set_aside)
{
        struct saved_state s;
        char err[256];
        size_t len = STATE_MAX_FILE + 10;
        char *big = malloc(len);

        ck_assert_ptr_nonnull(big);
        memset(big, '#', len);
        memcpy(big, "a2dpsrc-state 1\n", 16);
        big[len - 1] = '\n';
        make_tmpdir();
        write_file("state", big, len);
        free(big);
        ck_assert_int_eq(state_load(tmpdir, &s, err, sizeof(err)), STATE_LOAD_CORRUPT);
        ck_assert_ptr_nonnull(strstr(err, "64 KiB"));
        ck_assert(!exists("state"));
}
END_TEST

START_TEST(not_a_file_set_aside)
{
        struct saved_state s;
        char err[256], path[256];

        make_tmpdir();
        snprintf(path, sizeof(path), "%s/state", tmpdir);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        ck_assert_int_eq(state_load(tmpdir, &s, err, sizeof(err)), STATE_LOAD_CORRUPT);
        ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
        ck_assert(!exists("state"));
}
END_TEST

static void save_sample_and_snapshot(char *before, size_t len)
{
        struct saved_state a;

        sample(&a);
        ck_assert_int_eq(state_save(tmpdir, &a), 0);
        read_file("state", before, len);
}

static void assert_old_file_intact(const char *before)
{
        struct saved_state a, b;
        char after[STATE_FORMAT_MAX], err[256];

        read_file("state", after, sizeof(after));
        ck_assert_str_eq(after, before);
        sample(&a);
        ck_assert_int_eq(state_load(tmpdir, &b, err, sizeof(err)), 0);
        assert_state_eq(&a, &b);
}

START_TEST(save_read_only_dir)
{
        struct saved_state a;
        char before[STATE_FORMAT_MAX];

        if (geteuid() == 0) {
                /* root (CAP_DAC_OVERRIDE) writes anyway, and CI runs as
                 * root: this test's own process (Check forks one per test)
                 * becomes nobody, so that the check runs there too */
                const char *fork_mode = getenv("CK_FORK");

                ck_assert_msg(!fork_mode || strcmp(fork_mode, "no") != 0,
                              "CK_FORK=no: cannot drop root for this test alone");
                ck_assert_int_eq(setgroups(0, NULL), 0);
                ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
                ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
        }
        make_tmpdir();
        save_sample_and_snapshot(before, sizeof(before));
        ck_assert_int_eq(chmod(tmpdir, 0500), 0);
        ck_assert_msg(access(tmpdir, W_OK) != 0, "a 0500 directory is writable here");
        state_defaults(&a);
        ck_assert_int_eq(state_save(tmpdir, &a), -EACCES);
        assert_old_file_intact(before);
        ck_assert(!exists("state.tmp"));
}
END_TEST

START_TEST(save_write_fails)
{
        struct saved_state a;
        char before[STATE_FORMAT_MAX];
        struct rlimit old, lim;
        int r;

        /* a full disk, as even root meets it: the file size limit makes
         * write() fail part way (EFBIG) instead of ENOSPC */
        make_tmpdir();
        save_sample_and_snapshot(before, sizeof(before));
        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 20;
        signal(SIGXFSZ, SIG_IGN);
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
        state_defaults(&a);
        r = state_save(tmpdir, &a);
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, SIG_DFL);
        ck_assert_int_eq(r, -EFBIG);
        ck_assert(!exists("state.tmp"));
        assert_old_file_intact(before);
}
END_TEST

START_TEST(save_tmp_blocked)
{
        struct saved_state a;
        char before[STATE_FORMAT_MAX], path[256];

        make_tmpdir();
        save_sample_and_snapshot(before, sizeof(before));
        snprintf(path, sizeof(path), "%s/state.tmp", tmpdir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        state_defaults(&a);
        ck_assert_int_lt(state_save(tmpdir, &a), 0);
        assert_old_file_intact(before);
}
END_TEST

START_TEST(save_not_a_dir)
{
        struct saved_state a;
        char path[256];

        make_tmpdir();
        write_file("plain", "x", 1);
        snprintf(path, sizeof(path), "%s/plain", tmpdir);
        state_defaults(&a);
        ck_assert_int_eq(state_save(path, &a), -ENOTDIR);
        snprintf(path, sizeof(path), "%s/plain/sub", tmpdir);
        ck_assert_int_eq(state_save(path, &a), -ENOTDIR);
}
END_TEST

START_TEST(torn_tmp_ignored)
{
        struct saved_state a, b;
        char before[STATE_FORMAT_MAX], err[256];

        /* a crash part way through a save leaves half a state.tmp */
        make_tmpdir();
        save_sample_and_snapshot(before, sizeof(before));
        write_file("state.tmp", "a2dpsrc-state 1\nspeaker-mode=fa", 31);
        sample(&a);
        ck_assert_int_eq(state_load(tmpdir, &b, err, sizeof(err)), 0);
        assert_state_eq(&a, &b);
        ck_assert(!exists("state.tmp"));
        ck_assert_int_eq(count_prefixed("state.corrupt", NULL, 0), 0);
        /* and the next save goes through */
        b.volume = 2;
        ck_assert_int_eq(state_save(tmpdir, &b), 0);
        ck_assert_int_eq(state_load(tmpdir, &a, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.volume, 2);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("state");
        TCase *tc = tcase_create("format");
        TCase *io = tcase_create("files");

        tcase_add_test(tc, defaults);
        tcase_add_test(tc, version_line_only_gives_defaults);
        tcase_add_test(tc, round_trip_every_field);
        tcase_add_test(tc, addresses_upper_case);
        tcase_add_test(tc, codecs_key);
        tcase_add_test(tc, lenient_layout);
        tcase_add_test(tc, unknown_keys_kept);
        tcase_add_test(tc, last_value_wins);
        tcase_add_test(tc, cleared_address_leaves_nothing_behind);
        tcase_add_test(tc, malformed_fields_named);
        tcase_add_test(tc, too_many_paired);
        tcase_add_test(tc, bad_files);
        tcase_add_test(tc, every_truncation);
        tcase_add_test(tc, random_bytes);
        tcase_add_test(tc, mutations_keep_round_trip);
        tcase_add_test(tc, format_refuses);
        tcase_add_test(tc, format_max_fits);
        tcase_add_test(tc, speaker_delays);
        tcase_add_test(tc, rechoose_codec);
        tcase_add_test(tc, paired_list);
        tcase_add_test(tc, route_names);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(io, NULL, teardown);
        tcase_add_test(io, save_and_load);
        tcase_add_test(io, load_missing);
        tcase_add_test(io, corrupt_set_aside);
        tcase_add_test(io, oversized_set_aside);
        tcase_add_test(io, not_a_file_set_aside);
        tcase_add_test(io, save_read_only_dir);
        tcase_add_test(io, save_write_fails);
        tcase_add_test(io, save_tmp_blocked);
        tcase_add_test(io, save_not_a_dir);
        tcase_add_test(io, torn_tmp_ignored);
        suite_add_tcase(s, io);
        return s;
}

CHECK_MAIN(suite)
