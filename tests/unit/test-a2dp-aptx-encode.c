/* aptX and aptX HD encoders, end to end: our codec objects encode and
 * frame packets as the sender does (whole frames to the MTU, the codec's
 * header), and libavcodec's aptx / aptx_hd decoders, which we did not
 * write, decode them packet by packet as a speaker would. A 1 kHz tone
 * must come back at 1 kHz and clean; noise must come back 90 samples
 * late (the delay the codec reports); the encoder must not allocate. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#include "a2dp-aptx.h"

#define MTU 895
#define SECONDS 1
#define MAX_RATE 48000
#define MAX_SAMPLES (MAX_RATE * SECONDS)

#include "alloc-watch.h"

struct run {
        const struct a2dp_codec *c;
        unsigned rate;
        size_t samples;                 /* PCM frames in */
        int16_t pcm[MAX_SAMPLES * 2];
        double out[2][MAX_SAMPLES + 1024];
        size_t out_samples;
        unsigned packets;
        unsigned packet_samples;
        unsigned allocs;                /* while encoding */
        int drop;                       /* packet the "link" loses, or -1 */
        unsigned decode_errors;
};

static struct run R;

/* Encodes R.pcm with the codec object into packets as the sender frames
 * them, and decodes each packet with libavcodec. */
static void encode_decode(void)
{
        const struct a2dp_codec *c = R.c;
        uint8_t caps[A2DP_CODEC_BLOB_MAX], config[A2DP_CODEC_BLOB_MAX];
        struct codec_prefs prefs = { .rate = R.rate };
        struct codec_encoder *e = NULL;
        struct codec_info info;
        struct rtp_stream rtp;
        char err[200] = "";
        size_t n = c->capabilities(caps, sizeof(caps)), pos = 0, hdr, frame_bytes = 0;
        unsigned per_packet, expect_seq = 0x1234, i;
        uint32_t ts = 5000;
        int len, w = 0;
        const AVCodec *dec = avcodec_find_decoder_by_name(c == &a2dp_codec_aptx ? "aptx" : "aptx_hd");
        AVCodecContext *ctx;
        AVPacket *pkt;
        AVFrame *frame;
        /* every packet of the run: under 2 bytes a sample with headers */
        static uint8_t store[MAX_SAMPLES * 2];
        static size_t packet_len[MAX_SAMPLES / 16];
        size_t stored = 0;

        ck_assert_ptr_nonnull(dec);
        len = c->select(caps, n, &prefs, config, sizeof(config), err, sizeof(err));
        ck_assert_msg(len > 0, "%s", err);
        ck_assert_int_eq(c->parse(config, (size_t)len, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.rate, R.rate);
        ck_assert_msg(c->encoder_new(config, (size_t)len, MTU, &e, err, sizeof(err)) == 0, "%s",
                      err);
        hdr = c->header_len(e);
        ck_assert_uint_eq(hdr, c == &a2dp_codec_aptx ? 0 : RTP_HEADER_LEN);
        ck_assert_uint_eq(c->levels(e), 1);
        ck_assert_uint_eq(c->level_bitrate(e, 0), info.max_bitrate);
        ck_assert_uint_eq(c->level_value(e, 0), info.max_bitrate / 1000);
        rtp_stream_init(&rtp, 0xcafe, (uint16_t)expect_seq, 0);

        /* the sender's geometry: whole frames, at most max_frames, within the MTU */
        frame_bytes = info.frame_samples / 4 * (c == &a2dp_codec_aptx ? 4 : 6);
        per_packet = (unsigned)((MTU - hdr) / frame_bytes);
        if (per_packet > c->max_frames)
                per_packet = c->max_frames;
        ck_assert_uint_ge(per_packet, 1);

        R.packets = 0;
        R.allocs = 0;
        while (pos + (size_t)per_packet * info.frame_samples <= R.samples) {
                uint8_t *p = store + stored;
                size_t plen = hdr;
                struct codec_packet_meta m = { .timestamp = ts, .frames = per_packet };

#if ALLOC_WATCH
                allocations = 0;
                watching = 1;
#endif
                /* nothing here may allocate: not even Check's assertions */
                for (i = 0, w = 0; i < per_packet && w >= 0; i++) {
                        w = c->encode(e, R.pcm + pos * 2, p + plen, MTU - plen);
                        if (w != (int)frame_bytes)
                                break;
                        plen += (size_t)w;
                        pos += info.frame_samples;
                }
                c->write_header(e, &rtp, p, &m);
#if ALLOC_WATCH
                watching = 0;
                R.allocs += allocations;
#endif
                ck_assert_int_eq(w, (int)frame_bytes);
                ck_assert_uint_le(plen, MTU);
                if (hdr) {
                        /* RTP: version 2, payload type 96, sequence and time */
                        ck_assert_uint_eq(p[0], 0x80);
                        ck_assert_uint_eq(p[1], 96);
                        ck_assert_uint_eq((unsigned)(p[2] << 8 | p[3]), (expect_seq + R.packets) & 0xffff);
                        ck_assert_uint_eq((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
                                                  (uint32_t)p[6] << 8 | p[7], ts);
                        ck_assert_uint_eq(p[11], 0xfe);
                }
                packet_len[R.packets++] = plen;
                stored += plen;
                ts += per_packet * info.frame_samples;
        }
        /* packets of at most 20 ms */
        ck_assert_uint_le((uint64_t)per_packet * info.frame_samples * 1000, 20ull * R.rate);
        c->encoder_free(e);

        ctx = avcodec_alloc_context3(dec);
        ck_assert_ptr_nonnull(ctx);
        ctx->sample_rate = (int)R.rate;
        av_channel_layout_default(&ctx->ch_layout, 2);
        ck_assert_int_eq(avcodec_open2(ctx, dec, NULL), 0);
        pkt = av_packet_alloc();
        frame = av_frame_alloc();
        R.out_samples = 0;
        R.decode_errors = 0;
        R.packet_samples = per_packet * info.frame_samples;
        stored = 0;
        for (i = 0; i < R.packets; i++) {
                int ch, r;

                if ((int)i == R.drop) {
                        stored += packet_len[i];
                        continue;
                }
                ck_assert_int_eq(av_new_packet(pkt, (int)(packet_len[i] - hdr)), 0);
                memcpy(pkt->data, store + stored + hdr, packet_len[i] - hdr);
                stored += packet_len[i];
                if (avcodec_send_packet(ctx, pkt) < 0)
                        R.decode_errors++;
                av_packet_unref(pkt);
                while ((r = avcodec_receive_frame(ctx, frame)) == 0) {
                        int s;

                        ck_assert_int_eq(frame->format, AV_SAMPLE_FMT_S32P);
                        for (s = 0; s < frame->nb_samples; s++)
                                for (ch = 0; ch < 2; ch++)
                                        R.out[ch][R.out_samples + (size_t)s] =
                                                ((const int32_t *)frame->data[ch])[s] / 2147483648.0;
                        R.out_samples += (size_t)frame->nb_samples;
                        av_frame_unref(frame);
                }
                if (r != AVERROR(EAGAIN))
                        R.decode_errors++;
        }
        av_frame_free(&frame);
        av_packet_free(&pkt);
        avcodec_free_context(&ctx);
        ck_assert_uint_eq(R.out_samples, pos - (R.drop >= 0 ? R.packet_samples : 0));
}

/* Frequency from the positive-going zero crossings, interpolated. */
static double tone_frequency(const double *x, size_t from, size_t n, unsigned rate)
{
        double first = -1, last = -1;
        unsigned crossings = 0;
        size_t i;

        for (i = from + 1; i < n; i++)
                if (x[i - 1] < 0 && x[i] >= 0) {
                        double t = (double)(i - 1) + x[i - 1] / (x[i - 1] - x[i]);

                        if (first < 0)
                                first = t;
                        last = t;
                        crossings++;
                }
        return crossings > 1 ? (crossings - 1) * (double)rate / (last - first) : 0;
}

/* SNR in dB of a 1 kHz tone: over a whole number of periods (10 ms
 * blocks) a sine, a cosine and DC are orthogonal, so their projections
 * are the least-squares fit: that is the signal, what is left is noise and
 * distortion. */
static double tone_snr(const double *x, size_t from, size_t n, unsigned rate)
{
        size_t block = rate / 100, m = (n - from) / block * block, i;
        double a = 0, b = 0, d = 0, sig = 0, noise = 0;

        for (i = 0; i < m; i++) {
                double w = 2 * M_PI * 1000.0 * (double)i / rate;

                a += x[from + i] * sin(w);
                b += x[from + i] * cos(w);
                d += x[from + i];
        }
        a *= 2.0 / (double)m;
        b *= 2.0 / (double)m;
        d /= (double)m;
        for (i = 0; i < m; i++) {
                double w = 2 * M_PI * 1000.0 * (double)i / rate;
                double fit = a * sin(w) + b * cos(w) + d;

                sig += fit * fit;
                noise += (x[from + i] - fit) * (x[from + i] - fit);
        }
        return 10 * log10(sig / (noise > 1e-30 ? noise : 1e-30));
}

static const struct {
        const struct a2dp_codec *c;
        unsigned rate;
        double snr_floor;       /* measured (docs/codecs.md) less 5 to 8 dB */
} cases[] = {
        { &a2dp_codec_aptx, 48000, 60 },        /* 68 dB measured */
        { &a2dp_codec_aptx, 44100, 60 },        /* 65.4 */
        { &a2dp_codec_aptx_hd, 48000, 72 },     /* 79.4 */
        { &a2dp_codec_aptx_hd, 44100, 72 },     /* 77.5 */
};

static void make_tone(int i_case, int drop)
{
        size_t i;

        R.c = cases[i_case].c;
        R.rate = cases[i_case].rate;
        R.samples = R.rate * SECONDS;
        R.drop = drop;
        for (i = 0; i < R.samples; i++) {
                double w = 2 * M_PI * 1000.0 * (double)i / R.rate;

                R.pcm[2 * i] = (int16_t)lrint(16384 * sin(w));          /* -6 dBFS */
                R.pcm[2 * i + 1] = (int16_t)lrint(8192 * sin(w + 1));   /* -12 dBFS */
        }
}

START_TEST(tone_round_trip)
{
        size_t i, skip = 1000;
        int ch;

        make_tone(_i, -1);
        encode_decode();
        ck_assert_uint_eq(R.decode_errors, 0);
#if ALLOC_WATCH
        ck_assert_uint_eq(R.allocs, 0);
#endif
        for (ch = 0; ch < 2; ch++) {
                double f = tone_frequency(R.out[ch], skip, R.out_samples, R.rate);
                double snr = tone_snr(R.out[ch], skip, R.out_samples, R.rate);
                double peak = 0;

                for (i = skip; i < R.out_samples; i++)
                        peak = fabs(R.out[ch][i]) > peak ? fabs(R.out[ch][i]) : peak;
                fprintf(stderr, "%s %u Hz ch%d: %.2f Hz, SNR %.1f dB, peak %.3f, %u packets\n",
                        R.c->label, R.rate, ch, f, snr, peak, R.packets);
                ck_assert_msg(fabs(f - 1000.0) < 1.0, "%s: %.2f Hz", R.c->label, f);
                ck_assert_msg(snr > cases[_i].snr_floor, "%s %u Hz ch%d: SNR %.1f dB under %.0f",
                              R.c->label, R.rate, ch, snr, cases[_i].snr_floor);
                /* the level survives: a channel swap or a gain slip would show */
                ck_assert_msg(fabs(peak - (ch ? 0.25 : 0.5)) < 0.02, "peak %.3f", peak);
        }
}
END_TEST

/* The sender drops the oldest packets when the link cannot keep up: the
 * speaker's decoder must stay in step with the codewords' parity sync,
 * which repeats every 8 codewords (libavcodec's decoder refuses a packet
 * out of step and never finds the step again), and the tone come back
 * clean. */
START_TEST(dropped_packet_keeps_sync)
{
        size_t settle;
        double snr;

        make_tone(_i, 10);
        encode_decode();
        ck_assert_msg(R.decode_errors == 0, "%s %u Hz: %u packets refused after a drop",
                      R.c->label, R.rate, R.decode_errors);
        /* the ADPCM predictors of encoder and decoder parted at the gap:
         * they meet again within about 150 ms (docs/codecs.md) */
        settle = (size_t)10 * R.packet_samples + R.rate / 5;
        snr = tone_snr(R.out[0], settle, R.out_samples, R.rate);
        fprintf(stderr, "%s %u Hz from 200 ms after a lost packet: SNR %.1f dB\n", R.c->label,
                R.rate, snr);
        ck_assert_msg(snr > cases[_i].snr_floor, "SNR %.1f dB", snr);
}
END_TEST

/* Noise, so that the delay is not ambiguous as a tone's would be: the
 * decoded left channel matches the input best APTX_DELAY_SAMPLES late. */
START_TEST(delay_is_reported_delay)
{
        uint32_t seed = 12345;
        size_t i, lag, best_lag = 0, n = 8192;
        double best = -1;

        R.c = _i ? &a2dp_codec_aptx_hd : &a2dp_codec_aptx;
        R.rate = 48000;
        R.drop = -1;
        R.samples = R.rate / 2;
        for (i = 0; i < R.samples; i++) {
                seed = seed * 1664525u + 1013904223u;
                R.pcm[2 * i] = (int16_t)((int32_t)(seed >> 16) - 32768) / 4;
                R.pcm[2 * i + 1] = R.pcm[2 * i];
        }
        encode_decode();
        for (lag = 0; lag < 400; lag++) {
                double acc = 0;

                for (i = 0; i < n; i++)
                        acc += R.out[0][i + lag] * R.pcm[2 * i];
                if (acc > best) {
                        best = acc;
                        best_lag = lag;
                }
        }
        fprintf(stderr, "%s: delay %zu samples\n", R.c->label, best_lag);
        ck_assert_uint_eq(best_lag, APTX_DELAY_SAMPLES);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("a2dp-aptx-encode");
        TCase *tc = tcase_create("libavcodec");

        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, tone_round_trip, 0, sizeof(cases) / sizeof(cases[0]));
        tcase_add_loop_test(tc, dropped_packet_keeps_sync, 0, sizeof(cases) / sizeof(cases[0]));
        tcase_add_loop_test(tc, delay_is_reported_delay, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(make_suite)
