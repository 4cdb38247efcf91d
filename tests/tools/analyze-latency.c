/* speaker-analyze: capture-to-receipt latency from the capture plugin's
 * start file (see speaker-analyze.c, tests/tools/README.md). */
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

/* ---- latency ---------------------------------------------------------- */

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
void analyze_latency(const struct analysis *a, const char *path,
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
