#include "sbc-sender.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "stream.h"

#ifndef AF_BLUETOOTH
#define AF_BLUETOOTH 31
#endif

/* Bitpool adaptation: step down at most once a second under congestion,
 * step back up after five calm seconds. */
#define BITPOOL_DOWN_INTERVAL_NS 1000000000ull
#define BITPOOL_UP_CALM_NS 5000000000ull
#define QUEUE_SAMPLE_INTERVAL_NS 200000000ull

static void geometry(struct sbc_sender *s)
{
        s->frame_len = sbc_frame_length(&s->params, s->bitpool);
        s->frames_per_packet = rtp_sbc_frames_per_packet(s->mtu, s->frame_len);
}

void sbc_sender_init(struct sbc_sender *s, int fd, unsigned write_mtu,
                     const struct sbc_params *params, sbc_t *sbc,
                     struct stream_stats *stats, const uint32_t seeds[3])
{
        socklen_t sl = sizeof(int);
        int v = 0;

        s->fd = fd;
        s->mtu = write_mtu < SENDER_MAX_PACKET ? write_mtu : SENDER_MAX_PACKET;
        s->params = *params;
        s->sbc = sbc;
        s->stats = stats;
        rtp_stream_init(&s->rtp, seeds[0], (uint16_t)seeds[1], seeds[2]);
        s->next_ts = seeds[2];
        s->frame_samples = sbc_frame_samples(params);
        s->bitpool = params->max_bitpool;
        sbc->bitpool = (uint8_t)s->bitpool;
        geometry(s);
        s->last_congestion_ns = 0;
        s->last_bitpool_change_ns = 0;
        s->last_send_ns = 0;
        s->stalled = false;
        s->working_bitpool = s->bitpool;
        s->resumed_ns = 0;
        s->last_queue_sample_ns = 0;
        s->packet_cost = 0;
        s->cost_probes = 0;
        s->staged = 0;
        s->q_head = s->q_count = s->q_audio_packets = 0;
        s->building = NULL;
        atomic_store(&stats->bitpool, s->bitpool);

        s->sock_family = 0;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &sl) == 0)
                s->sock_family = v;
        sl = sizeof(int);
        s->sndbuf = 0;
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0 && v > 0)
                s->sndbuf = (size_t)v;
}

bool sbc_sender_queue_full(const struct sbc_sender *s)
{
        return s->q_audio_packets >= SENDER_QUEUE_PACKETS || s->q_count == SENDER_QUEUE_SLOTS;
}

size_t sbc_sender_frames_to_packet(const struct sbc_sender *s)
{
        size_t per = s->frames_per_packet ? s->frames_per_packet : 1;
        size_t have = s->staged + (s->building ? (size_t)s->building->sbc_header * s->frame_samples : 0);
        size_t want = per * s->frame_samples;

        /* staging can hold a partial frame beyond an open packet */
        return have < want ? want - have : s->frame_samples;
}

bool sbc_sender_has_queued(const struct sbc_sender *s)
{
        return s->q_count > 0;
}

unsigned sbc_sender_packet_ms(const struct sbc_sender *s)
{
        unsigned fpp = s->frames_per_packet ? s->frames_per_packet : 1;
        unsigned ms = (unsigned)((uint64_t)fpp * s->frame_samples * 1000 / s->params.rate);

        return ms ? ms : 1;
}

static void pop_head(struct sbc_sender *s)
{
        if (s->queue[s->q_head].samples)
                s->q_audio_packets--;
        s->q_head = (s->q_head + 1) % SENDER_QUEUE_SLOTS;
        s->q_count--;
}

void sbc_sender_drop_oldest(struct sbc_sender *s)
{
        unsigned samples = 0;

        /* with a fragment goes the rest of its frame: a sink cannot use the
         * tail of a frame */
        while (s->q_count) {
                bool last = s->queue[s->q_head].samples != 0;
                samples += s->queue[s->q_head].samples;
                pop_head(s);
                if (last)
                        break;
        }
        atomic_fetch_add(&s->stats->dropped_frames, samples);
}

static struct sender_packet *next_slot(struct sbc_sender *s)
{
        return &s->queue[(s->q_head + s->q_count) % SENDER_QUEUE_SLOTS];
}

static struct sender_packet *open_packet(struct sbc_sender *s)
{
        struct sender_packet *pk;

        if (s->building)
                return s->building;
        if (sbc_sender_queue_full(s))
                sbc_sender_drop_oldest(s);  /* the oldest audio goes: latency stays bounded */
        pk = next_slot(s);
        pk->len = RTP_SBC_OVERHEAD;
        pk->samples = 0;
        pk->sbc_header = 0;
        pk->timestamp = s->next_ts;
        s->building = pk;
        return pk;
}

static void close_packet(struct sbc_sender *s)
{
        struct sender_packet *pk = s->building;

        pk->read_ns = s->staged_read_ns;
        s->building = NULL;
        s->q_count++;
        s->q_audio_packets++;
}

/* One frame larger than the MTU: split over fragment packets, all queued
 * together so dropping never leaves half a frame. */
static int queue_fragments(struct sbc_sender *s, size_t frame_len)
{
        struct rtp_stream frag = { .timestamp = s->next_ts };
        size_t room = s->mtu - RTP_SBC_OVERHEAD;
        size_t offset = 0;

        while (SENDER_QUEUE_SLOTS - s->q_count < (frame_len + room - 1) / room && s->q_count)
                sbc_sender_drop_oldest(s);
        for (;;) {
                struct sender_packet *pk = next_slot(s);
                int n = rtp_sbc_pack_fragment(&frag, pk->data, s->mtu, s->frame_buf, frame_len,
                                              &offset, s->frame_samples);
                if (n <= 0)
                        return n;
                pk->len = (size_t)n;
                pk->sbc_header = pk->data[RTP_HEADER_LEN];
                pk->timestamp = s->next_ts;
                pk->samples = offset == frame_len ? s->frame_samples : 0;
                pk->read_ns = s->staged_read_ns;
                s->q_count++;
                if (pk->samples)
                        s->q_audio_packets++;
        }
}

/* Encodes whole frames from staging; a packet closes when full. The bitpool
 * changes only between packets so each packet has one frame size. */
static int encode_staged(struct sbc_sender *s)
{
        size_t done = 0;
        size_t in_bytes = (size_t)s->frame_samples * 2 * sizeof(int16_t);

        while (s->staged - done >= s->frame_samples) {
                ssize_t consumed, written = 0;
                const int16_t *in = s->staging + done * 2;
                uint8_t *out;
                size_t out_len;

                if (!s->building && s->sbc->bitpool != s->bitpool) {
                        s->sbc->bitpool = (uint8_t)s->bitpool;
                        geometry(s);
                }
                if (s->frames_per_packet) {
                        struct sender_packet *pk = open_packet(s);
                        out = pk->data + pk->len;
                        out_len = sizeof(pk->data) - pk->len;
                } else {
                        out = s->frame_buf;
                        out_len = sizeof(s->frame_buf);
                }
                consumed = sbc_encode(s->sbc, in, in_bytes, out, out_len, &written);
                if (consumed <= 0 || written <= 0)
                        return -EIO;
                if (s->frames_per_packet) {
                        struct sender_packet *pk = s->building;
                        pk->len += (size_t)written;
                        pk->sbc_header++;
                        pk->samples += s->frame_samples;
                        if (pk->sbc_header == s->frames_per_packet)
                                close_packet(s);
                } else if (queue_fragments(s, (size_t)written) < 0) {
                        return -EMSGSIZE;
                }
                done += s->frame_samples;
                s->next_ts += s->frame_samples;
        }
        if (done) {
                memmove(s->staging, s->staging + done * 2, (s->staged - done) * 2 * sizeof(int16_t));
                s->staged -= done;
        }
        return 0;
}

int sbc_sender_push(struct sbc_sender *s, const int16_t *pcm, size_t frames, uint64_t read_ns)
{
        while (frames) {
                size_t n = SENDER_STAGING_FRAMES - s->staged;
                int r;

                if (n > frames)
                        n = frames;
                memcpy(s->staging + s->staged * 2, pcm, n * 2 * sizeof(int16_t));
                s->staged += n;
                s->staged_read_ns = read_ns;
                pcm += n * 2;
                frames -= n;
                r = encode_staged(s);
                if (r < 0)
                        return r;
        }
        return 0;
}

void sbc_sender_skip(struct sbc_sender *s, size_t frames)
{
        /* a packet half built stays: it goes out with what comes next, its
         * timestamp still right for its own frames */
        if (s->building && s->building->sbc_header) {
                close_packet(s);
        }
        s->building = NULL;
        s->next_ts += (uint32_t)(frames + s->staged);
        s->staged = 0;
}

/* Packets the socket may hold (what sits there is latency we cannot take
 * back, but one is too few: any late wake-up then finds it full). */
#define SOCKET_PACKETS 3

/* The kernel charges a packet the truesize of every buffer it is cut into,
 * one per ACL fragment on Bluetooth: with a controller's 192-byte ACL
 * buffers a 588-byte packet costs 3.3 kB, more than half of the smallest
 * send buffer (4.6 kB). Sized in bytes of payload, the buffer then holds a
 * single packet, and POLLOUT (half the buffer free) comes while the next
 * packet still does not fit: poll, send, EAGAIN, poll... Once the cost of
 * a packet is known, the buffer is sized in packets. */
static void fit_sndbuf(struct sbc_sender *s)
{
        size_t want = SOCKET_PACKETS * s->packet_cost;
        socklen_t sl = sizeof(int);
        int v;

        if (s->sock_family != AF_BLUETOOTH || s->sndbuf >= want)
                return;
        v = (int)((want + 1) / 2);      /* the kernel doubles what it is given */
        if (setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0 &&
            getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0 && v > 0)
                s->sndbuf = (size_t)v;
}

static size_t socket_queued_bytes(const struct sbc_sender *s)
{
        int v = 0;

        if (ioctl(s->fd, SIOCOUTQ, &v) < 0 || v < 0)
                return 0;
        /* Bluetooth sockets answer TIOCOUTQ (== SIOCOUTQ) with the free
         * space in the send buffer, every other family with the bytes
         * queued. */
        if (s->sock_family == AF_BLUETOOTH)
                return (size_t)v < s->sndbuf ? s->sndbuf - (size_t)v : 0;
        return (size_t)v;
}

uint32_t sbc_sender_queued_us(const struct sbc_sender *s)
{
        /* the kernel counts buffer overhead too: a packet costs what its
         * send was seen to add to the queue */
        size_t cost = s->packet_cost ? s->packet_cost : s->mtu;
        size_t in_socket = (socket_queued_bytes(s) + cost / 2) / cost;
        uint64_t frames = ((uint64_t)s->q_audio_packets + in_socket) * s->frames_per_packet;

        return (uint32_t)(frames * s->frame_samples * 1000000ull / s->params.rate);
}

static void record_latency(struct sbc_sender *s, const struct sender_packet *pk, uint64_t t)
{
        uint64_t us = t > pk->read_ns ? (t - pk->read_ns) / 1000 : 0;
        unsigned b = (unsigned)(us / STREAM_LATENCY_BUCKET_US);
        struct stream_stats *st = s->stats;

        if (b >= STREAM_LATENCY_BUCKETS)
                b = STREAM_LATENCY_BUCKETS - 1;
        atomic_fetch_add_explicit(&st->latency_hist[b], 1, memory_order_relaxed);
        if (us > atomic_load_explicit(&st->latency_max_us, memory_order_relaxed))
                atomic_store_explicit(&st->latency_max_us, (uint32_t)us, memory_order_relaxed);
}

static void set_bitpool(struct sbc_sender *s, unsigned nb, uint64_t t)
{
        s->bitpool = nb;
        s->last_bitpool_change_ns = t;
        atomic_store(&s->stats->bitpool, nb);
}

/* The speaker takes audio again after a stall: the bitpool it was taking
 * comes back at once (a step made while nothing moved is undone), and the
 * audio that waited out the stall is not taken for congestion. */
static bool resume(struct sbc_sender *s, uint64_t t)
{
        s->stalled = false;
        s->resumed_ns = t;
        if (s->bitpool == s->working_bitpool)
                return false;
        set_bitpool(s, s->working_bitpool, t);
        return true;
}

static bool adapt_bitpool(struct sbc_sender *s, bool congested, uint64_t t)
{
        unsigned step = s->bitpool / 8 > 2 ? s->bitpool / 8 : 2;
        unsigned nb;

        if (congested) {
                s->last_congestion_ns = t;
                if (t - s->last_bitpool_change_ns < BITPOOL_DOWN_INTERVAL_NS ||
                    s->bitpool <= s->params.min_bitpool)
                        return false;
                nb = s->bitpool > s->params.min_bitpool + step ? s->bitpool - step
                                                               : s->params.min_bitpool;
        } else {
                if (s->bitpool >= s->params.max_bitpool ||
                    t - s->last_congestion_ns < BITPOOL_UP_CALM_NS ||
                    t - s->last_bitpool_change_ns < BITPOOL_UP_CALM_NS)
                        return false;
                nb = s->bitpool + step < s->params.max_bitpool ? s->bitpool + step
                                                               : s->params.max_bitpool;
        }
        set_bitpool(s, nb, t);
        return true;
}

int sbc_sender_flush(struct sbc_sender *s, uint64_t t, bool *bitpool_changed)
{
        struct stream_stats *st = s->stats;
        /* Congestion is audio waiting too long, not EAGAIN as such: an
         * unclocked source meets EAGAIN all the time and is simply
         * throttled, while a speaker that drains slower than capture fills
         * makes packets old. */
        uint64_t old_ns = (uint64_t)sbc_sender_packet_ms(s) * 3000000ull / 2;
        bool congested = false, resumed = false;

        while (s->q_count) {
                struct sender_packet *pk = &s->queue[s->q_head];
                bool probe = !s->packet_cost && s->cost_probes < SENDER_COST_PROBES_MAX;
                size_t before = probe ? socket_queued_bytes(s) : 0;
                ssize_t n;

                /* The header is written at send time: sequence numbers stay
                 * continuous over packets dropped from the queue, while the
                 * timestamp keeps the capture time of the audio. */
                rtp_sbc_write_header(&s->rtp, pk->data, pk->timestamp, pk->sbc_header);
                n = send(s->fd, pk->data, pk->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        s->rtp.seq--;
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                atomic_fetch_add(&st->congestion, 1);
                                congested |= pk->read_ns >= s->resumed_ns && t - pk->read_ns > old_ns;
                                break;
                        }
                        return errno;
                }
                if (s->stalled)
                        resumed = resume(s, t);
                s->working_bitpool = s->bitpool;
                s->last_send_ns = t;
                if (probe) {
                        size_t after = socket_queued_bytes(s);

                        s->cost_probes++;
                        if (after > before) {
                                s->packet_cost = after - before;
                                fit_sndbuf(s);
                        }
                }
                congested |= pk->read_ns >= s->resumed_ns && t - pk->read_ns > old_ns;
                record_latency(s, pk, t);
                atomic_fetch_add_explicit(&st->packets, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&st->bytes, (uint64_t)n, memory_order_relaxed);
                if (!(pk->sbc_header & RTP_SBC_FRAGMENTED)) {
                        unsigned nframes = pk->sbc_header & 0x0f;
                        atomic_fetch_add_explicit(&st->frames, nframes, memory_order_relaxed);
                        if (nframes == rtp_sbc_frames_per_packet(s->mtu, (pk->len - RTP_SBC_OVERHEAD) / nframes))
                                atomic_fetch_add_explicit(&st->full_packets, 1, memory_order_relaxed);
                } else if (pk->sbc_header & RTP_SBC_LAST) {
                        atomic_fetch_add_explicit(&st->frames, 1, memory_order_relaxed);
                        atomic_fetch_add_explicit(&st->full_packets, 1, memory_order_relaxed);
                }
                pop_head(s);
        }
        /* queue_us only feeds the Latency property, read by people: asking
         * the kernel a few times a second is enough, and spares every
         * packet a system call */
        if (!s->last_queue_sample_ns || t - s->last_queue_sample_ns >= QUEUE_SAMPLE_INTERVAL_NS) {
                atomic_store_explicit(&st->queue_us, sbc_sender_queued_us(s), memory_order_relaxed);
                s->last_queue_sample_ns = t;
        }
        if (!s->stalled && s->q_count && t - s->last_send_ns > SENDER_STALL_NS)
                s->stalled = true;
        /* frozen through a stall: no audio is encoded, so EAGAIN there
         * says nothing about what the link can carry */
        *bitpool_changed = resumed || (!s->stalled && adapt_bitpool(s, congested, t));
        return 0;
}
