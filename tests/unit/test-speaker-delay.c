/* speaker-delay.c: which delay counts for a speaker. */
#include <check.h>

#include "check-main.h"
#include "speaker-delay.h"

START_TEST(report_wins)
{
        enum speaker_delay_source src = SPEAKER_DELAY_ASSUMED;

        /* BlueZ's Delay is in 1/10 ms: 1800 is 180 ms */
        ck_assert_uint_eq(speaker_delay_us(true, 1800, 40000, &src), 180000);
        ck_assert_int_eq(src, SPEAKER_DELAY_REPORTED);
        ck_assert_str_eq(speaker_delay_source_name(src), "reported");
        /* a report of 0 is a report (a speaker with no buffer to speak of) */
        ck_assert_uint_eq(speaker_delay_us(true, 0, 40000, &src), 0);
        ck_assert_int_eq(src, SPEAKER_DELAY_REPORTED);
        ck_assert_uint_eq(speaker_delay_us(true, 65535, 0, NULL), 6553500);
}
END_TEST

START_TEST(set_then_assumed)
{
        enum speaker_delay_source src = SPEAKER_DELAY_REPORTED;

        ck_assert_uint_eq(speaker_delay_us(false, 1800, 40000, &src), 40000);
        ck_assert_int_eq(src, SPEAKER_DELAY_SET);
        ck_assert_str_eq(speaker_delay_source_name(src), "set");
        ck_assert_uint_eq(speaker_delay_us(false, 0, 0, &src), SPEAKER_DELAY_ASSUMED_US);
        ck_assert_int_eq(src, SPEAKER_DELAY_ASSUMED);
        ck_assert_str_eq(speaker_delay_source_name(src), "assumed");
        ck_assert_uint_eq(speaker_delay_us(false, 0, 0, NULL), SPEAKER_DELAY_ASSUMED_US);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("speaker-delay");
        TCase *tc = tcase_create("choice");

        tcase_add_test(tc, report_wins);
        tcase_add_test(tc, set_then_assumed);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
