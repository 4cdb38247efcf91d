#include "delay-line.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Absolute frame indices start at cap, so that the one before the first
 * written (silence) is still in the ring. */
static int16_t *frame_at(const struct delay_line *dl, uint64_t i)
{
        return dl->buf + (size_t)(i % dl->cap) * dl->channels;
}

static size_t max_delay(const struct delay_line *dl)
{
        /* a skip blends the frame before the read position: it must still
         * be in the ring */
        return dl->cap - 2;
}

int delay_line_init(struct delay_line *dl, int16_t *buf, size_t cap, unsigned channels,
                    unsigned rate)
{
        if (!dl || !buf || cap < 4 || channels < 1 || channels > 2 || rate < 100)
                return -EINVAL;
        memset(dl, 0, sizeof(*dl));
        dl->buf = buf;
        dl->cap = cap;
        dl->channels = channels;
        dl->step_frames = rate / 100;
        dl->fade_frames = rate >= 200 ? rate / 200 : 1;
        delay_line_reset(dl);
        return 0;
}

void delay_line_set_target(struct delay_line *dl, size_t frames)
{
        dl->target = frames > max_delay(dl) ? max_delay(dl) : frames;
}

void delay_line_reset(struct delay_line *dl)
{
        memset(dl->buf, 0, dl->cap * dl->channels * sizeof(int16_t));
        dl->wr = dl->cap;
        dl->delay = dl->target;
        dl->since_step = 0;
        dl->quiet = 0;
        dl->fade_dir = 0;
}

void delay_line_jump_faded(struct delay_line *dl)
{
        if (dl->delay == dl->target || dl->fade_dir)
                return;
        dl->fade_dir = -1;
        dl->fade_pos = dl->fade_frames;
}

/* One frame of a faded jump: the gain on the way down, the jump at the
 * bottom, the gain on the way up. */
static void fade_frame(struct delay_line *dl, int16_t *f)
{
        for (unsigned c = 0; c < dl->channels; c++)
                f[c] = (int16_t)((int32_t)f[c] * (int32_t)dl->fade_pos / (int32_t)dl->fade_frames);
        if (dl->fade_dir < 0 && --dl->fade_pos == 0) {
                dl->delay = dl->target;
                dl->faded_jumps++;
                dl->fade_dir = 1;
        } else if (dl->fade_dir > 0 && ++dl->fade_pos >= dl->fade_frames) {
                dl->fade_dir = 0;
        }
}

static bool silent(const int16_t *f, unsigned channels)
{
        for (unsigned c = 0; c < channels; c++)
                if (abs(f[c]) > DELAY_LINE_SILENCE)
                        return false;
        return true;
}

static void blend(const int16_t *a, const int16_t *b, int16_t *out, unsigned channels)
{
        for (unsigned c = 0; c < channels; c++)
                out[c] = (int16_t)(((int32_t)a[c] + b[c]) / 2);
}

void delay_line_process(struct delay_line *dl, const int16_t *in, int16_t *out, size_t frames)
{
        const unsigned ch = dl->channels;

        for (size_t n = 0; n < frames; n++) {
                int step = 0;
                uint64_t r;

                memcpy(frame_at(dl, dl->wr), in + n * ch, ch * sizeof(int16_t));
                dl->quiet = silent(in + n * ch, ch) ? dl->quiet + 1 : 0;
                dl->wr++;
                dl->since_step++;
                if (dl->delay != dl->target && dl->fade_dir >= 0) {
                        size_t span = dl->delay > dl->target ? dl->delay : dl->target;

                        if (dl->quiet > span) {
                                /* silence at the old and the new read
                                 * position alike: nobody hears the jump */
                                dl->delay = dl->target;
                                dl->jumps++;
                        } else if (dl->since_step >= dl->step_frames) {
                                step = dl->target > dl->delay ? 1 : -1;
                                dl->delay = (size_t)((long long)dl->delay + step);
                                dl->since_step = 0;
                                dl->steps++;
                        }
                }
                r = dl->wr - 1 - dl->delay;
                if (step > 0)           /* held back a frame: halfway to the next */
                        blend(frame_at(dl, r), frame_at(dl, r + 1), out + n * ch, ch);
                else if (step < 0)      /* one frame skipped: blend it in */
                        blend(frame_at(dl, r - 1), frame_at(dl, r), out + n * ch, ch);
                else
                        memcpy(out + n * ch, frame_at(dl, r), ch * sizeof(int16_t));
                if (dl->fade_dir)
                        fade_frame(dl, out + n * ch);
        }
}
