/* delay-line: a per-output delay that moves without a click. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "check-main.h"
#include "delay-line.h"

#define RATE 48000
#define CAP 4800

static int16_t ring[CAP * 2];

/* a frame's value tells where it came from: frame i is (i % 30000) + 1 on
 * the left, its negative on the right */
static void ramp(int16_t *pcm, uint64_t first, size_t frames)
{
        for (size_t n = 0; n < frames; n++) {
                int16_t v = (int16_t)((first + n) % 30000 + 1);
                pcm[2 * n] = v;
                pcm[2 * n + 1] = (int16_t)-v;
        }
}

START_TEST(bad_arguments)
{
        struct delay_line dl;

        ck_assert_int_eq(delay_line_init(&dl, NULL, CAP, 2, RATE), -EINVAL);
        ck_assert_int_eq(delay_line_init(&dl, ring, 2, 2, RATE), -EINVAL);
        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 0, RATE), -EINVAL);
        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 3, RATE), -EINVAL);
        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, 0), -EINVAL);
        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, RATE), 0);
        /* a target beyond the ring is clamped, never overruns it */
        delay_line_set_target(&dl, CAP * 10);
        ck_assert_uint_eq(dl.target, CAP - 2);
}
END_TEST

START_TEST(fixed_delay_is_exact_and_starts_from_silence)
{
        struct delay_line dl;
        int16_t in[2 * 256], out[2 * 256];
        const size_t d = 300;

        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, RATE), 0);
        delay_line_set_target(&dl, d);
        delay_line_reset(&dl);
        for (uint64_t pos = 0; pos < 20 * 256; pos += 256) {
                ramp(in, pos, 256);
                delay_line_process(&dl, in, out, 256);
                for (size_t n = 0; n < 256; n++) {
                        uint64_t i = pos + n;
                        int16_t want = i < d ? 0 : (int16_t)((i - d) % 30000 + 1);
                        ck_assert_int_eq(out[2 * n], want);
                        ck_assert_int_eq(out[2 * n + 1], -want);
                }
        }
        ck_assert_uint_eq(dl.steps, 0);
        ck_assert_uint_eq(dl.jumps, 0);
}
END_TEST

START_TEST(in_place)
{
        struct delay_line dl;
        int16_t pcm[2 * 100];

        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, RATE), 0);
        delay_line_set_target(&dl, 10);
        delay_line_reset(&dl);
        ramp(pcm, 0, 100);
        delay_line_process(&dl, pcm, pcm, 100);
        ck_assert_int_eq(pcm[0], 0);
        ck_assert_int_eq(pcm[2 * 10], 1);
        ck_assert_int_eq(pcm[2 * 99 + 1], -90);
}
END_TEST

/* A 200 Hz sine at -6 dBFS through a delay moving by +30 then -30 frames
 * while it plays: one frame per 10 ms, never a jump, and no output step
 * larger than 1.6 times the sine's own steepest (a skipped frame blended
 * with its neighbour is a step of 1.5 samples' worth; a click, a jump of
 * many frames, is far larger). */
static void slew(size_t from, size_t to)
{
        struct delay_line dl;
        int16_t in[2 * 480], out[2 * 480];
        double max_slope = 16384.0 * 2 * M_PI * 200 / RATE;
        int16_t prev = 0;
        bool have_prev = false;
        uint64_t pos = 0;
        size_t moved = from > to ? from - to : to - from;

        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, RATE), 0);
        delay_line_set_target(&dl, from);
        delay_line_reset(&dl);
        delay_line_set_target(&dl, to);
        /* 10 ms blocks: a step each, then some more */
        for (size_t b = 0; b < moved + 20; b++) {
                for (size_t n = 0; n < 480; n++) {
                        int16_t v = (int16_t)lrint(16384.0 * sin(2 * M_PI * 200 * (double)(pos + n) / RATE));
                        in[2 * n] = in[2 * n + 1] = v;
                }
                delay_line_process(&dl, in, out, 480);
                for (size_t n = 0; n < 480; n++) {
                        /* before the sine reaches the output, silence */
                        if (pos + n >= from + 1) {
                                if (have_prev)
                                        ck_assert_msg(fabs((double)out[2 * n] - prev) <= max_slope * 1.6 + 1,
                                                      "a %d step at frame %llu", out[2 * n] - prev,
                                                      (unsigned long long)(pos + n));
                                have_prev = true;
                        }
                        prev = out[2 * n];
                }
                pos += 480;
                if (b < moved)  /* one frame per 10 ms, no faster */
                        ck_assert_uint_le(dl.steps, b + 1);
        }
        ck_assert_uint_eq(dl.delay, to);
        ck_assert_uint_eq(dl.steps, moved);
        ck_assert_uint_eq(dl.jumps, 0);
}

START_TEST(longer_delay_slews_without_a_click)
{
        slew(100, 130);
}
END_TEST

START_TEST(shorter_delay_slews_without_a_click)
{
        slew(130, 100);
}
END_TEST

START_TEST(silence_jumps_at_once)
{
        struct delay_line dl;
        int16_t pcm[2 * 2400] = { 0 };

        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, RATE), 0);
        delay_line_set_target(&dl, 1000);
        /* quiet noise below the silence level counts as silence */
        for (size_t n = 0; n < 2400; n++)
                pcm[2 * n] = (int16_t)((n % 17) - 8);
        delay_line_process(&dl, pcm, pcm, 2400);
        ck_assert_uint_eq(dl.delay, 1000);
        ck_assert_uint_eq(dl.jumps, 1);
        /* but only once the silence spans both read positions */
        ck_assert_uint_le(dl.steps, 1000 / 480 + 1);
        /* sound, then a new target: steps, not a jump */
        ramp(pcm, 100, 2400);
        delay_line_set_target(&dl, 900);
        delay_line_process(&dl, pcm, pcm, 2400);
        ck_assert_uint_eq(dl.jumps, 1);
        ck_assert_uint_eq(dl.delay, 1000 - 5);
}
END_TEST

/* A far move on a sine that never pauses (music): a slew would take 0.2 %
 * of the way a second; a faded jump is there within 10 ms, with no output
 * step steeper than the sine's own (the fade's slope adds a sixth of it)
 * and a dip to silence where the read position jumps. */
START_TEST(far_move_is_a_faded_jump)
{
        struct delay_line dl;
        int16_t in[2 * 480], out[2 * 480];
        const double max_slope = 16384.0 * 2 * M_PI * 200 / RATE;
        const size_t far = 4000;        /* 83 ms */
        int16_t prev = 0, quietest = INT16_MAX;
        uint64_t pos = 0;

        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 2, RATE), 0);
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1) {
                        delay_line_set_target(&dl, far);
                        delay_line_jump_faded(&dl);
                }
                for (size_t b = 0; b < 10; b++) {
                        for (size_t n = 0; n < 480; n++) {
                                int16_t v = (int16_t)lrint(16384.0 * sin(2 * M_PI * 200 * (double)(pos + n) / RATE));
                                in[2 * n] = in[2 * n + 1] = v;
                        }
                        delay_line_process(&dl, in, out, 480);
                        for (size_t n = 0; n < 480; n++) {
                                if (pos + n > 0)
                                        ck_assert_msg(fabs((double)out[2 * n] - prev) <= max_slope * 1.6 + 1,
                                                      "a %d step at frame %llu", out[2 * n] - prev,
                                                      (unsigned long long)(pos + n));
                                if (pass == 1 && abs(out[2 * n]) < quietest)
                                        quietest = (int16_t)abs(out[2 * n]);
                                prev = out[2 * n];
                        }
                        pos += 480;
                        /* 5 ms down, the jump, 5 ms up: done by the end of
                         * the first 10 ms block */
                        if (pass == 1)
                                ck_assert_uint_eq(dl.delay, far);
                }
        }
        ck_assert_uint_eq(dl.faded_jumps, 1);
        ck_assert_uint_eq(dl.jumps, 0);
        ck_assert_uint_eq(dl.steps, 0);
        ck_assert_int_le(quietest, 1);
        /* asking again at the target does nothing */
        delay_line_jump_faded(&dl);
        ck_assert_int_eq(dl.fade_dir, 0);
}
END_TEST

START_TEST(mono)
{
        struct delay_line dl;
        int16_t in[64], out[64];

        ck_assert_int_eq(delay_line_init(&dl, ring, CAP, 1, RATE), 0);
        delay_line_set_target(&dl, 3);
        delay_line_reset(&dl);
        for (int i = 0; i < 64; i++)
                in[i] = (int16_t)(i + 1);
        delay_line_process(&dl, in, out, 64);
        ck_assert_int_eq(out[2], 0);
        ck_assert_int_eq(out[3], 1);
        ck_assert_int_eq(out[63], 61);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("delay-line");
        TCase *tc = tcase_create("delay");

        tcase_add_test(tc, bad_arguments);
        tcase_add_test(tc, fixed_delay_is_exact_and_starts_from_silence);
        tcase_add_test(tc, in_place);
        tcase_add_test(tc, longer_delay_slews_without_a_click);
        tcase_add_test(tc, shorter_delay_slews_without_a_click);
        tcase_add_test(tc, silence_jumps_at_once);
        tcase_add_test(tc, far_move_is_a_faded_jump);
        tcase_add_test(tc, mono);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
