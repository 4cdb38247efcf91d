/* The audio engine's memory budget. struct stream (stream-engine.h) is
 * allocated once, cleared by calloc, and every page of it is resident for
 * the daemon's life; each Bluetooth output's state (struct stream_output,
 * the sender in it) is allocated at the slot's first attach and kept:
 * their sizes are RSS one for one (docs/performance.md, "Where the memory
 * goes": 100 KiB of a 0.25 MiB heap with one output). A buffer that grows,
 * or a new one, shows here first; raising the budget is a decision to be
 * written down there, not a fix. */
#include <check.h>

#include "check-main.h"

#include "stream-engine.h"

#define KIB 1024u
/* With one output streaming, the engine as before issue #13's second
 * output (101,960 bytes then, all in struct stream): 45,440 + 58,336 on
 * x86-64 at 2026-12-02, one page of room for fields, none for another
 * buffer. A second output adds its state and a delay line for each
 * (STREAM_ALIGN_MAX_FRAMES + a step, ~102 KiB each), only while two are
 * attached. */
#define STREAM_BUDGET (48u * KIB)
#define ONE_OUTPUT_BUDGET (104u * KIB)
/* Its largest part: staging 16 KiB, packet queue 16 x 2 KiB, one frame. */
#define SENDER_BUDGET (60u * KIB)

START_TEST(stream_within_budget)
{
        ck_assert_msg(sizeof(struct stream) <= STREAM_BUDGET, "struct stream is %zu bytes, budget %u",
                      sizeof(struct stream), STREAM_BUDGET);
}
END_TEST

START_TEST(one_output_within_budget)
{
        size_t n = sizeof(struct stream) + sizeof(struct stream_output);

        ck_assert_msg(n <= ONE_OUTPUT_BUDGET, "the engine with one output is %zu bytes, budget %u", n,
                      ONE_OUTPUT_BUDGET);
}
END_TEST

START_TEST(sender_within_budget)
{
        ck_assert_msg(sizeof(struct sender) <= SENDER_BUDGET, "struct sender is %zu bytes, budget %u",
                      sizeof(struct sender), SENDER_BUDGET);
}
END_TEST

/* The capture and mix buffers hold one step (CHUNK_FRAMES) of stereo S16:
 * a step holds a whole packet of the largest codec frame count (15 SBC
 * frames of 128), nothing more. */
START_TEST(chunk_is_one_packet)
{
        ck_assert_uint_ge(CHUNK_FRAMES, 15 * 128);
        ck_assert_uint_lt(CHUNK_FRAMES, 2 * 15 * 128);
        ck_assert_uint_eq(sizeof(((struct stream *)0)->bt_mix), CHUNK_FRAMES * 2 * sizeof(int16_t));
}
END_TEST

static Suite *suite(void)
{
        Suite *su = suite_create("engine-memory");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, stream_within_budget);
        tcase_add_test(tc, one_output_within_budget);
        tcase_add_test(tc, sender_within_budget);
        tcase_add_test(tc, chunk_is_one_packet);
        suite_add_tcase(su, tc);
        return su;
}

CHECK_MAIN(suite)
