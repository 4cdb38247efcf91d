/* speaker-analyze: the decoded audio against a reference: FFT cross-
 * correlation, SNR, libsbc's codec delay and bit-exact re-encoding (see
 * speaker-analyze.c, tests/tools/README.md). */
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
long codec_delay(const struct sbc_conf *c)
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

/* Decoded samples skipped past the alignment lag before comparing a
 * stream of another codec than SBC (its decoder's warm-up: two AAC
 * frames). */
#define NON_SBC_WARMUP 2048

/* Largest FFT we allow for the alignment (memory bound). */
#define XCORR_MAX (1u << 22)
/* Decoded audio used for the alignment: about 1.4 s at 48 kHz. */
#define XCORR_ALIGN_FRAMES (1u << 16)

void compare_ref(const struct analysis *a, const int16_t *ref,
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
