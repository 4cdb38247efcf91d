/* The generic sender with a codec of short packets: LDAC (5.3 ms of audio
 * a packet at HQ, 48 kHz, against SBC's ~19 ms), over a real socket pair,
 * its quality in the hands of libldacBT_abr, or of the sender's own steps
 * when that library is not there.
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
 *   (MQ's bytes): ABR steps down its ladder (HQ, SQ, Q0, Q1, MQ) within a
 *   second, and back up it once calm.
 * - abr_settles_where_the_link_fits: a link carrying Q1 (396 kbit/s) but
 *   not Q0 (492): ABR holds Q1, a rung the sender's own steps (HQ, SQ,
 *   MQ, a step a second) do not have.
 * - stall_is_not_congestion: a speaker that takes nothing for a second:
 *   its queue is not fed to ABR, and a step made before the stall was
 *   seen is undone when it takes audio again.
 * - fallback_steps_without_abr: libldacBT_abr absent, the sender steps HQ
 *   -> SQ -> MQ, a step a second, and back up after five calm seconds. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ldacBT.h>

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
#define MAX_CHANGES 64

struct sim {
        int sv[2];
        const struct a2dp_codec *codec;
        struct codec_encoder *enc;
        struct codec_info info;
        struct stream_output_stats stats;
        struct sender s;
        int16_t pcm[PERIOD * 2];
        uint64_t t0, t;
        uint64_t pushed;        /* PCM frames handed to the sender */
        uint64_t next_wake;
        double link_bytes_per_ns;       /* 0: the speaker takes everything */
        double tokens;
        uint64_t late_every_ns; /* a wake-up LATE_NS late this often (0: never) */
        uint64_t last_late;
        bool speaker_stalled;   /* takes nothing */
        bool bt_stalled;        /* the audio thread plays locally meanwhile */
        unsigned level;
        unsigned changes;
        uint64_t change_ns[MAX_CHANGES];
        unsigned change_level[MAX_CHANGES];
        unsigned change_kbps[MAX_CHANGES];
        unsigned max_level;
        unsigned events;        /* flushes that said the level changed */
};

/* abr_soname: the ABR library the encoder loads (one that does not exist:
 * the fallback) */
static void sim_init_with(struct sim *m, const char *abr_soname)
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
        ck_assert_msg(ldac_encoder_new_with(cfg, sizeof(cfg), MTU, abr_soname, &m->enc, err,
                                            sizeof(err)) == 0,
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

/* with libldacBT_abr, as the codec object loads it */
static void sim_init(struct sim *m)
{
        sim_init_with(m, "libldacBT_abr.so.2");
        ck_assert_msg(ldac_encoder_abr(m->enc), "libldacBT_abr.so.2 cannot be loaded");
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
        m->change_kbps[m->changes] = atomic_load(&m->stats.level_value);
        m->change_level[m->changes++] = l;
        m->level = l;
        if (l > m->max_level)
                m->max_level = l;
}

static void flush(struct sim *m)
{
        bool changed;

        ck_assert_int_eq(sender_flush(&m->s, m->t, &changed), 0);
        m->events += changed;
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
                if (m->bt_stalled)
                        sender_skip(&m->s, PERIOD);     /* played locally */
                else
                        ck_assert_int_eq(sender_push(&m->s, m->pcm, PERIOD, capture_ns(m, m->pushed)), 0);
        }
        flush(m);
        /* stream.c's view: a stall lasts until its backlog has left */
        if (!m->bt_stalled && sender_has_queued(&m->s) && m->t - m->s.last_send_ns > SENDER_STALL_NS)
                m->bt_stalled = true;
        else if (m->bt_stalled && !sender_has_queued(&m->s))
                m->bt_stalled = false;
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

        if (m->speaker_stalled)
                return;
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
 * (MQ's), then quiet again until ABR is back at HQ. */
START_TEST(slow_link_steps_quality_down_and_back)
{
        static struct sim m;
        uint64_t slow_at, quiet_at, mq_at = 0;

        sim_init(&m);
        sim_run(&m, 2 * SEC);
        ck_assert_uint_eq(m.changes, 0);

        slow_at = m.t;
        m.link_bytes_per_ns = HQ_PACKET_BYTES / 3.0 / HQ_PACKET_NS;
        sim_run(&m, 4 * SEC);
        ck_assert_msg(m.changes >= 2, "%u level changes on the slow link", m.changes);
        /* down the library's ladder, never up, to MQ */
        for (unsigned i = 1; i < m.changes; i++)
                ck_assert_uint_lt(m.change_kbps[i], m.change_kbps[i - 1]);
        ck_assert_uint_eq(m.change_kbps[0], 660);
        ck_assert_uint_eq(m.change_kbps[m.changes - 1], 330);
        ck_assert_uint_eq(m.level, LDACBT_EQMID_MQ);
        ck_assert_uint_eq(atomic_load(&m.stats.level_value), 330);
        ck_assert_uint_eq(atomic_load(&m.stats.bitrate), 330000);
        /* the first step soon after the link slowed */
        ck_assert_uint_le(m.change_ns[0] - slow_at, SEC / 2);
        ck_assert_uint_gt(atomic_load(&m.stats.congestion), 0);
        /* every change was told (STREAM_EV_LEVEL) */
        ck_assert_uint_eq(m.events, m.changes);
        mq_at = m.change_ns[m.changes - 1];

        quiet_at = m.t;
        m.link_bytes_per_ns = 0;
        for (unsigned s = 0; s < 90 && m.level != 0; s++)
                sim_run(&m, SEC);
        ck_assert_msg(m.level == 0, "still at %u kbit/s after 90 calm seconds",
                      atomic_load(&m.stats.level_value));
        ck_assert_uint_eq(atomic_load(&m.stats.level_value), 990);
        /* back up the ladder, never down on a quiet link, and not at once:
         * ABR watches a calm queue for seconds before each step up */
        for (unsigned i = 0; i < m.changes; i++) {
                if (m.change_ns[i] <= quiet_at)
                        continue;
                ck_assert_uint_gt(m.change_kbps[i], i ? m.change_kbps[i - 1] : 0);
                ck_assert_uint_ge(m.change_ns[i] - (i ? m.change_ns[i - 1] : mq_at), SEC);
        }
        ck_assert_uint_eq(m.events, m.changes);
        ck_assert(!m.s.stalled);
        printf("slow link: kbit/s");
        for (unsigned i = 0; i < m.changes; i++)
                printf(" %u@%.2f", m.change_kbps[i], (double)(m.change_ns[i] - slow_at) / 1e9);
        printf(" (quiet at %.2f)\n", (double)(quiet_at - slow_at) / 1e9);
        sim_free(&m);
}
END_TEST

/* A link that carries about 420 kbit/s: Q1's packets (5 frames of 132
 * bytes, 13 + 660 bytes every 13.3 ms: 404 kbit/s) pass, Q0's (502) do
 * not. ABR settles on Q1, a level the sender's own steps do not have
 * (they go from 660 straight to 330), and it steps more than once within
 * a second, which they never do. */
START_TEST(abr_settles_where_the_link_fits)
{
        static struct sim m;
        uint64_t slow_at, at_q1 = 0;
        unsigned seen_q1 = 0, samples = 0;

        sim_init(&m);
        sim_run(&m, SEC);
        slow_at = m.t;
        m.link_bytes_per_ns = 450000.0 / 8 / 1e9;
        for (unsigned i = 0; i < 600; i++) {
                sim_run(&m, SEC / 20);
                if (m.t - slow_at >= 2 * SEC) {
                        samples++;
                        seen_q1 += atomic_load(&m.stats.level_value) == 396;
                }
                if (!at_q1 && atomic_load(&m.stats.level_value) == 396)
                        at_q1 = m.t;
        }
        printf("420 kbit/s link: kbit/s");
        for (unsigned i = 0; i < m.changes; i++)
                printf(" %u@%.2f", m.change_kbps[i], (double)(m.change_ns[i] - slow_at) / 1e9);
        printf("; at 396 %u of %u samples\n", seen_q1, samples);
        ck_assert_msg(at_q1, "never at 396 kbit/s");
        ck_assert_uint_eq(m.level, 4);
        ck_assert_uint_eq(atomic_load(&m.stats.bitrate), 396000);
        /* held there: at most brief tries of Q0 after the first seconds */
        ck_assert_uint_ge(seen_q1 * 10, samples * 9);
        /* never lower than the link needs */
        for (unsigned i = 0; i < m.changes; i++)
                ck_assert_uint_ge(m.change_kbps[i], 396);
        /* two steps within a second: not the sender's one a second */
        ck_assert_uint_ge(m.changes, 2);
        ck_assert_uint_lt(m.change_ns[1] - m.change_ns[0], SEC);
        sim_free(&m);
}
END_TEST

/* Two speakers share the air: LDAC capped at 500 kbit/s goes to Q0 (492)
 * at once, and ABR, on a link that would carry HQ, never takes it above
 * the cap; lifted, ABR climbs again. */
START_TEST(abr_stays_under_the_cap)
{
        static struct sim m;

        sim_init(&m);
        if (!m.s.rc_interval_ns) {
                sim_free(&m);
                return;         /* no libldacBT_abr: fallback_steps_without_abr */
        }
        sim_run(&m, SEC);
        ck_assert_uint_eq(m.level, 0);
        ck_assert(sender_set_cap(&m.s, 500000, m.t));
        ck_assert_uint_eq(atomic_load(&m.stats.bitrate), 492000);
        for (unsigned i = 0; i < 200; i++) {
                sim_run(&m, SEC / 20);
                ck_assert_uint_le(atomic_load(&m.stats.bitrate), 500000);
        }
        ck_assert_uint_eq(atomic_load(&m.stats.bitrate), 492000);
        sender_set_cap(&m.s, 0, m.t);
        for (unsigned i = 0; i < 40 && atomic_load(&m.stats.bitrate) <= 500000; i++)
                sim_run(&m, SEC);
        ck_assert_uint_gt(atomic_load(&m.stats.bitrate), 500000);
        sim_free(&m);
}
END_TEST

/* The speaker takes nothing for a second, then everything again. The
 * queue that builds up meanwhile is the speaker's doing, not the link's:
 * ABR is not fed while the sender sees the stall, and what it stepped in
 * the moments before (the 300 ms it takes to call it a stall) is undone
 * when the speaker takes audio again; the stall's backlog is not fed to
 * it either. */
START_TEST(stall_is_not_congestion)
{
        static struct sim m;
        uint64_t stall_at, resume_at;

        sim_init(&m);
        sim_run(&m, 2 * SEC);
        ck_assert_uint_eq(m.changes, 0);
        stall_at = m.t;
        m.speaker_stalled = true;
        sim_run(&m, SEC);
        ck_assert(m.s.stalled);
        resume_at = m.t;
        m.speaker_stalled = false;
        sim_run(&m, 10 * SEC);
        printf("stall: kbit/s");
        for (unsigned i = 0; i < m.changes; i++)
                printf(" %u@%.3f", m.change_kbps[i], (double)(m.change_ns[i] - stall_at) / 1e9);
        printf("\n");
        ck_assert(!m.s.stalled);
        /* HQ from the first packet sent after the stall on */
        for (unsigned i = 0; i < m.changes; i++)
                if (m.change_ns[i] > resume_at)
                        ck_assert_msg(m.change_level[i] == 0 && m.change_ns[i] < resume_at + SEC / 10,
                                      "at %u kbit/s %.3f s after the speaker took audio again",
                                      m.change_kbps[i], (double)(m.change_ns[i] - resume_at) / 1e9);
        ck_assert_uint_eq(m.level, 0);
        ck_assert_uint_eq(atomic_load(&m.stats.level_value), 990);
        ck_assert_uint_eq(m.events, m.changes);
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

/* Without libldacBT_abr (libldacbt-abr2 not installed): the sender's own
 * steps, as for every codec. 2 s on a quiet link, 4 s on a link that
 * carries a third of HQ's bytes (MQ's), 12 s quiet again. */
START_TEST(fallback_steps_without_abr)
{
        static struct sim m;
        uint64_t slow_at, quiet_at;

        sim_init_with(&m, "libldacBT_abr.so.absent");
        ck_assert(!ldac_encoder_abr(m.enc));
        ck_assert_uint_eq(m.codec->levels(m.enc), LDAC_LEVELS);
        ck_assert_uint_eq(m.codec->rate_control_ms(m.enc), 0);
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

static Suite *sender_ldac_suite(void)
{
        Suite *s = suite_create("sender-ldac");
        TCase *tc = tcase_create("short packets");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, scheduling_jitter_is_not_congestion);
        tcase_add_test(tc, slow_link_steps_quality_down_and_back);
        tcase_add_test(tc, abr_settles_where_the_link_fits);
        tcase_add_test(tc, stall_is_not_congestion);
        tcase_add_test(tc, abr_stays_under_the_cap);
        tcase_add_test(tc, queue_bound_is_in_time);
        tcase_add_test(tc, fallback_steps_without_abr);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(sender_ldac_suite)
