/* speaker-analyze: the analysis state shared by the analyzer proper
 * (speaker-analyze.c: records, RTP, SBC, timing, audio judgement) and the
 * other codecs' depacketizers and decoders (analyze-codecs.c). */
#ifndef SPEAKER_ANALYZE_H
#define SPEAKER_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_LIST 64
#define RTP_HEADER_LEN 12

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}
static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

struct sbc_conf {
	bool valid;		/* negotiated configuration was well formed */
	bool known;		/* we have a configuration (negotiated or inferred) */
	unsigned freq_idx, rate, mode, channels, blocks, subbands;
	bool loudness;
	unsigned min_bitpool, max_bitpool;
};

/* ---- analysis state --------------------------------------------------- */


struct seq_gap { size_t packet; unsigned expected, got; };
struct ts_err { size_t packet; uint32_t expected, got; };

/* one received packet */
struct pkt {
	uint64_t t_ns;
	bool rtp_ok;
	int64_t rtp_pos;	/* unwrapped timestamp relative to the first */
	unsigned samples;	/* audio samples (per channel) carried */
	uint64_t dec_start, dec_end;	/* decoded frame range it produced */
};

/* one SBC frame that decoded, for --ref-sbc */
struct frame_rec {
	int64_t pos;		/* RTP position of its first sample */
	size_t off, len;	/* in the recording buffer */
	unsigned bitpool;
};

/* codecs the analyzer knows */
enum rec_codec { RC_SBC, RC_APTX, RC_APTX_HD, RC_AAC, RC_LDAC, RC_UNKNOWN };

/* what the other codecs' paths count beside the shared counters */
#define LEN_HIST 16
struct codec_stats {
	size_t units;		/* aptX codewords, AAC AudioMuxElements, LDAC frames */
	size_t decoded_units;	/* of those, decoded (LDAC: framing intact) */
	size_t payload_bytes;	/* codec bytes after the RTP and payload headers */
	size_t unit_min, unit_max;	/* bytes per AAC or LDAC frame */
	unsigned lens[LEN_HIST];	/* LDAC frame lengths seen, and counts */
	size_t len_n[LEN_HIST];
	size_t n_lens;
	size_t status_nonzero;	/* LDAC frames whose frame status is not 0 */
	size_t fragmented;	/* AAC elements spread over several packets */
};

struct analysis {
	/* input */
	const uint8_t *data;
	size_t size;
	size_t hdr_len;		/* records start here */
	unsigned codec_id;	/* A2DP codec type from the header */
	enum rec_codec rc;
	struct codec_stats cs;
	const uint8_t *cfg;	/* the configuration blob, cfg_len bytes */
	size_t cfg_len;
	struct sbc_conf conf;
	bool conf_inferred;
	unsigned write_mtu, read_mtu;

	/* packets */
	size_t packets, bytes, truncated_tail;
	struct pkt *pk;
	size_t mtu_violations, full_packets, full_eligible;
	size_t fpp_hist[256];
	size_t bp_hist[256];
	size_t frames, config_mismatches, bitpool_out_of_range;
	size_t empty_packets;

	/* RTP */
	size_t short_packets, pt_errors, version_errors, ssrc_changes;
	size_t marker_packets, csrc_packets, ext_packets, pad_packets;
	size_t padding_errors;
	size_t seq_gaps, n_seq_list;
	struct seq_gap seq_list[MAX_LIST];
	size_t ts_errors, n_ts_list;
	struct ts_err ts_list[MAX_LIST];

	/* frames */
	size_t err_sync, err_crc, err_length, err_count, err_trailing;
	size_t err_bitpool, err_decode;
	size_t fragments, fragment_errors, frames_reassembled;

	/* decoded audio, interleaved, conf.channels wide */
	int16_t *pcm;
	uint64_t pcm_frames, pcm_cap;
	bool pcm_truncated;

	struct frame_rec *fr;
	size_t n_fr, cap_fr;

	/* RTP position of decoded frame 0 (from the first SBC frame that
	 * decoded): ties the decoded timeline to the RTP one */
	int64_t rtp_dec0;
	bool have_dec0;
};

void *xrealloc(void *p, size_t n);
void *xcalloc(size_t n, size_t sz);
void pcm_append(struct analysis *a, const int16_t *s, size_t frames);

/* ---- codecs other than SBC (analyze-codecs.c) ------------------------- */

/* The codec a recording's header names, and its configuration decoded
 * into a->rc and a->conf (rate, channels, known, valid). */
void codec_identify(struct analysis *a);
const char *codec_name(enum rec_codec rc);
/* Depacketizer and decoder state of one stream (libavcodec for aptX,
 * aptX HD and AAC; LDAC is checked, not decoded). */
struct codec_dec *codec_dec_new(struct analysis *a);
void codec_dec_free(struct codec_dec *d);
/* One packet's payload: after the RTP header (aptX: the whole packet).
 * pos: the packet's RTP position.  Returns the samples per channel the
 * packet completes (0 for an AAC fragment that is not the last). */
unsigned codec_packet(struct analysis *a, struct codec_dec *d, const uint8_t *pl,
		      size_t len, bool marker, int64_t pos);
/* Samples per channel in one of the codec's frames (aptX: a codeword). */
unsigned codec_frame_samples(const struct analysis *a);

#endif
