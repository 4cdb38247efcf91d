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

/* address's slot, made when it has none (the oldest learnt speaker makes
 * room when all are taken); -1 for no address. */
static int slot(struct codec_refusals *r, const char *address)
{
        int i = find(r, address);

        if (i >= 0 || !address[0])
                return i;
        for (i = 0; i < CODEC_REFUSAL_DEVICES && r->dev[i].address[0]; i++) {
        }
        if (i == CODEC_REFUSAL_DEVICES) {
                i = (int)(r->next % CODEC_REFUSAL_DEVICES);
                r->next++;
        }
        memset(&r->dev[i], 0, sizeof(r->dev[i]));
        snprintf(r->dev[i].address, sizeof(r->dev[i].address), "%s", address);
        return i;
}

bool codec_refusal_add(struct codec_refusals *r, const char *address, enum a2dp_codec_index codec)
{
        int i;

        if ((unsigned)codec >= CODEC_COUNT || (i = slot(r, address)) < 0)
                return false;
        if (r->dev[i].mask & (1u << codec))
                return false;
        r->dev[i].mask |= 1u << codec;
        r->dev[i].unconfirmed |= 1u << codec;
        return true;
}

unsigned codec_refusal_sbc_refused(struct codec_refusals *r, const char *address)
{
        int i = address ? slot(r, address) : -1;
        unsigned n;

        if (i < 0)
                return 0;
        n = (unsigned)__builtin_popcount(r->dev[i].unconfirmed);
        r->dev[i].mask &= ~r->dev[i].unconfirmed;
        r->dev[i].unconfirmed = 0;
        r->dev[i].busy = true;
        return n;
}

bool codec_refusal_busy(const struct codec_refusals *r, const char *address)
{
        int i = address && address[0] ? find(r, address) : -1;

        return i >= 0 && r->dev[i].busy;
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
        if ((unsigned)codec < CODEC_COUNT) {
                r->dev[i].mask &= ~(1u << codec);
                r->dev[i].unconfirmed &= ~(1u << codec);
        }
        if ((unsigned)codec >= CODEC_COUNT || !r->dev[i].mask)
                memset(&r->dev[i], 0, sizeof(r->dev[i]));
}

unsigned codec_refusal_confirm(struct codec_refusals *r, const char *address)
{
        int i = address && address[0] ? find(r, address) : -1;
        unsigned n = 0;

        if (i < 0)
                return 0;
        /* refused while busy: not believed (a free speaker refusing that
         * codec refuses it again, and is then believed) */
        if (r->dev[i].busy) {
                n = (unsigned)__builtin_popcount(r->dev[i].unconfirmed);
                r->dev[i].mask &= ~r->dev[i].unconfirmed;
        }
        r->dev[i].unconfirmed = 0;
        r->dev[i].busy = false;
        if (!r->dev[i].mask)
                memset(&r->dev[i], 0, sizeof(r->dev[i]));
        return n;
}
