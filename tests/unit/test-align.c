/* align: what each output's delay line holds back. */
#include <check.h>
#include <errno.h>

#include "align.h"
#include "check-main.h"

static void path(struct align *a, unsigned i, uint32_t queue, uint32_t codec, uint32_t speaker)
{
        struct align_path p = { true, queue, codec, speaker };

        ck_assert_int_eq(align_set_path(a, i, &p), 0);
}

static void gone(struct align *a, unsigned i)
{
        struct align_path p = { 0 };

        ck_assert_int_eq(align_set_path(a, i, &p), 0);
}

/* the speakers: 40 ms and 180 ms reported, SBC on both */
static void two_speakers(struct align *a)
{
        align_init(a);
        path(a, 0, 20000, 1500, 40000);
        path(a, 1, 20000, 1500, 180000);
}

/* what each output presents a sample at, delay line included, agree */
static void assert_aligned(const struct align *a, uint32_t tol_us)
{
        uint32_t t0 = align_total_us(a, 0) + a->extra_us[0];
        uint32_t t1 = align_total_us(a, 1) + a->extra_us[1];

        ck_assert_msg((t0 > t1 ? t0 - t1 : t1 - t0) <= tol_us, "presented at %u and %u us", t0, t1);
}

START_TEST(one_output_waits_for_nothing)
{
        struct align a;
        struct align_path bad = { true, 0, 0, 0 };

        align_init(&a);
        ck_assert_int_eq(align_set_path(&a, ALIGN_MAX_OUTPUTS, &bad), -EINVAL);
        path(&a, 0, 20000, 1500, 150000);
        align_update(&a);
        ck_assert_uint_eq(a.extra_us[0], 0);
        ck_assert_uint_eq(align_total_us(&a, 0), 171500);
}
END_TEST

START_TEST(the_faster_path_is_held_back)
{
        struct align a;

        two_speakers(&a);
        ck_assert(align_update(&a));
        ck_assert_uint_eq(a.extra_us[0], 140000);
        ck_assert_uint_eq(a.extra_us[1], 0);
        assert_aligned(&a, 0);
        /* nothing changed: nothing moves */
        ck_assert(!align_update(&a));
}
END_TEST

START_TEST(codec_delays_count)
{
        struct align a;

        align_init(&a);
        /* AAC's 64 ms of encoder delay against aptX's 2 ms, same speakers */
        path(&a, 0, 20000, 64000, 100000);
        path(&a, 1, 20000, 2000, 100000);
        align_update(&a);
        ck_assert_uint_eq(a.extra_us[0], 0);
        ck_assert_uint_eq(a.extra_us[1], 62000);
        assert_aligned(&a, 0);
}
END_TEST

START_TEST(queue_jitter_does_not_move_the_delay)
{
        struct align a;

        two_speakers(&a);
        align_update(&a);
        /* each sample is an interval's mean wait: it jitters by +-3 ms
         * around 20 ms on a loaded machine, in opposite directions */
        for (int k = 0; k < 200; k++) {
                path(&a, 0, k % 2 ? 23000 : 17000, 1500, 40000);
                path(&a, 1, k % 2 ? 17000 : 23000, 1500, 180000);
                align_update(&a);
                assert_aligned(&a, 2000);
        }
        ck_assert_uint_ge(a.extra_us[0], 138000);
        ck_assert_uint_le(a.extra_us[0], 142000);
}
END_TEST

START_TEST(a_delay_change_is_followed)
{
        struct align a;

        two_speakers(&a);
        align_update(&a);
        /* the slow speaker now reports 100 ms */
        path(&a, 1, 20000, 1500, 100000);
        ck_assert(align_update(&a));
        ck_assert_uint_eq(a.extra_us[0], 60000);
        assert_aligned(&a, 0);
        /* and the fast one overtakes it: the other output waits now */
        path(&a, 0, 20000, 1500, 250000);
        ck_assert(align_update(&a));
        ck_assert_uint_eq(a.extra_us[0], 0);
        ck_assert_uint_eq(a.extra_us[1], 150000);
        assert_aligned(&a, 0);
}
END_TEST

START_TEST(an_output_leaving_frees_the_other)
{
        struct align a;

        two_speakers(&a);
        align_update(&a);
        gone(&a, 1);
        ck_assert(align_update(&a));
        ck_assert_uint_eq(a.extra_us[0], 0);
        ck_assert_uint_eq(a.extra_us[1], 0);
        ck_assert_uint_eq(align_total_us(&a, 1), 0);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("align");
        TCase *tc = tcase_create("align");

        tcase_add_test(tc, one_output_waits_for_nothing);
        tcase_add_test(tc, the_faster_path_is_held_back);
        tcase_add_test(tc, codec_delays_count);
        tcase_add_test(tc, queue_jitter_does_not_move_the_delay);
        tcase_add_test(tc, a_delay_change_is_followed);
        tcase_add_test(tc, an_output_leaving_frees_the_other);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
