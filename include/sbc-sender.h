/* The Bluetooth half of the audio thread: PCM in, SBC frames, RTP packets
 * filled to the write MTU, a bounded queue, send() on the transport socket,
 * bitpool adaptation under congestion. Runs on the real-time thread: no
 * allocation (the struct is embedded, the encoder set up beforehand). */
#ifndef A2DPSRC_SBC_SENDER_H
#define A2DPSRC_SBC_SENDER_H

#include <sbc/sbc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtp.h"
#include "sbc-config.h"

/* Largest packet we build; a bigger write MTU is simply not filled. */
#define SENDER_MAX_PACKET 2048
/* Whole packets held while the socket is full (≈ 80 ms at 20 ms each). */
#define SENDER_QUEUE_PACKETS 4
/* Slots: the whole packets, or the fragments of one oversized frame. */
#define SENDER_QUEUE_SLOTS 16
#define SENDER_STAGING_FRAMES 4096
/* A link that sends each packet before send() returns never shows what a
 * packet costs in the socket: the sender stops asking (two ioctls a
 * packet) after this many sends; the write MTU then stands in for it. */
#define SENDER_COST_PROBES_MAX 32u
/* A speaker that took nothing for this long with audio waiting has
 * stalled: the audio thread plays locally, and bitpool adaptation stops
 * (nothing is encoded, so a lower bitpool would help nothing). */
#define SENDER_STALL_NS 300000000ull

struct stream_stats;

struct sender_packet {
        size_t len;             /* bytes including the RTP + SBC headers */
        unsigned samples;       /* audio the packet completes (0: leading fragment) */
        uint8_t sbc_header;     /* frame count, or fragment flags + fragments left */
        uint32_t timestamp;     /* RTP time of the first sample */
        uint64_t read_ns;       /* when its newest sample left ALSA */
        uint8_t data[SENDER_MAX_PACKET];
};

struct sbc_sender {
        int fd;
        int sock_family;
        size_t sndbuf;
        size_t mtu;             /* min(write MTU, SENDER_MAX_PACKET) */
        struct sbc_params params;
        sbc_t *sbc;
        struct stream_stats *stats;
        struct rtp_stream rtp;
        uint32_t next_ts;       /* RTP time of staging[0] */
        unsigned bitpool;
        size_t frame_len;
        unsigned frames_per_packet;
        unsigned frame_samples;
        uint64_t last_congestion_ns, last_bitpool_change_ns, last_send_ns;
        bool stalled;           /* nothing sent for SENDER_STALL_NS: adaptation frozen */
        unsigned working_bitpool;       /* in use at the last send before a stall */
        uint64_t resumed_ns;    /* audio read before this waited out a stall: no congestion */
        uint64_t last_queue_sample_ns;  /* queue_us published at */
        size_t packet_cost;     /* socket queue bytes one packet costs (truesize) */
        unsigned cost_probes;   /* sends measured to learn packet_cost */
        int16_t staging[SENDER_STAGING_FRAMES * 2];
        size_t staged;          /* frames in staging */
        uint64_t staged_read_ns;
        struct sender_packet queue[SENDER_QUEUE_SLOTS];
        unsigned q_head, q_count, q_audio_packets;
        struct sender_packet *building;
        uint8_t frame_buf[SENDER_MAX_PACKET];
};

/* sbc must be initialised for params (sbc_init_a2dp); the sender sets its
 * bitpool. seeds: random SSRC, first sequence number, first timestamp. */
void sbc_sender_init(struct sbc_sender *s, int fd, unsigned write_mtu,
                     const struct sbc_params *params, sbc_t *sbc,
                     struct stream_stats *stats, const uint32_t seeds[3]);

/* Stages frames of stereo S16 PCM captured at read_ns and encodes every
 * whole SBC frame. Returns 0 or -EIO when the encoder fails. */
int sbc_sender_push(struct sbc_sender *s, const int16_t *pcm, size_t frames, uint64_t read_ns);

/* Advances the RTP clock over audio that is not sent (e.g. played locally
 * while the link stalled), discarding any partial frame. */
void sbc_sender_skip(struct sbc_sender *s, size_t frames);

/* Sends queued packets until the socket pushes back. Returns 0, or a
 * positive errno from send() when the link failed. *bitpool_changed is set
 * when congestion handling moved the bitpool. */
int sbc_sender_flush(struct sbc_sender *s, uint64_t now_ns, bool *bitpool_changed);

bool sbc_sender_queue_full(const struct sbc_sender *s);
/* PCM frames that complete the packet being filled. */
size_t sbc_sender_frames_to_packet(const struct sbc_sender *s);
bool sbc_sender_has_queued(const struct sbc_sender *s);
/* Drops the oldest queued audio (whole frames), counting it. */
void sbc_sender_drop_oldest(struct sbc_sender *s);
/* Duration of one full packet of audio, in ms (at least 1). */
unsigned sbc_sender_packet_ms(const struct sbc_sender *s);
/* Audio waiting in our queue and the socket, in microseconds. */
uint32_t sbc_sender_queued_us(const struct sbc_sender *s);

#endif
