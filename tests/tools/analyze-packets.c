/* speaker-analyze: records, RTP and SBC frames (decoded with libsbc), and
 * the timing of their receipt (see speaker-analyze.c,
 * tests/tools/README.md). */
#include <errno.h>
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

/* ---- SBC -------------------------------------------------------------- */

enum { MODE_MONO, MODE_DUAL, MODE_STEREO, MODE_JOINT };
const char *const mode_names[] = {
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

size_t sbc_frame_length(unsigned mode, unsigned channels,
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

void sbc_setup(sbc_t *s, const struct sbc_conf *c, unsigned bitpool)
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
 * u16 read_mtu, u32 reserved, n configuration bytes.  Version 3: the same
 * header; its records carry a kernel timestamp after the length.
 * Version 1 (SBC): magic, 4 configuration bytes, u16 write_mtu,
 * u16 read_mtu, u32. */
bool parse_rec_header(struct analysis *a)
{
	const uint8_t *d = a->data;

	if (a->size < REC_HEADER_LEN)
		return false;
	a->rec_hdr_len = RECORD_HEADER_LEN;
	if (!memcmp(d, REC_MAGIC_V1, 8)) {
		a->hdr_len = REC_HEADER_LEN;
		a->codec_id = A2DP_CODEC_SBC;
		a->cfg = d + 8;
		a->cfg_len = 4;
	} else if (!memcmp(d, REC_MAGIC, 8) || !memcmp(d, REC_MAGIC_V3, 8)) {
		if (!memcmp(d, REC_MAGIC_V3, 8))
			a->rec_hdr_len = RECORD_HEADER_LEN_V3;
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

void analyze_packets(struct analysis *a)
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
		if (a->size - off < a->rec_hdr_len) {
			a->truncated_tail = a->size - off;
			break;
		}
		uint64_t t_ns = le64(a->data + off);
		uint32_t len = le32(a->data + off + 8);

		if (a->size - off - a->rec_hdr_len < len) {
			a->truncated_tail = a->size - off;
			break;
		}
		size_t poff = off + a->rec_hdr_len;
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

size_t frame_errors(const struct analysis *a)
{
	return a->err_sync + a->err_crc + a->err_length + a->err_count +
	       a->err_trailing + a->err_bitpool + a->err_decode +
	       a->fragment_errors;
}

/* ---- timing ----------------------------------------------------------- */

void analyze_timing(const struct analysis *a, struct timing *t)
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
