/* MPEG-4 LATM framing of AAC-LC as A2DP carries it (A2DP spec 4.5.4,
 * ISO/IEC 14496-3 1.7.3, RFC 3016 / RFC 6416): each RTP payload is an
 * AudioMuxElement with muxConfigPresent=1, i.e. carrying its own
 * StreamMuxConfig in every frame (a sink may join at any packet), then one
 * PayloadLengthInfo and the raw AAC frame. Every field after the first
 * 45 bits lies off byte boundaries, so the frame is written bit by bit.
 *
 * Also here: splitting an AudioMuxElement bigger than a packet across RTP
 * packets (RFC 3016 3.2: the marker bit is set on the packet that carries
 * the end of an element; every fragment keeps the element's timestamp) and,
 * for the tests and the speaker double, parsing and reassembly and the
 * LOAS sync layer libavcodec's aac_latm decoder reads.
 *
 * Pure logic, no I/O, no allocation. */
#ifndef A2DPSRC_LATM_H
#define A2DPSRC_LATM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtp.h"

/* MPEG-4 audio object type of AAC Low Complexity */
#define LATM_AOT_AAC_LC 2
/* Bytes of an AudioMuxElement beyond the AAC frame: 45 bits of
 * StreamMuxConfig and the alignment, and one PayloadLengthInfo byte per
 * started 255 bytes of frame. */
#define LATM_OVERHEAD(aac_len) (7 + (aac_len) / 255 + 1)
/* LOAS AudioSyncStream header: 11-bit sync word 0x2B7, 13-bit length. */
#define LOAS_HEADER_LEN 3
#define LOAS_MAX_ELEMENT 8191

/* --- bit writer, most significant bit first --- */
struct latm_bitw {
        uint8_t *buf;
        size_t cap;              /* bytes */
        size_t bit;              /* bits written */
        bool overflow;           /* a write went past cap: the result is void */
};

void latm_bitw_init(struct latm_bitw *w, uint8_t *buf, size_t cap);
/* The low nbits (0..32) of value. */
void latm_bitw_put(struct latm_bitw *w, uint32_t value, unsigned nbits);
/* n whole bytes at the current (possibly unaligned) position. */
void latm_bitw_put_bytes(struct latm_bitw *w, const uint8_t *src, size_t n);
/* Zero bits up to the next byte boundary. */
void latm_bitw_align(struct latm_bitw *w);
/* Bytes used so far (a partial last byte counts). */
size_t latm_bitw_len(const struct latm_bitw *w);

/* --- bit reader (parsing, for tests and tools) --- */
struct latm_bitr {
        const uint8_t *buf;
        size_t len;              /* bytes */
        size_t bit;
        bool overrun;            /* a read went past the end: values read are 0 */
};

void latm_bitr_init(struct latm_bitr *r, const uint8_t *buf, size_t len);
uint32_t latm_bitr_get(struct latm_bitr *r, unsigned nbits);

/* The ISO 14496-3 samplingFrequencyIndex of rate, or -1 (explicit rates
 * are not written: every A2DP rate has an index). */
int latm_sampling_index(unsigned rate);
unsigned latm_sampling_rate(unsigned index);

/* Writes the 2-byte AudioSpecificConfig of AAC-LC at rate and channels
 * (1 or 2): what libavcodec's extradata holds. Bits, not bytes, for
 * embedding: see latm_write_element. */
void latm_put_audio_specific_config(struct latm_bitw *w, unsigned rate, unsigned channels);

/* One AudioMuxElement(muxConfigPresent=1) around one raw AAC-LC frame:
 * useSameStreamMux 0, StreamMuxConfig (audioMuxVersion 0,
 * allStreamsSameTimeFraming 1, numSubFrames 0, numProgram 0, numLayer 0,
 * AudioSpecificConfig, frameLengthType 0, latmBufferFullness 0xff,
 * otherDataPresent 0, crcCheckPresent 0), PayloadLengthInfo (0xff bytes
 * and the remainder), the frame, zero bits to the byte boundary.
 * Returns its length, -EINVAL (rate, channels, empty frame) or -EMSGSIZE
 * (out too small; nothing usable is written). */
int latm_write_element(unsigned rate, unsigned channels, const uint8_t *aac, size_t aac_len,
                       uint8_t *out, size_t out_len);

/* What an AudioMuxElement says, parsed. Only the layout above is
 * accepted (A2DP's), with any AudioSpecificConfig of one program and
 * layer; the frame is copied out aligned. */
struct latm_element {
        unsigned object_type;
        unsigned rate;
        unsigned channels;       /* channelConfiguration */
        unsigned frame_length_flag;
        uint8_t buffer_fullness;
        size_t payload_len;
};

/* Returns 0, -EPROTO (a field A2DP's layout does not use, or
 * useSameStreamMux with no earlier config) or -EINVAL (truncated, or a
 * payload bigger than payload_cap). */
int latm_parse_element(const uint8_t *in, size_t len, struct latm_element *el, uint8_t *payload,
                       size_t payload_cap);

/* The LOAS sync header before an AudioMuxElement of len bytes, so that
 * libavcodec's aac_latm decoder (which reads LOAS) takes it. Returns the
 * total length, or -EMSGSIZE. */
int latm_loas_wrap(const uint8_t *element, size_t len, uint8_t *out, size_t out_len);

/* --- RTP (RFC 3016 3.2) --- */

/* The plain 12-byte RTP header of one packet of an element; marker set
 * when this packet carries the element's end. */
void latm_rtp_write_header(struct rtp_stream *s, uint8_t *out, uint32_t timestamp, bool marker);

/* Packs the next packet of an element of len bytes, starting at *offset
 * (0 for a new element), into out of at most mtu bytes: a header at the
 * stream's timestamp, then as many bytes as fit. Returns the packet's
 * length, 0 when the element is done (then the stream's timestamp has
 * advanced by samples), or -EINVAL. */
int latm_rtp_pack(struct rtp_stream *s, uint8_t *out, size_t mtu, const uint8_t *element,
                  size_t len, size_t *offset, unsigned samples);

/* Reassembly on the receiving side (tests, the speaker double). */
struct latm_reasm {
        uint8_t buf[LOAS_MAX_ELEMENT];
        size_t len;
        uint32_t timestamp;
        uint16_t next_seq;
        bool open;               /* a fragment is pending */
        bool started;            /* next_seq is known */
        bool resync;             /* after a loss: dropping up to the next marker */
        unsigned dropped;        /* elements lost to gaps or mixed timestamps */
};

void latm_reasm_init(struct latm_reasm *r);
/* Feeds one RTP packet. Returns 1 with the element in *element and *element_len when
 * this packet completes one, 0 when more fragments are due, -EINVAL for a
 * packet that is not RTP, -EMSGSIZE when an element outgrows the buffer,
 * -EPROTO for a packet dropped because elements broke: after a gap in
 * sequence numbers everything up to and including the next marked packet
 * is dropped (it may be the tail of an element whose head was lost); a
 * timestamp changing before an element's end was marked drops the pending
 * part, and the packet starts a new element. Broken elements are counted
 * in dropped. */
int latm_reasm_push(struct latm_reasm *r, const uint8_t *pkt, size_t len,
                    const uint8_t **element, size_t *element_len);

#endif
