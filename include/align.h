/* Two speakers heard in time (issue #13): how much each output's delay
 * line holds back, so that a sample captured once is presented by every
 * speaker at the same moment. A sample reaches a speaker's ear at about
 *     its send time + what waits in our queue and the socket
 *     + the codec's delay + the speaker's own delay (its reported Delay,
 *       or the offset set for a speaker that reports none);
 * every output is held back by the longest such path less its own. The
 * queue part jitters with scheduling, so it is smoothed, and a target
 * moves only when it is off by more than ALIGN_HYSTERESIS_US (the delay
 * line then slews to it one frame per 10 ms). Pure, no I/O. */
#ifndef A2DPSRC_ALIGN_H
#define A2DPSRC_ALIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALIGN_MAX_OUTPUTS 2
#define ALIGN_HYSTERESIS_US 500
#define ALIGN_SMOOTHING 4

struct align_path {
        bool present;           /* an output streaming now */
        uint32_t queue_us;      /* a sample's wait on our side, as last measured */
        uint32_t codec_us;      /* the encoder's delay */
        uint32_t speaker_us;    /* reported Delay, or the per-device offset */
};

struct align {
        struct align_path path[ALIGN_MAX_OUTPUTS];
        uint64_t queue_avg_us[ALIGN_MAX_OUTPUTS];  /* smoothed, x ALIGN_SMOOTHING */
        bool have_avg[ALIGN_MAX_OUTPUTS];
        uint32_t extra_us[ALIGN_MAX_OUTPUTS];      /* the targets given out */
};

void align_init(struct align *a);
/* Output i's path now (queue sampled a few times a second); a path that
 * is not present is left out and forgotten. -EINVAL for a bad index. */
int align_set_path(struct align *a, unsigned i, const struct align_path *p);
/* Output i's total path, smoothed queue included (us). */
uint32_t align_total_us(const struct align *a, unsigned i);
/* Recomputes the targets; true when one moved (extra_us[] then changed). */
bool align_update(struct align *a);

#endif
