/* speaker-analyze: the JSON writer and the report (JSON and --text) (see
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

#include "speaker-analyze.h"

/* ---- JSON writer ------------------------------------------------------ */

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

/* ---- output ----------------------------------------------------------- */

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

void emit_json(struct json *j, const struct opts *o,
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
		if (isfinite(t->dip_below_db))
			jnum(j, "dip_below_db", t->dip_below_db);
		else
			jnull(j, "dip_below_db");
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

void emit_text(FILE *out, const struct opts *o, const struct analysis *a,
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
