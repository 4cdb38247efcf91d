/* A per-output delay for PCM (issue #13: two speakers heard in time). The
 * output whose path to the ear is shorter is held back by what the other
 * takes longer. The delay follows a target without a click: one frame at a
 * time, at most one every 10 ms of audio (a 0.2 % speed change, repeated or
 * skipped frames blended with their neighbour), or at once while the audio
 * around both the old and the new read position is silence. A move too
 * long to slew (a second speaker joining: 140 ms would take 70 s at 0.2 %)
 * is made as a faded jump instead when asked: 5 ms fade out, the jump in
 * the silence so made, 5 ms fade in -- a short dip, not a click.
 *
 * Pure and real-time safe: the buffer is the caller's (allocated on the
 * main thread), processing never allocates, locks or blocks. */
#ifndef A2DPSRC_DELAY_LINE_H
#define A2DPSRC_DELAY_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* |sample| at or below this is silence for a jump (-72 dBFS) */
#define DELAY_LINE_SILENCE 8

struct delay_line {
        int16_t *buf;           /* cap frames of channels samples */
        size_t cap;             /* frames; the delay stays below it */
        unsigned channels;
        unsigned step_frames;   /* audio between two one-frame steps (10 ms) */
        uint64_t wr;            /* frames written since the start */
        size_t delay, target;   /* frames */
        size_t since_step;      /* frames output since the last step */
        size_t quiet;           /* silent frames written in a row */
        size_t fade_frames;     /* length of each half of a faded jump (5 ms) */
        size_t fade_pos;        /* gain = fade_pos / fade_frames while fading */
        int fade_dir;           /* -1 fading out, +1 fading in, 0 not fading */
        uint64_t steps, jumps;  /* for statistics and tests */
        uint64_t faded_jumps;
};

/* buf holds cap * channels samples; rate sets the step interval. -EINVAL
 * on a zero size, channels outside 1..2 or no rate. The line starts with
 * no delay and its history is silence. */
int delay_line_init(struct delay_line *dl, int16_t *buf, size_t cap, unsigned channels,
                    unsigned rate);
/* The delay to move to, in frames; clamped below the capacity. */
void delay_line_set_target(struct delay_line *dl, size_t frames);
/* Reaches the target by a faded jump (see above) rather than by slewing,
 * unless it is there already. */
void delay_line_jump_faded(struct delay_line *dl);
/* A stream restart: history silence, the delay at its target at once. */
void delay_line_reset(struct delay_line *dl);
/* frames of in (interleaved) go in; as many come out, delayed. in and out
 * may be the same buffer. */
void delay_line_process(struct delay_line *dl, const int16_t *in, int16_t *out, size_t frames);

#endif
