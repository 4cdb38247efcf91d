/* RTP/SBC packetizing: headers, frame counts, sequence and timestamps,
 * fragmentation. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtp.h"

START_TEST(frames_per_packet)
{
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(895, 119), 7);
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(895, 115), 7);
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(672, 119), 5);
        /* the 4-bit frame count caps it */
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(65535, 20), 15);
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(100, 119), 0);
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(13, 1), 0);
        ck_assert_uint_eq(rtp_sbc_frames_per_packet(895, 0), 0);
}
END_TEST

START_TEST(header_fields_and_advance)
{
        struct rtp_stream s;
        uint8_t frames[7 * 119], out[1024];
        struct rtp_sbc_view v;
        size_t n = RTP_SBC_OVERHEAD + sizeof(frames);

        for (size_t i = 0; i < sizeof(frames); i++)
                frames[i] = (uint8_t)i;
        memcpy(out + RTP_SBC_OVERHEAD, frames, sizeof(frames));
        rtp_stream_init(&s, 0xdeadbeef, 0xfffe, 0);
        rtp_sbc_write_header(&s, out, 0xfffffff0u, 7);
        ck_assert_uint_eq(out[0], 0x80);
        ck_assert_uint_eq(out[1], 96);
        ck_assert_int_eq(rtp_sbc_parse(out, n, &v), 0);
        ck_assert_uint_eq(v.seq, 0xfffe);
        ck_assert_uint_eq(v.timestamp, 0xfffffff0u);
        ck_assert_uint_eq(v.ssrc, 0xdeadbeef);
        ck_assert_uint_eq(v.payload_type, 96);
        ck_assert_uint_eq(v.sbc_header, 7);
        ck_assert_uint_eq(v.payload_len, 7 * 119);
        ck_assert_mem_eq(v.payload, frames, 7 * 119);

        /* the sequence number advances one per packet and wraps; the
         * timestamp is the caller's (the sender keeps capture time) */
        rtp_sbc_write_header(&s, out, 0xfffffff0u + 7 * 128, 2);
        ck_assert_int_eq(rtp_sbc_parse(out, n, &v), 0);
        ck_assert_uint_eq(v.seq, 0xffff);
        ck_assert_uint_eq(v.timestamp, 0xfffffff0u + 7 * 128);
        rtp_sbc_write_header(&s, out, (uint32_t)(0xfffffff0u + 9 * 128), 1);
        ck_assert_int_eq(rtp_sbc_parse(out, n, &v), 0);
        ck_assert_uint_eq(v.seq, 0);
        ck_assert_uint_eq(v.timestamp, (uint32_t)(0xfffffff0u + 9 * 128));
        ck_assert_uint_eq(v.sbc_header, 1);
}
END_TEST

/* A plain RTP header (aptX HD): 12 bytes, nothing after them touched. */
START_TEST(plain_header)
{
        struct rtp_stream st;
        uint8_t pkt[16];

        memset(pkt, 0xee, sizeof(pkt));
        rtp_stream_init(&st, 0x01020304u, 0xffff, 0);
        rtp_write_header(&st, pkt, 0xa0b0c0d0u);
        ck_assert_uint_eq(pkt[0], 0x80);
        ck_assert_uint_eq(pkt[1], RTP_PAYLOAD_TYPE_A2DP);
        ck_assert_uint_eq(pkt[2], 0xff);
        ck_assert_uint_eq(pkt[3], 0xff);
        ck_assert_uint_eq(pkt[4], 0xa0);
        ck_assert_uint_eq(pkt[7], 0xd0);
        ck_assert_uint_eq(pkt[8], 0x01);
        ck_assert_uint_eq(pkt[11], 0x04);
        ck_assert_uint_eq(pkt[RTP_HEADER_LEN], 0xee);
        ck_assert_uint_eq(st.seq, 0);   /* wraps */
}
END_TEST

START_TEST(fragments)
{
        struct rtp_stream s;
        uint8_t frame[300], out[100], joined[300];
        size_t offset = 0, joined_len = 0;
        unsigned packets = 0;
        int n;

        for (size_t i = 0; i < sizeof(frame); i++)
                frame[i] = (uint8_t)(i * 7);
        rtp_stream_init(&s, 42, 10, 1000);
        /* 87 payload bytes per packet: 300 bytes -> 4 fragments */
        while ((n = rtp_sbc_pack_fragment(&s, out, sizeof(out), frame, sizeof(frame), &offset, 128)) > 0) {
                struct rtp_sbc_view v;
                ck_assert_int_le(n, 100);
                ck_assert_int_eq(rtp_sbc_parse(out, (size_t)n, &v), 0);
                ck_assert_uint_eq(v.seq, 10 + packets);
                ck_assert_uint_eq(v.timestamp, 1000);  /* all fragments: the frame's time */
                ck_assert(v.sbc_header & RTP_SBC_FRAGMENTED);
                ck_assert_uint_eq(!!(v.sbc_header & RTP_SBC_START), packets == 0);
                ck_assert_uint_eq(!!(v.sbc_header & RTP_SBC_LAST), offset == sizeof(frame));
                ck_assert_uint_eq(v.sbc_header & 0x0f, 4 - packets);  /* fragments left */
                memcpy(joined + joined_len, v.payload, v.payload_len);
                joined_len += v.payload_len;
                packets++;
        }
        ck_assert_int_eq(n, 0);
        ck_assert_uint_eq(packets, 4);
        ck_assert_uint_eq(joined_len, sizeof(frame));
        ck_assert_mem_eq(joined, frame, sizeof(frame));
        ck_assert_uint_eq(s.timestamp, 1000 + 128);
        ck_assert_uint_eq(s.seq, 14);
}
END_TEST

START_TEST(fragments_too_many)
{
        struct rtp_stream s;
        uint8_t frame[513], out[40];
        size_t offset = 0;

        rtp_stream_init(&s, 42, 10, 1000);
        /* 27 bytes per fragment: 19 fragments do not fit the 4-bit count */
        ck_assert_int_eq(rtp_sbc_pack_fragment(&s, out, sizeof(out), frame, sizeof(frame), &offset, 128),
                         -EMSGSIZE);
        ck_assert_int_eq(rtp_sbc_pack_fragment(&s, out, 13, frame, sizeof(frame), &offset, 128), -EINVAL);
}
END_TEST

START_TEST(parse_garbage)
{
        struct rtp_sbc_view v;
        uint8_t pkt[64] = { 0x80, 96 };

        ck_assert_int_eq(rtp_sbc_parse(pkt, 12, &v), -EINVAL);
        pkt[0] = 0x40;
        ck_assert_int_eq(rtp_sbc_parse(pkt, 20, &v), -EPROTO);
        pkt[0] = 0x8f;     /* 15 CSRCs: 72 bytes of header */
        ck_assert_int_eq(rtp_sbc_parse(pkt, 64, &v), -EINVAL);
        pkt[0] = 0x90;     /* extension header claiming more than there is */
        pkt[14] = 0xff;
        pkt[15] = 0xff;
        ck_assert_int_eq(rtp_sbc_parse(pkt, 20, &v), -EINVAL);
        pkt[0] = 0xa0;     /* padding larger than the payload */
        pkt[19] = 200;
        ck_assert_int_eq(rtp_sbc_parse(pkt, 20, &v), -EINVAL);
        pkt[19] = 3;
        ck_assert_int_eq(rtp_sbc_parse(pkt, 20, &v), 0);
        ck_assert_uint_eq(v.payload_len, 20 - 13 - 3);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("rtp");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, frames_per_packet);
        tcase_add_test(tc, header_fields_and_advance);
        tcase_add_test(tc, plain_header);
        tcase_add_test(tc, fragments);
        tcase_add_test(tc, fragments_too_many);
        tcase_add_test(tc, parse_garbage);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
