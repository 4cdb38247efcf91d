/* The air-time plan for two speakers (airtime.c). */
#include <check.h>

#include "check-main.h"

#include "airtime.h"

static const struct airtime_output ldac = { 3, { 990000, 660000, 330000 } };
/* with libldacBT_abr: HQ, SQ, MQ, then Q0 and Q1 between SQ and MQ */
static const struct airtime_output ldac_abr = { 5, { 990000, 660000, 330000, 492000, 396000 } };
static const struct airtime_output sbc = { 3, { 345000, 238000, 145000 } };
static const struct airtime_output aptx_hd = { 1, { 576000 } };
static const struct airtime_output aptx = { 1, { 384000 } };

START_TEST(one_output_is_not_capped)
{
        unsigned caps[1] = { 7 };

        ck_assert(airtime_plan(&ldac, 1, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 0);
}
END_TEST

START_TEST(two_light_streams_are_left_alone)
{
        struct airtime_output o[2] = { sbc, aptx };
        unsigned caps[2];

        ck_assert(airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 345000);
        ck_assert_uint_eq(caps[1], 384000);
}
END_TEST

START_TEST(ldac_steps_down_for_the_other)
{
        struct airtime_output o[2] = { ldac, sbc };
        unsigned caps[2];

        /* 990 + 345 does not fit, 660 + 345 neither (1005), 330 + 345 does */
        ck_assert(airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 330000);
        ck_assert_uint_eq(caps[1], 345000);
        /* with ABR's finer ladder: 492 + 345 fits */
        o[0] = ldac_abr;
        ck_assert(airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 492000);
        ck_assert_uint_eq(caps[1], 345000);
}
END_TEST

START_TEST(two_ldac_share_evenly)
{
        struct airtime_output o[2] = { ldac, ldac };
        unsigned caps[2];

        ck_assert(airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0] + caps[1], 660000 + 330000);
        o[0] = o[1] = ldac_abr;
        ck_assert(airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 492000);
        ck_assert_uint_eq(caps[1], 492000);
}
END_TEST

START_TEST(streams_without_rates_may_not_fit)
{
        struct airtime_output o[2] = { aptx_hd, aptx_hd };
        unsigned caps[2];

        ck_assert(!airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 576000);
        ck_assert_uint_eq(caps[1], 576000);
        /* the one with rates gives way to the one without */
        o[1] = ldac;
        ck_assert(airtime_plan(o, 2, AIRTIME_BUDGET_BPS, caps));
        ck_assert_uint_eq(caps[0], 576000);
        ck_assert_uint_eq(caps[1], 330000);
}
END_TEST

START_TEST(capped_level_in_any_order)
{
        ck_assert_uint_eq(airtime_capped_level(&ldac_abr, 0, 0), 0);
        ck_assert_uint_eq(airtime_capped_level(&ldac_abr, 0, 500000), 3);
        ck_assert_uint_eq(airtime_capped_level(&ldac_abr, 1, 400000), 4);
        ck_assert_uint_eq(airtime_capped_level(&ldac_abr, 2, 500000), 2);    /* fits already */
        ck_assert_uint_eq(airtime_capped_level(&ldac_abr, 0, 100000), 2);    /* none fits: the lightest */
        ck_assert_uint_eq(airtime_capped_level(&sbc, 0, 300000), 1);
        ck_assert_uint_eq(airtime_capped_level(&sbc, 9, 300000), 9);          /* not a level: left */
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("airtime");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, one_output_is_not_capped);
        tcase_add_test(tc, two_light_streams_are_left_alone);
        tcase_add_test(tc, ldac_steps_down_for_the_other);
        tcase_add_test(tc, two_ldac_share_evenly);
        tcase_add_test(tc, streams_without_rates_may_not_fit);
        tcase_add_test(tc, capped_level_in_any_order);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
