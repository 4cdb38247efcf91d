/* Codec names and identities, whether built in or not (pure, unit-tested):
 * the names users type (Manager1.SetCodec and Codecs, a2dpsrcctl), and
 * which codec a speaker's stream end point offers, from its codec type and
 * the vendor header of vendor codecs. */
#ifndef A2DPSRC_CODEC_NAMES_H
#define A2DPSRC_CODEC_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "a2dp-codec.h"

/* "sbc", "sbc-xq", "aptx", "aptx-hd", "aac", "ldac", by enum a2dp_codec_index */
extern const char *const codec_names[CODEC_COUNT];
/* "SBC", "SBC-XQ", "aptX", "aptX HD", "AAC", "LDAC" */
extern const char *const codec_labels[CODEC_COUNT];

/* The index of a codec name, or -1. */
int codec_index_by_name(const char *name);
/* "sbc, sbc-xq, aptx, aptx-hd, aac, ldac": every name, in index order. */
void codec_known_names(char *buf, size_t len);
/* The codec a SEP of this codec type and capabilities is: SBC (SBC-XQ is
 * SBC to a speaker), AAC, or a vendor codec by its header; -1 for anything
 * else (another vendor's, a header too short). */
int codec_identify(uint8_t codec_type, const uint8_t *caps, size_t len);
/* The names of the codecs in mask, in the fixed registration order,
 * comma-separated ("sbc-xq, sbc"). */
void codec_mask_names(unsigned mask, char *buf, size_t len);
/* Checks a list of names for Codecs: every name known (else -EINVAL naming
 * it and listing the known ones), built (built: a mask; else -ENOTSUP
 * naming it), sbc among them (else -EINVAL), no duplicates. *mask gets the
 * codecs named. */
int codec_parse_names(const char *const *names, unsigned n, unsigned built, unsigned *mask,
                      char *err, size_t err_len);

#endif
