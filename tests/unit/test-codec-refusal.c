/* codec-refusal: what each speaker refused, bounded. */
#include <check.h>
#include <stdio.h>

#include "check-main.h"
#include "codec-refusal.h"

START_TEST(learnt_per_speaker_and_codec)
{
        struct codec_refusals r = { 0 };

        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_SBC_XQ));
        ck_assert(codec_refusal_add(&r, "00:11:22:33:44:55", CODEC_SBC_XQ));
        ck_assert(!codec_refusal_add(&r, "00:11:22:33:44:55", CODEC_SBC_XQ));
        ck_assert(codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_SBC_XQ));
        /* other codecs and speakers are apart */
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_APTX));
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:56", CODEC_SBC_XQ));
        ck_assert(codec_refusal_add(&r, "00:11:22:33:44:55", CODEC_APTX));
        ck_assert(codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_APTX));
        /* one codec forgotten, the other kept */
        codec_refusal_clear(&r, "00:11:22:33:44:55", CODEC_APTX);
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_APTX));
        ck_assert(codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_SBC_XQ));
        ck_assert(codec_refusal_add(&r, "00:11:22:33:44:55", CODEC_APTX));
        codec_refusal_clear(&r, "00:11:22:33:44:55", CODEC_COUNT);
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_SBC_XQ));
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_APTX));
        codec_refusal_clear(&r, NULL, CODEC_COUNT);
        codec_refusal_clear(&r, "", CODEC_APTX);
}
END_TEST

START_TEST(bad_input_changes_nothing)
{
        struct codec_refusals r = { 0 };

        ck_assert(!codec_refusal_add(&r, "", CODEC_SBC_XQ));
        ck_assert(!codec_refusal_add(&r, "00:11:22:33:44:55", CODEC_COUNT));
        ck_assert(!codec_refusal_has(&r, "", CODEC_SBC_XQ));
        ck_assert(!codec_refusal_has(&r, NULL, CODEC_SBC_XQ));
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:55", CODEC_COUNT));
}
END_TEST

START_TEST(bounded_oldest_goes)
{
        struct codec_refusals r = { 0 };
        char a[18];

        for (int i = 0; i < CODEC_REFUSAL_DEVICES + 1; i++) {
                snprintf(a, sizeof(a), "00:11:22:33:44:%02X", i);
                ck_assert(codec_refusal_add(&r, a, CODEC_AAC));
        }
        /* the first made room for the last */
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:00", CODEC_AAC));
        ck_assert(codec_refusal_has(&r, "00:11:22:33:44:01", CODEC_AAC));
        snprintf(a, sizeof(a), "00:11:22:33:44:%02X", CODEC_REFUSAL_DEVICES);
        ck_assert(codec_refusal_has(&r, a, CODEC_AAC));
}
END_TEST

START_TEST(refusals_since_the_last_stream_are_undone_together)
{
        struct codec_refusals r = { 0 };
        const char *a = "00:11:22:33:44:55";

        /* refused aptX, then streamed: that one stands */
        ck_assert(codec_refusal_add(&r, a, CODEC_APTX));
        codec_refusal_confirm(&r, a);
        ck_assert(!codec_refusal_busy(&r, a));
        /* busy: AAC and SBC-XQ refused, then SBC too */
        ck_assert(codec_refusal_add(&r, a, CODEC_AAC));
        ck_assert(codec_refusal_add(&r, a, CODEC_SBC_XQ));
        ck_assert_uint_eq(codec_refusal_sbc_refused(&r, a), 2);
        ck_assert(!codec_refusal_has(&r, a, CODEC_AAC));
        ck_assert(!codec_refusal_has(&r, a, CODEC_SBC_XQ));
        ck_assert(codec_refusal_has(&r, a, CODEC_APTX));
        ck_assert(codec_refusal_busy(&r, a));
        /* busy until it streams, and what it refused meanwhile is
         * forgotten then */
        ck_assert(codec_refusal_add(&r, a, CODEC_AAC));
        ck_assert(codec_refusal_busy(&r, a));
        codec_refusal_confirm(&r, a);
        ck_assert(!codec_refusal_busy(&r, a));
        ck_assert(!codec_refusal_has(&r, a, CODEC_AAC));
        ck_assert(codec_refusal_has(&r, a, CODEC_APTX));
        /* refused by a free speaker: believed once it streams */
        ck_assert(codec_refusal_add(&r, a, CODEC_AAC));
        codec_refusal_confirm(&r, a);
        ck_assert(codec_refusal_has(&r, a, CODEC_AAC));
        ck_assert_uint_eq(codec_refusal_sbc_refused(&r, a), 0);
        ck_assert(codec_refusal_has(&r, a, CODEC_AAC));
        /* a speaker that never refused anything is busy all the same */
        ck_assert_uint_eq(codec_refusal_sbc_refused(&r, "00:11:22:33:44:56"), 0);
        ck_assert(codec_refusal_busy(&r, "00:11:22:33:44:56"));
        ck_assert(!codec_refusal_has(&r, "00:11:22:33:44:56", CODEC_SBC));
        codec_refusal_confirm(&r, "00:11:22:33:44:56");
        ck_assert(!codec_refusal_busy(&r, "00:11:22:33:44:56"));
        ck_assert_uint_eq(codec_refusal_sbc_refused(&r, NULL), 0);
        ck_assert_uint_eq(codec_refusal_sbc_refused(&r, ""), 0);
        codec_refusal_confirm(&r, "");
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("codec-refusal");
        TCase *tc = tcase_create("refusals");

        tcase_add_test(tc, learnt_per_speaker_and_codec);
        tcase_add_test(tc, bad_input_changes_nothing);
        tcase_add_test(tc, bounded_oldest_goes);
        tcase_add_test(tc, refusals_since_the_last_stream_are_undone_together);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
