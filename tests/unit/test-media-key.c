/* The speaker's keys: names, the methods BlueZ calls, and the merging of
 * presses no finger could make. */
#include <check.h>
#include <string.h>

#include "check-main.h"
#include "media-key.h"

START_TEST(names_and_methods)
{
        static const char *const methods[] = { "Play", "Pause", "PlayPause", "Stop", "Next", "Previous" };
        static const char *const names[] = { "play", "pause", "play-pause", "stop", "next", "previous" };

        for (int k = 0; k < MEDIA_KEY_COUNT; k++) {
                ck_assert_int_eq(media_key_from_method(methods[k]), k);
                ck_assert_str_eq(media_key_name((enum media_key)k), names[k]);
        }
        ck_assert_int_eq(media_key_from_method("Release"), -1);
        ck_assert_int_eq(media_key_from_method("play"), -1);   /* D-Bus names are exact */
        ck_assert_int_eq(media_key_from_method("Seek"), -1);
        ck_assert_int_eq(media_key_from_method(NULL), -1);
        ck_assert_str_eq(media_key_name(MEDIA_KEY_COUNT), "unknown");
}
END_TEST

START_TEST(a_persons_presses_pass)
{
        struct media_key_gate g = { 0 };
        uint64_t t = 5000000;

        ck_assert(media_key_gate_pass(&g, t));
        /* a quick double press, 150 ms apart: both meant */
        ck_assert(media_key_gate_pass(&g, t += 150000));
        ck_assert(media_key_gate_pass(&g, t += MEDIA_KEY_GAP_US));
        ck_assert_uint_eq(g.merged, 0);
}
END_TEST

START_TEST(a_held_key_is_one_press)
{
        struct media_key_gate g = { 0 };
        uint64_t t = 1000;

        ck_assert(media_key_gate_pass(&g, t));
        /* the speaker repeats the press every 40 ms for two seconds: the
         * window slides with each, so no repeat gets through */
        for (int i = 0; i < 50; i++)
                ck_assert(!media_key_gate_pass(&g, t += 40000));
        ck_assert_uint_eq(g.merged, 50);
        /* the next press after a pause is a new one */
        ck_assert(media_key_gate_pass(&g, t += MEDIA_KEY_GAP_US + 1));
}
END_TEST

START_TEST(a_flood_is_one_press)
{
        struct media_key_gate g = { 0 };
        uint64_t t = 0;

        ck_assert(media_key_gate_pass(&g, t));
        for (int i = 0; i < 1000; i++)
                ck_assert(!media_key_gate_pass(&g, t += 1000));     /* 1 kHz */
        ck_assert(!media_key_gate_pass(&g, t += MEDIA_KEY_GAP_US - 1));
        ck_assert(media_key_gate_pass(&g, t += MEDIA_KEY_GAP_US));
}
END_TEST

START_TEST(clock_backwards_counts_as_at_once)
{
        struct media_key_gate g = { 0 };

        ck_assert(media_key_gate_pass(&g, 10000000));
        ck_assert(!media_key_gate_pass(&g, 1));
        ck_assert(media_key_gate_pass(&g, 1 + MEDIA_KEY_GAP_US));
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("media-key");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, names_and_methods);
        tcase_add_test(tc, a_persons_presses_pass);
        tcase_add_test(tc, a_held_key_is_one_press);
        tcase_add_test(tc, a_flood_is_one_press);
        tcase_add_test(tc, clock_backwards_counts_as_at_once);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
