/* Two speakers share one adapter's air time (issue #13): the bit rate each
 * output may use so that both fit. BR/EDR's 2 Mbit/s ACL carries about
 * 1.4 Mbit/s of payload at best (2-DH5 back to back); two links polled in
 * turn, retransmissions in a room full of 2.4 GHz and the rest of the
 * piconet's traffic leave about 1 Mbit/s for both streams, which is what
 * LDAC at 990 kbit/s alone already takes (it stutters at the edge of
 * range for that reason). A reasoned budget, not a measured one: no radio
 * here. Pure, no I/O, real-time safe. */
#ifndef A2DPSRC_AIRTIME_H
#define A2DPSRC_AIRTIME_H

#include <stdbool.h>

#define AIRTIME_BUDGET_BPS 1000000u
#define AIRTIME_MAX_LEVELS 32      /* SBC's bitpool steps are ~18 */

struct airtime_output {
        unsigned levels;                        /* 1..AIRTIME_MAX_LEVELS */
        unsigned bps[AIRTIME_MAX_LEVELS];       /* bit/s at each quality level */
};

/* caps[i]: the most bit/s output i may use (0: no cap, with one output).
 * The heavier stream steps down first, one of its own rates at a time,
 * until the sum fits budget_bps; returns false when even the lightest
 * levels do not fit (caps then at those). */
bool airtime_plan(const struct airtime_output *o, unsigned n, unsigned budget_bps, unsigned caps[]);

/* The level of o whose bit rate is the highest at or below cap_bps (the
 * lightest when none is), given levels that need not be in order of bit
 * rate; level itself when cap_bps is 0 or it fits. */
unsigned airtime_capped_level(const struct airtime_output *o, unsigned level, unsigned cap_bps);

#endif
