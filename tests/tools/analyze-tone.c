/* speaker-analyze: the decoded audio against the expected tone: sine fits,
 * SNR, frequency, gaps (see speaker-analyze.c, tests/tools/README.md). */
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

#include "speaker-analyze.h"

/* ---- sine fitting ----------------------------------------------------- */

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

void analyze_tone(const struct analysis *a, struct tone *t)
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
	/* a window 15 dB under the median is a dip; --dip-below DB: only
	 * when under DB too (a perceptual coder's SNR varies from window to
	 * window on a pure tone by more than 15 dB, a defect's window falls
	 * far lower) */
	double snr_floor = fmin(snr_med - 15, t->dip_below_db);

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
