/*
 * Test client for the a2dpsrc test capture plugin.
 *
 * Captures from an ALSA device the way a daemon would (non-blocking with
 * poll, or blocking reads), optionally provokes an overrun or a stop/restart,
 * and checks that:
 *  - every captured sample equals the documented sine formula at the signal
 *    index given by the plugin's start_file lines,
 *  - readiness, avail and delay follow the clock (paced devices),
 *  - xruns are reported as -EPIPE the expected number of times and
 *    snd_pcm_recover() continues the stream.
 * Prints "key value" metrics and "FAIL ..." lines; exits non-zero on failure.
 */
#include <alsa/asoundlib.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MAX_STARTS 64

struct opts {
	const char *device;
	unsigned rate, channels;
	snd_pcm_uframes_t period, buffer;
	double seconds;
	bool nonblock;
	bool explicit_start;
	bool paced;
	double freq, amp, offset_hz;
	const char *start_file;
	int expect_xruns;		/* -1: don't check */
	double sleep_at_ms, sleep_ms;	/* stop reading for a while */
	double drop_at_ms, pause_ms;	/* snd_pcm_drop, wait, prepare */
	double forward_at_ms;		/* fall behind, snd_pcm_forward */
	bool close_running;
	double min_wall, max_wall;	/* seconds; < 0: don't check */
	double min_block_ms;		/* longest single wait must reach this */
};

static int failures;

#define FAIL(...) do { printf("FAIL "); printf(__VA_ARGS__); \
		       printf("\n"); failures++; } while (0)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int16_t expected(const struct opts *o, uint64_t g, unsigned ch)
{
	double f = o->freq + (ch == 1 ? o->offset_hz : 0.0);
	double x = 2.0 * M_PI * f * (double)g / (double)o->rate;

	return (int16_t)round(o->amp * 32767.0 * sin(x));
}

struct start_line {
	unsigned long long t0_ns, discarded;
	unsigned rate;
};

static int read_starts(const char *path, struct start_line *s, int max)
{
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fscanf(f, "%llu %u %llu", &s[n].t0_ns, &s[n].rate,
				 &s[n].discarded) == 3)
		n++;
	fclose(f);
	return n;
}

static void new_piece(uint64_t *pbuf, uint64_t *ppos, int *pseg, int *n,
		      uint64_t buf_index, uint64_t pos, int seg)
{
	if (*n >= 2 * MAX_STARTS + 2)
		return;
	pbuf[*n] = buf_index;
	ppos[*n] = pos;
	pseg[*n] = seg;
	(*n)++;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pcm-client -D DEV [--rate R] [--channels C] [--period F]\n"
		"  [--buffer F] [--seconds S] [--nonblock] [--explicit-start]\n"
		"  [--unpaced] [--freq HZ] [--amp A] [--offset HZ]\n"
		"  [--start-file PATH] [--expect-xruns N]\n"
		"  [--sleep-at MS --sleep MS] [--drop-at MS --pause MS]\n"
		"  [--close-running] [--min-wall S] [--max-wall S]\n"
		"  [--min-block MS] [--forward-at MS]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "rate", 1, NULL, 'r' }, { "channels", 1, NULL, 'c' },
		{ "period", 1, NULL, 'p' }, { "buffer", 1, NULL, 'b' },
		{ "seconds", 1, NULL, 's' }, { "nonblock", 0, NULL, 'n' },
		{ "explicit-start", 0, NULL, 'e' }, { "unpaced", 0, NULL, 'u' },
		{ "freq", 1, NULL, 'f' }, { "amp", 1, NULL, 'a' },
		{ "offset", 1, NULL, 'o' }, { "start-file", 1, NULL, 'S' },
		{ "expect-xruns", 1, NULL, 'x' }, { "sleep-at", 1, NULL, 1 },
		{ "sleep", 1, NULL, 2 }, { "drop-at", 1, NULL, 3 },
		{ "pause", 1, NULL, 4 }, { "close-running", 0, NULL, 5 },
		{ "min-wall", 1, NULL, 6 }, { "max-wall", 1, NULL, 7 },
		{ "min-block", 1, NULL, 8 }, { "forward-at", 1, NULL, 9 },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	*o = (struct opts){
		.device = NULL, .rate = 48000, .channels = 2, .period = 480,
		.buffer = 1920, .seconds = 1, .paced = true, .freq = 1000,
		.amp = 0.5, .expect_xruns = -1, .sleep_at_ms = -1,
		.drop_at_ms = -1, .forward_at_ms = -1, .min_wall = -1,
		.max_wall = -1,
		.min_block_ms = -1,
	};
	while ((c = getopt_long(argc, argv, "D:", lo, NULL)) != -1) {
		switch (c) {
		case 'D': o->device = optarg; break;
		case 'r': o->rate = (unsigned)atoi(optarg); break;
		case 'c': o->channels = (unsigned)atoi(optarg); break;
		case 'p': o->period = (snd_pcm_uframes_t)atol(optarg); break;
		case 'b': o->buffer = (snd_pcm_uframes_t)atol(optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'n': o->nonblock = true; break;
		case 'e': o->explicit_start = true; break;
		case 'u': o->paced = false; break;
		case 'f': o->freq = atof(optarg); break;
		case 'a': o->amp = atof(optarg); break;
		case 'o': o->offset_hz = atof(optarg); break;
		case 'S': o->start_file = optarg; break;
		case 'x': o->expect_xruns = atoi(optarg); break;
		case 1: o->sleep_at_ms = atof(optarg); break;
		case 2: o->sleep_ms = atof(optarg); break;
		case 3: o->drop_at_ms = atof(optarg); break;
		case 4: o->pause_ms = atof(optarg); break;
		case 5: o->close_running = true; break;
		case 6: o->min_wall = atof(optarg); break;
		case 7: o->max_wall = atof(optarg); break;
		case 8: o->min_block_ms = atof(optarg); break;
		case 9: o->forward_at_ms = atof(optarg); break;
		default: usage();
		}
	}
	if (!o->device || o->channels < 1 || o->channels > 2 || !o->rate)
		usage();
}

#define CHECK(call) do { int e_ = (call); if (e_ < 0) { \
	FAIL("%s: %s", #call, snd_strerror(e_)); goto out; } } while (0)

static void sleep_ms(double ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
			       (long)(fmod(ms, 1000) * 1e6) };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct opts o;
	snd_pcm_t *pcm = NULL;
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	snd_pcm_status_t *st;
	int16_t *buf = NULL;
	/* client position (frames read or forwarded) at each start */
	uint64_t seg_start[MAX_STARTS + 1];
	/* runs of captured frames with consecutive positions: a new one at
	 * each start and after each forward */
	uint64_t piece_buf[2 * MAX_STARTS + 2], piece_pos[2 * MAX_STARTS + 2];
	int piece_seg[2 * MAX_STARTS + 2], pieces = 1;
	uint64_t pos = 0, forwarded = 0;
	bool need_lines = true, fwd_done = false;
	int segs = 1, xruns = 0, wakeups = 0, spurious = 0, eagain = 0;
	int pace_checks = 0, pace_bad = 0, delay_bad = 0, early = 0;
	uint64_t total, got = 0;
	snd_pcm_uframes_t boundary = 0;
	bool slept = false, dropped = false;
	double t_begin, wall = 0, longest_block = 0;
	struct start_line starts[MAX_STARTS];
	int nstarts_seen = 0;

	parse(argc, argv, &o);
	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	snd_pcm_status_alloca(&st);
	total = (uint64_t)(o.seconds * o.rate);
	buf = calloc(total + o.buffer + 1, o.channels * sizeof(int16_t));
	if (!buf)
		return 2;
	seg_start[0] = 0;
	piece_buf[0] = piece_pos[0] = 0;
	piece_seg[0] = 0;

	CHECK(snd_pcm_open(&pcm, o.device, SND_PCM_STREAM_CAPTURE,
			   o.nonblock ? SND_PCM_NONBLOCK : 0));
	CHECK(snd_pcm_hw_params_any(pcm, hw));
	CHECK(snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED));
	CHECK(snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE));
	CHECK(snd_pcm_hw_params_set_channels(pcm, hw, o.channels));
	CHECK(snd_pcm_hw_params_set_rate(pcm, hw, o.rate, 0));
	CHECK(snd_pcm_hw_params_set_period_size_near(pcm, hw, &o.period, NULL));
	CHECK(snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &o.buffer));
	CHECK(snd_pcm_hw_params(pcm, hw));
	CHECK(snd_pcm_sw_params_current(pcm, sw));
	CHECK(snd_pcm_sw_params_get_boundary(sw, &boundary));
	CHECK(snd_pcm_sw_params_set_avail_min(pcm, sw, o.period));
	CHECK(snd_pcm_sw_params_set_start_threshold(pcm, sw,
		o.explicit_start ? boundary : 1));
	CHECK(snd_pcm_sw_params(pcm, sw));
	printf("period %lu\nbuffer %lu\n", o.period, o.buffer);

	int npfd = snd_pcm_poll_descriptors_count(pcm);
	struct pollfd pfd[4];

	if (npfd < 1 || npfd > 4) {
		FAIL("poll descriptors count %d", npfd);
		goto out;
	}
	CHECK(snd_pcm_poll_descriptors(pcm, pfd, (unsigned)npfd));
	if (o.explicit_start)
		CHECK(snd_pcm_start(pcm));

	t_begin = now_s();
	while (got < total) {
		double ms_done = got * 1000.0 / o.rate;
		snd_pcm_sframes_t r;
		snd_pcm_uframes_t want = total - got;

		if (o.sleep_at_ms >= 0 && !slept && ms_done >= o.sleep_at_ms) {
			slept = true;
			sleep_ms(o.sleep_ms);
		}
		if (o.forward_at_ms >= 0 && !fwd_done && ms_done >= o.forward_at_ms) {
			/* like a2dpsrc's secondary captures: fall behind, then
			 * skip all but one period of the backlog */
			fwd_done = true;
			sleep_ms(o.period * 3000.0 / o.rate);
			snd_pcm_sframes_t av = snd_pcm_avail_update(pcm);

			if (av > (snd_pcm_sframes_t)o.period) {
				snd_pcm_sframes_t f = snd_pcm_forward(pcm,
					(snd_pcm_uframes_t)av - o.period);

				if (f < 0) {
					FAIL("snd_pcm_forward: %s", snd_strerror((int)f));
				} else {
					pos += (uint64_t)f;
					forwarded += (uint64_t)f;
					new_piece(piece_buf, piece_pos, piece_seg,
						  &pieces, got, pos, segs - 1);
				}
			}
		}
		if (o.drop_at_ms >= 0 && !dropped && ms_done >= o.drop_at_ms) {
			dropped = true;
			CHECK(snd_pcm_drop(pcm));
			sleep_ms(o.pause_ms);
			CHECK(snd_pcm_prepare(pcm));
			new_piece(piece_buf, piece_pos, piece_seg, &pieces, got,
				  pos, segs);
			if (segs < MAX_STARTS)
				seg_start[segs++] = pos;
			need_lines = true;
			if (o.explicit_start)
				CHECK(snd_pcm_start(pcm));
		}

		/* Without an explicit start, a non-blocking capture stream is
		 * started by the first read (start_threshold 1), like
		 * hardware: a PREPARED stream never becomes readable. */
		if (o.nonblock && snd_pcm_state(pcm) != SND_PCM_STATE_PREPARED) {
			unsigned short rev = 0;
			double tw = now_s();
			int pr = poll(pfd, (nfds_t)npfd, 2000);

			tw = now_s() - tw;
			if (tw > longest_block)
				longest_block = tw;
			if (pr == 0) {
				FAIL("poll timed out at frame %llu",
				     (unsigned long long)got);
				goto out;
			}
			wakeups++;
			CHECK(snd_pcm_poll_descriptors_revents(pcm, pfd,
						(unsigned)npfd, &rev));
			if (!(rev & (POLLIN | POLLERR))) {
				spurious++;
				continue;
			}
			if (!(rev & POLLERR)) {
				uint64_t ta = now_ns();
				snd_pcm_sframes_t av = snd_pcm_avail_update(pcm);
				uint64_t tb = now_ns();
				snd_pcm_sframes_t d = 0;

				if (av >= 0 && (snd_pcm_uframes_t)av < o.period)
					early++;
				/* delay reads the clock again: it may exceed
				 * avail by what the clock produced between the
				 * two calls (long under valgrind or a loaded
				 * machine), plus a millisecond's slack */
				int dr = av >= 0 ? snd_pcm_delay(pcm, &d) : -1;
				uint64_t tc = now_ns();
				long grown = (long)((double)(tc - ta) * o.rate /
						    1e9) + (long)o.rate / 1000;

				if (dr == 0 && (d < av || d > av + grown))
					delay_bad++;
				/* avail must equal the frames the clock has
				 * produced since this start, minus those read */
				if (av >= 0 && o.paced && o.start_file &&
				    nstarts_seen == segs) {
					const struct start_line *s =
						&starts[segs - 1];
					double rd = (double)(pos - seg_start[segs - 1]);
					/* bracket the call: time passes during it */
					double lo = floor((ta - s->t0_ns) * 1e-9 * o.rate)
						    + 1 - rd;
					double hi = floor((tb - s->t0_ns) * 1e-9 * o.rate)
						    + 1 - rd;

					pace_checks++;
					if ((double)av < lo - 1 || (double)av > hi + 1)
						pace_bad++;
				}
				if (av > 0 && (snd_pcm_uframes_t)av < want)
					want = (snd_pcm_uframes_t)av;
			}
		} else if (want > o.period) {
			want = o.period;
		}

		double tr = now_s();

		r = snd_pcm_readi(pcm, buf + got * o.channels, want);
		tr = now_s() - tr;
		if (tr > longest_block)
			longest_block = tr;
		if (r == -EAGAIN) {
			eagain++;
			continue;
		}
		if (r == -EPIPE) {
			xruns++;
			snd_pcm_status(pcm, st);
			if (snd_pcm_status_get_state(st) != SND_PCM_STATE_XRUN)
				FAIL("EPIPE but state %s", snd_pcm_state_name(
					snd_pcm_status_get_state(st)));
			CHECK(snd_pcm_recover(pcm, (int)r, 1));
			new_piece(piece_buf, piece_pos, piece_seg, &pieces, got,
				  pos, segs);
			if (segs < MAX_STARTS)
				seg_start[segs++] = pos;
			need_lines = true;
			if (o.explicit_start)
				CHECK(snd_pcm_start(pcm));
			continue;
		}
		if (r < 0) {
			FAIL("readi: %s", snd_strerror((int)r));
			goto out;
		}
		if (need_lines && r > 0 && o.start_file) {
			/* first read of a start: its line is now written */
			nstarts_seen = read_starts(o.start_file, starts,
						   MAX_STARTS);
		}
		need_lines = false;
		got += (uint64_t)r;
		pos += (uint64_t)r;
		/* a blocking read may return early because of an xrun */
		snd_pcm_status(pcm, st);
		if (snd_pcm_status_get_state(st) != SND_PCM_STATE_RUNNING &&
		    snd_pcm_status_get_state(st) != SND_PCM_STATE_XRUN)
			FAIL("state %s after a read", snd_pcm_state_name(
				snd_pcm_status_get_state(st)));
	}
	wall = now_s() - t_begin;

out:
	if (pcm) {
		if (!o.close_running)
			snd_pcm_drop(pcm);
		snd_pcm_close(pcm);
	}
	snd_config_update_free_global();

	printf("forwarded %llu\n", (unsigned long long)forwarded);
	printf("frames %llu\nwall_s %.3f\nxruns %d\nstarts %d\nwakeups %d\n"
	       "spurious %d\neagain %d\nlongest_block_ms %.1f\n"
	       "pace_checks %d\npace_bad %d\ndelay_bad %d\n",
	       (unsigned long long)got, wall, xruns, segs, wakeups, spurious,
	       eagain, longest_block * 1000, pace_checks, pace_bad, delay_bad);

	/* every sample against the formula, at the index the plugin logged */
	int n = o.start_file ? read_starts(o.start_file, starts, MAX_STARTS) : 0;
	uint64_t mismatches = 0;

	if (o.start_file && n != segs)
		FAIL("start_file has %d lines, client saw %d starts", n, segs);
	for (int k = 0; k < segs && k < n; k++)
		printf("start %d discarded %llu\n", k,
		       (unsigned long long)starts[k].discarded);
	for (int j = 0; j < pieces; j++) {
		int k = piece_seg[j];
		uint64_t disc = k < n ? starts[k].discarded : 0;
		uint64_t end = j + 1 < pieces ? piece_buf[j + 1] : got;

		if (k >= n && k > 0)
			break;
		for (uint64_t b = piece_buf[j]; b < end; b++) {
			uint64_t sp = piece_pos[j] + (b - piece_buf[j]);

			for (unsigned c = 0; c < o.channels; c++)
				if (buf[b * o.channels + c] !=
				    expected(&o, sp + disc, c))
					mismatches++;
		}
	}
	printf("mismatches %llu\n", (unsigned long long)mismatches);
	if (mismatches)
		FAIL("%llu samples differ from the formula",
		     (unsigned long long)mismatches);
	if (got < total)
		FAIL("captured %llu of %llu frames", (unsigned long long)got,
		     (unsigned long long)total);
	if (o.expect_xruns >= 0 && xruns != o.expect_xruns)
		FAIL("%d xruns, expected %d", xruns, o.expect_xruns);
	if (o.min_wall >= 0 && wall < o.min_wall)
		FAIL("wall %.3f s < %.3f", wall, o.min_wall);
	if (o.max_wall >= 0 && wall > o.max_wall)
		FAIL("wall %.3f s > %.3f", wall, o.max_wall);
	if (o.min_block_ms >= 0 && longest_block * 1000 < o.min_block_ms)
		FAIL("longest wait %.1f ms < %.1f", longest_block * 1000,
		     o.min_block_ms);
	if (pace_bad)
		FAIL("%d of %d avail values off the clock", pace_bad,
		     pace_checks);
	if (early)
		FAIL("%d wakeups with POLLIN but avail < avail_min", early);
	if (delay_bad)
		FAIL("%d delay values inconsistent with avail", delay_bad);
	/* no busy polling: about one wakeup per avail_min frames */
	if (o.nonblock && o.paced &&
	    wakeups > 3 * (int)(total / o.period) + 20)
		FAIL("%d poll wakeups for %llu frames (busy loop?)", wakeups,
		     (unsigned long long)total);
	free(buf);
	printf("%s\n", failures ? "RESULT FAIL" : "RESULT OK");
	return failures ? 1 : 0;
}
