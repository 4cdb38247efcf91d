#include "sender.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "stream.h"

#ifndef AF_BLUETOOTH
#define AF_BLUETOOTH 31
#endif

/* Quality adaptation: step down at most once a second under congestion,
 * step back up after five calm seconds. */
#define LEVEL_DOWN_INTERVAL_NS 1000000000ull
#define LEVEL_UP_CALM_NS 5000000000ull
#define QUEUE_SAMPLE_INTERVAL_NS 200000000ull
/* A codec's own rate controller is fed once per its interval, calls made
 * up when the audio thread wakes less often (LDAC's MQ packets are 16 ms
 * of audio, its interval 5 ms); a gap longer than this (a very late
 * wake-up) is skipped, as a stall is: the controller's clock is its
 * calls. */
#define RATE_CONTROL_GAP_NS 100000000ull
/* Fragments of one frame at most (SBC's header counts them in 4 bits). */
#define MAX_FRAGMENTS 15u

/* Bytes of a frame at the current level, before one has been seen. */
static size_t estimated_frame_len(const struct sender *s)
{
        uint64_t bps = s->codec->level_bitrate(s->enc, s->level);

        return (size_t)((bps * s->frame_samples + 8ull * s->rate - 1) / (8ull * s->rate));
}

/* The most frames a packet may carry: the codec's limit, and its own
 * grouping when it has one. */
static unsigned compute_frame_limit(const struct sender *s)
{
        unsigned max = s->codec->max_frames ? s->codec->max_frames : 1;
        unsigned want = s->codec->packet_frames ? s->codec->packet_frames(s->enc) : 0;

        return want && want < max ? want : max;
}

/* Whole frames of the current size a packet holds; 0 when one must be
 * fragmented. */
static unsigned compute_packet_frames(const struct sender *s)
{
        size_t n;

        if (!s->frame_len || s->mtu <= s->header_len)
                return 0;
        n = (s->mtu - s->header_len) / s->frame_len;
        return n > s->frame_limit ? s->frame_limit : (unsigned)n;
}

/* After anything that may change the frame size or the encoder's
 * grouping: a frame encoded, the level set, frame_len changed. */
static void reshape(struct sender *s)
{
        s->frame_limit = compute_frame_limit(s);
        s->packet_frames = compute_packet_frames(s);
}

static unsigned frame_limit(const struct sender *s)
{
        return s->frame_limit;
}

static unsigned frames_per_packet(const struct sender *s)
{
        return s->packet_frames;
}

static void publish_level(struct sender *s)
{
        atomic_store(&s->stats->level, s->level);
        atomic_store(&s->stats->level_value, s->codec->level_value(s->enc, s->level));
        atomic_store(&s->stats->bitrate, s->codec->level_bitrate(s->enc, s->level));
}

void sender_init(struct sender *s, int fd, unsigned write_mtu, const struct a2dp_codec *codec,
                 struct codec_encoder *enc, const struct codec_info *info,
                 struct stream_output_stats *stats, const uint32_t seeds[3])
{
        socklen_t sl = sizeof(int);
        int v = 0;

        s->fd = fd;
        s->mtu = write_mtu < CODEC_MAX_PACKET ? write_mtu : CODEC_MAX_PACKET;
        s->codec = codec;
        s->enc = enc;
        s->rate = info->rate ? info->rate : 48000;
        s->frame_samples = info->frame_samples ? info->frame_samples : 1;
        s->header_len = codec->header_len(enc);
        s->stats = stats;
        rtp_stream_init(&s->rtp, seeds[0], (uint16_t)seeds[1], seeds[2]);
        s->next_ts = seeds[2];
        s->levels = codec->levels(enc);
        if (!s->levels)
                s->levels = 1;
        s->rc_interval_ns = codec->rate_control_ms ? codec->rate_control_ms(enc) * 1000000ull : 0;
        s->rc_next_ns = 0;
        s->rates.levels = s->levels < AIRTIME_MAX_LEVELS ? s->levels : AIRTIME_MAX_LEVELS;
        for (unsigned l = 0; l < s->rates.levels; l++)
                s->rates.bps[l] = codec->level_bitrate(enc, l);
        s->cap_bps = 0;
        s->level = s->enc_level = 0;
        codec->set_level(enc, 0);
        s->frame_len = estimated_frame_len(s);
        reshape(s);
        s->last_congestion_ns = 0;
        s->last_level_change_ns = 0;
        s->last_send_ns = 0;
        s->stalled = false;
        s->working_level = 0;
        s->resumed_ns = 0;
        s->last_queue_sample_ns = 0;
        s->lag_sum_ns = 0;
        s->lag_count = 0;
        s->hold_samples = 0;
        s->hold_blocked = false;
        s->blocked_run = 0;
        s->frame_at = s->push_left = 0;
        s->packet_cost = 0;
        s->cost_probes = 0;
        s->staged = 0;
        s->q_head = s->q_count = s->q_audio_packets = 0;
        s->building = NULL;
        publish_level(s);

        s->sock_family = 0;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &sl) == 0)
                s->sock_family = v;
        sl = sizeof(int);
        s->sndbuf = 0;
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0 && v > 0)
                s->sndbuf = (size_t)v;
}

unsigned sender_level_value(const struct sender *s)
{
        return s->codec->level_value(s->enc, s->level);
}

/* One full packet's audio at the current level, in ns. */
static uint64_t packet_ns(const struct sender *s)
{
        unsigned fpp = frames_per_packet(s) ? frames_per_packet(s) : 1;

        return (uint64_t)fpp * s->frame_samples * 1000000000ull / s->rate;
}

/* Short packets: SENDER_QUEUE_PACKETS of them hold less than half of
 * SENDER_QUEUE_NS (packets under 10 ms: LDAC's 5.3 ms at HQ and 8 ms at
 * SQ). Longer ones (SBC's and SBC-XQ's 13-20 ms, aptX's, AAC's, LDAC's
 * 16 ms at MQ) keep the queue of 4 packets and the 1.5 packets of
 * waiting they always had. */
static bool short_packets(const struct sender *s)
{
        return packet_ns(s) * SENDER_QUEUE_PACKETS < SENDER_QUEUE_NS / 2;
}

/* Short packets: about SENDER_QUEUE_NS of them, at most what the slots
 * hold; otherwise SENDER_QUEUE_PACKETS. */
unsigned sender_queue_packets(const struct sender *s)
{
        uint64_t n;

        if (!short_packets(s))
                return SENDER_QUEUE_PACKETS;
        n = SENDER_QUEUE_NS / packet_ns(s);
        if (n < SENDER_QUEUE_PACKETS)
                n = SENDER_QUEUE_PACKETS;
        if (n > SENDER_QUEUE_SLOTS - 1)
                n = SENDER_QUEUE_SLOTS - 1;
        return (unsigned)n;
}

/* 1.5 packets (in whole ms, as always); with short packets at least
 * min(SENDER_CONGESTION_MIN_NS, 3/4 of the queue), since 1.5 of them is
 * within a scheduler's jitter. */
uint64_t sender_congestion_ns(const struct sender *s)
{
        uint64_t old_ns = (uint64_t)sender_packet_ms(s) * 3000000ull / 2;
        uint64_t floor_ns;

        if (!short_packets(s))
                return old_ns;
        floor_ns = (uint64_t)sender_queue_packets(s) * packet_ns(s) * 3 / 4;
        if (floor_ns > SENDER_CONGESTION_MIN_NS)
                floor_ns = SENDER_CONGESTION_MIN_NS;
        return old_ns > floor_ns ? old_ns : floor_ns;
}

bool sender_queue_full(const struct sender *s)
{
        return s->q_audio_packets >= sender_queue_packets(s) || s->q_count == SENDER_QUEUE_SLOTS;
}

size_t sender_frames_to_packet(const struct sender *s)
{
        size_t per = frames_per_packet(s) ? frames_per_packet(s) : 1;
        size_t have = s->staged + (s->building ? (size_t)s->building->meta.frames * s->frame_samples : 0);
        size_t want = per * s->frame_samples;

        /* staging can hold a partial frame beyond an open packet */
        return have < want ? want - have : s->frame_samples;
}

size_t sender_packet_samples(const struct sender *s)
{
        return (size_t)(frames_per_packet(s) ? frames_per_packet(s) : 1) * s->frame_samples;
}

bool sender_has_queued(const struct sender *s)
{
        return s->q_count > 0;
}

unsigned sender_packet_ms(const struct sender *s)
{
        unsigned fpp = frames_per_packet(s) ? frames_per_packet(s) : 1;
        unsigned ms = (unsigned)((uint64_t)fpp * s->frame_samples * 1000 / s->rate);

        return ms ? ms : 1;
}

static void pop_head(struct sender *s)
{
        if (s->queue[s->q_head].samples)
                s->q_audio_packets--;
        s->q_head = (s->q_head + 1) % SENDER_QUEUE_SLOTS;
        s->q_count--;
}

void sender_drop_oldest(struct sender *s)
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

static struct sender_packet *next_slot(struct sender *s)
{
        return &s->queue[(s->q_head + s->q_count) % SENDER_QUEUE_SLOTS];
}

/* How many samples the frame an encoder just handed out trails its input
 * by, beyond its usual delay (an encoder on a thread of its own that ran
 * late) */
static uint64_t encoder_lag(const struct sender *s)
{
        return s->codec->lag_samples ? s->codec->lag_samples(s->enc) : 0;
}

/* When the first sample of the frame being encoded was captured: the
 * push's newest was captured at staged_read_ns, and what follows the
 * frame in staging and in the push came after, one sample a 1/rate. */
static uint64_t frame_capture_ns(const struct sender *s)
{
        /* an encoder running behind hands out an earlier frame's audio */
        uint64_t after = s->staged - s->frame_at + s->push_left + encoder_lag(s);
        uint64_t back = s->rate ? after * 1000000000ull / s->rate : 0;

        return s->staged_read_ns > back ? s->staged_read_ns - back : 0;
}

static struct sender_packet *open_packet(struct sender *s)
{
        struct sender_packet *pk;

        if (s->building)
                return s->building;
        /* the oldest audio goes: latency stays bounded (a step down in
         * quality makes packets longer, and the bound fewer) */
        while (sender_queue_full(s) && s->q_count)
                sender_drop_oldest(s);
        pk = next_slot(s);
        pk->len = s->header_len;
        pk->samples = 0;
        pk->full = false;
        pk->meta = (struct codec_packet_meta){ .timestamp = s->next_ts, .frag = FRAG_NONE };
        pk->first_ns = frame_capture_ns(s);
        s->building = pk;
        return pk;
}

static void close_packet(struct sender *s, bool full)
{
        struct sender_packet *pk = s->building;

        pk->read_ns = s->staged_read_ns;
        pk->full = full;
        s->building = NULL;
        s->q_count++;
        s->q_audio_packets++;
}

/* One frame larger than a packet: split over fragment packets, all queued
 * together so dropping never leaves half a frame. */
static int queue_fragments(struct sender *s, size_t frame_len)
{
        size_t room = s->mtu - s->header_len;
        unsigned count = (unsigned)((frame_len + room - 1) / room);
        size_t offset = 0;

        if (!s->codec->can_fragment || count > MAX_FRAGMENTS)
                return -EMSGSIZE;
        while (SENDER_QUEUE_SLOTS - s->q_count < count && s->q_count)
                sender_drop_oldest(s);
        for (unsigned i = 0; i < count; i++) {
                struct sender_packet *pk = next_slot(s);
                size_t chunk = frame_len - offset < room ? frame_len - offset : room;
                bool last = i + 1 == count;

                memcpy(pk->data + s->header_len, s->frame_buf + offset, chunk);
                offset += chunk;
                pk->len = s->header_len + chunk;
                pk->meta = (struct codec_packet_meta){
                        .timestamp = s->next_ts,
                        .frames = 0,
                        .frag = i == 0 ? FRAG_FIRST : last ? FRAG_LAST : FRAG_MIDDLE,
                        .fragments_left = count - 1 - i,
                };
                pk->samples = last ? s->frame_samples : 0;
                pk->full = last;
                pk->read_ns = s->staged_read_ns;
                pk->first_ns = frame_capture_ns(s);
                s->q_count++;
                if (last)
                        s->q_audio_packets++;
        }
        return 0;
}

/* A packet closes when it holds max_frames, or when another frame of the
 * size just made would not fit: packets of constant-size frames leave as
 * soon as they are full. A frame bigger than predicted closes the packet
 * before it. */
static int place_frame(struct sender *s, size_t n)
{
        struct sender_packet *pk = s->building;

        if (n > s->mtu - s->header_len) {
                if (pk)
                        close_packet(s, true);
                s->frame_len = n;
                reshape(s);
                return queue_fragments(s, n);
        }
        if (pk && (pk->len + n > s->mtu || pk->meta.frames >= frame_limit(s)))
                close_packet(s, true);
        pk = open_packet(s);
        memcpy(pk->data + pk->len, s->frame_buf, n);
        pk->len += n;
        pk->meta.frames++;
        pk->samples += s->frame_samples;
        s->frame_len = n;
        reshape(s);
        if (pk->meta.frames >= frame_limit(s) || pk->len + n > s->mtu)
                close_packet(s, true);
        return 0;
}

/* Encodes whole frames from staging. The level changes only between
 * packets, so each packet has one frame size. */
static int encode_staged(struct sender *s)
{
        size_t done = 0;
        int r = 0;

        while (s->staged - done >= s->frame_samples) {
                const int16_t *in = s->staging + done * 2;
                int n;

                if (!s->building && s->enc_level != s->level) {
                        s->codec->set_level(s->enc, s->level);
                        s->enc_level = s->level;
                        s->frame_len = estimated_frame_len(s);
                }
                s->frame_at = done;
                n = s->codec->encode(s->enc, in, s->frame_buf, sizeof(s->frame_buf));
                reshape(s);     /* the encoder's grouping may follow its frame */
                if (n < 0) {
                        r = -EIO;
                        break;
                }
                done += s->frame_samples;
                if (n == 0)
                        continue;       /* the encoder holds it for now (look-ahead) */
                r = place_frame(s, (size_t)n);
                if (r < 0)
                        break;
                s->next_ts += s->frame_samples;
        }
        if (done) {
                memmove(s->staging, s->staging + done * 2, (s->staged - done) * 2 * sizeof(int16_t));
                s->staged -= done;
        }
        return r;
}

int sender_push(struct sender *s, const int16_t *pcm, size_t frames, uint64_t read_ns)
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
                s->push_left = frames;
                r = encode_staged(s);
                if (r < 0)
                        return r;
        }
        return 0;
}

void sender_skip(struct sender *s, size_t frames)
{
        /* a packet half built stays: it goes out with what comes next, its
         * timestamp still right for its own frames */
        if (s->building && s->building->meta.frames)
                close_packet(s, false);
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
static void fit_sndbuf(struct sender *s)
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

static size_t socket_queued_bytes(const struct sender *s)
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

/* Packets waiting in the socket. */
static size_t socket_packets(const struct sender *s)
{
        /* the kernel counts buffer overhead too: a packet costs what its
         * send was seen to add to the queue */
        size_t cost = s->packet_cost ? s->packet_cost : s->mtu;

        return (socket_queued_bytes(s) + cost / 2) / cost;
}

static uint64_t packet_us(const struct sender *s)
{
        unsigned fpp = frames_per_packet(s) ? frames_per_packet(s) : 1;

        return (uint64_t)fpp * s->frame_samples * 1000000ull / s->rate;
}

uint32_t sender_packet_us(const struct sender *s)
{
        return (uint32_t)packet_us(s);
}

uint32_t sender_queued_us(const struct sender *s)
{
        return (uint32_t)(((uint64_t)s->q_audio_packets + socket_packets(s)) * packet_us(s));
}

static void record_latency(struct sender *s, const struct sender_packet *pk, uint64_t t)
{
        uint64_t us = t > pk->read_ns ? (t - pk->read_ns) / 1000 : 0;
        unsigned b = (unsigned)(us / STREAM_LATENCY_BUCKET_US);
        struct stream_output_stats *st = s->stats;

        if (b >= STREAM_LATENCY_BUCKETS)
                b = STREAM_LATENCY_BUCKETS - 1;
        atomic_fetch_add_explicit(&st->latency_hist[b], 1, memory_order_relaxed);
        if (us > atomic_load_explicit(&st->latency_max_us, memory_order_relaxed))
                atomic_store_explicit(&st->latency_max_us, (uint32_t)us, memory_order_relaxed);
}

static void set_level(struct sender *s, unsigned level, uint64_t t)
{
        s->level = level;
        s->last_level_change_ns = t;
        publish_level(s);
}

/* The speaker takes audio again after a stall: the level it was taking
 * comes back at once (a step made while nothing moved is undone), and the
 * audio that waited out the stall is not taken for congestion. */
static bool resume(struct sender *s, uint64_t t)
{
        s->stalled = false;
        s->resumed_ns = t;
        if (s->rc_interval_ns && s->codec->rate_control_restart)
                s->codec->rate_control_restart(s->enc);
        /* a cap set meanwhile holds */
        s->working_level = airtime_capped_level(&s->rates, s->working_level, s->cap_bps);
        if (s->level == s->working_level)
                return false;
        set_level(s, s->working_level, t);
        return true;
}

bool sender_set_cap(struct sender *s, unsigned cap_bps, uint64_t t)
{
        unsigned level;

        if (cap_bps == s->cap_bps)
                return false;
        if (!cap_bps && s->cap_bps && s->rc_interval_ns) {
                /* the codec's controller climbs again from where it is */
                if (s->codec->rate_control_restart)
                        s->codec->rate_control_restart(s->enc);
                s->rc_next_ns = 0;
        }
        s->cap_bps = cap_bps;
        level = airtime_capped_level(&s->rates, s->level, cap_bps);
        if (level == s->level)
                return false;
        set_level(s, level, t);
        return true;
}

static bool adapt_level(struct sender *s, bool congested, uint64_t t)
{
        if (congested) {
                s->last_congestion_ns = t;
                if (t - s->last_level_change_ns < LEVEL_DOWN_INTERVAL_NS || s->level + 1 >= s->levels)
                        return false;
                set_level(s, s->level + 1, t);
                return true;
        }
        if (s->level == 0 || t - s->last_congestion_ns < LEVEL_UP_CALM_NS ||
            t - s->last_level_change_ns < LEVEL_UP_CALM_NS ||
            (s->cap_bps && s->level - 1 < s->rates.levels && s->rates.bps[s->level - 1] > s->cap_bps))
                return false;
        set_level(s, s->level - 1, t);
        return true;
}

/* A codec with a rate controller of its own (LDAC's libldacBT_abr) is
 * fed the whole packets waiting in our queue at its interval and reports
 * the level it set itself; the sender's steps (adapt_level) stay out of
 * it, so that one controller decides. */
static bool feed_rate_control(struct sender *s, uint64_t t)
{
        unsigned level = s->level;

        /* the audio that waited out a stall is not the link's doing, and a
         * level set back after one is not applied yet: the controller
         * sees the queue again once both are behind */
        if (s->enc_level != s->level ||
            (s->q_count && s->queue[s->q_head].read_ns < s->resumed_ns)) {
                s->rc_next_ns = 0;
                return false;
        }
        if (!s->rc_next_ns || t >= s->rc_next_ns + RATE_CONTROL_GAP_NS)
                s->rc_next_ns = t;
        while (t >= s->rc_next_ns) {
                unsigned capped;

                level = s->codec->rate_control(s->enc, s->q_audio_packets);
                s->rc_next_ns += s->rc_interval_ns;
                /* sharing the air: the controller may not climb past the
                 * cap (it is set back before a frame is made at its level) */
                capped = airtime_capped_level(&s->rates, level, s->cap_bps);
                if (capped != level) {
                        s->codec->set_level(s->enc, capped);
                        level = capped;
                }
        }
        if (level >= s->levels || level == s->level)
                return false;
        s->enc_level = level;   /* the encoder set it itself */
        set_level(s, level, t);
        return true;
}

int sender_flush(struct sender *s, uint64_t t, bool *level_changed)
{
        struct stream_output_stats *st = s->stats;
        /* Congestion is audio waiting too long, not EAGAIN as such: an
         * unclocked source meets EAGAIN all the time and is simply
         * throttled, while a speaker that drains slower than capture fills
         * makes packets old. */
        uint64_t old_ns = sender_congestion_ns(s);
        bool congested = false, resumed = false;
        bool sample = !s->last_queue_sample_ns || t - s->last_queue_sample_ns >= QUEUE_SAMPLE_INTERVAL_NS;
        /* what a packet sent now waits behind in the socket (asked before
         * our own sends: a peer that takes them on arrival holds nothing
         * back, though it may not have read the last one yet) */
        size_t ahead = sample ? socket_packets(s) : 0;

        while (s->q_count) {
                struct sender_packet *pk = &s->queue[s->q_head];
                bool probe = !s->packet_cost && s->cost_probes < SENDER_COST_PROBES_MAX;
                size_t before = probe ? socket_queued_bytes(s) : 0;
                uint16_t seq = s->rtp.seq;
                ssize_t n;

                /* The header is written at send time: sequence numbers stay
                 * continuous over packets dropped from the queue, while the
                 * timestamp keeps the capture time of the audio. */
                s->codec->write_header(s->enc, &s->rtp, pk->data, &pk->meta);
                n = send(s->fd, pk->data, pk->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        s->rtp.seq = seq;
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                atomic_fetch_add(&st->congestion, 1);
                                s->hold_blocked = true;
                                congested |= pk->read_ns >= s->resumed_ns && t - pk->read_ns > old_ns;
                                break;
                        }
                        return errno;
                }
                if (s->stalled)
                        resumed = resume(s, t);
                s->working_level = s->level;
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
                /* audio that waited out a stall is no measure of the path */
                if (pk->samples && t > pk->first_ns && pk->read_ns >= s->resumed_ns) {
                        s->lag_sum_ns += t - pk->first_ns;
                        s->lag_count++;
                }
                atomic_fetch_add_explicit(&st->packets, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&st->bytes, (uint64_t)n, memory_order_relaxed);
                if (pk->meta.frag == FRAG_NONE)
                        atomic_fetch_add_explicit(&st->frames, pk->meta.frames, memory_order_relaxed);
                else if (pk->meta.frag == FRAG_LAST)
                        atomic_fetch_add_explicit(&st->frames, 1, memory_order_relaxed);
                if (pk->full)
                        atomic_fetch_add_explicit(&st->full_packets, 1, memory_order_relaxed);
                pop_head(s);
        }
        /* queue_us feeds the Latency property, hold_us the alignment of
         * two outputs: asking the kernel a few times a second is enough,
         * and spares every packet a system call */
        if (sample) {
                uint64_t pkt_us = packet_us(s), sock_us = socket_packets(s) * pkt_us;
                /* an encoder behind its input (AAC's thread, late) holds
                 * that audio back too: the Latency property counts it */
                uint64_t lag_us = s->rate ? encoder_lag(s) * 1000000 / s->rate : 0;

                atomic_store_explicit(&st->queue_us, (uint32_t)(s->q_audio_packets * pkt_us + sock_us + lag_us),
                                      memory_order_relaxed);
                /* nothing sent since (a stall): the last figure stands;
                 * the first packets of a stream, sent as the capture's
                 * start-up backlog, are no measure of it */
                bool steady = !s->hold_blocked || ++s->blocked_run >= 5;

                if (!s->hold_blocked)
                        s->blocked_run = 0;
                if (s->lag_count && steady && !s->stalled && ++s->hold_samples > 2)
                        atomic_store_explicit(&st->hold_us,
                                              (uint32_t)(s->lag_sum_ns / s->lag_count / 1000 + ahead * pkt_us),
                                              memory_order_relaxed);
                s->lag_sum_ns = 0;
                s->lag_count = 0;
                s->hold_blocked = false;
                s->last_queue_sample_ns = t;
        }
        if (!s->stalled && s->q_count && t - s->last_send_ns > SENDER_STALL_NS) {
                s->stalled = true;
                s->rc_next_ns = 0;
        }
        /* frozen through a stall: no audio is encoded, so EAGAIN there
         * says nothing about what the link can carry (nor does the queue
         * to a codec's own controller, which is not fed meanwhile) */
        if (s->rc_interval_ns)
                *level_changed = resumed || (!s->stalled && feed_rate_control(s, t));
        else
                *level_changed = resumed || (!s->stalled && adapt_level(s, congested, t));
        return 0;
}
