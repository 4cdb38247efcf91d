/* Speaker-mode decisions: blockers, the State the app sees, backoff. */
#include <check.h>
#include <string.h>

#include "check-main.h"
#include "policy.h"

START_TEST(blockers_in_order)
{
        struct policy_inputs in = { .have_adapter = true, .br_edr = true, .powered = true };

        ck_assert_int_eq(policy_blocker(&in), BLOCKER_NONE);
        ck_assert_str_eq(policy_blocker_name(BLOCKER_NONE), "");
        in.powered = false;
        ck_assert_int_eq(policy_blocker(&in), BLOCKER_ADAPTER_OFF);
        in.on_battery = true;           /* battery outranks a switched-off adapter */
        ck_assert_int_eq(policy_blocker(&in), BLOCKER_ON_BATTERY);
        in.br_edr = false;
        ck_assert_int_eq(policy_blocker(&in), BLOCKER_NO_BR_EDR);
        in.have_adapter = false;
        ck_assert_int_eq(policy_blocker(&in), BLOCKER_NO_ADAPTER);
}
END_TEST

START_TEST(blocker_names_and_errors)
{
        ck_assert_str_eq(policy_blocker_name(BLOCKER_NO_ADAPTER), "no-adapter");
        ck_assert_str_eq(policy_blocker_name(BLOCKER_NO_BR_EDR), "no-br-edr");
        ck_assert_str_eq(policy_blocker_name(BLOCKER_ADAPTER_OFF), "adapter-off");
        ck_assert_str_eq(policy_blocker_name(BLOCKER_ON_BATTERY), "on-battery");
        ck_assert_str_eq(policy_blocker_error(BLOCKER_NO_BR_EDR), "org.a2dpsrc.Error.NotSupported");
        ck_assert_str_eq(policy_blocker_error(BLOCKER_NO_ADAPTER), "org.a2dpsrc.Error.NotSupported");
        ck_assert_str_eq(policy_blocker_error(BLOCKER_ADAPTER_OFF), "org.a2dpsrc.Error.NotAvailable");
        ck_assert_str_eq(policy_blocker_error(BLOCKER_ON_BATTERY), "org.a2dpsrc.Error.OnBattery");
        ck_assert_ptr_nonnull(strstr(policy_blocker_message(BLOCKER_NO_BR_EDR),
                                     "Bluetooth audio output is not supported on this device"));
}
END_TEST

START_TEST(states)
{
        ck_assert_str_eq(policy_state_name(policy_state(false, true, true, true)), "off");
        ck_assert_str_eq(policy_state_name(policy_state(true, false, false, false)), "idle");
        ck_assert_str_eq(policy_state_name(policy_state(true, true, false, false)), "connecting");
        ck_assert_str_eq(policy_state_name(policy_state(true, false, true, false)), "connected");
        ck_assert_str_eq(policy_state_name(policy_state(true, false, true, true)), "streaming");
}
END_TEST

START_TEST(backoff_1_to_60)
{
        const unsigned want[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };

        for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                ck_assert_uint_eq(policy_reconnect_delay_s(i), want[i]);
        ck_assert_uint_eq(policy_reconnect_delay_s(1000000), 60);
}
END_TEST

/* the capture and registration retries (docs/reliability.md: 1, 2, 4 ... 30 s) */
/* A speaker that closes its stream soon after each set-up is waited for
 * longer each time; one that played a while starts afresh. */
START_TEST(close_holdoff_doubles_while_closes_come_soon)
{
        struct close_history h = { 0 };
        uint64_t t = 1000000;   /* us */
        unsigned want[] = { 1, 2, 4, 8, 16, 32, 60, 60 };

        for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                unsigned d = policy_close_holdoff_s(&h, "AA", t);

                ck_assert_uint_eq(d, want[i]);
                t += (uint64_t)d * 1000000 + 2000000;   /* set up, closed 2 s later */
        }
        /* it played 31 s after its set-up: 1 s again */
        t += 31000000;
        ck_assert_uint_eq(policy_close_holdoff_s(&h, "AA", t), 1);
        /* closed again 29 s after that set-up: doubled */
        t += 1000000 + 29000000;
        ck_assert_uint_eq(policy_close_holdoff_s(&h, "AA", t), 2);
        /* closed again before the set-up planned (it set up a stream of
         * its own and closed it): soon, doubled */
        t += 1000000;
        ck_assert_uint_eq(policy_close_holdoff_s(&h, "AA", t), 4);
        /* another speaker's close starts afresh */
        ck_assert_uint_eq(policy_close_holdoff_s(&h, "BB", t + 1000000), 1);
}
END_TEST

START_TEST(backoff_1_to_30)
{
        const unsigned want[] = { 1, 2, 4, 8, 16, 30, 30, 30 };

        for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                ck_assert_uint_eq(policy_backoff_s(i, 30), want[i]);
        ck_assert_uint_eq(policy_backoff_s(1000000, 30), 30);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, blockers_in_order);
        tcase_add_test(tc, blocker_names_and_errors);
        tcase_add_test(tc, states);
        tcase_add_test(tc, backoff_1_to_60);
        tcase_add_test(tc, backoff_1_to_30);
        tcase_add_test(tc, close_holdoff_doubles_while_closes_come_soon);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
