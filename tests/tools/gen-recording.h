/* gen-recording: the options and helpers shared by the SBC generator
 * (gen-recording.c) and the other codecs' (gen-codecs.c). */
#ifndef GEN_RECORDING_H
#define GEN_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum gen_codec { GEN_SBC, GEN_APTX, GEN_APTX_HD, GEN_AAC, GEN_LDAC };

#define MAX_DEFECTS 8

enum defect_kind {
	D_DROP, D_DUP, D_ZEROS, D_OVERSIZE, D_BADSEQ, D_BADTS, D_BADPT, D_CRC,
	D_BITPOOL, D_TRUNCATED,
};

struct defect {
	enum defect_kind kind;
	long packet;
};

struct opts {
	unsigned rate, blocks, subbands, bitpool, bitpool2, min_bp, max_bp;
	unsigned mtu, read_mtu;
	int mode;		/* 0 mono, 1 dual, 2 stereo, 3 joint */
	bool snr_alloc;
	double freq, amp, offset_hz, seconds, latency_ms, jitter_ms;
	double duration;	/* seconds of signal, then silence; 0: all */
	const char *input, *ref_out, *start_file, *out;
	unsigned long long origin_ns, skip;
	bool hide;
	struct defect defects[MAX_DEFECTS];
	int ndefects;
	unsigned seed;
	unsigned format;	/* recording format version: 2 (default) or 1 */
	int codec;		/* enum gen_codec */
	unsigned bitrate;	/* AAC bit/s */
	int ldac_quality;	/* LDAC encode quality mode: 0 HQ, 1 SQ, 2 MQ */
};

extern int16_t *src_data;
extern size_t src_frames;

int16_t source_sample(const struct opts *o, unsigned ch, uint64_t g, unsigned c);
bool has_defect(const struct opts *o, enum defect_kind k, long pkt);
void put_le16(uint8_t *p, unsigned v);
void put_le32(uint8_t *p, uint32_t v);
void put_be16(uint8_t *p, unsigned v);
void put_be32(uint8_t *p, uint32_t v);
void write_record(FILE *f, uint64_t t_ns, const uint8_t *p, size_t len);
void write_header(FILE *f, unsigned format, uint8_t codec, const uint8_t *cfg,
		  size_t cfg_len, unsigned mtu, unsigned read_mtu);
/* Writes o->out for aptX, aptX HD, AAC or LDAC (gen-codecs.c); exit status. */
int gen_codec(const struct opts *o);

#endif
