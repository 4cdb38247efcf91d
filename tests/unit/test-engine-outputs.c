/* The audio engine with two Bluetooth outputs (issue #13): the real
 * thread (not real-time here), fed by the test capture plugin (tests/alsa) playing a file of
 * tone bursts in real time, sending SBC to two socket pairs that stand for
 * the transports. The speakers report 40 ms and 180 ms of delay: the
 * 40 ms one must be held back by 140 ms, which shows in the kernel's
 * arrival times of the decoded bursts. Both streams must decode intact
 * (continuous sequence numbers and timestamps, every burst, exact
 * spacing), and detaching one output or losing its link must leave no
 * gap in the other. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sbc/sbc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "a2dp-codec.h"
#include "pcm.h"
#include "rtp.h"
#include "stream.h"
#include "tmptree.h"

#define RATE 48000
/* 48 kHz joint stereo, 16 blocks, 8 subbands, bitpool 53: 119-byte
 * frames, 7 of them (896 samples, 18.7 ms) to a 895-byte packet */
static const uint8_t config[4] = { 0x11, 0x15, 0x02, 0x35 };
#define MTU 895
#define PACKET 896
#define NEAR_US 40000u
#define FAR_US 180000u
#define HELD_US (FAR_US - NEAR_US)
/* the signal: LEAD of silence, then a 50 ms 1 kHz burst every 500 ms */
#define LEAD (RATE * 3 / 2)
#define EVERY (RATE / 2)
#define BURST (RATE / 20)
#define MARKS 8
#define FRAMES (LEAD + MARKS * EVERY + RATE / 2)
/* the fault comes between bursts 3 and 4, mid-silence */
#define FAULT_AT_MS (LEAD * 1000 / RATE + 3 * 500 + 250)
#define END_MS (FRAMES * 1000 / RATE + 400)
#define LOUD 4000
#define MAX_PACKETS 1024

struct received {
        int peer;               /* the speaker's end */
        sbc_t sbc;
        int16_t *left;          /* decoded left channel */
        size_t n;
        size_t npk;
        uint64_t at_ns[MAX_PACKETS];    /* kernel arrival time */
        size_t end[MAX_PACKETS];        /* decoded samples after the packet */
        bool started;
        uint16_t seq;
        uint32_t ts, ssrc;
        unsigned seq_breaks, ts_breaks, ssrc_changes;
        uint64_t max_gap_ns;
        uint64_t last_ns;
};

struct rig {
        char dir[64];
        snd_pcm_t *pcm;
        struct stream *s;
        int tx[2];              /* the engine's ends */
        struct received rx[2];
        unsigned mtu[2];        /* each output's write MTU */
        bool fault_seen[2];     /* a link error event per output */
        bool other_events[2];   /* stall or link error */
};

static void write_signal(const char *path)
{
        FILE *f = fopen(path, "wb");

        ck_assert_ptr_nonnull(f);
        for (size_t i = 0; i < FRAMES; i++) {
                int16_t fr[2], v = 0;

                if (i >= LEAD && (i - LEAD) % EVERY < BURST && (i - LEAD) / EVERY < MARKS)
                        v = (int16_t)lrint(16000.0 *
                                           sin(2 * M_PI * 1000.0 * (double)((i - LEAD) % EVERY) / RATE));
                fr[0] = fr[1] = v;
                ck_assert_uint_eq(fwrite(fr, sizeof(fr), 1, f), 1);
        }
        fclose(f);
}

static void write_config(struct rig *r)
{
        char exe[PATH_MAX], path[128], *slash;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        FILE *f;

        ck_assert_int_gt(n, 0);
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        ck_assert_ptr_nonnull(slash);
        *slash = '\0';
        snprintf(path, sizeof(path), "%s/alsa.conf", r->dir);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "</usr/share/alsa/alsa.conf>\n"
                   "pcm_type.a2dpsrc_test { lib \"%s/libasound_module_pcm_a2dpsrc_test.so\" }\n"
                   "pcm.bursts { type a2dpsrc_test source \"file\" file \"%s/in.raw\" paced true }\n",
                exe, r->dir);
        fclose(f);
        setenv("ALSA_CONFIG_PATH", path, 1);
}

/* fd: the engine's end of a transport (-1: a new one, for the slot's
 * speaker) */
static void attach_fd(struct rig *r, unsigned slot, uint32_t delay_us, int fd)
{
        struct stream_bt_params bt = { .write_mtu = r->mtu[slot], .config_len = sizeof(config) };
        char err[160];
        int sv[2];

        if (fd < 0) {
                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
                ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_TIMESTAMPNS, &(int){ 1 }, sizeof(int)), 0);
                r->tx[slot] = fd = sv[0];
                r->rx[slot].peer = sv[1];
        }
        bt.fd = fd;
        bt.codec = a2dp_codec_by_name("sbc");
        ck_assert_ptr_nonnull(bt.codec);
        memcpy(bt.config, config, sizeof(config));
        ck_assert_int_eq(bt.codec->parse(config, sizeof(config), &bt.info, NULL, 0), 0);
        stream_set_output_delay(r->s, slot, delay_us);
        ck_assert_msg(stream_attach_bt(r->s, slot, &bt, err, sizeof(err)) == 0, "attach: %s", err);
        ck_assert(stream_bt_attached(r->s, slot));
}

static void attach(struct rig *r, unsigned slot, uint32_t delay_us)
{
        attach_fd(r, slot, delay_us, -1);
}

/* far_mtu: the far speaker's write MTU (MTU: packets as long as the
 * near one's, which are the capture's periods) */
static void rig_start(struct rig *r, unsigned far_mtu)
{
        struct pcm_config cfg = { .rate = RATE, .exact = true, .channels = 2, .period_frames = PACKET,
                                  .periods = CAPTURE_PERIODS };
        struct pcm_result res;
        struct stream_params p = { .rate = RATE, .period_frames = PACKET };
        char path[128], err[256];
        bool rt;

        memset(r, 0, sizeof(*r));
        r->mtu[0] = MTU;
        r->mtu[1] = far_mtu;
        r->tx[0] = r->tx[1] = r->rx[0].peer = r->rx[1].peer = -1;
        tmptree_make(r->dir, sizeof(r->dir), "outputs");
        snprintf(path, sizeof(path), "%s/in.raw", r->dir);
        write_signal(path);
        write_config(r);
        ck_assert_msg(pcm_open(&r->pcm, "bursts", SND_PCM_STREAM_CAPTURE, &cfg, &res, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_uint_eq(res.period_frames, PACKET);
        for (int i = 0; i < 2; i++) {
                r->rx[i].left = calloc(FRAMES + RATE, sizeof(int16_t));
                ck_assert_ptr_nonnull(r->rx[i].left);
                ck_assert_int_eq(sbc_init(&r->rx[i].sbc, 0), 0);
        }
        ck_assert_int_eq(stream_create(&r->s, 0, &rt), 0);
        p.capture[CAT_MEDIA] = r->pcm;
        ck_assert_int_eq(stream_start(r->s, &p), 0);
        /* the speaker playing now is the near one; the far one joins */
        attach(r, 0, NEAR_US);
        attach(r, 1, FAR_US);
}

static void rig_stop(struct rig *r)
{
        for (unsigned i = 0; i < 2; i++)
                ck_assert_int_eq(stream_detach_bt(r->s, i), 0);
        ck_assert_int_eq(stream_stop(r->s), 0);
        stream_destroy(r->s);
        snd_pcm_close(r->pcm);
        for (int i = 0; i < 2; i++) {
                if (r->tx[i] >= 0)
                        close(r->tx[i]);
                if (r->rx[i].peer >= 0)
                        close(r->rx[i].peer);
                sbc_finish(&r->rx[i].sbc);
                free(r->rx[i].left);
        }
        tmptree_remove(r->dir);
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One packet: continuity, arrival time, decoded left channel. */
static void take(struct received *rx)
{
        uint8_t buf[2048], ctl[CMSG_SPACE(sizeof(struct timespec))];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                             .msg_controllen = sizeof(ctl) };
        struct rtp_sbc_view v;
        uint64_t at = 0;
        size_t before = rx->n;
        ssize_t n = recvmsg(rx->peer, &mh, 0);

        if (n <= 0)
                return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;
                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                        at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
                }
        ck_assert_uint_ne(at, 0);
        ck_assert_int_eq(rtp_sbc_parse(buf, (size_t)n, &v), 0);
        if (rx->started) {
                rx->seq_breaks += v.seq != (uint16_t)(rx->seq + 1);
                rx->ts_breaks += v.timestamp != rx->ts;
                rx->ssrc_changes += v.ssrc != rx->ssrc;
                if (at - rx->last_ns > rx->max_gap_ns)
                        rx->max_gap_ns = at - rx->last_ns;
        }
        rx->started = true;
        rx->seq = v.seq;
        rx->ssrc = v.ssrc;
        rx->last_ns = at;
        for (size_t off = 0; off < v.payload_len;) {
                int16_t pcm[128 * 2];
                size_t written = 0;
                ssize_t used = sbc_decode(&rx->sbc, v.payload + off, v.payload_len - off, pcm, sizeof(pcm),
                                          &written);

                ck_assert_int_gt(used, 0);
                off += (size_t)used;
                for (size_t i = 0; i < written / 4 && rx->n < FRAMES + RATE; i++)
                        rx->left[rx->n++] = pcm[2 * i];
        }
        rx->ts = v.timestamp + (uint32_t)(rx->n - before);
        ck_assert_uint_lt(rx->npk, MAX_PACKETS);
        rx->at_ns[rx->npk] = at;
        rx->end[rx->npk++] = rx->n;
}

static void drain_events(struct rig *r)
{
        struct stream_event ev;

        while (stream_next_event(r->s, &ev)) {
                if (ev.output < 0 || ev.output > 1)
                        continue;
                if (ev.type == STREAM_EV_LINK_ERROR)
                        r->fault_seen[ev.output] = true;
                if (ev.type == STREAM_EV_LINK_ERROR || ev.type == STREAM_EV_STALLED)
                        r->other_events[ev.output] = true;
        }
}

enum fault { NO_FAULT, DETACH_NEAR, LOSE_FAR, FAR_TO_SLOT_0 };

/* Receives until the signal has played out; the fault at FAULT_AT_MS. */
static void run(struct rig *r, enum fault fault)
{
        uint64_t t0 = now_ms();
        bool faulted = false;

        while (now_ms() - t0 < END_MS) {
                struct pollfd p[2] = { { .fd = r->rx[0].peer, .events = POLLIN },
                                       { .fd = r->rx[1].peer, .events = POLLIN } };

                if (!faulted && fault != NO_FAULT && now_ms() - t0 >= FAULT_AT_MS) {
                        faulted = true;
                        if (fault == DETACH_NEAR) {
                                ck_assert_int_eq(stream_detach_bt(r->s, 0), 0);
                        } else if (fault == FAR_TO_SLOT_0) {
                                /* the near speaker leaves, the far one
                                 * becomes the one output: its transport
                                 * moves to slot 0 */
                                ck_assert_int_eq(stream_detach_bt(r->s, 0), 0);
                                ck_assert_int_eq(stream_detach_bt(r->s, 1), 0);
                                attach_fd(r, 0, FAR_US, r->tx[1]);
                        } else {
                                close(r->rx[1].peer);   /* the far speaker's link is gone */
                                r->rx[1].peer = -1;
                        }
                }
                if (poll(p, 2, 5) < 0)
                        continue;
                for (int i = 0; i < 2; i++)
                        if (p[i].fd >= 0 && (p[i].revents & POLLIN))
                                take(&r->rx[i]);
                drain_events(r);
        }
}

/* Burst onsets in a decoded stream: index and presentation time less the
 * speaker's Delay: its packet's arrival, plus the audio before it in the
 * packet (a speaker presents a packet's first sample its Delay after the
 * packet came, and the rest in turn). */
static unsigned onsets(const struct received *rx, size_t *idx, uint64_t *at, unsigned max)
{
        unsigned found = 0;
        size_t pk = 0, last_loud = 0;

        for (size_t i = 0; i < rx->n && found < max; i++) {
                if (abs(rx->left[i]) <= LOUD)
                        continue;
                /* loud after a tenth of a second of none: a burst begins */
                if (i - last_loud > (size_t)RATE / 10 || !last_loud) {
                        while (rx->end[pk] <= i)
                                pk++;
                        idx[found] = i;
                        at[found++] = rx->at_ns[pk] +
                                      (uint64_t)(i - (pk ? rx->end[pk - 1] : 0)) * 1000000000ull / RATE;
                }
                last_loud = i;
        }
        return found;
}

static void check_intact(const struct received *rx, const char *who)
{
        ck_assert_msg(rx->seq_breaks == 0 && rx->ts_breaks == 0, "%s: %u sequence and %u timestamp breaks",
                      who, rx->seq_breaks, rx->ts_breaks);
        /* one packet every 18.7 ms; a gap longer than one more packet (and
         * some scheduling) is audio missing */
        ck_assert_msg(rx->max_gap_ns < 2ull * PACKET * 1000000000ull / RATE + 15000000ull,
                      "%s: %.1f ms without a packet", who, rx->max_gap_ns / 1e6);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Each burst within each_ms of the 140 ms the reported delays ask for,
 * their median within median_ms. The engine's thread is not real-time
 * here and the machine is shared (CI runs this under ASan on a loaded
 * host): one late wake-up delays one packet, not the other speaker's,
 * so one burst of the lot may be off by up to 15 ms. A defect in the
 * hold-back moves them all, which the median sees. */
static void check_held_back(const uint64_t *near_at, const uint64_t *far_at, unsigned n, double each_ms,
                            double median_ms)
{
        double held_ms[MARKS], median;
        unsigned off = 0;

        for (unsigned k = 0; k < n; k++) {
                double err;

                held_ms[k] = ((double)near_at[k] - (double)far_at[k]) / 1e6;
                err = fabs(held_ms[k] - HELD_US / 1000.0);
                off += err >= each_ms;
                ck_assert_msg(err < 15.0 && off <= 1,
                              "burst %u: the near speaker gets it %.1f ms after the far one, not %.0f "
                              "(%u bursts off by %.0f ms or more)",
                              k, held_ms[k], HELD_US / 1000.0, off, each_ms);
        }
        qsort(held_ms, n, sizeof(held_ms[0]), cmp_double);
        median = n % 2 ? held_ms[n / 2] : (held_ms[n / 2 - 1] + held_ms[n / 2]) / 2;
        ck_assert_msg(fabs(median - HELD_US / 1000.0) < median_ms,
                      "the near speaker gets the bursts %.1f ms after the far one, not %.0f", median,
                      HELD_US / 1000.0);
}

/* tolerance: 2 samples where nothing is held back; the held-back output
 * follows its target within the alignment's hysteresis (0.5 ms) */
static void check_spacing(const size_t *idx, unsigned from, unsigned to, long tolerance, const char *who)
{
        for (unsigned k = from + 1; k < to; k++)
                ck_assert_msg(labs((long)(idx[k] - idx[k - 1]) - EVERY) <= tolerance,
                              "%s: bursts %u and %u %ld apart", who, k - 1, k, (long)(idx[k] - idx[k - 1]));
}

START_TEST(held_back_then_near_detached)
{
        struct rig r;
        size_t ni[MARKS + 1], fi[MARKS + 1];
        uint64_t na[MARKS + 1], fa[MARKS + 1];
        unsigned nn, nf;

        rig_start(&r, MTU);
        run(&r, DETACH_NEAR);
        nn = onsets(&r.rx[0], ni, na, MARKS + 1);
        nf = onsets(&r.rx[1], fi, fa, MARKS + 1);
        /* the near speaker had bursts 0..3 before it left; the far one all */
        ck_assert_uint_eq(nn, 4);
        ck_assert_uint_eq(nf, MARKS);
        check_held_back(na, fa, 4, 15.0, 3.0);
        check_intact(&r.rx[0], "near");
        check_intact(&r.rx[1], "far");
        /* the far speaker is never held back: exact spacing throughout */
        check_spacing(fi, 0, nf, 2, "far");
        ck_assert(!r.other_events[0] && !r.other_events[1]);
        ck_assert_uint_eq(atomic_load(&stream_stats(r.s)->out[1].dropped_frames), 0);
        ck_assert_uint_eq(atomic_load(&stream_stats(r.s)->out[1].align_us), 0);
        rig_stop(&r);
}
END_TEST

START_TEST(held_back_then_far_lost)
{
        struct rig r;
        size_t ni[MARKS + 1], fi[MARKS + 1];
        uint64_t na[MARKS + 1], fa[MARKS + 1];
        unsigned nn, nf;
        long moved = 0;

        rig_start(&r, MTU);
        run(&r, LOSE_FAR);
        nn = onsets(&r.rx[0], ni, na, MARKS + 1);
        nf = onsets(&r.rx[1], fi, fa, MARKS + 1);
        ck_assert_uint_eq(nf, 4);
        ck_assert_uint_eq(nn, MARKS);
        check_held_back(na, fa, 4, 15.0, 3.0);
        ck_assert(r.fault_seen[1]);
        ck_assert(!r.other_events[0]);
        check_intact(&r.rx[0], "near");
        check_intact(&r.rx[1], "far");
        /* alone again, the near speaker stops waiting: once, in the
         * silence between two bursts (a jump of the held-back time), and
         * every burst still whole and evenly spaced around it */
        check_spacing(ni, 0, 4, RATE / 1000, "near");
        for (unsigned k = 4; k < nn; k++)
                moved += (long)(ni[k] - ni[k - 1]) - EVERY;
        ck_assert_msg(labs(moved + (long)(HELD_US * (RATE / 1000) / 1000)) < RATE / 200,
                      "near: the bursts moved by %ld samples after the far speaker left", moved);
        ck_assert_uint_eq(atomic_load(&stream_stats(r.s)->out[0].dropped_frames), 0);
        rig_stop(&r);
}
END_TEST

/* The far speaker's packets 8 ms long (3 frames to a 400-byte MTU), the
 * near one's 18.7 ms, which are the capture's periods: the far one's end
 * anywhere in a period. Each speaker's wait on our side counts from its
 * packets' first sample, averaged over every packet, and the far one's
 * packets leave when their last sample is captured, not at the period's
 * end: the same bursts are presented together. Without the first, bursts
 * were 6-7 ms off; without the second, single bursts 8 ms. */
START_TEST(unequal_packets_presented_together)
{
        struct rig r;
        size_t ni[MARKS + 1], fi[MARKS + 1];
        uint64_t na[MARKS + 1], fa[MARKS + 1];
        unsigned nn, nf;
        unsigned late = 0;

        rig_start(&r, 400);
        run(&r, NO_FAULT);
        nn = onsets(&r.rx[0], ni, na, MARKS + 1);
        nf = onsets(&r.rx[1], fi, fa, MARKS + 1);
        ck_assert_uint_eq(nn, MARKS);
        ck_assert_uint_eq(nf, MARKS);
        /* the first burst comes while the near output's delay line may
         * still be moving to its target: the later ones are judged */
        check_held_back(na + 1, fa + 1, MARKS - 1, 6.0, 2.0);
        check_intact(&r.rx[0], "near");
        check_intact(&r.rx[1], "far");
        check_spacing(fi, 0, nf, 2, "far");
        check_spacing(ni, 1, nn, RATE / 1000, "near");
        /* the far packets leave evenly: none waits for the period's end
         * (which would part them by up to 18.7 ms, every other packet or
         * so); a wake-up late by the load of a shared machine is allowed
         * now and then (this thread is not real-time here) */
        for (size_t k = 1; k < r.rx[1].npk; k++)
                late += r.rx[1].at_ns[k] - r.rx[1].at_ns[k - 1] > 12000000;
        ck_assert_msg(late * 20 < r.rx[1].npk, "far: %u of %zu 8 ms packets more than 12 ms apart", late,
                      r.rx[1].npk);
        ck_assert(!r.other_events[0] && !r.other_events[1]);
        rig_stop(&r);
}
END_TEST

/* The near speaker leaves and the far one, with shorter packets than the
 * capture's periods (sized for the near one's), plays alone: its packets
 * still leave when their last sample is captured, not two or three at a
 * period's end (the main loop no longer restarts the engine there: a
 * second speaker taking over, a codec switch under it). */
START_TEST(alone_with_packets_off_the_period_keeps_their_spacing)
{
        struct rig r;
        unsigned late = 0, from;

        rig_start(&r, 400);
        run(&r, DETACH_NEAR);
        check_intact(&r.rx[1], "far");
        /* judged from well after the near one left (FAULT_AT_MS of END_MS) */
        from = (unsigned)(r.rx[1].npk * 3 / 5);
        for (size_t k = from + 1; k < r.rx[1].npk; k++)
                late += r.rx[1].at_ns[k] - r.rx[1].at_ns[k - 1] > 12000000;
        ck_assert_msg(late * 20 < r.rx[1].npk - from, "far alone: %u of %zu 8 ms packets more than 12 ms apart",
                      late, r.rx[1].npk - from);
        rig_stop(&r);
}
END_TEST

/* The far speaker's transport moved from slot 1 to slot 0 (MultiOutput
 * off keeps it, the near one goes): its RTP stream goes on, same source,
 * no sequence or timestamp break, where a new stream would make the
 * speaker see a new source or lost packets. */
START_TEST(moved_transport_continues_its_stream)
{
        struct rig r;
        size_t fi[MARKS + 1];
        uint64_t fa[MARKS + 1];

        rig_start(&r, MTU);
        run(&r, FAR_TO_SLOT_0);
        ck_assert_uint_eq(onsets(&r.rx[1], fi, fa, MARKS + 1), MARKS);
        check_intact(&r.rx[1], "far");
        ck_assert_uint_eq(r.rx[1].ssrc_changes, 0);
        /* the far transport is slot 0's now; the near one's is closed */
        close(r.tx[0]);
        r.tx[0] = r.tx[1];
        r.tx[1] = -1;
        rig_stop(&r);
}
END_TEST

/* Waits until slot's packets have stopped (its send failed) for 300 ms,
 * 16 packets' time: a thread merely descheduled that long on a loaded
 * machine is unlikely. */
static void wait_link_error(struct rig *r, unsigned slot)
{
        uint64_t last = UINT64_MAX, t0 = now_ms();
        unsigned same = 0;

        while (now_ms() - t0 < 3000) {
                uint64_t n = atomic_load(&stream_stats(r->s)->out[slot].packets);

                same = n == last ? same + 1 : 0;
                if (same == 3)
                        return;
                last = n;
                usleep(100000);
        }
        ck_abort_msg("output %u sends on after its speaker's end closed", slot);
}

/* Reads events until one tells of slot's link error, or 2 s pass. */
static void wait_link_error_event(struct rig *r, unsigned slot)
{
        uint64_t t0 = now_ms();

        while (!r->fault_seen[slot] && now_ms() - t0 < 2000) {
                drain_events(r);
                usleep(10000);
        }
}

/* A link error the thread reported just before the main loop let go of
 * that output (BlueZ closed the stream for a codec switch) is not read
 * after: the output is gone, and whatever comes next on its slot (the
 * switched stream) would be blamed for it. One on the slot's next attach
 * is reported. */
START_TEST(an_event_of_a_detached_output_is_not_read)
{
        struct rig r;

        rig_start(&r, MTU);
        usleep(200000);
        close(r.rx[1].peer);
        r.rx[1].peer = -1;
        wait_link_error(&r, 1);
        ck_assert_int_eq(stream_detach_bt(r.s, 1), 0);
        close(r.tx[1]);
        drain_events(&r);
        ck_assert_msg(!r.fault_seen[1], "the detached output's link error was read after its detach");
        /* the same slot, a new speaker whose link goes */
        attach(&r, 1, FAR_US);
        usleep(100000);
        close(r.rx[1].peer);
        r.rx[1].peer = -1;
        wait_link_error_event(&r, 1);
        ck_assert(r.fault_seen[1]);
        ck_assert(!r.fault_seen[0]);
        rig_stop(&r);
}
END_TEST

static Suite *suite(void)
{
        Suite *su = suite_create("engine-outputs");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, held_back_then_near_detached);
        tcase_add_test(tc, held_back_then_far_lost);
        tcase_add_test(tc, unequal_packets_presented_together);
        tcase_add_test(tc, moved_transport_continues_its_stream);
        tcase_add_test(tc, alone_with_packets_off_the_period_keeps_their_spacing);
        tcase_add_test(tc, an_event_of_a_detached_output_is_not_read);
        suite_add_tcase(su, tc);
        return su;
}

CHECK_MAIN(suite)
