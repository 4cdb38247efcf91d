/* The codec table (a2dp-codecs.c) and SBC-XQ's choice (a2dp-sbc-xq.c):
 * registration order, lookup, vendor headers, packet sizing; SBC-XQ only
 * for speakers with dual channel and a high enough maximum bitpool, and
 * never for one opted out. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <string.h>

#include "a2dp-codec.h"
#include "a2dp-sbc.h"
#include "sbc-config.h"

START_TEST(table_by_index_and_name)
{
        for (unsigned i = 0; i < CODEC_COUNT; i++) {
                const struct a2dp_codec *c = a2dp_codecs[i];

                if (!c)
                        continue;
                ck_assert_uint_eq(c->index, i);
                ck_assert_ptr_eq(a2dp_codec_by_name(c->name), c);
                ck_assert_ptr_nonnull(c->label);
                ck_assert(c->max_frames >= 1);
        }
        ck_assert_ptr_eq(a2dp_codec_by_name("sbc"), &a2dp_codec_sbc);
        ck_assert_ptr_eq(a2dp_codec_by_name("sbc-xq"), &a2dp_codec_sbc_xq);
        ck_assert_ptr_null(a2dp_codec_by_name("SBC"));
        ck_assert_ptr_null(a2dp_codec_by_name("mp3"));
        ck_assert_ptr_null(a2dp_codec_by_name(NULL));
}
END_TEST

/* Registration follows the default preference, best first, and skips what
 * is not built: SBC-XQ before SBC, SBC last. */
START_TEST(registration_order_is_the_preference)
{
        static const enum a2dp_codec_index want[CODEC_COUNT] = {
                CODEC_LDAC, CODEC_APTX_HD, CODEC_APTX, CODEC_AAC, CODEC_SBC_XQ, CODEC_SBC,
        };
        unsigned n = 0, w = 0;
        const struct a2dp_codec *c;

        ck_assert_mem_eq(a2dp_codec_default_order, want, sizeof(want));
        for (; (c = a2dp_codec_registered(n)); n++) {
                while (w < CODEC_COUNT && want[w] != c->index)
                        w++;
                ck_assert_uint_lt(w, CODEC_COUNT);      /* in order, each once */
                w++;
        }
        ck_assert_uint_ge(n, 2);
        ck_assert_ptr_eq(a2dp_codec_registered(n - 1), &a2dp_codec_sbc);
        ck_assert_ptr_eq(a2dp_codec_registered(n - 2), &a2dp_codec_sbc_xq);
        ck_assert_ptr_null(a2dp_codec_registered(n));
}
END_TEST

START_TEST(vendor_header_round_trip)
{
        uint8_t b[8];

        a2dp_vendor_header_write(b, 0x0000012d, 0x00aa);        /* Sony, LDAC */
        ck_assert_uint_eq(b[0], 0x2d);
        ck_assert_uint_eq(b[1], 0x01);
        ck_assert_uint_eq(b[4], 0xaa);
        ck_assert(a2dp_vendor_header_is(b, 6, 0x12d, 0xaa));
        ck_assert(!a2dp_vendor_header_is(b, 5, 0x12d, 0xaa));
        ck_assert(!a2dp_vendor_header_is(b, 6, 0x4f, 0x01));
        ck_assert(a2dp_codec_matches(&a2dp_codec_sbc, A2DP_CODEC_SBC, b, 4));
        ck_assert(!a2dp_codec_matches(&a2dp_codec_sbc, A2DP_CODEC_VENDOR, b, 6));
        ck_assert(!a2dp_codec_matches(NULL, A2DP_CODEC_SBC, b, 4));
}
END_TEST

/* Packets of the A2DP high-quality joint stereo configuration at a
 * 895-byte MTU: 7 frames of 119 bytes, as the sender makes them. */
START_TEST(packet_samples)
{
        static const uint8_t c44[4] = { 0x21, 0x15, 2, 53 };
        struct codec_info info;

        ck_assert_int_eq(a2dp_codec_sbc.parse(c44, 4, &info, NULL, 0), 0);
        ck_assert_uint_eq(info.frame_bytes, 119);
        ck_assert_uint_eq(a2dp_codec_packet_samples(&a2dp_codec_sbc, &info, 895), 7 * 128);
        ck_assert_uint_eq(a2dp_codec_packet_samples(&a2dp_codec_sbc, &info, 100), 128);
        info.frame_bytes = 0;   /* estimated from the bitrate instead */
        ck_assert_uint_eq(a2dp_codec_packet_samples(&a2dp_codec_sbc, &info, 895), 7 * 128);
        ck_assert_uint_eq(a2dp_codec_packet_samples(&a2dp_codec_sbc, &info, 4096), 15 * 128);
}
END_TEST

/* ---- SBC-XQ ------------------------------------------------------------- */

START_TEST(xq_is_dual_channel_at_about_452_kbits)
{
        static const uint8_t caps[4] = { 0xff, 0xff, 2, 53 };
        struct codec_prefs prefs = { .rate = 44100 };
        struct codec_info info;
        struct sbc_params p;
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        char desc[96];
        int n = a2dp_codec_sbc_xq.select(caps, 4, &prefs, config, sizeof(config), NULL, 0);

        ck_assert_int_eq(n, 4);
        ck_assert_uint_eq(config[0], SBC_CAP_FREQ_44100 | SBC_CAP_MODE_DUAL);
        ck_assert_uint_eq(config[1], SBC_CAP_BLOCKS_16 | SBC_CAP_SUBBANDS_8 | SBC_CAP_ALLOC_LOUDNESS);
        ck_assert_uint_eq(config[3], 38);
        ck_assert_int_eq(sbc_config_parse(config, 4, &p, NULL, 0), 0);
        ck_assert_uint_eq(sbc_frame_length(&p, 38), 164);
        ck_assert_int_eq(a2dp_codec_sbc_xq.parse(config, 4, &info, NULL, 0), 0);
        ck_assert_uint_eq(info.max_bitrate, 452025);     /* 164 B * 8 * 44100 / 128 */
        a2dp_codec_sbc_xq.describe(config, 4, 0, desc, sizeof(desc));
        ck_assert_str_eq(desc, "SBC-XQ 44100 Hz dual-channel 16/8 loudness bitpool 38");

        prefs.rate = 48000;
        ck_assert_int_eq(a2dp_codec_sbc_xq.select(caps, 4, &prefs, config, sizeof(config), NULL, 0), 4);
        ck_assert_uint_eq(config[0], SBC_CAP_FREQ_48000 | SBC_CAP_MODE_DUAL);
        ck_assert_uint_eq(config[3], 35);
        ck_assert_int_eq(a2dp_codec_sbc_xq.parse(config, 4, &info, NULL, 0), 0);
        ck_assert_uint_ge(info.max_bitrate, 450000);
        ck_assert_uint_le(info.max_bitrate, 460000);
}
END_TEST

START_TEST(xq_only_where_the_speaker_allows_it)
{
        static const struct {
                uint8_t caps[4];
                const char *why;
        } no[] = {
                { { 0xfb, 0xff, 2, 53 }, "dual channel" },      /* no dual channel */
                { { 0xff, 0xff, 2, 35 }, "maximum bitpool" },   /* 35 < 38 at 44.1 kHz */
                { { 0xff, 0xef, 2, 53 }, "16 blocks" },         /* no 16 blocks */
                { { 0xff, 0xfe, 2, 53 }, "loudness" },
                { { 0xcf, 0xff, 2, 53 }, "44.1 or 48" },        /* 16/32 kHz only */
                { { 0xff, 0xff, 40, 53 }, "minimum bitpool" },
        };
        struct codec_prefs prefs = { .rate = 44100 };
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        char err[160];

        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
                ck_assert(!a2dp_codec_sbc_xq.usable(no[i].caps, 4, &prefs));
                ck_assert_int_lt(a2dp_codec_sbc_xq.select(no[i].caps, 4, &prefs, config, sizeof(config),
                                                          err, sizeof(err)), 0);
                ck_assert_msg(strstr(err, no[i].why), "%s: %s", no[i].why, err);
                /* plain SBC still takes every one of them */
                ck_assert(a2dp_codec_sbc.usable(no[i].caps, 4, &prefs));
        }
        /* exactly the XQ bitpool is enough */
        ck_assert(a2dp_codec_sbc_xq.usable((const uint8_t[]){ 0xff, 0xff, 2, 38 }, 4, &prefs));
        /* 48 kHz wants 35 only */
        prefs.rate = 48000;
        ck_assert(a2dp_codec_sbc_xq.usable((const uint8_t[]){ 0x1f, 0xff, 2, 35 }, 4, &prefs));
        ck_assert(!a2dp_codec_sbc_xq.usable((const uint8_t[]){ 0x1f, 0xff, 2, 34 }, 4, &prefs));
        ck_assert(!a2dp_codec_sbc_xq.usable((const uint8_t[]){ 0xff, 0xff, 2 }, 3, &prefs));
}
END_TEST

START_TEST(xq_opt_out)
{
        static const uint8_t caps[4] = { 0xff, 0xff, 2, 53 };
        struct codec_prefs prefs = { .rate = 44100, .no_xq = true };
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        char err[160];

        ck_assert(!a2dp_codec_sbc_xq.usable(caps, 4, &prefs));
        ck_assert_int_eq(a2dp_codec_sbc_xq.select(caps, 4, &prefs, config, sizeof(config), err, sizeof(err)),
                         -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "turned off"));
        ck_assert_int_eq(a2dp_codec_sbc.select(caps, 4, &prefs, config, sizeof(config), err, sizeof(err)), 4);
        ck_assert_uint_eq(config[0] & 0x0f, SBC_CAP_MODE_JOINT);
}
END_TEST

/* A speaker that sets up plain SBC on the SBC-XQ endpoint itself is shown
 * as SBC. */
START_TEST(xq_endpoint_describes_plain_sbc_as_sbc)
{
        static const uint8_t joint[4] = { 0x21, 0x15, 2, 53 };
        char desc[96];

        a2dp_codec_sbc_xq.describe(joint, 4, 0, desc, sizeof(desc));
        ck_assert_str_eq(desc, "SBC 44100 Hz joint-stereo 16/8 loudness bitpool 53");
}
END_TEST

/* The bitpool ladder congestion steps down: an eighth at a time, down to
 * the configuration's minimum, never below. */
START_TEST(sbc_levels_are_a_bitpool_ladder)
{
        static const uint8_t c44[4] = { 0x21, 0x15, 30, 53 };
        unsigned bp[32], n;
        struct sbc_params p;

        ck_assert_int_eq(sbc_config_parse(c44, 4, &p, NULL, 0), 0);
        n = sbc_bitpool_ladder(&p, bp, 32);
        ck_assert_uint_eq(bp[0], 53);
        ck_assert_uint_eq(bp[1], 47);
        ck_assert_uint_eq(bp[n - 1], 30);
        for (unsigned i = 1; i < n; i++)
                ck_assert_uint_lt(bp[i], bp[i - 1]);
}
END_TEST

static Suite *codecs_suite(void)
{
        Suite *s = suite_create("a2dp-codecs");
        TCase *tc = tcase_create("table");

        tcase_add_test(tc, table_by_index_and_name);
        tcase_add_test(tc, registration_order_is_the_preference);
        tcase_add_test(tc, vendor_header_round_trip);
        tcase_add_test(tc, packet_samples);
        tcase_add_test(tc, xq_is_dual_channel_at_about_452_kbits);
        tcase_add_test(tc, xq_only_where_the_speaker_allows_it);
        tcase_add_test(tc, xq_opt_out);
        tcase_add_test(tc, xq_endpoint_describes_plain_sbc_as_sbc);
        tcase_add_test(tc, sbc_levels_are_a_bitpool_ladder);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(codecs_suite)
