/* The main-thread side of the audio engine: creating and ending the
 * thread, handing it resources by command and waiting for each command's
 * own answer, and reading what it reports. */
#include "stream-engine.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "mixer.h"



/* Waits for command seq itself to be done; a wake-up for an earlier one
 * (answered late) is drained and waited past. */
static int wait_ack(struct stream *s, uint32_t seq)
{
        uint64_t deadline = stream_now_ns() + ACK_TIMEOUT_NS;

        for (;;) {
                struct pollfd pfd = { .fd = s->ack_fd, .events = POLLIN };
                uint64_t t = stream_now_ns(), n;
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
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                atomic_init(&s->gain[i], MIXER_UNITY_GAIN);
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
                r = pthread_create(&s->thread, &attr, stream_thread_main, s);
                if (r == 0)
                        *rt_granted = true;
                pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
        }
        if (r == EPERM)
                r = pthread_create(&s->thread, &attr, stream_thread_main, s);
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

/* The encoder of the slot's last attach: the thread no longer uses it
 * (detached, stopped or quit, each acknowledged) when this is called. */
static void free_encoder(struct stream *s, unsigned slot)
{
        if (s->enc[slot])
                s->enc_codec[slot]->encoder_free(s->enc[slot]);
        s->enc[slot] = NULL;
        s->enc_codec[slot] = NULL;
        s->enc_prepared[slot] = false;
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
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                free_encoder(s, i);
                free(s->outputs[i]);
                free(s->delay_buf[i]);
        }
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
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                atomic_store(&s->bt_attached[i], false);
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

/* Allocated here, on the main thread, and faulted in (the thread must not
 * take page faults on them either); kept until stream_destroy. */
static void *alloc_resident(size_t len)
{
        void *p = malloc(len);

        if (p)
                memset(p, 0, len);
        return p;
}

/* The slot's state, and once two outputs are attached, a delay line
 * buffer for each of them (none while one output plays alone). */
static int alloc_output(struct stream *s, unsigned slot)
{
        bool other = false;

        if (!s->outputs[slot]) {
                s->outputs[slot] = alloc_resident(sizeof(struct stream_output));
                if (!s->outputs[slot])
                        return -ENOMEM;
        }
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++)
                other |= i != slot && atomic_load(&s->bt_attached[i]);
        if (!other)
                return 0;
        for (unsigned i = 0; i < STREAM_OUTPUTS_MAX; i++) {
                if (s->delay_buf[i] || (i != slot && !atomic_load(&s->bt_attached[i])))
                        continue;
                s->delay_buf[i] = alloc_resident(DELAY_BUF_SAMPLES * sizeof(int16_t));
                if (!s->delay_buf[i])
                        return -ENOMEM;
        }
        return 0;
}

static bool prepared_for(const struct stream *s, unsigned slot, const struct stream_bt_params *bt)
{
        return s->enc_prepared[slot] && s->enc[slot] && s->enc_codec[slot] == bt->codec &&
               s->enc_mtu[slot] == bt->write_mtu && s->enc_config_len[slot] == bt->config_len &&
               memcmp(s->enc_config[slot], bt->config, bt->config_len) == 0;
}

int stream_prepare_bt(struct stream *s, unsigned slot, const struct stream_bt_params *bt, char *err,
                      size_t err_len)
{
        int r;

        snprintf(err, err_len, "invalid arguments");
        if (slot >= STREAM_OUTPUTS_MAX || !bt->codec || bt->config_len > sizeof(bt->config))
                return -EINVAL;
        if (atomic_load(&s->bt_attached[slot]))
                return -EBUSY;
        if (s->wedged)
                return -ETIMEDOUT;      /* the encoder may still be in the thread's hands */
        if (prepared_for(s, slot, bt))
                return 0;
        free_encoder(s, slot);
        r = bt->codec->encoder_new(bt->config, bt->config_len, bt->write_mtu, &s->enc[slot], err, err_len);
        if (r < 0) {
                s->enc[slot] = NULL;
                return r;
        }
        s->enc_codec[slot] = bt->codec;
        s->enc_mtu[slot] = bt->write_mtu;
        s->enc_config_len[slot] = bt->config_len;
        memcpy(s->enc_config[slot], bt->config, bt->config_len);
        s->enc_prepared[slot] = true;
        return 0;
}

void stream_drop_prepared(struct stream *s, unsigned slot)
{
        if (slot < STREAM_OUTPUTS_MAX && s->enc_prepared[slot])
                free_encoder(s, slot);
}

int stream_attach_bt(struct stream *s, unsigned slot, const struct stream_bt_params *bt, char *err,
                     size_t err_len)
{
        struct command c = { .type = CMD_ATTACH_BT, .slot = slot, .bt = *bt };
        int r;

        snprintf(err, err_len, "invalid arguments");
        if (slot >= STREAM_OUTPUTS_MAX || !atomic_load(&s->running) || !bt->codec ||
            bt->info.rate != s->rate || bt->info.channels != 2 || !bt->info.frame_samples ||
            bt->info.frame_samples > CHUNK_FRAMES)
                return -EINVAL;
        r = stream_prepare_bt(s, slot, bt, err, err_len);
        if (r < 0)
                return r;
        r = alloc_output(s, slot);
        if (r < 0) {
                snprintf(err, err_len, "out of memory");
                return r;
        }
        c.enc = s->enc[slot];
        c.out = s->outputs[slot];
        c.attach = ++s->attaches[slot];
        memcpy(c.delay_buf, s->delay_buf, sizeof(c.delay_buf));
        s->enc_prepared[slot] = false;  /* offered: never handed out twice */
        r = send_command(s, &c);
        if (r == 0)
                atomic_store(&s->bt_attached[slot], true);
        return r;
}

int stream_detach_bt(struct stream *s, unsigned slot)
{
        struct command c = { .type = CMD_DETACH_BT, .slot = slot };
        int r;

        if (slot >= STREAM_OUTPUTS_MAX || !atomic_load(&s->bt_attached[slot]))
                return 0;
        r = send_command(s, &c);
        if (r < 0)
                return r;       /* the socket is still the thread's */
        atomic_store(&s->bt_attached[slot], false);
        return 0;
}

void stream_set_output_delay(struct stream *s, unsigned slot, uint32_t us)
{
        if (slot < STREAM_OUTPUTS_MAX)
                atomic_store(&s->speaker_us[slot], us);
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

int stream_encoder_worker_tid(struct stream *s, unsigned slot)
{
        if (slot >= STREAM_OUTPUTS_MAX || !s->enc[slot] || !s->enc_codec[slot]->worker_tid)
                return 0;
        return s->enc_codec[slot]->worker_tid(s->enc[slot]);
}

bool stream_encoder_rate_control(struct stream *s, unsigned slot)
{
        return slot < STREAM_OUTPUTS_MAX && s->enc[slot] && s->enc_codec[slot]->rate_control_ms &&
               s->enc_codec[slot]->rate_control_ms(s->enc[slot]);
}

bool stream_bt_attached(struct stream *s, unsigned slot)
{
        return slot < STREAM_OUTPUTS_MAX && atomic_load(&s->bt_attached[slot]);
}

void stream_set_routes(struct stream *s, unsigned bt_mask)
{
        atomic_store(&s->routes, bt_mask);
}

void stream_set_gain(struct stream *s, unsigned slot, unsigned gain)
{
        if (slot < STREAM_OUTPUTS_MAX)
                atomic_store(&s->gain[slot], gain > MIXER_UNITY_GAIN ? MIXER_UNITY_GAIN : gain);
}

int stream_event_fd(struct stream *s)
{
        return s->ev_fd;
}

/* An output's event the thread queued before the main loop detached it
 * (its speaker's link failing as BlueZ closed it for a codec switch) is
 * about a stream already let go of; read later, it would be blamed on
 * whatever the slot carries now. */
static bool stale(const struct stream *s, const struct stream_event *ev)
{
        if (ev->output < 0)
                return false;
        return ev->output >= STREAM_OUTPUTS_MAX || !atomic_load(&s->bt_attached[ev->output]) ||
               ev->attach != s->attaches[ev->output];
}

bool stream_next_event(struct stream *s, struct stream_event *ev)
{
        uint64_t n;

        if (read(s->ev_fd, &n, sizeof(n)) < 0) {
                /* EAGAIN: the counter was already drained */
        }
        while (ring_pop(&s->ev_ring, ev))
                if (!stale(s, ev))
                        return true;
        return false;
}

const struct stream_stats *stream_stats(struct stream *s)
{
        return &s->stats;
}

uint32_t stream_latency_percentile(const struct stream_output_stats *st, unsigned pct)
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

