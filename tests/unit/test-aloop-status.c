/* aloop-status: the producer's substream state read from ALSA's procfs,
 * which tells an underrun (kept) from a producer that went away (let go). */
#include <check.h>

#include "aloop-status.h"
#include "check-main.h"

START_TEST(states_from_the_kernel_text)
{
        /* as snd_pcm_substream_proc_status_read() writes them */
        ck_assert_int_eq(pcm_sub_state_parse("closed\n"), PCM_SUB_CLOSED);
        ck_assert_int_eq(pcm_sub_state_parse("state: XRUN\nowner_pid   : 812\n"), PCM_SUB_XRUN);
        ck_assert_int_eq(pcm_sub_state_parse("state: RUNNING\nowner_pid   : 812\ntrigger_time: 1.2\n"),
                         PCM_SUB_RUNNING);
        ck_assert_int_eq(pcm_sub_state_parse("state: PREPARED\nowner_pid   : 812\n"), PCM_SUB_PREPARED);
        ck_assert_int_eq(pcm_sub_state_parse("state: SETUP\n"), PCM_SUB_OPEN);
        ck_assert_int_eq(pcm_sub_state_parse("state: DRAINING\n"), PCM_SUB_OPEN);
        ck_assert_int_eq(pcm_sub_state_parse("state: PAUSED\n"), PCM_SUB_OPEN);
        ck_assert_int_eq(pcm_sub_state_parse("state: DISCONNECTED\n"), PCM_SUB_CLOSED);
}
END_TEST

START_TEST(anything_else_is_unknown)
{
        ck_assert_int_eq(pcm_sub_state_parse(NULL), PCM_SUB_UNKNOWN);
        ck_assert_int_eq(pcm_sub_state_parse(""), PCM_SUB_UNKNOWN);
        ck_assert_int_eq(pcm_sub_state_parse("closedx\n"), PCM_SUB_UNKNOWN);
        ck_assert_int_eq(pcm_sub_state_parse("state: XRUNNING\n"), PCM_SUB_UNKNOWN);
        ck_assert_int_eq(pcm_sub_state_parse("state: \n"), PCM_SUB_UNKNOWN);
        ck_assert_int_eq(pcm_sub_state_parse("State: XRUN\n"), PCM_SUB_UNKNOWN);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("aloop-status");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, states_from_the_kernel_text);
        tcase_add_test(tc, anything_else_is_unknown);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
