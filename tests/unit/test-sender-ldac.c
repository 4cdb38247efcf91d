/* The generic sender with a codec of short packets: LDAC (5.3 ms of audio
 * a packet at HQ, 48 kHz, against SBC's ~19 ms), over a real socket pair.
 * Simulated time: the audio thread wakes once a packet's audio has been
 * captured (sometimes late), pushes every whole packet captured with the
 * capture time of its newest sample, and flushes; the speaker reads the
 * socket at the link's rate (a token bucket) every half millisecond, and
 * the audio thread flushes whenever it has packets queued (POLLOUT).
 *
 * - scheduling_jitter_is_not_congestion: audio-thread wake-ups 12 ms late
 *   (a loaded machine) make packets 12 ms old when sent; with packets of
 *   5 ms that is more than 1.5 packets, but no congestion: the quality
 *   must not step down.
 * - slow_link_steps_quality_down_and_back: a link carrying a third of HQ
 *   steps HQ -> SQ -> MQ, a step a second, and back up once calm. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "a2dp-ldac.h"
#include "sender.h"
#include "stream.h"

#define RATE 48000u
#define MTU 895
#define PERIOD 256u             /* PCM frames: one HQ packet (2 frames of 128) */
#define TICK_NS 500000ull       /* the speaker's and POLLOUT's resolution */
#define SEC 1000000000ull
#define LATE_NS 12000000ull     /* a late wake-up */
/* bytes on the wire of an HQ packet: RTP 12 + payload header 1 + 2 x 330 */
#define HQ_PACKET_BYTES 673.0
#define HQ_PACKET_NS ((double)PERIOD * 1e9 / RATE)
#define MAX_CHANGES 16

struct sim {
        int sv[2];
        const struct a2dp_codec *codec;
        struct codec_encoder *enc;
        struct codec_info info;
        struct stream_stats stats;
        struct sender s;
        int16_t pcm[PERIOD * 2];
        uint64_t t0, t;
        uint64_t pushed;        /* PCM frames handed to the sender */
        uint64_t next_wake;
        double link_bytes_per_ns;       /* 0: the speaker takes everything */
        double tokens;
        uint64_t late_every_ns; /* a wake-up LATE_NS late this often (0: never) */
        uint64_t last_late;
        unsigned level;
        unsigned changes;
        uint64_t change_ns[MAX_CHANGES];
        unsigned change_level[MAX_CHANGES];
        unsigned max_level;
};

static void sim_init(struct sim *m)
{
        static const uint8_t cfg[8] = { 0x2d, 0x01, 0x00, 0x00, 0xaa, 0x00,
                                        LDAC_RATE_48000, LDAC_MODE_STEREO };
        static const uint32_t seeds[3] = { 0x5eed, 7, 1000 };
        char err[160] = "";
        int sndbuf = 4096;      /* a few packets, as a Bluetooth socket's */

        memset(m, 0, sizeof(*m));
        m->codec = a2dp_codec_by_name("ldac");
        ck_assert_ptr_nonnull(m->codec);
        ck_assert_msg(m->codec->available(), "libldacBT_enc.so.2 cannot be loaded");
        ck_assert_int_eq(m->codec->parse(cfg, sizeof(cfg), &m->info, err, sizeof(err)), 0);
        ck_assert_msg(m->codec->encoder_new(cfg, sizeof(cfg), MTU, &m->enc, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, m->sv), 0);
        ck_assert_int_eq(setsockopt(m->sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        for (unsigned i = 0; i < PERIOD; i++) {
                double v = sin(2 * M_PI * 997.0 * i / RATE) * 12000;

                m->pcm[2 * i] = m->pcm[2 * i + 1] = (int16_t)v;
        }
        sender_init(&m->s, m->sv[0], MTU, m->codec, m->enc, &m->info, &m->stats, seeds);
        m->t0 = m->t = SEC;
        m->s.last_send_ns = m->t;        /* as stream.c sets it on attach */
        m->next_wake = m->t0 + (uint64_t)HQ_PACKET_NS;
        m->last_late = m->t0;
}

static void sim_free(struct sim *m)
{
        m->codec->encoder_free(m->enc);
        close(m->sv[0]);
        close(m->sv[1]);
}

static uint64_t capture_ns(const struct sim *m, uint64_t frames)
{
        return m->t0 + frames * SEC / RATE;
}

static void note_level(struct sim *m)
{
        unsigned l = m->s.level;

        if (l == m->level)
                return;
        ck_assert_uint_lt(m->changes, MAX_CHANGES);
        m->change_ns[m->changes] = m->t;
        m->change_level[m->changes++] = l;
        m->level = l;
        if (l > m->max_level)
                m->max_level = l;
}

static void flush(struct sim *m)
{
        bool changed;

        ck_assert_int_eq(sender_flush(&m->s, m->t, &changed), 0);
        note_level(m);
}

/* The audio thread's wake-up: every whole period captured by now, each
 * with the capture time of its newest sample (stream.c reads a packet at
 * a time), then a flush. */
static void audio_wake(struct sim *m)
{
        uint64_t captured = (m->t - m->t0) * RATE / SEC;

        while (captured - m->pushed >= PERIOD) {
                m->pushed += PERIOD;
                ck_assert_int_eq(sender_push(&m->s, m->pcm, PERIOD, capture_ns(m, m->pushed)), 0);
        }
        flush(m);
        m->next_wake = capture_ns(m, m->pushed + PERIOD);
        if (m->late_every_ns && m->t - m->last_late >= m->late_every_ns) {
                m->next_wake += LATE_NS;
                m->last_late = m->t;
        }
}

/* The speaker: what the link carried since the last tick (no more than a
 * packet's worth builds up while the socket is empty). */
static void speaker_read(struct sim *m)
{
        uint8_t buf[4096];
        ssize_t n;

        if (m->link_bytes_per_ns > 0) {
                m->tokens += m->link_bytes_per_ns * (double)TICK_NS;
                if (m->tokens > HQ_PACKET_BYTES * 1.5)
                        m->tokens = HQ_PACKET_BYTES * 1.5;
        }
        while ((n = recv(m->sv[1], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT)) > 0) {
                if (m->link_bytes_per_ns > 0) {
                        if (m->tokens < (double)n)
                                break;
                        m->tokens -= (double)n;
                }
                ck_assert_int_eq(recv(m->sv[1], buf, sizeof(buf), MSG_DONTWAIT), n);
        }
}

static void sim_run(struct sim *m, uint64_t ns)
{
        for (uint64_t end = m->t + ns; m->t < end;) {
                m->t += TICK_NS;
                speaker_read(m);
                if (m->t >= m->next_wake)
                        audio_wake(m);
                else if (sender_has_queued(&m->s))
                        flush(m);       /* POLLOUT */
        }
}

/* A quiet link, an audio thread that wakes 12 ms late ten times a second:
 * the packets of a late wake-up are 12 ms old when they leave (more than
 * 1.5 LDAC packets), which is the scheduler, not the link. */
START_TEST(scheduling_jitter_is_not_congestion)
{
        static struct sim m;

        sim_init(&m);
        m.late_every_ns = 100000000ull;
        sim_run(&m, 10 * SEC);
        ck_assert_msg(m.max_level == 0, "quality stepped down to level %u at %.3f s of jitter alone",
                      m.max_level, m.changes ? (double)(m.change_ns[0] - m.t0) / 1e9 : 0.0);
        /* the wake-ups were late, and the audio waited for them */
        ck_assert_uint_ge(atomic_load(&m.stats.latency_max_us), LATE_NS / 1000);
        ck_assert_uint_gt(atomic_load(&m.stats.packets), 1800);
        ck_assert_uint_eq(atomic_load(&m.stats.level_value), 990);
        ck_assert_uint_eq(atomic_load(&m.stats.dropped_frames), 0);
        sim_free(&m);
}
END_TEST

/* 2 s on a quiet link, 4 s on a link that carries a third of HQ's bytes
 * (MQ's), 12 s quiet again. */
START_TEST(slow_link_steps_quality_down_and_back)
{
        static struct sim m;
        uint64_t slow_at, quiet_at;

        sim_init(&m);
        m.late_every_ns = 0;
        sim_run(&m, 2 * SEC);
        ck_assert_uint_eq(m.changes, 0);

        slow_at = m.t;
        m.link_bytes_per_ns = HQ_PACKET_BYTES / 3.0 / HQ_PACKET_NS;
        sim_run(&m, 4 * SEC);
        ck_assert_msg(m.changes == 2, "%u level changes on the slow link", m.changes);
        ck_assert_uint_eq(m.change_level[0], 1);
        ck_assert_uint_eq(m.change_level[1], 2);
        /* the first step within a second of the link slowing, the next one
         * a second later: at most one step a second, and no slower */
        ck_assert_uint_le(m.change_ns[0] - slow_at, SEC);
        ck_assert_uint_ge(m.change_ns[1] - m.change_ns[0], SEC);
        ck_assert_uint_le(m.change_ns[1] - m.change_ns[0], SEC + SEC / 10);
        ck_assert_uint_eq(atomic_load(&m.stats.level_value), 330);
        ck_assert_uint_gt(atomic_load(&m.stats.congestion), 0);

        quiet_at = m.t;
        m.link_bytes_per_ns = 0;
        sim_run(&m, 12 * SEC);
        ck_assert_msg(m.changes == 4, "%u level changes in all", m.changes);
        ck_assert_uint_eq(m.change_level[2], 1);
        ck_assert_uint_eq(m.change_level[3], 0);
        /* back up after five calm seconds each */
        ck_assert_uint_ge(m.change_ns[2] - quiet_at, 5 * SEC - SEC / 2);
        ck_assert_uint_le(m.change_ns[2] - quiet_at, 6 * SEC);
        ck_assert_uint_ge(m.change_ns[3] - m.change_ns[2], 5 * SEC);
        ck_assert_uint_le(m.change_ns[3] - m.change_ns[2], 5 * SEC + SEC / 10);
        ck_assert_uint_eq(atomic_load(&m.stats.level_value), 990);
        ck_assert(!m.s.stalled);
        sim_free(&m);
}
END_TEST

/* The bound is about 80 ms of audio: 15 HQ packets, and fewer of the
 * longer MQ ones; congestion needs 20 ms of waiting. */
START_TEST(queue_bound_is_in_time)
{
        static struct sim m;

        sim_init(&m);
        sim_run(&m, SEC / 10);
        ck_assert_uint_eq(sender_packet_ms(&m.s), 5);
        ck_assert_uint_eq(sender_queue_packets(&m.s), 15);
        ck_assert_uint_eq(sender_congestion_ns(&m.s), 20000000ull);
        sim_free(&m);
}
END_TEST

static Suite *sender_ldac_suite(void)
{
        Suite *s = suite_create("sender-ldac");
        TCase *tc = tcase_create("short packets");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, scheduling_jitter_is_not_congestion);
        tcase_add_test(tc, slow_link_steps_quality_down_and_back);
        tcase_add_test(tc, queue_bound_is_in_time);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(sender_ldac_suite)
