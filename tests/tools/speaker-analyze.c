/*
 * speaker-analyze: judge what a Bluetooth speaker received from an A2DP SBC
 * source, the way a speaker would: packet and RTP sanity, SBC frame
 * validity, timing, and the decoded audio itself (decoded with libsbc, a
 * decoder independent of the sender).
 *
 * Input is a recording written by the BlueZ double's speaker end:
 *   "A2DPREC1", 4 bytes A2DP SBC codec information, u16 write_mtu,
 *   u16 read_mtu, u32 reserved, then records of
 *   u64 t_ns (CLOCK_MONOTONIC at receipt), u32 len, len bytes of packet;
 * all little-endian.  A truncated last record is ignored.
 *
 * See tests/tools/README.md for the options and every JSON key.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sbc/sbc.h>

#include "speaker-analyze.h"

#define EXIT_USAGE 2

#define REC_MAGIC_V1 "A2DPREC1"
#define REC_MAGIC "A2DPREC2"
#define REC_HEADER_LEN 20
#define RECORD_HEADER_LEN 12
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

/* ---- small utilities -------------------------------------------------- */

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "speaker-analyze: out of memory\n");
		exit(EXIT_USAGE);
	}
	return q;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p) {
		fprintf(stderr, "speaker-analyze: out of memory\n");
		exit(EXIT_USAGE);
	}
	return p;
}

/* x modulo 2*pi into (-pi, pi] */
static double wrap_pi(double x)
{
	x = fmod(x, 2 * M_PI);
	if (x > M_PI)
		x -= 2 * M_PI;
	else if (x <= -M_PI)
		x += 2 * M_PI;
	return x;
}

/* x modulo m into [0, m) */
static double mod_pos(double x, double m)
{
	double r = fmod(x, m);

	return r < 0 ? r + m : r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static double percentile(const double *v, size_t n, double q)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(q * (double)n);

	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

static double median_of(double *v, size_t n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool read_whole_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf;

	if (!f) {
		fprintf(stderr, "speaker-analyze: %s: %s\n", path, strerror(errno));
		return false;
	}
	buf = xrealloc(NULL, cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "speaker-analyze: %s: read error\n", path);
		fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	*data = buf;
	*len = n;
	return true;
}

/* ---- JSON writer ------------------------------------------------------ */

struct json {
	char *buf;
	size_t len, cap;
	int depth;
	bool first[32];
};

static void jraw(struct json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void jraw(struct json *j, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = j->cap - j->len;

		va_start(ap, fmt);
		int n = vsnprintf(j->buf + j->len, room, fmt, ap);

		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			j->len += (size_t)n;
			return;
		}
		j->cap = (j->cap + (size_t)n + 1) * 2;
		j->buf = xrealloc(j->buf, j->cap);
	}
}

static void jstr_raw(struct json *j, const char *s)
{
	jraw(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jraw(j, "\\%c", c);
		else if (c < 0x20)
			jraw(j, "\\u%04x", c);
		else
			jraw(j, "%c", c);
	}
	jraw(j, "\"");
}

/* comma, newline and indentation before a member or element */
static void jsep(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		jraw(j, ",");
	j->first[j->depth] = false;
	jraw(j, "\n%*s", 2 * j->depth, "");
	if (key) {
		jstr_raw(j, key);
		jraw(j, ": ");
	}
}

static void jopen(struct json *j, const char *key, char c)
{
	if (j->depth > 0 || key)
		jsep(j, key);
	jraw(j, "%c", c);
	if (j->depth < 31)
		j->depth++;
	j->first[j->depth] = true;
}

static void jclose(struct json *j, char c)
{
	bool empty = j->first[j->depth];

	j->depth--;
	if (!empty)
		jraw(j, "\n%*s", 2 * j->depth, "");
	jraw(j, "%c", c);
}

static void jint(struct json *j, const char *key, long long v)
{
	jsep(j, key);
	jraw(j, "%lld", v);
}

static void jnum(struct json *j, const char *key, double v)
{
	jsep(j, key);
	if (isfinite(v))
		jraw(j, "%.6g", v);
	else
		jraw(j, "null");
}

/* fixed decimals for times and levels that need them */
static void jfix(struct json *j, const char *key, double v, int decimals)
{
	jsep(j, key);
	if (isfinite(v))
		jraw(j, "%.*f", decimals, v);
	else
		jraw(j, "null");
}

static void jbool(struct json *j, const char *key, bool v)
{
	jsep(j, key);
	jraw(j, v ? "true" : "false");
}

static void jnull(struct json *j, const char *key)
{
	jsep(j, key);
	jraw(j, "null");
}

static void jstring(struct json *j, const char *key, const char *s)
{
	jsep(j, key);
	if (s)
		jstr_raw(j, s);
	else
		jraw(j, "null");
}

/* ---- SBC -------------------------------------------------------------- */

enum { MODE_MONO, MODE_DUAL, MODE_STEREO, MODE_JOINT };
static const char *const mode_names[] = {
	"mono", "dual_channel", "stereo", "joint_stereo"
};
static const unsigned freq_table[] = { 16000, 32000, 44100, 48000 };


struct frame_hdr {
	unsigned freq_idx, rate, blocks, mode, channels, subbands, bitpool;
	bool loudness;
	size_t length;
};

/* exactly one bit of `mask` set in v; returns its index among `bits` */
static int one_of(unsigned v, const unsigned *bits, int n)
{
	int found = -1;

	for (int i = 0; i < n; i++) {
		if (v & bits[i]) {
			if (found >= 0)
				return -1;
			found = i;
		}
	}
	return found;
}

static void parse_a2dp_conf(const uint8_t *c, struct sbc_conf *s)
{
	static const unsigned fbits[] = { 0x80, 0x40, 0x20, 0x10 };
	static const unsigned mbits[] = { 0x08, 0x04, 0x02, 0x01 };
	static const unsigned bbits[] = { 0x80, 0x40, 0x20, 0x10 };
	static const unsigned sbits[] = { 0x08, 0x04 };
	static const unsigned abits[] = { 0x02, 0x01 };
	int f = one_of(c[0] & 0xf0, fbits, 4);
	int m = one_of(c[0] & 0x0f, mbits, 4);
	int b = one_of(c[1] & 0xf0, bbits, 4);
	int sb = one_of(c[1] & 0x0c, sbits, 2);
	int a = one_of(c[1] & 0x03, abits, 2);

	memset(s, 0, sizeof(*s));
	s->min_bitpool = c[2];
	s->max_bitpool = c[3];
	if (f < 0 || m < 0 || b < 0 || sb < 0 || a < 0 ||
	    s->min_bitpool < 2 || s->min_bitpool > s->max_bitpool)
		return;
	s->valid = s->known = true;
	s->freq_idx = (unsigned)f;
	s->rate = freq_table[f];
	s->mode = (unsigned)m;
	s->channels = m == MODE_MONO ? 1 : 2;
	s->blocks = 4 * (unsigned)(b + 1);
	s->subbands = sb == 0 ? 4 : 8;
	s->loudness = a == 1;
}

static size_t sbc_frame_length(unsigned mode, unsigned channels,
			       unsigned blocks, unsigned subbands,
			       unsigned bitpool)
{
	size_t len = 4 + (4 * subbands * channels) / 8;

	if (mode == MODE_MONO || mode == MODE_DUAL)
		len += (blocks * channels * bitpool + 7) / 8;
	else if (mode == MODE_STEREO)
		len += (blocks * bitpool + 7) / 8;
	else
		len += (subbands + blocks * bitpool + 7) / 8;
	return len;
}

/* 0 on success; the header must fit in n bytes (length not checked) */
static int parse_frame_hdr(const uint8_t *p, size_t n, struct frame_hdr *h)
{
	if (n < 4 || p[0] != SBC_SYNC)
		return -1;
	h->freq_idx = p[1] >> 6;
	h->rate = freq_table[h->freq_idx];
	h->blocks = 4 * (((p[1] >> 4) & 3) + 1);
	h->mode = (p[1] >> 2) & 3;
	h->channels = h->mode == MODE_MONO ? 1 : 2;
	h->loudness = !(p[1] & 0x02);
	h->subbands = (p[1] & 0x01) ? 8 : 4;
	h->bitpool = p[2];
	h->length = sbc_frame_length(h->mode, h->channels, h->blocks,
				     h->subbands, h->bitpool);
	return 0;
}

/* bitpool limits of the SBC specification */
static bool bitpool_legal(const struct frame_hdr *h)
{
	unsigned max = (h->mode == MODE_MONO || h->mode == MODE_DUAL)
		       ? 16 * h->subbands : 32 * h->subbands;

	return h->bitpool >= 2 && h->bitpool <= max && h->bitpool <= 250;
}

/* CRC-8 (x^8+x^4+x^3+x^2+1, initial 0x0f) over header bytes 1-2, the join
 * bits and the scale factors; the caller ensures they are in the buffer. */
static uint8_t sbc_crc(const uint8_t *f, const struct frame_hdr *h)
{
	unsigned bits = 16 + (h->mode == MODE_JOINT ? h->subbands : 0) +
			4 * h->subbands * h->channels;
	uint8_t crc = 0x0f;

	for (unsigned i = 0; i < bits; i++) {
		/* bytes 1 and 2, then from byte 4 on (byte 3 is the CRC) */
		unsigned pos = i < 16 ? 8 + i : 32 + (i - 16);
		unsigned bit = (f[pos / 8] >> (7 - pos % 8)) & 1;
		unsigned top = ((crc >> 7) & 1) ^ bit;

		crc = (uint8_t)(crc << 1);
		if (top)
			crc ^= 0x1d;
	}
	return crc;
}

static bool hdr_matches(const struct frame_hdr *h, const struct sbc_conf *c)
{
	return h->freq_idx == c->freq_idx && h->mode == c->mode &&
	       h->blocks == c->blocks && h->subbands == c->subbands &&
	       h->loudness == c->loudness;
}

static void sbc_setup(sbc_t *s, const struct sbc_conf *c, unsigned bitpool)
{
	static const uint8_t fr[] = { SBC_FREQ_16000, SBC_FREQ_32000,
				      SBC_FREQ_44100, SBC_FREQ_48000 };
	static const uint8_t md[] = { SBC_MODE_MONO, SBC_MODE_DUAL_CHANNEL,
				      SBC_MODE_STEREO, SBC_MODE_JOINT_STEREO };

	sbc_init(s, 0);
	s->frequency = fr[c->freq_idx];
	s->mode = md[c->mode];
	s->blocks = (uint8_t)(c->blocks / 4 - 1);
	s->subbands = c->subbands == 8 ? SBC_SB_8 : SBC_SB_4;
	s->allocation = c->loudness ? SBC_AM_LOUDNESS : SBC_AM_SNR;
	s->bitpool = (uint8_t)bitpool;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	s->endian = SBC_BE;
#else
	s->endian = SBC_LE;
#endif
}

void pcm_append(struct analysis *a, const int16_t *s, size_t frames)
{
	unsigned ch = a->conf.channels;

	if (a->pcm_frames + frames > MAX_DECODED_FRAMES) {
		a->pcm_truncated = true;
		return;
	}
	if (a->pcm_frames + frames > a->pcm_cap) {
		a->pcm_cap = (a->pcm_cap + frames) * 2;
		a->pcm = xrealloc(a->pcm, a->pcm_cap * ch * sizeof(int16_t));
	}
	memcpy(a->pcm + a->pcm_frames * ch, s, frames * ch * sizeof(int16_t));
	a->pcm_frames += frames;
}

/*
 * Check and decode one SBC frame of `n` bytes at p (p lies in the recording
 * buffer when `off` is not SIZE_MAX).  Returns the samples per channel it
 * stands for (0 if its header is unusable).
 */
static unsigned handle_frame(struct analysis *a, sbc_t *dec, bool *dec_init,
			     const uint8_t *p, const struct frame_hdr *h,
			     size_t off, int64_t pos)
{
	a->frames++;
	a->bp_hist[h->bitpool]++;
	if (!bitpool_legal(h)) {
		a->err_bitpool++;
		return 0;
	}
	if (sbc_crc(p, h) != p[3]) {
		a->err_crc++;
		return h->blocks * h->subbands;
	}
	if (!a->conf.known) {
		/* no usable negotiated configuration: adopt the stream's */
		a->conf.known = true;
		a->conf_inferred = true;
		a->conf.freq_idx = h->freq_idx;
		a->conf.rate = h->rate;
		a->conf.mode = h->mode;
		a->conf.channels = h->channels;
		a->conf.blocks = h->blocks;
		a->conf.subbands = h->subbands;
		a->conf.loudness = h->loudness;
	}
	if (!hdr_matches(h, &a->conf)) {
		a->config_mismatches++;
		return h->blocks * h->subbands;
	}
	if (a->conf.valid && (h->bitpool < a->conf.min_bitpool ||
			      h->bitpool > a->conf.max_bitpool))
		a->bitpool_out_of_range++;

	if (!*dec_init) {
		sbc_setup(dec, &a->conf, h->bitpool);
		*dec_init = true;
	}
	int16_t out[16 * 8 * 2];
	size_t written = 0;
	ssize_t r = sbc_decode(dec, p, h->length, out, sizeof(out), &written);

	if (r != (ssize_t)h->length ||
	    written != h->blocks * h->subbands * h->channels * 2) {
		a->err_decode++;
		return h->blocks * h->subbands;
	}
	if (!a->have_dec0) {
		a->have_dec0 = true;
		a->rtp_dec0 = pos - (int64_t)a->pcm_frames;
	}
	pcm_append(a, out, h->blocks * h->subbands);
	if (off != SIZE_MAX) {
		if (a->n_fr == a->cap_fr) {
			a->cap_fr = a->cap_fr ? 2 * a->cap_fr : 1024;
			a->fr = xrealloc(a->fr, a->cap_fr * sizeof(*a->fr));
		}
		a->fr[a->n_fr++] = (struct frame_rec){
			.pos = pos, .off = off, .len = h->length,
			.bitpool = h->bitpool,
		};
	}
	return h->blocks * h->subbands;
}

/* reassembly of a fragmented SBC frame */
struct frag {
	bool active;
	unsigned remaining;
	uint8_t buf[4096];
	size_t len;
};

/* Version 2: magic, u16 header length, u8 codec, u8 n, u16 write_mtu,
 * u16 read_mtu, u32 reserved, n configuration bytes.  Version 1 (SBC):
 * magic, 4 configuration bytes, u16 write_mtu, u16 read_mtu, u32. */
static bool parse_rec_header(struct analysis *a)
{
	const uint8_t *d = a->data;

	if (a->size < REC_HEADER_LEN)
		return false;
	if (!memcmp(d, REC_MAGIC_V1, 8)) {
		a->hdr_len = REC_HEADER_LEN;
		a->codec_id = A2DP_CODEC_SBC;
		a->cfg = d + 8;
		a->cfg_len = 4;
	} else if (!memcmp(d, REC_MAGIC, 8)) {
		a->hdr_len = le16(d + 8);
		a->codec_id = d[10];
		a->cfg = d + REC_HEADER_LEN;
		a->cfg_len = d[11];
		if (a->hdr_len < REC_HEADER_LEN + a->cfg_len || a->hdr_len > a->size)
			return false;
	} else {
		return false;
	}
	a->write_mtu = le16(d + 12);
	a->read_mtu = le16(d + 14);
	codec_identify(a);
	if (a->rc == RC_SBC && a->cfg_len == 4)
		parse_a2dp_conf(a->cfg, &a->conf);
	return true;
}

static void analyze_packets(struct analysis *a)
{
	sbc_t dec;
	bool dec_init = false;
	bool have_prev = false;
	uint16_t prev_seq = 0;
	uint32_t prev_ts = 0, prev_ssrc = 0;
	unsigned prev_samples = 0;
	int64_t rtp_pos = 0;
	struct frag fg = { 0 };
	size_t off = a->hdr_len;
	size_t cap = 0;
	struct codec_dec *cd = a->rc == RC_SBC ? NULL : codec_dec_new(a);

	memset(&dec, 0, sizeof(dec));
	while (off < a->size) {
		if (a->size - off < RECORD_HEADER_LEN) {
			a->truncated_tail = a->size - off;
			break;
		}
		uint64_t t_ns = le64(a->data + off);
		uint32_t len = le32(a->data + off + 8);

		if (a->size - off - RECORD_HEADER_LEN < len) {
			a->truncated_tail = a->size - off;
			break;
		}
		size_t poff = off + RECORD_HEADER_LEN;
		const uint8_t *p = a->data + poff;

		off = poff + len;

		if (a->packets == cap) {
			cap = cap ? 2 * cap : 4096;
			a->pk = xrealloc(a->pk, cap * sizeof(*a->pk));
		}
		struct pkt *pk = &a->pk[a->packets++];

		memset(pk, 0, sizeof(*pk));
		pk->t_ns = t_ns;
		pk->dec_start = pk->dec_end = a->pcm_frames;
		a->bytes += len;
		if (a->write_mtu && len > a->write_mtu)
			a->mtu_violations++;

		if (a->rc == RC_APTX) {
			/* no RTP: positions count the codewords' samples */
			pk->rtp_ok = true;
			pk->rtp_pos = rtp_pos;
			pk->samples = codec_packet(a, cd, p, len, false, rtp_pos);
			pk->dec_end = a->pcm_frames;
			rtp_pos += pk->samples;
			continue;
		}

		/* RTP header */
		if (len < RTP_HEADER_LEN) {
			a->short_packets++;
			continue;
		}
		unsigned version = p[0] >> 6;
		bool padding = p[0] & 0x20, ext = p[0] & 0x10;
		unsigned cc = p[0] & 0x0f;
		bool marker = p[1] & 0x80;
		unsigned pt = p[1] & 0x7f;
		uint16_t seq = be16(p + 2);
		uint32_t ts = be32(p + 4), ssrc = be32(p + 8);
		size_t hdr = RTP_HEADER_LEN + 4 * (size_t)cc, end = len;

		if (version != 2)
			a->version_errors++;
		if (pt != A2DP_PT)
			a->pt_errors++;
		if (marker)
			a->marker_packets++;
		if (cc)
			a->csrc_packets++;
		if (ext) {
			a->ext_packets++;
			if (hdr + 4 <= end)
				hdr += 4 + 4 * (size_t)be16(p + hdr + 2);
			else
				hdr = end + 1;
		}
		if (hdr > end) {
			a->short_packets++;
			continue;
		}
		if (padding) {
			unsigned pad = p[len - 1];

			a->pad_packets++;
			if (pad == 0 || pad > end - hdr) {
				a->padding_errors++;
				continue;
			}
			end -= pad;
		}

		if (have_prev) {
			if (ssrc != prev_ssrc)
				a->ssrc_changes++;
			uint16_t exp_seq = (uint16_t)(prev_seq + 1);

			if (seq != exp_seq) {
				if (a->n_seq_list < MAX_LIST)
					a->seq_list[a->n_seq_list++] = (struct seq_gap){
						a->packets - 1, exp_seq, seq };
				a->seq_gaps++;
			}
			uint32_t exp_ts = prev_ts + prev_samples;

			if (ts != exp_ts && a->rc != RC_UNKNOWN) {
				if (a->n_ts_list < MAX_LIST)
					a->ts_list[a->n_ts_list++] = (struct ts_err){
						a->packets - 1, exp_ts, ts };
				a->ts_errors++;
			}
			rtp_pos += (int32_t)(ts - prev_ts);
		}
		pk->rtp_ok = true;
		pk->rtp_pos = rtp_pos;
		have_prev = true;
		prev_seq = seq;
		prev_ts = ts;
		prev_ssrc = ssrc;
		prev_samples = 0;

		if (hdr >= end) {
			a->empty_packets++;
			continue;
		}
		if (a->rc != RC_SBC) {
			prev_samples = codec_packet(a, cd, p + hdr, end - hdr, marker, rtp_pos);
			pk->samples = prev_samples;
			pk->dec_end = a->pcm_frames;
			continue;
		}

		/* A2DP media payload header */
		uint8_t mh = p[hdr];
		unsigned nfr = mh & 0x0f;
		const uint8_t *pl = p + hdr + 1;
		size_t plen = end - hdr - 1, plo = poff + hdr + 1;

		if (mh & 0x80) {
			/* fragmented: count is the fragments still to come */
			a->fragments++;
			if (mh & 0x40) {
				if (fg.active)
					a->fragment_errors++;
				fg.active = true;
				fg.len = 0;
			} else if (!fg.active || nfr + 1 != fg.remaining) {
				a->fragment_errors++;
				fg.active = false;
				continue;
			}
			fg.remaining = nfr;
			if (plen > sizeof(fg.buf) - fg.len) {
				a->fragment_errors++;
				fg.active = false;
				continue;
			}
			memcpy(fg.buf + fg.len, pl, plen);
			fg.len += plen;
			if (!(mh & 0x20))
				continue;
			fg.active = false;
			struct frame_hdr h;

			if (nfr != 1 || parse_frame_hdr(fg.buf, fg.len, &h) < 0 ||
			    h.length != fg.len) {
				a->fragment_errors++;
				continue;
			}
			a->frames_reassembled++;
			prev_samples = handle_frame(a, &dec, &dec_init, fg.buf,
						    &h, SIZE_MAX, rtp_pos);
			a->fpp_hist[1]++;
			pk->samples = prev_samples;
			pk->dec_end = a->pcm_frames;
			continue;
		}
		if (fg.active) {
			/* a whole packet while a fragmented frame is open */
			a->fragment_errors++;
			fg.active = false;
		}

		/* SBC frames */
		size_t pos = 0;
		unsigned count = 0, samples = 0;
		size_t first_len = 0;

		while (pos < plen) {
			struct frame_hdr h;

			if (parse_frame_hdr(pl + pos, plen - pos, &h) < 0) {
				if (pl[pos] == SBC_SYNC)
					a->err_length++;	/* header cut */
				else if (count == nfr && count > 0)
					a->err_trailing++;
				else
					a->err_sync++;
				break;
			}
			if (h.length > plen - pos) {
				a->err_length++;
				break;
			}
			if (!count)
				first_len = h.length;
			count++;
			samples += handle_frame(a, &dec, &dec_init, pl + pos, &h,
						plo + pos, rtp_pos + samples);
			pos += h.length;
		}
		if (count != nfr)
			a->err_count++;
		a->fpp_hist[count > 255 ? 255 : count]++;
		if (count && a->write_mtu > RTP_HEADER_LEN + 1) {
			size_t fit = (a->write_mtu - RTP_HEADER_LEN - 1) / first_len;

			if (fit > 15)
				fit = 15;	/* the frame count has 4 bits */

			a->full_eligible++;
			if (count >= fit)
				a->full_packets++;
		}
		prev_samples = samples;
		pk->samples = samples;
		pk->dec_end = a->pcm_frames;
	}
	if (dec_init)
		sbc_finish(&dec);
	codec_dec_free(cd);
}

static size_t frame_errors(const struct analysis *a)
{
	return a->err_sync + a->err_crc + a->err_length + a->err_count +
	       a->err_trailing + a->err_bitpool + a->err_decode +
	       a->fragment_errors;
}

/* ---- timing ----------------------------------------------------------- */

struct timing {
	double duration_rtp_s, duration_wall_s;
	double iv_mean, iv_sd, iv_min, iv_max;
	double drift_end, drift_max, drift_per_min;
	bool have;
};

static void analyze_timing(const struct analysis *a, struct timing *t)
{
	memset(t, 0, sizeof(*t));
	t->iv_mean = t->iv_sd = t->iv_min = t->iv_max = NAN;
	t->drift_end = t->drift_max = t->drift_per_min = NAN;
	t->duration_rtp_s = t->duration_wall_s = NAN;
	if (!a->packets)
		return;
	t->have = true;
	t->duration_wall_s =
		(double)(int64_t)(a->pk[a->packets - 1].t_ns - a->pk[0].t_ns) / 1e9;
	if (a->packets > 1) {
		double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;

		for (size_t i = 1; i < a->packets; i++) {
			double d = (double)(int64_t)(a->pk[i].t_ns -
						     a->pk[i - 1].t_ns) / 1e6;

			s += d;
			s2 += d * d;
			mn = fmin(mn, d);
			mx = fmax(mx, d);
		}
		double n = (double)(a->packets - 1);

		t->iv_mean = s / n;
		t->iv_sd = sqrt(fmax(0, s2 / n - t->iv_mean * t->iv_mean));
		t->iv_min = mn;
		t->iv_max = mx;
	}
	if (!a->conf.known)
		return;

	/* RTP time against arrival time, relative to the first packet */
	const struct pkt *first = NULL, *last = NULL;
	double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0, mx = 0;

	for (size_t i = 0; i < a->packets; i++) {
		const struct pkt *p = &a->pk[i];

		if (!p->rtp_ok)
			continue;
		if (!first)
			first = p;
		last = p;
		/* a packet can only leave once its last sample exists: compare
		 * arrival with the RTP time of the packet's end */
		double x = (double)(int64_t)(p->t_ns - first->t_ns) / 1e9;
		double y = (double)(p->rtp_pos + p->samples - first->rtp_pos -
				    first->samples) / a->conf.rate - x;

		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
		n++;
		if (fabs(y) > fabs(mx))
			mx = y;
	}
	if (!first)
		return;
	t->duration_rtp_s = (double)(last->rtp_pos + last->samples -
				     first->rtp_pos) / a->conf.rate;
	double x_last = (double)(int64_t)(last->t_ns - first->t_ns) / 1e9;

	t->drift_end = ((double)(last->rtp_pos + last->samples - first->rtp_pos -
				 first->samples) / a->conf.rate - x_last) * 1e3;
	t->drift_max = mx * 1e3;
	double den = n * sxx - sx * sx;

	if (n > 2 && den > 0)
		t->drift_per_min = (n * sxy - sx * sy) / den * 60 * 1e3;
}

/* ---- sine fitting ----------------------------------------------------- */

struct fit {
	double amp, phase;	/* phase at the window centre */
	double sig, res;	/* signal and residual power */
	double snr_db;
};

/* Least-squares a*sin + b*cos + c at angular frequency w (rad/sample) over
 * n samples x[0], x[stride], ...; the phase refers to the window centre. */
static void fit_sine(const int16_t *x, size_t stride, size_t n, double w,
		     struct fit *f)
{
	double c0 = -w * ((double)n - 1) / 2;
	double s = sin(c0), c = cos(c0), ds = sin(w), dc = cos(w);
	double Sss = 0, Scc = 0, Ssc = 0, Ss = 0, Sc = 0;
	double Sxs = 0, Sxc = 0, Sx = 0, Sxx = 0;

	for (size_t k = 0; k < n; k++) {
		double v = x[k * stride];

		Sss += s * s;
		Scc += c * c;
		Ssc += s * c;
		Ss += s;
		Sc += c;
		Sxs += v * s;
		Sxc += v * c;
		Sx += v;
		Sxx += v * v;
		/* rotate by w: accurate enough over one window */
		double ns = s * dc + c * ds;

		c = c * dc - s * ds;
		s = ns;
	}
	/* solve the 3x3 normal equations by Cramer's rule */
	double N = (double)n;
	double m[3][3] = { { Sss, Ssc, Ss }, { Ssc, Scc, Sc }, { Ss, Sc, N } };
	double r[3] = { Sxs, Sxc, Sx };
	double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
		     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
		     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
	double sol[3] = { 0, 0, Sx / N };

	if (fabs(det) > 1e-9 * N * N * N) {
		for (int col = 0; col < 3; col++) {
			double t[3][3];

			memcpy(t, m, sizeof(t));
			for (int row = 0; row < 3; row++)
				t[row][col] = r[row];
			sol[col] = (t[0][0] * (t[1][1] * t[2][2] - t[1][2] * t[2][1]) -
				    t[0][1] * (t[1][0] * t[2][2] - t[1][2] * t[2][0]) +
				    t[0][2] * (t[1][0] * t[2][1] - t[1][1] * t[2][0])) / det;
		}
	}
	/* residual energy = |x|^2 - fitted . rhs (normal equations hold) */
	double res = (Sxx - (sol[0] * Sxs + sol[1] * Sxc + sol[2] * Sx)) / N;

	f->amp = hypot(sol[0], sol[1]);
	f->phase = atan2(sol[1], sol[0]);
	f->sig = f->amp * f->amp / 2;
	f->res = fmax(res, 1e-3);	/* below 16-bit rounding noise */
	f->snr_db = 10 * log10(fmax(f->sig, 1e-12) / f->res);
}

/* ---- tone analysis ---------------------------------------------------- */

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
	size_t windows, gaps, n_gap_list;
	double gap_list[MAX_LIST];
	struct tone_win *w;
	size_t nw;
	size_t win_len, hop;
};

static void analyze_tone(const struct analysis *a, struct tone *t)
{
	unsigned ch = a->conf.channels, rate = a->conf.rate;

	t->start_s = t->end_s = t->snr_db = t->snr_worst_db = NAN;
	t->snr_ch[0] = t->snr_ch[1] = t->level_dbfs[0] = t->level_dbfs[1] = NAN;
	t->frequency_hz = NAN;
	if (!a->conf.known || !a->pcm_frames)
		return;
	t->win_len = rate * WIN_MS / 1000;
	t->hop = rate * HOP_MS / 1000;
	if (a->pcm_frames < t->win_len)
		return;

	/* fit every window of the stream (latency uses them all) */
	t->nw = (size_t)((a->pcm_frames - t->win_len) / t->hop) + 1;
	t->w = xcalloc(t->nw, sizeof(*t->w));
	for (size_t i = 0; i < t->nw; i++) {
		struct tone_win *w = &t->w[i];

		w->start = i * t->hop;
		w->centre = (double)w->start + ((double)t->win_len - 1) / 2;
		for (unsigned c = 0; c < ch && c < 2; c++)
			fit_sine(a->pcm + w->start * ch + c, ch, t->win_len,
				 2 * M_PI * t->freq[c] / rate, &w->f[c]);
	}

	/* where the tone is: 10 ms blocks within 20 dB of the loudest, in
	 * which the tone also dominates (noise or music is not the tone) */
	size_t nb = (size_t)(a->pcm_frames / t->hop);
	double *rms = xcalloc(nb, sizeof(double));
	double mx = 0;

	for (size_t b = 0; b < nb; b++) {
		for (unsigned c = 0; c < ch; c++) {
			double e = 0;

			for (size_t k = 0; k < t->hop; k++) {
				double v = a->pcm[(b * t->hop + k) * ch + c];

				e += v * v;
			}
			rms[b] = fmax(rms[b], sqrt(e / (double)t->hop));
		}
		mx = fmax(mx, rms[b]);
	}
	double thr = fmax(mx * 0.1, 30);	/* and above -60 dBFS */
	size_t first = SIZE_MAX, last = 0;

	for (size_t b = 0; b < nb; b++) {
		const struct tone_win *w = &t->w[b < t->nw ? b : t->nw - 1];

		if (rms[b] >= thr && w->f[0].snr_db > 0) {
			if (first == SIZE_MAX)
				first = b;
			last = b;
		}
	}
	free(rms);
	if (first == SIZE_MAX)
		return;
	t->present = true;
	t->start_s = (double)(first * t->hop) / rate;
	t->end_s = (double)((last + 1) * t->hop) / rate;

	uint64_t r0 = (uint64_t)((t->start_s + SKIP_START_S) * rate);
	uint64_t r1 = (uint64_t)fmax(0, (t->end_s - SKIP_END_S) * rate);

	for (size_t i = 0; i < t->nw; i++)
		t->w[i].in_region = t->w[i].start >= r0 &&
				    t->w[i].start + t->win_len <= r1;

	/* SNR over the region */
	double sig[2] = { 0 }, res[2] = { 0 }, amp[2] = { 0 }, n = 0;
	double *snrs = xcalloc(t->nw, sizeof(double));
	size_t ns = 0;

	t->snr_worst_db = INFINITY;
	for (size_t i = 0; i < t->nw; i++) {
		struct tone_win *w = &t->w[i];
		double worst = INFINITY;

		if (!w->in_region)
			continue;
		for (unsigned c = 0; c < ch; c++) {
			sig[c] += w->f[c].sig;
			res[c] += w->f[c].res;
			amp[c] += w->f[c].amp;
			worst = fmin(worst, w->f[c].snr_db);
		}
		n++;
		snrs[ns++] = worst;
		t->snr_worst_db = fmin(t->snr_worst_db, worst);
	}
	t->windows = ns;
	if (!ns) {
		t->snr_worst_db = NAN;
		free(snrs);
		return;
	}
	for (unsigned c = 0; c < ch; c++) {
		t->snr_ch[c] = 10 * log10(sig[c] / res[c]);
		t->level_dbfs[c] = 20 * log10(fmax(amp[c] / n, 1e-9) / 32767);
	}
	t->snr_db = 10 * log10((sig[0] + sig[1]) / (res[0] + res[1]));
	double snr_med = median_of(snrs, ns);

	/*
	 * Discontinuities: a window that fits badly, or a step in the phase
	 * residual r = phase - w * centre between windows STEP_LAG hops apart
	 * (beyond the stream's steady phase advance, which a small frequency
	 * error would cause).
	 */
	double *res_phase[2], *steps = xcalloc(t->nw, sizeof(double));
	double med_step[2] = { 0, 0 };

	for (unsigned c = 0; c < ch; c++) {
		double wc = 2 * M_PI * t->freq[c] / rate;
		size_t k = 0;

		res_phase[c] = xcalloc(t->nw, sizeof(double));
		for (size_t i = 0; i < t->nw; i++)
			res_phase[c][i] = wrap_pi(t->w[i].f[c].phase -
						  wrap_pi(wc * t->w[i].centre));
		for (size_t i = STEP_LAG; i < t->nw; i++)
			if (t->w[i].in_region && t->w[i - STEP_LAG].in_region)
				steps[k++] = wrap_pi(res_phase[c][i] -
						     res_phase[c][i - STEP_LAG]);
		med_step[c] = k ? median_of(steps, k) : 0;
	}
	free(steps);
	double tol = t->phase_tol_deg * M_PI / 180;
	double snr_floor = snr_med - 15;

	for (size_t i = 0; i < t->nw; i++) {
		struct tone_win *w = &t->w[i];

		if (!w->in_region)
			continue;
		for (unsigned c = 0; c < ch; c++) {
			if (w->f[c].snr_db < snr_floor)
				w->flagged = true;
			if (i >= STEP_LAG && t->w[i - STEP_LAG].in_region &&
			    fabs(wrap_pi(res_phase[c][i] - res_phase[c][i - STEP_LAG] -
					 med_step[c])) > tol)
				w->flagged = true;
		}
	}
	/* events: runs of flagged windows, merged across short clean spells */
	size_t last_flag = SIZE_MAX;

	for (size_t i = 0; i < t->nw; i++) {
		if (!t->w[i].flagged)
			continue;
		if (last_flag == SIZE_MAX || i - last_flag > STEP_LAG + 1) {
			if (t->n_gap_list < MAX_LIST)
				t->gap_list[t->n_gap_list++] =
					t->w[i].centre / rate;
			t->gaps++;
		}
		last_flag = i;
	}

	/* frequency: phase slope over the longest clean run of windows */
	size_t best_a = 0, best_n = 0, run_a = 0, run_n = 0;

	for (size_t i = 0; i < t->nw; i++) {
		if (t->w[i].in_region && !t->w[i].flagged) {
			if (!run_n)
				run_a = i;
			run_n++;
			if (run_n > best_n) {
				best_n = run_n;
				best_a = run_a;
			}
		} else {
			run_n = 0;
		}
	}
	if (best_n >= 2) {
		double sx = 0, sy = 0, sxx = 0, sxy = 0, unw = 0;

		for (size_t i = best_a; i < best_a + best_n; i++) {
			if (i > best_a)
				unw += wrap_pi(res_phase[0][i] - res_phase[0][i - 1]);
			double x = t->w[i].centre;

			sx += x;
			sy += unw;
			sxx += x * x;
			sxy += x * unw;
		}
		double nn = (double)best_n;
		double slope = (nn * sxy - sx * sy) / (nn * sxx - sx * sx);

		t->frequency_hz = t->freq[0] + slope * rate / (2 * M_PI);
	}
	for (unsigned c = 0; c < ch; c++)
		free(res_phase[c]);
	free(snrs);
}

/* ---- FFT cross-correlation -------------------------------------------- */

static void fft(double *re, double *im, size_t n, bool inverse)
{
	for (size_t i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (size_t len = 2; len <= n; len <<= 1) {
		size_t half = len / 2;
		double sgn = inverse ? 1 : -1;

		for (size_t k = 0; k < half; k++) {
			/* twiddles computed directly: no error build-up */
			double ang = sgn * 2 * M_PI * (double)k / (double)len;
			double wr = cos(ang), wi = sin(ang);

			for (size_t i = k; i < n; i += len) {
				size_t b = i + half;
				double xr = re[b] * wr - im[b] * wi;
				double xi = re[b] * wi + im[b] * wr;

				re[b] = re[i] - xr;
				im[b] = im[i] - xi;
				re[i] += xr;
				im[i] += xi;
			}
		}
	}
	if (inverse)
		for (size_t i = 0; i < n; i++) {
			re[i] /= (double)n;
			im[i] /= (double)n;
		}
}

/*
 * Lag l maximizing sum_i x[i] * y[i - l] (x "later" than y by l samples),
 * over all lags with any overlap.  Returns the normalized correlation at
 * the peak in *corr.
 */
static long xcorr_peak(const double *x, size_t nx, const double *y, size_t ny,
		       double *corr, double *ambiguity)
{
	size_t n = 1;

	while (n < nx + ny)
		n <<= 1;
	/* both real signals in one complex transform: x real, y imaginary */
	double *re = xcalloc(n, sizeof(double)), *im = xcalloc(n, sizeof(double));

	for (size_t i = 0; i < nx; i++)
		re[i] = x[i];
	for (size_t i = 0; i < ny; i++)
		im[i] = y[i];
	fft(re, im, n, false);
	/* X * conj(Y) in place, bins k and n-k together, where
	 * X = (Z[k] + conj Z[n-k]) / 2 and Y = (Z[k] - conj Z[n-k]) / 2i */
	for (size_t k = 0; k <= n / 2; k++) {
		size_t mk = (n - k) % n;
		double zr = re[k], zi = im[k], wr = re[mk], wi = im[mk];
		double xr = (zr + wr) / 2, xi = (zi - wi) / 2;
		double yr = (zi + wi) / 2, yi = -(zr - wr) / 2;

		re[k] = xr * yr + xi * yi;
		im[k] = xi * yr - xr * yi;
		/* bin n-k: X and Y are conjugate-symmetric */
		re[mk] = re[k];
		im[mk] = -im[k];
	}
	fft(re, im, n, true);
	long best = 0;
	double bv = -INFINITY;

	/* no wrap-around: n >= nx + ny, so index k is lag k for
	 * k < nx and lag k - n for k > n - ny */
	for (size_t k = 0; k < n; k++) {
		long lag;

		if (k < nx)
			lag = (long)k;
		else if (k > n - ny)
			lag = (long)k - (long)n;
		else
			continue;
		if (re[k] > bv) {
			bv = re[k];
			best = lag;
		}
	}
	/* the runner-up away from the peak: close to it means the reference
	 * repeats itself (a sine) and the alignment cannot be trusted */
	double second = 0;

	for (size_t k = 0; k < n; k++) {
		long lag = k < nx ? (long)k : k > n - ny ? (long)k - (long)n : LONG_MIN;

		if (lag == LONG_MIN || labs(lag - best) <= XCORR_GUARD)
			continue;
		if (re[k] > second)
			second = re[k];
	}
	*ambiguity = bv > 0 ? second / bv : 1;
	free(re);
	free(im);
	/* normalize by the energies over the overlap at that lag */
	double ex = 0, ey = 0;

	for (size_t i = 0; i < nx; i++) {
		long j = (long)i - best;

		if (j < 0 || j >= (long)ny)
			continue;
		ex += x[i] * x[i];
		ey += y[j] * y[j];
	}
	*corr = (ex > 0 && ey > 0) ? bv / sqrt(ex * ey) : NAN;
	return best;
}

/* ---- codec delay ------------------------------------------------------ */

/* Encoder + decoder delay of libsbc for this configuration, measured by
 * coding a noise burst: the sender is assumed to use an encoder with the
 * same delay (libsbc). */
static long codec_delay(const struct sbc_conf *c)
{
	sbc_t enc, dec;
	unsigned ch = c->channels, bp = c->max_bitpool;
	size_t fs = c->blocks * c->subbands, nfr = 64, n = fs * nfr;
	int16_t *in = xcalloc(n * ch, sizeof(int16_t));
	double *x = xcalloc(n, sizeof(double)), *y = xcalloc(n, sizeof(double));
	uint32_t rnd = 12345;
	size_t got = 0;

	if (bp < 2 || bp > 250)
		bp = 32;
	for (size_t i = 0; i < n; i++) {
		rnd = rnd * 1103515245u + 12345u;
		int16_t v = (int16_t)((int)((rnd >> 16) & 0x3fff) - 0x2000);

		for (unsigned k = 0; k < ch; k++)
			in[i * ch + k] = v;
		y[i] = v;
	}
	sbc_setup(&enc, c, bp);
	sbc_setup(&dec, c, bp);
	for (size_t f = 0; f < nfr; f++) {
		uint8_t frame[1024];
		int16_t out[16 * 8 * 2];
		ssize_t w = 0;
		size_t wr = 0;

		if (sbc_encode(&enc, in + f * fs * ch, fs * ch * 2, frame,
			       sizeof(frame), &w) <= 0 || w <= 0)
			break;
		if (sbc_decode(&dec, frame, (size_t)w, out, sizeof(out), &wr) <= 0)
			break;
		for (size_t i = 0; i < wr / (2 * ch) && got < n; i++)
			x[got++] = out[i * ch];
	}
	sbc_finish(&enc);
	sbc_finish(&dec);
	long best = 0;
	double bv = -INFINITY;

	for (long lag = 0; lag < (long)(8 * fs) && lag < (long)got; lag++) {
		double s = 0;

		for (size_t i = (size_t)lag; i < got; i++)
			s += x[i] * y[i - (size_t)lag];
		if (s > bv) {
			bv = s;
			best = lag;
		}
	}
	free(in);
	free(x);
	free(y);
	return best;
}

/* ---- reference comparison --------------------------------------------- */

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

/* Decoded samples skipped past the alignment lag before comparing a
 * stream of another codec than SBC (its decoder's warm-up: two AAC
 * frames). */
#define NON_SBC_WARMUP 2048

/* Largest FFT we allow for the alignment (memory bound). */
#define XCORR_MAX (1u << 22)
/* Decoded audio used for the alignment: about 1.4 s at 48 kHz. */
#define XCORR_ALIGN_FRAMES (1u << 16)

static void compare_ref(const struct analysis *a, const int16_t *ref,
			size_t ref_frames, unsigned ref_ch, bool do_sbc,
			struct refres *r)
{
	unsigned ch = a->conf.channels;
	size_t nd = (size_t)a->pcm_frames, nr = ref_frames;

	r->run = true;
	r->snr_db = r->corr = NAN;
	if (!nd || !nr) {
		r->error = "nothing to compare";
		return;
	}
	/* Align on the start of the stream only: the sender's first samples
	 * fix the mapping --ref-sbc needs, and a later drop must not win. */
	if (nd > XCORR_ALIGN_FRAMES)
		nd = XCORR_ALIGN_FRAMES;
	if (nr > XCORR_MAX - nd)
		nr = XCORR_MAX - nd;
	double *x = xcalloc(nd, sizeof(double)), *y = xcalloc(nr, sizeof(double));

	for (size_t i = 0; i < nd; i++) {
		for (unsigned c = 0; c < ch; c++)
			x[i] += a->pcm[i * ch + c];
		x[i] /= ch;
	}
	for (size_t i = 0; i < nr; i++) {
		for (unsigned c = 0; c < ref_ch; c++)
			y[i] += ref[i * ref_ch + c];
		y[i] /= ref_ch;
	}
	r->delay = xcorr_peak(x, nd, y, nr, &r->corr, &r->ambiguity);
	free(x);
	free(y);
	/* the codec delay is measured for libsbc only: for the other codecs
	 * the alignment alone places the reference */
	bool sbc = a->rc == RC_SBC;

	r->codec_delay = sbc ? codec_delay(&a->conf) : -1;
	r->source_offset = sbc ? r->codec_delay - r->delay : -1;
	r->ok = true;
	if (r->ambiguity >= XCORR_AMBIGUOUS) {
		r->ambiguous = true;
		r->error = "alignment ambiguous: the reference repeats itself "
			   "(use a non-periodic reference, or --tone)";
	}

	/* error against the aligned reference, past the codec's warm-up */
	double es = 0, ee = 0;
	uint64_t skip = sbc ? (uint64_t)(r->codec_delay + 2 * (long)(a->conf.blocks *
								     a->conf.subbands)) :
			(uint64_t)(r->delay > 0 ? r->delay : 0) + NON_SBC_WARMUP;
	unsigned cc = ch == ref_ch ? ch : 1;

	for (uint64_t i = skip; i < a->pcm_frames; i++) {
		long j = (long)i - r->delay;

		if (j < 0 || (size_t)j >= ref_frames)
			continue;
		for (unsigned c = 0; c < cc; c++) {
			double d, s;

			if (ch == ref_ch) {
				d = a->pcm[i * ch + c];
				s = ref[(size_t)j * ref_ch + c];
			} else {
				/* channel counts differ: compare the mixes */
				d = s = 0;
				for (unsigned k = 0; k < ch; k++)
					d += a->pcm[i * ch + k];
				for (unsigned k = 0; k < ref_ch; k++)
					s += ref[(size_t)j * ref_ch + k];
				d /= ch;
				s /= ref_ch;
			}
			es += s * s;
			ee += (d - s) * (d - s);
		}
		r->compared++;
	}
	if (r->compared)
		r->snr_db = 10 * log10(fmax(es, 1e-9) / fmax(ee, 1e-9));

	if (!do_sbc)
		return;
	r->sbc_run = true;
	if (!sbc) {
		r->error = "--ref-sbc re-encodes SBC streams only";
		return;
	}
	if (r->ambiguous)
		return;
	if (ref_ch != ch) {
		r->error = "--ref-sbc needs the reference's channel count to match";
		return;
	}
	if (r->source_offset < 0) {
		r->error = "stream starts before the reference";
		return;
	}
	/*
	 * Re-encode the reference from the sender's first sample with a fresh
	 * libsbc encoder, slot by slot (one slot per frame of RTP time), using
	 * the bitpool each received frame announced, and compare the bytes.
	 */
	size_t fs = a->conf.blocks * a->conf.subbands;
	size_t n = a->n_fr;
	struct frame_rec *fr = xcalloc(n, sizeof(*fr));
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		struct frame_rec f = a->fr[i];

		f.pos -= a->rtp_dec0;
		if (f.pos + r->source_offset >= 0 && f.pos % (int64_t)fs == 0)
			fr[m++] = f;
	}
	/* stable insertion into RTP order; streams are nearly sorted */
	for (size_t i = 1; i < m; i++) {
		struct frame_rec t = fr[i];
		size_t j = i;

		while (j > 0 && fr[j - 1].pos > t.pos) {
			fr[j] = fr[j - 1];
			j--;
		}
		fr[j] = t;
	}
	sbc_t enc;
	int16_t *buf = xcalloc(fs * ch, sizeof(int16_t));
	size_t k = 0;

	sbc_setup(&enc, &a->conf, a->conf.max_bitpool ? a->conf.max_bitpool : 32);
	/* the sender's encoder started at the first packet, which may come
	 * before the first frame that decoded */
	int64_t slot0 = 0;

	if (a->rtp_dec0 > 0 && a->rtp_dec0 % (int64_t)fs == 0 &&
	    r->source_offset - a->rtp_dec0 >= 0)
		slot0 = -a->rtp_dec0 / (int64_t)fs;
	for (int64_t slot = slot0; k < m; slot++) {
		size_t base = (size_t)(r->source_offset + slot * (int64_t)fs);

		if (base + fs > ref_frames)
			break;
		memcpy(buf, ref + base * ch, fs * ch * sizeof(int16_t));
		/* bitpool: the one the received frame used, if any */
		while (k < m && fr[k].pos < slot * (int64_t)fs)
			k++;
		bool have = k < m && fr[k].pos == slot * (int64_t)fs;

		if (have)
			enc.bitpool = (uint8_t)fr[k].bitpool;
		uint8_t out[1024];
		ssize_t w = 0;

		if (sbc_encode(&enc, buf, fs * ch * 2, out, sizeof(out), &w) <= 0)
			break;
		for (; k < m && fr[k].pos == slot * (int64_t)fs; k++) {
			bool same = (size_t)w == fr[k].len &&
				    !memcmp(out, a->data + fr[k].off, fr[k].len);

			r->frames_compared++;
			if (same) {
				r->frames_identical++;
			} else if (!r->have_mismatch) {
				r->have_mismatch = true;
				r->first_mismatch = (size_t)slot;
			}
		}
	}
	sbc_finish(&enc);
	free(buf);
	free(fr);
}

/* ---- latency ---------------------------------------------------------- */

struct latency {
	bool run;
	const char *method;
	const char *error;
	size_t starts, origins;
	long codec_delay;
	size_t mapped, unmapped, inconsistent;
	double min, p50, p99, max, mean;
};

/*
 * Capture time of the last input sample of each packet, from the audio
 * itself.  The capture plugin's signal index g is captured at
 * origin + g / rate (origin: t0 of its first start), so a source-time
 * estimate tau for that sample gives latency = t_recv - origin - tau.
 *
 * two_tone: the left channel is sin(2 pi f tau), the right
 * sin(2 pi (f + d) tau).  Per 20 ms window, the left phase gives tau modulo
 * 1/f precisely; the phase difference gives tau modulo 1/|d| coarsely, which
 * picks the right period of the fine estimate.  The remaining ambiguity,
 * multiples of 1/|d| seconds, is resolved by requiring
 * 0 <= latency < 1/|d| s.
 *
 * ref: the cross-correlation delay maps decoded samples to reference
 * (= signal index) samples directly; assumes one alignment for the whole
 * stream (no audio lost or added by the sender).
 */
static void analyze_latency(const struct analysis *a, const char *path,
			    const struct tone *t, const struct refres *r,
			    double offset_hz, struct latency *L)
{
	FILE *f = fopen(path, "r");
	unsigned long long t0, disc;
	unsigned rate;
	double *lat = NULL;
	size_t n = 0;
	/* origins: lines with nothing discarded begin a new signal (an open or
	 * a new configuration of the capture device); later lines of the same
	 * signal keep its origin */
	struct origin { uint64_t t0; unsigned rate; } *org = NULL;
	size_t norg = 0;

	L->run = true;
	L->min = L->p50 = L->p99 = L->max = L->mean = NAN;
	if (!f) {
		L->error = "cannot open the start file";
		return;
	}
	if (a->rc != RC_SBC) {
		/* the mapping needs the codec's delay, known for libsbc only */
		L->error = "latency is mapped for SBC recordings only";
		fclose(f);
		return;
	}
	while (fscanf(f, "%llu %u %llu", &t0, &rate, &disc) == 3) {
		L->starts++;
		if ((disc == 0 || !norg) && rate > 0) {
			org = xrealloc(org, (norg + 1) * sizeof(*org));
			org[norg++] = (struct origin){ t0, rate };
		}
	}
	fclose(f);
	if (!norg) {
		L->error = "start file has no lines";
		free(org);
		return;
	}
	L->origins = norg;
	if (!a->conf.known || !a->packets) {
		L->error = "no decodable audio";
		free(org);
		return;
	}
	double srate = a->conf.rate;

	/* two_tone is local (immune to audio lost or added mid-stream), so
	 * it wins when both are possible */
	if (t->run && t->present && t->snr_db >= 20 && a->conf.channels == 2 &&
	    offset_hz != 0) {
		L->method = "two_tone";
		L->codec_delay = codec_delay(&a->conf);
	} else if (r->run && r->ok && !r->ambiguous) {
		L->method = "ref";
		L->codec_delay = r->codec_delay;
	} else if (r->run && r->ambiguous) {
		L->error = "the reference alignment is ambiguous";
		free(org);
		return;
	} else {
		L->error = "needs --ref, or --tone with --tone-offset on a "
			   "stereo stream";
		free(org);
		return;
	}
	lat = xcalloc(a->packets, sizeof(double));
	double f0 = t->freq[0], d = offset_hz, period = 1 / fabs(d);
	const double slack = 0.002;	/* receipt stamps are not instantaneous */
	/* two_tone: per window, the coarse estimate minus the window's own
	 * time, modulo 1/|d|; constant over unbroken audio, so its local
	 * median removes most coding noise */
	double *coff = NULL, *dev = NULL;

	if (!strcmp(L->method, "two_tone")) {
		coff = xcalloc(t->nw, sizeof(double));
		dev = xcalloc(2 * COARSE_SPAN + 1, sizeof(double));
		for (size_t i = 0; i < t->nw; i++) {
			const struct tone_win *w = &t->w[i];

			coff[i] = NAN;
			if (w->flagged || w->f[0].snr_db < 20 || w->f[1].snr_db < 20)
				continue;
			coff[i] = mod_pos((w->f[1].phase - w->f[0].phase) /
					  (2 * M_PI) / d - w->centre / srate,
					  period);
		}
	}

	for (size_t i = 0; i < a->packets; i++) {
		const struct pkt *p = &a->pk[i];

		if (p->dec_end == p->dec_start)
			continue;
		/* decoded index carrying the packet's last input sample */
		double m = (double)p->dec_end - 1 + (double)L->codec_delay;
		/* the latest origin at or before the receipt */
		size_t oi = 0;

		for (size_t k = 0; k < norg; k++)
			if (org[k].t0 <= p->t_ns)
				oi = k;
		double trel = (double)(int64_t)(p->t_ns - org[oi].t0) / 1e9;
		double tau;

		if (!strcmp(L->method, "ref")) {
			/* RTP position of the last sample, so that packets lost
			 * in transit do not shift the mapping */
			if (!p->rtp_ok)
				continue;
			double j = (double)(p->rtp_pos - a->rtp_dec0) +
				   p->samples - 1;

			tau = (j + (double)r->source_offset) / org[oi].rate;
		} else {
			/* nearest clean window, within one hop */
			double idx = (m - ((double)t->win_len - 1) / 2) / t->hop;
			long wi = lround(idx);

			if (wi < 0)
				wi = 0;
			if (wi >= (long)t->nw)
				wi = (long)t->nw - 1;
			const struct tone_win *w = &t->w[wi];

			if (fabs(w->centre - m) > t->hop || w->flagged ||
			    w->f[0].snr_db < 20 || w->f[1].snr_db < 20) {
				L->unmapped++;
				continue;
			}
			double fine = mod_pos(w->f[0].phase / (2 * M_PI), 1) / f0;
			size_t nd = 0;

			for (long k = wi - COARSE_SPAN; k <= wi + COARSE_SPAN; k++) {
				if (k < 0 || k >= (long)t->nw || isnan(coff[k]))
					continue;
				double v = coff[k] - coff[wi];

				/* circular: deviations within half a period */
				dev[nd++] = v - period * round(v / period);
			}
			double coarse = mod_pos(coff[wi] + median_of(dev, nd) +
						w->centre / srate, period);
			double dt = (m - w->centre) / srate;
			/* choose the whole number of 1/|d| periods that puts the
			 * latency in [-slack, 1/|d| - slack) ... */
			double shift = floor((trel - (coarse + dt) + slack) / period);
			double tcoarse = coarse + shift * period;
			/* ... then the period of the fine estimate nearest to it */
			double tc = fine + round((tcoarse - fine) * f0) / f0;

			if (fabs(tc - tcoarse) > 0.25 / f0)
				L->inconsistent++;
			tau = tc + dt;
		}
		lat[n++] = (trel - tau) * 1e3;
	}
	free(coff);
	free(dev);
	free(org);
	L->mapped = n;
	if (n) {
		double s = 0;

		for (size_t i = 0; i < n; i++)
			s += lat[i];
		qsort(lat, n, sizeof(double), cmp_double);
		L->min = lat[0];
		L->max = lat[n - 1];
		L->p50 = percentile(lat, n, 0.5);
		L->p99 = percentile(lat, n, 0.99);
		L->mean = s / (double)n;
	} else {
		L->error = "no packet could be mapped";
	}
	free(lat);
}

/* ---- output ----------------------------------------------------------- */

struct opts {
	const char *rec, *json_out, *pcm_out, *ref, *latency;
	bool text, ref_sbc;
	double tone, tone_offset, phase_tol;
	unsigned ref_channels;
	size_t max_list;
};

/* codec_detail: what the codecs beyond SBC show (null for SBC) */
static void emit_codec_detail(struct json *j, const struct analysis *a)
{
	static const char *const decoders[RC_UNKNOWN + 1] = {
		[RC_APTX] = "libavcodec aptx", [RC_APTX_HD] = "libavcodec aptx_hd",
		[RC_AAC] = "libavcodec aac_latm",
	};
	const struct codec_stats *s = &a->cs;

	if (a->rc == RC_SBC) {
		jnull(j, "codec_detail");
		return;
	}
	jopen(j, "codec_detail", '{');
	if (decoders[a->rc])
		jstring(j, "decoder", decoders[a->rc]);
	else
		jnull(j, "decoder");
	jbool(j, "rtp_header", a->rc != RC_APTX);
	jint(j, "units", (long long)s->units);
	jint(j, "units_ok", (long long)s->decoded_units);
	jint(j, "payload_bytes", (long long)s->payload_bytes);
	unsigned fs = codec_frame_samples(a);
	double secs = a->conf.known ? (double)s->units * fs / a->conf.rate : 0;

	if (secs > 0)
		jfix(j, "bitrate_kbps", (double)s->payload_bytes * 8 / secs / 1000, 1);
	else
		jnull(j, "bitrate_kbps");
	jint(j, "unit_bytes_min", (long long)s->unit_min);
	jint(j, "unit_bytes_max", (long long)s->unit_max);
	jint(j, "fragmented_units", (long long)s->fragmented);
	jint(j, "frame_status_nonzero", (long long)s->status_nonzero);
	jopen(j, "frame_lengths", '{');
	for (size_t i = 0; i < s->n_lens; i++) {
		char k[16];

		snprintf(k, sizeof(k), "%u", s->lens[i]);
		jint(j, k, (long long)s->len_n[i]);
	}
	jclose(j, '}');
	jclose(j, '}');
}

static void emit_json(struct json *j, const struct opts *o,
		      const struct analysis *a, const struct timing *tm,
		      const struct tone *t, const struct refres *r,
		      const struct latency *L)
{
	const struct sbc_conf *c = &a->conf;
	size_t nl;

	jopen(j, NULL, '{');
	jstring(j, "file", o->rec);
	jint(j, "packets", (long long)a->packets);
	jint(j, "bytes", (long long)a->bytes);
	jint(j, "truncated_tail_bytes", (long long)a->truncated_tail);
	jstring(j, "codec", codec_name(a->rc));

	jopen(j, "config", '{');
	jbool(j, "valid", c->valid);
	jbool(j, "inferred_from_stream", a->conf_inferred);
	if (c->known && a->rc != RC_SBC) {
		jint(j, "rate", c->rate);
		jint(j, "channels", c->channels);
		if (a->rc == RC_LDAC)
			jstring(j, "mode", c->mode == 0 ? "mono" : c->mode == 1 ?
				"dual_channel" : "stereo");
		else
			jnull(j, "mode");
		jnull(j, "blocks");
		jnull(j, "subbands");
		jnull(j, "allocation");
	} else if (c->known) {
		jint(j, "rate", c->rate);
		jint(j, "channels", c->channels);
		jstring(j, "mode", mode_names[c->mode]);
		jint(j, "blocks", c->blocks);
		jint(j, "subbands", c->subbands);
		jstring(j, "allocation", c->loudness ? "loudness" : "snr");
	} else {
		jnull(j, "rate");
		jnull(j, "channels");
		jnull(j, "mode");
		jnull(j, "blocks");
		jnull(j, "subbands");
		jnull(j, "allocation");
	}
	jint(j, "min_bitpool", c->min_bitpool);
	jint(j, "max_bitpool", c->max_bitpool);
	jint(j, "write_mtu", a->write_mtu);
	jint(j, "read_mtu", a->read_mtu);
	{
		char hex[2 * 255 + 1];

		for (size_t i = 0; i < a->cfg_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", a->cfg[i]);
		hex[2 * a->cfg_len] = 0;
		jstring(j, "blob", hex);
	}
	jclose(j, '}');

	jint(j, "frames", (long long)a->frames);
	if (c->known && a->rc != RC_SBC)
		jint(j, "frame_samples", codec_frame_samples(a));
	else if (c->known)
		jint(j, "frame_samples", c->blocks * c->subbands);
	else
		jnull(j, "frame_samples");
	emit_codec_detail(j, a);

	int bmin = -1, bmax = -1;

	for (int b = 0; b < 256; b++)
		if (a->bp_hist[b]) {
			if (bmin < 0)
				bmin = b;
			bmax = b;
		}
	jopen(j, "bitpools_seen", '{');
	if (bmin >= 0) {
		jint(j, "min", bmin);
		jint(j, "max", bmax);
	} else {
		jnull(j, "min");
		jnull(j, "max");
	}
	jopen(j, "histogram", '{');
	for (int b = 0; b < 256; b++)
		if (a->bp_hist[b]) {
			char k[16];

			snprintf(k, sizeof(k), "%d", b);
			jint(j, k, (long long)a->bp_hist[b]);
		}
	jclose(j, '}');
	jclose(j, '}');

	jopen(j, "frames_per_packet", '{');
	for (int b = 0; b < 256; b++)
		if (a->fpp_hist[b]) {
			char k[16];

			snprintf(k, sizeof(k), "%d", b);
			jint(j, k, (long long)a->fpp_hist[b]);
		}
	jclose(j, '}');

	if (a->rc == RC_LDAC && a->cs.unit_max && a->write_mtu > RTP_HEADER_LEN + 1) {
		size_t fit = (a->write_mtu - RTP_HEADER_LEN - 1) / a->cs.unit_max;

		jint(j, "max_frames_fit", (long long)(fit > 15 ? 15 : fit));
	} else if (a->rc == RC_SBC && c->known && bmax >= 0 &&
		   a->write_mtu > RTP_HEADER_LEN + 1) {
		size_t fl = sbc_frame_length(c->mode, c->channels, c->blocks,
					     c->subbands, (unsigned)bmax);

		size_t fit = (a->write_mtu - RTP_HEADER_LEN - 1) / fl;

		jint(j, "max_frames_fit", (long long)(fit > 15 ? 15 : fit));
	} else {
		jnull(j, "max_frames_fit");
	}
	if (a->full_eligible)
		jfix(j, "full_packets_pct",
		     100.0 * (double)a->full_packets / (double)a->full_eligible, 2);
	else
		jnull(j, "full_packets_pct");
	jint(j, "mtu_violations", (long long)a->mtu_violations);
	jint(j, "config_mismatches", (long long)a->config_mismatches);
	jint(j, "bitpool_out_of_range", (long long)a->bitpool_out_of_range);
	jint(j, "empty_packets", (long long)a->empty_packets);

	jopen(j, "rtp", '{');
	jint(j, "short_packets", (long long)a->short_packets);
	jint(j, "version_errors", (long long)a->version_errors);
	jint(j, "pt_errors", (long long)a->pt_errors);
	jint(j, "ssrc_changes", (long long)a->ssrc_changes);
	jint(j, "seq_gaps", (long long)a->seq_gaps);
	jopen(j, "seq_gap_list", '[');
	nl = a->n_seq_list < o->max_list ? a->n_seq_list : o->max_list;
	for (size_t i = 0; i < nl; i++) {
		jopen(j, NULL, '{');
		jint(j, "packet", (long long)a->seq_list[i].packet);
		jint(j, "expected", a->seq_list[i].expected);
		jint(j, "got", a->seq_list[i].got);
		jclose(j, '}');
	}
	jclose(j, ']');
	jint(j, "ts_errors", (long long)a->ts_errors);
	jopen(j, "ts_error_list", '[');
	nl = a->n_ts_list < o->max_list ? a->n_ts_list : o->max_list;
	for (size_t i = 0; i < nl; i++) {
		jopen(j, NULL, '{');
		jint(j, "packet", (long long)a->ts_list[i].packet);
		jint(j, "expected", a->ts_list[i].expected);
		jint(j, "got", a->ts_list[i].got);
		jclose(j, '}');
	}
	jclose(j, ']');
	jint(j, "marker_packets", (long long)a->marker_packets);
	jint(j, "csrc_packets", (long long)a->csrc_packets);
	jint(j, "extension_packets", (long long)a->ext_packets);
	jint(j, "padding_packets", (long long)a->pad_packets);
	jint(j, "padding_errors", (long long)a->padding_errors);
	jclose(j, '}');

	jint(j, "frame_errors", (long long)frame_errors(a));
	jopen(j, "frame_error_detail", '{');
	jint(j, "sync", (long long)a->err_sync);
	jint(j, "crc", (long long)a->err_crc);
	jint(j, "length", (long long)a->err_length);
	jint(j, "count_mismatch", (long long)a->err_count);
	jint(j, "trailing_bytes", (long long)a->err_trailing);
	jint(j, "bitpool_invalid", (long long)a->err_bitpool);
	jint(j, "decode", (long long)a->err_decode);
	jint(j, "fragment", (long long)a->fragment_errors);
	jclose(j, '}');
	jint(j, "fragments", (long long)a->fragments);
	jint(j, "frames_reassembled", (long long)a->frames_reassembled);

	jopen(j, "timing", '{');
	jfix(j, "duration_rtp_s", tm->duration_rtp_s, 6);
	jfix(j, "duration_wall_s", tm->duration_wall_s, 6);
	jopen(j, "interval_ms", '{');
	jfix(j, "mean", tm->iv_mean, 3);
	jfix(j, "stddev", tm->iv_sd, 3);
	jfix(j, "min", tm->iv_min, 3);
	jfix(j, "max", tm->iv_max, 3);
	jclose(j, '}');
	jopen(j, "drift_ms", '{');
	jfix(j, "end", tm->drift_end, 3);
	jfix(j, "max_excursion", tm->drift_max, 3);
	jfix(j, "per_min", tm->drift_per_min, 3);
	jclose(j, '}');
	jclose(j, '}');

	jopen(j, "audio", '{');
	jint(j, "decoded_samples", (long long)a->pcm_frames);
	jfix(j, "decoded_s", c->known ? (double)a->pcm_frames / c->rate : 0, 6);
	jbool(j, "decoded_truncated", a->pcm_truncated);
	if (t->run) {
		jopen(j, "tone", '{');
		jnum(j, "expected_hz", t->freq[0]);
		jnum(j, "expected_right_hz", t->freq[1]);
		jbool(j, "present", t->present);
		jfix(j, "tone_start_s", t->start_s, 3);
		jfix(j, "tone_end_s", t->end_s, 3);
		jfix(j, "tone_s", t->present ? t->end_s - t->start_s : 0, 3);
		jint(j, "windows", (long long)t->windows);
		jfix(j, "snr_db", t->snr_db, 2);
		jfix(j, "snr_worst_db", t->snr_worst_db, 2);
		jopen(j, "snr_db_per_channel", '[');
		for (unsigned ch = 0; c->known && ch < c->channels; ch++)
			jfix(j, NULL, t->snr_ch[ch], 2);
		jclose(j, ']');
		jopen(j, "level_dbfs_per_channel", '[');
		for (unsigned ch = 0; c->known && ch < c->channels; ch++)
			jfix(j, NULL, t->level_dbfs[ch], 2);
		jclose(j, ']');
		jfix(j, "frequency_hz", t->frequency_hz, 4);
		jnum(j, "phase_tol_deg", t->phase_tol_deg);
		jint(j, "gaps", (long long)t->gaps);
		jopen(j, "gap_list", '[');
		nl = t->n_gap_list < o->max_list ? t->n_gap_list : o->max_list;
		for (size_t i = 0; i < nl; i++)
			jfix(j, NULL, t->gap_list[i], 3);
		jclose(j, ']');
		jclose(j, '}');
	} else {
		jnull(j, "tone");
	}
	if (r->run) {
		jopen(j, "ref", '{');
		jstring(j, "error", r->error);
		if (r->ok) {
			jint(j, "delay_samples", r->delay);
			if (r->codec_delay >= 0) {
				jint(j, "codec_delay_samples", r->codec_delay);
				jint(j, "source_offset_samples", r->source_offset);
			} else {
				jnull(j, "codec_delay_samples");
				jnull(j, "source_offset_samples");
			}
			jfix(j, "correlation", r->corr, 4);
			jfix(j, "alignment_ambiguity", r->ambiguity, 4);
			jbool(j, "alignment_ambiguous", r->ambiguous);
			jint(j, "compared_samples", (long long)r->compared);
			jfix(j, "snr_vs_ref_db", r->snr_db, 2);
		}
		if (r->sbc_run) {
			jint(j, "frames_identical", (long long)r->frames_identical);
			jint(j, "frames_compared", (long long)r->frames_compared);
			if (r->have_mismatch)
				jint(j, "first_mismatch_frame",
				     (long long)r->first_mismatch);
			else
				jnull(j, "first_mismatch_frame");
		}
		jclose(j, '}');
	} else {
		jnull(j, "ref");
	}
	jclose(j, '}');

	if (L->run) {
		jopen(j, "latency", '{');
		jstring(j, "method", L->method);
		jstring(j, "error", L->error);
		jint(j, "starts", (long long)L->starts);
		jint(j, "origins", (long long)L->origins);
		jint(j, "codec_delay_samples", L->codec_delay);
		jint(j, "packets_mapped", (long long)L->mapped);
		jint(j, "packets_unmapped", (long long)L->unmapped);
		jint(j, "inconsistent_windows", (long long)L->inconsistent);
		jopen(j, "latency_ms", '{');
		jfix(j, "min", L->min, 3);
		jfix(j, "p50", L->p50, 3);
		jfix(j, "p99", L->p99, 3);
		jfix(j, "max", L->max, 3);
		jfix(j, "mean", L->mean, 3);
		jclose(j, '}');
		jclose(j, '}');
	} else {
		jnull(j, "latency");
	}
	jclose(j, '}');
	jraw(j, "\n");
}

static void emit_text(FILE *out, const struct opts *o, const struct analysis *a,
		      const struct timing *tm, const struct tone *t,
		      const struct refres *r, const struct latency *L)
{
	const struct sbc_conf *c = &a->conf;
	int bmin = -1, bmax = -1;

	for (int b = 0; b < 256; b++)
		if (a->bp_hist[b]) {
			if (bmin < 0)
				bmin = b;
			bmax = b;
		}
	fprintf(out, "recording   %s\n", o->rec);
	static const char *const units[RC_UNKNOWN + 1] = {
		[RC_SBC] = "SBC frames", [RC_APTX] = "aptX codewords",
		[RC_APTX_HD] = "aptX HD codewords", [RC_AAC] = "AAC AudioMuxElements",
		[RC_LDAC] = "LDAC frames", [RC_UNKNOWN] = "frames of an unknown codec",
	};

	fprintf(out, "packets     %zu (%zu bytes), %zu %s%s\n",
		a->packets, a->bytes, a->frames, units[a->rc],
		a->truncated_tail ? ", truncated tail ignored" : "");
	if (c->known && a->rc != RC_SBC)
		fprintf(out, "config      %u Hz, %u channels (%s), %.1f kbit/s, %s\n",
			c->rate, c->channels, codec_name(a->rc),
			a->cs.units ? (double)a->cs.payload_bytes * 8 * c->rate /
			((double)a->cs.units * codec_frame_samples(a)) / 1000 : 0.0,
			a->rc == RC_LDAC ? "framing checked, not decoded" : "decoded by libavcodec");
	else if (c->known)
		fprintf(out, "config      %u Hz %s, %u blocks, %u subbands, %s, "
			"bitpool %u..%u%s\n", c->rate, mode_names[c->mode],
			c->blocks, c->subbands, c->loudness ? "loudness" : "snr",
			c->min_bitpool, c->max_bitpool,
			a->conf_inferred ? " (inferred from the stream)" : "");
	else
		fprintf(out, "config      unusable\n");
	fprintf(out, "bitpools    %d..%d\n", bmin, bmax);
	fprintf(out, "frames/pkt ");
	for (int b = 0; b < 256; b++)
		if (a->fpp_hist[b])
			fprintf(out, " %d:%zu", b, a->fpp_hist[b]);
	fprintf(out, "\n");
	fprintf(out, "mtu         write %u, full packets %.1f%%, violations %zu\n",
		a->write_mtu, a->full_eligible ? 100.0 * (double)a->full_packets /
		(double)a->full_eligible : 0.0, a->mtu_violations);
	fprintf(out, "rtp         version %zu, pt %zu, ssrc changes %zu, "
		"seq gaps %zu, ts errors %zu, short %zu\n", a->version_errors,
		a->pt_errors, a->ssrc_changes, a->seq_gaps, a->ts_errors,
		a->short_packets);
	fprintf(out, "frames      errors %zu (sync %zu, crc %zu, length %zu, "
		"count %zu, trailing %zu, bitpool %zu, decode %zu), config "
		"mismatches %zu, fragments %zu\n", frame_errors(a), a->err_sync,
		a->err_crc, a->err_length, a->err_count, a->err_trailing,
		a->err_bitpool, a->err_decode, a->config_mismatches,
		a->fragments);
	fprintf(out, "timing      rtp %.3f s, wall %.3f s, interval %.2f +- %.2f "
		"ms (%.2f..%.2f)\n", tm->duration_rtp_s, tm->duration_wall_s,
		tm->iv_mean, tm->iv_sd, tm->iv_min, tm->iv_max);
	fprintf(out, "drift       end %.2f ms, max %.2f ms, %.3f ms/min\n",
		tm->drift_end, tm->drift_max, tm->drift_per_min);
	fprintf(out, "audio       %" PRIu64 " samples, %.3f s\n", a->pcm_frames,
		c->known ? (double)a->pcm_frames / c->rate : 0.0);
	if (t->run) {
		if (t->present) {
			fprintf(out, "tone        %.2f Hz from %.3f to %.3f s, "
				"SNR %.1f dB (worst window %.1f), measured %.3f Hz, "
				"gaps %zu", t->freq[0], t->start_s, t->end_s,
				t->snr_db, t->snr_worst_db, t->frequency_hz,
				t->gaps);
			for (size_t i = 0; i < t->n_gap_list && i < 8; i++)
				fprintf(out, "%s%.3f", i ? ", " : " at ", t->gap_list[i]);
			fprintf(out, "\n");
		} else {
			fprintf(out, "tone        not found\n");
		}
	}
	if (r->run) {
		if (r->ok)
			fprintf(out, "reference   delay %ld samples (codec %ld, "
				"source offset %ld), SNR %.1f dB\n", r->delay,
				r->codec_delay, r->source_offset, r->snr_db);
		if (r->sbc_run)
			fprintf(out, "re-encoded  %zu of %zu frames identical\n",
				r->frames_identical, r->frames_compared);
		if (r->error)
			fprintf(out, "reference   %s\n", r->error);
	}
	if (L->run) {
		if (L->mapped)
			fprintf(out, "latency     %s: p50 %.2f ms, p99 %.2f ms, "
				"max %.2f ms (%zu packets)\n", L->method, L->p50,
				L->p99, L->max, L->mapped);
		if (L->error)
			fprintf(out, "latency     %s\n", L->error);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: speaker-analyze [options] RECORDING\n"
		"  --text              human summary on stdout instead of JSON\n"
		"  --json-out FILE     also write the JSON to FILE\n"
		"  --pcm-out FILE      write the decoded audio (S16_LE interleaved)\n"
		"  --tone HZ           expected sine frequency (left channel)\n"
		"  --tone-offset HZ    right channel is HZ above it\n"
		"  --phase-tol DEG     phase step counted as a gap (default 1.5)\n"
		"  --ref FILE          raw S16_LE audio that was fed to the sender\n"
		"  --ref-channels N    its channel count (default: the stream's)\n"
		"  --ref-sbc           re-encode --ref with libsbc, compare frames\n"
		"  --latency FILE      capture plugin start_file: capture-to-receipt\n"
		"                      latency (needs --ref, or --tone + --tone-offset)\n"
		"  --max-list N        entries in the JSON lists (default 20)\n"
		"exit status: 0 analyzed, 2 usage or input error\n");
}

static bool parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*v);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "text", 0, NULL, 't' }, { "json-out", 1, NULL, 'j' },
		{ "pcm-out", 1, NULL, 'p' }, { "tone", 1, NULL, 'f' },
		{ "tone-offset", 1, NULL, 'o' }, { "phase-tol", 1, NULL, 'P' },
		{ "ref", 1, NULL, 'r' }, { "ref-channels", 1, NULL, 'c' },
		{ "ref-sbc", 0, NULL, 's' }, { "latency", 1, NULL, 'l' },
		{ "max-list", 1, NULL, 'm' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .phase_tol = 1.5, .max_list = 20 };
	double v;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 't': o.text = true; break;
		case 'j': o.json_out = optarg; break;
		case 'p': o.pcm_out = optarg; break;
		case 'r': o.ref = optarg; break;
		case 's': o.ref_sbc = true; break;
		case 'l': o.latency = optarg; break;
		case 'f':
			if (!parse_double(optarg, &o.tone) || o.tone <= 0)
				goto bad;
			break;
		case 'o':
			if (!parse_double(optarg, &o.tone_offset))
				goto bad;
			break;
		case 'P':
			if (!parse_double(optarg, &o.phase_tol) || o.phase_tol <= 0)
				goto bad;
			break;
		case 'c':
			if (!parse_double(optarg, &v) || (v != 1 && v != 2))
				goto bad;
			o.ref_channels = (unsigned)v;
			break;
		case 'm':
			if (!parse_double(optarg, &v) || v < 0 || v > MAX_LIST)
				goto bad;
			o.max_list = (size_t)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1 || (o.ref_sbc && !o.ref))
		goto bad;
	o.rec = argv[optind];

	/* input problems are usage errors: find them before any work */
	uint8_t *ref_data = NULL;
	size_t ref_len = 0;

	if (o.ref && !read_whole_file(o.ref, &ref_data, &ref_len))
		return EXIT_USAGE;
	if (o.latency) {
		FILE *lf = fopen(o.latency, "r");

		if (!lf) {
			fprintf(stderr, "speaker-analyze: %s: %s\n", o.latency,
				strerror(errno));
			free(ref_data);
			return EXIT_USAGE;
		}
		fclose(lf);
	}

	struct analysis a;

	memset(&a, 0, sizeof(a));
	uint8_t *data;

	if (!read_whole_file(o.rec, &data, &a.size)) {
		free(ref_data);
		return EXIT_USAGE;
	}
	a.data = data;
	if (!parse_rec_header(&a)) {
		fprintf(stderr, "speaker-analyze: %s: not an A2DPREC2 or A2DPREC1 recording\n",
			o.rec);
		free(data);
		free(ref_data);
		return EXIT_USAGE;
	}

	analyze_packets(&a);

	struct timing tm;
	struct tone t;
	struct refres r;
	struct latency L;

	analyze_timing(&a, &tm);
	memset(&t, 0, sizeof(t));
	memset(&r, 0, sizeof(r));
	memset(&L, 0, sizeof(L));
	if (o.tone > 0) {
		t.run = true;
		t.freq[0] = o.tone;
		t.freq[1] = o.tone + o.tone_offset;
		t.phase_tol_deg = o.phase_tol;
		analyze_tone(&a, &t);
	}
	int status = 0;

	if (o.ref && a.conf.known && a.rc != RC_LDAC) {
		unsigned rc = o.ref_channels ? o.ref_channels : a.conf.channels;
		size_t nf = ref_len / (2 * rc);
		int16_t *ref = xcalloc(nf * rc, sizeof(int16_t));

		for (size_t i = 0; i < nf * rc; i++)
			ref[i] = (int16_t)le16(ref_data + 2 * i);
		compare_ref(&a, ref, nf, rc, o.ref_sbc, &r);
		free(ref);
	} else if (o.ref) {
		r.run = true;
		r.error = "no decodable audio";
	}
	free(ref_data);
	if (o.latency)
		analyze_latency(&a, o.latency, &t, &r, o.tone_offset, &L);

	if (o.pcm_out) {
		FILE *f = fopen(o.pcm_out, "wb");
		size_t n = (size_t)a.pcm_frames * (a.conf.known ? a.conf.channels : 0);
		bool ok = f != NULL;

		for (size_t i = 0; ok && i < n; i++) {
			uint8_t b[2] = { (uint8_t)(a.pcm[i] & 0xff),
					 (uint8_t)((uint16_t)a.pcm[i] >> 8) };

			ok = fwrite(b, 1, 2, f) == 2;
		}
		if (f && fclose(f) != 0)
			ok = false;
		if (!ok) {
			fprintf(stderr, "speaker-analyze: cannot write %s\n",
				o.pcm_out);
			status = EXIT_USAGE;
		}
	}

	struct json j;

	memset(&j, 0, sizeof(j));
	emit_json(&j, &o, &a, &tm, &t, &r, &L);
	if (o.text)
		emit_text(stdout, &o, &a, &tm, &t, &r, &L);
	else
		fwrite(j.buf, 1, j.len, stdout);
	if (o.json_out) {
		FILE *f = fopen(o.json_out, "w");

		if (!f || fwrite(j.buf, 1, j.len, f) != j.len) {
			fprintf(stderr, "speaker-analyze: cannot write %s\n",
				o.json_out);
			status = EXIT_USAGE;
		}
		if (f && fclose(f) != 0)
			status = EXIT_USAGE;
	}
	free(j.buf);
	free(t.w);
	free(a.pk);
	free(a.pcm);
	free(a.fr);
	free(data);
	return status;

bad:
	usage(stderr);
	return EXIT_USAGE;
}
