/* The codec table. A codec is added with its declaration and one line in
 * a2dp_codecs[], both under its build switch:
 *     #ifdef WITH_APTX
 *     #include "a2dp-aptx.h"
 *     #endif
 *     ...
 *     #ifdef WITH_APTX
 *             [CODEC_APTX] = &a2dp_codec_aptx,
 *     #endif
 * The registration order (a2dp_codec_default_order) already names every
 * codec and never changes; codecs not built are skipped. */
#include "a2dp-codec.h"

#include <string.h>

#include "a2dp-sbc.h"
#ifdef WITH_APTX
#include "a2dp-aptx.h"
#endif
#ifdef WITH_AAC
#include "a2dp-aac.h"
#endif
#ifdef WITH_LDAC
#include "a2dp-ldac.h"
#endif

const struct a2dp_codec *const a2dp_codecs[CODEC_COUNT] = {
        [CODEC_SBC] = &a2dp_codec_sbc,
        [CODEC_SBC_XQ] = &a2dp_codec_sbc_xq,
#ifdef WITH_APTX
        [CODEC_APTX] = &a2dp_codec_aptx,
        [CODEC_APTX_HD] = &a2dp_codec_aptx_hd,
#endif
#ifdef WITH_AAC
        [CODEC_AAC] = &a2dp_codec_aac,
#endif
#ifdef WITH_LDAC
        [CODEC_LDAC] = &a2dp_codec_ldac,
#endif
};

const enum a2dp_codec_index a2dp_codec_default_order[CODEC_COUNT] = {
        CODEC_LDAC, CODEC_APTX_HD, CODEC_APTX, CODEC_AAC, CODEC_SBC_XQ, CODEC_SBC,
};

const struct a2dp_codec *a2dp_codec_by_name(const char *name)
{
        for (unsigned i = 0; name && i < CODEC_COUNT; i++)
                if (a2dp_codecs[i] && strcmp(a2dp_codecs[i]->name, name) == 0)
                        return a2dp_codecs[i];
        return NULL;
}

const struct a2dp_codec *a2dp_codec_registered(unsigned n)
{
        for (unsigned i = 0; i < CODEC_COUNT; i++) {
                const struct a2dp_codec *c = a2dp_codecs[a2dp_codec_default_order[i]];

                if (c && n-- == 0)
                        return c;
        }
        return NULL;
}

bool a2dp_vendor_header_is(const uint8_t *blob, size_t len, uint32_t vendor, uint16_t codec)
{
        if (!blob || len < A2DP_VENDOR_HEADER_LEN)
                return false;
        return (blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                (uint32_t)blob[3] << 24) == vendor &&
               (uint16_t)(blob[4] | blob[5] << 8) == codec;
}

void a2dp_vendor_header_write(uint8_t *blob, uint32_t vendor, uint16_t codec)
{
        blob[0] = (uint8_t)vendor;
        blob[1] = (uint8_t)(vendor >> 8);
        blob[2] = (uint8_t)(vendor >> 16);
        blob[3] = (uint8_t)(vendor >> 24);
        blob[4] = (uint8_t)codec;
        blob[5] = (uint8_t)(codec >> 8);
}

bool a2dp_codec_matches(const struct a2dp_codec *c, uint8_t codec_id, const uint8_t *blob,
                        size_t len)
{
        if (!c || c->codec_id != codec_id)
                return false;
        if (codec_id != A2DP_CODEC_VENDOR)
                return true;
        return a2dp_vendor_header_is(blob, len, c->vendor_id, c->vendor_codec_id);
}

unsigned a2dp_codec_packet_samples(const struct a2dp_codec *c, const struct codec_info *info,
                                   size_t mtu)
{
        size_t frame = info->frame_bytes, n;

        if (mtu > CODEC_MAX_PACKET)
                mtu = CODEC_MAX_PACKET;
        if (!frame && info->max_bitrate && info->rate)
                frame = ((uint64_t)info->max_bitrate * info->frame_samples + 8ull * info->rate - 1) /
                        (8ull * info->rate);
        if (!frame || mtu <= info->packet_overhead)
                return info->frame_samples;
        n = (mtu - info->packet_overhead) / frame;
        if (n > c->max_frames)
                n = c->max_frames;
        return (unsigned)(n ? n : 1) * info->frame_samples;
}
