/* aptX behind the codec interface, and what aptX HD shares with it
 * (a2dp-aptx-hd.c is the rest): the pure capability logic of the family,
 * and the libfreeaptx encoder, opened with dlopen when a stream first
 * uses it. freeaptx.h gives the prototypes only; nothing links the
 * library. */
#include "a2dp-aptx.h"

#include <errno.h>
#include <freeaptx.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec-lib.h"
#include "codec-sonames.h"
#include "err-text.h"

/* libfreeaptx takes 24-bit little-endian samples */
#define APTX_IN_BYTES_PER_FRAME 6u   /* 2 channels x 3 bytes */

struct codec_encoder {
        const struct aptx_variant *v;
        void *lib;
        struct aptx_context *ctx;
        __typeof__(aptx_init) *init;
        __typeof__(aptx_finish) *finish;
        __typeof__(aptx_encode) *encode;
        unsigned rate;
        size_t frame_bytes;
        uint8_t in24[APTX_FRAME_SAMPLES * APTX_IN_BYTES_PER_FRAME];
};

const struct aptx_variant aptx_variant_aptx = {
        .label = "aptX",
        .vendor_id = APTX_VENDOR_ID,
        .codec_id = APTX_CODEC_ID,
        .blob_len = APTX_CAPS_LEN,
        .codeword = 4,
        .header_len = 0,        /* bare codewords: no RTP in aptX's A2DP framing */
        .hd = 0,
};

static const struct {
        uint8_t bit;
        unsigned rate;
} aptx_rates[] = {
        /* our preference when the capture's rate is not offered */
        { APTX_FREQ_48000, 48000 },
        { APTX_FREQ_44100, 44100 },
        { APTX_FREQ_32000, 32000 },
        { APTX_FREQ_16000, 16000 },
};

#define N_RATES (sizeof(aptx_rates) / sizeof(aptx_rates[0]))

static unsigned rate_of(uint8_t bit)
{
        size_t i;

        for (i = 0; i < N_RATES; i++)
                if (aptx_rates[i].bit == bit)
                        return aptx_rates[i].rate;
        return 0;
}

static unsigned bitrate(const struct aptx_variant *v, unsigned rate)
{
        /* one codeword per 4 stereo samples, whatever the signal */
        return (unsigned)(rate * v->codeword * 8 / 4);
}

size_t a2dp_aptx_family_capabilities(const struct aptx_variant *v, uint8_t *out, size_t len)
{
        if (len < v->blob_len)
                return 0;
        memset(out, 0, v->blob_len);   /* aptX HD's reserved bytes are zero */
        a2dp_vendor_header_write(out, v->vendor_id, v->codec_id);
        /* libfreeaptx encodes stereo only */
        out[A2DP_VENDOR_HEADER_LEN] = APTX_FREQ_MASK | APTX_MODE_STEREO;
        return v->blob_len;
}

/* The checks a capability and a configuration blob share: length and
 * vendor header. */
static int check_blob(const struct aptx_variant *v, const char *what, const uint8_t *blob,
                      size_t len, bool exact, char *err, size_t err_len)
{
        if (!blob || len < v->blob_len || (exact && len != v->blob_len))
                return err_text(err, err_len, "%s %s: %zu bytes, %s%zu expected", v->label, what,
                                blob ? len : 0, exact ? "" : "at least ", v->blob_len);
        if (!a2dp_vendor_header_is(blob, len, v->vendor_id, v->codec_id))
                return err_text(err, err_len,
                                "%s %s: vendor 0x%08x codec 0x%04x, not %s's (vendor 0x%08x codec 0x%04x)",
                                v->label, what,
                                (unsigned)(blob[0] | blob[1] << 8 | blob[2] << 16 |
                                           (uint32_t)blob[3] << 24),
                                (unsigned)(blob[4] | blob[5] << 8), v->label,
                                (unsigned)v->vendor_id, (unsigned)v->codec_id);
        return 0;
}

int a2dp_aptx_family_select(const struct aptx_variant *v, const uint8_t *caps, size_t len,
                            const struct codec_prefs *prefs, uint8_t *config, size_t config_len,
                            char *err, size_t err_len)
{
        unsigned want = prefs && prefs->rate ? prefs->rate : 48000;
        uint8_t freq, mode, chosen = 0;
        size_t i;
        int r;

        if (config_len < v->blob_len)
                return err_text(err, err_len, "configuration: no room for %s's %zu bytes",
                                v->label, v->blob_len);
        r = check_blob(v, "capabilities", caps, len, false, err, err_len);
        if (r < 0)
                return r;
        freq = caps[A2DP_VENDOR_HEADER_LEN] & APTX_FREQ_MASK;
        mode = caps[A2DP_VENDOR_HEADER_LEN] & APTX_MODE_MASK;
        if (!freq)
                return err_text(err, err_len, "%s capabilities: sampling frequency field is empty",
                                v->label);
        if (!mode)
                return err_text(err, err_len, "%s capabilities: channel mode field is empty",
                                v->label);
        if (!(mode & APTX_MODE_STEREO)) {
                err_text(err, err_len,
                         "%s capabilities: channel mode 0x%x offers no stereo; a2dpsrc streams stereo",
                         v->label, mode);
                return -ENOTSUP;
        }
        for (i = 0; i < N_RATES; i++)
                if ((freq & aptx_rates[i].bit) && aptx_rates[i].rate == want)
                        chosen = aptx_rates[i].bit;
        for (i = 0; i < N_RATES && !chosen; i++)
                if (freq & aptx_rates[i].bit)
                        chosen = aptx_rates[i].bit;
        /* the four bits of the nibble are the four rates: one is set */
        memset(config, 0, v->blob_len);
        a2dp_vendor_header_write(config, v->vendor_id, v->codec_id);
        config[A2DP_VENDOR_HEADER_LEN] = chosen | APTX_MODE_STEREO;
        return (int)v->blob_len;
}

int a2dp_aptx_family_parse(const struct aptx_variant *v, const uint8_t *config, size_t len,
                           struct codec_info *info, char *err, size_t err_len)
{
        uint8_t freq, mode;
        unsigned rate;
        int r = check_blob(v, "configuration", config, len, true, err, err_len);

        if (r < 0)
                return r;
        freq = config[A2DP_VENDOR_HEADER_LEN] & APTX_FREQ_MASK;
        mode = config[A2DP_VENDOR_HEADER_LEN] & APTX_MODE_MASK;
        if (__builtin_popcount(freq) != 1)
                return err_text(err, err_len,
                                "%s configuration: sampling frequency 0x%02x has %d bits set, one expected",
                                v->label, freq, __builtin_popcount(freq));
        if (__builtin_popcount(mode) != 1)
                return err_text(err, err_len,
                                "%s configuration: channel mode 0x%x has %d bits set, one expected",
                                v->label, mode, __builtin_popcount(mode));
        if (mode != APTX_MODE_STEREO)
                return err_text(err, err_len,
                                "%s configuration: channel mode %s is not supported; a2dpsrc streams stereo",
                                v->label, mode == APTX_MODE_MONO ? "mono" : "(unknown)");
        rate = rate_of(freq);
        if (info)
                *info = (struct codec_info){
                        .rate = rate,
                        .channels = 2,
                        .frame_samples = APTX_FRAME_SAMPLES,
                        .delay_samples = APTX_DELAY_SAMPLES,
                        .max_bitrate = bitrate(v, rate),
                        .frame_bytes = (unsigned)(APTX_FRAME_SAMPLES / 4 * v->codeword),
                        .packet_overhead = (unsigned)v->header_len,
                };
        return 0;
}

void a2dp_aptx_family_describe(const struct aptx_variant *v, const uint8_t *config, size_t len,
                               char *buf, size_t buf_len)
{
        struct codec_info info = { 0 };

        if (a2dp_aptx_family_parse(v, config, len, &info, NULL, 0) < 0)
                snprintf(buf, buf_len, "%s (invalid configuration)", v->label);
        else
                snprintf(buf, buf_len, "%s %u Hz", v->label, info.rate);
}

bool a2dp_aptx_available(void)
{
        return codec_lib_present(APTX_SONAME);
}

int a2dp_aptx_family_encoder_new(const struct aptx_variant *v, const uint8_t *config, size_t len,
                                 size_t mtu, struct codec_encoder **out, char *err,
                                 size_t err_len)
{
        struct codec_encoder *e = NULL;
        struct codec_info info = { 0 };
        int r = a2dp_aptx_family_parse(v, config, len, &info, err, err_len);

        if (r < 0)
                return r;
        e = calloc(1, sizeof(*e));
        if (!e) {
                err_text(err, err_len, "out of memory");
                return -ENOMEM;
        }
        e->v = v;
        e->rate = info.rate;
        e->frame_bytes = info.frame_bytes;
        /* frames are never split (can_fragment is false) */
        if (mtu < v->header_len + e->frame_bytes) {
                err_text(err, err_len, "write MTU %zu cannot carry one %s frame (%zu bytes)", mtu,
                         v->label, v->header_len + e->frame_bytes);
                r = -EMSGSIZE;
                goto fail;
        }
        {
                const struct codec_sym syms[] = {
                        { "aptx_init", (void **)&e->init },
                        { "aptx_finish", (void **)&e->finish },
                        { "aptx_encode", (void **)&e->encode },
                };
                e->lib = codec_lib_open(APTX_SONAME, syms, sizeof(syms) / sizeof(syms[0]), err,
                                        err_len);
        }
        if (!e->lib) {
                r = -ENOENT;
                goto fail;
        }
        e->ctx = e->init(v->hd);
        if (!e->ctx) {
                err_text(err, err_len, "libfreeaptx could not set up a %s encoder", v->label);
                r = -ENOMEM;
                goto fail;
        }
        *out = e;
        return 0;
fail:
        a2dp_aptx_encoder_free(e);
        return r;
}

void a2dp_aptx_encoder_free(struct codec_encoder *e)
{
        if (!e)
                return;
        if (e->ctx)
                e->finish(e->ctx);
        codec_lib_close(e->lib);
        free(e);
}

/* Real-time thread: the conversion buffer lives in the encoder, and
 * libfreeaptx encodes from the caller's buffer into the caller's buffer
 * (its state is the context made at encoder_new). */
int a2dp_aptx_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len)
{
        size_t in_len = sizeof(e->in24);
        size_t i, written = 0, consumed;
        uint8_t *p = e->in24;

        if (out_len < e->frame_bytes)
                return -ENOSPC;
        for (i = 0; i < (size_t)APTX_FRAME_SAMPLES * 2; i++) {
                uint16_t s = (uint16_t)pcm[i];

                *p++ = 0;       /* S16 in the top 16 of 24 bits */
                *p++ = (uint8_t)s;
                *p++ = (uint8_t)(s >> 8);
        }
        consumed = e->encode(e->ctx, e->in24, in_len, out, e->frame_bytes, &written);
        if (consumed != in_len || written != e->frame_bytes)
                return -EIO;
        return (int)written;
}

size_t a2dp_aptx_header_len(const struct codec_encoder *e)
{
        return e->v->header_len;
}

void a2dp_aptx_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                            const struct codec_packet_meta *m)
{
        /* aptX HD: RTP with no payload header; aptX: nothing at all, and
         * the sequence number stays unused */
        if (e->v->header_len)
                rtp_write_header(rtp, pkt, m->timestamp);
}

/* No rate control in aptX: one level (docs/codecs.md says why). */
unsigned a2dp_aptx_levels(const struct codec_encoder *e)
{
        return 1;
}

void a2dp_aptx_set_level(struct codec_encoder *e, unsigned level)
{
}

unsigned a2dp_aptx_level_bitrate(const struct codec_encoder *e, unsigned level)
{
        return bitrate(e->v, e->rate);
}

unsigned a2dp_aptx_level_value(const struct codec_encoder *e, unsigned level)
{
        return bitrate(e->v, e->rate) / 1000;
}

A2DP_APTX_CODEC(a2dp_codec_aptx, aptx_variant_aptx, CODEC_APTX, "aptx", "aptX", APTX_VENDOR_ID,
                APTX_CODEC_ID);
