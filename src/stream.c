/* The real-time audio thread: reads every capture once per period of the
 * master capture (media, or the first one present), mixes each category
 * into the Bluetooth mix or the local mix as routed, hands the Bluetooth
 * mix to the SBC sender and writes the local mix to the local output. */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmd-ack.h"
#include "log.h"
#include "mixer.h"
#include "ring.h"
#include "sbc-sender.h"

/* Frames handled per step (a whole packet of 15 frames of 128 fits); a
 * burst after a stall is taken in such steps. */
#define CHUNK_FRAMES 2048
#define MAX_POLL_FDS 8
/* A speaker that takes nothing for this long has stalled: its audio plays
 * locally until it takes packets again (the sender's own threshold). */
#define STALL_NS SENDER_STALL_NS
/* How long the main loop waits for the thread to answer a command. */
#define ACK_TIMEOUT_NS 2000000000ull

enum command_type { CMD_START, CMD_STOP, CMD_ATTACH_BT, CMD_DETACH_BT, CMD_SET_CAPTURE, CMD_QUIT };

struct command {
        enum command_type type;
        uint32_t seq;           /* cmd_ack number */
        struct stream_params params;
        struct stream_bt_params bt;
        int category;            /* CMD_SET_CAPTURE */
        snd_pcm_t *capture;
};

struct stream {
        pthread_t thread;
        int cmd_fd;             /* main -> thread: commands queued */
        int ev_fd;              /* thread -> main: events queued */
        int ack_fd;             /* thread -> main: a command done (wakes the waiter) */
        struct cmd_ack acks;    /* which command is done */
        /* A command went unanswered: the thread may still be inside what it
         * was given, so nothing it holds is touched or freed again, and no
         * further command is sent (main loop only). */
        bool wedged;
        struct ring cmd_ring, ev_ring;
        struct command cmd_buf[4];
        struct stream_event ev_buf[64];
        struct stream_stats stats;
        _Atomic unsigned gain;
        _Atomic unsigned routes;
        _Atomic bool running;
        _Atomic bool bt_attached;
        _Atomic int tid;        /* kernel thread id, for rtkit */
        bool thread_started;
        unsigned rate;
        sbc_t sbc;              /* set up by the main thread before ATTACH */
        bool sbc_ready;

        /* Everything below belongs to the thread while the engine runs. */
        bool active;
        struct stream_params p;
        int master;             /* category whose capture paces the thread */
        bool cap_failed[CAT_COUNT];
        bool local_failed;
        bool local_running;
        bool bt;                /* Bluetooth attached and not failed */
        bool bt_stalled;
        struct sbc_sender sender;
        int16_t cap[CAT_COUNT][CHUNK_FRAMES * 2];
        int16_t bt_mix[CHUNK_FRAMES * 2];
        int16_t local_mix[CHUNK_FRAMES * 2];
        unsigned xrun_burst;
        uint64_t last_xrun_ns;
};

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit(struct stream *s, enum stream_event_type type, int value, int category)
{
        struct stream_event ev = { .type = type, .value = value, .category = category };
        uint64_t one = 1;

        if (!ring_push(&s->ev_ring, &ev))
                return;         /* main loop is behind; counters still tell */
        if (write(s->ev_fd, &one, sizeof(one)) < 0) {
                /* an eventfd write fails only on counter overflow, which
                 * cannot happen at these rates */
        }
}

static void ack(struct stream *s, uint32_t seq)
{
        uint64_t one = 1;

        cmd_ack_done(&s->acks, seq);
        if (write(s->ack_fd, &one, sizeof(one)) < 0) {
                /* see emit() */
        }
}

/* ---- Bluetooth ------------------------------------------------------------ */

static void bt_fail(struct stream *s, int err)
{
        s->bt = false;
        emit(s, STREAM_EV_LINK_ERROR, err, -1);
}

static void bt_flush(struct stream *s, uint64_t t)
{
        bool changed = false;
        int err = sbc_sender_flush(&s->sender, t, &changed);

        if (err) {
                bt_fail(s, err);
                return;
        }
        if (changed)
                emit(s, STREAM_EV_BITPOOL, (int)s->sender.bitpool, -1);
        if (!s->bt_stalled && sbc_sender_has_queued(&s->sender) &&
            t - s->sender.last_send_ns > STALL_NS) {
                s->bt_stalled = true;
                atomic_fetch_add(&s->stats.stalls, 1);
                emit(s, STREAM_EV_STALLED, 0, -1);
        } else if (s->bt_stalled && !sbc_sender_has_queued(&s->sender)) {
                s->bt_stalled = false;
                emit(s, STREAM_EV_RESUMED, 0, -1);
        }
}

/* ---- capture -------------------------------------------------------------- */

/* One event per burst: xruns closer than a second belong together, and a
 * second without one ends the burst (reported then, not at the next one). */
#define XRUN_BURST_GAP_NS 1000000000ull

static void end_xrun_burst(struct stream *s, uint64_t t)
{
        if (s->xrun_burst && t - s->last_xrun_ns > XRUN_BURST_GAP_NS) {
                emit(s, STREAM_EV_XRUN_BURST, (int)s->xrun_burst, -1);
                s->xrun_burst = 0;
        }
}

static void note_xrun(struct stream *s, uint64_t t)
{
        atomic_fetch_add(&s->stats.xruns, 1);
        end_xrun_burst(s, t);
        s->xrun_burst++;
        s->last_xrun_ns = t;
}

/* snd_pcm_recover, then restart: a capture stream stays stopped after an
 * overrun until started again. The audio in between is lost; the RTP
 * clock simply goes on with what comes next. */
static int recover(struct stream *s, snd_pcm_t *pcm, int err)
{
        int r;

        note_xrun(s, now_ns());
        r = snd_pcm_recover(pcm, err, 1);
        if (r < 0)
                return r;
        r = snd_pcm_start(pcm);
        return r == -EBADFD ? 0 : r;
}

static void capture_failed(struct stream *s, int cat, int err)
{
        s->cap_failed[cat] = true;
        emit(s, STREAM_EV_CAPTURE_ERROR, err, cat);
}

/* Reads up to n frames from a secondary capture; what it lacks is silence,
 * what it has beyond two periods (a faster clock) is dropped. */
static void read_secondary(struct stream *s, int cat, size_t n)
{
        snd_pcm_t *pcm = s->p.capture[cat];
        snd_pcm_sframes_t got, avail;
        size_t have = 0;

        if (!pcm)
                return;         /* not captured: mixing skips it */
        if (s->cap_failed[cat]) {
                memset(s->cap[cat], 0, n * 2 * sizeof(int16_t));
                return;
        }
        avail = snd_pcm_avail_update(pcm);
        if (avail < 0) {
                if (recover(s, pcm, (int)avail) < 0)
                        capture_failed(s, cat, (int)avail);
        } else {
                if ((size_t)avail > n + 2 * (size_t)s->p.period_frames)
                        snd_pcm_forward(pcm, (snd_pcm_uframes_t)avail - n - s->p.period_frames);
                got = snd_pcm_readi(pcm, s->cap[cat], n);
                if (got > 0)
                        have = (size_t)got;
                else if (got < 0 && got != -EAGAIN && recover(s, pcm, (int)got) < 0)
                        capture_failed(s, cat, (int)got);
        }
        if (have < n)
                memset(s->cap[cat] + have * 2, 0, (n - have) * 2 * sizeof(int16_t));
}

static void play_local(struct stream *s, const int16_t *buf, size_t n)
{
        snd_pcm_t *pcm = s->p.local;
        int retried = 0;

        if (!pcm || s->local_failed)
                return;
        if (!s->local_running) {
                if (snd_pcm_prepare(pcm) < 0) {
                        s->local_failed = true;
                        emit(s, STREAM_EV_LOCAL_ERROR, -EIO, -1);
                        return;
                }
                s->local_running = true;
        }
        while (n) {
                snd_pcm_sframes_t w = snd_pcm_writei(pcm, buf, n);

                if (w == -EAGAIN) {
                        /* the local clock runs slower than capture's */
                        atomic_fetch_add(&s->stats.local_dropped, n);
                        return;
                }
                if (w < 0) {
                        if (retried++ || snd_pcm_recover(pcm, (int)w, 1) < 0) {
                                s->local_failed = true;
                                emit(s, STREAM_EV_LOCAL_ERROR, (int)w, -1);
                                return;
                        }
                        atomic_fetch_add(&s->stats.local_underruns, 1);
                        continue;
                }
                atomic_fetch_add_explicit(&s->stats.local_frames, (uint64_t)w, memory_order_relaxed);
                buf += w * 2;
                n -= (size_t)w;
        }
}

/* The audio one output plays from the captures in cats: a capture's own
 * buffer when it alone goes there (the usual case, media only: no copy, no
 * mix), else their mix in mix; NULL when none goes there. */
static int16_t *mix_for(struct stream *s, int16_t *mix, unsigned cats, size_t n)
{
        int16_t *only = NULL;
        bool mixed = false;

        for (int c = 0; c < CAT_COUNT; c++) {
                if (!(cats & (1u << c)) || !s->p.capture[c])
                        continue;
                if (!only) {
                        only = s->cap[c];
                        continue;
                }
                if (!mixed) {
                        memcpy(mix, only, n * 2 * sizeof(int16_t));
                        mixed = true;
                }
                mixer_add(mix, s->cap[c], n * 2);
        }
        return mixed ? mix : only;
}

/* One step: n frames from every capture, mixed and sent where routed. */
static void process(struct stream *s, size_t n, uint64_t read_ns)
{
        unsigned routes = atomic_load_explicit(&s->routes, memory_order_relaxed);
        bool to_bt = s->bt && !s->bt_stalled;
        unsigned all = (1u << CAT_COUNT) - 1;
        unsigned bt_cats = to_bt ? routes & all : 0;
        int16_t *bt_out, *local_out;
        bool silent = true;

        for (int c = 0; c < CAT_COUNT; c++) {
                if (c != s->master)
                        read_secondary(s, c, n);
                if (s->p.capture[c] && (routes & (1u << c)) && silent &&
                    !mixer_is_silent(s->cap[c], n * 2))
                        silent = false;
        }
        bt_out = mix_for(s, s->bt_mix, bt_cats, n);
        local_out = mix_for(s, s->local_mix, all & ~bt_cats, n);
        if (s->bt) {
                if (to_bt) {
                        if (!bt_out) {
                                /* everything captured plays locally: the
                                 * speaker hears silence, the link stays up */
                                memset(s->bt_mix, 0, n * 2 * sizeof(int16_t));
                                bt_out = s->bt_mix;
                        }
                        mixer_gain(bt_out, n * 2, atomic_load_explicit(&s->gain, memory_order_relaxed));
                        if (sbc_sender_push(&s->sender, bt_out, n, read_ns) < 0)
                                bt_fail(s, EIO);
                        else
                                atomic_fetch_add_explicit(&s->stats.bt_frames, n, memory_order_relaxed);
                } else {
                        /* stalled: keep RTP time true to capture time */
                        sbc_sender_skip(&s->sender, n);
                }
        }
        /* for idle suspend: how long the Bluetooth-bound audio is silent */
        if (silent)
                atomic_fetch_add_explicit(&s->stats.silent_run, n, memory_order_relaxed);
        else
                atomic_store_explicit(&s->stats.silent_run, 0, memory_order_relaxed);
        /* the local output runs only while something plays there, so a
         * board streaming everything to Bluetooth keeps its amplifier idle */
        if (local_out) {
                play_local(s, local_out, n);
        } else if (s->local_running) {
                snd_pcm_drop(s->p.local);
                s->local_running = false;
        }
}

/* When the newest frame just read was captured: now, less what the
 * device has captured since (still waiting in its buffer). Latency is
 * counted from there, not from the read. */
static uint64_t capture_time_of_last(struct stream *s, snd_pcm_t *pcm)
{
        uint64_t t = now_ns();
        snd_pcm_sframes_t behind = snd_pcm_avail_update(pcm);

        if (behind > 0 && s->p.rate)
                t -= (uint64_t)behind * 1000000000ull / s->p.rate;
        return t;
}

/* The master capture gave too little to read: a capture its driver
 * stopped for good (snd-aloop when the producer restarts at another rate:
 * DRAINING, then SETUP) polls as an error for ever, so waiting for more
 * would spin. */
static void check_stopped(struct stream *s, snd_pcm_t *pcm)
{
        snd_pcm_state_t st = snd_pcm_state(pcm);

        if (st == SND_PCM_STATE_SETUP || st == SND_PCM_STATE_OPEN || st == SND_PCM_STATE_DRAINING)
                capture_failed(s, s->master, -EBADFD);
        else if (st == SND_PCM_STATE_DISCONNECTED)
                capture_failed(s, s->master, -ENODEV);
}

/* force: read on even with a full queue (the socket stayed full past the
 * bound: the oldest queued audio makes room) */
static void pump_master(struct stream *s, bool force)
{
        snd_pcm_t *pcm = s->p.capture[s->master];

        /* a bounded number of steps, then back to poll(): commands are
         * answered even when a capture never runs dry (unclocked) */
        for (int step = 0; step < 8; step++) {
                snd_pcm_sframes_t avail, got;

                avail = snd_pcm_avail_update(pcm);
                if (avail < 0) {
                        int r = recover(s, pcm, (int)avail);
                        if (r < 0)
                                capture_failed(s, s->master, r);
                        return;
                }
                if (avail == 0) {
                        check_stopped(s, pcm);
                        return;
                }
                if (avail > CHUNK_FRAMES)
                        avail = CHUNK_FRAMES;
                if (s->bt && !s->bt_stalled) {
                        /* read up to the end of the packet being filled, no
                         * further: a packet then leaves at the wake-up that
                         * completes it, and reads never drift against the
                         * capture periods (a read past the boundary would
                         * hold the next packet's start for a whole period) */
                        size_t need = sbc_sender_frames_to_packet(&s->sender);
                        /* short of a packet: wait for the period that
                         * completes it (poll wakes at a period; a packet
                         * larger than one, after a bitpool step down, is
                         * read in parts instead of spinning) */
                        if ((size_t)avail < need && need <= s->p.period_frames) {
                                check_stopped(s, pcm);
                                return;
                        }
                        if ((size_t)avail > need)
                                avail = (snd_pcm_sframes_t)need;
                }
                got = snd_pcm_readi(pcm, s->cap[s->master], (snd_pcm_uframes_t)avail);
                if (got == -EAGAIN || got == 0)
                        return;
                if (got < 0) {
                        int r = recover(s, pcm, (int)got);
                        if (r < 0)
                                capture_failed(s, s->master, r);
                        return;
                }
                atomic_fetch_add_explicit(&s->stats.capture_frames, (uint64_t)got, memory_order_relaxed);
                process(s, (size_t)got, capture_time_of_last(s, pcm));
                /* a full queue waits for the socket before more is read, so
                 * an unclocked source is throttled by the speaker instead of
                 * being dropped */
                if (!force && s->bt && !s->bt_stalled && sbc_sender_queue_full(&s->sender))
                        return;
        }
}

/* ---- commands ------------------------------------------------------------- */

static void start_engine(struct stream *s, const struct stream_params *p)
{
        s->p = *p;
        s->active = true;
        s->local_failed = false;
        s->local_running = p->local != NULL;  /* prepared by the main thread */
        s->xrun_burst = 0;
        s->master = -1;
        for (int c = 0; c < CAT_COUNT; c++) {
                s->cap_failed[c] = false;
                if (p->capture[c] && s->master < 0)
                        s->master = c;
        }
        for (int c = 0; c < CAT_COUNT; c++) {
                int r;
                if (!p->capture[c])
                        continue;
                r = snd_pcm_start(p->capture[c]);
                if (r < 0 && r != -EBADFD)
                        capture_failed(s, c, r);
        }
}

static void stop_engine(struct stream *s)
{
        if (!s->active)
                return;
        if (s->xrun_burst)
                emit(s, STREAM_EV_XRUN_BURST, (int)s->xrun_burst, -1);
        for (int c = 0; c < CAT_COUNT; c++)
                if (s->p.capture[c])
                        snd_pcm_drop(s->p.capture[c]);
        if (s->p.local)
                snd_pcm_drop(s->p.local);
        s->active = false;
        s->bt = false;
}

static void attach_bt(struct stream *s, const struct stream_bt_params *bt)
{
        uint32_t seeds[3] = { 0x1234, 0x5678, 0x9abc };

        if (getrandom(seeds, sizeof(seeds), GRND_NONBLOCK) < 0) {
                /* fixed values are as valid for RTP, just less unique */
        }
        sbc_sender_init(&s->sender, bt->fd, bt->write_mtu, &bt->sbc, &s->sbc, &s->stats, seeds);
        s->bt = true;
        s->bt_stalled = false;
        s->sender.last_send_ns = now_ns();
}

/* A secondary capture replaced (reopened after it failed); the master
 * paces the engine and is only changed by a restart. */
static void set_capture(struct stream *s, int cat, snd_pcm_t *pcm)
{
        int r;

        if (!s->active || cat == s->master || cat < 0 || cat >= CAT_COUNT)
                return;
        if (s->p.capture[cat])
                snd_pcm_drop(s->p.capture[cat]);
        s->p.capture[cat] = pcm;
        s->cap_failed[cat] = false;
        if (!pcm)
                return;
        r = snd_pcm_start(pcm);
        if (r < 0 && r != -EBADFD)
                capture_failed(s, cat, r);
}

/* Returns false when the thread must exit. */
static bool handle_commands(struct stream *s)
{
        struct command c;
        uint64_t n;

        if (read(s->cmd_fd, &n, sizeof(n)) < 0) {
                /* EAGAIN: the counter was drained by an earlier read */
        }
        while (ring_pop(&s->cmd_ring, &c)) {
                switch (c.type) {
                case CMD_START:
                        stop_engine(s);
                        start_engine(s, &c.params);
                        break;
                case CMD_STOP:
                        stop_engine(s);
                        break;
                case CMD_ATTACH_BT:
                        attach_bt(s, &c.bt);
                        break;
                case CMD_DETACH_BT:
                        s->bt = false;
                        break;
                case CMD_SET_CAPTURE:
                        set_capture(s, c.category, c.capture);
                        break;
                case CMD_QUIT:
                        stop_engine(s);
                        ack(s, c.seq);
                        return false;
                }
                ack(s, c.seq);
        }
        return true;
}

static void *thread_main(void *data)
{
        struct stream *s = data;

        atomic_store(&s->tid, (int)gettid());
        for (;;) {
                struct pollfd fds[MAX_POLL_FDS];
                unsigned n = 0, npcm = 0, sock_idx = 0;
                int timeout = -1, r;
                bool throttled = false;

                fds[n++] = (struct pollfd){ .fd = s->cmd_fd, .events = POLLIN };
                if (s->active && s->master >= 0 && !s->cap_failed[s->master]) {
                        throttled = s->bt && !s->bt_stalled && sbc_sender_queue_full(&s->sender);
                        if (!throttled) {
                                int c = snd_pcm_poll_descriptors(s->p.capture[s->master], fds + n,
                                                                 MAX_POLL_FDS - 2);
                                if (c > 0)
                                        npcm = (unsigned)c;
                        }
                        n += npcm;
                }
                if (s->active && s->bt) {
                        sock_idx = n;
                        fds[n++] = (struct pollfd){ .fd = s->sender.fd,
                                                    .events = sbc_sender_has_queued(&s->sender) ? POLLOUT : 0 };
                        /* with a full queue, wait for the socket at most two
                         * packets' time (the capture buffer holds four), then
                         * read on and let the oldest queued audio go */
                        if (throttled)
                                timeout = 2 * (int)sbc_sender_packet_ms(&s->sender) + 1;
                        else if (sbc_sender_has_queued(&s->sender))
                                timeout = (int)sbc_sender_packet_ms(&s->sender) + 1;
                }

                r = poll(fds, n, timeout);
                if (r < 0 && errno != EINTR)
                        continue;
                atomic_fetch_add_explicit(&s->stats.wakeups, 1, memory_order_relaxed);

                if (fds[0].revents & POLLIN) {
                        if (!handle_commands(s))
                                return NULL;
                        continue;
                }
                if (!s->active)
                        continue;
                end_xrun_burst(s, now_ns());
                if (s->bt && (fds[sock_idx].revents & (POLLHUP | POLLERR | POLLNVAL))) {
                        int err = 0;
                        socklen_t sl = sizeof(err);
                        if (getsockopt(s->sender.fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err == 0)
                                err = fds[sock_idx].revents & POLLNVAL ? EBADF : ECONNRESET;
                        bt_fail(s, err);
                }
                if (r == 0 && s->bt && throttled) {
                        pump_master(s, true);   /* the socket stayed full */
                } else if (npcm) {
                        unsigned short rev = 0;
                        if (snd_pcm_poll_descriptors_revents(s->p.capture[s->master], fds + 1, npcm, &rev) < 0 ||
                            (rev & (POLLIN | POLLERR)))
                                pump_master(s, false);
                }
                if (s->bt)
                        bt_flush(s, now_ns());
        }
}

/* ---- main-thread API -------------------------------------------------------- */

/* Waits for command seq itself to be done; a wake-up for an earlier one
 * (answered late) is drained and waited past. */
static int wait_ack(struct stream *s, uint32_t seq)
{
        uint64_t deadline = now_ns() + ACK_TIMEOUT_NS;

        for (;;) {
                struct pollfd pfd = { .fd = s->ack_fd, .events = POLLIN };
                uint64_t t = now_ns(), n;
                int r;

                if (cmd_ack_answered(&s->acks, seq))
                        return 0;
                if (t >= deadline)
                        return -ETIMEDOUT;
                r = poll(&pfd, 1, (int)((deadline - t + 999999) / 1000000));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 && read(s->ack_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                        return -errno;
        }
}

/* A command not answered in time makes the stream wedged for good: the
 * thread is broken, and what the command handed over or asked back is
 * still the thread's (callers must leave it alone: stream_wedged()). */
static int send_command(struct stream *s, struct command *c)
{
        uint64_t one = 1;
        int r;

        if (s->wedged)
                return -ETIMEDOUT;
        c->seq = cmd_ack_next(&s->acks);
        if (!ring_push(&s->cmd_ring, c))
                return -EBUSY;
        if (write(s->cmd_fd, &one, sizeof(one)) < 0)
                return -errno;
        r = wait_ack(s, c->seq);
        if (r < 0) {
                /* not known to have run: as good as unanswered */
                s->wedged = true;
                log_err("the audio thread is stuck: command %u unanswered after %llu s (%s)",
                        (unsigned)c->type, ACK_TIMEOUT_NS / 1000000000ull, strerror(-r));
        }
        return r;
}

bool stream_wedged(struct stream *s)
{
        return s->wedged;
}

int stream_create(struct stream **out, int rt_priority, bool *rt_granted)
{
        struct stream *s;
        pthread_attr_t attr;
        int r;

        *rt_granted = false;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cmd_fd = s->ev_fd = s->ack_fd = -1;
        atomic_init(&s->gain, MIXER_UNITY_GAIN);
        atomic_init(&s->routes, 1u << CAT_MEDIA);
        cmd_ack_init(&s->acks);
        if (ring_init(&s->cmd_ring, s->cmd_buf, sizeof(struct command), 4) < 0 ||
            ring_init(&s->ev_ring, s->ev_buf, sizeof(struct stream_event), 64) < 0) {
                r = -EINVAL;
                goto fail;
        }
        s->cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->ack_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->cmd_fd < 0 || s->ev_fd < 0 || s->ack_fd < 0) {
                r = -errno;
                goto fail;
        }

        pthread_attr_init(&attr);
        r = EPERM;
        if (rt_priority > 0) {
                struct sched_param sp = { .sched_priority = rt_priority };
                pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
                pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
                pthread_attr_setschedparam(&attr, &sp);
                r = pthread_create(&s->thread, &attr, thread_main, s);
                if (r == 0)
                        *rt_granted = true;
                pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
        }
        if (r == EPERM)
                r = pthread_create(&s->thread, &attr, thread_main, s);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                r = -r;
                goto fail;
        }
        pthread_setname_np(s->thread, "a2dpsrc-audio");
        s->thread_started = true;
        *out = s;
        return 0;
fail:
        if (s->cmd_fd >= 0)
                close(s->cmd_fd);
        if (s->ev_fd >= 0)
                close(s->ev_fd);
        if (s->ack_fd >= 0)
                close(s->ack_fd);
        free(s);
        return r;
}

void stream_destroy(struct stream *s)
{
        struct command c = { .type = CMD_QUIT };

        if (!s)
                return;
        if (s->thread_started && send_command(s, &c) < 0) {
                /* the thread may still run on s, its encoder and its fds:
                 * all of it is left to the process's end, on purpose */
                log_err("the audio thread did not quit: its resources are left to it");
                return;
        }
        if (s->thread_started)
                pthread_join(s->thread, NULL);
        if (s->sbc_ready)
                sbc_finish(&s->sbc);
        close(s->cmd_fd);
        close(s->ev_fd);
        close(s->ack_fd);
        free(s);
}

int stream_start(struct stream *s, const struct stream_params *p)
{
        struct command c = { .type = CMD_START, .params = *p };
        bool any = false;
        int r;

        for (int i = 0; i < CAT_COUNT; i++)
                any |= p->capture[i] != NULL;
        if (!any || p->rate == 0)
                return -EINVAL;
        if (atomic_load(&s->running))
                return -EBUSY;
        r = send_command(s, &c);
        if (r == 0) {
                s->rate = p->rate;
                atomic_store(&s->running, true);
        }
        return r;
}

int stream_stop(struct stream *s)
{
        struct command c = { .type = CMD_STOP };
        int r;

        if (!atomic_load(&s->running))
                return 0;
        r = send_command(s, &c);
        if (r < 0)
                return r;       /* the captures, local output, socket: still the thread's */
        atomic_store(&s->running, false);
        atomic_store(&s->bt_attached, false);
        return 0;
}

bool stream_running(struct stream *s)
{
        return atomic_load(&s->running);
}

unsigned stream_rate(struct stream *s)
{
        return atomic_load(&s->running) ? s->rate : 0;
}

int stream_attach_bt(struct stream *s, const struct stream_bt_params *bt)
{
        struct command c = { .type = CMD_ATTACH_BT, .bt = *bt };
        int r;

        if (!atomic_load(&s->running) || bt->sbc.rate != s->rate || bt->sbc.channels != 2)
                return -EINVAL;
        if (atomic_load(&s->bt_attached))
                return -EBUSY;
        if (s->wedged)
                return -ETIMEDOUT;      /* the encoder may still be in the thread's hands */
        if (s->sbc_ready) {
                sbc_finish(&s->sbc);
                s->sbc_ready = false;
        }
        if (sbc_init_a2dp(&s->sbc, 0, bt->config, A2DP_SBC_INFO_LEN) < 0)
                return -EINVAL;
        s->sbc.endian = SBC_LE;
        s->sbc_ready = true;
        r = send_command(s, &c);
        if (r == 0)
                atomic_store(&s->bt_attached, true);
        return r;
}

int stream_detach_bt(struct stream *s)
{
        struct command c = { .type = CMD_DETACH_BT };
        int r;

        if (!atomic_load(&s->bt_attached))
                return 0;
        r = send_command(s, &c);
        if (r < 0)
                return r;       /* the socket is still the thread's */
        atomic_store(&s->bt_attached, false);
        return 0;
}

int stream_set_capture(struct stream *s, int category, snd_pcm_t *pcm)
{
        struct command c = { .type = CMD_SET_CAPTURE, .category = category, .capture = pcm };

        if (!atomic_load(&s->running))
                return -EINVAL;
        return send_command(s, &c);
}

int stream_thread_id(struct stream *s)
{
        for (int i = 0; i < 100 && !atomic_load(&s->tid); i++)
                usleep(1000);   /* the thread has just been created */
        return atomic_load(&s->tid);
}

bool stream_bt_attached(struct stream *s)
{
        return atomic_load(&s->bt_attached);
}

void stream_set_routes(struct stream *s, unsigned bt_mask)
{
        atomic_store(&s->routes, bt_mask);
}

void stream_set_gain(struct stream *s, unsigned gain)
{
        atomic_store(&s->gain, gain > MIXER_UNITY_GAIN ? MIXER_UNITY_GAIN : gain);
}

int stream_event_fd(struct stream *s)
{
        return s->ev_fd;
}

bool stream_next_event(struct stream *s, struct stream_event *ev)
{
        uint64_t n;

        if (read(s->ev_fd, &n, sizeof(n)) < 0) {
                /* EAGAIN: the counter was already drained */
        }
        return ring_pop(&s->ev_ring, ev);
}

const struct stream_stats *stream_stats(struct stream *s)
{
        return &s->stats;
}

uint32_t stream_latency_percentile(const struct stream_stats *st, unsigned pct)
{
        uint64_t total = 0, acc = 0, want;

        for (unsigned i = 0; i < STREAM_LATENCY_BUCKETS; i++)
                total += atomic_load(&st->latency_hist[i]);
        if (total == 0)
                return 0;
        want = (total * pct + 99) / 100;
        for (unsigned i = 0; i < STREAM_LATENCY_BUCKETS; i++) {
                acc += atomic_load(&st->latency_hist[i]);
                if (acc >= want)
                        return (i + 1) * STREAM_LATENCY_BUCKET_US;
        }
        return STREAM_LATENCY_BUCKETS * STREAM_LATENCY_BUCKET_US;
}
