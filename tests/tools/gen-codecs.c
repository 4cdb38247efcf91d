/*
 * gen-recording for aptX, aptX HD, AAC and LDAC: the source signal encoded
 * with a library the analyzer does not decode with where one exists
 * (libavcodec's aptx, aptx_hd and aac encoders; libldacBT_enc for LDAC),
 * framed as A2DP carries each codec (see analyze-codecs.c), with the
 * generator's defects.  Test tooling: the framing written here is ours,
 * independent of the daemon's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ldac/ldacBT.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>

#include "gen-recording.h"

#define CH 2
#define MAX_PKT 8192

struct gen {
	const struct opts *o;
	FILE *out;
	uint64_t g, end;	/* next source frame, end of the source */
	uint16_t seq;
	uint32_t ts;
	uint64_t t_last;
	uint32_t rnd;
	long pi;		/* packet index as generated */
	uint8_t last[MAX_PKT];	/* last packet, for the truncated defect */
	size_t last_len;
};

/* Receipt time of a packet whose last sample is source frame g - 1. */
static uint64_t arrival(struct gen *s)
{
	const struct opts *o = s->o;

	s->rnd = s->rnd * 1103515245u + 12345u;
	double jitter = o->jitter_ms * ((s->rnd >> 8) & 0xffff) / 65536.0;
	uint64_t t = o->origin_ns + (uint64_t)llround((double)(s->g ? s->g - 1 : 0) * 1e9 /
						      o->rate + (o->latency_ms + jitter) * 1e6);

	if (t < s->t_last)
		t = s->t_last;
	s->t_last = t;
	return t;
}

static void rtp(struct gen *s, uint8_t *p, bool marker)
{
	const struct opts *o = s->o;

	p[0] = 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | (has_defect(o, D_BADPT, s->pi) ? 97 : 96));
	put_be16(p + 2, has_defect(o, D_BADSEQ, s->pi) ? s->seq + 100u : s->seq);
	put_be32(p + 4, has_defect(o, D_BADTS, s->pi) ? s->ts + 1000u : s->ts);
	put_be32(p + 8, 0x12345678);
	if (has_defect(o, D_BADSEQ, s->pi))
		s->seq = (uint16_t)(s->seq + 100);
}

/* Sends (or drops, or repeats) one packet carrying samples; advances the
 * RTP state by samples (ts_step) as the generator's SBC path does. */
static void emit(struct gen *s, uint8_t *p, size_t len, unsigned ts_step, bool has_rtp)
{
	const struct opts *o = s->o;
	uint64_t t = arrival(s);

	if (has_defect(o, D_DROP, s->pi)) {
		if (!o->hide) {
			s->seq++;
			s->ts += ts_step;
		}
	} else {
		write_record(s->out, t, p, len);
		s->seq++;
		s->ts += ts_step;
		if (has_defect(o, D_DUP, s->pi)) {
			if (o->hide && has_rtp) {
				put_be16(p + 2, s->seq);
				put_be32(p + 4, s->ts);
				s->seq++;
				s->ts += ts_step;
			}
			write_record(s->out, t, p, len);
		}
	}
	memcpy(s->last, p, len < MAX_PKT ? len : MAX_PKT);
	s->last_len = len;
	s->pi++;
}

/* ---- libavcodec encoders (aptX, aptX HD, AAC) -------------------------- */

struct avenc {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
};

static int avenc_open(struct avenc *e, const char *name, const struct opts *o)
{
	const AVCodec *c = avcodec_find_encoder_by_name(name);

	av_log_set_level(AV_LOG_ERROR);
	if (!c)
		return -1;
	e->ctx = avcodec_alloc_context3(c);
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	if (!e->ctx || !e->frame || !e->pkt)
		return -1;
	e->ctx->sample_rate = (int)o->rate;
	av_channel_layout_default(&e->ctx->ch_layout, CH);
	e->ctx->sample_fmt = c->sample_fmts[0];
	e->ctx->bit_rate = o->bitrate;
	if (avcodec_open2(e->ctx, c, NULL) < 0)
		return -1;
	e->frame->nb_samples = e->ctx->frame_size;
	e->frame->format = e->ctx->sample_fmt;
	e->frame->sample_rate = e->ctx->sample_rate;
	av_channel_layout_copy(&e->frame->ch_layout, &e->ctx->ch_layout);
	return av_frame_get_buffer(e->frame, 0);
}

static void avenc_close(struct avenc *e)
{
	avcodec_free_context(&e->ctx);
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
}

/* Feeds the next frame_size source frames (silence past the end). */
static int avenc_feed(struct avenc *e, struct gen *s)
{
	if (av_frame_make_writable(e->frame) < 0)
		return -1;
	for (int i = 0; i < e->frame->nb_samples; i++)
		for (unsigned c = 0; c < CH; c++) {
			int16_t v = s->g + (uint64_t)i < s->end ?
				    source_sample(s->o, CH, s->g + (uint64_t)i, c) : 0;

			if (e->ctx->sample_fmt == AV_SAMPLE_FMT_S32P)
				((int32_t *)e->frame->data[c])[i] = (int32_t)v * 65536;
			else
				((float *)e->frame->data[c])[i] = (float)v / 32768.0f;
		}
	s->g += (uint64_t)e->frame->nb_samples;
	return avcodec_send_frame(e->ctx, e->frame);
}

/* ---- aptX and aptX HD: codewords -------------------------------------- */

static int gen_aptx(struct gen *s, bool hd)
{
	const struct opts *o = s->o;
	struct avenc e = { 0 };
	size_t bs = hd ? 6 : 4, hdr = hd ? 12 : 0;
	size_t per = (o->mtu - hdr) / bs;
	uint8_t *fifo = NULL, pkt[MAX_PKT];
	size_t have = 0, cap = 0;
	int rc = 2;

	if (avenc_open(&e, hd ? "aptx_hd" : "aptx", o) < 0 || per < 1 ||
	    hdr + (per + 1) * bs > MAX_PKT)
		goto out;
	while (s->g < s->end || have >= per * bs) {
		size_t n = per + (has_defect(o, D_OVERSIZE, s->pi) ? 1 : 0);

		while (have < n * bs && s->g < s->end) {
			if (avenc_feed(&e, s) < 0)
				goto out;
			while (avcodec_receive_packet(e.ctx, e.pkt) == 0) {
				if (have + (size_t)e.pkt->size > cap) {
					cap = (have + (size_t)e.pkt->size) * 2;
					fifo = realloc(fifo, cap);
					if (!fifo)
						goto out;
				}
				memcpy(fifo + have, e.pkt->data, (size_t)e.pkt->size);
				have += (size_t)e.pkt->size;
				av_packet_unref(e.pkt);
			}
		}
		if (have < n * bs)
			break;
		memcpy(pkt + hdr, fifo, n * bs);
		memmove(fifo, fifo + n * bs, have - n * bs);
		have -= n * bs;
		if (has_defect(o, D_CRC, s->pi))
			for (size_t k = 0; k < 16 && k < n; k++)
				pkt[hdr + k * bs + 1] ^= 0x01;	/* parity of 16 codewords */
		if (hd)
			rtp(s, pkt, false);
		emit(s, pkt, hdr + n * bs, (unsigned)(4 * n), hd);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "gen-recording: aptX encoder failed\n");
	free(fifo);
	avenc_close(&e);
	return rc;
}

/* ---- AAC: LATM AudioMuxElements, fragmented by the MTU ------------------ */

struct bits {
	uint8_t *p;
	size_t n;		/* bits written */
};

static void put_bits(struct bits *b, unsigned nbits, uint32_t v)
{
	while (nbits--) {
		unsigned bit = (v >> nbits) & 1;
		size_t byte = b->n / 8;

		if (b->n % 8 == 0)
			b->p[byte] = 0;
		b->p[byte] |= (uint8_t)(bit << (7 - b->n % 8));
		b->n++;
	}
}

static int aac_rate_index(unsigned rate)
{
	static const unsigned r[] = { 96000, 88200, 64000, 48000, 44100, 32000,
				      24000, 22050, 16000, 12000, 11025, 8000 };

	for (int i = 0; i < 12; i++)
		if (r[i] == rate)
			return i;
	return -1;
}

/* AudioMuxElement(muxConfigPresent = 1) around one raw AAC-LC frame:
 * StreamMuxConfig (version 0, one program, one layer, AudioSpecificConfig
 * of AAC LC at the rate, stereo), PayloadLengthInfo, the frame. */
static size_t latm_element(uint8_t *out, int ridx, const uint8_t *frame, size_t len)
{
	struct bits b = { out, 0 };

	put_bits(&b, 1, 0);		/* useSameStreamMux */
	put_bits(&b, 1, 0);		/* audioMuxVersion */
	put_bits(&b, 1, 1);		/* allStreamsSameTimeFraming */
	put_bits(&b, 6, 0);		/* numSubFrames */
	put_bits(&b, 4, 0);		/* numProgram */
	put_bits(&b, 3, 0);		/* numLayer */
	put_bits(&b, 5, 2);		/* audioObjectType: AAC LC */
	put_bits(&b, 4, (uint32_t)ridx);
	put_bits(&b, 4, CH);		/* channelConfiguration */
	put_bits(&b, 3, 0);		/* frameLength, dependsOnCoreCoder, extension */
	put_bits(&b, 3, 0);		/* frameLengthType */
	put_bits(&b, 8, 0xff);		/* latmBufferFullness */
	put_bits(&b, 1, 0);		/* otherDataPresent */
	put_bits(&b, 1, 0);		/* crcCheckPresent */
	for (size_t l = len; ; l -= 255) {	/* PayloadLengthInfo */
		put_bits(&b, 8, l >= 255 ? 255 : (uint32_t)l);
		if (l < 255)
			break;
	}
	for (size_t i = 0; i < len; i++)
		put_bits(&b, 8, frame[i]);
	return (b.n + 7) / 8;
}

static int gen_aac(struct gen *s)
{
	const struct opts *o = s->o;
	struct avenc e = { 0 };
	int ridx = aac_rate_index(o->rate);
	uint8_t el[8192 + 64], pkt[MAX_PKT];
	size_t room = o->mtu - 12;
	int rc = 2;

	if (ridx < 0 || o->mtu <= 12 || avenc_open(&e, "aac", o) < 0)
		goto out;
	for (bool flushing = false;;) {
		int r = avcodec_receive_packet(e.ctx, e.pkt);

		if (r == AVERROR(EAGAIN) && !flushing) {
			if (s->g < s->end ? avenc_feed(&e, s) < 0 :
			    avcodec_send_frame(e.ctx, NULL) < 0)
				goto out;
			flushing = s->g >= s->end;
			continue;
		}
		if (r < 0)
			break;
		if ((size_t)e.pkt->size > 8192) {
			av_packet_unref(e.pkt);
			goto out;
		}
		size_t n = latm_element(el, ridx, e.pkt->data, (size_t)e.pkt->size);

		av_packet_unref(e.pkt);
		if (has_defect(o, D_CRC, s->pi))
			for (size_t k = 12; k < 20 && k < n; k++)
				el[k] ^= 0x5a;	/* the frame's first elements */
		/* one element over as many packets as it needs, one
		 * timestamp, the marker on the last */
		for (size_t off = 0; off < n; off += room) {
			size_t part = n - off < room ? n - off : room;
			bool last = off + part == n;

			rtp(s, pkt, last);
			memcpy(pkt + 12, el + off, part);
			if (!last) {
				/* a fragment: same timestamp next */
				write_record(s->out, arrival(s), pkt, 12 + part);
				s->seq++;
				continue;
			}
			emit(s, pkt, 12 + part, 1024, true);
		}
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "gen-recording: AAC encoder failed\n");
	avenc_close(&e);
	return rc;
}

/* ---- LDAC: libldacBT_enc's frames, counted in a payload header --------- */

static int gen_ldac(struct gen *s)
{
	const struct opts *o = s->o;
	HANDLE_LDAC_BT h = ldacBT_get_handle();
	int16_t pcm[LDACBT_ENC_LSU * CH];
	uint8_t pkt[MAX_PKT];
	int rc = 2;
	unsigned fs = o->rate > 48000 ? 256 : 128;

	if (!h || ldacBT_init_handle_encode(h, (int)o->mtu, o->ldac_quality,
					    LDACBT_CHANNEL_MODE_STEREO,
					    LDACBT_SMPL_FMT_S16, (int)o->rate) < 0)
		goto out;
	for (uint64_t fed = 0; fed < s->end + 4 * fs; ) {
		int used = 0, sz = 0, frames = 0;

		for (unsigned i = 0; i < LDACBT_ENC_LSU; i++)
			for (unsigned c = 0; c < CH; c++)
				pcm[i * CH + c] = fed + i < s->end ?
						  source_sample(o, CH, fed + i, c) : 0;
		if (ldacBT_encode(h, pcm, &used, pkt + 13, &sz, &frames) < 0)
			goto out;
		fed += (uint64_t)used / (2 * CH);
		s->g = fed < s->end ? fed : s->end;
		if (!sz)
			continue;
		if (13 + (size_t)sz > MAX_PKT)
			goto out;
		rtp(s, pkt, false);
		pkt[12] = (uint8_t)frames;
		if (has_defect(o, D_CRC, s->pi) && frames > 1)
			pkt[13 + (size_t)sz / (size_t)frames] ^= 0xff;	/* second frame's sync */
		emit(s, pkt, 13 + (size_t)sz, (unsigned)frames * fs, true);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "gen-recording: LDAC encoder failed\n");
	if (h)
		ldacBT_free_handle(h);
	return rc;
}

int gen_codec(const struct opts *o)
{
	static const uint8_t aptx_hdr[] = { 0x4f, 0, 0, 0, 0x01, 0 };
	static const uint8_t aptx_hd_hdr[] = { 0xd7, 0, 0, 0, 0x24, 0 };
	static const uint8_t ldac_hdr[] = { 0x2d, 0x01, 0, 0, 0xaa, 0 };
	uint8_t cfg[16] = { 0 };
	size_t cfg_len = 0;
	uint8_t codec = 0xff;
	unsigned fbit;
	struct gen s = {
		.o = o, .g = o->skip, .end = o->skip + (uint64_t)(o->seconds * o->rate),
		.seq = (uint16_t)(0xfff0 + o->seed), .ts = 0xffffe000u + o->seed,
		.rnd = o->seed * 2654435761u + 1,
	};
	int rc;

	switch (o->codec) {
	case GEN_APTX:
	case GEN_APTX_HD:
		fbit = o->rate == 48000 ? 0x10 : o->rate == 44100 ? 0x20 :
		       o->rate == 32000 ? 0x40 : 0x80;
		memcpy(cfg, o->codec == GEN_APTX ? aptx_hdr : aptx_hd_hdr, 6);
		cfg[6] = (uint8_t)(fbit | 0x02);
		cfg_len = o->codec == GEN_APTX ? 7 : 11;
		break;
	case GEN_AAC: {
		int r = aac_rate_index(o->rate);
		/* MPEG-2/4 AAC's frequency bits, 8000 first */
		unsigned bits = r < 0 ? 0 : 0x001u << r;

		codec = 0x02;
		cfg[0] = 0x80;
		cfg[1] = (uint8_t)(bits >> 4);
		cfg[2] = (uint8_t)((bits & 0x0f) << 4 | 0x04);
		cfg[3] = (uint8_t)(0x80 | (o->bitrate >> 16 & 0x7f));
		cfg[4] = (uint8_t)(o->bitrate >> 8);
		cfg[5] = (uint8_t)o->bitrate;
		cfg_len = 6;
		break;
	}
	case GEN_LDAC:
		memcpy(cfg, ldac_hdr, 6);
		cfg[6] = (uint8_t)(o->rate == 44100 ? 0x20 : o->rate == 48000 ? 0x10 :
				   o->rate == 88200 ? 0x08 : 0x04);
		cfg[7] = 0x01;
		cfg_len = 8;
		break;
	default:
		return 2;
	}
	s.out = fopen(o->out, "wb");
	if (!s.out) {
		perror(o->out);
		return 2;
	}
	write_header(s.out, 2, codec, cfg, cfg_len, o->mtu, o->read_mtu);
	rc = o->codec == GEN_AAC ? gen_aac(&s) : o->codec == GEN_LDAC ? gen_ldac(&s) :
	     gen_aptx(&s, o->codec == GEN_APTX_HD);
	if (!rc && has_defect(o, D_TRUNCATED, -1)) {
		uint8_t h[12] = { 0 };

		put_le32(h + 8, 500);
		fwrite(h, 1, sizeof(h), s.out);
		fwrite(s.last, 1, s.last_len < 100 ? s.last_len : 100, s.out);
	}
	if (fclose(s.out) != 0)
		rc = 2;
	if (!rc && o->ref_out) {
		/* the source from frame 0, as the SBC path writes it */
		FILE *rf = fopen(o->ref_out, "wb");

		for (uint64_t i = 0; rf && i < s.end; i++)
			for (unsigned c = 0; c < CH; c++) {
				uint8_t b[2];

				put_le16(b, (uint16_t)source_sample(o, CH, i, c));
				fwrite(b, 1, 2, rf);
			}
		if (!rf || fclose(rf) != 0)
			rc = 2;
	}
	if (!rc)
		printf("packets %ld\n", s.pi);
	return rc;
}
