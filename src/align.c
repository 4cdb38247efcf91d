#include "align.h"

#include <errno.h>
#include <string.h>

void align_init(struct align *a)
{
        memset(a, 0, sizeof(*a));
}

int align_set_path(struct align *a, unsigned i, const struct align_path *p)
{
        if (i >= ALIGN_MAX_OUTPUTS || !p)
                return -EINVAL;
        a->path[i] = *p;
        if (!p->present) {
                a->have_avg[i] = false;
                return 0;
        }
        /* an average over about ALIGN_SMOOTHING samples (each already the
         * mean of an interval's packets): scheduling jitter must not move
         * the delay back and forth */
        if (!a->have_avg[i]) {
                a->queue_avg_us[i] = (uint64_t)p->queue_us * ALIGN_SMOOTHING;
                a->have_avg[i] = true;
        } else {
                a->queue_avg_us[i] -= a->queue_avg_us[i] / ALIGN_SMOOTHING;
                a->queue_avg_us[i] += p->queue_us;
        }
        return 0;
}

uint32_t align_total_us(const struct align *a, unsigned i)
{
        if (i >= ALIGN_MAX_OUTPUTS || !a->path[i].present)
                return 0;
        return (uint32_t)(a->queue_avg_us[i] / ALIGN_SMOOTHING) + a->path[i].codec_us + a->path[i].speaker_us;
}

bool align_update(struct align *a)
{
        uint32_t longest = 0;
        unsigned present = 0;
        bool moved = false;

        for (unsigned i = 0; i < ALIGN_MAX_OUTPUTS; i++)
                if (a->path[i].present) {
                        uint32_t t = align_total_us(a, i);

                        present++;
                        if (t > longest)
                                longest = t;
                }
        for (unsigned i = 0; i < ALIGN_MAX_OUTPUTS; i++) {
                /* one output alone, or none: nothing to wait for */
                uint32_t want = present > 1 && a->path[i].present ? longest - align_total_us(a, i) : 0;
                uint32_t cur = a->extra_us[i];
                uint32_t off = want > cur ? want - cur : cur - want;

                if (off > ALIGN_HYSTERESIS_US || (want == 0 && cur != 0 && present < 2)) {
                        a->extra_us[i] = want;
                        moved = true;
                }
        }
        return moved;
}
