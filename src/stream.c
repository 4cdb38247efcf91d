#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "log.h"
#include "ring.h"
#include "rtp.h"

#ifndef AF_BLUETOOTH
#define AF_BLUETOOTH 31
#endif

/* Largest packet we build; a bigger write MTU is simply not filled. */
#define MAX_PACKET 2048
/* Packets we hold while the socket is full (on top of what the kernel
 * queues); with ~20 ms packets this bounds our share of latency. */
#define QUEUE_PACKETS 4
/* Slots: QUEUE_PACKETS whole packets, or the fragments of one frame. */
#define QUEUE_SLOTS 16
/* PCM staging: a capture burst after a stall is read in chunks this big. */
#define PCM_CHUNK_FRAMES 2048
#define MAX_POLL_FDS 8

/* Bitpool adaptation: step down at most once a second under congestion,
 * step up after five calm seconds. */
#define BITPOOL_DOWN_INTERVAL_NS 1000000000ull
#define BITPOOL_UP_CALM_NS 5000000000ull

enum command_type { CMD_START, CMD_STOP, CMD_QUIT };

struct command {
        enum command_type type;
        struct stream_params params;
};

struct packet {
        size_t len;             /* bytes including the RTP + SBC headers */
        unsigned samples;       /* audio the packet completes (0 for a leading fragment) */
        uint8_t sbc_header;     /* frame count, or fragment flags + fragments left */
        uint32_t timestamp;     /* RTP time of the first sample */
        uint64_t read_ns;       /* when its newest sample left ALSA */
        uint8_t data[MAX_PACKET];
};

struct stream {
        pthread_t thread;
        int cmd_fd;             /* main -> thread: commands queued */
        int ev_fd;              /* thread -> main: events queued */
        int ack_fd;             /* thread -> main: command done */
        struct ring cmd_ring, ev_ring;
        struct command cmd_buf[4];
        struct stream_event ev_buf[64];
        struct stream_stats stats;
        _Atomic unsigned gain;
        _Atomic bool running;
        bool thread_started;
        sbc_t sbc;              /* set up by the main thread before START */
        bool sbc_ready;

        /* Everything below belongs to the thread while a stream runs. */
        bool active;
        bool failed;            /* stopped on an error; waiting for CMD_STOP */
        struct stream_params p;
        int sock_family;
        size_t sndbuf;
        struct rtp_stream rtp;
        uint32_t next_ts;       /* RTP time of pcm[0] */
        int16_t pcm[PCM_CHUNK_FRAMES * 2];
        size_t pcm_fill;        /* frames staged in pcm[] */
        uint64_t pcm_read_ns;
        struct packet queue[QUEUE_SLOTS];
        unsigned q_head, q_count;
        unsigned q_audio_packets;  /* queued entries that carry audio */
        struct packet *building;   /* == &queue[(q_head + q_count) % N] while open */
        uint8_t frame_buf[MAX_PACKET];  /* one frame too big for a packet */
        unsigned bitpool;
        size_t frame_len;
        unsigned frames_per_packet;
        unsigned frame_samples;
        uint64_t last_congestion_ns, last_bitpool_change_ns;
        unsigned xrun_burst;
        uint64_t last_xrun_ns;
};

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit(struct stream *s, enum stream_event_type type, int value)
{
        struct stream_event ev = { .type = type, .value = value };
        uint64_t one = 1;

        if (!ring_push(&s->ev_ring, &ev))
                return;         /* main loop is behind; counters still tell */
        if (write(s->ev_fd, &one, sizeof(one)) < 0) {
                /* eventfd overflow is impossible at these counts; nothing
                 * else the thread could do about it */
        }
}

static void ack(struct stream *s)
{
        uint64_t one = 1;

        if (write(s->ack_fd, &one, sizeof(one)) < 0) {
                /* see emit() */
        }
}

/* ---- packets ------------------------------------------------------------ */

static size_t usable_mtu(const struct stream *s)
{
        return s->p.write_mtu < MAX_PACKET ? s->p.write_mtu : MAX_PACKET;
}

static void packet_geometry(struct stream *s)
{
        s->frame_len = sbc_frame_length(&s->p.sbc, s->bitpool);
        s->frames_per_packet = rtp_sbc_frames_per_packet(usable_mtu(s), s->frame_len);
}

static bool queue_full(const struct stream *s)
{
        return s->q_audio_packets >= QUEUE_PACKETS || s->q_count == QUEUE_SLOTS;
}

static void pop_head(struct stream *s)
{
        if (s->queue[s->q_head].samples)
                s->q_audio_packets--;
        s->q_head = (s->q_head + 1) % QUEUE_SLOTS;
        s->q_count--;
}

/* Drops the oldest queued audio, and with a fragment all the rest of its
 * frame (a sink cannot use the tail of a frame). */
static void drop_oldest(struct stream *s)
{
        unsigned samples = 0;

        do {
                samples += s->queue[s->q_head].samples;
                bool last = s->queue[s->q_head].samples != 0;
                pop_head(s);
                if (last)
                        break;
        } while (s->q_count);
        atomic_fetch_add(&s->stats.dropped_frames, samples);
}

static struct packet *next_slot(struct stream *s)
{
        return &s->queue[(s->q_head + s->q_count) % QUEUE_SLOTS];
}

static struct packet *open_packet(struct stream *s)
{
        struct packet *pk;

        if (s->building)
                return s->building;
        if (queue_full(s))
                drop_oldest(s);     /* the oldest audio goes: latency stays bounded */
        pk = next_slot(s);
        pk->len = RTP_SBC_OVERHEAD;
        pk->samples = 0;
        pk->sbc_header = 0;
        pk->timestamp = s->next_ts;
        s->building = pk;
        return pk;
}

static void close_packet(struct stream *s)
{
        struct packet *pk = s->building;

        if (!pk)
                return;
        pk->read_ns = s->pcm_read_ns;
        s->building = NULL;
        s->q_count++;
        if (pk->samples)
                s->q_audio_packets++;
}

static void apply_gain(struct stream *s, int16_t *pcm, size_t samples)
{
        unsigned gain = atomic_load_explicit(&s->gain, memory_order_relaxed);

        if (gain >= 127)
                return;
        for (size_t i = 0; i < samples; i++)
                pcm[i] = (int16_t)(((int32_t)pcm[i] * (int32_t)gain) / 127);
}

/* One frame larger than the MTU: split over fragment packets, all queued
 * together so dropping never leaves half a frame. */
static int queue_fragments(struct stream *s, size_t frame_len)
{
        struct rtp_stream frag = { .ssrc = 0, .seq = 0, .timestamp = s->next_ts };
        size_t offset = 0;

        while (QUEUE_SLOTS - s->q_count < (frame_len + usable_mtu(s) - RTP_SBC_OVERHEAD - 1) /
                                          (usable_mtu(s) - RTP_SBC_OVERHEAD) && s->q_count)
                drop_oldest(s);
        for (;;) {
                struct packet *pk = next_slot(s);
                int n = rtp_sbc_pack_fragment(&frag, pk->data, usable_mtu(s), s->frame_buf,
                                              frame_len, &offset, s->frame_samples);
                if (n < 0)
                        return n;
                if (n == 0)
                        return 0;
                pk->len = (size_t)n;
                pk->sbc_header = pk->data[RTP_HEADER_LEN];
                pk->timestamp = s->next_ts;
                pk->samples = offset == frame_len ? s->frame_samples : 0;
                pk->read_ns = s->pcm_read_ns;
                s->q_count++;
                if (pk->samples)
                        s->q_audio_packets++;
        }
}

/* Encodes staged PCM into packets; a packet closes when full. Bitpool
 * changes happen only between packets so each packet has one frame size. */
static void encode_staged(struct stream *s)
{
        size_t done = 0;
        size_t in_bytes = (size_t)s->frame_samples * s->p.pcm_channels * sizeof(int16_t);

        while (s->pcm_fill - done >= s->frame_samples) {
                ssize_t consumed, written = 0;
                int16_t *in = s->pcm + done * s->p.pcm_channels;
                uint8_t *out;
                size_t out_len;

                if (!s->building && s->sbc.bitpool != s->bitpool) {
                        s->sbc.bitpool = (uint8_t)s->bitpool;
                        packet_geometry(s);
                }
                apply_gain(s, in, (size_t)s->frame_samples * s->p.pcm_channels);
                if (s->frames_per_packet) {
                        struct packet *pk = open_packet(s);
                        out = pk->data + pk->len;
                        out_len = sizeof(pk->data) - pk->len;
                } else {
                        out = s->frame_buf;
                        out_len = sizeof(s->frame_buf);
                }
                consumed = sbc_encode(&s->sbc, in, in_bytes, out, out_len, &written);
                if (consumed <= 0 || written <= 0) {
                        emit(s, STREAM_EV_CAPTURE_ERROR, -EIO);
                        s->failed = true;
                        return;
                }
                if (s->frames_per_packet) {
                        struct packet *pk = s->building;
                        pk->len += (size_t)written;
                        pk->sbc_header++;
                        pk->samples += s->frame_samples;
                        if (pk->sbc_header == s->frames_per_packet)
                                close_packet(s);
                } else if (queue_fragments(s, (size_t)written) < 0) {
                        emit(s, STREAM_EV_CAPTURE_ERROR, -EMSGSIZE);
                        s->failed = true;
                        return;
                }
                done += s->frame_samples;
                s->next_ts += s->frame_samples;
        }
        /* keep the partial frame's samples at the front */
        if (done) {
                memmove(s->pcm, s->pcm + done * s->p.pcm_channels,
                        (s->pcm_fill - done) * s->p.pcm_channels * sizeof(int16_t));
                s->pcm_fill -= done;
        }
}

static size_t socket_queued_bytes(struct stream *s)
{
        int v = 0;

        if (ioctl(s->p.fd, SIOCOUTQ, &v) < 0 || v < 0)
                return 0;
        /* Bluetooth sockets answer TIOCOUTQ (== SIOCOUTQ) with the free
         * space in the send buffer, every other family with the bytes
         * queued. */
        if (s->sock_family == AF_BLUETOOTH)
                return (size_t)v < s->sndbuf ? s->sndbuf - (size_t)v : 0;
        return (size_t)v;
}

static void record_latency(struct stream *s, const struct packet *pk, uint64_t t)
{
        uint64_t us = t > pk->read_ns ? (t - pk->read_ns) / 1000 : 0;
        unsigned b = (unsigned)(us / STREAM_LATENCY_BUCKET_US);

        if (b >= STREAM_LATENCY_BUCKETS)
                b = STREAM_LATENCY_BUCKETS - 1;
        atomic_fetch_add_explicit(&s->stats.latency_hist[b], 1, memory_order_relaxed);
        atomic_store_explicit(&s->stats.latency_last_us, (uint32_t)us, memory_order_relaxed);
        if (us > atomic_load_explicit(&s->stats.latency_max_us, memory_order_relaxed))
                atomic_store_explicit(&s->stats.latency_max_us, (uint32_t)us, memory_order_relaxed);
}

static void adapt_bitpool(struct stream *s, bool congested, uint64_t t)
{
        unsigned step = s->bitpool / 8 > 2 ? s->bitpool / 8 : 2;
        unsigned nb = s->bitpool;

        if (congested) {
                s->last_congestion_ns = t;
                if (t - s->last_bitpool_change_ns < BITPOOL_DOWN_INTERVAL_NS ||
                    s->bitpool <= s->p.sbc.min_bitpool)
                        return;
                nb = s->bitpool > s->p.sbc.min_bitpool + step ? s->bitpool - step
                                                               : s->p.sbc.min_bitpool;
        } else {
                if (s->bitpool >= s->p.sbc.max_bitpool ||
                    t - s->last_congestion_ns < BITPOOL_UP_CALM_NS ||
                    t - s->last_bitpool_change_ns < BITPOOL_UP_CALM_NS)
                        return;
                nb = s->bitpool + step < s->p.sbc.max_bitpool ? s->bitpool + step
                                                               : s->p.sbc.max_bitpool;
        }
        s->bitpool = nb;
        s->last_bitpool_change_ns = t;
        atomic_store(&s->stats.bitpool, nb);
        emit(s, STREAM_EV_BITPOOL, (int)nb);
}

static void link_failed(struct stream *s, int err)
{
        s->failed = true;
        emit(s, STREAM_EV_LINK_ERROR, err);
}

/* Sends queued packets until the socket pushes back. */
static void flush_queue(struct stream *s)
{
        uint64_t t = now_ns();
        bool congested = false;

        while (s->q_count) {
                struct packet *pk = &s->queue[s->q_head];
                ssize_t n;

                /* The header is written at send time: sequence numbers stay
                 * continuous over packets dropped from the queue, while the
                 * timestamp keeps the capture time of the audio. */
                rtp_sbc_write_header(&s->rtp, pk->data, pk->timestamp, pk->sbc_header);
                n = send(s->p.fd, pk->data, pk->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        s->rtp.seq--;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                congested = true;
                                atomic_fetch_add(&s->stats.congestion, 1);
                                break;
                        }
                        if (errno == EINTR)
                                continue;
                        link_failed(s, errno);
                        return;
                }
                record_latency(s, pk, t);
                atomic_fetch_add_explicit(&s->stats.packets, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&s->stats.bytes, (uint64_t)n, memory_order_relaxed);
                if (!(pk->sbc_header & RTP_SBC_FRAGMENTED)) {
                        unsigned nframes = pk->sbc_header & 0x0f;
                        atomic_fetch_add_explicit(&s->stats.frames, nframes, memory_order_relaxed);
                        if (nframes == rtp_sbc_frames_per_packet(usable_mtu(s),
                                                                 (pk->len - RTP_SBC_OVERHEAD) / nframes))
                                atomic_fetch_add_explicit(&s->stats.full_packets, 1,
                                                          memory_order_relaxed);
                } else if (pk->sbc_header & RTP_SBC_LAST) {
                        atomic_fetch_add_explicit(&s->stats.frames, 1, memory_order_relaxed);
                        atomic_fetch_add_explicit(&s->stats.full_packets, 1, memory_order_relaxed);
                }
                pop_head(s);
        }
        {
                uint64_t samples = (uint64_t)s->q_audio_packets * s->frames_per_packet * s->frame_samples +
                                   (uint64_t)socket_queued_bytes(s) / (s->frame_len ? s->frame_len : 1) *
                                   s->frame_samples;
                atomic_store_explicit(&s->stats.queue_us,
                                      (uint32_t)(samples * 1000000ull / s->p.sbc.rate),
                                      memory_order_relaxed);
        }
        adapt_bitpool(s, congested, t);
}

/* ---- capture ------------------------------------------------------------ */

static void note_xrun(struct stream *s, uint64_t t)
{
        atomic_fetch_add(&s->stats.xruns, 1);
        /* one event per burst: xruns closer than a second apart belong together */
        if (s->xrun_burst && t - s->last_xrun_ns > 1000000000ull) {
                emit(s, STREAM_EV_XRUN_BURST, (int)s->xrun_burst);
                s->xrun_burst = 0;
        }
        s->xrun_burst++;
        s->last_xrun_ns = t;
}

static int recover(struct stream *s, int err)
{
        int r;

        note_xrun(s, now_ns());
        r = snd_pcm_recover(s->p.pcm, err, 1);
        if (r < 0)
                return r;
        /* after an overrun the audio in between is gone: the RTP clock
         * keeps following capture time is not knowable, so it simply
         * continues; what is lost is counted */
        r = snd_pcm_start(s->p.pcm);
        return r == -EBADFD ? 0 : r;
}

static void capture_pump(struct stream *s)
{
        for (;;) {
                snd_pcm_sframes_t avail, got;
                size_t room;

                avail = snd_pcm_avail_update(s->p.pcm);
                if (avail < 0) {
                        int r = recover(s, (int)avail);
                        if (r < 0) {
                                s->failed = true;
                                emit(s, STREAM_EV_CAPTURE_ERROR, r);
                        }
                        return;
                }
                if (avail == 0)
                        return;
                room = PCM_CHUNK_FRAMES - s->pcm_fill;
                if ((size_t)avail > room)
                        avail = (snd_pcm_sframes_t)room;
                got = snd_pcm_readi(s->p.pcm, s->pcm + s->pcm_fill * s->p.pcm_channels,
                                    (snd_pcm_uframes_t)avail);
                if (got == -EAGAIN)
                        return;
                if (got < 0) {
                        int r = recover(s, (int)got);
                        if (r < 0) {
                                s->failed = true;
                                emit(s, STREAM_EV_CAPTURE_ERROR, r);
                        }
                        return;
                }
                s->pcm_fill += (size_t)got;
                s->pcm_read_ns = now_ns();
                encode_staged(s);
                if (s->failed)
                        return;
                /* a full queue waits for the socket before more is read, so
                 * an unclocked source is throttled by the speaker instead
                 * of being dropped */
                if (queue_full(s))
                        return;
        }
}

/* ---- commands ----------------------------------------------------------- */

static void start_stream(struct stream *s, const struct stream_params *p)
{
        uint32_t rnd[3] = { 0x1234, 0x5678, 0x9abc };
        socklen_t sl = sizeof(int);
        int v = 0;

        s->p = *p;
        s->active = true;
        s->failed = false;
        if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) < 0) {
                /* fixed values are as valid for RTP, just less unique */
        }
        rtp_stream_init(&s->rtp, rnd[0], (uint16_t)rnd[1], rnd[2]);
        s->next_ts = rnd[2];
        s->pcm_fill = 0;
        s->q_head = s->q_count = s->q_audio_packets = 0;
        s->building = NULL;
        s->frame_samples = sbc_frame_samples(&p->sbc);
        s->bitpool = p->sbc.max_bitpool;
        s->sbc.bitpool = (uint8_t)s->bitpool;
        packet_geometry(s);
        s->last_congestion_ns = 0;
        s->last_bitpool_change_ns = now_ns();
        s->xrun_burst = 0;
        atomic_store(&s->stats.bitpool, s->bitpool);
        s->sock_family = 0;
        if (getsockopt(p->fd, SOL_SOCKET, SO_DOMAIN, &v, &sl) == 0)
                s->sock_family = v;
        sl = sizeof(int);
        s->sndbuf = 0;
        if (getsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0 && v > 0)
                s->sndbuf = (size_t)v;

        v = snd_pcm_start(p->pcm);
        if (v < 0 && v != -EBADFD) {
                s->failed = true;
                emit(s, STREAM_EV_CAPTURE_ERROR, v);
        }
}

static void stop_stream(struct stream *s)
{
        if (!s->active)
                return;
        if (s->xrun_burst)
                emit(s, STREAM_EV_XRUN_BURST, (int)s->xrun_burst);
        snd_pcm_drop(s->p.pcm);
        s->active = false;
        s->failed = false;
}

/* Returns false when the thread must exit. */
static bool handle_commands(struct stream *s)
{
        uint64_t n;
        struct command c;

        if (read(s->cmd_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
                /* eventfd reads only fail when empty */
        }
        while (ring_pop(&s->cmd_ring, &c)) {
                switch (c.type) {
                case CMD_START:
                        stop_stream(s);
                        start_stream(s, &c.params);
                        ack(s);
                        break;
                case CMD_STOP:
                        stop_stream(s);
                        ack(s);
                        break;
                case CMD_QUIT:
                        stop_stream(s);
                        ack(s);
                        return false;
                }
        }
        return true;
}

static void *thread_main(void *data)
{
        struct stream *s = data;

        for (;;) {
                struct pollfd fds[MAX_POLL_FDS];
                unsigned n = 0, npcm = 0, sock_idx = 0;
                int timeout = -1;

                fds[n++] = (struct pollfd){ .fd = s->cmd_fd, .events = POLLIN };
                if (s->active && !s->failed) {
                        bool full = queue_full(s);

                        if (!full) {
                                int c = snd_pcm_poll_descriptors(s->p.pcm, fds + n, MAX_POLL_FDS - 2);
                                if (c > 0)
                                        npcm = (unsigned)c;
                        }
                        n += npcm;
                        sock_idx = n;
                        fds[n++] = (struct pollfd){ .fd = s->p.fd,
                                                    .events = s->q_count ? POLLOUT : 0 };
                        if (full) {
                                /* wait for the socket at most one packet's time,
                                 * then drop the oldest packet and read on */
                                timeout = (int)((uint64_t)s->frames_per_packet * s->frame_samples *
                                                1000 / s->p.sbc.rate) + 1;
                        }
                }

                int r = poll(fds, n, timeout);
                if (r < 0 && errno != EINTR)
                        continue;
                atomic_fetch_add_explicit(&s->stats.wakeups, 1, memory_order_relaxed);

                if (fds[0].revents & POLLIN) {
                        if (!handle_commands(s))
                                return NULL;
                        continue;
                }
                if (!s->active || s->failed)
                        continue;

                if (fds[sock_idx].revents & (POLLHUP | POLLERR | POLLNVAL)) {
                        int err = 0;
                        socklen_t sl = sizeof(err);
                        if (getsockopt(s->p.fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err == 0)
                                err = fds[sock_idx].revents & POLLNVAL ? EBADF : ECONNRESET;
                        link_failed(s, err);
                        continue;
                }
                if (r == 0 && queue_full(s))
                        drop_oldest(s);     /* the socket stayed full a packet's time */
                if (npcm) {
                        unsigned short rev = 0;
                        if (snd_pcm_poll_descriptors_revents(s->p.pcm, fds + 1, npcm, &rev) < 0 ||
                            (rev & (POLLIN | POLLERR)))
                                capture_pump(s);
                }
                if (!s->failed && s->q_count)
                        flush_queue(s);
        }
}

/* ---- main-thread API ------------------------------------------------------ */

static int wait_ack(struct stream *s)
{
        struct pollfd pfd = { .fd = s->ack_fd, .events = POLLIN };
        uint64_t n;
        int r;

        do {
                r = poll(&pfd, 1, 2000);
        } while (r < 0 && errno == EINTR);
        if (r <= 0)
                return r == 0 ? -ETIMEDOUT : -errno;
        if (read(s->ack_fd, &n, sizeof(n)) < 0)
                return -errno;
        return 0;
}

static int send_command(struct stream *s, const struct command *c)
{
        uint64_t one = 1;

        if (!ring_push(&s->cmd_ring, c))
                return -EBUSY;
        if (write(s->cmd_fd, &one, sizeof(one)) < 0)
                return -errno;
        return wait_ack(s);
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
        atomic_init(&s->gain, 127);
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
        if (rt_priority > 0) {
                struct sched_param sp = { .sched_priority = rt_priority };
                pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
                pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
                pthread_attr_setschedparam(&attr, &sp);
                r = pthread_create(&s->thread, &attr, thread_main, s);
                if (r == 0) {
                        *rt_granted = true;
                } else if (r == EPERM) {
                        log_warn("real-time priority %d refused (needs CAP_SYS_NICE or an RLIMIT_RTPRIO); "
                                 "audio thread runs at normal priority", rt_priority);
                        pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
                        r = pthread_create(&s->thread, &attr, thread_main, s);
                }
        } else {
                r = pthread_create(&s->thread, &attr, thread_main, s);
        }
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
        if (s->thread_started) {
                if (send_command(s, &c) < 0)
                        log_err("audio thread did not answer QUIT");
                pthread_join(s->thread, NULL);
        }
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
        int r;

        if (atomic_load(&s->running))
                return -EBUSY;
        if (p->pcm_channels != p->sbc.channels && !(p->pcm_channels == 2 && p->sbc.channels == 2))
                return -EINVAL;
        if (s->sbc_ready) {
                sbc_finish(&s->sbc);
                s->sbc_ready = false;
        }
        if (sbc_init_a2dp(&s->sbc, 0, p->config, A2DP_SBC_INFO_LEN) < 0)
                return -EINVAL;
        s->sbc.endian = SBC_LE;
        s->sbc_ready = true;
        r = send_command(s, &c);
        if (r == 0)
                atomic_store(&s->running, true);
        return r;
}

int stream_stop(struct stream *s)
{
        struct command c = { .type = CMD_STOP };
        int r;

        if (!atomic_load(&s->running))
                return 0;
        r = send_command(s, &c);
        atomic_store(&s->running, false);
        return r;
}

bool stream_running(struct stream *s)
{
        return atomic_load(&s->running);
}

void stream_set_gain(struct stream *s, unsigned gain)
{
        atomic_store(&s->gain, gain > 127 ? 127 : gain);
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

void stream_stats_reset(struct stream *s)
{
        struct stream_stats *st = &s->stats;

        atomic_store(&st->packets, 0);
        atomic_store(&st->bytes, 0);
        atomic_store(&st->frames, 0);
        atomic_store(&st->full_packets, 0);
        atomic_store(&st->xruns, 0);
        atomic_store(&st->congestion, 0);
        atomic_store(&st->dropped_frames, 0);
        atomic_store(&st->wakeups, 0);
        atomic_store(&st->latency_max_us, 0);
        for (unsigned i = 0; i < STREAM_LATENCY_BUCKETS; i++)
                atomic_store(&st->latency_hist[i], 0);
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
