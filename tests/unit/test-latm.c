/* LATM framing of AAC for A2DP: the bit writer and reader, the
 * AudioMuxElement bit for bit, its parser, LOAS, and RFC 3016
 * fragmentation and reassembly. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <string.h>

#include "latm.h"

START_TEST(bitw_unaligned_fields)
{
        uint8_t buf[4];
        struct latm_bitw w;

        memset(buf, 0xaa, sizeof(buf));
        latm_bitw_init(&w, buf, sizeof(buf));
        latm_bitw_put(&w, 1, 1);
        latm_bitw_put(&w, 0x2, 3);       /* 010 */
        latm_bitw_put(&w, 0x1ff, 9);     /* 1 1111 1111 */
        latm_bitw_put(&w, 0, 0);
        ck_assert_uint_eq(w.bit, 13);
        ck_assert_uint_eq(latm_bitw_len(&w), 2);
        latm_bitw_align(&w);
        ck_assert_uint_eq(w.bit, 16);
        /* 1010 1111 | 1111 1000 */
        ck_assert_uint_eq(buf[0], 0xaf);
        ck_assert_uint_eq(buf[1], 0xf8);
        latm_bitw_put(&w, 0xdeadbeef, 32);
        ck_assert(w.overflow);           /* 2 bytes left, 4 asked */
}
END_TEST

START_TEST(bitw_bytes_at_every_shift)
{
        static const uint8_t src[3] = { 0xc3, 0x5a, 0x0f };

        for (unsigned shift = 0; shift < 8; shift++) {
                uint8_t buf[5], back[3];
                struct latm_bitw w;
                struct latm_bitr r;

                memset(buf, 0xff, sizeof(buf));
                latm_bitw_init(&w, buf, sizeof(buf));
                latm_bitw_put(&w, 0x7f >> (7 - shift), shift); /* ones */
                latm_bitw_put_bytes(&w, src, sizeof(src));
                latm_bitw_put(&w, 1, 1);
                ck_assert(!w.overflow);
                ck_assert_uint_eq(w.bit, shift + 25);
                latm_bitr_init(&r, buf, sizeof(buf));
                ck_assert_uint_eq(latm_bitr_get(&r, shift), (1u << shift) - 1);
                for (int i = 0; i < 3; i++)
                        back[i] = (uint8_t)latm_bitr_get(&r, 8);
                ck_assert_mem_eq(back, src, 3);
                ck_assert_uint_eq(latm_bitr_get(&r, 1), 1);
                /* and nothing after it: a fresh byte starts from zero */
                ck_assert_uint_eq(latm_bitr_get(&r, (8 - (shift + 25) % 8) % 8), 0);
        }
}
END_TEST

START_TEST(bitw_bytes_overflow)
{
        static const uint8_t src[4] = { 1, 2, 3, 4 };
        uint8_t buf[4];
        struct latm_bitw w;

        latm_bitw_init(&w, buf, sizeof(buf));
        latm_bitw_put_bytes(&w, src, 4);
        ck_assert(!w.overflow);
        latm_bitw_init(&w, buf, sizeof(buf));
        latm_bitw_put(&w, 0, 1);
        latm_bitw_put_bytes(&w, src, 4); /* needs a fifth byte */
        ck_assert(w.overflow);
        ck_assert_uint_eq(w.bit, 1);
}
END_TEST

START_TEST(bitr_overrun)
{
        static const uint8_t b[1] = { 0x80 };
        struct latm_bitr r;

        latm_bitr_init(&r, b, 1);
        ck_assert_uint_eq(latm_bitr_get(&r, 1), 1);
        ck_assert_uint_eq(latm_bitr_get(&r, 8), 0);
        ck_assert(r.overrun);
}
END_TEST

START_TEST(sampling_indexes)
{
        ck_assert_int_eq(latm_sampling_index(96000), 0);
        ck_assert_int_eq(latm_sampling_index(48000), 3);
        ck_assert_int_eq(latm_sampling_index(44100), 4);
        ck_assert_int_eq(latm_sampling_index(8000), 11);
        ck_assert_int_eq(latm_sampling_index(44000), -1);
        ck_assert_uint_eq(latm_sampling_rate(4), 44100);
        ck_assert_uint_eq(latm_sampling_rate(13), 0);
}
END_TEST

/* What libavcodec's aac encoder puts in extradata for AAC-LC 44.1 kHz
 * stereo and 48 kHz mono (ISO 14496-3 1.6.2.1): 0x1210 and 0x1188. */
START_TEST(audio_specific_config)
{
        uint8_t b[2];
        struct latm_bitw w;

        latm_bitw_init(&w, b, 2);
        latm_put_audio_specific_config(&w, 44100, 2);
        ck_assert_uint_eq(w.bit, 16);
        ck_assert_uint_eq(b[0], 0x12);
        ck_assert_uint_eq(b[1], 0x10);
        latm_bitw_init(&w, b, 2);
        latm_put_audio_specific_config(&w, 48000, 1);
        ck_assert_uint_eq(b[0], 0x11);
        ck_assert_uint_eq(b[1], 0x88);
}
END_TEST

/* Worked by hand from ISO 14496-3 1.7.3:
 *   0 useSameStreamMux, 0 audioMuxVersion, 1 allStreamsSameTimeFraming,
 *   000000 numSubFrames, 0000 numProgram, 000 numLayer      -> 20 00
 *   00010 AAC-LC, 0100 44.1 kHz, 0010 stereo, 000 GA flags  -> 12 10
 *   000 frameLengthType, 11111111 fullness, 0 other, 0 crc,
 *   00000010 length 2, 10101011 11001101 payload, 000 align -> 1f e0 15 5e 68 */
START_TEST(element_bit_exact)
{
        static const uint8_t aac[2] = { 0xab, 0xcd };
        static const uint8_t want[] = { 0x20, 0x00, 0x12, 0x10, 0x1f, 0xe0, 0x15, 0x5e, 0x68 };
        uint8_t out[32];
        int n = latm_write_element(44100, 2, aac, sizeof(aac), out, sizeof(out));

        ck_assert_int_eq(n, (int)sizeof(want));
        ck_assert_mem_eq(out, want, sizeof(want));
        ck_assert_int_le(n, (int)(sizeof(aac) + LATM_OVERHEAD(sizeof(aac))));
}
END_TEST

/* PayloadLengthInfo: one 0xff per 255 bytes, then the remainder (0 when
 * the length is a multiple of 255). The length bytes start at bit 45. */
START_TEST(payload_length_escapes)
{
        static const size_t lens[] = { 1, 254, 255, 256, 510, 600, 1500 };
        static uint8_t aac[1500], out[1600], back[1600];

        for (size_t i = 0; i < sizeof(aac); i++)
                aac[i] = (uint8_t)(i * 7 + 3);
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
                size_t len = lens[k];
                int n = latm_write_element(48000, 2, aac, len, out, sizeof(out));
                struct latm_bitr r;
                struct latm_element el;

                ck_assert_int_gt(n, 0);
                ck_assert_uint_le((size_t)n, len + LATM_OVERHEAD(len));
                latm_bitr_init(&r, out, (size_t)n);
                latm_bitr_get(&r, 45);
                for (size_t j = 0; j < len / 255; j++)
                        ck_assert_uint_eq(latm_bitr_get(&r, 8), 0xff);
                ck_assert_uint_eq(latm_bitr_get(&r, 8), len % 255);
                ck_assert_int_eq(latm_parse_element(out, (size_t)n, &el, back, sizeof(back)), 0);
                ck_assert_uint_eq(el.payload_len, len);
                ck_assert_mem_eq(back, aac, len);
                ck_assert_uint_eq(el.rate, 48000);
                ck_assert_uint_eq(el.channels, 2);
                ck_assert_uint_eq(el.object_type, LATM_AOT_AAC_LC);
                ck_assert_uint_eq(el.buffer_fullness, 0xff);
        }
}
END_TEST

START_TEST(element_every_rate)
{
        static const unsigned rates[] = { 8000, 11025, 12000, 16000, 22050, 24000,
                                          32000, 44100, 48000, 64000, 88200, 96000 };
        static const uint8_t aac[3] = { 1, 2, 3 };
        uint8_t out[32], back[8];
        struct latm_element el;

        for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
                for (unsigned ch = 1; ch <= 2; ch++) {
                        int n = latm_write_element(rates[i], ch, aac, 3, out, sizeof(out));

                        ck_assert_int_gt(n, 0);
                        ck_assert_int_eq(latm_parse_element(out, (size_t)n, &el, back, 8), 0);
                        ck_assert_uint_eq(el.rate, rates[i]);
                        ck_assert_uint_eq(el.channels, ch);
                }
        }
}
END_TEST

START_TEST(element_bad_input)
{
        static const uint8_t aac[300] = { 0 };
        uint8_t out[400];
        int full = latm_write_element(44100, 2, aac, sizeof(aac), out, sizeof(out));

        ck_assert_int_eq(latm_write_element(44000, 2, aac, 10, out, sizeof(out)), -EINVAL);
        ck_assert_int_eq(latm_write_element(44100, 0, aac, 10, out, sizeof(out)), -EINVAL);
        ck_assert_int_eq(latm_write_element(44100, 3, aac, 10, out, sizeof(out)), -EINVAL);
        ck_assert_int_eq(latm_write_element(44100, 2, aac, 0, out, sizeof(out)), -EINVAL);
        ck_assert_int_gt(full, 300);
        /* every buffer one byte short or shorter is refused, never overrun */
        for (int cap = 0; cap < full; cap++) {
                uint8_t small[400];

                memset(small, 0xee, sizeof(small));
                ck_assert_int_eq(latm_write_element(44100, 2, aac, sizeof(aac), small,
                                                    (size_t)cap), -EMSGSIZE);
                for (size_t j = (size_t)cap; j < sizeof(small); j++)
                        ck_assert_uint_eq(small[j], 0xee);
        }
}
END_TEST

START_TEST(parse_refuses_what_a2dp_does_not_use)
{
        static const uint8_t aac[4] = { 9, 8, 7, 6 };
        uint8_t out[32], mod[32], back[8];
        struct latm_element el;
        int n = latm_write_element(44100, 2, aac, 4, out, sizeof(out));

        ck_assert_int_gt(n, 0);
        /* useSameStreamMux */
        memcpy(mod, out, (size_t)n);
        mod[0] |= 0x80;
        ck_assert_int_eq(latm_parse_element(mod, (size_t)n, &el, back, 8), -EPROTO);
        /* audioMuxVersion 1 */
        memcpy(mod, out, (size_t)n);
        mod[0] |= 0x40;
        ck_assert_int_eq(latm_parse_element(mod, (size_t)n, &el, back, 8), -EPROTO);
        /* numSubFrames 1 */
        memcpy(mod, out, (size_t)n);
        mod[1] |= 0x80;
        ck_assert_int_eq(latm_parse_element(mod, (size_t)n, &el, back, 8), -EPROTO);
        /* AAC Main (object type 1) */
        memcpy(mod, out, (size_t)n);
        mod[2] = 0x0a;
        ck_assert_int_eq(latm_parse_element(mod, (size_t)n, &el, back, 8), -EPROTO);
        /* truncated anywhere */
        for (int cut = 0; cut < n; cut++)
                ck_assert_int_lt(latm_parse_element(out, (size_t)cut, &el, back, 8), 0);
        /* a trailing byte */
        memcpy(mod, out, (size_t)n);
        mod[n] = 0;
        ck_assert_int_eq(latm_parse_element(mod, (size_t)n + 1, &el, back, 8), -EINVAL);
        /* payload bigger than the caller's buffer */
        ck_assert_int_eq(latm_parse_element(out, (size_t)n, &el, back, 3), -EINVAL);
}
END_TEST

START_TEST(loas_header)
{
        static uint8_t el[700], out[800];
        int n;

        for (size_t i = 0; i < sizeof(el); i++)
                el[i] = (uint8_t)i;
        n = latm_loas_wrap(el, sizeof(el), out, sizeof(out));
        ck_assert_int_eq(n, 703);
        /* 0x2B7 sync word in 11 bits, then 700 = 0x2bc in 13 */
        ck_assert_uint_eq(out[0], 0x56);
        ck_assert_uint_eq(out[1], 0xe2);
        ck_assert_uint_eq(out[2], 0xbc);
        ck_assert_mem_eq(out + 3, el, sizeof(el));
        ck_assert_int_eq(latm_loas_wrap(el, sizeof(el), out, 702), -EMSGSIZE);
        ck_assert_int_eq(latm_loas_wrap(el, 8192, out, 9000), -EMSGSIZE);
}
END_TEST

/* RFC 3016 3.2: an element split over packets keeps its timestamp; the
 * marker is on the packet with its end; the sequence runs on. */
START_TEST(rtp_fragments_and_reassembly)
{
        static uint8_t el[2000], pkt[128];
        static struct latm_reasm ra;
        struct rtp_stream s;
        size_t off = 0, got_len = 0;
        const uint8_t *got = NULL;
        unsigned packets = 0;
        int n;

        for (size_t i = 0; i < sizeof(el); i++)
                el[i] = (uint8_t)(i ^ (i >> 8));
        rtp_stream_init(&s, 0x1234, 0xfff0, 5000);
        latm_reasm_init(&ra);
        while ((n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, sizeof(el), &off, 1024)) > 0) {
                bool last = off == sizeof(el);
                int r;

                ck_assert_int_le(n, (int)sizeof(pkt));
                ck_assert_uint_eq(pkt[0], 0x80);
                ck_assert_uint_eq(pkt[1] & 0x7f, RTP_PAYLOAD_TYPE_A2DP);
                ck_assert_uint_eq(!!(pkt[1] & 0x80), last);
                ck_assert_uint_eq((pkt[2] << 8) | pkt[3], (0xfff0 + packets) & 0xffff);
                ck_assert_uint_eq(((uint32_t)pkt[4] << 24) | ((uint32_t)pkt[5] << 16) |
                                  ((uint32_t)pkt[6] << 8) | pkt[7], 5000);
                r = latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len);
                ck_assert_int_eq(r, last ? 1 : 0);
                packets++;
        }
        ck_assert_int_eq(n, 0);
        ck_assert_uint_eq(packets, (sizeof(el) + 115) / 116);
        ck_assert_uint_eq(s.timestamp, 5000 + 1024);
        ck_assert_ptr_nonnull(got);
        ck_assert_uint_eq(got_len, sizeof(el));
        ck_assert_mem_eq(got, el, sizeof(el));

        /* an element that fits is one marked packet */
        off = 0;
        n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, 100, &off, 1024);
        ck_assert_int_eq(n, 112);
        ck_assert_uint_eq(pkt[1] & 0x80, 0x80);
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len), 1);
        ck_assert_uint_eq(got_len, 100);
        ck_assert_int_eq(latm_rtp_pack(&s, pkt, sizeof(pkt), el, 100, &off, 1024), 0);
        ck_assert_uint_eq(s.timestamp, 5000 + 2048);
        ck_assert_int_eq(latm_rtp_pack(&s, pkt, RTP_HEADER_LEN, el, 100, &off, 1024), -EINVAL);
        ck_assert_uint_eq(ra.dropped, 0);
}
END_TEST

/* A lost fragment loses its element and nothing else: the packets up to
 * the next marker are dropped, the next element comes through whole. */
START_TEST(reassembly_after_loss)
{
        static uint8_t el[300], pkts[3][128], pkt[128];
        static struct latm_reasm ra;
        struct rtp_stream s;
        size_t off = 0, got_len = 0, lens[3];
        const uint8_t *got = NULL;
        int n, i = 0;

        memset(el, 0x5a, sizeof(el));
        rtp_stream_init(&s, 1, 0, 0);
        latm_reasm_init(&ra);
        while ((n = latm_rtp_pack(&s, pkts[i], sizeof(pkt), el, sizeof(el), &off, 1024)) > 0)
                lens[i++] = (size_t)n;
        ck_assert_int_eq(i, 3);
        ck_assert_int_eq(latm_reasm_push(&ra, pkts[0], lens[0], &got, &got_len), 0);
        /* pkts[1] is lost */
        ck_assert_int_eq(latm_reasm_push(&ra, pkts[2], lens[2], &got, &got_len), -EPROTO);
        ck_assert_uint_eq(ra.dropped, 1);
        off = 0;
        while ((n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, 150, &off, 1024)) > 0) {
                int r = latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len);

                ck_assert_int_eq(r, off == 150 ? 1 : 0);
        }
        ck_assert_uint_eq(got_len, 150);

        /* a loss between elements: the packet after it may be a tail */
        off = 0;
        s.seq++;
        n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, 50, &off, 1024);
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len), -EPROTO);
        off = 0;
        n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, 50, &off, 1024);
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len), 1);

        /* not RTP */
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, 11, &got, &got_len), -EINVAL);
        pkt[0] = 0x40;
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len), -EINVAL);
}
END_TEST

/* A sender that starts a new element before marking the last one's end:
 * the unfinished one is dropped, the new one comes through. */
START_TEST(reassembly_timestamp_change)
{
        static uint8_t el[200], pkt[128];
        static struct latm_reasm ra;
        struct rtp_stream s;
        size_t off = 0, got_len = 0;
        const uint8_t *got = NULL;
        int n;

        memset(el, 1, sizeof(el));
        rtp_stream_init(&s, 1, 0, 0);
        latm_reasm_init(&ra);
        n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, sizeof(el), &off, 1024);
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len), 0);
        s.timestamp += 1024;
        off = 0;
        n = latm_rtp_pack(&s, pkt, sizeof(pkt), el, 20, &off, 1024);
        ck_assert_int_eq(latm_reasm_push(&ra, pkt, (size_t)n, &got, &got_len), 1);
        ck_assert_uint_eq(got_len, 20);
        ck_assert_uint_eq(ra.dropped, 1);
}
END_TEST

static Suite *latm_suite(void)
{
        Suite *s = suite_create("latm");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, bitw_unaligned_fields);
        tcase_add_test(tc, bitw_bytes_at_every_shift);
        tcase_add_test(tc, bitw_bytes_overflow);
        tcase_add_test(tc, bitr_overrun);
        tcase_add_test(tc, sampling_indexes);
        tcase_add_test(tc, audio_specific_config);
        tcase_add_test(tc, element_bit_exact);
        tcase_add_test(tc, payload_length_escapes);
        tcase_add_test(tc, element_every_rate);
        tcase_add_test(tc, element_bad_input);
        tcase_add_test(tc, parse_refuses_what_a2dp_does_not_use);
        tcase_add_test(tc, loas_header);
        tcase_add_test(tc, rtp_fragments_and_reassembly);
        tcase_add_test(tc, reassembly_after_loss);
        tcase_add_test(tc, reassembly_timestamp_change);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(latm_suite)
