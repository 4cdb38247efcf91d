/* Saturating mix and gain. */
#include <check.h>

#include "check-main.h"
#include <stdlib.h>

#include "mixer.h"

START_TEST(add_saturates)
{
        int16_t dst[6] = { 100, 30000, -30000, 0, INT16_MAX, INT16_MIN };
        const int16_t src[6] = { 23, 30000, -30000, -1, 1, -1 };

        mixer_add(dst, src, 6);
        ck_assert_int_eq(dst[0], 123);
        ck_assert_int_eq(dst[1], INT16_MAX);
        ck_assert_int_eq(dst[2], INT16_MIN);
        ck_assert_int_eq(dst[3], -1);
        ck_assert_int_eq(dst[4], INT16_MAX);
        ck_assert_int_eq(dst[5], INT16_MIN);
}
END_TEST

START_TEST(gain)
{
        int16_t pcm[4] = { 1270, -1270, INT16_MAX, INT16_MIN };

        mixer_gain(pcm, 4, 127);
        ck_assert_int_eq(pcm[0], 1270);
        mixer_gain(pcm, 4, 254);        /* above unity is unity */
        ck_assert_int_eq(pcm[0], 1270);
        mixer_gain(pcm, 4, 64);
        ck_assert_int_eq(pcm[0], 640);
        ck_assert_int_eq(pcm[1], -640);
        mixer_gain(pcm, 4, 0);
        ck_assert(mixer_is_silent(pcm, 4));
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("mixer");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, add_saturates);
        tcase_add_test(tc, gain);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
