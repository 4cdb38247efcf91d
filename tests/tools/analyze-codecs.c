/*
 * speaker-analyze, the codecs beyond SBC: what a speaker does with each
 * one's packets before the audio judgement.
 *
 *   aptX     no RTP header: the packet is 4-byte codewords (4 samples of
 *            both channels each), decoded by libavcodec's "aptx"
 *   aptX HD  RTP header, no payload header, 6-byte codewords; "aptx_hd"
 *   AAC      RTP header, then one LATM AudioMuxElement (StreamMuxConfig
 *            in every element) spread over packets that share a
 *            timestamp, the RTP marker on the last (RFC 3016); each
 *            reassembled element gets the LOAS sync word 0x2B7 and its
 *            length in front of it for libavcodec's "aac_latm"
 *   LDAC     RTP header, a payload header byte whose low nibble counts
 *            the frames, then LDAC frames (sync 0xAA, 3-byte header with
 *            the rate, channel mode and frame length).  No open LDAC
 *            decoder exists in Debian: framing is checked, nothing decoded.
 *
 * The decoders are libavcodec's, never the sender's library, so that the
 * sender's framing and encoding are judged by code we did not write.
 */
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>

#include "speaker-analyze.h"

#define A2DP_CODEC_AAC 0x02
#define A2DP_CODEC_VENDOR 0xff
#define LDAC_SYNC 0xaa
#define LDAC_HEADER_LEN 3
#define LOAS_HEADER_LEN 3
#define LOAS_MAX_ELEMENT 8191	/* the LOAS length field has 13 bits */
#define AAC_FRAME_SAMPLES 1024

static const struct {
	uint32_t vendor;
	uint16_t id;
	enum rec_codec rc;
} vendors[] = {
	{ 0x4f, 0x0001, RC_APTX }, { 0xd7, 0x0024, RC_APTX_HD },
	{ 0x12d, 0x00aa, RC_LDAC },
};

static const char *const names[] = {
	[RC_SBC] = "sbc", [RC_APTX] = "aptx", [RC_APTX_HD] = "aptx_hd",
	[RC_AAC] = "aac", [RC_LDAC] = "ldac", [RC_UNKNOWN] = "unknown",
};

const char *codec_name(enum rec_codec rc)
{
	return names[rc];
}

/* exactly one bit of v set: its index in bits[], else -1 */
static int only_bit(unsigned v, const unsigned *bits, int n)
{
	int found = -1;

	for (int i = 0; i < n; i++)
		if (v & bits[i]) {
			if (found >= 0)
				return -1;
			found = i;
		}
	return found;
}

static void conf_set(struct analysis *a, unsigned rate, unsigned channels)
{
	a->conf.known = a->conf.valid = true;
	a->conf.rate = rate;
	a->conf.channels = channels;
}

static void aptx_conf(struct analysis *a, size_t want)
{
	static const unsigned fb[] = { 0x10, 0x20, 0x40, 0x80 };
	static const unsigned rates[] = { 48000, 44100, 32000, 16000 };

	if (a->cfg_len != want)
		return;
	int f = only_bit(a->cfg[6] & 0xf0, fb, 4);

	/* aptX codewords always carry two channels */
	if (f >= 0 && (a->cfg[6] & 0x0f) == 0x02)
		conf_set(a, rates[f], 2);
}

static void aac_conf(struct analysis *a)
{
	static const unsigned rates[] = {
		8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100,
		48000, 64000, 88200, 96000,
	};
	static const unsigned ob[] = { 0x80, 0x40, 0x20, 0x10 };
	static const unsigned cb[] = { 0x08, 0x04 };
	unsigned fb[12];

	if (a->cfg_len != 6)
		return;
	for (int i = 0; i < 12; i++)
		fb[i] = 0x800u >> i;
	const uint8_t *c = a->cfg;
	int f = only_bit((unsigned)c[1] << 4 | c[2] >> 4, fb, 12);
	int ch = only_bit(c[2] & 0x0c, cb, 2);

	if (only_bit(c[0] & 0xf0, ob, 4) >= 0 && f >= 0 && ch >= 0)
		conf_set(a, rates[f], ch == 0 ? 1 : 2);
}

static const unsigned ldac_rates[] = { 44100, 48000, 88200, 96000, 176400, 192000 };

static void ldac_conf(struct analysis *a)
{
	static const unsigned fb[] = { 0x20, 0x10, 0x08, 0x04, 0x02, 0x01 };
	static const unsigned mb[] = { 0x04, 0x02, 0x01 };

	if (a->cfg_len != 8)
		return;
	int f = only_bit(a->cfg[6] & 0x3f, fb, 6);
	int m = only_bit(a->cfg[7] & 0x07, mb, 3);

	if (f >= 0 && m >= 0) {
		conf_set(a, ldac_rates[f], m == 0 ? 1 : 2);
		a->conf.mode = (unsigned)m;	/* 0 mono, 1 dual, 2 stereo: the frame header's ids */
	}
}

void codec_identify(struct analysis *a)
{
	a->rc = RC_UNKNOWN;
	if (a->codec_id == 0x00) {
		a->rc = RC_SBC;
		return;
	}
	if (a->codec_id == A2DP_CODEC_AAC)
		a->rc = RC_AAC;
	if (a->codec_id == A2DP_CODEC_VENDOR && a->cfg_len >= 6)
		for (size_t i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++)
			if (le32(a->cfg) == vendors[i].vendor && le16(a->cfg + 4) == vendors[i].id)
				a->rc = vendors[i].rc;
	switch (a->rc) {
	case RC_APTX: aptx_conf(a, 7); break;
	case RC_APTX_HD: aptx_conf(a, 11); break;
	case RC_AAC: aac_conf(a); break;
	case RC_LDAC: ldac_conf(a); break;
	default: break;
	}
}

unsigned codec_frame_samples(const struct analysis *a)
{
	switch (a->rc) {
	case RC_APTX:
	case RC_APTX_HD:
		return 4;
	case RC_AAC:
		return AAC_FRAME_SAMPLES;
	case RC_LDAC:
		return a->conf.rate > 48000 ? 256 : 128;
	default:
		return 0;
	}
}

struct codec_dec {
	const AVCodec *codec;
	AVCodecContext *ctx;	/* NULL: nothing to decode (LDAC, no config) */
	AVPacket *pkt;
	AVFrame *frame;
	int16_t *out;		/* interleaved S16 of one decoded frame */
	size_t out_cap;
	uint8_t *buf;		/* AAC: the element being reassembled, after room for LOAS */
	size_t len, cap;
	bool open, overflow;
	unsigned parts;		/* packets the open element came in */
	int64_t frag_pos;
};

/* A fresh decoder context (at the start, and to resynchronise aptX). */
static void dec_open(struct codec_dec *d, const struct analysis *a)
{
	avcodec_free_context(&d->ctx);
	if (!d->codec)
		return;
	d->ctx = avcodec_alloc_context3(d->codec);
	if (!d->ctx)
		return;
	d->ctx->sample_rate = (int)a->conf.rate;
	av_channel_layout_default(&d->ctx->ch_layout, (int)a->conf.channels);
	if (avcodec_open2(d->ctx, d->codec, NULL) < 0)
		avcodec_free_context(&d->ctx);
}

struct codec_dec *codec_dec_new(struct analysis *a)
{
	struct codec_dec *d = xcalloc(1, sizeof(*d));
	enum AVCodecID id = a->rc == RC_APTX ? AV_CODEC_ID_APTX :
			    a->rc == RC_APTX_HD ? AV_CODEC_ID_APTX_HD :
			    a->rc == RC_AAC ? AV_CODEC_ID_AAC_LATM : AV_CODEC_ID_NONE;

	d->cap = LOAS_HEADER_LEN + LOAS_MAX_ELEMENT + AV_INPUT_BUFFER_PADDING_SIZE;
	d->buf = xcalloc(d->cap, 1);
	if (id == AV_CODEC_ID_NONE || !a->conf.known)
		return d;
	/* a broken stream is counted here, not told on stderr frame by frame */
	av_log_set_level(AV_LOG_QUIET);
	d->codec = avcodec_find_decoder(id);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (d->pkt && d->frame)
		dec_open(d, a);
	return d;
}

void codec_dec_free(struct codec_dec *d)
{
	if (!d)
		return;
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	free(d->out);
	free(d->buf);
	free(d);
}

static int16_t clip16(double v)
{
	return v >= 32767 ? 32767 : v <= -32768 ? -32768 : (int16_t)(v < 0 ? v - 0.5 : v + 0.5);
}

/* One decoded AVFrame as interleaved S16 into the analysis. */
static bool take_frame(struct analysis *a, struct codec_dec *d, const AVFrame *f, int64_t pos)
{
	unsigned ch = a->conf.channels;
	size_t n = (size_t)f->nb_samples;

	if ((unsigned)f->ch_layout.nb_channels != ch || f->sample_rate != (int)a->conf.rate) {
		a->config_mismatches++;
		return false;
	}
	if (n * ch > d->out_cap) {
		d->out_cap = n * ch;
		d->out = xrealloc(d->out, d->out_cap * sizeof(int16_t));
	}
	bool planar = av_sample_fmt_is_planar((enum AVSampleFormat)f->format);

	for (size_t i = 0; i < n; i++)
		for (unsigned c = 0; c < ch; c++) {
			const uint8_t *p = planar ? f->extended_data[c] : f->extended_data[0];
			size_t k = planar ? i : i * ch + c;
			double v;

			switch ((enum AVSampleFormat)f->format) {
			case AV_SAMPLE_FMT_S16:
			case AV_SAMPLE_FMT_S16P: v = ((const int16_t *)p)[k]; break;
			case AV_SAMPLE_FMT_S32:
			case AV_SAMPLE_FMT_S32P: v = ((const int32_t *)p)[k] / 65536.0; break;
			case AV_SAMPLE_FMT_FLT:
			case AV_SAMPLE_FMT_FLTP: v = ((const float *)p)[k] * 32768.0; break;
			default: return false;
			}
			d->out[i * ch + c] = clip16(v);
		}
	if (!a->have_dec0) {
		a->have_dec0 = true;
		a->rtp_dec0 = pos - (int64_t)a->pcm_frames;
	}
	pcm_append(a, d->out, n);
	return true;
}

/* Decode one unit (bytes already padded); false when the decoder refused. */
static bool decode(struct analysis *a, struct codec_dec *d, uint8_t *data, size_t len,
		   int64_t pos)
{
	bool ok = true;

	if (!d->ctx)
		return true;
	d->pkt->data = data;
	d->pkt->size = (int)len;
	if (avcodec_send_packet(d->ctx, d->pkt) < 0)
		return false;
	while (avcodec_receive_frame(d->ctx, d->frame) == 0) {
		ok = take_frame(a, d, d->frame, pos) && ok;
		av_frame_unref(d->frame);
	}
	return ok;
}

static void unit_len(struct analysis *a, size_t n)
{
	if (!a->cs.unit_min || n < a->cs.unit_min)
		a->cs.unit_min = n;
	if (n > a->cs.unit_max)
		a->cs.unit_max = n;
}

static unsigned aptx_packet(struct analysis *a, struct codec_dec *d, const uint8_t *pl,
			    size_t len, int64_t pos)
{
	size_t bs = a->rc == RC_APTX ? 4 : 6, n = len / bs;

	if (len % bs)
		a->err_trailing++;
	a->cs.units += n;
	a->frames += n;
	a->cs.payload_bytes += n * bs;
	a->fpp_hist[n > 255 ? 255 : n]++;
	if (!n)
		return 0;
	if (n * bs + AV_INPUT_BUFFER_PADDING_SIZE > d->cap) {
		d->cap = n * bs + AV_INPUT_BUFFER_PADDING_SIZE;
		d->buf = xrealloc(d->buf, d->cap);
	}
	memcpy(d->buf, pl, n * bs);
	memset(d->buf + n * bs, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	/* libavcodec refuses a packet whose codewords lose the parity the
	 * encoder keeps in them (every 8th codeword): a sync error, as a
	 * speaker detects it.  A speaker then finds the parity again; the
	 * decoder does not, so restart it at the first codeword offset where
	 * the rest of the packet decodes (the broken stretch stays silent). */
	if (decode(a, d, d->buf, n * bs, pos)) {
		a->cs.decoded_units += n;
		return (unsigned)(4 * n);
	}
	a->err_sync++;
	for (size_t k = 0; k < 8 && k < n; k++) {
		dec_open(d, a);
		if (decode(a, d, d->buf + k * bs, (n - k) * bs, pos + (int64_t)(4 * k))) {
			a->cs.decoded_units += n - k;
			break;
		}
	}
	return (unsigned)(4 * n);
}

static unsigned aac_packet(struct analysis *a, struct codec_dec *d, const uint8_t *pl,
			   size_t len, bool marker, int64_t pos)
{
	if (d->open && pos != d->frag_pos) {
		/* the element's last packet never came */
		a->fragment_errors++;
		d->open = false;
	}
	if (!d->open) {
		d->len = 0;
		d->parts = 0;
		d->overflow = false;
		d->open = true;
		d->frag_pos = pos;
	}
	d->parts++;
	if (d->len + len > LOAS_MAX_ELEMENT)
		d->overflow = true;
	else
		memcpy(d->buf + LOAS_HEADER_LEN + d->len, pl, len);
	d->len += len;
	if (!marker) {
		a->fragments++;
		return 0;
	}
	d->open = false;
	if (d->parts > 1) {
		a->fragments++;
		a->frames_reassembled++;
		a->cs.fragmented++;
	}
	a->frames++;
	a->cs.units++;
	a->cs.payload_bytes += d->len;
	a->fpp_hist[1]++;
	unit_len(a, d->len);
	if (d->overflow) {
		a->err_length++;
		return AAC_FRAME_SAMPLES;
	}
	uint8_t *loas = d->buf;

	loas[0] = 0x56;
	loas[1] = (uint8_t)(0xe0 | d->len >> 8);
	loas[2] = (uint8_t)d->len;
	memset(loas + LOAS_HEADER_LEN + d->len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	if (decode(a, d, loas, LOAS_HEADER_LEN + d->len, pos))
		a->cs.decoded_units++;
	else
		a->err_decode++;
	return AAC_FRAME_SAMPLES;
}

static void ldac_len(struct analysis *a, unsigned flen)
{
	struct codec_stats *s = &a->cs;

	for (size_t i = 0; i < s->n_lens; i++)
		if (s->lens[i] == flen) {
			s->len_n[i]++;
			return;
		}
	if (s->n_lens < LEN_HIST) {
		s->lens[s->n_lens] = flen;
		s->len_n[s->n_lens++] = 1;
	}
}

static unsigned ldac_packet(struct analysis *a, const uint8_t *pl, size_t len)
{
	unsigned nfr = pl[0] & 0x0f, count = 0, samples = 0;
	size_t pos = 1, first = 0;

	if (pl[0] & 0xe0) {
		/* LDAC frames are never fragmented */
		a->fragments++;
		a->fragment_errors++;
	}
	while (pos < len) {
		const uint8_t *f = pl + pos;

		if (len - pos < LDAC_HEADER_LEN) {
			a->err_length++;
			break;
		}
		if (f[0] != LDAC_SYNC) {
			if (count == nfr && count > 0)
				a->err_trailing++;
			else
				a->err_sync++;
			break;
		}
		unsigned sr = f[1] >> 5, cc = (f[1] >> 3) & 3;
		/* the header holds the length after it, minus one */
		size_t flen = (((size_t)(f[1] & 7) << 6) | f[2] >> 2) + 1 + LDAC_HEADER_LEN;

		if (flen > len - pos) {
			a->err_length++;
			break;
		}
		a->frames++;
		a->cs.units++;
		if (sr >= 6 || ldac_rates[sr] != a->conf.rate || cc != a->conf.mode)
			a->config_mismatches++;
		else
			a->cs.decoded_units++;
		if (f[2] & 3)
			a->cs.status_nonzero++;
		ldac_len(a, (unsigned)flen);
		unit_len(a, flen);
		a->cs.payload_bytes += flen;
		if (!count)
			first = flen;
		samples += sr < 6 && ldac_rates[sr] > 48000 ? 256 : 128;
		count++;
		pos += flen;
	}
	if (count != nfr)
		a->err_count++;
	a->fpp_hist[count]++;
	if (count && a->write_mtu > RTP_HEADER_LEN + 1) {
		size_t fit = (a->write_mtu - RTP_HEADER_LEN - 1) / first;

		a->full_eligible++;
		if (count >= (fit > 15 ? 15 : fit))
			a->full_packets++;
	}
	return samples;
}

unsigned codec_packet(struct analysis *a, struct codec_dec *d, const uint8_t *pl,
		      size_t len, bool marker, int64_t pos)
{
	switch (a->rc) {
	case RC_APTX:
	case RC_APTX_HD:
		return aptx_packet(a, d, pl, len, pos);
	case RC_AAC:
		return aac_packet(a, d, pl, len, marker, pos);
	case RC_LDAC:
		return len ? ldac_packet(a, pl, len) : 0;
	default:
		a->cs.payload_bytes += len;
		return 0;
	}
}
