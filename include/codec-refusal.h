/* Codecs a speaker refused to be configured with. A speaker may advertise
 * a codec and then reject the configuration we chose in it (AVDTP
 * SET_CONFIGURATION refused); bluetoothd 5.66 then fails the connection
 * and, remembering nothing, would pick the same local endpoint the next
 * time. The refusal is learnt here, per speaker, for the daemon's life (a
 * restart tries again: the failure may have been the link's), and the
 * endpoint of that codec declines SelectConfiguration for the speaker, so
 * that bluetoothd moves on to its next endpoint. A refusal of SBC as well
 * undoes what was learnt since the speaker last streamed (it was busy,
 * not picky). Pure, no I/O. */
#ifndef A2DPSRC_CODEC_REFUSAL_H
#define A2DPSRC_CODEC_REFUSAL_H

#include <stdbool.h>

#include "a2dp-codec.h"

#define CODEC_REFUSAL_DEVICES 8

struct codec_refusals {
        struct {
                char address[18];       /* "" free */
                unsigned mask;          /* 1 << enum a2dp_codec_index */
                unsigned unconfirmed;   /* of mask: since its last stream */
                bool busy;              /* refused SBC since its last stream */
        } dev[CODEC_REFUSAL_DEVICES];
        unsigned next;                  /* the slot a new speaker takes when full */
};

/* Notes that address refused codec; returns false when it already had. */
bool codec_refusal_add(struct codec_refusals *r, const char *address, enum a2dp_codec_index codec);
bool codec_refusal_has(const struct codec_refusals *r, const char *address, enum a2dp_codec_index codec);
/* A speaker that refuses SBC too (every sink must take it) refused the
 * connection, not our codecs: a speaker busy with a phone rejects every
 * SET_CONFIGURATION. The refusals learnt since its last stream are
 * forgotten, and it is busy until it streams; returns how many. */
unsigned codec_refusal_sbc_refused(struct codec_refusals *r, const char *address);
/* Refused SBC since it last streamed: a refusal now may be its being busy
 * (the next codec is tried at the next attempt, not at once). */
bool codec_refusal_busy(const struct codec_refusals *r, const char *address);
/* address streams: what it refused until now stands, but for what it
 * refused while busy, which is forgotten; returns how many were. */
unsigned codec_refusal_confirm(struct codec_refusals *r, const char *address);
/* Forgets that address refused codec (the user asked for it by name:
 * SetCodec), or every refusal of address with CODEC_COUNT. */
void codec_refusal_clear(struct codec_refusals *r, const char *address, enum a2dp_codec_index codec);

#endif
