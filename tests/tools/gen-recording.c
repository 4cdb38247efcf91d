/*
 * gen-recording: write a synthetic recording (A2DPREC2, or A2DPREC1) (what the BlueZ
 * double's speaker end records) of a known signal encoded with libsbc, with
 * optional defects, so that speaker-analyze can be tested against known
 * answers.
 *
 * The "sender" encodes the source signal from frame --skip on, packs as many
 * frames as fit write_mtu - 13 bytes, and each packet is "received"
 * --latency-ms after the capture time of its last sample, where source frame
 * g is captured at origin + g / rate (the capture plugin's model).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sbc/sbc.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include "gen-recording.h"

static const char *const defect_names[] = {
	"drop", "dup", "zeros", "oversize", "badseq", "badts", "badpt", "crc",
	"bitpool", "truncated",
};

int16_t *src_data;	/* --input */
size_t src_frames;

int16_t source_sample(const struct opts *o, unsigned ch, uint64_t g,
			     unsigned c)
{
	if (o->duration > 0 && g >= (uint64_t)llround(o->duration * o->rate))
		return 0;
	if (o->input) {
		if (g >= src_frames)
			return 0;
		return src_data[g * ch + c];
	}
	double f = o->freq + (c == 1 ? o->offset_hz : 0.0);
	/* the capture plugin's formula, evaluated the same way */
	double x = 2.0 * M_PI * f * (double)g / (double)o->rate;

	return (int16_t)round(o->amp * 32767.0 * sin(x));
}

bool has_defect(const struct opts *o, enum defect_kind k, long pkt)
{
	for (int i = 0; i < o->ndefects; i++)
		if (o->defects[i].kind == k && o->defects[i].packet == pkt)
			return true;
	return false;
}

void put_le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, v & 0xffff);
	put_le16(p + 2, v >> 16);
}

void put_be16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v & 0xffff);
}

void write_record(FILE *f, uint64_t t_ns, const uint8_t *p, size_t len)
{
	uint8_t h[12];

	put_le32(h, (uint32_t)t_ns);
	put_le32(h + 4, (uint32_t)(t_ns >> 32));
	put_le32(h + 8, (uint32_t)len);
	fwrite(h, 1, sizeof(h), f);
	fwrite(p, 1, len, f);
}

/* Recording header (tests/tools/README.md): version 2 carries the codec
 * type and the whole configuration; version 1 is SBC's 4 bytes only. */
void write_header(FILE *f, unsigned format, uint8_t codec,
			 const uint8_t *cfg, size_t cfg_len, unsigned mtu,
			 unsigned read_mtu)
{
	uint8_t hdr[20];

	if (format == 1) {
		memcpy(hdr, "A2DPREC1", 8);
		memcpy(hdr + 8, cfg, 4);
	} else {
		memcpy(hdr, "A2DPREC2", 8);
		put_le16(hdr + 8, (unsigned)(sizeof(hdr) + cfg_len));
		hdr[10] = codec;
		hdr[11] = (uint8_t)cfg_len;
	}
	put_le16(hdr + 12, mtu);
	put_le16(hdr + 14, read_mtu);
	put_le32(hdr + 16, 0);
	fwrite(hdr, 1, sizeof(hdr), f);
	if (format != 1)
		fwrite(cfg, 1, cfg_len, f);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gen-recording [options] OUT.rec\n"
		"  --rate 16000|32000|44100|48000  --mode mono|dual|stereo|joint\n"
		"  --blocks 4|8|12|16  --subbands 4|8  --alloc loudness|snr\n"
		"  --bitpool N  --min-bitpool N  --max-bitpool N  --bitpool2 N\n"
		"  --mtu N  --read-mtu N\n"
		"  --freq HZ  --amp A  --right-offset HZ  --input FILE.raw\n"
		"  --seconds S  --duration S  --skip FRAMES  --latency-ms MS\n"
		"  --jitter-ms MS\n"
		"  --origin-ns NS  --start-file FILE  --ref-out FILE.raw\n"
		"  --defect KIND@PACKET (repeatable; KIND: drop dup zeros oversize\n"
		"    badseq badts badpt crc bitpool truncated)  --hide  --seed N\n"
		"  --format 2|1 (recording format version)\n"
		"  --codec sbc|aptx|aptx-hd|aac|ldac (libavcodec's encoders for aptX\n"
		"    and AAC, libldacBT_enc for LDAC; stereo; defects drop dup\n"
		"    oversize (aptX) badseq badts badpt crc truncated)\n"
		"  --bitrate BPS (AAC, 256000)  --ldac-quality 0|1|2 (HQ, SQ, MQ)\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "rate", 1, NULL, 'r' }, { "mode", 1, NULL, 'M' },
		{ "blocks", 1, NULL, 'b' }, { "subbands", 1, NULL, 's' },
		{ "alloc", 1, NULL, 'a' }, { "bitpool", 1, NULL, 'B' },
		{ "min-bitpool", 1, NULL, 1 }, { "max-bitpool", 1, NULL, 2 },
		{ "bitpool2", 1, NULL, 3 }, { "mtu", 1, NULL, 'm' },
		{ "read-mtu", 1, NULL, 4 }, { "freq", 1, NULL, 'f' },
		{ "amp", 1, NULL, 'A' }, { "right-offset", 1, NULL, 'o' },
		{ "input", 1, NULL, 'i' }, { "seconds", 1, NULL, 'S' },
		{ "skip", 1, NULL, 'k' }, { "latency-ms", 1, NULL, 'l' },
		{ "jitter-ms", 1, NULL, 'j' }, { "origin-ns", 1, NULL, 5 },
		{ "start-file", 1, NULL, 6 }, { "ref-out", 1, NULL, 7 },
		{ "defect", 1, NULL, 'd' }, { "hide", 0, NULL, 'h' },
		{ "seed", 1, NULL, 8 }, { "duration", 1, NULL, 9 },
		{ "format", 1, NULL, 10 }, { "codec", 1, NULL, 11 },
		{ "bitrate", 1, NULL, 12 }, { "ldac-quality", 1, NULL, 13 },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	*o = (struct opts){
		.rate = 48000, .blocks = 16, .subbands = 8, .bitpool = 53,
		.min_bp = 2, .mtu = 895, .mode = 3, .freq = 997, .amp = 0.5,
		.seconds = 2, .latency_ms = 20,
		.origin_ns = 1000000000000ULL, .seed = 1, .format = 2,
		.bitrate = 256000,
	};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': o->rate = (unsigned)atoi(optarg); break;
		case 'M':
			if (!strcmp(optarg, "mono")) o->mode = 0;
			else if (!strcmp(optarg, "dual")) o->mode = 1;
			else if (!strcmp(optarg, "stereo")) o->mode = 2;
			else if (!strcmp(optarg, "joint")) o->mode = 3;
			else usage();
			break;
		case 'b': o->blocks = (unsigned)atoi(optarg); break;
		case 's': o->subbands = (unsigned)atoi(optarg); break;
		case 'a': o->snr_alloc = !strcmp(optarg, "snr"); break;
		case 'B': o->bitpool = (unsigned)atoi(optarg); break;
		case 1: o->min_bp = (unsigned)atoi(optarg); break;
		case 2: o->max_bp = (unsigned)atoi(optarg); break;
		case 3: o->bitpool2 = (unsigned)atoi(optarg); break;
		case 'm': o->mtu = (unsigned)atoi(optarg); break;
		case 4: o->read_mtu = (unsigned)atoi(optarg); break;
		case 'f': o->freq = atof(optarg); break;
		case 'A': o->amp = atof(optarg); break;
		case 'o': o->offset_hz = atof(optarg); break;
		case 'i': o->input = optarg; break;
		case 'S': o->seconds = atof(optarg); break;
		case 'k': o->skip = strtoull(optarg, NULL, 10); break;
		case 'l': o->latency_ms = atof(optarg); break;
		case 'j': o->jitter_ms = atof(optarg); break;
		case 5: o->origin_ns = strtoull(optarg, NULL, 10); break;
		case 6: o->start_file = optarg; break;
		case 7: o->ref_out = optarg; break;
		case 'h': o->hide = true; break;
		case 8: o->seed = (unsigned)atoi(optarg); break;
		case 9: o->duration = atof(optarg); break;
		case 10: o->format = (unsigned)atoi(optarg); break;
		case 11:
			if (!strcmp(optarg, "sbc")) o->codec = GEN_SBC;
			else if (!strcmp(optarg, "aptx")) o->codec = GEN_APTX;
			else if (!strcmp(optarg, "aptx-hd")) o->codec = GEN_APTX_HD;
			else if (!strcmp(optarg, "aac")) o->codec = GEN_AAC;
			else if (!strcmp(optarg, "ldac")) o->codec = GEN_LDAC;
			else usage();
			break;
		case 12: o->bitrate = (unsigned)atoi(optarg); break;
		case 13: o->ldac_quality = atoi(optarg); break;
		case 'd': {
			char *at = strchr(optarg, '@');
			int k;

			if (o->ndefects == MAX_DEFECTS)
				usage();
			for (k = 0; k <= D_TRUNCATED; k++)
				if (!strncmp(optarg, defect_names[k],
					     at ? (size_t)(at - optarg) : strlen(optarg)) &&
				    strlen(defect_names[k]) ==
				    (at ? (size_t)(at - optarg) : strlen(optarg)))
					break;
			if (k > D_TRUNCATED)
				usage();
			o->defects[o->ndefects].kind = (enum defect_kind)k;
			o->defects[o->ndefects++].packet = at ? atol(at + 1) : -1;
			break;
		}
		default: usage();
		}
	}
	if (optind != argc - 1 || (o->format != 1 && o->format != 2) ||
	    (o->codec != GEN_SBC && o->format == 1) || o->ldac_quality < 0 ||
	    o->ldac_quality > 2)
		usage();
	o->out = argv[optind];
	if (!o->max_bp)
		o->max_bp = o->bitpool > o->bitpool2 ? o->bitpool : o->bitpool2;
	if (!o->read_mtu)
		o->read_mtu = o->mtu;
}

int main(int argc, char **argv)
{
	struct opts o;
	sbc_t enc;
	FILE *out;

	parse(argc, argv, &o);
	if (o.codec != GEN_SBC)
		o.mode = 2;	/* stereo */
	unsigned ch = o.mode == 0 ? 1 : 2;
	int fidx = o.rate == 16000 ? 0 : o.rate == 32000 ? 1 :
		   o.rate == 44100 ? 2 : o.rate == 48000 ? 3 : -1;

	if (o.codec == GEN_SBC && (fidx < 0 || (o.blocks != 4 && o.blocks != 8 && o.blocks != 12 &&
			 o.blocks != 16) || (o.subbands != 4 && o.subbands != 8)))
		usage();

	if (o.input) {
		FILE *f = fopen(o.input, "rb");
		size_t cap = 0;

		if (!f) {
			perror(o.input);
			return 2;
		}
		for (;;) {
			uint8_t b[4];

			if (fread(b, 1, 2 * ch, f) != 2 * ch)
				break;
			if (src_frames == cap) {
				cap = cap ? 2 * cap : 65536;
				src_data = realloc(src_data, cap * ch * sizeof(int16_t));
				if (!src_data)
					return 2;
			}
			for (unsigned c = 0; c < ch; c++)
				src_data[src_frames * ch + c] =
					(int16_t)(b[2 * c] | b[2 * c + 1] << 8);
			src_frames++;
		}
		fclose(f);
	}
	if (o.codec != GEN_SBC)
		return gen_codec(&o);

	static const uint8_t fr[] = { SBC_FREQ_16000, SBC_FREQ_32000,
				      SBC_FREQ_44100, SBC_FREQ_48000 };
	static const uint8_t md[] = { SBC_MODE_MONO, SBC_MODE_DUAL_CHANNEL,
				      SBC_MODE_STEREO, SBC_MODE_JOINT_STEREO };

	sbc_init(&enc, 0);
	enc.frequency = fr[fidx];
	enc.mode = md[o.mode];
	enc.blocks = (uint8_t)(o.blocks / 4 - 1);
	enc.subbands = o.subbands == 8 ? SBC_SB_8 : SBC_SB_4;
	enc.allocation = o.snr_alloc ? SBC_AM_SNR : SBC_AM_LOUDNESS;
	enc.bitpool = (uint8_t)o.bitpool;
	enc.endian = SBC_LE;

	out = fopen(o.out, "wb");
	if (!out) {
		perror(o.out);
		return 2;
	}
	/* the A2DP SBC codec information */
	uint8_t cfg[4] = {
		(uint8_t)((0x80 >> fidx) | (0x08 >> o.mode)),
		(uint8_t)((0x80 >> (o.blocks / 4 - 1)) |
			  (o.subbands == 4 ? 0x08 : 0x04) |
			  (o.snr_alloc ? 0x02 : 0x01)),
		(uint8_t)o.min_bp, (uint8_t)o.max_bp,
	};

	write_header(out, o.format, 0x00, cfg, sizeof(cfg), o.mtu, o.read_mtu);

	size_t fs = o.blocks * o.subbands;
	uint64_t total = (uint64_t)(o.seconds * o.rate);
	uint64_t g = o.skip;		/* next source frame to encode */
	uint64_t end = o.skip + total;
	/* start near the wrap points: the analyzer must handle them */
	uint16_t seq = (uint16_t)(0xfff0 + o.seed);
	uint32_t ts = 0xffffe000u + o.seed;
	uint32_t rnd = o.seed * 2654435761u + 1;
	int16_t *pcm = calloc(fs * ch, sizeof(int16_t));
	uint8_t pkt[8192];
	long pi = 0;	/* packet index as generated (before drops/dups) */
	uint64_t t_last = 0;

	if (!pcm)
		return 2;
	if (o.start_file) {
		FILE *sf = fopen(o.start_file, "w");

		if (!sf) {
			perror(o.start_file);
			return 2;
		}
		fprintf(sf, "%llu %u 0\n", o.origin_ns, o.rate);
		fclose(sf);
	}

	while (g < end) {
		bool zeros = has_defect(&o, D_ZEROS, pi);

		if (has_defect(&o, D_BITPOOL, pi))
			enc.bitpool = (uint8_t)o.bitpool2;
		size_t flen = sbc_get_frame_length(&enc);
		size_t fpp = (o.mtu - 13) / flen;

		if (fpp < 1)
			fpp = 1;
		if (fpp > 15)
			fpp = 15;
		if (has_defect(&o, D_OVERSIZE, pi))
			fpp++;
		size_t len = 13;
		unsigned frames = 0;

		for (size_t f = 0; f < fpp && (zeros || g < end); f++) {
			/* a sender that filled an underrun with silence */
			for (size_t i = 0; i < fs; i++)
				for (unsigned c = 0; c < ch; c++)
					pcm[i * ch + c] = zeros ? 0 :
						source_sample(&o, ch, g + i, c);
			if (!zeros)
				g += fs;
			ssize_t w = 0;

			if (sbc_encode(&enc, pcm, fs * ch * 2, pkt + len,
				       sizeof(pkt) - len, &w) <= 0 || w <= 0) {
				fprintf(stderr, "gen-recording: encode failed\n");
				return 2;
			}
			len += (size_t)w;
			frames++;
		}
		pkt[0] = 0x80;
		pkt[1] = has_defect(&o, D_BADPT, pi) ? 97 : 96;
		put_be16(pkt + 2, has_defect(&o, D_BADSEQ, pi) ? seq + 100u : seq);
		put_be32(pkt + 4, has_defect(&o, D_BADTS, pi) ? ts + 1000u : ts);
		put_be32(pkt + 8, 0x12345678);
		pkt[12] = (uint8_t)frames;
		if (has_defect(&o, D_CRC, pi))
			pkt[13 + 5] ^= 0x10;	/* a scale factor bit */
		if (has_defect(&o, D_BADSEQ, pi))
			seq = (uint16_t)(seq + 100);

		/* received latency after the capture of its last sample */
		rnd = rnd * 1103515245u + 12345u;
		double jitter = o.jitter_ms * ((rnd >> 8) & 0xffff) / 65536.0;
		uint64_t t = o.origin_ns +
			     (uint64_t)llround((double)(g - 1) * 1e9 / o.rate +
					       (o.latency_ms + jitter) * 1e6);

		if (t < t_last)
			t = t_last;	/* arrival order is receipt order */
		t_last = t;
		unsigned samples = frames * (unsigned)fs;

		if (has_defect(&o, D_DROP, pi)) {
			/* encoded, never delivered */
			if (!o.hide) {
				seq++;
				ts += samples;
			}
		} else {
			write_record(out, t, pkt, len);
			seq++;
			ts += samples;
			if (has_defect(&o, D_DUP, pi)) {
				if (o.hide) {
					put_be16(pkt + 2, seq);
					put_be32(pkt + 4, ts);
					seq++;
					ts += samples;
				}
				write_record(out, t, pkt, len);
			}
		}
		pi++;
	}
	for (int i = 0; i < o.ndefects; i++)
		if (o.defects[i].kind == D_TRUNCATED) {
			/* a record cut short, as if still being written */
			uint8_t h[12] = { 0 };

			put_le32(h + 8, 500);
			fwrite(h, 1, sizeof(h), out);
			fwrite(pkt, 1, 100, out);
		}
	if (fclose(out) != 0) {
		perror(o.out);
		return 2;
	}
	if (o.ref_out) {
		FILE *rf = fopen(o.ref_out, "wb");

		if (!rf) {
			perror(o.ref_out);
			return 2;
		}
		for (uint64_t i = 0; i < g; i++)
			for (unsigned c = 0; c < ch; c++) {
				uint8_t b[2];

				put_le16(b, (uint16_t)source_sample(&o, ch, i, c));
				fwrite(b, 1, 2, rf);
			}
		if (fclose(rf) != 0)
			return 2;
	}
	printf("packets %ld frames_per_packet %zu\n", pi,
	       (o.mtu - 13) / sbc_get_frame_length(&enc));
	sbc_finish(&enc);
	free(pcm);
	free(src_data);
	return 0;
}
