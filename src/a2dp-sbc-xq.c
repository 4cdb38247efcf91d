/* SBC-XQ: plain SBC, configured for quality. Dual channel codes each
 * channel on its own bitpool, so no bits go to joint coding; at bitpool 38
 * (44.1 kHz, 16 blocks, 8 subbands, loudness) a frame is 164 bytes, about
 * 452 kbit/s, as bluez-alsa's XQ quality. At 48 kHz, bitpool 35 keeps the
 * same rate (456 kbit/s). Any A2DP sink decodes it (dual channel, 16
 * blocks, 8 subbands and loudness are mandatory for sinks), but a sink
 * that caps its maximum bitpool below it cannot take it, and some sinks
 * mishandle it anyway: docs/codecs.md. The encoder is SBC's. */
#include "a2dp-sbc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err-text.h"

#define XQ_BITPOOL_44100 SBC_DUAL_HQ_BITPOOL_44100
#define XQ_BITPOOL_48000 SBC_DUAL_HQ_BITPOOL_48000

unsigned sbc_xq_bitpool(unsigned rate)
{
        return rate == 48000 ? XQ_BITPOOL_48000 : XQ_BITPOOL_44100;
}

/* The rate XQ would use: the preferred one when offered, else 48 kHz, else
 * 44.1 kHz; 0 when neither is offered. */
static unsigned xq_rate(uint8_t byte0, unsigned preferred)
{
        if (preferred == 44100 && (byte0 & SBC_CAP_FREQ_44100))
                return 44100;
        if (byte0 & SBC_CAP_FREQ_48000)
                return 48000;
        if (byte0 & SBC_CAP_FREQ_44100)
                return 44100;
        return 0;
}

const char *sbc_xq_refusal(const uint8_t *caps, size_t len, const struct codec_prefs *prefs)
{
        unsigned rate;

        if (prefs && prefs->no_xq)
                return "SBC-XQ is turned off for this speaker";
        if (!caps || len != A2DP_SBC_INFO_LEN)
                return "capabilities: SBC needs exactly 4 bytes";
        if (!(caps[0] & SBC_CAP_MODE_DUAL))
                return "SBC-XQ needs dual channel, which the speaker does not offer";
        if (!(caps[1] & SBC_CAP_BLOCKS_16) || !(caps[1] & SBC_CAP_SUBBANDS_8) ||
            !(caps[1] & SBC_CAP_ALLOC_LOUDNESS))
                return "SBC-XQ needs 16 blocks, 8 subbands and loudness allocation";
        rate = xq_rate(caps[0], prefs ? prefs->rate : 0);
        if (!rate)
                return "SBC-XQ needs 44.1 or 48 kHz";
        if (caps[3] < sbc_xq_bitpool(rate) || caps[3] > SBC_MAX_BITPOOL)
                return "the speaker's maximum bitpool is below SBC-XQ's";
        if (caps[2] < SBC_MIN_BITPOOL || caps[2] > sbc_xq_bitpool(rate))
                return "the speaker's minimum bitpool is above SBC-XQ's";
        return NULL;
}

static size_t xq_caps(uint8_t *out, size_t len)
{
        if (len < A2DP_SBC_INFO_LEN)
                return 0;
        out[0] = SBC_CAP_FREQ_44100 | SBC_CAP_FREQ_48000 | SBC_CAP_MODE_DUAL;
        out[1] = SBC_CAP_BLOCKS_16 | SBC_CAP_SUBBANDS_8 | SBC_CAP_ALLOC_LOUDNESS;
        out[2] = SBC_MIN_BITPOOL;
        out[3] = SBC_MAX_BITPOOL;
        return A2DP_SBC_INFO_LEN;
}

static bool xq_usable(const uint8_t *caps, size_t len, const struct codec_prefs *prefs)
{
        return sbc_xq_refusal(caps, len, prefs) == NULL;
}

static int xq_select(const uint8_t *caps, size_t len, const struct codec_prefs *prefs,
                     uint8_t *config, size_t config_len, char *err, size_t err_len)
{
        const char *why = sbc_xq_refusal(caps, len, prefs);
        unsigned rate;

        if (why) {
                err_text(err, err_len, "%s", why);
                return -ENOTSUP;
        }
        if (config_len < A2DP_SBC_INFO_LEN)
                return err_text(err, err_len, "configuration: no room for SBC's 4 bytes");
        rate = xq_rate(caps[0], prefs ? prefs->rate : 0);
        config[0] = (rate == 48000 ? SBC_CAP_FREQ_48000 : SBC_CAP_FREQ_44100) | SBC_CAP_MODE_DUAL;
        config[1] = SBC_CAP_BLOCKS_16 | SBC_CAP_SUBBANDS_8 | SBC_CAP_ALLOC_LOUDNESS;
        config[2] = caps[2];
        config[3] = (uint8_t)sbc_xq_bitpool(rate);
        return A2DP_SBC_INFO_LEN;
}

static void xq_describe(const uint8_t *config, size_t len, unsigned level, char *buf,
                        size_t buf_len)
{
        char sbc[96];

        struct sbc_params p;

        a2dp_sbc_describe(config, len, level, sbc, sizeof(sbc));
        /* a speaker may set up plain SBC on this endpoint itself: it is
         * SBC-XQ only when dual channel at SBC-XQ's bitpool */
        if (sbc_config_parse(config, len, &p, NULL, 0) < 0 || p.mode != SBC_CH_DUAL ||
            p.max_bitpool < sbc_xq_bitpool(p.rate)) {
                snprintf(buf, buf_len, "%s", sbc);
                return;
        }
        /* "SBC 44100 Hz ..." -> "SBC-XQ 44100 Hz ..." */
        snprintf(buf, buf_len, "SBC-XQ%s", strncmp(sbc, "SBC", 3) == 0 ? sbc + 3 : sbc);
}

const struct a2dp_codec a2dp_codec_sbc_xq = {
        .index = CODEC_SBC_XQ,
        .name = "sbc-xq",
        .label = "SBC-XQ",
        .codec_id = A2DP_CODEC_SBC,
        .capabilities = xq_caps,
        .usable = xq_usable,
        .select = xq_select,
        .parse = a2dp_sbc_parse,
        .describe = xq_describe,
        .available = a2dp_sbc_available,
        .encoder_new = a2dp_sbc_encoder_new,
        .encoder_free = a2dp_sbc_encoder_free,
        .encode = a2dp_sbc_encode,
        .header_len = a2dp_sbc_header_len,
        .write_header = a2dp_sbc_write_header,
        .max_frames = RTP_SBC_MAX_FRAMES,
        .can_fragment = true,
        .levels = a2dp_sbc_levels,
        .set_level = a2dp_sbc_set_level,
        .level_bitrate = a2dp_sbc_level_bitrate,
        .level_value = a2dp_sbc_level_value,
};
