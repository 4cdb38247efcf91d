/* speaker-analyze: what its files share (the analysis state, the results
 * of each judgement, constants); speaker-analyze.c lists the files. */
#ifndef SPEAKER_ANALYZE_H
#define SPEAKER_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sbc/sbc.h>

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
	size_t rec_hdr_len;	/* a record's fixed part: 12, 20 in version 3 */
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


/* ---- constants and the pieces the analyzer's files share ---------- */

#define EXIT_USAGE 2

#define REC_MAGIC_V1 "A2DPREC1"
#define REC_MAGIC "A2DPREC2"
#define REC_MAGIC_V3 "A2DPREC3"
#define REC_HEADER_LEN 20
#define RECORD_HEADER_LEN 12
#define RECORD_HEADER_LEN_V3 20	/* + u64 t_kernel_ns, not used here */
#define SBC_SYNC 0x9c
#define A2DP_CODEC_SBC 0x00
#define A2DP_PT 96

/* Decoded audio is capped (garbage input must not exhaust memory). */
#define MAX_DECODED_FRAMES (48000ULL * 3600 * 6)

/* Tone analysis: 20 ms windows every 10 ms. */
#define WIN_MS 20
#define HOP_MS 10
#define SKIP_START_S 0.100
#define SKIP_END_S 0.050
/* phase steps are measured between windows this many hops apart, so that
 * the two windows do not overlap and a splice falls cleanly between them */
#define STEP_LAG 3
/* latency: windows either side whose coarse estimates are pooled */
#define COARSE_SPAN 25

/* Lags this close to the correlation peak belong to the peak itself. */
#define XCORR_GUARD 64
/* A runner-up peak at this fraction of the best makes it ambiguous. */
#define XCORR_AMBIGUOUS 0.9

extern const char *const mode_names[];

struct fit {
	double amp, phase;	/* phase at the window centre */
	double sig, res;	/* signal and residual power */
	double snr_db;
};

struct tone_win {
	uint64_t start;		/* first decoded frame */
	double centre;		/* decoded frame index of the centre */
	struct fit f[2];
	bool in_region, flagged;
};

struct tone {
	bool run, present;
	double freq[2];
	double start_s, end_s;
	double snr_db, snr_worst_db, snr_ch[2], level_dbfs[2];
	double frequency_hz;
	double phase_tol_deg;
	double dip_below_db;	/* --dip-below: INFINITY unless given */
	size_t windows, gaps, n_gap_list;
	double gap_list[MAX_LIST];
	struct tone_win *w;
	size_t nw;
	size_t win_len, hop;
};

struct timing {
	double duration_rtp_s, duration_wall_s;
	double iv_mean, iv_sd, iv_min, iv_max;
	double drift_end, drift_max, drift_per_min;
	bool have;
};

struct refres {
	bool run, ok;
	const char *error;
	long delay;		/* decoded[i] ~ ref[i - delay] */
	long codec_delay;
	long source_offset;	/* ref frame of decoded sample 0's input */
	double corr, snr_db;
	double ambiguity;	/* runner-up / best correlation peak */
	bool ambiguous;
	uint64_t compared;
	bool sbc_run;
	size_t frames_identical, frames_compared, first_mismatch;
	bool have_mismatch;
};

struct latency {
	bool run;
	const char *method;
	const char *error;
	size_t starts, origins;
	long codec_delay;
	size_t mapped, unmapped, inconsistent;
	double min, p50, p99, max, mean;
};

struct opts {
	const char *rec, *json_out, *pcm_out, *ref, *latency;
	bool text, ref_sbc;
	double tone, tone_offset, phase_tol, dip_below;
	unsigned ref_channels;
	size_t max_list;
};

struct json {
	char *buf;
	size_t len, cap;
	int depth;
	bool first[32];
};

/* speaker-analyze.c */
double median_of(double *v, size_t n);
double mod_pos(double x, double m);
double percentile(const double *v, size_t n, double q);
double wrap_pi(double x);
int cmp_double(const void *a, const void *b);

/* analyze-packets.c */
void analyze_packets(struct analysis *a);
void analyze_timing(const struct analysis *a, struct timing *t);
size_t frame_errors(const struct analysis *a);
bool parse_rec_header(struct analysis *a);
size_t sbc_frame_length(unsigned mode, unsigned channels,
			       unsigned blocks, unsigned subbands,
			       unsigned bitpool);
void sbc_setup(sbc_t *s, const struct sbc_conf *c, unsigned bitpool);

/* analyze-tone.c */
void analyze_tone(const struct analysis *a, struct tone *t);

/* analyze-ref.c */
long codec_delay(const struct sbc_conf *c);
void compare_ref(const struct analysis *a, const int16_t *ref,
			size_t ref_frames, unsigned ref_ch, bool do_sbc,
			struct refres *r);

/* analyze-latency.c */
void analyze_latency(const struct analysis *a, const char *path,
			    const struct tone *t, const struct refres *r,
			    double offset_hz, struct latency *L);

/* analyze-report.c */
void emit_json(struct json *j, const struct opts *o,
		      const struct analysis *a, const struct timing *tm,
		      const struct tone *t, const struct refres *r,
		      const struct latency *L);
void emit_text(FILE *out, const struct opts *o, const struct analysis *a,
		      const struct timing *tm, const struct tone *t,
		      const struct refres *r, const struct latency *L);

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
