/* RTP (RFC 3550) framing of A2DP SBC media packets (A2DP spec 4.3.4):
 * a 12-byte RTP header, a 1-byte SBC payload header, then whole SBC frames,
 * or fragments of one frame when a frame does not fit the MTU.
 * Pure logic, no I/O. */
#ifndef A2DPSRC_RTP_H
#define A2DPSRC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_LEN 12
#define RTP_SBC_HEADER_LEN 1
#define RTP_SBC_OVERHEAD (RTP_HEADER_LEN + RTP_SBC_HEADER_LEN)
#define RTP_PAYLOAD_TYPE_A2DP 96
#define RTP_SBC_MAX_FRAMES 15

#define RTP_SBC_FRAGMENTED 0x80
#define RTP_SBC_START      0x40
#define RTP_SBC_LAST       0x20

struct rtp_stream {
        uint32_t ssrc;
        uint16_t seq;        /* sequence number of the next packet */
        uint32_t timestamp;  /* RTP time (samples) of the next packet's first sample */
};

void rtp_stream_init(struct rtp_stream *s, uint32_t ssrc, uint16_t seq0, uint32_t ts0);

/* How many whole frames of frame_len bytes fit one packet of at most mtu
 * bytes; 0 means a frame must be fragmented. */
unsigned rtp_sbc_frames_per_packet(size_t mtu, size_t frame_len);

/* Write the 12 bytes of a plain RTP header (payload type 96, no payload
 * header: aptX HD, AAC) of a packet whose first sample has RTP time
 * `timestamp`; uses and advances the sequence number. */
void rtp_write_header(struct rtp_stream *s, uint8_t *out, uint32_t timestamp);

/* Write the 13 header bytes (RTP + SBC payload header) of a packet whose
 * first sample has RTP time `timestamp`; uses and advances the sequence
 * number. */
void rtp_sbc_write_header(struct rtp_stream *s, uint8_t *out, uint32_t timestamp,
                          uint8_t sbc_header);

/* Fragmentation of one frame that exceeds the MTU. Call repeatedly with the
 * same frame; *offset starts at 0 and is advanced; returns the packet
 * length, 0 when the frame is done, or a negative errno. All fragments
 * carry the frame's timestamp; the timestamp advances after the last. */
int rtp_sbc_pack_fragment(struct rtp_stream *s, uint8_t *out, size_t mtu,
                          const uint8_t *frame, size_t frame_len, size_t *offset,
                          unsigned samples_per_frame);

/* Parsed view of a received packet (for tests and tools). */
struct rtp_sbc_view {
        uint16_t seq;
        uint32_t timestamp;
        uint32_t ssrc;
        uint8_t payload_type;
        uint8_t sbc_header;
        const uint8_t *payload;  /* after the SBC payload header */
        size_t payload_len;
};

int rtp_sbc_parse(const uint8_t *pkt, size_t len, struct rtp_sbc_view *v);

#endif
