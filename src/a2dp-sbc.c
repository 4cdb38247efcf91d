/* SBC behind the codec interface: libsbc encodes, sbc-config.c chooses and
 * validates (pure), rtp.h frames. The quality levels are bitpools. */
#include "a2dp-sbc.h"

#include <errno.h>
#include <sbc/sbc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err-text.h"

#define SBC_LEVELS_MAX 32

struct codec_encoder {
        sbc_t sbc;
        struct sbc_params p;
        unsigned bitpools[SBC_LEVELS_MAX];
        unsigned levels;
        unsigned level;
};

unsigned sbc_bitrate(const struct sbc_params *p, unsigned bitpool)
{
        unsigned fs = sbc_frame_samples(p);

        return fs ? (unsigned)((uint64_t)sbc_frame_length(p, bitpool) * 8 * p->rate / fs) : 0;
}

unsigned sbc_bitpool_ladder(const struct sbc_params *p, unsigned *bitpools, unsigned max)
{
        unsigned bp = sbc_params_working_bitpool(p), n = 0;

        while (n < max) {
                unsigned step = bp / 8 > 2 ? bp / 8 : 2;

                bitpools[n++] = bp;
                if (bp <= p->min_bitpool)
                        break;
                bp = bp > p->min_bitpool + step ? bp - step : p->min_bitpool;
        }
        return n;
}

static size_t sbc_caps(uint8_t *out, size_t len)
{
        if (len < A2DP_SBC_INFO_LEN)
                return 0;
        memcpy(out, sbc_source_capabilities, A2DP_SBC_INFO_LEN);
        return A2DP_SBC_INFO_LEN;
}

static bool sbc_usable(const uint8_t *caps, size_t len, const struct codec_prefs *prefs)
{
        uint8_t config[A2DP_SBC_INFO_LEN];

        return sbc_config_select(caps, len, prefs ? prefs->rate : 0, config, NULL, 0) == 0;
}

static int sbc_select(const uint8_t *caps, size_t len, const struct codec_prefs *prefs,
                      uint8_t *config, size_t config_len, char *err, size_t err_len)
{
        int r;

        if (config_len < A2DP_SBC_INFO_LEN)
                return err_text(err, err_len, "configuration: no room for SBC's 4 bytes");
        r = sbc_config_select(caps, len, prefs ? prefs->rate : 0, config, err, err_len);
        return r < 0 ? r : A2DP_SBC_INFO_LEN;
}

int a2dp_sbc_parse(const uint8_t *config, size_t len, struct codec_info *info, char *err,
                   size_t err_len)
{
        struct sbc_params p;
        int r = sbc_config_parse(config, len, &p, err, err_len);

        if (r < 0)
                return r;
        /* SelectConfiguration never picks mono; a speaker that sets it up
         * itself is refused, not left holding a started stream the audio
         * thread cannot feed */
        if (p.channels != 2)
                return err_text(err, err_len,
                                "configuration: channel mode mono is not supported; a2dpsrc streams stereo");
        *info = (struct codec_info){
                .rate = p.rate,
                .channels = 2,
                .frame_samples = sbc_frame_samples(&p),
                .delay_samples = sbc_encoder_delay(&p),
                /* what we send with: a speaker's own configuration may
                 * allow bitpool 250, which no real link carries */
                .max_bitrate = sbc_bitrate(&p, sbc_params_working_bitpool(&p)),
                .frame_bytes = (unsigned)sbc_frame_length(&p, sbc_params_working_bitpool(&p)),
                .packet_overhead = RTP_SBC_OVERHEAD,
        };
        return 0;
}

void a2dp_sbc_describe(const uint8_t *config, size_t len, unsigned level, char *buf,
                       size_t buf_len)
{
        unsigned ladder[SBC_LEVELS_MAX], n;
        struct sbc_params p;

        if (sbc_config_parse(config, len, &p, NULL, 0) < 0) {
                snprintf(buf, buf_len, "SBC (invalid configuration)");
                return;
        }
        n = sbc_bitpool_ladder(&p, ladder, SBC_LEVELS_MAX);
        sbc_params_describe(&p, ladder[level < n ? level : n - 1], buf, buf_len);
}

bool a2dp_sbc_available(void)
{
        return true;    /* linked */
}

int a2dp_sbc_encoder_new(const uint8_t *config, size_t len, size_t mtu,
                         struct codec_encoder **out, char *err, size_t err_len)
{
        struct codec_encoder *e;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e) {
                err_text(err, err_len, "out of memory");
                return -ENOMEM;
        }
        r = sbc_config_parse(config, len, &e->p, err, err_len);
        if (r < 0)
                goto fail;
        if (sbc_init_a2dp(&e->sbc, 0, config, len) < 0) {
                r = err_text(err, err_len, "libsbc refused the configuration");
                goto fail;
        }
        e->sbc.endian = SBC_LE;
        e->levels = sbc_bitpool_ladder(&e->p, e->bitpools, SBC_LEVELS_MAX);
        e->level = 0;
        e->sbc.bitpool = (uint8_t)e->bitpools[0];
        *out = e;
        return 0;
fail:
        free(e);
        return r;
}

void a2dp_sbc_encoder_free(struct codec_encoder *e)
{
        if (!e)
                return;
        sbc_finish(&e->sbc);
        free(e);
}

int a2dp_sbc_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len)
{
        size_t in_bytes = (size_t)sbc_frame_samples(&e->p) * 2 * sizeof(int16_t);
        ssize_t written = 0;
        ssize_t consumed = sbc_encode(&e->sbc, pcm, in_bytes, out, out_len, &written);

        if (consumed <= 0 || written <= 0)
                return -EIO;
        return (int)written;
}

size_t a2dp_sbc_header_len(const struct codec_encoder *e)
{
        return RTP_SBC_OVERHEAD;
}

void a2dp_sbc_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                           const struct codec_packet_meta *m)
{
        uint8_t h;

        if (m->frag == FRAG_NONE) {
                h = (uint8_t)(m->frames & 0x0f);
        } else {
                /* the 4-bit field counts the fragments left, this one included */
                h = RTP_SBC_FRAGMENTED | (uint8_t)((m->fragments_left + 1) & 0x0f);
                if (m->frag == FRAG_FIRST)
                        h |= RTP_SBC_START;
                if (m->frag == FRAG_LAST)
                        h |= RTP_SBC_LAST;
        }
        rtp_sbc_write_header(rtp, pkt, m->timestamp, h);
}

unsigned a2dp_sbc_levels(const struct codec_encoder *e)
{
        return e->levels;
}

void a2dp_sbc_set_level(struct codec_encoder *e, unsigned level)
{
        if (level >= e->levels)
                level = e->levels - 1;
        e->level = level;
        e->sbc.bitpool = (uint8_t)e->bitpools[level];
}

unsigned a2dp_sbc_level_bitrate(const struct codec_encoder *e, unsigned level)
{
        return sbc_bitrate(&e->p, e->bitpools[level < e->levels ? level : e->levels - 1]);
}

unsigned a2dp_sbc_level_value(const struct codec_encoder *e, unsigned level)
{
        return e->bitpools[level < e->levels ? level : e->levels - 1];
}

const struct a2dp_codec a2dp_codec_sbc = {
        .index = CODEC_SBC,
        .name = "sbc",
        .label = "SBC",
        .codec_id = A2DP_CODEC_SBC,
        .capabilities = sbc_caps,
        .usable = sbc_usable,
        .select = sbc_select,
        .parse = a2dp_sbc_parse,
        .describe = a2dp_sbc_describe,
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
