/* aptX and aptX HD as codec objects, the pure part: the capabilities we
 * advertise, the configuration chosen within a speaker's capabilities, the
 * validation of a configuration (ours or the speaker's), and the errors
 * that name the field for every bad blob. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "a2dp-aptx.h"

static const struct a2dp_codec *const both[] = { &a2dp_codec_aptx, &a2dp_codec_aptx_hd };

/* A speaker's capabilities for codec c with byte 6 = bits (and aptX HD's
 * reserved bytes). */
static size_t caps_of(const struct a2dp_codec *c, uint8_t bits, uint8_t *out)
{
        size_t n = c == &a2dp_codec_aptx ? APTX_CAPS_LEN : APTX_HD_CAPS_LEN;

        memset(out, 0, n);
        a2dp_vendor_header_write(out, c->vendor_id, c->vendor_codec_id);
        out[6] = bits;
        return n;
}

START_TEST(capabilities_bytes)
{
        static const uint8_t aptx[] = { 0x4f, 0x00, 0x00, 0x00, 0x01, 0x00, 0xf2 };
        static const uint8_t hd[] = { 0xd7, 0x00, 0x00, 0x00, 0x24, 0x00, 0xf2, 0, 0, 0, 0 };
        uint8_t out[A2DP_CODEC_BLOB_MAX];

        memset(out, 0xee, sizeof(out));
        ck_assert_uint_eq(a2dp_codec_aptx.capabilities(out, sizeof(out)), sizeof(aptx));
        ck_assert_mem_eq(out, aptx, sizeof(aptx));
        memset(out, 0xee, sizeof(out));
        ck_assert_uint_eq(a2dp_codec_aptx_hd.capabilities(out, sizeof(out)), sizeof(hd));
        ck_assert_mem_eq(out, hd, sizeof(hd));
        /* no room: nothing written */
        ck_assert_uint_eq(a2dp_codec_aptx_hd.capabilities(out, 10), 0);
}
END_TEST

START_TEST(identity)
{
        ck_assert_str_eq(a2dp_codec_aptx.name, "aptx");
        ck_assert_str_eq(a2dp_codec_aptx_hd.name, "aptx-hd");
        ck_assert_uint_eq(a2dp_codec_aptx.codec_id, A2DP_CODEC_VENDOR);
        ck_assert_uint_eq(a2dp_codec_aptx.vendor_id, 0x4f);
        ck_assert_uint_eq(a2dp_codec_aptx.vendor_codec_id, 0x0001);
        ck_assert_uint_eq(a2dp_codec_aptx_hd.vendor_id, 0xd7);
        ck_assert_uint_eq(a2dp_codec_aptx_hd.vendor_codec_id, 0x0024);
        ck_assert_int_eq(a2dp_codec_aptx.index, CODEC_APTX);
        ck_assert_int_eq(a2dp_codec_aptx_hd.index, CODEC_APTX_HD);
        ck_assert(!a2dp_codec_aptx.can_fragment);
}
END_TEST

/* Our own capabilities, offered back by a speaker, give each rate asked
 * for, stereo, and a configuration that parses. */
START_TEST(select_prefers_capture_rate)
{
        static const unsigned rates[] = { 16000, 32000, 44100, 48000 };
        const struct a2dp_codec *c = both[_i];
        uint8_t caps[A2DP_CODEC_BLOB_MAX], config[A2DP_CODEC_BLOB_MAX];
        size_t n = c->capabilities(caps, sizeof(caps));
        struct codec_info info;
        char err[160] = "";
        size_t r;

        for (r = 0; r < 4; r++) {
                struct codec_prefs prefs = { .rate = rates[r] };
                int len = c->select(caps, n, &prefs, config, sizeof(config), err, sizeof(err));

                ck_assert_msg(len == (int)n, "%s %u: %d %s", c->name, rates[r], len, err);
                ck_assert_mem_eq(config, caps, 6);
                ck_assert_int_eq(__builtin_popcount(config[6] & 0xf0), 1);
                ck_assert_uint_eq(config[6] & 0x0f, APTX_MODE_STEREO);
                ck_assert_int_eq(c->parse(config, (size_t)len, &info, err, sizeof(err)), 0);
                ck_assert_uint_eq(info.rate, rates[r]);
                ck_assert_uint_eq(info.channels, 2);
                ck_assert(c->usable(caps, n, &prefs));
        }
}
END_TEST

START_TEST(select_default_48k_then_fallbacks)
{
        const struct a2dp_codec *c = both[_i];
        uint8_t caps[A2DP_CODEC_BLOB_MAX], config[A2DP_CODEC_BLOB_MAX];
        struct codec_prefs p44 = { .rate = 44100 };
        size_t n;

        n = caps_of(c, 0xf2, caps);
        ck_assert_int_eq(c->select(caps, n, NULL, config, sizeof(config), NULL, 0), (int)n);
        ck_assert_uint_eq(config[6], APTX_FREQ_48000 | APTX_MODE_STEREO);
        /* capture at 44.1 kHz, speaker only 48 kHz */
        n = caps_of(c, APTX_FREQ_48000 | APTX_MODE_STEREO, caps);
        ck_assert_int_eq(c->select(caps, n, &p44, config, sizeof(config), NULL, 0), (int)n);
        ck_assert_uint_eq(config[6], APTX_FREQ_48000 | APTX_MODE_STEREO);
        /* neither 48 nor 44.1: 32 before 16 */
        n = caps_of(c, APTX_FREQ_32000 | APTX_FREQ_16000 | 0x03, caps);
        ck_assert_int_eq(c->select(caps, n, &p44, config, sizeof(config), NULL, 0), (int)n);
        ck_assert_uint_eq(config[6], APTX_FREQ_32000 | APTX_MODE_STEREO);
}
END_TEST

static void assert_refused(const struct a2dp_codec *c, const uint8_t *caps, size_t n, int want,
                           const char *needle)
{
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        char err[200] = "";
        struct codec_prefs prefs = { .rate = 48000 };

        memset(config, 0xee, sizeof(config));
        ck_assert_int_eq(c->select(caps, n, &prefs, config, sizeof(config), err, sizeof(err)),
                         want);
        ck_assert_msg(strstr(err, needle), "%s: \"%s\" lacks \"%s\"", c->name, err, needle);
        ck_assert_msg(strstr(err, c->label), "%s: \"%s\" names no codec", c->name, err);
        ck_assert(!c->usable(caps, n, &prefs));
}

START_TEST(select_refuses_bad_caps)
{
        const struct a2dp_codec *c = both[_i];
        const struct a2dp_codec *other = both[1 - _i];
        uint8_t caps[A2DP_CODEC_BLOB_MAX];
        size_t n;

        n = caps_of(c, 0xf2, caps);
        assert_refused(c, caps, n - 1, -EINVAL, "bytes");
        assert_refused(c, caps, 0, -EINVAL, "bytes");
        assert_refused(c, NULL, 0, -EINVAL, "bytes");
        n = caps_of(c, 0x02, caps);
        assert_refused(c, caps, n, -EINVAL, "sampling frequency");
        n = caps_of(c, 0xf0, caps);
        assert_refused(c, caps, n, -EINVAL, "channel mode");
        n = caps_of(c, 0xf1, caps);
        assert_refused(c, caps, n, -ENOTSUP, "stereo");
        /* the other aptX's blob (long enough for both) */
        n = caps_of(other, 0xf2, caps);
        if (n >= (c == &a2dp_codec_aptx ? APTX_CAPS_LEN : APTX_HD_CAPS_LEN))
                assert_refused(c, caps, n, -EINVAL, "vendor");
        /* right vendor, wrong codec id */
        n = caps_of(c, 0xf2, caps);
        caps[4] ^= 0x40;
        assert_refused(c, caps, n, -EINVAL, "codec 0x");
        /* no room for the configuration */
        {
                uint8_t small[4];
                char err[120] = "";

                n = caps_of(c, 0xf2, caps);
                ck_assert_int_eq(c->select(caps, n, NULL, small, sizeof(small), err, sizeof(err)),
                                 -EINVAL);
                ck_assert_ptr_nonnull(strstr(err, "no room"));
        }
}
END_TEST

/* Trailing bytes in a speaker's capabilities are ignored; our
 * configuration has the codec's own length. */
START_TEST(select_ignores_trailing_caps_bytes)
{
        const struct a2dp_codec *c = both[_i];
        uint8_t caps[A2DP_CODEC_BLOB_MAX], config[A2DP_CODEC_BLOB_MAX];
        size_t n = caps_of(c, 0xf2, caps);

        caps[n] = 0x55;
        ck_assert_int_eq(c->select(caps, n + 1, NULL, config, sizeof(config), NULL, 0), (int)n);
}
END_TEST

static void assert_parse_fails(const struct a2dp_codec *c, const uint8_t *config, size_t n,
                               const char *needle)
{
        struct codec_info info;
        char err[200] = "";
        char desc[64];

        ck_assert_int_eq(c->parse(config, n, &info, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, needle), "%s: \"%s\" lacks \"%s\"", c->name, err, needle);
        ck_assert_msg(strstr(err, "configuration"), "%s: \"%s\"", c->name, err);
        c->describe(config, n, 0, desc, sizeof(desc));
        ck_assert_ptr_nonnull(strstr(desc, "invalid"));
}

START_TEST(parse_refuses_bad_config)
{
        const struct a2dp_codec *c = both[_i];
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        size_t n;

        n = caps_of(c, APTX_FREQ_44100 | APTX_MODE_STEREO, config);
        assert_parse_fails(c, config, n - 1, "bytes");
        assert_parse_fails(c, config, n + 1, "bytes");
        assert_parse_fails(c, NULL, 0, "bytes");
        n = caps_of(c, APTX_FREQ_44100 | APTX_FREQ_48000 | APTX_MODE_STEREO, config);
        assert_parse_fails(c, config, n, "sampling frequency 0x30 has 2 bits");
        n = caps_of(c, APTX_MODE_STEREO, config);
        assert_parse_fails(c, config, n, "sampling frequency 0x00 has 0 bits");
        n = caps_of(c, APTX_FREQ_48000 | APTX_MODE_STEREO | APTX_MODE_MONO, config);
        assert_parse_fails(c, config, n, "channel mode 0x3 has 2 bits");
        n = caps_of(c, APTX_FREQ_48000, config);
        assert_parse_fails(c, config, n, "channel mode 0x0 has 0 bits");
        n = caps_of(c, APTX_FREQ_48000 | APTX_MODE_MONO, config);
        assert_parse_fails(c, config, n, "mono is not supported");
        n = caps_of(c, APTX_FREQ_48000 | 0x08, config);
        assert_parse_fails(c, config, n, "channel mode");
        n = caps_of(both[1 - _i], APTX_FREQ_48000 | APTX_MODE_STEREO, config);
        if (n == (c == &a2dp_codec_aptx ? APTX_CAPS_LEN : APTX_HD_CAPS_LEN))
                assert_parse_fails(c, config, n, "vendor");
}
END_TEST

START_TEST(parse_info_and_describe)
{
        static const struct {
                uint8_t bit;
                unsigned rate;
        } t[] = {
                { APTX_FREQ_16000, 16000 },
                { APTX_FREQ_32000, 32000 },
                { APTX_FREQ_44100, 44100 },
                { APTX_FREQ_48000, 48000 },
        };
        const struct a2dp_codec *c = both[_i];
        unsigned codeword = c == &a2dp_codec_aptx ? 4 : 6;
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_info info;
        char desc[64], want[64];
        size_t i, n;

        for (i = 0; i < 4; i++) {
                n = caps_of(c, t[i].bit | APTX_MODE_STEREO, config);
                ck_assert_int_eq(c->parse(config, n, &info, NULL, 0), 0);
                ck_assert_uint_eq(info.rate, t[i].rate);
                ck_assert_uint_eq(info.channels, 2);
                /* 8 codewords: the parity sync's period */
                ck_assert_uint_eq(info.frame_samples, 32);
                ck_assert_uint_eq(info.delay_samples, 90);
                /* one codeword per 4 stereo samples: 384 / 576 kbit/s at 48 kHz */
                ck_assert_uint_eq(info.max_bitrate, t[i].rate * codeword * 2);
                ck_assert_uint_eq(info.frame_bytes, 8 * codeword);
                ck_assert_uint_eq(info.packet_overhead, codeword == 4 ? 0 : RTP_HEADER_LEN);
                /* the sender's packet at a typical MTU: 27 aptX frames (864
                 * bytes), 18 aptX HD frames (12 + 864) */
                ck_assert_uint_eq(a2dp_codec_packet_samples(c, &info, 895),
                                  (codeword == 4 ? 27 : 18) * 32);
                /* a full packet is 20 ms or less at 44.1 and 48 kHz */
                if (t[i].rate >= 44100)
                        ck_assert_uint_le(info.frame_samples * c->max_frames * 1000 / t[i].rate,
                                          20);
                c->describe(config, n, 0, desc, sizeof(desc));
                snprintf(want, sizeof(want), "%s %u Hz", c->label, t[i].rate);
                ck_assert_str_eq(desc, want);
        }
        /* aptX HD's reserved bytes are not ours to judge */
        if (c == &a2dp_codec_aptx_hd) {
                n = caps_of(c, APTX_FREQ_48000 | APTX_MODE_STEREO, config);
                config[10] = 0x5a;
                ck_assert_int_eq(c->parse(config, n, &info, NULL, 0), 0);
        }
}
END_TEST

/* What the table's lookup goes by: an aptX SEP is never taken for aptX
 * HD's, nor the reverse. */
START_TEST(matched_by_vendor_header)
{
        uint8_t caps[A2DP_CODEC_BLOB_MAX];
        size_t n;

        n = a2dp_codec_aptx.capabilities(caps, sizeof(caps));
        ck_assert(a2dp_codec_matches(&a2dp_codec_aptx, A2DP_CODEC_VENDOR, caps, n));
        ck_assert(!a2dp_codec_matches(&a2dp_codec_aptx_hd, A2DP_CODEC_VENDOR, caps, n));
        ck_assert(!a2dp_codec_matches(&a2dp_codec_aptx, A2DP_CODEC_SBC, caps, n));
        n = a2dp_codec_aptx_hd.capabilities(caps, sizeof(caps));
        ck_assert(a2dp_codec_matches(&a2dp_codec_aptx_hd, A2DP_CODEC_VENDOR, caps, n));
        ck_assert(!a2dp_codec_matches(&a2dp_codec_aptx, A2DP_CODEC_VENDOR, caps, n));
}
END_TEST

/* A configuration the encoder cannot send: a packet too small for one
 * frame (frames are never split), or a bad blob. No library needed to be
 * refused. */
START_TEST(encoder_refuses_small_mtu)
{
        const struct a2dp_codec *c = both[_i];
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_encoder *e = NULL;
        char err[160] = "";
        size_t n = caps_of(c, APTX_FREQ_48000 | APTX_MODE_STEREO, config);
        /* 32 samples: 8 codewords, and aptX HD's RTP header */
        size_t frame = c == &a2dp_codec_aptx ? 4u * 8 : 6u * 8 + RTP_HEADER_LEN;

        ck_assert_int_eq(c->encoder_new(config, n, frame - 1, &e, err, sizeof(err)), -EMSGSIZE);
        ck_assert_ptr_null(e);
        ck_assert_ptr_nonnull(strstr(err, "MTU"));
        config[6] = APTX_FREQ_48000 | APTX_MODE_MONO;
        ck_assert_int_eq(c->encoder_new(config, n, 895, &e, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(e);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("a2dp-aptx");
        TCase *tc = tcase_create("pure");

        tcase_add_test(tc, capabilities_bytes);
        tcase_add_test(tc, identity);
        tcase_add_loop_test(tc, select_prefers_capture_rate, 0, 2);
        tcase_add_loop_test(tc, select_default_48k_then_fallbacks, 0, 2);
        tcase_add_loop_test(tc, select_refuses_bad_caps, 0, 2);
        tcase_add_loop_test(tc, select_ignores_trailing_caps_bytes, 0, 2);
        tcase_add_loop_test(tc, parse_refuses_bad_config, 0, 2);
        tcase_add_loop_test(tc, parse_info_and_describe, 0, 2);
        tcase_add_test(tc, matched_by_vendor_header);
        tcase_add_loop_test(tc, encoder_refuses_small_mtu, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(make_suite)
