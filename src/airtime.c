#include "airtime.h"

/* The highest of o's rates below bps, or 0 when there is none. */
static unsigned next_lower(const struct airtime_output *o, unsigned bps)
{
        unsigned best = 0;

        for (unsigned l = 0; l < o->levels && l < AIRTIME_MAX_LEVELS; l++)
                if (o->bps[l] < bps && o->bps[l] > best)
                        best = o->bps[l];
        return best;
}

static unsigned highest(const struct airtime_output *o)
{
        return next_lower(o, ~0u);
}

bool airtime_plan(const struct airtime_output *o, unsigned n, unsigned budget_bps, unsigned caps[])
{
        unsigned long long sum = 0;

        for (unsigned i = 0; i < n; i++) {
                caps[i] = n > 1 ? highest(&o[i]) : 0;
                sum += caps[i];
        }
        if (n < 2)
                return true;
        while (sum > budget_bps) {
                unsigned pick = n, lower = 0;

                /* the heaviest stream that can still step down */
                for (unsigned i = 0; i < n; i++) {
                        unsigned l = next_lower(&o[i], caps[i]);

                        if (l && (pick == n || caps[i] > caps[pick])) {
                                pick = i;
                                lower = l;
                        }
                }
                if (pick == n)
                        return false;
                sum -= caps[pick] - lower;
                caps[pick] = lower;
        }
        return true;
}

unsigned airtime_capped_level(const struct airtime_output *o, unsigned level, unsigned cap_bps)
{
        unsigned best = level, best_bps = 0, light = level, light_bps = ~0u;

        if (!cap_bps || level >= o->levels || o->bps[level] <= cap_bps)
                return level;
        for (unsigned l = 0; l < o->levels && l < AIRTIME_MAX_LEVELS; l++) {
                if (o->bps[l] <= cap_bps && o->bps[l] > best_bps) {
                        best = l;
                        best_bps = o->bps[l];
                }
                if (o->bps[l] < light_bps) {
                        light = l;
                        light_bps = o->bps[l];
                }
        }
        return best_bps ? best : light;
}
