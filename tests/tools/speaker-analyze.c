/*
 * speaker-analyze: judge what a Bluetooth speaker received from an A2DP
 * source, the way a speaker would: packet and RTP sanity, frame validity,
 * timing, and the decoded audio itself, decoded by a decoder independent of
 * the sender (libsbc for SBC, libavcodec for aptX, aptX HD and AAC; LDAC's
 * framing is checked, not decoded).
 *
 * Input is a recording written by the BlueZ double's speaker end:
 *   "A2DPREC2", u16 header length, u8 codec, u8 n, u16 write_mtu,
 *   u16 read_mtu, u32 reserved, n bytes of configuration (or "A2DPREC1"
 *   and SBC's 4 bytes in place of the header length, codec and n), then
 *   records of u64 t_ns (CLOCK_MONOTONIC at receipt), u32 len, len bytes
 *   of packet; all little-endian.  "A2DPREC3" has version 2's header and
 *   a u64 kernel timestamp after each record's len (read past here).  A
 *   truncated last record is ignored.
 *
 * See tests/tools/README.md for the options and every JSON key.
 *
 * Files: speaker-analyze.c (this: options, the recording, main),
 * analyze-packets.c (records, RTP, SBC, timing), analyze-codecs.c (aptX,
 * aptX HD, AAC, LDAC), analyze-tone.c, analyze-ref.c, analyze-latency.c,
 * analyze-report.c (JSON and --text); speaker-analyze.h holds what they
 * share.
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
double wrap_pi(double x)
{
	x = fmod(x, 2 * M_PI);
	if (x > M_PI)
		x -= 2 * M_PI;
	else if (x <= -M_PI)
		x += 2 * M_PI;
	return x;
}

/* x modulo m into [0, m) */
double mod_pos(double x, double m)
{
	double r = fmod(x, m);

	return r < 0 ? r + m : r;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
double percentile(const double *v, size_t n, double q)
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

double median_of(double *v, size_t n)
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
		"  --dip-below DB      a window's low SNR counts as a gap only under\n"
		"                      DB too (default: 15 dB under the median is)\n"
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
		{ "dip-below", 1, NULL, 'D' },
		{ "ref", 1, NULL, 'r' }, { "ref-channels", 1, NULL, 'c' },
		{ "ref-sbc", 0, NULL, 's' }, { "latency", 1, NULL, 'l' },
		{ "max-list", 1, NULL, 'm' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .phase_tol = 1.5, .dip_below = INFINITY, .max_list = 20 };
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
		case 'D':
			if (!parse_double(optarg, &o.dip_below))
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
		fprintf(stderr, "speaker-analyze: %s: not an A2DPREC3, A2DPREC2 or A2DPREC1 recording\n",
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
		t.dip_below_db = o.dip_below;
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
