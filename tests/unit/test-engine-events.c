/* The audio thread's news to the main loop (stream.c push_event): a main
 * loop held up (a blocking D-Bus call) lets the event ring fill with level
 * and stall news; an event that stops something (a lost link, a failed
 * capture or local output) is sent once, so it must still get through,
 * or a silent speaker stays "streaming". The events are pushed from this
 * thread with the engine idle (no stream started): its only producer. */
#include <check.h>

#include "check-main.h"

#include "stream-engine.h"

static unsigned drain(struct stream *s, unsigned *levels, unsigned *fatal)
{
        struct stream_event ev;
        unsigned n = 0;

        *levels = *fatal = 0;
        while (stream_next_event(s, &ev)) {
                n++;
                if (ev.type == STREAM_EV_LEVEL)
                        (*levels)++;
                else if (ev.type == STREAM_EV_CAPTURE_ERROR || ev.type == STREAM_EV_LOCAL_ERROR)
                        (*fatal)++;
        }
        return n;
}

START_TEST(a_failure_gets_through_a_ring_full_of_news)
{
        struct stream *s;
        unsigned levels, fatal;
        bool rt;

        ck_assert_int_eq(stream_create(&s, 0, &rt), 0);
        for (unsigned i = 0; i < 200; i++)
                stream_emit_level(s, -1, i % 4, 53);
        stream_emit(s, STREAM_EV_CAPTURE_ERROR, -EBADFD, 0, -1);
        stream_emit(s, STREAM_EV_LOCAL_ERROR, -EIO, -1, -1);
        drain(s, &levels, &fatal);
        ck_assert_uint_eq(fatal, 2);
        /* the news fill the ring but the reserve, and are dropped beyond */
        ck_assert_uint_gt(levels, 32);
        ck_assert_uint_lt(levels, 64);
        /* drained, news get through again */
        stream_emit_level(s, -1, 0, 53);
        ck_assert_uint_eq(drain(s, &levels, &fatal), 1);
        ck_assert_uint_eq(levels, 1);
        stream_destroy(s);
}
END_TEST

static Suite *suite(void)
{
        Suite *su = suite_create("engine-events");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, a_failure_gets_through_a_ring_full_of_news);
        suite_add_tcase(su, tc);
        return su;
}

CHECK_MAIN(suite)
