/* The audio thread's Bluetooth outputs (up to STREAM_OUTPUTS_MAX): each
 * takes the one Bluetooth mix through its own delay line to its own
 * sender (encoder, queue, socket). A link error, stall or detach of one
 * stops only that one. The alignment (align.c) holds back the output with
 * the shorter path to the ear; with one output nothing is held back and
 * the mix goes to the sender as it is. Runs on the real-time thread: no
 * allocation (outputs and delay buffers come from the main thread with
 * the attach command), no lock. */
#include "stream-engine.h"

#include <errno.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "mixer.h"

bool stream_output_live(const struct stream_output *o)
{
        return o && o->bt && !o->stalled;
}

bool stream_any_live(const struct stream *s)
{
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                if (stream_output_live(s->out[i]))
                        return true;
        return false;
}

static unsigned attached_count(const struct stream *s)
{
        unsigned n = 0;

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                n += s->out[i] && s->out[i]->bt;
        return n;
}

/* The fastest output paces the capture: a slower one drops its oldest
 * audio rather than hold the other back. */
bool stream_all_live_full(const struct stream *s)
{
        bool any = false;

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                const struct stream_output *o = s->out[i];

                if (!stream_output_live(o))
                        continue;
                if (!sender_queue_full(&o->sender))
                        return false;
                any = true;
        }
        return any;
}

size_t stream_frames_to_packet(const struct stream *s)
{
        size_t need = 0;

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                const struct stream_output *o = s->out[i];
                size_t n;

                if (!stream_output_live(o))
                        continue;
                n = sender_frames_to_packet(&o->sender);
                if (!need || n < need)
                        need = n;
        }
        return need;
}

bool stream_packets_off_period(const struct stream *s)
{
        unsigned live = 0;
        bool off = false;

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                const struct stream_output *o = s->out[i];

                if (!stream_output_live(o))
                        continue;
                live++;
                off |= sender_packet_samples(&o->sender) != s->p.period_frames;
        }
        return live > 1 || off;
}

/* Two streams share the adapter's air time: each output's bit rate is
 * capped so that both fit (airtime.c); one alone is not capped. Run when
 * an output comes or goes. */
static void share_airtime(struct stream *s)
{
        struct airtime_output rates[STREAM_OUTPUTS_MAX];
        struct stream_output *live[STREAM_OUTPUTS_MAX];
        unsigned caps[STREAM_OUTPUTS_MAX], n = 0;
        uint64_t t = stream_now_ns();

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                if (s->out[i] && s->out[i]->bt) {
                        live[n] = s->out[i];
                        rates[n++] = s->out[i]->sender.rates;
                }
        airtime_plan(rates, n, AIRTIME_BUDGET_BPS, caps);
        for (unsigned i = 0; i < n; i++) {
                struct stream_output *o = live[i];

                atomic_store_explicit(&s->stats.out[o->slot].cap_bps, caps[i], memory_order_relaxed);
                if (sender_set_cap(&o->sender, caps[i], t))
                        stream_emit_level(s, (int)o->slot, o->sender.level, sender_level_value(&o->sender));
        }
}

void stream_output_fail(struct stream *s, struct stream_output *o, int err)
{
        o->bt = false;
        s->align_due = s->align_jump_ok = true;
        stream_emit(s, STREAM_EV_LINK_ERROR, err, -1, (int)o->slot);
        share_airtime(s);
}

void stream_outputs_push(struct stream *s, int16_t *mix, size_t n, uint64_t read_ns)
{
        unsigned attached = attached_count(s);

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                struct stream_output *o = s->out[i];
                unsigned gain = atomic_load_explicit(&s->gain[i], memory_order_relaxed);
                int16_t *pcm = mix;

                if (!o || !o->bt)
                        continue;
                /* alone again and no longer held back: back to the direct
                 * path (a second attach starts the line anew) */
                if (o->delayed && attached < 2 && o->dl.delay == 0 && o->dl.target == 0)
                        o->delayed = false;
                if (o->delayed && mix) {
                        delay_line_process(&o->dl, mix, o->delay_out, n);
                        pcm = o->delay_out;
                }
                /* its own volume: on its own delayed copy, or on the mix
                 * when it is the one output (a second output without a
                 * delay line, which its failed allocation leaves, plays
                 * at the mix's level rather than change the other's) */
                if (pcm && gain < MIXER_UNITY_GAIN && (o->delayed || attached < 2))
                        mixer_gain(pcm, n * 2, gain);
                if (o->stalled || !pcm) {
                        /* keep RTP time true to capture time */
                        sender_skip(&o->sender, n);
                        continue;
                }
                if (sender_push(&o->sender, pcm, n, read_ns) < 0)
                        stream_output_fail(s, o, EIO);
                else
                        atomic_fetch_add_explicit(&s->stats.out[i].bt_frames, n, memory_order_relaxed);
        }
}

static void flush_one(struct stream *s, struct stream_output *o, uint64_t t)
{
        struct stream_output_stats *st = &s->stats.out[o->slot];
        bool changed = false;
        int err = sender_flush(&o->sender, t, &changed);

        if (err) {
                stream_output_fail(s, o, err);
                return;
        }
        if (changed)
                stream_emit_level(s, (int)o->slot, o->sender.level, sender_level_value(&o->sender));
        if (!o->stalled && sender_has_queued(&o->sender) && t - o->sender.last_send_ns > STALL_NS) {
                o->stalled = true;
                atomic_fetch_add(&st->stalls, 1);
                stream_emit(s, STREAM_EV_STALLED, 0, -1, (int)o->slot);
        } else if (o->stalled && !sender_has_queued(&o->sender)) {
                o->stalled = false;
                stream_emit(s, STREAM_EV_RESUMED, 0, -1, (int)o->slot);
        }
}

void stream_outputs_flush(struct stream *s, uint64_t t)
{
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                if (s->out[i] && s->out[i]->bt)
                        flush_one(s, s->out[i], t);
}

int stream_outputs_poll(struct stream *s, struct pollfd *fds, unsigned *n, bool throttled)
{
        int timeout = -1;

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                struct stream_output *o = s->out[i];
                bool queued;
                int t;

                if (!o || !o->bt)
                        continue;
                queued = sender_has_queued(&o->sender);
                o->poll_idx = *n;
                fds[(*n)++] = (struct pollfd){ .fd = o->sender.fd, .events = queued ? POLLOUT : 0 };
                if (!queued)
                        continue;
                /* with every queue full, wait for a socket at most two
                 * packets' time (the capture buffer holds four, and 80 ms), then read
                 * on and let the oldest queued audio go */
                t = (throttled ? 2 : 1) * (int)sender_packet_ms(&o->sender) + 1;
                if (timeout < 0 || t < timeout)
                        timeout = t;
        }
        return timeout;
}

void stream_outputs_revents(struct stream *s, const struct pollfd *fds)
{
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                struct stream_output *o = s->out[i];
                short rev;
                int err = 0;
                socklen_t sl = sizeof(err);

                if (!o || !o->bt)
                        continue;
                rev = fds[o->poll_idx].revents;
                if (!(rev & (POLLHUP | POLLERR | POLLNVAL)))
                        continue;
                if (getsockopt(o->sender.fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err == 0)
                        err = rev & POLLNVAL ? EBADF : ECONNRESET;
                stream_output_fail(s, o, err);
        }
}

/* A move longer than this is a faded jump (a 10 ms dip), not a slew: at
 * 0.2 % a second speaker joining 140 ms later would be heard as an echo
 * for 70 s. Shorter moves (a speaker's Delay drifting) slew unheard. */
#define ALIGN_FADED_JUMP_US 20000u

/* What output i is held back (what its line holds, which Latency adds),
 * and what it falls short by when the other's path is longer than the
 * line (said once as it starts: the speakers are heard that far apart). */
static void publish_held_back(struct stream *s, unsigned i, uint32_t want_us, size_t held_frames)
{
        struct stream_output_stats *st = &s->stats.out[i];
        uint32_t held_us = (uint32_t)((uint64_t)held_frames * 1000000 / s->p.rate);
        /* below a millisecond it is the rounding of frames */
        uint32_t short_us = want_us > held_us + 1000 ? want_us - held_us : 0;

        /* said once an attach: a shortfall near the hysteresis would
         * come and go with every small move of the target */
        if (short_us && !s->out[i]->short_said) {
                s->out[i]->short_said = true;
                stream_emit(s, STREAM_EV_ALIGN_SHORT, (int)short_us, -1, (int)i);
        }
        atomic_store_explicit(&st->align_short_us, short_us, memory_order_relaxed);
        atomic_store_explicit(&st->align_us, short_us ? held_us : want_us, memory_order_relaxed);
}

/* Every output's delay line target from the alignment's. */
static void apply_targets(struct stream *s)
{
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                struct stream_output *o = s->out[i];
                uint32_t us = s->align.extra_us[i];
                size_t frames = (size_t)((uint64_t)us * s->p.rate / 1000000);
                size_t far = (size_t)((uint64_t)ALIGN_FADED_JUMP_US * s->p.rate / 1000000);

                if (!o || !o->delayed)
                        continue;
                delay_line_set_target(&o->dl, frames);
                if (s->align_jump_ok &&
                    (o->dl.delay > o->dl.target ? o->dl.delay - o->dl.target : o->dl.target - o->dl.delay) > far)
                        delay_line_jump_faded(&o->dl);
                publish_held_back(s, i, us, o->dl.target);
        }
}

static void work_out_alignment(struct stream *s)
{
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                struct stream_output *o = s->out[i];
                struct align_path p = { .present = false };

                if (o && o->bt && o->stalled)
                        continue;       /* its last path stands: it comes back */
                if (o && o->bt) {
                        p.present = true;
                        p.queue_us = atomic_load_explicit(&s->stats.out[i].hold_us, memory_order_relaxed);
                        if (!o->measured && p.queue_us != o->hold_guess) {
                                /* the first measure replaces the guess the
                                 * output was attached with, rather than be
                                 * averaged in with it */
                                align_set_path(&s->align, i, &(struct align_path){ .present = false });
                                o->measured = true;
                                /* no far jump for it: the guess is near,
                                 * and one interval's socket backlog may
                                 * be a moment's */
                        }
                        p.codec_us = o->codec_us;
                        p.speaker_us = atomic_load_explicit(&s->speaker_us[i], memory_order_relaxed);
                        if (s->align.path[i].present && p.speaker_us != s->align.path[i].speaker_us)
                                s->align_jump_ok = true;    /* the speaker said so */
                }
                align_set_path(&s->align, i, &p);
        }
}

void stream_outputs_align(struct stream *s, uint64_t t)
{
        bool any = false;

        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                any |= s->out[i] && s->out[i]->delayed;
        if (!any)
                return;         /* one output alone: nothing to hold back */
        if (!s->align_due && t - s->align_at_ns < ALIGN_INTERVAL_NS)
                return;
        s->align_due = false;
        s->align_at_ns = t;
        work_out_alignment(s);
        if (align_update(&s->align))
                apply_targets(s);
        s->align_jump_ok = false;
}

/* Once two outputs are attached, every attached output with a buffer gets
 * its delay line; until then each goes straight to its sender. */
static void start_delay_lines(struct stream *s)
{
        if (attached_count(s) < 2)
                return;
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                struct stream_output *o = s->out[i];

                if (!o || !o->bt || o->delayed || !s->dl_buf[i])
                        continue;
                if (delay_line_init(&o->dl, s->dl_buf[i], STREAM_ALIGN_MAX_FRAMES, 2, s->p.rate) < 0)
                        continue;
                o->delay_out = s->dl_buf[i] + (size_t)STREAM_ALIGN_MAX_FRAMES * 2;
                o->delayed = true;
        }
}

/* A transport attached again within a second of its last packet (moved
 * to another slot when the other speaker left, or the engine restarted
 * under it): its RTP stream goes on (source, next sequence number and
 * timestamp), so the speaker sees neither a new source nor lost packets,
 * only audio resuming. */
static bool continues_rtp(const struct stream *s, const struct command *c, uint32_t seeds[3])
{
        uint64_t now = stream_now_ns();
        const struct stream_output *o = NULL;

        /* the fd number may have been another transport's before: the
         * sender that sent last on it is this one's */
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                const struct stream_output *x = s->out[i];

                if (!x || x->bt || !x->sender.codec || x->sender.fd != c->bt.fd ||
                    x->sender.codec != c->bt.codec || now - x->sender.last_send_ns > 1000000000ull)
                        continue;
                if (!o || x->sender.last_send_ns > o->sender.last_send_ns)
                        o = x;
        }
        if (!o)
                return false;
        seeds[0] = o->sender.rtp.ssrc;
        seeds[1] = o->sender.rtp.seq;
        /* what was queued and not sent is lost: the stream goes on from
         * the first of it */
        seeds[2] = o->sender.q_count ? o->sender.queue[o->sender.q_head].meta.timestamp
                   : o->sender.building ? o->sender.building->meta.timestamp
                                        : o->sender.next_ts;
        return true;
}

void stream_output_attach(struct stream *s, const struct command *c)
{
        struct stream_output *o = c->out;
        struct stream_output_stats *st = &s->stats.out[c->slot];
        uint32_t seeds[3] = { 0x1234, 0x5678, 0x9abc };

        if (!continues_rtp(s, c, seeds) && getrandom(seeds, sizeof(seeds), GRND_NONBLOCK) < 0) {
                /* fixed values are as valid for RTP, just less unique */
        }
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                if (c->delay_buf[i])
                        s->dl_buf[i] = c->delay_buf[i];
        s->out[c->slot] = o;
        o->slot = c->slot;
        o->attach = c->attach;
        sender_init(&o->sender, c->bt.fd, c->bt.write_mtu, c->bt.codec, c->enc, &c->bt.info, st, seeds);
        o->bt = true;
        o->stalled = false;
        o->measured = false;
        o->sender.last_send_ns = stream_now_ns();
        o->codec_us = (uint32_t)((uint64_t)c->bt.info.delay_samples * 1000000 / c->bt.info.rate);
        atomic_store(&st->queue_us, 0);
        /* until measured, a packet that leaves once full: its first
         * sample waited its duration (a guess within a few ms, so that
         * the newcomer starts near where it will stay) */
        o->hold_guess = sender_packet_us(&o->sender);
        atomic_store(&st->hold_us, o->hold_guess);
        atomic_store(&st->align_us, 0);
        atomic_store(&st->align_short_us, 0);
        o->short_said = false;
        /* what the slot's last speaker measured is forgotten */
        align_set_path(&s->align, c->slot, &(struct align_path){ .present = false });
        share_airtime(s);
        start_delay_lines(s);
        if (!o->delayed)
                return;
        /* the newcomer starts at its delay at once (the line's history is
         * silence: its stream simply begins later); the output already
         * playing follows slowly or at silence */
        s->align_due = s->align_jump_ok = true;
        stream_outputs_align(s, stream_now_ns());
        apply_targets(s);
        delay_line_reset(&o->dl);
}

void stream_output_detach(struct stream *s, unsigned slot)
{
        if (slot < STREAM_OUTPUTS_MAX && s->out[slot]) {
                s->out[slot]->bt = false;
                s->align_due = s->align_jump_ok = true;
                share_airtime(s);
        }
}

void stream_outputs_reset(struct stream *s)
{
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                if (s->out[i]) {
                        s->out[i]->bt = false;
                        s->out[i]->delayed = false;
                }
        align_init(&s->align);
        s->align_due = false;
}
