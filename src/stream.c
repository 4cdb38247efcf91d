/* The real-time audio thread: reads every capture once per period of the
 * master capture (media, or the first one present), mixes each category
 * into the Bluetooth mix or the local mix as routed, hands the Bluetooth
 * mix to every Bluetooth output (stream-output.c) and writes the local mix
 * to the local output. */
#include "stream-engine.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cmd-ack.h"
#include "log.h"
#include "mixer.h"
#include "pcm.h"
#include "ring.h"
#include "sender.h"

uint64_t stream_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Slots of the event ring only an event that stops something may take:
 * each is sent once (its output, capture or local output has stopped), so
 * one lost to a ring full of level and stall news (a main loop held up in
 * a blocking call) was never sent again, and a silent speaker stayed
 * "streaming". There are fewer of them than this at any time. */
#define EV_FATAL_RESERVE 16

static bool event_stops_something(enum stream_event_type type)
{
        return type == STREAM_EV_LINK_ERROR || type == STREAM_EV_CAPTURE_ERROR ||
               type == STREAM_EV_LOCAL_ERROR;
}

static void push_event(struct stream *s, struct stream_event *ev)
{
        uint64_t one = 1;

        if (ev->output >= 0 && ev->output < STREAM_OUTPUTS_MAX && s->out[ev->output])
                ev->attach = s->out[ev->output]->attach;
        if (!event_stops_something(ev->type) &&
            ring_count(&s->ev_ring) + EV_FATAL_RESERVE >= s->ev_ring.capacity)
                return;         /* main loop is behind; counters still tell */
        if (!ring_push(&s->ev_ring, ev))
                return;
        if (write(s->ev_fd, &one, sizeof(one)) < 0) {
                /* an eventfd write fails only on counter overflow, which
                 * cannot happen at these rates */
        }
}

void stream_emit(struct stream *s, enum stream_event_type type, int value, int category, int output)
{
        struct stream_event ev = { .type = type, .value = value, .category = category, .output = output };

        push_event(s, &ev);
}

void stream_emit_level(struct stream *s, int output, unsigned level, unsigned level_value)
{
        struct stream_event ev = { .type = STREAM_EV_LEVEL, .value = (int)level, .category = -1,
                                   .output = output, .level_value = level_value };

        push_event(s, &ev);
}

static void emit(struct stream *s, enum stream_event_type type, int value, int category)
{
        stream_emit(s, type, value, category, -1);
}

static void ack(struct stream *s, uint32_t seq)
{
        uint64_t one = 1;

        cmd_ack_done(&s->acks, seq);
        if (write(s->ack_fd, &one, sizeof(one)) < 0) {
                /* see push_event() */
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

/* A capture the system suspended (the kernel leaves every PCM SUSPENDED
 * on resume): resumed where the driver can (snd-aloop), else prepared and
 * started afresh. Not snd_pcm_recover(): it sleeps a second at a time
 * while a driver is still waking, in this thread. */
static int resume_suspended(snd_pcm_t *pcm)
{
        int r = snd_pcm_resume(pcm);

        if (r == 0 && snd_pcm_state(pcm) == SND_PCM_STATE_RUNNING)
                return 0;
        r = snd_pcm_prepare(pcm);
        return r < 0 ? r : snd_pcm_start(pcm);
}

/* snd_pcm_recover, then restart: a capture stream stays stopped after an
 * overrun until started again. The audio in between is lost; the RTP
 * clock simply goes on with what comes next. */
static int recover(struct stream *s, snd_pcm_t *pcm, int err)
{
        int r;

        /* a system suspend is no overrun of ours */
        if (err == -ESTRPIPE)
                return resume_suspended(pcm);
        note_xrun(s, stream_now_ns());
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

/* Reads up to n frames from a secondary capture; what it lacks is silence.
 * behind: what the master still holds after this step (a stall's
 * backlog, caught up over the next steps), which the secondary holds as
 * well; only what it has beyond that and two periods more (a faster
 * clock) is dropped, and always enough to keep a period of its buffer
 * free (an unclocked master's backlog has no end). */
static void read_secondary(struct stream *s, int cat, size_t n, size_t behind)
{
        snd_pcm_t *pcm = s->p.capture[cat];
        size_t period = s->p.period_frames;
        size_t buffer = pcm_buffer_frames(period, CAPTURE_PERIODS, s->p.rate, CAPTURE_BUFFER_MIN_MS);
        snd_pcm_sframes_t got, avail;
        size_t have = 0;

        if (behind + n + 3 * period > buffer)
                behind = buffer > n + 3 * period ? buffer - n - 3 * period : 0;

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
                if ((size_t)avail > n + behind + 2 * period)
                        snd_pcm_forward(pcm, (snd_pcm_uframes_t)avail - n - behind - period);
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

/* One step: n frames from every capture, mixed and sent where routed;
 * behind: what the master holds still. */
static void process(struct stream *s, size_t n, size_t behind, uint64_t read_ns)
{
        unsigned routes = atomic_load_explicit(&s->routes, memory_order_relaxed);
        bool to_bt = stream_any_live(s);
        unsigned all = (1u << CAT_COUNT) - 1;
        unsigned bt_cats = to_bt ? routes & all : 0;
        int16_t *bt_out, *local_out;
        bool silent = true;

        for (int c = 0; c < CAT_COUNT; c++) {
                if (c != s->master)
                        read_secondary(s, c, n, behind);
                if (s->p.capture[c] && (routes & (1u << c)) && silent &&
                    !mixer_is_silent(s->cap[c], n * 2))
                        silent = false;
        }
        bt_out = mix_for(s, s->bt_mix, bt_cats, n);
        local_out = mix_for(s, s->local_mix, all & ~bt_cats, n);
        if (to_bt) {
                if (!bt_out) {
                        /* everything captured plays locally: the
                         * speakers hear silence, the links stay up */
                        memset(s->bt_mix, 0, n * 2 * sizeof(int16_t));
                        bt_out = s->bt_mix;
                }
                /* the mix is made once, whatever the number of outputs;
                 * each output's gain is applied on its way out */
        }
        stream_outputs_push(s, to_bt ? bt_out : NULL, n, read_ns);
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

/* When the newest frame read was captured: when the device was asked
 * what it held (avail at t), less what it still holds after the read
 * (avail - got, captured after that frame). Latency is counted from
 * there, not from the read; one pointer query a read, not two. */
static uint64_t capture_time_of_last(const struct stream *s, uint64_t t, snd_pcm_sframes_t avail,
                                     snd_pcm_sframes_t got)
{
        if (avail > got && s->p.rate)
                t -= (uint64_t)(avail - got) * 1000000000ull / s->p.rate;
        return t;
}

/* The master capture gave too little to read: a capture its driver
 * stopped for good (snd-aloop when the producer restarts at another rate:
 * DRAINING, then SETUP) or the system suspended polls as an error for
 * ever, so waiting for more would spin. */
static void check_stopped(struct stream *s, snd_pcm_t *pcm)
{
        snd_pcm_state_t st = snd_pcm_state(pcm);
        int r;

        if (st == SND_PCM_STATE_SETUP || st == SND_PCM_STATE_OPEN || st == SND_PCM_STATE_DRAINING) {
                capture_failed(s, s->master, -EBADFD);
        } else if (st == SND_PCM_STATE_DISCONNECTED) {
                capture_failed(s, s->master, -ENODEV);
        } else if (st == SND_PCM_STATE_SUSPENDED) {
                /* read empty, so no read reports -ESTRPIPE */
                r = recover(s, pcm, -ESTRPIPE);
                if (r < 0)
                        capture_failed(s, s->master, r);
        }
}

/* force: read on even with a full queue (the socket stayed full past the
 * bound: the oldest queued audio makes room) */
static void pump_master(struct stream *s, bool force)
{
        snd_pcm_t *pcm = s->p.capture[s->master];

        /* a bounded number of steps, then back to poll(): commands are
         * answered even when a capture never runs dry (unclocked) */
        for (int step = 0; step < 8; step++) {
                snd_pcm_sframes_t avail, got, held;
                uint64_t asked_ns = stream_now_ns();

                /* snd_pcm_avail asks the driver where it is (hwsync);
                 * snd_pcm_avail_update reads only what its last period
                 * interrupt left (snd-aloop moves it at period ends), so
                 * a wake-up for a packet's end between two found nothing
                 * and the packet left at the next period */
                avail = held = snd_pcm_avail(pcm);
                if (avail == -EBADFD || avail == -ENODEV) {
                        check_stopped(s, pcm);  /* stopped by its driver */
                        return;
                }
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
                if (stream_any_live(s)) {
                        /* read up to the end of the packet being filled
                         * (the earliest one, with two outputs), no
                         * further: a packet then leaves at the wake-up that
                         * completes it, and reads never drift against the
                         * capture periods (a read past the boundary would
                         * hold the next packet's start for a whole period) */
                        size_t need = stream_frames_to_packet(s);
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
                s->newest_ns = capture_time_of_last(s, asked_ns, held, got);
                s->early_wakes = 0;
                process(s, (size_t)got, held > got ? (size_t)(held - got) : 0, s->newest_ns);
                /* a full queue waits for the socket before more is read, so
                 * an unclocked source is throttled by the speaker instead of
                 * being dropped (by the faster speaker, with two) */
                if (!force && stream_all_live_full(s))
                        return;
                /* all the device held is read: what comes next wakes poll()
                 * (asking again costs a pointer query and a state query a
                 * wake-up, the most of what the thread does besides
                 * encoding) */
                if (got >= held)
                        return;
        }
}

/* Wake-ups that may find a packet's end not captured yet (a device whose
 * pointer moves in steps coarser than the estimate: snd-aloop's by
 * jiffies), each EARLY_WAKE_STEP_NS after the last; then the period's. */
#define EARLY_WAKES_MAX 3
#define EARLY_WAKE_STEP_NS 2000000ull

/* With two outputs, or one whose packets are not the capture's periods,
 * when the earliest packet's last sample is captured (0: the period's
 * wake-up will do). Their packets differ in length, and the capture's
 * periods are the first speaker's packets: the second's end anywhere in a
 * period, and waiting for the period's end would make its packets leave up
 * to a period late, unevenly (a speaker's first packet sets where it
 * plays, so that unevenness is an error in alignment). */
static uint64_t packet_due_ns(const struct stream *s)
{
        size_t need;

        if (!s->newest_ns || !s->p.rate || s->early_wakes >= EARLY_WAKES_MAX || !stream_packets_off_period(s))
                return 0;
        need = stream_frames_to_packet(s);
        if (!need)
                return 0;
        return s->newest_ns + (uint64_t)need * 1000000000ull / s->p.rate +
               s->early_wakes * EARLY_WAKE_STEP_NS;
}

/* ---- commands ------------------------------------------------------------- */

static void start_engine(struct stream *s, const struct stream_params *p)
{
        s->p = *p;
        s->active = true;
        s->local_failed = false;
        s->local_running = p->local != NULL;  /* prepared by the main thread */
        s->xrun_burst = 0;
        s->newest_ns = 0;
        s->early_wakes = 0;
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
        stream_outputs_reset(s);
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
                        stream_output_attach(s, &c);
                        break;
                case CMD_DETACH_BT:
                        stream_output_detach(s, c.slot);
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

void *stream_thread_main(void *data)
{
        struct stream *s = data;

        atomic_store(&s->tid, (int)gettid());
        for (;;) {
                struct pollfd fds[MAX_POLL_FDS];
                unsigned n = 0, npcm = 0;
                int timeout = -1, r;
                bool throttled = false, bt = false, pumped = false;
                uint64_t t, due = 0;
                struct timespec wait, *waitp = NULL;

                fds[n++] = (struct pollfd){ .fd = s->cmd_fd, .events = POLLIN };
                if (s->active && s->master >= 0 && !s->cap_failed[s->master]) {
                        throttled = stream_all_live_full(s);
                        if (!throttled) {
                                int c = snd_pcm_poll_descriptors(s->p.capture[s->master], fds + n,
                                                                 POLL_PCM_FDS);
                                if (c > 0)
                                        npcm = (unsigned)c;
                        }
                        n += npcm;
                }
                if (s->active)
                        timeout = stream_outputs_poll(s, fds, &n, throttled);
                bt = n > 1 + npcm;
                if (npcm)
                        due = packet_due_ns(s);
                if (timeout >= 0 || due) {
                        uint64_t now = stream_now_ns(), ns = timeout >= 0 ? (uint64_t)timeout * 1000000ull : UINT64_MAX;

                        if (due && (due <= now || due - now < ns))
                                ns = due > now ? due - now : 0;
                        wait = (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
                                                  .tv_nsec = (long)(ns % 1000000000ull) };
                        waitp = &wait;
                }

                r = ppoll(fds, n, waitp, NULL);
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
                end_xrun_burst(s, stream_now_ns());
                if (bt)
                        stream_outputs_revents(s, fds);
                if (r == 0 && throttled) {
                        pump_master(s, true);   /* the sockets stayed full */
                } else if (npcm) {
                        unsigned short rev = 0;
                        if (snd_pcm_poll_descriptors_revents(s->p.capture[s->master], fds + 1, npcm, &rev) < 0 ||
                            (rev & (POLLIN | POLLERR))) {
                                pump_master(s, false);
                                pumped = true;
                        }
                }
                if (due && !pumped && s->active && stream_now_ns() >= due) {
                        /* a packet's end is due: read it (a read resets
                         * the count; a device not there yet keeps it) */
                        s->early_wakes++;
                        pump_master(s, false);
                }
                t = stream_now_ns();
                stream_outputs_flush(s, t);
                stream_outputs_align(s, t);
        }
}
