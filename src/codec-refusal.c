#include "codec-refusal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int find(const struct codec_refusals *r, const char *address)
{
        for (int i = 0; i < CODEC_REFUSAL_DEVICES; i++)
                if (r->dev[i].address[0] && strcasecmp(r->dev[i].address, address) == 0)
                        return i;
        return -1;
}

bool codec_refusal_add(struct codec_refusals *r, const char *address, enum a2dp_codec_index codec)
{
        int i = find(r, address);

        if ((unsigned)codec >= CODEC_COUNT || !address[0])
                return false;
        if (i < 0) {
                for (i = 0; i < CODEC_REFUSAL_DEVICES && r->dev[i].address[0]; i++) {
                }
                if (i == CODEC_REFUSAL_DEVICES) {
                        /* full: the oldest learnt speaker makes room */
                        i = (int)(r->next % CODEC_REFUSAL_DEVICES);
                        r->next++;
                }
                snprintf(r->dev[i].address, sizeof(r->dev[i].address), "%s", address);
                r->dev[i].mask = 0;
        }
        if (r->dev[i].mask & (1u << codec))
                return false;
        r->dev[i].mask |= 1u << codec;
        return true;
}

bool codec_refusal_has(const struct codec_refusals *r, const char *address, enum a2dp_codec_index codec)
{
        int i = address && address[0] ? find(r, address) : -1;

        return i >= 0 && (unsigned)codec < CODEC_COUNT && (r->dev[i].mask & (1u << codec));
}

void codec_refusal_clear(struct codec_refusals *r, const char *address, enum a2dp_codec_index codec)
{
        int i = address && address[0] ? find(r, address) : -1;

        if (i < 0)
                return;
        if ((unsigned)codec < CODEC_COUNT)
                r->dev[i].mask &= ~(1u << codec);
        if ((unsigned)codec >= CODEC_COUNT || !r->dev[i].mask)
                memset(&r->dev[i], 0, sizeof(r->dev[i]));
}
