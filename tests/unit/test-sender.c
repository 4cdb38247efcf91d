/* The generic sender, with SBC behind the codec interface, over a real
 * socket pair: packets filled to the MTU with whole
 * frames, RTP sequence and timestamps, the bounded queue that drops the
 * oldest audio (counted) and keeps the sequence continuous, and what it
 * learns of the socket; bitpool adaptation under congestion and through a
 * stall. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "a2dp-codec.h"
#include "rtp.h"
#include "sender.h"
#include "stream.h"

/* 44.1 kHz joint stereo, 16 blocks, 8 subbands, loudness, bitpool 2..53:
 * 119-byte frames, 7 to a 895-byte packet, 896 samples a packet */
static const uint8_t config[4] = { 0x21, 0x15, 0x02, 0x35 };
#define MTU 895
#define FRAME_LEN 119
#define PACKET_SAMPLES 896

struct rig {
        int sv[2];
        const struct a2dp_codec *codec;
        struct codec_encoder *enc;
        struct codec_info info;
        struct stream_output_stats stats;
        struct sender s;
        int16_t pcm[PACKET_SAMPLES * 2];
};

static void rig_init(struct rig *r)
{
        static const uint32_t seeds[3] = { 0x11223344u, 0xfffe, 1000 };

        memset(r, 0, sizeof(*r));
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, r->sv), 0);
        r->codec = a2dp_codec_by_name("sbc");
        ck_assert_ptr_nonnull(r->codec);
        ck_assert_int_eq(r->codec->parse(config, sizeof(config), &r->info, NULL, 0), 0);
        ck_assert_int_eq(r->codec->encoder_new(config, sizeof(config), MTU, &r->enc, NULL, 0), 0);
        for (size_t i = 0; i < PACKET_SAMPLES; i++)
                r->pcm[2 * i] = r->pcm[2 * i + 1] = (int16_t)((i % 64) * 256 - 8192);
        sender_init(&r->s, r->sv[0], MTU, r->codec, r->enc, &r->info, &r->stats, seeds);
}

static void rig_free(struct rig *r)
{
        r->codec->encoder_free(r->enc);
        close(r->sv[0]);
        close(r->sv[1]);
}

static int receive(struct rig *r, struct rtp_sbc_view *v, uint8_t *buf, size_t len)
{
        ssize_t n = recv(r->sv[1], buf, len, 0);

        if (n < 0)
                return -errno;
        ck_assert_int_le(n, MTU);
        ck_assert_int_eq(rtp_sbc_parse(buf, (size_t)n, v), 0);
        return (int)n;
}

START_TEST(packets_full_and_continuous)
{
        struct rig r;
        struct rtp_sbc_view v;
        uint8_t buf[4096];
        bool changed;

        rig_init(&r);
        for (int p = 0; p < 3; p++) {
                ck_assert_int_eq(sender_push(&r.s, r.pcm, PACKET_SAMPLES, 0), 0);
                ck_assert_int_eq(sender_flush(&r.s, 0, &changed), 0);
        }
        for (int p = 0; p < 3; p++) {
                ck_assert_int_eq(receive(&r, &v, buf, sizeof(buf)), RTP_SBC_OVERHEAD + 7 * FRAME_LEN);
                ck_assert_uint_eq(v.payload_type, 96);
                ck_assert_uint_eq(v.ssrc, 0x11223344u);
                ck_assert_uint_eq(v.seq, (uint16_t)(0xfffe + p));        /* wraps */
                ck_assert_uint_eq(v.timestamp, 1000u + (uint32_t)p * PACKET_SAMPLES);
                ck_assert_uint_eq(v.sbc_header, 7);
                ck_assert_uint_eq(v.payload[0], 0x9c);                  /* SBC sync word */
        }
        ck_assert_int_eq(receive(&r, &v, buf, sizeof(buf)), -EAGAIN);
        ck_assert_uint_eq(atomic_load(&r.stats.packets), 3);
        ck_assert_uint_eq(atomic_load(&r.stats.full_packets), 3);
        ck_assert_uint_eq(atomic_load(&r.stats.frames), 21);
        rig_free(&r);
}
END_TEST

START_TEST(full_queue_drops_the_oldest_and_counts_it)
{
        struct rig r;
        struct rtp_sbc_view v;
        uint8_t buf[4096];
        bool changed;
        int got = 0, first_ts = -1, filler = 0;
        uint16_t prev_seq = 0;

        rig_init(&r);
        memset(buf, 0, sizeof(buf));
        /* a speaker that takes nothing: the socket is full */
        while (send(r.sv[0], buf, MTU, MSG_DONTWAIT) > 0)
                filler++;
        ck_assert_int_eq(errno, EAGAIN);
        for (int p = 0; p < SENDER_QUEUE_PACKETS + 3; p++) {
                ck_assert_int_eq(sender_push(&r.s, r.pcm, PACKET_SAMPLES, 0), 0);
                ck_assert_int_eq(sender_flush(&r.s, 0, &changed), 0);
        }
        /* the queue stayed bounded; what did not fit was dropped, counted */
        ck_assert(sender_has_queued(&r.s));
        ck_assert_uint_eq(atomic_load(&r.stats.dropped_frames), 3u * PACKET_SAMPLES);
        ck_assert_uint_gt(atomic_load(&r.stats.congestion), 0);
        /* the speaker reads again: the filler, then our newest packets */
        for (int i = 0; i < filler; i++)
                ck_assert_int_eq(recv(r.sv[1], buf, sizeof(buf), MSG_DONTWAIT), MTU);
        ck_assert_int_eq(sender_flush(&r.s, 0, &changed), 0);
        while (receive(&r, &v, buf, sizeof(buf)) > 0) {
                if (first_ts < 0)
                        first_ts = (int)v.timestamp;
                else
                        ck_assert_uint_eq(v.seq, (uint16_t)(prev_seq + 1)); /* no gap in seq */
                prev_seq = v.seq;
                got++;
        }
        ck_assert_int_eq(got, SENDER_QUEUE_PACKETS);
        /* the oldest three packets' audio went: time says so */
        ck_assert_int_eq(first_ts, 1000 + 3 * PACKET_SAMPLES);
        rig_free(&r);
}
END_TEST

START_TEST(learns_what_a_packet_costs_once)
{
        struct rig r;
        uint8_t buf[4096];
        bool changed;

        rig_init(&r);
        ck_assert_int_eq(sender_push(&r.s, r.pcm, PACKET_SAMPLES, 0), 0);
        ck_assert_int_eq(sender_flush(&r.s, 0, &changed), 0);
        /* a Unix socket shows the packet in its queue until it is read */
        ck_assert_uint_gt(r.s.packet_cost, RTP_SBC_OVERHEAD + 7 * FRAME_LEN - 1);
        ck_assert_uint_eq(r.s.cost_probes, 1);
        for (int p = 0; p < 40; p++) {
                ck_assert_int_eq(sender_push(&r.s, r.pcm, PACKET_SAMPLES, 0), 0);
                ck_assert_int_eq(sender_flush(&r.s, 0, &changed), 0);
                while (recv(r.sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
                        ;
        }
        ck_assert_uint_eq(r.s.cost_probes, 1);   /* learnt once, not asked again */
        rig_free(&r);
}
END_TEST

/* Loopback UDP hands each datagram over inside send(): its queue never
 * shows a packet, as a link that transmits at once would not */
START_TEST(gives_up_learning_on_a_socket_that_never_queues)
{
        struct rig r;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        uint8_t buf[4096];
        bool changed;
        int tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

        ck_assert_int_ge(tx, 0);
        ck_assert_int_ge(rx, 0);
        ck_assert_int_eq(bind(rx, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(rx, (struct sockaddr *)&sa, &sl), 0);
        ck_assert_int_eq(connect(tx, (struct sockaddr *)&sa, sizeof(sa)), 0);
        rig_init(&r);
        close(r.sv[0]);
        close(r.sv[1]);
        r.sv[0] = tx;
        r.sv[1] = rx;
        sender_init(&r.s, tx, MTU, r.codec, r.enc, &r.info, &r.stats, (const uint32_t[3]){ 1, 2, 3 });
        for (unsigned p = 0; p < SENDER_COST_PROBES_MAX + 10; p++) {
                ck_assert_int_eq(sender_push(&r.s, r.pcm, PACKET_SAMPLES, 0), 0);
                ck_assert_int_eq(sender_flush(&r.s, 0, &changed), 0);
                while (recv(rx, buf, sizeof(buf), 0) > 0)
                        ;
        }
        ck_assert_uint_eq(atomic_load(&r.stats.packets), SENDER_COST_PROBES_MAX + 10);
        ck_assert_uint_eq(r.s.packet_cost, 0);
        ck_assert_uint_eq(r.s.cost_probes, SENDER_COST_PROBES_MAX);
        rig_free(&r);
}
END_TEST

/* ---- bitpool adaptation through a stall --------------------------------- */

#define PACKET_NS ((uint64_t)PACKET_SAMPLES * 1000000000ull / 44100)
#define MAX_BITPOOL 53u
/* stream.c's: a speaker that took nothing for this long has stalled */
#define THREAD_STALL_NS 300000000ull

/* The audio thread's side, as stream.c runs it: a packet of audio per
 * period, encoded while the speaker takes audio, skipped (played locally)
 * while it has stalled, then a flush. */
struct thread_sim {
        struct rig r;
        uint64_t t;
        bool stalled;
        unsigned min_bitpool;
};

static void sim_init(struct thread_sim *m, int sndbuf)
{
        rig_init(&m->r);
        /* a few packets' room, as a Bluetooth socket's send buffer */
        ck_assert_int_eq(setsockopt(m->r.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        sender_init(&m->r.s, m->r.sv[0], MTU, m->r.codec, m->r.enc, &m->r.info, &m->r.stats,
                        (const uint32_t[3]){ 1, 2, 3 });
        m->t = 1000000000ull;
        m->r.s.last_send_ns = m->t;      /* as stream.c sets it on attach */
        m->stalled = false;
        m->min_bitpool = sender_level_value(&m->r.s);
}

/* One period; the speaker reads `take` packets (-1: all there are). */
static void sim_tick(struct thread_sim *m, int take)
{
        struct sender *s = &m->r.s;
        uint8_t buf[4096];
        bool changed;

        m->t += PACKET_NS;
        if (m->stalled)
                sender_skip(s, PACKET_SAMPLES);
        else
                ck_assert_int_eq(sender_push(s, m->r.pcm, PACKET_SAMPLES, m->t), 0);
        ck_assert_int_eq(sender_flush(s, m->t, &changed), 0);
        if (!m->stalled && sender_has_queued(s) && m->t - s->last_send_ns > THREAD_STALL_NS)
                m->stalled = true;
        else if (m->stalled && !sender_has_queued(s))
                m->stalled = false;
        for (int i = 0; take < 0 || i < take; i++)
                if (recv(m->r.sv[1], buf, sizeof(buf), MSG_DONTWAIT) <= 0)
                        break;
        if (sender_level_value(s) < m->min_bitpool)
                m->min_bitpool = sender_level_value(s);
}

static void sim_run(struct thread_sim *m, uint64_t ns, int take)
{
        for (uint64_t end = m->t + ns; m->t < end;)
                sim_tick(m, take);
}

/* A speaker that takes nothing for 15 s (a phone call on a multipoint
 * speaker, a link in a dead spot): nothing is encoded meanwhile, so there
 * is nothing a lower bitpool would help. The bitpool stays; when the
 * speaker takes audio again it is the working one within seconds. */
START_TEST(stall_does_not_wear_the_bitpool_down)
{
        struct thread_sim m;

        sim_init(&m, 8192);
        sim_run(&m, 3000000000ull, -1);
        ck_assert_uint_eq(sender_level_value(&m.r.s), MAX_BITPOOL);
        ck_assert(!m.stalled);

        sim_run(&m, 15000000000ull, 0);
        ck_assert(m.stalled);
        /* at most one step before the stall is recognised as one */
        ck_assert_uint_ge(m.min_bitpool, MAX_BITPOOL - MAX_BITPOOL / 8);

        sim_run(&m, 2000000000ull, -1);
        ck_assert(!m.stalled);
        ck_assert_uint_eq(sender_level_value(&m.r.s), MAX_BITPOOL);
        ck_assert_uint_eq(atomic_load(&m.r.stats.level_value), MAX_BITPOOL);
        rig_free(&m.r);
}
END_TEST

/* A speaker that takes audio, but slower than it comes: congestion, and
 * the bitpool steps down (once a second) as before. */
START_TEST(slow_link_still_steps_the_bitpool_down)
{
        struct thread_sim m;
        unsigned ticks = 0;

        sim_init(&m, 8192);
        sim_run(&m, 1000000000ull, -1);
        /* half the packets are taken: one every other period */
        for (uint64_t end = m.t + 4000000000ull; m.t < end; ticks++)
                sim_tick(&m, (int)(ticks & 1));
        ck_assert(!m.stalled);
        ck_assert_uint_lt(sender_level_value(&m.r.s), MAX_BITPOOL - MAX_BITPOOL / 8);
        rig_free(&m.r);
}
END_TEST

/* Sharing the air with a second speaker (airtime.c): a cap below the
 * best level steps down at once, and calm never climbs back past it;
 * lifted, the sender climbs as usual. */
START_TEST(cap_holds_the_level_below_it)
{
        struct thread_sim m;
        unsigned best, cap;

        sim_init(&m, 8192);
        sim_run(&m, 1000000000ull, -1);
        best = m.r.s.rates.bps[0];
        ck_assert_uint_gt(m.r.s.rates.levels, 1);
        cap = m.r.s.rates.bps[1];
        ck_assert_uint_lt(cap, best);
        ck_assert(sender_set_cap(&m.r.s, cap, m.t));
        ck_assert_uint_eq(m.r.s.level, 1);
        ck_assert(!sender_set_cap(&m.r.s, cap, m.t));   /* no change */
        /* calm for longer than a step back up takes */
        sim_run(&m, 12000000000ull, -1);
        ck_assert_uint_eq(m.r.s.level, 1);
        ck_assert_uint_eq(atomic_load(&m.r.stats.bitrate), cap);
        /* alone again: back to the best level after calm */
        ck_assert(!sender_set_cap(&m.r.s, 0, m.t));
        sim_run(&m, 12000000000ull, -1);
        ck_assert_uint_eq(m.r.s.level, 0);
        rig_free(&m.r);
}
END_TEST

/* SBC's packets are long (20 ms here, 11.6 ms with a 489-byte MTU): the
 * queue stays 4 packets and congestion 1.5 packets, whatever codecs with
 * short packets get. */
START_TEST(sbc_queue_is_four_packets)
{
        static const uint32_t seeds[3] = { 1, 2, 3 };
        struct rig r;

        rig_init(&r);
        ck_assert_uint_eq(sender_packet_ms(&r.s), 20);
        ck_assert_uint_eq(sender_queue_packets(&r.s), SENDER_QUEUE_PACKETS);
        ck_assert_uint_eq(sender_congestion_ns(&r.s), 30000000ull);
        /* 4 frames a packet */
        sender_init(&r.s, r.sv[0], RTP_SBC_OVERHEAD + 4 * FRAME_LEN, r.codec, r.enc, &r.info,
                    &r.stats, seeds);
        ck_assert_uint_eq(sender_packet_ms(&r.s), 11);
        ck_assert_uint_eq(sender_queue_packets(&r.s), SENDER_QUEUE_PACKETS);
        ck_assert_uint_eq(sender_congestion_ns(&r.s), 16500000ull);
        rig_free(&r);
}
END_TEST

static Suite *sender_suite(void)
{
        Suite *s = suite_create("sender");
        TCase *tc = tcase_create("socket");

        tcase_add_test(tc, packets_full_and_continuous);
        tcase_add_test(tc, full_queue_drops_the_oldest_and_counts_it);
        tcase_add_test(tc, learns_what_a_packet_costs_once);
        tcase_add_test(tc, gives_up_learning_on_a_socket_that_never_queues);
        tcase_add_test(tc, stall_does_not_wear_the_bitpool_down);
        tcase_add_test(tc, slow_link_still_steps_the_bitpool_down);
        tcase_add_test(tc, sbc_queue_is_four_packets);
        tcase_add_test(tc, cap_holds_the_level_below_it);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(sender_suite)
