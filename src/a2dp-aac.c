/* AAC's capability blob, the choice of a configuration and its validation:
 * pure (fuzzed by fuzz-aac-config). The encoder is aac-encoder.c.
 *
 * Object type: both MPEG-2 AAC LC and MPEG-4 AAC LC are AAC-LC frames in
 * the same LATM framing (A2DP spec 4.5.4); MPEG-4 also allows perceptual
 * noise substitution, which the MPEG-2 profile leaves out. We offer and
 * accept both, choose MPEG-4 when the speaker has it (older sinks offer
 * only MPEG-2), and tell libavcodec which, so an MPEG-2 stream carries no
 * PNS. LTP, scalable, HE-AAC and ELD are not encoded by libavcodec: a
 * speaker offering only those is refused with a reason. */
#include "a2dp-aac.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err-text.h"
#include "latm.h"

struct rate_bit {
        uint16_t bit;            /* in the 16-bit octets 1-2 value */
        unsigned rate;
};

static const struct rate_bit rate_bits[] = {
        { 0x8000, 8000 },  { 0x4000, 11025 }, { 0x2000, 12000 }, { 0x1000, 16000 },
        { 0x0800, 22050 }, { 0x0400, 24000 }, { 0x0200, 32000 }, { 0x0100, 44100 },
        { 0x0080, 48000 }, { 0x0040, 64000 }, { 0x0020, 88200 }, { 0x0010, 96000 },
};
#define N_RATES (sizeof(rate_bits) / sizeof(rate_bits[0]))

/* After the capture's own rate: 48 and 44.1 kHz (what boards capture),
 * then the higher rates (resampling up loses nothing), then the lower. */
static const unsigned rate_pref[] = { 48000, 44100, 96000, 88200, 64000, 32000,
                                      24000, 22050, 16000, 12000, 11025, 8000 };

static const uint8_t percent[AAC_LEVELS] = { 100, 75, 50 };

static uint16_t rate_field(const uint8_t *b)
{
        return (uint16_t)(((unsigned)b[1] << 8) | (b[2] & 0xf0));
}

static unsigned bitrate_field(const uint8_t *b)
{
        return ((unsigned)(b[3] & 0x7f) << 16) | ((unsigned)b[4] << 8) | b[5];
}

static void put_bitrate(uint8_t *b, unsigned bitrate, bool vbr)
{
        b[3] = (uint8_t)((vbr ? AAC_VBR : 0) | ((bitrate >> 16) & 0x7f));
        b[4] = (uint8_t)(bitrate >> 8);
        b[5] = (uint8_t)bitrate;
}

static uint16_t bit_of_rate(unsigned rate)
{
        for (size_t i = 0; i < N_RATES; i++)
                if (rate_bits[i].rate == rate)
                        return rate_bits[i].bit;
        return 0;
}

unsigned aac_encoder_max_bitrate(unsigned rate, unsigned channels)
{
        return 6u * channels * rate;
}

/* The bit rate we encode a configuration at: the speaker's figure (the
 * most it takes), or ours when it says nothing (0); never more than
 * AAC_PREFERRED_BITRATE (a speaker that sets 320 kbit/s itself gets 256:
 * libavcodec's encoder is steadier there, see a2dp-aac.h) nor than the
 * encoder can put in a frame. */
static unsigned effective_bitrate(unsigned field, unsigned rate, unsigned channels)
{
        unsigned b = field && field < AAC_PREFERRED_BITRATE ? field : AAC_PREFERRED_BITRATE;
        unsigned max = aac_encoder_max_bitrate(rate, channels);

        return b < max ? b : max;
}

static size_t aac_caps(uint8_t *out, size_t len)
{
        if (len < AAC_INFO_LEN)
                return 0;
        out[0] = AAC_OBJ_MPEG2_LC | AAC_OBJ_MPEG4_LC;
        out[1] = 0xff;                   /* 8000 .. 44100 */
        out[2] = 0xf0 | AAC_CHANNELS_1 | AAC_CHANNELS_2; /* 48000 .. 96000 */
        /* the most we ever ask for: a speaker configuring the stream
         * itself picks at most this */
        put_bitrate(out, 320000, true);
        return AAC_INFO_LEN;
}

static int check_len(size_t len, const char *what, char *err, size_t err_len)
{
        if (len != AAC_INFO_LEN)
                return err_text(err, err_len, "%s: %zu bytes, AAC has %d", what, len,
                                AAC_INFO_LEN);
        return 0;
}

static int select_config(const uint8_t *caps, size_t len, const struct codec_prefs *prefs,
                         uint8_t *config, size_t config_len, char *err, size_t err_len)
{
        unsigned want = prefs && prefs->rate ? prefs->rate : 48000;
        unsigned rate = 0, field;
        uint16_t rates;
        uint8_t obj;

        if (!caps || check_len(len, "capabilities", err, err_len) < 0)
                return -EINVAL;
        if (config_len < AAC_INFO_LEN)
                return err_text(err, err_len, "configuration: no room for %d bytes",
                                AAC_INFO_LEN);
        if (caps[0] & AAC_OBJ_MPEG4_LC)
                obj = AAC_OBJ_MPEG4_LC;
        else if (caps[0] & AAC_OBJ_MPEG2_LC)
                obj = AAC_OBJ_MPEG2_LC;
        else {
                err_text(err, err_len, "object type: the speaker offers no AAC-LC "
                         "(0x%02x); libavcodec encodes only AAC-LC", caps[0]);
                return -ENOTSUP;
        }
        rates = rate_field(caps);
        if (rates & bit_of_rate(want))
                rate = want;
        for (size_t i = 0; !rate && i < sizeof(rate_pref) / sizeof(rate_pref[0]); i++)
                if (rates & bit_of_rate(rate_pref[i]))
                        rate = rate_pref[i];
        if (!rate)
                return err_text(err, err_len, "sampling frequency: none set");
        if (!(caps[2] & AAC_CHANNELS_2)) {
                err_text(err, err_len, (caps[2] & AAC_CHANNELS_1)
                         ? "channels: the speaker supports only mono; a2dpsrc sends stereo"
                         : "channels: no mono or stereo");
                return -ENOTSUP;
        }
        field = bitrate_field(caps);
        if (field && field < AAC_MIN_BITRATE) {
                err_text(err, err_len, "bit rate: the speaker allows only %u bit/s", field);
                return -ENOTSUP;
        }
        field = effective_bitrate(field, rate, 2);

        config[0] = obj;
        config[1] = (uint8_t)(bit_of_rate(rate) >> 8);
        config[2] = (uint8_t)((bit_of_rate(rate) & 0xf0) | AAC_CHANNELS_2);
        /* VBR when the speaker takes it: it lets congestion lower the rate */
        put_bitrate(config, field, caps[3] & AAC_VBR);
        return AAC_INFO_LEN;
}

static bool aac_usable(const uint8_t *caps, size_t len, const struct codec_prefs *prefs)
{
        uint8_t config[AAC_INFO_LEN];

        return select_config(caps, len, prefs, config, sizeof(config), NULL, 0) > 0;
}

int aac_params_parse(const uint8_t *config, size_t len, struct aac_params *p, char *err,
                     size_t err_len)
{
        uint16_t rates;
        unsigned field;

        memset(p, 0, sizeof(*p));
        if (!config || check_len(len, "configuration", err, err_len) < 0)
                return -EINVAL;
        if (config[0] == AAC_OBJ_MPEG4_LC)
                p->mpeg2 = false;
        else if (config[0] == AAC_OBJ_MPEG2_LC)
                p->mpeg2 = true;
        else
                return err_text(err, err_len, "object type 0x%02x: not one of MPEG-2 or "
                                "MPEG-4 AAC-LC", config[0]);
        rates = rate_field(config);
        for (size_t i = 0; i < N_RATES; i++)
                if (rates == rate_bits[i].bit)
                        p->rate = rate_bits[i].rate;
        if (!p->rate)
                return err_text(err, err_len, "sampling frequency: %s",
                                rates ? "several set" : "none set");
        switch (config[2] & AAC_CHANNELS_MASK) {
        case AAC_CHANNELS_1:
                p->channels = 1;
                break;
        case AAC_CHANNELS_2:
                p->channels = 2;
                break;
        default:
                return err_text(err, err_len, "channels 0x%x: not one of mono or stereo",
                                config[2] & AAC_CHANNELS_MASK);
        }
        field = bitrate_field(config);
        if (field && field < AAC_MIN_BITRATE)
                return err_text(err, err_len, "bit rate %u bit/s: too low for AAC", field);
        p->vbr = config[3] & AAC_VBR;
        p->bitrate = effective_bitrate(field, p->rate, p->channels);
        return 0;
}

unsigned aac_levels(const struct aac_params *p)
{
        return p->vbr ? AAC_LEVELS : 1;
}

unsigned aac_bitrate_at(const struct aac_params *p, unsigned level)
{
        unsigned n = aac_levels(p);

        if (level >= n)
                level = n - 1;
        return (unsigned)((unsigned long long)p->bitrate * percent[level] / 100);
}

static int aac_parse(const uint8_t *config, size_t len, struct codec_info *info, char *err,
                     size_t err_len)
{
        struct aac_params p;
        int ret = aac_params_parse(config, len, &p, err, err_len);

        if (ret < 0)
                return ret;
        memset(info, 0, sizeof(*info));
        info->rate = p.rate;
        info->channels = p.channels;
        info->frame_samples = AAC_FRAME_SAMPLES;
        info->delay_samples = AAC_DELAY_SAMPLES;
        info->max_bitrate = p.bitrate;
        /* an average frame at the best level with its LATM headers, and
         * the RTP header (frames vary: the sender fragments big ones) */
        info->frame_bytes = (unsigned)((unsigned long long)p.bitrate * AAC_FRAME_SAMPLES /
                                       (8ull * p.rate));
        info->frame_bytes += (unsigned)LATM_OVERHEAD(info->frame_bytes);
        info->packet_overhead = RTP_HEADER_LEN;
        return 0;
}

static void aac_describe(const uint8_t *config, size_t len, unsigned level, char *buf,
                         size_t buf_len)
{
        struct aac_params p;

        if (aac_params_parse(config, len, &p, NULL, 0) < 0) {
                snprintf(buf, buf_len, "AAC (invalid configuration)");
                return;
        }
        snprintf(buf, buf_len, "AAC %u Hz %u kbit/s%s%s%s", p.rate,
                 aac_bitrate_at(&p, level) / 1000, p.vbr ? " VBR" : "",
                 p.channels == 1 ? " mono" : "", p.mpeg2 ? " MPEG-2" : "");
}

const struct a2dp_codec a2dp_codec_aac = {
        .index = CODEC_AAC,
        .name = "aac",
        .label = "AAC",
        .codec_id = A2DP_CODEC_MPEG24,
        .capabilities = aac_caps,
        .usable = aac_usable,
        .select = select_config,
        .parse = aac_parse,
        .describe = aac_describe,
        .available = aac_available,
        .encoder_new = aac_encoder_new,
        .encoder_free = aac_encoder_free,
        .worker_tid = aac_encoder_worker_tid,
        .encode = aac_encode,
        .lag_samples = aac_encoder_lag_samples,
        .header_len = aac_header_len,
        .write_header = aac_write_header,
        .max_frames = 1,
        .can_fragment = true,
        .levels = aac_encoder_levels,
        .set_level = aac_set_level,
        .level_bitrate = aac_level_bitrate,
        .level_value = aac_level_value,
};
