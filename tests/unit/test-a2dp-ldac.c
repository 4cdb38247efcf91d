/* LDAC as a codec object: capabilities, the configuration chooser and
 * parser (bad blobs included), and the framing of what the encoder object
 * produces for a 1 kHz tone at each quality level. LDAC has no open
 * decoder in Debian: the audio is not decoded, its framing is checked
 * (sync word and frame length of every frame, frames per packet, RTP
 * timestamps, bitrate). */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a2dp-ldac.h"
#include "rtp.h"

static const struct a2dp_codec *const C = &a2dp_codec_ldac;

/* ---- allocation watch: the real-time calls must not allocate ----------- */
#include "alloc-watch.h"

/* ---- blobs ------------------------------------------------------------- */

static void blob(uint8_t *b, uint8_t rates, uint8_t modes)
{
        static const uint8_t head[6] = { 0x2d, 0x01, 0x00, 0x00, 0xaa, 0x00 };

        memcpy(b, head, sizeof(head));
        b[6] = rates;
        b[7] = modes;
}

START_TEST(capabilities_blob)
{
        uint8_t caps[A2DP_CODEC_BLOB_MAX];
        static const uint8_t want[8] = { 0x2d, 0x01, 0x00, 0x00, 0xaa, 0x00, 0x3c, 0x07 };

        ck_assert_uint_eq(C->capabilities(caps, sizeof(caps)), 8);
        ck_assert_mem_eq(caps, want, sizeof(want));
        ck_assert_uint_eq(C->capabilities(caps, 7), 0);
        ck_assert_uint_eq(C->codec_id, A2DP_CODEC_VENDOR);
        ck_assert_uint_eq(C->vendor_id, 0x0000012d);
        ck_assert_uint_eq(C->vendor_codec_id, 0x00aa);
        ck_assert_int_eq(C->index, CODEC_LDAC);
        ck_assert_str_eq(C->name, "ldac");
        ck_assert_str_eq(C->label, "LDAC");
        ck_assert(!C->can_fragment);
        ck_assert_ptr_eq(C->packet_frames, ldac_encoder_packet_frames);
}
END_TEST

static int sel(uint8_t rates, uint8_t modes, unsigned pref, uint8_t *config, char *err)
{
        uint8_t caps[8];
        struct codec_prefs p = { .rate = pref };

        blob(caps, rates, modes);
        memset(config, 0, 8);
        return C->select(caps, sizeof(caps), &p, config, 8, err, 160);
}

START_TEST(select_prefers_capture_rate_then_48k)
{
        uint8_t cfg[8];
        char err[160];

        ck_assert_int_eq(sel(0x3c, 0x07, 48000, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_48000);
        ck_assert_uint_eq(cfg[7], LDAC_MODE_STEREO);
        ck_assert_int_eq(sel(0x3c, 0x07, 44100, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_44100);
        ck_assert_int_eq(sel(0x3c, 0x07, 96000, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_96000);
        ck_assert_int_eq(sel(0x3c, 0x07, 0, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_48000);
        /* a capture rate LDAC has not: 48 kHz, then 44.1 */
        ck_assert_int_eq(sel(0x3c, 0x07, 32000, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_48000);
        ck_assert_int_eq(sel(LDAC_RATE_44100 | LDAC_RATE_96000, 0x07, 48000, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_44100);
        /* only the high rates */
        ck_assert_int_eq(sel(LDAC_RATE_88200 | LDAC_RATE_96000, 0x07, 48000, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_96000);
        ck_assert_int_eq(sel(LDAC_RATE_88200 | 0x03, 0x07, 48000, cfg, err), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_88200);
        /* the vendor header is written, reserved bits are not copied */
        ck_assert_int_eq(sel(0xff, 0xff, 48000, cfg, err), 8);
        ck_assert_uint_eq(cfg[0], 0x2d);
        ck_assert_uint_eq(cfg[1], 0x01);
        ck_assert_uint_eq(cfg[4], 0xaa);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_48000);
        ck_assert_uint_eq(cfg[7], LDAC_MODE_STEREO);
}
END_TEST

START_TEST(select_modes)
{
        uint8_t cfg[8];
        char err[160];

        ck_assert_int_eq(sel(0x3c, LDAC_MODE_DUAL | LDAC_MODE_MONO, 48000, cfg, err), 8);
        ck_assert_uint_eq(cfg[7], LDAC_MODE_DUAL);
        ck_assert_int_eq(sel(0x3c, LDAC_MODE_MONO, 48000, cfg, err), -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "stereo"));
        ck_assert_int_eq(sel(0x3c, 0x00, 48000, cfg, err), -ENOTSUP);
        ck_assert_int_eq(sel(0x3c, 0xf8, 48000, cfg, err), -ENOTSUP);
}
END_TEST

START_TEST(select_bad_blobs)
{
        uint8_t caps[8], cfg[8];
        char err[160];
        struct codec_prefs p = { .rate = 48000 };

        /* no rate we encode: none, or only 176.4/192 kHz, or reserved bits */
        ck_assert_int_eq(sel(0x00, 0x07, 48000, cfg, err), -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "rate"));
        ck_assert_int_eq(sel(0x03, 0x07, 48000, cfg, err), -ENOTSUP);
        ck_assert_int_eq(sel(0xc0, 0x07, 48000, cfg, err), -ENOTSUP);
        /* short */
        blob(caps, 0x3c, 0x07);
        for (size_t n = 0; n < 8; n++)
                ck_assert_int_eq(C->select(caps, n, &p, cfg, 8, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "bytes"));
        /* wrong vendor, wrong codec of the right vendor */
        caps[0] = 0x4f;
        ck_assert_int_eq(C->select(caps, 8, &p, cfg, 8, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "vendor"));
        blob(caps, 0x3c, 0x07);
        caps[4] = 0x01;
        ck_assert_int_eq(C->select(caps, 8, &p, cfg, 8, err, sizeof(err)), -EINVAL);
        /* no room for the configuration */
        blob(caps, 0x3c, 0x07);
        ck_assert_int_eq(C->select(caps, 8, &p, cfg, 7, err, sizeof(err)), -EINVAL);
        /* a longer capability blob is read for its first 8 bytes */
        {
                uint8_t longer[12] = { 0 };
                blob(longer, 0x3c, 0x07);
                ck_assert_int_eq(C->select(longer, sizeof(longer), &p, cfg, 8, err, sizeof(err)),
                                 8);
        }
        /* no error buffer, no prefs */
        ck_assert_int_eq(C->select(caps, 8, NULL, cfg, 8, NULL, 0), 8);
        ck_assert_uint_eq(cfg[6], LDAC_RATE_48000);
        ck_assert(C->usable(caps, 8, &p));
        blob(caps, 0x3c, LDAC_MODE_MONO);
        ck_assert(!C->usable(caps, 8, &p));
        ck_assert(!C->usable(caps, 5, &p));
}
END_TEST

START_TEST(parse_valid)
{
        static const struct {
                uint8_t rate_bit;
                unsigned rate, samples, bitrate;
        } t[] = {
                { LDAC_RATE_44100, 44100, 128, 909562 },
                { LDAC_RATE_48000, 48000, 128, 990000 },
                { LDAC_RATE_88200, 88200, 256, 909562 },
                { LDAC_RATE_96000, 96000, 256, 990000 },
        };
        uint8_t cfg[8];
        struct codec_info info;
        char err[160];

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                blob(cfg, t[i].rate_bit, LDAC_MODE_STEREO);
                ck_assert_int_eq(C->parse(cfg, 8, &info, err, sizeof(err)), 0);
                ck_assert_uint_eq(info.rate, t[i].rate);
                ck_assert_uint_eq(info.channels, 2);
                ck_assert_uint_eq(info.frame_samples, t[i].samples);
                ck_assert_uint_eq(info.delay_samples, t[i].samples);
                ck_assert_uint_eq(info.max_bitrate, t[i].bitrate);
                ck_assert_uint_eq(info.frame_bytes, 330);
                ck_assert_uint_eq(info.packet_overhead, 13);
        }
        /* a mono stream takes stereo PCM too (the encoder downmixes it) */
        blob(cfg, LDAC_RATE_48000, LDAC_MODE_MONO);
        ck_assert_int_eq(C->parse(cfg, 8, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.channels, 2);
        ck_assert_uint_eq(info.max_bitrate, 495000);
        ck_assert_uint_eq(info.frame_bytes, 165);
        blob(cfg, LDAC_RATE_48000, LDAC_MODE_DUAL);
        ck_assert_int_eq(C->parse(cfg, 8, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.channels, 2);
        /* reserved bits are ignored, as the specification asks */
        blob(cfg, 0xc0 | LDAC_RATE_48000, 0xf8 | LDAC_MODE_STEREO);
        ck_assert_int_eq(C->parse(cfg, 8, &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.rate, 48000);
}
END_TEST

static void parse_fails(const uint8_t *cfg, size_t len, const char *word)
{
        struct codec_info info;
        char err[160] = "";

        ck_assert_int_eq(C->parse(cfg, len, &info, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, word), "'%s' not in '%s'", word, err);
}

START_TEST(parse_bad_blobs)
{
        uint8_t cfg[9];

        blob(cfg, LDAC_RATE_48000, LDAC_MODE_STEREO);
        parse_fails(cfg, 0, "bytes");
        parse_fails(cfg, 7, "bytes");
        cfg[8] = 0;
        parse_fails(cfg, 9, "bytes");
        cfg[3] = 0x01;
        parse_fails(cfg, 8, "vendor");
        blob(cfg, LDAC_RATE_48000, LDAC_MODE_STEREO);
        cfg[5] = 0x01;
        parse_fails(cfg, 8, "vendor");
        blob(cfg, 0x00, LDAC_MODE_STEREO);
        parse_fails(cfg, 8, "no sampling rate");
        blob(cfg, LDAC_RATE_48000 | LDAC_RATE_44100, LDAC_MODE_STEREO);
        parse_fails(cfg, 8, "several");
        blob(cfg, LDAC_RATE_192000, LDAC_MODE_STEREO);
        parse_fails(cfg, 8, "192");
        blob(cfg, LDAC_RATE_176400, LDAC_MODE_STEREO);
        parse_fails(cfg, 8, "176.4");
        blob(cfg, LDAC_RATE_48000, 0x00);
        parse_fails(cfg, 8, "no channel mode");
        blob(cfg, LDAC_RATE_48000, LDAC_MODE_STEREO | LDAC_MODE_DUAL);
        parse_fails(cfg, 8, "several");
}
END_TEST

START_TEST(describe_levels)
{
        uint8_t cfg[8];
        char buf[96];

        blob(cfg, LDAC_RATE_48000, LDAC_MODE_STEREO);
        C->describe(cfg, 8, 0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 48000 Hz 990 kbit/s");
        C->describe(cfg, 8, 1, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 48000 Hz 660 kbit/s");
        C->describe(cfg, 8, 2, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 48000 Hz 330 kbit/s");
        /* ABR's rungs between SQ and MQ */
        C->describe(cfg, 8, 3, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 48000 Hz 492 kbit/s");
        C->describe(cfg, 8, 4, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 48000 Hz 396 kbit/s");
        C->describe(cfg, 8, 7, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 48000 Hz 330 kbit/s");
        blob(cfg, LDAC_RATE_44100, LDAC_MODE_DUAL);
        C->describe(cfg, 8, 0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC 44100 Hz 909 kbit/s dual-channel");
        blob(cfg, 0, LDAC_MODE_DUAL);
        C->describe(cfg, 8, 0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "LDAC (invalid configuration)");
}
END_TEST

START_TEST(frame_header_parse)
{
        /* 48 kHz stereo, 330-byte frame: length field 326 */
        const uint8_t ok[3] = { 0xaa, (1 << 5) | (2 << 3) | (326 >> 6), (326 & 0x3f) << 2 };
        const uint8_t bad_sync[3] = { 0xab, ok[1], ok[2] };
        struct ldac_frame_header h;

        ck_assert_int_eq(ldac_frame_parse(ok, 3, &h), 0);
        ck_assert_uint_eq(h.rate_id, 1);
        ck_assert_uint_eq(h.channel_config, 2);
        ck_assert_uint_eq(h.length, 330);
        ck_assert_uint_eq(h.status, 0);
        ck_assert_int_eq(ldac_frame_parse(ok, 2, &h), -EINVAL);
        ck_assert_int_eq(ldac_frame_parse(bad_sync, 3, &h), -EINVAL);
}
END_TEST

/* ---- the encoder object's framing --------------------------------------- */

/* Packs what the encoder object returns as a sender following the
 * interface does: whole frames, as many as LDAC groups and the MTU takes,
 * the header written by the codec; then reads every packet back. */
struct stream_check {
        unsigned rate, frame_samples;
        size_t mtu;
        unsigned packets, frames, samples;
        uint64_t frame_bytes;
        unsigned frames_per_packet[16];   /* packets seen carrying n frames */
        unsigned frame_len_seen[1025];
        uint32_t next_ts;
        uint16_t next_seq;
        bool started;
        unsigned channel_config;
        unsigned fed, passed;   /* frames encoded, frames encode() handed out */
        unsigned lag;           /* lag_samples at the end */
};

static void check_packet(struct stream_check *sc, const uint8_t *pkt, size_t len)
{
        struct rtp_sbc_view v;
        size_t off = 0;
        unsigned n = 0;

        ck_assert_uint_le(len, sc->mtu);
        ck_assert_int_eq(rtp_sbc_parse(pkt, len, &v), 0);
        ck_assert_uint_eq(v.payload_type, 96);
        ck_assert_uint_eq(v.sbc_header & 0xf0, 0);      /* never fragmented */
        if (sc->started) {
                ck_assert_uint_eq(v.seq, sc->next_seq);
                ck_assert_uint_eq(v.timestamp, sc->next_ts);
        }
        while (off < v.payload_len) {
                struct ldac_frame_header h;

                ck_assert_int_eq(ldac_frame_parse(v.payload + off, v.payload_len - off, &h), 0);
                ck_assert_uint_le(h.length, v.payload_len - off);
                ck_assert_uint_eq(h.channel_config, sc->channel_config);
                sc->frame_len_seen[h.length]++;
                sc->frame_bytes += h.length;
                off += h.length;
                n++;
        }
        ck_assert_uint_eq(n, v.sbc_header);
        ck_assert_uint_ge(n, 1);
        sc->frames_per_packet[n]++;
        sc->frames += n;
        sc->packets++;
        sc->started = true;
        sc->next_seq = (uint16_t)(v.seq + 1);
        /* the timestamp advances by the samples the packet carried */
        sc->next_ts = v.timestamp + n * sc->frame_samples;
        sc->samples += n * sc->frame_samples;
}

struct packer {
        struct codec_encoder *e;
        struct rtp_stream rtp;
        uint8_t pkt[CODEC_MAX_PACKET];
        size_t len;
        unsigned frames;
        uint32_t ts;            /* RTP time of the next frame returned */
        uint32_t pkt_ts;
        size_t mtu;
};

static void flush_packet(struct packer *p, struct stream_check *sc)
{
        struct codec_packet_meta m = { .timestamp = p->pkt_ts, .frames = p->frames };

        if (!p->frames)
                return;
        C->write_header(p->e, &p->rtp, p->pkt, &m);
        check_packet(sc, p->pkt, p->len);
        p->frames = 0;
}

static void add_frame(struct packer *p, struct stream_check *sc, const uint8_t *f, size_t n)
{
        unsigned cap = ldac_encoder_packet_frames(p->e);

        if (p->frames && (p->len + n > p->mtu || p->frames >= cap))
                flush_packet(p, sc);
        if (!p->frames) {
                p->len = C->header_len(p->e);
                p->pkt_ts = p->ts;
        }
        ck_assert_uint_le(p->len + n, p->mtu);
        memcpy(p->pkt + p->len, f, n);
        p->len += n;
        p->frames++;
        p->ts += sc->frame_samples;
        if (p->frames >= cap)
                flush_packet(p, sc);
}

static double phase;

static void tone(int16_t *pcm, unsigned n, unsigned rate)
{
        for (unsigned i = 0; i < n; i++) {
                int16_t v = (int16_t)(12000 * sin(phase));
                pcm[2 * i] = v;
                pcm[2 * i + 1] = v;
                phase += 2 * M_PI * 1000 / rate;
        }
}

static struct codec_encoder *new_encoder(uint8_t rate_bit, uint8_t mode, size_t mtu,
                                         struct codec_info *info)
{
        uint8_t cfg[8];
        char err[160] = "";
        struct codec_encoder *e = NULL;

        ck_assert_msg(C->available(), "libldacBT_enc.so.2 cannot be loaded");
        blob(cfg, rate_bit, mode);
        ck_assert_int_eq(C->parse(cfg, 8, info, err, sizeof(err)), 0);
        ck_assert_msg(C->encoder_new(cfg, 8, mtu, &e, err, sizeof(err)) == 0, "%s", err);
        ck_assert_ptr_nonnull(e);
        return e;
}

/* Streams `seconds` of tone at one level; returns what was seen. */
static void stream(uint8_t rate_bit, uint8_t mode, size_t mtu, unsigned level, double seconds,
                   struct stream_check *sc)
{
        struct codec_info info;
        struct packer p = { .mtu = mtu };
        int16_t pcm[256 * 2];
        uint8_t frame[CODEC_MAX_FRAME];
        unsigned calls;

        memset(sc, 0, sizeof(*sc));
        p.e = new_encoder(rate_bit, mode, mtu, &info);
        sc->rate = info.rate;
        sc->frame_samples = info.frame_samples;
        sc->mtu = mtu;
        sc->channel_config = mode == LDAC_MODE_MONO ? 0 : mode == LDAC_MODE_DUAL ? 1 : 2;
        ck_assert_uint_eq(C->levels(p.e), ldac_encoder_abr(p.e) ? LDAC_ABR_LEVELS : LDAC_LEVELS);
        C->set_level(p.e, level);
        ck_assert_uint_eq(ldac_encoder_level(p.e), level);
        rtp_stream_init(&p.rtp, 0x1234, 0xfff0, 0xfffff000u);
        p.ts = 0xfffff000u;
        calls = (unsigned)(seconds * info.rate / info.frame_samples);
        for (unsigned i = 0; i < calls; i++) {
                int n;

                tone(pcm, info.frame_samples, info.rate);
                n = C->encode(p.e, pcm, frame, sizeof(frame));
                ck_assert_int_ge(n, 0);
                if (n) {
                        add_frame(&p, sc, frame, (size_t)n);
                        sc->passed++;
                }
        }
        sc->fed = calls;
        sc->lag = C->lag_samples(p.e);
        C->encoder_free(p.e);
}

static void check_level(uint8_t rate_bit, unsigned level, unsigned frame_len,
                        unsigned per_packet, unsigned kbps)
{
        struct stream_check sc;
        double bitrate;

        stream(rate_bit, LDAC_MODE_STEREO, 679, level, 2.0, &sc);
        ck_assert_uint_gt(sc.packets, 50);
        /* every frame has the level's length, every packet LDAC's count
         * (the last partial packet is never flushed here) */
        ck_assert_uint_eq(sc.frame_len_seen[frame_len], sc.frames);
        ck_assert_uint_eq(sc.frames_per_packet[per_packet], sc.packets);
        /* the lag is the frames not passed on yet beyond the one of delay
         * the codec declares: those the library groups with the next */
        ck_assert_uint_eq(sc.lag, (sc.fed - sc.passed - 1) * sc.frame_samples);
        ck_assert_uint_eq(sc.lag, (per_packet - 2) * sc.frame_samples);
        bitrate = (double)sc.frame_bytes * 8 * sc.rate / sc.samples;
        ck_assert_msg(fabs(bitrate - kbps * 1000.0) < kbps * 1000.0 * 0.01,
                      "%.0f bit/s at level %u, %u kbit/s expected", bitrate, level, kbps);
}

START_TEST(framing_48k_each_level)
{
        check_level(LDAC_RATE_48000, 0, 330, 2, 990);
        check_level(LDAC_RATE_48000, 1, 220, 3, 660);
        check_level(LDAC_RATE_48000, 2, 110, 6, 330);
        /* Q0 and Q1, which ABR steps through */
        check_level(LDAC_RATE_48000, 3, 164, 4, 492);
        check_level(LDAC_RATE_48000, 4, 132, 5, 396);
}
END_TEST

START_TEST(framing_44k1_and_96k)
{
        check_level(LDAC_RATE_44100, 0, 330, 2, 909);
        check_level(LDAC_RATE_44100, 2, 110, 6, 303);
        check_level(LDAC_RATE_96000, 0, 330, 2, 990);
        check_level(LDAC_RATE_96000, 1, 220, 3, 660);
}
END_TEST

START_TEST(framing_mono_and_big_mtu)
{
        struct stream_check sc;

        /* mono: half the frame, so twice the frames in a packet */
        stream(LDAC_RATE_48000, LDAC_MODE_MONO, 679, 0, 1.0, &sc);
        ck_assert_uint_eq(sc.frame_len_seen[165], sc.frames);
        ck_assert_uint_eq(sc.frames_per_packet[4], sc.packets);
        /* a 1005-byte MTU still gets LDAC's 2-DH5 packets */
        stream(LDAC_RATE_48000, LDAC_MODE_STEREO, 1005, 0, 1.0, &sc);
        ck_assert_uint_eq(sc.frames_per_packet[2], sc.packets);
}
END_TEST

START_TEST(levels_bitrates)
{
        struct codec_info info;
        struct codec_encoder *e = new_encoder(LDAC_RATE_48000, LDAC_MODE_STEREO, 679, &info);

        ck_assert_uint_eq(C->level_bitrate(e, 0), 990000);
        ck_assert_uint_eq(C->level_bitrate(e, 1), 660000);
        ck_assert_uint_eq(C->level_bitrate(e, 2), 330000);
        ck_assert_uint_eq(C->level_value(e, 0), 990);
        ck_assert_uint_eq(C->level_value(e, 1), 660);
        ck_assert_uint_eq(C->level_value(e, 2), 330);
        ck_assert_uint_eq(C->level_bitrate(e, 3), 492000);
        ck_assert_uint_eq(C->level_bitrate(e, 4), 396000);
        C->set_level(e, 9);
        ck_assert_uint_eq(ldac_encoder_level(e), 2);
        C->encoder_free(e);
}
END_TEST

/* With libldacBT_abr the encoder has its five levels and a controller of
 * its own, which a growing queue makes step down; without it (a library
 * that is not there), the three levels a2dpsrc steps itself and no
 * controller. */
START_TEST(abr_or_fallback)
{
        uint8_t cfg[8];
        char err[160] = "";
        struct codec_encoder *e = NULL;
        unsigned level;

        blob(cfg, LDAC_RATE_48000, LDAC_MODE_STEREO);
        ck_assert_int_eq(C->encoder_new(cfg, 8, 679, &e, err, sizeof(err)), 0);
        ck_assert_msg(ldac_encoder_abr(e), "libldacBT_abr.so.2 cannot be loaded");
        ck_assert_uint_eq(C->levels(e), LDAC_ABR_LEVELS);
        ck_assert_uint_eq(C->rate_control_ms(e), LDAC_ABR_INTERVAL_MS);
        ck_assert_str_eq(C->rate_control_lib, "libldacBT_abr.so.2");
        /* an empty queue keeps HQ; a queue past its critical threshold
         * steps HQ down at once */
        ck_assert_uint_eq(C->rate_control(e, 0), 0);
        level = C->rate_control(e, 40);
        ck_assert_uint_ne(level, 0);
        ck_assert_uint_eq(ldac_encoder_level(e), level);
        ck_assert_uint_lt(C->level_bitrate(e, level), 990000);
        /* set back, Q0 and Q1 included (after a stall) */
        for (unsigned l = 0; l < LDAC_ABR_LEVELS; l++) {
                C->set_level(e, l);
                ck_assert_uint_eq(ldac_encoder_level(e), l);
        }
        C->encoder_free(e);

        e = NULL;
        ck_assert_int_eq(ldac_encoder_new_with(cfg, 8, 679, "libldacBT_abr.so.absent", &e, err,
                                               sizeof(err)),
                         0);
        ck_assert(!ldac_encoder_abr(e));
        ck_assert_uint_eq(C->levels(e), LDAC_LEVELS);
        ck_assert_uint_eq(C->rate_control_ms(e), 0);
        C->set_level(e, 4);
        ck_assert_uint_eq(ldac_encoder_level(e), 2);
        C->encoder_free(e);
}
END_TEST

/* Congestion steps in one stream: down ABR's ladder and back to HQ; every
 * packet stays whole, within the MTU, its timestamp continuous. */
START_TEST(level_steps_mid_stream)
{
        struct codec_info info;
        struct stream_check sc;
        struct packer p = { .mtu = 679 };
        int16_t pcm[256 * 2];
        uint8_t frame[CODEC_MAX_FRAME];
        /* HQ SQ Q0 Q1 MQ Q1 SQ HQ: ABR's ladder, set as after a stall */
        static const unsigned steps[] = { 0, 1, 3, 4, 2, 4, 1, 0 };
        static const unsigned len[] = { 330, 220, 110, 164, 132 };
        const size_t n_steps = sizeof(steps) / sizeof(steps[0]);
        unsigned most = 0;      /* the largest grouping so far */

        memset(&sc, 0, sizeof(sc));
        p.e = new_encoder(LDAC_RATE_48000, LDAC_MODE_STEREO, 679, &info);
        ck_assert_msg(ldac_encoder_abr(p.e), "libldacBT_abr.so.2 cannot be loaded");
        sc.rate = info.rate;
        sc.frame_samples = info.frame_samples;
        sc.mtu = 679;
        sc.channel_config = 2;
        rtp_stream_init(&p.rtp, 1, 0, 0);
        for (size_t s = 0; s < n_steps; s++) {
                unsigned before = sc.frame_len_seen[len[steps[s]]];

                C->set_level(p.e, steps[s]);
                for (unsigned i = 0; i < 375; i++) {
                        int n;

                        tone(pcm, info.frame_samples, info.rate);
                        n = C->encode(p.e, pcm, frame, sizeof(frame));
                        ck_assert_int_ge(n, 0);
                        if (n) {
                                add_frame(&p, &sc, frame, (size_t)n);
                                sc.passed++;
                        }
                }
                /* most of each second is at the level's own frame length */
                ck_assert_uint_gt(sc.frame_len_seen[len[steps[s]]] - before, 350);
                /* the lag follows the grouping as it grows, and stays when
                 * it shrinks (a frame a call goes out, as one comes in),
                 * counting what is held */
                if (ldac_level_packet_frames(2, steps[s]) > most)
                        most = ldac_level_packet_frames(2, steps[s]);
                ck_assert_uint_eq(C->lag_samples(p.e), (most - 2) * 128);
                ck_assert_uint_eq(C->lag_samples(p.e), ((s + 1) * 375 - sc.passed - 1) * 128);
        }
        /* nothing lost: every frame but those the library still holds */
        ck_assert_uint_ge(sc.frames + 12, n_steps * 375);
        C->encoder_free(p.e);
}
END_TEST

/* Many quick steps between the extremes, mono and stereo: the frames
 * waiting in the encoder stay bounded, nothing fails, nothing is lost
 * beyond what one lowest-quality packet holds. */
START_TEST(level_cycles_stay_bounded)
{
        static const uint8_t modes[] = { LDAC_MODE_STEREO, LDAC_MODE_MONO };

        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
                struct codec_info info;
                struct codec_encoder *e = new_encoder(LDAC_RATE_48000, modes[m], 679, &info);
                int16_t pcm[256 * 2];
                uint8_t frame[CODEC_MAX_FRAME];
                unsigned calls = 0, out = 0;

                for (unsigned cycle = 0; cycle < 40; cycle++) {
                        C->set_level(e, cycle % 2 ? 0 : 2);
                        for (unsigned i = 0; i < 7 + cycle % 5; i++) {
                                int n;

                                tone(pcm, info.frame_samples, info.rate);
                                n = C->encode(e, pcm, frame, sizeof(frame));
                                ck_assert_int_ge(n, 0);
                                calls++;
                                out += n > 0;
                        }
                        ck_assert_uint_le(calls - out, 12);
                }
                C->encoder_free(e);
        }
}
END_TEST

START_TEST(encoder_refusals)
{
        uint8_t cfg[8];
        char err[160] = "";
        struct codec_encoder *e = (struct codec_encoder *)&e;

        blob(cfg, LDAC_RATE_48000, LDAC_MODE_STEREO);
        ck_assert_int_eq(C->encoder_new(cfg, 8, 672, &e, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(e);
        ck_assert_ptr_nonnull(strstr(err, "679"));
        blob(cfg, LDAC_RATE_192000, LDAC_MODE_STEREO);
        ck_assert_int_eq(C->encoder_new(cfg, 8, 679, &e, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(e);
        C->encoder_free(NULL);
}
END_TEST

/* The real-time calls (encode, set_level, header, and ABR's
 * ldac_ABR_Proc through rate_control) allocate nothing: the libraries
 * work on their handles' buffers and ours. */
START_TEST(realtime_calls_do_not_allocate)
{
#if ALLOC_WATCH
        struct codec_info info;
        struct codec_encoder *e = new_encoder(LDAC_RATE_96000, LDAC_MODE_STEREO, 679, &info);
        int16_t pcm[256 * 2];
        uint8_t frame[CODEC_MAX_FRAME], pkt[64];
        struct rtp_stream rtp;
        struct codec_packet_meta m = { .frames = 2 };
        unsigned got = 0;
        void *volatile canary;

        rtp_stream_init(&rtp, 1, 2, 3);
        tone(pcm, 256, 96000);
        /* the check itself must see an allocation when there is one
         * (through a volatile pointer: clang drops a bare free(malloc())) */
        watching = 1;
        canary = malloc(16);
        free(canary);
        watching = 0;
        ck_assert_uint_eq(allocations, 1);
        allocations = 0;
        watching = 1;
        for (unsigned i = 0; i < 400; i++) {
                if (i % 100 == 0)
                        C->set_level(e, (i / 100) % C->levels(e));
                if (i % 2 == 0)
                        C->rate_control(e, (i / 7) % 12);
                if (i % 150 == 149)
                        C->rate_control_restart(e);     /* the sender's, after a stall */
                if (C->encode(e, pcm, frame, sizeof(frame)) > 0)
                        got++;
                C->write_header(e, &rtp, pkt, &m);
        }
        watching = 0;
        ck_assert_uint_eq(allocations, 0);
        ck_assert_uint_gt(got, 300);
        C->encoder_free(e);
#endif
}
END_TEST

static Suite *ldac_suite(void)
{
        Suite *s = suite_create("a2dp-ldac");
        TCase *pure = tcase_create("pure");
        TCase *enc = tcase_create("encoder");

        tcase_add_test(pure, capabilities_blob);
        tcase_add_test(pure, select_prefers_capture_rate_then_48k);
        tcase_add_test(pure, select_modes);
        tcase_add_test(pure, select_bad_blobs);
        tcase_add_test(pure, parse_valid);
        tcase_add_test(pure, parse_bad_blobs);
        tcase_add_test(pure, describe_levels);
        tcase_add_test(pure, frame_header_parse);
        suite_add_tcase(s, pure);
        tcase_set_timeout(enc, 60);
        tcase_add_test(enc, framing_48k_each_level);
        tcase_add_test(enc, framing_44k1_and_96k);
        tcase_add_test(enc, framing_mono_and_big_mtu);
        tcase_add_test(enc, levels_bitrates);
        tcase_add_test(enc, abr_or_fallback);
        tcase_add_test(enc, level_steps_mid_stream);
        tcase_add_test(enc, level_cycles_stay_bounded);
        tcase_add_test(enc, encoder_refusals);
        tcase_add_test(enc, realtime_calls_do_not_allocate);
        suite_add_tcase(s, enc);
        return s;
}

CHECK_MAIN(ldac_suite)
