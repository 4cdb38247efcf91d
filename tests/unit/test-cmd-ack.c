/* Command/acknowledgement matching between the main loop and the audio
 * thread (stream.c): a late answer never passes for a later command's. */
#include <check.h>

#include "check-main.h"
#include <stdint.h>

#include "cmd-ack.h"

START_TEST(nothing_answered_at_start)
{
        struct cmd_ack a;
        uint32_t seq;

        cmd_ack_init(&a);
        seq = cmd_ack_next(&a);
        ck_assert(!cmd_ack_answered(&a, seq));
        cmd_ack_done(&a, seq);
        ck_assert(cmd_ack_answered(&a, seq));
}
END_TEST

/* The defect: command 1 times out, its answer comes late, while command 2
 * is being waited for. That answer must not count for command 2. */
START_TEST(late_answer_is_not_the_next_commands)
{
        struct cmd_ack a;
        uint32_t first, second;

        cmd_ack_init(&a);
        first = cmd_ack_next(&a);
        second = cmd_ack_next(&a);
        cmd_ack_done(&a, first);
        ck_assert(cmd_ack_answered(&a, first));
        ck_assert(!cmd_ack_answered(&a, second));
        cmd_ack_done(&a, second);
        ck_assert(cmd_ack_answered(&a, second));
}
END_TEST

/* Commands finish in order: an answer to a later command covers the
 * earlier ones. */
START_TEST(later_answer_covers_earlier)
{
        struct cmd_ack a;
        uint32_t s1, s2, s3;

        cmd_ack_init(&a);
        s1 = cmd_ack_next(&a);
        s2 = cmd_ack_next(&a);
        s3 = cmd_ack_next(&a);
        cmd_ack_done(&a, s2);
        ck_assert(cmd_ack_answered(&a, s1));
        ck_assert(cmd_ack_answered(&a, s2));
        ck_assert(!cmd_ack_answered(&a, s3));
}
END_TEST

START_TEST(wraps_around)
{
        struct cmd_ack a;
        uint32_t before, after;

        cmd_ack_init(&a);
        a.sent = UINT32_MAX - 1;
        cmd_ack_done(&a, UINT32_MAX - 1);
        before = cmd_ack_next(&a);       /* UINT32_MAX */
        after = cmd_ack_next(&a);        /* 0 */
        ck_assert_uint_eq(after, 0);
        ck_assert(!cmd_ack_answered(&a, before));
        ck_assert(!cmd_ack_answered(&a, after));
        cmd_ack_done(&a, before);
        ck_assert(cmd_ack_answered(&a, before));
        ck_assert(!cmd_ack_answered(&a, after));
        cmd_ack_done(&a, after);
        ck_assert(cmd_ack_answered(&a, before));
        ck_assert(cmd_ack_answered(&a, after));
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("cmd-ack");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, nothing_answered_at_start);
        tcase_add_test(tc, late_answer_is_not_the_next_commands);
        tcase_add_test(tc, later_answer_covers_earlier);
        tcase_add_test(tc, wraps_around);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
