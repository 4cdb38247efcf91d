/* The Bluetooth half of the audio thread, for any codec: PCM in, frames
 * from the codec's encoder, packets filled to the write MTU (or the
 * codec's frame limit), a bounded queue, send() on the transport socket,
 * quality steps under congestion. Runs on the real-time thread: no
 * allocation (the struct is embedded, the encoder set up beforehand on the
 * main thread). The codec is known only through a2dp-codec.h. */
#ifndef A2DPSRC_SENDER_H
#define A2DPSRC_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "a2dp-codec.h"
#include "airtime.h"
#include "rtp.h"

/* Whole packets held while the socket is full: SENDER_QUEUE_PACKETS
 * (SBC's 4 packets of ~20 ms, about 80 ms); a codec with short packets
 * (4 of them under half of SENDER_QUEUE_NS: LDAC's 5.3 ms) holds about
 * SENDER_QUEUE_NS of them instead, up to the slots. */
#define SENDER_QUEUE_PACKETS 4
#define SENDER_QUEUE_NS 80000000ull
/* Congestion is audio that waited longer than 1.5 packets; with short
 * packets also at least this long (or 3/4 of the queue, if that is
 * less): 1.5 of them is within a scheduler's jitter. */
#define SENDER_CONGESTION_MIN_NS 20000000ull
/* Slots: the whole packets, or the fragments of one oversized frame. */
#define SENDER_QUEUE_SLOTS 16
#define SENDER_STAGING_FRAMES 4096
/* A link that sends each packet before send() returns never shows what a
 * packet costs in the socket: the sender stops asking (two ioctls a
 * packet) after this many sends; the write MTU then stands in for it. */
#define SENDER_COST_PROBES_MAX 32u
/* A speaker that took nothing for this long with audio waiting has
 * stalled: the audio thread plays locally, and quality adaptation stops
 * (nothing is encoded, so a lower level would help nothing). */
#define SENDER_STALL_NS 300000000ull

struct stream_output_stats;

struct sender_packet {
        size_t len;             /* bytes including the codec's headers */
        unsigned samples;       /* audio the packet completes (0: leading fragment) */
        bool full;              /* closed because nothing more fit */
        struct codec_packet_meta meta;  /* written into the header at send time */
        uint64_t read_ns;       /* when its newest sample left ALSA */
        uint64_t first_ns;      /* when its first sample was captured */
        uint8_t data[CODEC_MAX_PACKET];
};

struct sender {
        int fd;
        int sock_family;
        size_t sndbuf;
        size_t mtu;             /* min(write MTU, CODEC_MAX_PACKET) */
        const struct a2dp_codec *codec;
        struct codec_encoder *enc;      /* the caller's; the sender only uses it */
        unsigned rate;
        unsigned frame_samples;
        size_t header_len;
        struct stream_output_stats *stats;  /* its output's counters */
        struct rtp_stream rtp;
        uint32_t next_ts;       /* RTP time of the next encoded frame */
        unsigned level;         /* quality level in use for new packets (0 best) */
        unsigned levels;
        struct airtime_output rates;    /* bit/s at each level */
        unsigned cap_bps;       /* the most it may use, sharing the air (0: no cap) */
        unsigned enc_level;     /* the level the encoder was last set to */
        size_t frame_len;       /* the last frame's bytes (estimated before the first) */
        /* frames a packet holds (frames_per_packet) and may hold
         * (frame_limit), worked out again whenever the frame size or the
         * encoder's grouping may have changed: asked several times a
         * packet, they would otherwise cost a division and a codec call
         * each time */
        unsigned frame_limit, packet_frames;
        uint64_t last_congestion_ns, last_level_change_ns, last_send_ns;
        bool stalled;           /* nothing sent for SENDER_STALL_NS: adaptation frozen */
        unsigned working_level; /* in use at the last send before a stall */
        uint64_t resumed_ns;    /* audio read before this waited out a stall: no congestion */
        uint64_t last_queue_sample_ns;  /* queue_us and hold_us published at */
        /* the audio packets' waits from their first sample's capture to
         * send() since hold_us was last published, summed: a speaker
         * presents a packet's first sample its Delay after the packet
         * arrives, so this (averaged: it varies with where a packet's end
         * falls in the capture periods, and with our queue) plus the
         * socket is what a sample waits on our side */
        uint64_t lag_sum_ns;
        unsigned lag_count;
        unsigned hold_samples;  /* intervals measured (the first two: start-up) */
        /* the socket pushed back, or the speaker stalled, in this interval:
         * what the packets waited says nothing steady about the path */
        bool hold_blocked;
        unsigned blocked_run;   /* such intervals in a row: after a few, the
                                 * pushing back is the path's steady state */
        /* where the frame being encoded starts in staging, and how much of
         * the push is not staged yet: what was captured after it */
        size_t frame_at, push_left;
        /* a codec's own rate controller: fed every rc_interval_ns (0: none,
         * the sender steps), next at rc_next_ns (0: from the next flush) */
        uint64_t rc_interval_ns, rc_next_ns;
        size_t packet_cost;     /* socket queue bytes one packet costs (truesize) */
        unsigned cost_probes;   /* sends measured to learn packet_cost */
        int16_t staging[SENDER_STAGING_FRAMES * 2];
        size_t staged;          /* frames in staging */
        uint64_t staged_read_ns;
        struct sender_packet queue[SENDER_QUEUE_SLOTS];
        unsigned q_head, q_count, q_audio_packets;
        struct sender_packet *building;
        uint8_t frame_buf[CODEC_MAX_FRAME];
};

/* enc: set up by codec->encoder_new for info's configuration; the sender
 * sets its level. seeds: random SSRC, first sequence number, first
 * timestamp. */
void sender_init(struct sender *s, int fd, unsigned write_mtu, const struct a2dp_codec *codec,
                 struct codec_encoder *enc, const struct codec_info *info,
                 struct stream_output_stats *stats, const uint32_t seeds[3]);

/* Stages frames of stereo S16 PCM captured at read_ns and encodes every
 * whole codec frame. Returns 0, -EIO when the encoder fails, -EMSGSIZE
 * when a frame fits no packet. */
int sender_push(struct sender *s, const int16_t *pcm, size_t frames, uint64_t read_ns);

/* Advances the RTP clock over audio that is not sent (e.g. played locally
 * while the link stalled), discarding any partial frame. */
void sender_skip(struct sender *s, size_t frames);

/* Sends queued packets until the socket pushes back. Returns 0, or a
 * positive errno from send() when the link failed. *level_changed is set
 * when congestion handling moved the quality level. */
int sender_flush(struct sender *s, uint64_t now_ns, bool *level_changed);

/* The most bit/s it may use (0: no cap; airtime.h): a level above it is
 * left at once, and neither the sender's steps nor the codec's own
 * controller go back above it. Returns true when the level changed. */
bool sender_set_cap(struct sender *s, unsigned cap_bps, uint64_t now_ns);

bool sender_queue_full(const struct sender *s);
/* Whole packets the queue holds at most, at the current level. */
unsigned sender_queue_packets(const struct sender *s);
/* How long queued audio may wait before it counts as congestion. */
uint64_t sender_congestion_ns(const struct sender *s);
/* PCM frames that complete the packet being filled. */
size_t sender_frames_to_packet(const struct sender *s);
/* PCM frames a whole packet carries. */
size_t sender_packet_samples(const struct sender *s);
bool sender_has_queued(const struct sender *s);
/* Drops the oldest queued audio (whole frames), counting it. */
void sender_drop_oldest(struct sender *s);
/* Duration of one full packet of audio, in ms (at least 1). */
unsigned sender_packet_ms(const struct sender *s);
/* One full packet's audio at the current level, in us. */
uint32_t sender_packet_us(const struct sender *s);
/* Audio waiting in our queue and the socket, in microseconds. */
uint32_t sender_queued_us(const struct sender *s);
/* What the level shows (bitpool for SBC, kbit/s for others). */
unsigned sender_level_value(const struct sender *s);

#endif
