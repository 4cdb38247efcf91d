/* AAC behind the codec interface: capabilities, the choice and validation
 * of configurations (bad blobs too), descriptions, bit-rate levels; and the
 * encoder end to end: a 1 kHz tone through a2dp_codec_aac and the LATM
 * framing, packetized at a small MTU as the sender does, reassembled,
 * wrapped in LOAS and decoded by libavcodec's aac_latm decoder (not the
 * encoder's code path), judged by SNR, frequency and delay. The real-time
 * side (encode) is checked to allocate nothing. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/log.h>

#include "a2dp-aac.h"
#include "codec-lib.h"
#include "latm.h"

/* ---- counting the calling thread's allocations ---------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

static _Thread_local int counting;
static _Thread_local unsigned allocs;

#if COUNT_ALLOCS
/* Interposed for the whole process, libavcodec included; only the thread
 * that set `counting` is counted. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t a, size_t b);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
void *memalign(size_t align, size_t n);

void *malloc(size_t n)
{
        allocs += (unsigned)counting;
        return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
        allocs += (unsigned)counting;
        return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
        allocs += (unsigned)counting;
        return __libc_realloc(p, n);
}

int posix_memalign(void **p, size_t align, size_t n)
{
        allocs += (unsigned)counting;
        *p = __libc_memalign(align, n);
        return *p ? 0 : ENOMEM;
}

void *aligned_alloc(size_t align, size_t n)
{
        allocs += (unsigned)counting;
        return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
        allocs += (unsigned)counting;
        return __libc_memalign(align, n);
}
#endif

/* ---- pure: blobs --------------------------------------------------- */

static const struct codec_prefs prefs48 = { .rate = 48000 };
static const struct codec_prefs prefs44 = { .rate = 44100 };

static void caps_of(uint8_t *c, uint8_t obj, uint16_t rates, uint8_t ch, bool vbr,
                    unsigned bitrate)
{
        c[0] = obj;
        c[1] = (uint8_t)(rates >> 8);
        c[2] = (uint8_t)((rates & 0xf0) | ch);
        c[3] = (uint8_t)((vbr ? 0x80 : 0) | ((bitrate >> 16) & 0x7f));
        c[4] = (uint8_t)(bitrate >> 8);
        c[5] = (uint8_t)bitrate;
}

static unsigned config_bitrate(const uint8_t *c)
{
        return ((unsigned)(c[3] & 0x7f) << 16) | ((unsigned)c[4] << 8) | c[5];
}

START_TEST(our_capabilities)
{
        static const uint8_t want[AAC_INFO_LEN] = { 0xc0, 0xff, 0xfc, 0x84, 0xe2, 0x00 };
        uint8_t c[AAC_INFO_LEN + 2];

        ck_assert_uint_eq(a2dp_codec_aac.capabilities(c, sizeof(c)), AAC_INFO_LEN);
        ck_assert_mem_eq(c, want, AAC_INFO_LEN); /* 320000 = 0x04e200, VBR */
        ck_assert_uint_eq(a2dp_codec_aac.capabilities(c, 5), 0);
        ck_assert_uint_eq(a2dp_codec_aac.codec_id, A2DP_CODEC_MPEG24);
        ck_assert_uint_eq(a2dp_codec_aac.index, CODEC_AAC);
        ck_assert_str_eq(a2dp_codec_aac.name, "aac");
        ck_assert_uint_eq(a2dp_codec_aac.max_frames, 1);
        ck_assert(a2dp_codec_aac.can_fragment);
}
END_TEST

/* A typical speaker: MPEG-2 AAC LC only, 44.1 and 48 kHz, mono and
 * stereo, VBR, 320 kbit/s. */
START_TEST(select_typical_speaker)
{
        uint8_t caps[6], cfg[6];
        char err[128];
        struct codec_info info;

        caps_of(caps, AAC_OBJ_MPEG2_LC, 0x0180, AAC_CHANNELS_1 | AAC_CHANNELS_2, true, 320000);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(cfg[0], AAC_OBJ_MPEG2_LC);
        ck_assert_uint_eq(cfg[1], 0x00);
        ck_assert_uint_eq(cfg[2], 0x80 | AAC_CHANNELS_2);
        ck_assert_uint_eq(cfg[3] & AAC_VBR, AAC_VBR);
        ck_assert_uint_eq(config_bitrate(cfg), AAC_PREFERRED_BITRATE);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.rate, 48000);
        ck_assert_uint_eq(info.channels, 2);
        ck_assert_uint_eq(info.frame_samples, 1024);
        ck_assert_uint_eq(info.delay_samples, AAC_DELAY_SAMPLES);
        ck_assert_uint_eq(info.max_bitrate, 256000);
        /* 256000 * 1024 / 48000 / 8 = 682 bytes, 7 + 3 of LATM */
        ck_assert_uint_eq(info.frame_bytes, 692);
        ck_assert_uint_eq(info.packet_overhead, RTP_HEADER_LEN);

        /* the capture's rate first */
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs44, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(cfg[1], 0x01);
        ck_assert_uint_eq(cfg[2] & 0xf0, 0);
        /* MPEG-4 AAC-LC when both are offered; no VBR when not offered */
        caps_of(caps, AAC_OBJ_MPEG2_LC | AAC_OBJ_MPEG4_LC | AAC_OBJ_MPEG4_LTP, 0xfff0,
                AAC_CHANNELS_2, false, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, NULL, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(cfg[0], AAC_OBJ_MPEG4_LC);
        ck_assert_uint_eq(cfg[2], 0x80 | AAC_CHANNELS_2);
        ck_assert_uint_eq(cfg[3] & AAC_VBR, 0);
        /* a speaker that says no bit rate gets ours */
        ck_assert_uint_eq(config_bitrate(cfg), AAC_PREFERRED_BITRATE);
}
END_TEST

START_TEST(select_honours_bitrate)
{
        uint8_t caps[6], cfg[6];
        char err[128];

        caps_of(caps, AAC_OBJ_MPEG4_LC, 0x0080, AAC_CHANNELS_2, true, 128000);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(config_bitrate(cfg), 128000);
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0x0080, AAC_CHANNELS_2, true, AAC_BITRATE_MAX_FIELD);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(config_bitrate(cfg), AAC_PREFERRED_BITRATE);
        /* 8 kHz only: no more than the encoder can put in a frame */
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0x8000, AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(cfg[1], 0x80);
        ck_assert_uint_eq(config_bitrate(cfg), 96000);
        /* 96 kHz only */
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0x0010, AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)), 6);
        ck_assert_uint_eq(cfg[2] & 0xf0, 0x10);
        /* a bogus tiny figure is refused, not exceeded */
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0x0080, AAC_CHANNELS_2, true, 4000);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)),
                         -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "bit rate"));
}
END_TEST

START_TEST(select_refusals)
{
        uint8_t caps[8], cfg[6];
        char err[128];

        caps_of(caps, AAC_OBJ_MPEG4_LTP | AAC_OBJ_MPEG4_SCALABLE | 0x0f, 0xfff0,
                AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)),
                         -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "object type"));
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0xfff0, AAC_CHANNELS_1, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)),
                         -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "mono"));
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0xfff0, 0x03, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)),
                         -ENOTSUP);
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0, AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 6, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "sampling frequency"));
        caps_of(caps, AAC_OBJ_MPEG4_LC, 0xfff0, AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 5, &prefs48, cfg, 6, err, sizeof(err)),
                         -EINVAL);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 7, &prefs48, cfg, 6, err, sizeof(err)),
                         -EINVAL);
        ck_assert_int_eq(a2dp_codec_aac.select(NULL, 6, &prefs48, cfg, 6, err, sizeof(err)),
                         -EINVAL);
        ck_assert_int_eq(a2dp_codec_aac.select(caps, 6, &prefs48, cfg, 5, err, sizeof(err)),
                         -EINVAL);
        ck_assert(a2dp_codec_aac.usable(caps, 6, &prefs48));
        ck_assert(!a2dp_codec_aac.usable(caps, 5, &prefs48));
}
END_TEST

/* What a speaker may set itself: exactly one bit per field. */
START_TEST(parse_bad_blobs)
{
        uint8_t cfg[8];
        char err[128];
        struct codec_info info;
        struct aac_params p;

        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_2, false, 192000);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.rate, 44100);
        ck_assert_uint_eq(info.max_bitrate, 192000);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 5, &info, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 7, &info, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(a2dp_codec_aac.parse(NULL, 6, &info, err, sizeof(err)), -EINVAL);

        caps_of(cfg, AAC_OBJ_MPEG4_LC | AAC_OBJ_MPEG2_LC, 0x0100, AAC_CHANNELS_2, false, 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "object type"));
        caps_of(cfg, AAC_OBJ_MPEG4_LTP, 0x0100, AAC_CHANNELS_2, false, 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0180, AAC_CHANNELS_2, false, 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "several"));
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0, AAC_CHANNELS_2, false, 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_1 | AAC_CHANNELS_2, false, 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, 0x02, false, 0); /* 5.1 */
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_2, false, 100);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), -EINVAL);

        /* a speaker's own choice of 320 kbit/s is encoded at 256, the most
         * we send (libavcodec is steadier there) */
        caps_of(cfg, AAC_OBJ_MPEG2_LC, 0x0080, AAC_CHANNELS_2, true, 320000);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.max_bitrate, 256000);

        /* a speaker's own choice: mono MPEG-2, no bit rate said */
        caps_of(cfg, AAC_OBJ_MPEG2_LC, 0x0080, AAC_CHANNELS_1, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.channels, 1);
        ck_assert_int_eq(aac_params_parse(cfg, 6, &p, err, sizeof(err)), 0);
        ck_assert(p.mpeg2);
        ck_assert(p.vbr);
        ck_assert_uint_eq(p.bitrate, AAC_PREFERRED_BITRATE);
}
END_TEST

/* Whatever a speaker offers, a chosen configuration parses: one bit per
 * field, within the offer. */
START_TEST(select_then_parse_everywhere)
{
        static const uint8_t objs[] = { 0x80, 0x40, 0xc0, 0x20, 0xff, 0 };
        static const uint8_t chs[] = { 0x04, 0x08, 0x0c, 0x0f, 0 };
        unsigned checked = 0;

        for (size_t o = 0; o < sizeof(objs); o++)
                for (unsigned rates = 0; rates < 0x1000; rates += 7)
                        for (size_t c = 0; c < sizeof(chs); c++) {
                                uint8_t caps[6], cfg[6];
                                struct codec_info info;
                                char err[128];
                                int n;

                                caps_of(caps, objs[o], (uint16_t)(rates << 4), chs[c],
                                        rates & 1, rates * 100);
                                n = a2dp_codec_aac.select(caps, 6, &prefs44, cfg, 6, err,
                                                          sizeof(err));
                                if (n < 0)
                                        continue;
                                ck_assert_int_eq(n, 6);
                                ck_assert_int_eq(a2dp_codec_aac.parse(cfg, 6, &info, err,
                                                                      sizeof(err)), 0);
                                ck_assert_uint_eq(cfg[0] & ~caps[0], 0);
                                ck_assert_uint_eq(cfg[1] & ~caps[1], 0);
                                ck_assert_uint_eq(cfg[2] & ~caps[2], 0);
                                ck_assert_uint_eq(info.channels, 2);
                                checked++;
                        }
        ck_assert_uint_gt(checked, 1000);
}
END_TEST

START_TEST(describe_and_levels)
{
        uint8_t cfg[6];
        char buf[64];
        struct aac_params p;

        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_2, true, 256000);
        a2dp_codec_aac.describe(cfg, 6, 0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "AAC 44100 Hz 256 kbit/s VBR");
        a2dp_codec_aac.describe(cfg, 6, 1, buf, sizeof(buf));
        ck_assert_str_eq(buf, "AAC 44100 Hz 192 kbit/s VBR");
        a2dp_codec_aac.describe(cfg, 6, 2, buf, sizeof(buf));
        ck_assert_str_eq(buf, "AAC 44100 Hz 128 kbit/s VBR");
        a2dp_codec_aac.describe(cfg, 6, 9, buf, sizeof(buf));
        ck_assert_str_eq(buf, "AAC 44100 Hz 128 kbit/s VBR");
        ck_assert_int_eq(aac_params_parse(cfg, 6, &p, NULL, 0), 0);
        ck_assert_uint_eq(aac_levels(&p), 3);

        /* without VBR the speaker keeps the configured rate: one level */
        caps_of(cfg, AAC_OBJ_MPEG2_LC, 0x0080, AAC_CHANNELS_1, false, 128000);
        a2dp_codec_aac.describe(cfg, 6, 2, buf, sizeof(buf));
        ck_assert_str_eq(buf, "AAC 48000 Hz 128 kbit/s mono MPEG-2");
        ck_assert_int_eq(aac_params_parse(cfg, 6, &p, NULL, 0), 0);
        ck_assert_uint_eq(aac_levels(&p), 1);
        ck_assert_uint_eq(aac_bitrate_at(&p, 2), 128000);

        cfg[0] = 0;
        a2dp_codec_aac.describe(cfg, 6, 0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "AAC (invalid configuration)");
}
END_TEST

/* ---- the encoder, judged by libavcodec's aac_latm decoder ----------- */

#define MAX_OUT (48000 * 4)

struct decoded {
        float pcm[2][MAX_OUT];
        size_t n;
        unsigned channels;
        unsigned rate;
        unsigned elements;
        unsigned held;           /* encode() calls before the first element */
        size_t bytes;
        unsigned packets;
        unsigned fragmented;     /* elements split over packets */
};

static struct decoded dec;
/* the tone's peak (full scale 1) and the right channel's share of it */
static double tone_amp = 0.5, right_share = 0.8;

static void decode_element(AVCodecContext *d, AVPacket *pkt, AVFrame *fr, const uint8_t *el,
                           size_t len)
{
        static uint8_t loas[LOAS_HEADER_LEN + LOAS_MAX_ELEMENT + AV_INPUT_BUFFER_PADDING_SIZE];
        static uint8_t payload[LOAS_MAX_ELEMENT];
        struct latm_element info;
        int n;

        /* the element is A2DP's: config in band, AAC-LC at our rate */
        ck_assert_int_eq(latm_parse_element(el, len, &info, payload, sizeof(payload)), 0);
        ck_assert_uint_eq(info.object_type, LATM_AOT_AAC_LC);
        ck_assert_uint_eq(info.rate, dec.rate);
        ck_assert_uint_eq(info.channels, dec.channels);
        n = latm_loas_wrap(el, len, loas, sizeof(loas));
        ck_assert_int_gt(n, 0);
        pkt->data = loas;
        pkt->size = n;
        ck_assert_int_eq(avcodec_send_packet(d, pkt), 0);
        while (avcodec_receive_frame(d, fr) == 0) {
                ck_assert_int_eq(fr->format, AV_SAMPLE_FMT_FLTP);
                ck_assert_int_eq(fr->sample_rate, (int)dec.rate);
                ck_assert_int_eq(fr->ch_layout.nb_channels, (int)dec.channels);
                for (int i = 0; i < fr->nb_samples && dec.n < MAX_OUT; i++, dec.n++)
                        for (unsigned c = 0; c < dec.channels; c++)
                                dec.pcm[c][dec.n] = ((const float *)(void *)fr->data[c])[i];
        }
        dec.elements++;
}

/* Splits an element into packets of at most mtu bytes as the sender does
 * (write_header with the fragment's place), reassembles them as a speaker
 * does, and decodes what comes out. */
static void send_element(struct codec_encoder *e, struct rtp_stream *rtp, size_t mtu,
                         const uint8_t *el, size_t len, uint32_t ts, struct latm_reasm *ra,
                         AVCodecContext *d, AVPacket *pkt, AVFrame *fr)
{
        uint8_t p[CODEC_MAX_PACKET];
        size_t hl = a2dp_codec_aac.header_len(e), room = mtu - hl, off = 0;
        unsigned parts = (unsigned)((len + room - 1) / room);

        ck_assert_uint_eq(hl, RTP_HEADER_LEN);
        for (unsigned i = 0; i < parts; i++) {
                struct codec_packet_meta m = {
                        .timestamp = ts,
                        .frames = parts == 1 ? 1 : 0,
                        .frag = parts == 1 ? FRAG_NONE
                                : i == 0 ? FRAG_FIRST : i + 1 == parts ? FRAG_LAST : FRAG_MIDDLE,
                        .fragments_left = parts - 1 - i,
                };
                size_t chunk = len - off < room ? len - off : room;
                const uint8_t *got = NULL;
                size_t got_len = 0;
                int r;

                a2dp_codec_aac.write_header(e, rtp, p, &m);
                memcpy(p + hl, el + off, chunk);
                off += chunk;
                ck_assert_uint_eq(!!(p[1] & 0x80), i + 1 == parts);
                r = latm_reasm_push(ra, p, hl + chunk, &got, &got_len);
                ck_assert_int_eq(r, i + 1 == parts ? 1 : 0);
                dec.packets++;
                if (r == 1) {
                        ck_assert_uint_eq(got_len, len);
                        ck_assert_mem_eq(got, el, len);
                        decode_element(d, pkt, fr, got, got_len);
                }
        }
        if (parts > 1)
                dec.fragmented++;
        dec.bytes += len;
}

/* The encoding thread done with all it was given (2 s at most). */
static void wait_idle(struct codec_encoder *e)
{
        for (int w = 0; w < 20000 && !aac_encoder_idle(e); w++)
                usleep(100);
}

/* Streams `frames` frames of signal(i) through the codec object at config,
 * pausing between frames as a paced sender would; level switches to
 * `level2` half way. */
static void stream(const uint8_t *cfg, size_t mtu, unsigned frames, double freq,
                   unsigned silent_frames, unsigned level2, size_t *bytes_first_half,
                   size_t *bytes_second_half)
{
        static int16_t pcm[AAC_FRAME_SAMPLES * 2];
        static uint8_t out[CODEC_MAX_FRAME];
        static struct latm_reasm ra;
        struct codec_encoder *e = NULL;
        struct rtp_stream rtp;
        struct codec_info info;
        const AVCodec *codec = avcodec_find_decoder_by_name("aac_latm");
        AVCodecContext *d;
        AVPacket *pkt = av_packet_alloc();
        AVFrame *fr = av_frame_alloc();
        char err[256] = "";
        uint32_t ts = 0, seed = 1;
        size_t half[2] = { 0, 0 };
        int ret;

        ck_assert_ptr_nonnull(codec);
        d = avcodec_alloc_context3(codec);
        ck_assert_int_eq(avcodec_open2(d, codec, NULL), 0);
        ck_assert_int_eq(a2dp_codec_aac.parse(cfg, AAC_INFO_LEN, &info, err, sizeof(err)), 0);
        memset(&dec, 0, sizeof(dec));
        dec.rate = info.rate;
        dec.channels = info.channels;
        ret = a2dp_codec_aac.encoder_new(cfg, AAC_INFO_LEN, mtu, &e, err, sizeof(err));
        ck_assert_msg(ret == 0, "encoder_new: %d %s", ret, err);
        rtp_stream_init(&rtp, 0x5eed, 100, 0);
        latm_reasm_init(&ra);
        for (unsigned f = 0; f < frames + 4; f++) {
                int n;

                if (f == frames / 2)
                        a2dp_codec_aac.set_level(e, level2);
                for (unsigned i = 0; i < AAC_FRAME_SAMPLES; i++) {
                        size_t t = (size_t)f * AAC_FRAME_SAMPLES + i;
                        double v;

                        seed = seed * 1103515245u + 12345u;
                        if (f < silent_frames || f >= frames)
                                v = 0.0;
                        else if (freq > 0)
                                v = tone_amp * sin(2 * M_PI * freq * (double)t / info.rate);
                        else     /* white noise: every bit rate is filled */
                                v = 0.6 * ((double)(seed >> 16 & 0x7fff) / 32768.0 - 0.5);

                        pcm[2 * i] = (int16_t)lrint(v * 32767);
                        pcm[2 * i + 1] = (int16_t)lrint(v * 32767 * right_share);
                }
                counting = 1;
                allocs = 0;
                n = a2dp_codec_aac.encode(e, pcm, out, sizeof(out));
                counting = 0;
#if COUNT_ALLOCS
                ck_assert_msg(allocs == 0, "encode() allocated %u times", allocs);
#endif
                ck_assert_int_ge(n, 0);
                if (n == 0 && dec.elements == 0) {
                        dec.held++;
                } else if (n > 0) {
                        send_element(e, &rtp, mtu, out, (size_t)n, ts, &ra, d, pkt, fr);
                        half[f >= frames / 2 + 8] += (size_t)n;
                        ts += AAC_FRAME_SAMPLES;
                }
                /* a paced sender: a frame's time (~21 ms) is ample for the
                 * encoding thread; wait for it rather than guess */
                wait_idle(e);
                ck_assert(aac_encoder_idle(e));
        }
        ck_assert_uint_eq(aac_encoder_overruns(e), 0);
        ck_assert_uint_eq(ra.dropped, 0);
        a2dp_codec_aac.encoder_free(e);
        avcodec_free_context(&d);
        av_packet_free(&pkt);
        av_frame_free(&fr);
        if (bytes_first_half)
                *bytes_first_half = half[0];
        if (bytes_second_half)
                *bytes_second_half = half[1];
}

/* SNR of x against the best-fitting sine at freq (least squares), in dB. */
static double snr_db(const float *x, size_t n, double freq, unsigned rate)
{
        double ss = 0, sc = 0, cc = 0, xs = 0, xc = 0, a, b, sig = 0, noise = 0;

        for (size_t i = 0; i < n; i++) {
                double s = sin(2 * M_PI * freq * (double)i / rate);
                double c = cos(2 * M_PI * freq * (double)i / rate);

                ss += s * s;
                cc += c * c;
                sc += s * c;
                xs += x[i] * s;
                xc += x[i] * c;
        }
        b = (xc * ss - xs * sc) / (cc * ss - sc * sc);
        a = (xs - b * sc) / ss;
        for (size_t i = 0; i < n; i++) {
                double fit = a * sin(2 * M_PI * freq * (double)i / rate) +
                             b * cos(2 * M_PI * freq * (double)i / rate);

                sig += fit * fit;
                noise += (x[i] - fit) * (x[i] - fit);
        }
        return 10 * log10(sig / (noise + 1e-20));
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Frequency by rising zero crossings, interpolated. */
static double frequency(const float *x, size_t n, unsigned rate)
{
        double first = -1, last = -1;
        unsigned count = 0;

        for (size_t i = 1; i < n; i++) {
                if (x[i - 1] < 0 && x[i] >= 0) {
                        double t = (double)(i - 1) + x[i - 1] / (x[i - 1] - x[i]);

                        if (first < 0)
                                first = t;
                        else
                                count++;
                        last = t;
                }
        }
        return count ? count * (double)rate / (last - first) : 0;
}

static double rms(const float *x, size_t n)
{
        double s = 0;

        for (size_t i = 0; i < n; i++)
                s += (double)x[i] * x[i];
        return sqrt(s / (double)n);
}

/* 44.1 kHz stereo at 256 kbit/s through a 200-byte MTU (every element is
 * fragmented): the tone comes back clean, at its frequency, at its level,
 * after the delay the configuration states. */
START_TEST(round_trip_tone)
{
        uint8_t cfg[6];
        const unsigned silent = 5, frames = 120;
        size_t onset = 0, start, len;
        double s_l, s_r, f, level;

        if (!a2dp_codec_aac.available())
                ck_abort_msg("libavcodec.so.59 is not installed (libavcodec59)");
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_2, true, 256000);
        stream(cfg, 200, frames, 1000.0, silent, 0, NULL, NULL);
        ck_assert_uint_eq(dec.held, 2);
        ck_assert_uint_eq(dec.elements, frames + 4 - dec.held);
        /* 188 bytes of payload hold only the silent frames whole */
        ck_assert_uint_ge(dec.fragmented, frames - silent);
        ck_assert_uint_gt(dec.packets, 3 * dec.elements);

        /* the delay: elements held back, plus the decoder's priming, until
         * the tone's first sample */
        while (onset < dec.n && fabsf(dec.pcm[0][onset]) < 0.05f)
                onset++;
        ck_assert_uint_lt(onset, dec.n);
        {
                long delay = (long)(dec.held * AAC_FRAME_SAMPLES + onset) -
                             (long)(silent * AAC_FRAME_SAMPLES);

                ck_assert_msg(labs(delay - (long)AAC_DELAY_SAMPLES) <= 64,
                              "delay %ld samples, configuration says %u", delay,
                              AAC_DELAY_SAMPLES);
        }

        /* judge a stretch well inside the tone */
        start = onset + 4096;
        len = 44100;
        ck_assert_uint_gt(dec.n, start + len);
        s_l = snr_db(dec.pcm[0] + start, len, 1000.0, 44100);
        s_r = snr_db(dec.pcm[1] + start, len, 1000.0, 44100);
        f = frequency(dec.pcm[0] + start, len, 44100);
        level = rms(dec.pcm[0] + start, len) * sqrt(2.0);
        if (getenv("AAC_TEST_FIGURES"))
                fprintf(stderr, "tone: SNR %.1f / %.1f dB, %.3f Hz, amplitude %.4f, "
                        "%zu bytes in %u elements, %u packets, onset %zu\n", s_l, s_r, f,
                        level, dec.bytes, dec.elements, dec.packets, onset);
        /* measured on Debian 12 (libavcodec 59.37): docs/codecs.md */
        ck_assert_msg(s_l > 55.0 && s_r > 55.0, "SNR %.1f / %.1f dB", s_l, s_r);
        ck_assert_msg(fabs(f - 1000.0) < 1.0, "frequency %.2f Hz", f);
        ck_assert_msg(fabs(level - 0.5) < 0.05, "amplitude %.3f", level);
        ck_assert_msg(fabs(rms(dec.pcm[1] + start, len) / rms(dec.pcm[0] + start, len) - 0.8) < 0.05,
                      "the channels are mixed up");
}
END_TEST

/* From its first frames on, the stream is as clean as it will be: no
 * window of 10 ms 15 dB below the median (what the speaker's judge counts
 * as a gap). libavcodec's rate control, left to start where it does, gave
 * ten such windows in the first 0.3 s of this very tone. */
START_TEST(steady_from_the_start)
{
        uint8_t cfg[6];
        double snr[512], sorted[512], median;
        size_t n = 0, w = 480;

        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0080, AAC_CHANNELS_2, true, 256000);
        tone_amp = 0.25;
        right_share = 1.0;
        stream(cfg, 895, 100, 997.0, 0, 0, NULL, NULL);
        /* from 0.1 s after the tone (past the decoder's priming) to a frame
         * before its end (the step to silence spreads over a frame) */
        for (size_t at = 1024 + 4800; at + w <= 100 * 1024 && at + w <= dec.n && n < 512;
             at += w, n++)
                snr[n] = snr_db(dec.pcm[0] + at, w, 997.0, 48000);
        ck_assert_uint_gt(n, 100);
        memcpy(sorted, snr, n * sizeof(double));
        qsort(sorted, n, sizeof(double), cmp_double);
        median = sorted[n / 2];
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(snr[i] >= median - 15.0, "at %.2f s: SNR %.1f dB, median %.1f",
                              0.1 + (double)i * 0.01, snr[i], median);
}
END_TEST

/* A speaker's own configuration: MPEG-2 AAC-LC, 48 kHz, mono (downmixed),
 * at a large MTU (no fragmentation). */
START_TEST(round_trip_mpeg2_mono)
{
        uint8_t cfg[6];
        double s;

        caps_of(cfg, AAC_OBJ_MPEG2_LC, 0x0080, AAC_CHANNELS_1, false, 128000);
        stream(cfg, 1000, 60, 440.0, 0, 0, NULL, NULL);
        ck_assert_uint_eq(dec.fragmented, 0);
        ck_assert_uint_eq(dec.packets, dec.elements);
        ck_assert_uint_gt(dec.n, 48000);
        s = snr_db(dec.pcm[0] + 8192, 32768, 440.0, 48000);
        if (getenv("AAC_TEST_FIGURES"))
                fprintf(stderr, "mpeg2 mono: SNR %.1f dB\n", s);
        /* 128 kbit/s: the noise sits under the tone's masking, not far
         * below it (measured 36.7 dB; 66 at 256 kbit/s) */
        ck_assert_msg(s > 30.0, "SNR %.1f dB", s);
        /* the mean of 0.5 and 0.4 */
        ck_assert_msg(fabs(rms(dec.pcm[0] + 8192, 32768) * sqrt(2.0) - 0.45) < 0.05,
                      "amplitude %.3f", rms(dec.pcm[0] + 8192, 32768) * sqrt(2.0));
}
END_TEST

/* Congestion: the lowest level halves what goes on the air. */
START_TEST(bitrate_steps)
{
        uint8_t cfg[6];
        size_t first, second;
        double ratio;

        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0080, AAC_CHANNELS_2, true, 192000);
        /* a tone is too easy to fill 192 kbit/s: noise fills any */
        stream(cfg, 895, 160, 0, 0, 2, &first, &second);
        ratio = (double)second / (double)first;
        if (getenv("AAC_TEST_FIGURES"))
                fprintf(stderr, "steps: %zu bytes at 192 kbit/s, %zu at 96\n", first, second);
        ck_assert_msg(ratio > 0.35 && ratio < 0.65, "bytes after / before: %.2f (%zu / %zu)",
                      ratio, second, first);
}
END_TEST

/* The counter sees allocations: libavcodec's own send/receive allocate on
 * the calling thread (why encode() hands them to a thread of its own). */
START_TEST(counter_sees_libavcodec_allocate)
{
#if COUNT_ALLOCS
        const AVCodec *c = avcodec_find_encoder_by_name("aac");
        AVCodecContext *ctx = avcodec_alloc_context3(c);
        AVFrame *fr = av_frame_alloc();
        AVPacket *pkt = av_packet_alloc();
        unsigned per_frame = 0;

        ctx->sample_rate = 44100;
        ctx->sample_fmt = AV_SAMPLE_FMT_FLTP;
        av_channel_layout_default(&ctx->ch_layout, 2);
        ctx->bit_rate = 256000;
        av_log_set_level(AV_LOG_ERROR);
        ck_assert_int_eq(avcodec_open2(ctx, c, NULL), 0);
        fr->nb_samples = 1024;
        fr->format = AV_SAMPLE_FMT_FLTP;
        av_channel_layout_default(&fr->ch_layout, 2);
        ck_assert_int_eq(av_frame_get_buffer(fr, 0), 0);
        for (int i = 0; i < 10; i++) {
                memset(fr->data[0], 0, 4096);
                memset(fr->data[1], 0, 4096);
                counting = 1;
                allocs = 0;
                avcodec_send_frame(ctx, fr);
                while (avcodec_receive_packet(ctx, pkt) == 0)
                        av_packet_unref(pkt);
                counting = 0;
                per_frame = allocs;
        }
        ck_assert_uint_gt(per_frame, 0);
        avcodec_free_context(&ctx);
        av_frame_free(&fr);
        av_packet_free(&pkt);
#endif
}
END_TEST

START_TEST(encoder_refuses_bad_setup)
{
        uint8_t cfg[6];
        char err[128];
        struct codec_encoder *e = (struct codec_encoder *)1;

        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0180, AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.encoder_new(cfg, 6, 895, &e, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(e);
        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_2, true, 0);
        ck_assert_int_eq(a2dp_codec_aac.encoder_new(cfg, 6, 12, &e, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(a2dp_codec_aac.encoder_new(cfg, 6, 895, &e, err, sizeof(err)), 0);
        ck_assert_uint_eq(a2dp_codec_aac.levels(e), 3);
        ck_assert_uint_eq(a2dp_codec_aac.level_bitrate(e, 1), 192000);
        ck_assert_uint_eq(a2dp_codec_aac.level_value(e, 2), 128);
        a2dp_codec_aac.encoder_free(e);
        a2dp_codec_aac.encoder_free(NULL);
}
END_TEST

/* An MPEG-4 AAC-LC stereo encoder at 256 kbit/s, and a frame of noise-like
 * PCM to feed it (the encoding thread's timing tests). */
static struct codec_encoder *busy_encoder(int16_t *pcm)
{
        struct codec_encoder *e = NULL;
        uint8_t cfg[6];
        char err[128];

        caps_of(cfg, AAC_OBJ_MPEG4_LC, 0x0100, AAC_CHANNELS_2, true, 256000);
        ck_assert_int_eq(a2dp_codec_aac.encoder_new(cfg, 6, 895, &e, err, sizeof(err)), 0);
        for (unsigned i = 0; i < AAC_FRAME_SAMPLES * 2; i++)
                pcm[i] = (int16_t)((i * 7919u) & 0x3fff);
        return e;
}

/* A sender far ahead of the encoding thread (as after a stall): frames are
 * dropped and counted, never an error, and once paced again the encoder
 * hands out one element per frame with no more than its normal delay
 * plus the backlog it tolerates (four elements). */
START_TEST(stall_recovers)
{
        static int16_t pcm[AAC_FRAME_SAMPLES * 2];
        static uint8_t out[CODEC_MAX_FRAME];
        struct codec_encoder *e = busy_encoder(pcm);
        unsigned zeros = 0;

        /* no pause at all: the thread cannot keep up with 200 calls */
        for (int i = 0; i < 200; i++)
                ck_assert_int_ge(a2dp_codec_aac.encode(e, pcm, out, sizeof(out)), 0);
        ck_assert_uint_gt(aac_encoder_overruns(e), 0);
        wait_idle(e);
        ck_assert_uint_gt(aac_encoder_ready(e), 4); /* a backlog built up */
        /* paced again: after the backlog, every call hands out an element */
        for (int i = 0; i < 30; i++) {
                int n;

                wait_idle(e);
                n = a2dp_codec_aac.encode(e, pcm, out, sizeof(out));
                ck_assert_int_ge(n, 0);
                if (i >= 3 && n == 0)
                        zeros++;
        }
        ck_assert_uint_eq(zeros, 0);
        /* and the backlog went: at most four elements wait (one in a
         * steady stream, more if the thread was late) */
        wait_idle(e);
        ck_assert_uint_le(aac_encoder_ready(e), 4);
        a2dp_codec_aac.encoder_free(e);
}
END_TEST

/* The encoding thread late once (calls back to back): the calls that got
 * nothing leave the stream that many frames behind for good, and the
 * encoder says so (the sender dates the packets' audio by it: two
 * speakers' alignment follows). Paced, it is behind by nothing. */
START_TEST(lag_is_the_frames_the_thread_fell_behind)
{
        static int16_t pcm[AAC_FRAME_SAMPLES * 2];
        static uint8_t out[CODEC_MAX_FRAME];
        struct codec_encoder *e = busy_encoder(pcm);
        unsigned zeros = 0;
        int n;

        /* paced, past libavcodec's priming: one element a call */
        for (int i = 0; i < 10; i++) {
                wait_idle(e);
                ck_assert_int_ge(a2dp_codec_aac.encode(e, pcm, out, sizeof(out)), 0);
        }
        ck_assert_uint_eq(a2dp_codec_aac.lag_samples(e), 0);
        /* three calls before the thread can run (fewer than the backlog
         * it keeps: nothing is dropped) */
        for (int i = 0; i < 3; i++) {
                n = a2dp_codec_aac.encode(e, pcm, out, sizeof(out));
                ck_assert_int_ge(n, 0);
                zeros += n == 0;
        }
        ck_assert_uint_ge(zeros, 1);
        for (int i = 0; i < 10; i++) {
                wait_idle(e);
                n = a2dp_codec_aac.encode(e, pcm, out, sizeof(out));
                ck_assert_int_gt(n, 0);
                ck_assert_uint_eq(a2dp_codec_aac.lag_samples(e), zeros * AAC_FRAME_SAMPLES);
        }
        ck_assert_uint_eq(aac_encoder_overruns(e), 0);
        a2dp_codec_aac.encoder_free(e);
}
END_TEST

/* The element handed out after the encoding thread was kept from running
 * for AAC_RING + dropped calls (the caller at SCHED_FIFO on the one CPU
 * both share, as the audio thread is on a loaded board); UINT_MAX when
 * the test may not use SCHED_FIFO. */
static unsigned lag_after_starving(unsigned dropped)
{
        static int16_t pcm[AAC_FRAME_SAMPLES * 2];
        static uint8_t out[CODEC_MAX_FRAME];
        struct codec_encoder *e = busy_encoder(pcm);
        struct sched_param rt = { .sched_priority = 10 }, normal = { .sched_priority = 0 };
        unsigned lag = UINT_MAX;
        cpu_set_t allowed, one;
        int cpu = 0;

        /* the first CPU this test may use (a cpuset may leave out CPU 0) */
        ck_assert_int_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
        while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &allowed))
                cpu++;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ck_assert_int_eq(sched_setaffinity(aac_encoder_worker_tid(e), sizeof(one), &one), 0);
        ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
        for (int i = 0; i < 10; i++) {
                wait_idle(e);
                ck_assert_int_ge(a2dp_codec_aac.encode(e, pcm, out, sizeof(out)), 0);
        }
        wait_idle(e);
        if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt) == 0) {
                unsigned before = aac_encoder_overruns(e);

                for (unsigned i = 0; i < AAC_RING + dropped; i++)
                        ck_assert_int_ge(a2dp_codec_aac.encode(e, pcm, out, sizeof(out)), 0);
                ck_assert_int_eq(pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal), 0);
                /* the thread did not run: exactly `dropped` frames were */
                ck_assert_uint_eq(aac_encoder_overruns(e) - before, dropped);
                wait_idle(e);
                ck_assert_int_gt(a2dp_codec_aac.encode(e, pcm, out, sizeof(out)), 0);
                lag = a2dp_codec_aac.lag_samples(e);
        }
        a2dp_codec_aac.encoder_free(e);
        /* as it was: with CK_FORK=no (qemu) later tests run in this process */
        ck_assert_int_eq(sched_setaffinity(0, sizeof(allowed), &allowed), 0);
        return lag;
}

/* Frames a full ring dropped are time that passed: the audio made before
 * them and handed out after is that much older (the sender dates packets
 * by it, and two speakers' alignment follows) */
START_TEST(lag_counts_the_frames_a_full_ring_dropped)
{
        unsigned none = lag_after_starving(0), five = lag_after_starving(5);

        if (none == UINT_MAX || five == UINT_MAX) {
                /* CI (.ci/run, as root) must judge it, as run.py fails a
                 * skipped integration test there */
                ck_assert_msg(!getenv("A2DPSRC_NO_SKIP"),
                              "SCHED_FIFO not permitted: not judged, and A2DPSRC_NO_SKIP is set");
                fprintf(stderr, "lag_counts_the_frames_a_full_ring_dropped: SCHED_FIFO not permitted, "
                        "not judged\n");
                return;
        }
        ck_assert_uint_eq(five - none, 5 * AAC_FRAME_SAMPLES);
}
END_TEST

/* available() looks for the library without loading it */
START_TEST(library_findable)
{
        char dir[] = "/tmp/test-a2dp-aac-XXXXXX", path[64];
        FILE *f;

        ck_assert(a2dp_codec_aac.available());
        ck_assert(codec_lib_findable("libc.so.6"));
        ck_assert(!codec_lib_findable("libno-such-codec.so.0"));
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/libno-such-codec.so.0", dir);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
        setenv("LD_LIBRARY_PATH", dir, 1);
        ck_assert(codec_lib_findable("libno-such-codec.so.0"));
        setenv("LD_LIBRARY_PATH", "/nonexistent::", 1);
        ck_assert(!codec_lib_findable("libno-such-codec.so.0"));
        unlink(path);
        rmdir(dir);
}
END_TEST

static Suite *aac_suite(void)
{
        Suite *s = suite_create("a2dp-aac");
        TCase *pure = tcase_create("pure");
        TCase *enc = tcase_create("encoder");

        tcase_add_test(pure, our_capabilities);
        tcase_add_test(pure, select_typical_speaker);
        tcase_add_test(pure, select_honours_bitrate);
        tcase_add_test(pure, select_refusals);
        tcase_add_test(pure, parse_bad_blobs);
        tcase_add_test(pure, select_then_parse_everywhere);
        tcase_add_test(pure, describe_and_levels);
        suite_add_tcase(s, pure);
        tcase_set_timeout(enc, 60);
        tcase_add_test(enc, round_trip_tone);
        tcase_add_test(enc, round_trip_mpeg2_mono);
        tcase_add_test(enc, steady_from_the_start);
        tcase_add_test(enc, bitrate_steps);
        tcase_add_test(enc, counter_sees_libavcodec_allocate);
        tcase_add_test(enc, encoder_refuses_bad_setup);
        tcase_add_test(enc, library_findable);
        tcase_add_test(enc, stall_recovers);
        tcase_add_test(enc, lag_is_the_frames_the_thread_fell_behind);
        tcase_add_test(enc, lag_counts_the_frames_a_full_ring_dropped);
        suite_add_tcase(s, enc);
        return s;
}

CHECK_MAIN(aac_suite)
