/* Codec names and identities (pure): codec-names.h. */
#include "codec-names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* vendor codecs (A2DP 4.7.2): the vendor's company id and its codec id */
#define APTX_VENDOR 0x0000004fu      /* APT Licensing */
#define APTX_CODEC 0x0001
#define APTX_HD_VENDOR 0x000000d7u   /* Qualcomm */
#define APTX_HD_CODEC 0x0024
#define LDAC_VENDOR 0x0000012du      /* Sony */
#define LDAC_CODEC 0x00aa

const char *const codec_names[CODEC_COUNT] = {
        [CODEC_SBC] = "sbc", [CODEC_SBC_XQ] = "sbc-xq", [CODEC_APTX] = "aptx",
        [CODEC_APTX_HD] = "aptx-hd", [CODEC_AAC] = "aac", [CODEC_LDAC] = "ldac",
};

const char *const codec_labels[CODEC_COUNT] = {
        [CODEC_SBC] = "SBC", [CODEC_SBC_XQ] = "SBC-XQ", [CODEC_APTX] = "aptX",
        [CODEC_APTX_HD] = "aptX HD", [CODEC_AAC] = "AAC", [CODEC_LDAC] = "LDAC",
};

int codec_index_by_name(const char *name)
{
        for (int i = 0; name && i < CODEC_COUNT; i++)
                if (strcmp(codec_names[i], name) == 0)
                        return i;
        return -1;
}

static void append(char *buf, size_t len, size_t *at, const char *s)
{
        int n = snprintf(buf + *at, len - *at, "%s%s", *at ? ", " : "", s);

        if (n > 0)
                *at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

void codec_known_names(char *buf, size_t len)
{
        size_t at = 0;

        if (!len)
                return;
        buf[0] = '\0';
        for (int i = 0; i < CODEC_COUNT; i++)
                append(buf, len, &at, codec_names[i]);
}

void codec_mask_names(unsigned mask, char *buf, size_t len)
{
        size_t at = 0;

        if (!len)
                return;
        buf[0] = '\0';
        for (int i = 0; i < CODEC_COUNT; i++)
                if (mask & (1u << a2dp_codec_default_order[i]))
                        append(buf, len, &at, codec_names[a2dp_codec_default_order[i]]);
}

int codec_identify(uint8_t codec_type, const uint8_t *caps, size_t len)
{
        if (codec_type == A2DP_CODEC_SBC)
                return CODEC_SBC;
        if (codec_type == A2DP_CODEC_MPEG24)
                return CODEC_AAC;
        if (codec_type != A2DP_CODEC_VENDOR)
                return -1;
        if (a2dp_vendor_header_is(caps, len, APTX_VENDOR, APTX_CODEC))
                return CODEC_APTX;
        if (a2dp_vendor_header_is(caps, len, APTX_HD_VENDOR, APTX_HD_CODEC))
                return CODEC_APTX_HD;
        if (a2dp_vendor_header_is(caps, len, LDAC_VENDOR, LDAC_CODEC))
                return CODEC_LDAC;
        return -1;
}

int codec_parse_names(const char *const *names, unsigned n, unsigned built, unsigned *mask,
                      char *err, size_t err_len)
{
        char known[96];
        unsigned m = 0;

        codec_known_names(known, sizeof(known));
        for (unsigned i = 0; i < n; i++) {
                int c = codec_index_by_name(names[i]);

                if (c < 0) {
                        snprintf(err, err_len, "'%.40s' is not a codec (the codecs: %s)", names[i], known);
                        return -EINVAL;
                }
                if (!(built & (1u << c))) {
                        snprintf(err, err_len,
                                 "%s is not built into this a2dpsrc, or its library is missing",
                                 codec_labels[c]);
                        return -ENOTSUP;
                }
                if (m & (1u << c)) {
                        snprintf(err, err_len, "%s is named twice", names[i]);
                        return -EINVAL;
                }
                m |= 1u << c;
        }
        if (!(m & (1u << CODEC_SBC))) {
                snprintf(err, err_len, "the list must name sbc, the codec every speaker has");
                return -EINVAL;
        }
        *mask = m;
        return 0;
}
