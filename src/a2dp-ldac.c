/* LDAC (Sony, vendor codec 0x0000012d:0x00aa) behind struct a2dp_codec.
 *
 * Capability layout: "LDAC Specification of Bluetooth A2DP Rev.2.0.1", as
 * published in Sony's ldacBT.h: after the 6-byte vendor header, one octet
 * of sampling rates (0x20 44.1, 0x10 48, 0x08 88.2, 0x04 96, 0x02 176.4,
 * 0x01 192 kHz; bits 7-6 reserved) and one of channel modes (0x04 mono,
 * 0x02 dual channel, 0x01 stereo; bits 7-3 reserved). Receivers ignore
 * reserved bits, so we do too. libldacBT_enc encodes 44.1 to 96 kHz only.
 *
 * Framing (as bluez-alsa's and PipeWire's LDAC sources send it): RTP, one
 * payload header octet carrying the frame count in its low 4 bits (SBC's,
 * never fragmented), then whole LDAC frames. The library builds them: it
 * takes 128 PCM frames a call, encodes an LDAC frame (128 samples at 44.1
 * and 48 kHz, 256 at 88.2 and 96 kHz) whenever it has one, and hands out a
 * packet's worth of frames at once, sized for a 2-DH5 baseband packet
 * (679-byte MTU; 661 bytes of frames): 2 frames at 990 kbit/s, 3 at 660,
 * 6 at 330 (and 4 at 492, 5 at 396, the levels only libldacBT_abr
 * reaches). encode() passes those frames on one per call, so each call
 * consumes and returns one LDAC frame's audio in the steady state;
 * packet_frames() says how many LDAC groups together.
 *
 * Under congestion libldacBT_abr, when installed, sets the quality itself
 * from the sender's queue depth (rate_control); otherwise the sender steps
 * HQ, SQ, MQ (docs/codecs.md, "Congestion").
 *
 * No open LDAC decoder exists in Debian: tests check the framing (sync
 * word, frame lengths per quality, frame counts, timestamps, bitrate), not
 * the audio. */
#include "a2dp-ldac.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldacBT.h>
#include <ldacBT_abr.h>

#include "codec-lib.h"
#include "codec-sonames.h"
#include "err-text.h"

/* Frame length per channel at each quality level (EQMID), transport
 * header included (ldacBT's 2-DH5 table): HQ, SQ, MQ, Q0, Q1. */
static const unsigned level_frame_bytes_1ch[LDAC_ABR_LEVELS] = { 165, 110, 55, 82, 66 };

/* Out of range is the lowest quality, MQ. */
static unsigned clamp_level(unsigned level)
{
        return level < LDAC_ABR_LEVELS ? level : LDACBT_EQMID_MQ;
}

struct rate_bit {
        uint8_t bit;
        unsigned rate;
};

static const struct rate_bit rate_bits[] = {
        { LDAC_RATE_44100, 44100 }, { LDAC_RATE_48000, 48000 },
        { LDAC_RATE_88200, 88200 }, { LDAC_RATE_96000, 96000 },
};

/* After the capture's own rate: 48 kHz, the rate most captures run at,
 * then 44.1; the high rates only when a speaker offers nothing else
 * (they double the CPU for audio a 48 kHz capture does not have). */
static const unsigned rate_pref[] = { 48000, 44100, 96000, 88200 };

static uint8_t rate_to_bit(unsigned rate)
{
        for (size_t i = 0; i < sizeof(rate_bits) / sizeof(rate_bits[0]); i++)
                if (rate_bits[i].rate == rate)
                        return rate_bits[i].bit;
        return 0;
}

static unsigned bit_to_rate(uint8_t bit)
{
        for (size_t i = 0; i < sizeof(rate_bits) / sizeof(rate_bits[0]); i++)
                if (rate_bits[i].bit == bit)
                        return rate_bits[i].rate;
        return 0;
}

static unsigned mode_channels(uint8_t mode)
{
        return mode == LDAC_MODE_MONO ? 1 : 2;
}

static const char *mode_name(uint8_t mode)
{
        switch (mode) {
        case LDAC_MODE_MONO:
                return "mono";
        case LDAC_MODE_DUAL:
                return "dual-channel";
        default:
                return "stereo";
        }
}

static int check_header(const uint8_t *blob, size_t len, const char *what, char *err,
                        size_t err_len)
{
        if (len < LDAC_INFO_LEN) {
                err_text(err, err_len, "LDAC %s: %zu bytes, %d needed", what, len,
                         LDAC_INFO_LEN);
                return -EINVAL;
        }
        if (!a2dp_vendor_header_is(blob, len, LDAC_VENDOR_ID, LDAC_CODEC_ID)) {
                err_text(err, err_len,
                         "LDAC %s: vendor 0x%02x%02x%02x%02x codec 0x%02x%02x is not "
                         "Sony's LDAC (0x%08x 0x%04x)",
                         what, blob[3], blob[2], blob[1], blob[0], blob[5], blob[4],
                         LDAC_VENDOR_ID, LDAC_CODEC_ID);
                return -EINVAL;
        }
        return 0;
}

unsigned ldac_frame_samples(unsigned rate)
{
        return rate > 48000 ? 256 : 128;
}

unsigned ldac_level_bitrate(unsigned rate, unsigned channels, unsigned level)
{
        level = clamp_level(level);
        if (!rate)
                return 0;
        return (unsigned)((uint64_t)level_frame_bytes_1ch[level] * channels * 8 * rate /
                          ldac_frame_samples(rate));
}

unsigned ldac_level_packet_frames(unsigned channels, unsigned level)
{
        unsigned n;

        level = clamp_level(level);
        n = LDAC_PACKET_PAYLOAD / (level_frame_bytes_1ch[level] * channels);
        return n > LDAC_MAX_FRAMES ? LDAC_MAX_FRAMES : n;
}

int ldac_frame_parse(const uint8_t *p, size_t len, struct ldac_frame_header *h)
{
        if (len < LDAC_FRAME_HEADER_LEN || p[0] != LDAC_SYNC_WORD)
                return -EINVAL;
        h->rate_id = p[1] >> 5;
        h->channel_config = (p[1] >> 3) & 0x3;
        h->length = (((unsigned)(p[1] & 0x7) << 6) | (p[2] >> 2)) + 1 + LDAC_FRAME_HEADER_LEN;
        h->status = p[2] & 0x3;
        if (h->rate_id > 3 || h->channel_config > 2)
                return -EINVAL;
        return 0;
}

static size_t ldac_capabilities(uint8_t *out, size_t len)
{
        if (len < LDAC_INFO_LEN)
                return 0;
        a2dp_vendor_header_write(out, LDAC_VENDOR_ID, LDAC_CODEC_ID);
        out[6] = LDAC_RATE_44100 | LDAC_RATE_48000 | LDAC_RATE_88200 | LDAC_RATE_96000;
        out[7] = LDAC_MODE_MONO | LDAC_MODE_DUAL | LDAC_MODE_STEREO;
        return LDAC_INFO_LEN;
}

static int ldac_select(const uint8_t *caps, size_t len, const struct codec_prefs *prefs,
                       uint8_t *config, size_t config_len, char *err, size_t err_len)
{
        uint8_t rates, modes, rate = 0, mode;
        int r = check_header(caps, len, "capabilities", err, err_len);

        if (r < 0)
                return r;
        if (config_len < LDAC_INFO_LEN) {
                err_text(err, err_len, "LDAC configuration needs %d bytes, %zu given",
                         LDAC_INFO_LEN, config_len);
                return -EINVAL;
        }
        rates = caps[6] & LDAC_RATES_SUPPORTED;
        modes = caps[7] & (LDAC_MODE_MONO | LDAC_MODE_DUAL | LDAC_MODE_STEREO);
        if (prefs && prefs->rate && (rates & rate_to_bit(prefs->rate)))
                rate = rate_to_bit(prefs->rate);
        for (size_t i = 0; !rate && i < sizeof(rate_pref) / sizeof(rate_pref[0]); i++)
                rate = rates & rate_to_bit(rate_pref[i]);
        if (!rate) {
                err_text(err, err_len,
                         "LDAC: the speaker offers no sampling rate we encode (rates 0x%02x; "
                         "44.1, 48, 88.2 or 96 kHz needed)",
                         caps[6]);
                return -ENOTSUP;
        }
        /* the board's audio is stereo: dual channel carries it too, a
         * mono-only sink is refused with a reason (as for SBC) */
        if (modes & LDAC_MODE_STEREO) {
                mode = LDAC_MODE_STEREO;
        } else if (modes & LDAC_MODE_DUAL) {
                mode = LDAC_MODE_DUAL;
        } else {
                err_text(err, err_len,
                         "LDAC: the speaker offers no stereo or dual-channel mode (modes 0x%02x)",
                         caps[7]);
                return -ENOTSUP;
        }
        a2dp_vendor_header_write(config, LDAC_VENDOR_ID, LDAC_CODEC_ID);
        config[6] = rate;
        config[7] = mode;
        return LDAC_INFO_LEN;
}

static bool ldac_usable(const uint8_t *caps, size_t len, const struct codec_prefs *prefs)
{
        uint8_t config[LDAC_INFO_LEN];

        return ldac_select(caps, len, prefs, config, sizeof(config), NULL, 0) > 0;
}

static bool one_bit(uint8_t v)
{
        return v && !(v & (v - 1));
}

int ldac_config_parse(const uint8_t *config, size_t len, struct ldac_config *c, char *err,
                      size_t err_len)
{
        uint8_t rate, mode;
        int r = check_header(config, len, "configuration", err, err_len);

        if (r < 0)
                return r;
        if (len != LDAC_INFO_LEN) {
                err_text(err, err_len, "LDAC configuration: %zu bytes, %d expected", len,
                         LDAC_INFO_LEN);
                return -EINVAL;
        }
        rate = config[6] & 0x3f;        /* bits 7-6 reserved: ignored */
        mode = config[7] & 0x07;        /* bits 7-3 reserved: ignored */
        if (!one_bit(rate)) {
                err_text(err, err_len,
                         "LDAC configuration: %s sampling rate (0x%02x), one needed",
                         rate ? "several bits for the" : "no", config[6]);
                return -EINVAL;
        }
        if (!(rate & LDAC_RATES_SUPPORTED)) {
                err_text(err, err_len,
                         "LDAC configuration: %s kHz is not encoded by libldacBT "
                         "(44.1 to 96 kHz)",
                         rate == 0x02 ? "176.4" : "192");
                return -EINVAL;
        }
        if (!one_bit(mode)) {
                err_text(err, err_len,
                         "LDAC configuration: %s channel mode (0x%02x), one needed",
                         mode ? "several bits for the" : "no", config[7]);
                return -EINVAL;
        }
        c->rate = bit_to_rate(rate);
        c->mode = mode;
        c->channels = mode_channels(mode);
        return 0;
}

static int ldac_parse(const uint8_t *config, size_t len, struct codec_info *info, char *err,
                      size_t err_len)
{
        struct ldac_config c;
        int r = ldac_config_parse(config, len, &c, err, err_len);

        if (r < 0)
                return r;
        info->rate = c.rate;
        /* the PCM the encoder takes: stereo, downmixed for a mono stream */
        info->channels = 2;
        info->frame_samples = ldac_frame_samples(c.rate);
        /* The MDCT's 50 % overlap: each frame is analysed together with
         * the previous block (the library's set_input_pcm_ldac keeps it),
         * so a decoder completes a block one frame after it was fed. */
        info->delay_samples = ldac_frame_samples(c.rate);
        info->max_bitrate = ldac_level_bitrate(c.rate, c.channels, 0);
        info->frame_bytes = level_frame_bytes_1ch[0] * c.channels;
        info->packet_overhead = RTP_SBC_OVERHEAD;
        return 0;
}

static void ldac_describe(const uint8_t *config, size_t len, unsigned level, char *buf,
                          size_t buf_len)
{
        struct ldac_config c;

        if (ldac_config_parse(config, len, &c, NULL, 0) < 0) {
                snprintf(buf, buf_len, "LDAC (invalid configuration)");
                return;
        }
        snprintf(buf, buf_len, "LDAC %u Hz %u kbit/s%s%s", c.rate,
                 ldac_level_bitrate(c.rate, c.channels, level) / 1000,
                 c.mode == LDAC_MODE_STEREO ? "" : " ",
                 c.mode == LDAC_MODE_STEREO ? "" : mode_name(c.mode));
}

/* ---- the encoder ------------------------------------------------------- */

struct ldac_api {
        HANDLE_LDAC_BT (*get_handle)(void);
        void (*free_handle)(HANDLE_LDAC_BT);
        int (*init_handle_encode)(HANDLE_LDAC_BT, int, int, int, LDACBT_SMPL_FMT_T, int);
        int (*encode)(HANDLE_LDAC_BT, void *, int *, unsigned char *, int *, int *);
        int (*set_eqmid)(HANDLE_LDAC_BT, int);
        int (*get_eqmid)(HANDLE_LDAC_BT);
        int (*alter_eqmid_priority)(HANDLE_LDAC_BT, int);
        int (*get_error_code)(HANDLE_LDAC_BT);
};

struct ldac_abr_api {
        HANDLE_LDAC_ABR (*get_handle)(void);
        void (*free_handle)(HANDLE_LDAC_ABR);
        int (*init)(HANDLE_LDAC_ABR, unsigned int);
        int (*set_thresholds)(HANDLE_LDAC_ABR, unsigned int, unsigned int, unsigned int);
        int (*proc)(HANDLE_LDAC_BT, HANDLE_LDAC_ABR, unsigned int, unsigned int);
};

/* ABR's thresholds, in packets waiting in the sender's queue (the socket's
 * few packets not counted: docs/codecs.md). It steps HQ and SQ down past
 * SAFETY, any level down when the queue passes DANGER and still grows, two
 * steps (HQ and SQ) at CRITICAL, and any level when the queue averaged
 * more than 1.5 packets over half a second. */
#define ABR_CRITICAL 8
#define ABR_DANGER 5
#define ABR_SAFETY 3
/* the depths it averages: half a second's (LDAC_ABR_OBSERVING_TIME_MS in
 * Sony's ldacBT_abr.c) */
#define ABR_HISTORY_MS 500

/* What the library hands out at once: at most its stream buffer. */
#define LDAC_OUT_MAX 1024
/* Frames wait here while the library holds fewer than before: a step down
 * in quality makes it group more frames (it hands nothing out while it
 * fills the bigger packet), a step back up hands them out sooner, and
 * encode() passes on one frame a call. At most a packet of the lowest
 * quality waits (11 mono frames of 165 bytes), besides the library's
 * latest packet. */
#define LDAC_PENDING_MAX (4 * LDAC_OUT_MAX)

struct codec_encoder {
        void *lib;
        struct ldac_api api;
        HANDLE_LDAC_BT h;
        /* libldacBT_abr, when installed: it sets the EQMID itself */
        void *abr_lib;
        struct ldac_abr_api abr_api;
        HANDLE_LDAC_ABR abr;
        struct ldac_config cfg;
        unsigned level;                 /* the EQMID in use */
        unsigned calls_per_frame;       /* 128-sample library calls per LDAC frame */
        unsigned last_len;              /* bytes of the frame encode() last returned */
        int16_t mono[LDACBT_ENC_LSU];
        /* frames the library handed out, not yet passed on */
        uint8_t pending[LDAC_PENDING_MAX];
        size_t pending_off, pending_len;
        /* LDAC frames fed in and passed on: the library holds back those
         * it groups into its next packet, more at lower quality */
        uint64_t fed, passed;
};

static bool ldac_available(void)
{
        return codec_lib_present(LDAC_SONAME);
}

static void ldac_encoder_free(struct codec_encoder *e)
{
        if (!e)
                return;
        if (e->abr)
                e->abr_api.free_handle(e->abr);
        codec_lib_close(e->abr_lib);
        if (e->h)
                e->api.free_handle(e->h);
        codec_lib_close(e->lib);
        free(e);
}

/* libldacBT_abr, set up here on the main thread (its handle and history
 * are allocated in get_handle and Init; ldac_ABR_Proc allocates nothing).
 * Absent or failing: the encoder has a2dpsrc's own three levels. */
static void abr_open(struct codec_encoder *e, const char *soname)
{
        const struct codec_sym syms[] = {
                { "ldac_ABR_get_handle", (void **)&e->abr_api.get_handle },
                { "ldac_ABR_free_handle", (void **)&e->abr_api.free_handle },
                { "ldac_ABR_Init", (void **)&e->abr_api.init },
                { "ldac_ABR_set_thresholds", (void **)&e->abr_api.set_thresholds },
                { "ldac_ABR_Proc", (void **)&e->abr_api.proc },
        };
        char why[160];

        e->abr_lib = codec_lib_open(soname, syms, sizeof(syms) / sizeof(syms[0]), why, sizeof(why));
        if (!e->abr_lib)
                return;
        e->abr = e->abr_api.get_handle();
        if (e->abr && e->abr_api.init(e->abr, LDAC_ABR_INTERVAL_MS) == 0 &&
            e->abr_api.set_thresholds(e->abr, ABR_CRITICAL, ABR_DANGER, ABR_SAFETY) == 0)
                return;
        if (e->abr)
                e->abr_api.free_handle(e->abr);
        e->abr = NULL;
        codec_lib_close(e->abr_lib);
        e->abr_lib = NULL;
}

int ldac_encoder_new_with(const uint8_t *config, size_t len, size_t mtu, const char *abr_soname,
                          struct codec_encoder **out, char *err, size_t err_len)
{
        struct codec_encoder *e;
        int r;

        *out = NULL;
        e = calloc(1, sizeof(*e));
        if (!e) {
                err_text(err, err_len, "LDAC: out of memory");
                return -ENOMEM;
        }
        r = ldac_config_parse(config, len, &e->cfg, err, err_len);
        if (r < 0)
                goto fail;
        /* LDAC is specified for 2-DH5 packets: the library refuses less */
        if (mtu < LDAC_MTU_MIN) {
                r = err_text(err, err_len,
                             "LDAC needs a write MTU of at least %d bytes (2-DH5); this link "
                             "has %zu",
                             LDAC_MTU_MIN, mtu);
                goto fail;
        }
        {
                const struct codec_sym syms[] = {
                        { "ldacBT_get_handle", (void **)&e->api.get_handle },
                        { "ldacBT_free_handle", (void **)&e->api.free_handle },
                        { "ldacBT_init_handle_encode", (void **)&e->api.init_handle_encode },
                        { "ldacBT_encode", (void **)&e->api.encode },
                        { "ldacBT_set_eqmid", (void **)&e->api.set_eqmid },
                        { "ldacBT_get_eqmid", (void **)&e->api.get_eqmid },
                        { "ldacBT_alter_eqmid_priority", (void **)&e->api.alter_eqmid_priority },
                        { "ldacBT_get_error_code", (void **)&e->api.get_error_code },
                };
                e->lib = codec_lib_open(LDAC_SONAME, syms, sizeof(syms) / sizeof(syms[0]), err,
                                        err_len);
        }
        if (!e->lib) {
                r = -ENOENT;
                goto fail;
        }
        e->h = e->api.get_handle();
        if (!e->h) {
                err_text(err, err_len, "LDAC: cannot get an encoder handle");
                r = -ENOMEM;
                goto fail;
        }
        /* the MTU goes in capped: the library's packets are 2-DH5 sized
         * whatever it is told */
        if (e->api.init_handle_encode(e->h, mtu > CODEC_MAX_PACKET ? CODEC_MAX_PACKET : (int)mtu,
                                      LDACBT_EQMID_HQ, e->cfg.mode, LDACBT_SMPL_FMT_S16,
                                      (int)e->cfg.rate) != 0) {
                r = err_text(err, err_len, "LDAC: encoder set-up failed (error 0x%x)",
                             (unsigned)e->api.get_error_code(e->h));
                goto fail;
        }
        e->level = LDACBT_EQMID_HQ;
        abr_open(e, abr_soname);
        e->calls_per_frame = ldac_frame_samples(e->cfg.rate) / LDACBT_ENC_LSU;
        e->last_len = level_frame_bytes_1ch[0] * e->cfg.channels;
        *out = e;
        return 0;
fail:
        ldac_encoder_free(e);
        return r;
}

static int ldac_encoder_new(const uint8_t *config, size_t len, size_t mtu,
                            struct codec_encoder **out, char *err, size_t err_len)
{
        return ldac_encoder_new_with(config, len, mtu, LDAC_ABR_SONAME, out, err, err_len);
}

/* One frame from what the library handed out, or 0 when none is left. */
static int pass_on(struct codec_encoder *e, uint8_t *out, size_t out_len)
{
        struct ldac_frame_header fh;
        size_t left = e->pending_len - e->pending_off;

        if (!left)
                return 0;
        if (ldac_frame_parse(e->pending + e->pending_off, left, &fh) < 0 || fh.length > left)
                return -EIO;
        if (fh.length > out_len)
                return -ENOSPC;
        memcpy(out, e->pending + e->pending_off, fh.length);
        e->pending_off += fh.length;
        e->last_len = fh.length;
        e->passed++;
        return (int)fh.length;
}

static int ldac_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out,
                       size_t out_len)
{
        e->fed++;
        for (unsigned c = 0; c < e->calls_per_frame; c++) {
                const int16_t *in = pcm + (size_t)c * LDACBT_ENC_LSU * 2;
                int used = 0, wrote = 0, frames = 0;

                if (e->cfg.channels == 1) {
                        const int16_t *lr = in;

                        for (unsigned i = 0; i < LDACBT_ENC_LSU; i++, lr += 2)
                                e->mono[i] = (int16_t)(((int)lr[0] + lr[1]) / 2);
                        in = e->mono;
                }
                /* room for what the library may hand out: keep the pending
                 * frames at the front of the buffer */
                if (e->pending_off) {
                        memmove(e->pending, e->pending + e->pending_off,
                                e->pending_len - e->pending_off);
                        e->pending_len -= e->pending_off;
                        e->pending_off = 0;
                }
                if (sizeof(e->pending) - e->pending_len < LDAC_OUT_MAX)
                        return -ENOBUFS;   /* the caller took no frame out for long */
                /* the library copies the PCM in and writes the stream to our
                 * buffer: no allocation here (its buffers live in the handle) */
                if (e->api.encode(e->h, (void *)in, &used, e->pending + e->pending_len, &wrote,
                                  &frames) != 0 ||
                    used != (int)(sizeof(int16_t) * LDACBT_ENC_LSU * e->cfg.channels) ||
                    wrote < 0 || wrote > LDAC_OUT_MAX)
                        return -EIO;
                if (wrote > 0)
                        e->pending_len += (size_t)wrote;
        }
        return pass_on(e, out, out_len);
}

static size_t ldac_header_len(const struct codec_encoder *e)
{
        return RTP_SBC_OVERHEAD;
}

static void ldac_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                              const struct codec_packet_meta *m)
{
        unsigned n = m->frames > LDAC_MAX_FRAMES ? LDAC_MAX_FRAMES : m->frames;

        rtp_sbc_write_header(rtp, pkt, m->timestamp, (uint8_t)n);
}

/* The library fills a packet with as many frames of one size as its 661
 * bytes take (2, 3 or 6 in stereo); frames of the size just returned go
 * together the same way. */
unsigned ldac_encoder_packet_frames(const struct codec_encoder *e)
{
        unsigned n = LDAC_PACKET_PAYLOAD / e->last_len;

        return n < 1 ? 1 : n > LDAC_MAX_FRAMES ? LDAC_MAX_FRAMES : n;
}

/* The frame just passed on trails the one just fed by the frames the
 * library groups with it and those waiting here; beyond the one frame of
 * delay the codec declares (delay_samples), that is a lag that follows
 * the level (in stereo none at 990 kbit/s, one at 660, four at 330: a
 * packet's frames less two) and that the sender dates its audio by. */
static unsigned ldac_lag_samples(const struct codec_encoder *e)
{
        uint64_t held = e->fed - e->passed;

        return held > 1 ? (unsigned)(held - 1) * ldac_frame_samples(e->cfg.rate) : 0;
}

static unsigned ldac_levels(const struct codec_encoder *e)
{
        return e->abr ? LDAC_ABR_LEVELS : LDAC_LEVELS;
}

/* The EQMID, which the library applies at its next packet boundary
 * (frames already grouped keep their length). ldacBT_set_eqmid takes HQ,
 * SQ and MQ only; Q0 and Q1 (set back after a stall, under ABR) are one
 * and two steps below SQ on the library's own ladder. */
static void ldac_set_level(struct codec_encoder *e, unsigned level)
{
        unsigned below_sq = 0;

        level = level < ldac_levels(e) ? level : LDACBT_EQMID_MQ;
        if (level == e->level)
                return;
        if (level > LDACBT_EQMID_MQ) {
                below_sq = level - LDACBT_EQMID_MQ;
                level = LDACBT_EQMID_SQ;
        }
        if (e->api.set_eqmid(e->h, (int)level) != 0)
                return;
        while (below_sq--)
                if (e->api.alter_eqmid_priority(e->h, LDACBT_EQMID_INC_CONNECTION) != 0)
                        break;
        level = (unsigned)e->api.get_eqmid(e->h);
        e->level = level < LDAC_ABR_LEVELS ? level : LDACBT_EQMID_MQ;
}

/* libldacBT_abr decides from the queue and alters the EQMID itself. */
static unsigned ldac_rate_control_ms(const struct codec_encoder *e)
{
        return e->abr ? LDAC_ABR_INTERVAL_MS : 0;
}

static unsigned ldac_rate_control(struct codec_encoder *e, unsigned queued_packets)
{
        int eqmid;

        if (!e->abr)
                return e->level;
        /* its history keeps depths in bytes: more is all the same to it */
        if (queued_packets > 255)
                queued_packets = 255;
        eqmid = e->abr_api.proc(e->h, e->abr, queued_packets, 1);
        if (eqmid >= 0 && eqmid < LDAC_ABR_LEVELS)
                e->level = (unsigned)eqmid;
        return e->level;
}

/* ABR keeps the queue depths of the last half second, and acts on their
 * average: after a stall those are the stalled speaker's. It has no reset
 * but ldac_ABR_Init, which allocates; so they are overwritten with an
 * empty queue it is told not to act on (flagEnable 0). The half second of
 * calm it then believes it saw may bring its next step up that much
 * sooner. */
static void ldac_rate_control_restart(struct codec_encoder *e)
{
        if (!e->abr)
                return;
        for (unsigned i = 0; i <= ABR_HISTORY_MS / LDAC_ABR_INTERVAL_MS; i++)
                e->abr_api.proc(e->h, e->abr, 0, 0);
}

bool ldac_encoder_abr(const struct codec_encoder *e)
{
        return e->abr != NULL;
}

unsigned ldac_encoder_level(const struct codec_encoder *e)
{
        return e->level;
}

static unsigned ldac_encoder_level_bitrate(const struct codec_encoder *e, unsigned level)
{
        return ldac_level_bitrate(e->cfg.rate, e->cfg.channels, level);
}

static unsigned ldac_level_value(const struct codec_encoder *e, unsigned level)
{
        return ldac_encoder_level_bitrate(e, level) / 1000;
}

const struct a2dp_codec a2dp_codec_ldac = {
        .index = CODEC_LDAC,
        .name = "ldac",
        .label = "LDAC",
        .codec_id = A2DP_CODEC_VENDOR,
        .vendor_id = LDAC_VENDOR_ID,
        .vendor_codec_id = LDAC_CODEC_ID,
        .capabilities = ldac_capabilities,
        .usable = ldac_usable,
        .select = ldac_select,
        .parse = ldac_parse,
        .describe = ldac_describe,
        .available = ldac_available,
        .encoder_new = ldac_encoder_new,
        .encoder_free = ldac_encoder_free,
        .encode = ldac_encode,
        .header_len = ldac_header_len,
        .write_header = ldac_write_header,
        .max_frames = LDAC_MAX_FRAMES,
        .packet_frames = ldac_encoder_packet_frames,
        .lag_samples = ldac_lag_samples,
        .can_fragment = false,
        .levels = ldac_levels,
        .set_level = ldac_set_level,
        .level_bitrate = ldac_encoder_level_bitrate,
        .level_value = ldac_level_value,
        .rate_control_ms = ldac_rate_control_ms,
        .rate_control = ldac_rate_control,
        .rate_control_restart = ldac_rate_control_restart,
        .rate_control_lib = LDAC_ABR_SONAME,
};
