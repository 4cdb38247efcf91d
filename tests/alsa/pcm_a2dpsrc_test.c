/*
 * ALSA capture plugin for a2dpsrc tests: stands in for the board's loopback
 * capture device on machines that have no sound card.
 *
 * It produces a sine (or the contents of a raw file), paced by
 * CLOCK_MONOTONIC like real hardware or as fast as the client reads, and it
 * overruns like hardware when the client does not keep up.  Faults can be
 * injected on a schedule, and every start is logged so that a test can tell
 * the true capture time of every sample.
 *
 * Signal model: the signal has an index g that starts at 0 on the first
 * start after open (or after new hw_params).  In paced mode g follows the clock from that moment on,
 * whether or not the stream is running, so sample g was captured at
 * origin + g / rate; audio the client does not read (overrun, stall, stopped
 * stream) is lost for good.  In unpaced mode g only advances when the client
 * reads (or a stall is injected).
 */
/* We are always a dlopen()ed module: select alsa-lib's shared-object
 * symbol versioning (libtool would pass -DPIC). */
#ifndef PIC
#define PIC 1
#endif
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Keep sample values bit-identical to the reference formula computed
 * elsewhere (Python, the analyzer): no fused multiply-add. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define NS_PER_S 1000000000ULL

/* Period and buffer limits, in bytes: 16..65536 stereo frames. */
#define PERIOD_BYTES_MIN 64u
#define PERIOD_BYTES_MAX 262144u
#define BUFFER_BYTES_MAX (4u * 1024u * 1024u)
#define PERIODS_MAX 1024u

enum source_kind { SOURCE_SINE, SOURCE_FILE };

struct tpcm {
	snd_pcm_ioplug_t io;

	/* configuration */
	enum source_kind source;
	double frequency;
	double amplitude;
	double duration_s;
	double channel_offset_hz;
	bool paced;
	double xrun_at_ms;	/* < 0: unset */
	double xrun_every_ms;	/* <= 0: unset */
	double stall_ms;
	double xrun_count;	/* <= 0: no limit */
	double suspend_at_ms;	/* < 0: unset; the system suspends then */
	char *file_path;
	char *start_file;
	unsigned fixed_rate;	/* `rate`: the only rate, 0 = any */
	unsigned fixed_channels;	/* `channels`: the only count, 0 = 1 or 2 */
	char *rate_file;	/* `rate_file`: the producer's rate (snd-aloop) */
	char *hang_file;	/* while this path exists, the pointer blocks */
	double start_error;	/* `start_error`: errno every start fails with, 0 = none */
	char *start_error_file;	/* if set, start_error only while this path exists */

	/* file source, mapped read-only */
	const uint8_t *file_map;
	size_t file_dropped;	/* bytes at the start of file_map given back */
	size_t file_size;

	int timer_fd;

	/* from hw/sw params */
	uint64_t duration_frames;	/* 0: forever */
	snd_pcm_uframes_t avail_min;
	snd_pcm_uframes_t stop_threshold;
	snd_pcm_uframes_t boundary;

	/* stream state */
	bool started_once;
	bool running;
	bool xrun;
	uint64_t origin_ns;	/* CLOCK_MONOTONIC time of signal index 0 */
	uint64_t t0_ns;		/* time of frame 0 of the current start */
	uint64_t g0;		/* signal index of frame 0 of the current start */
	uint64_t read;		/* frames the client consumed in this start */
	snd_pcm_uframes_t last_appl;	/* io->appl_ptr when `read` was synced */
	uint64_t delivered;	/* frames handed to the client before it */
	uint64_t g_next;	/* unpaced: where the next start resumes */
	unsigned inject_next;	/* index of the next scheduled injection */
	snd_pcm_sframes_t last_pos;
	bool format_broken;	/* the producer changed rate under us */
	bool suspended;		/* SUSPENDED until prepared (no .resume) */
	bool suspend_done;
	struct timespec rate_mtime;	/* of rate_file when last read */
	unsigned producer;	/* its rate then, 0 = no producer */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* floor(ns * rate / 1e9) without overflowing 64 bits on long runs. */
static uint64_t ns_to_frames(uint64_t ns, unsigned rate)
{
	return ns / NS_PER_S * rate + ns % NS_PER_S * rate / NS_PER_S;
}

/* ceil(frames * 1e9 / rate), same concern. */
static uint64_t frames_to_ns(uint64_t frames, unsigned rate)
{
	return frames / rate * NS_PER_S +
	       (frames % rate * NS_PER_S + rate - 1) / rate;
}

/* Time in ms (relative to signal index 0) of injection number j, or a
 * negative value when the schedule has no such injection. */
static double inject_ms(const struct tpcm *t, unsigned j)
{
	if (t->xrun_count > 0 && j >= t->xrun_count)
		return -1;
	if (t->xrun_at_ms >= 0) {
		if (j == 0)
			return t->xrun_at_ms;
		if (t->xrun_every_ms > 0)
			return t->xrun_at_ms + j * t->xrun_every_ms;
		return -1;
	}
	if (t->xrun_every_ms > 0)
		return (j + 1) * t->xrun_every_ms;
	return -1;
}

static uint64_t ms_to_ns(double ms)
{
	return (uint64_t)llround(ms * 1e6);
}

static uint64_t ms_to_frames(double ms, unsigned rate)
{
	return (uint64_t)llround(ms * rate / 1000.0);
}

static int16_t sample_at(const struct tpcm *t, uint64_t g, unsigned ch)
{
	if (t->duration_frames && g >= t->duration_frames)
		return 0;
	if (t->source == SOURCE_FILE) {
		uint64_t frames = t->file_size / (2u * t->io.channels);
		uint16_t v;

		if (g >= frames)
			return 0;
		memcpy(&v, t->file_map + (g * t->io.channels + ch) * 2, 2);
		return (int16_t)le16toh(v);
	}
	double f = t->frequency + (ch == 1 ? t->channel_offset_hz : 0.0);
	/* The documented formula, evaluated left to right so that other
	 * implementations can reproduce it bit for bit. */
	double x = 2.0 * M_PI * f * (double)g / (double)t->io.rate;
	double v = round(t->amplitude * 32767.0 * sin(x));

	if (v > 32767.0)
		v = 32767.0;
	if (v < -32768.0)
		v = -32768.0;
	return (int16_t)v;
}

/* The rate the device is fixed at: `rate`, or what the producer named in
 * rate_file holds (snd-aloop: whichever side opens first fixes the rate for
 * the other); 0 = any.  The file is read again only when it changed. */
static unsigned producer_rate(struct tpcm *t)
{
	struct stat st;
	char buf[32];
	ssize_t n;
	int fd;

	if (!t->rate_file)
		return t->fixed_rate;
	if (stat(t->rate_file, &st) < 0) {
		t->producer = 0;
		return 0;
	}
	if (st.st_mtim.tv_sec == t->rate_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == t->rate_mtime.tv_nsec)
		return t->producer;
	t->rate_mtime = st.st_mtim;
	fd = open(t->rate_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return t->producer = 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	t->producer = (unsigned)strtoul(buf, NULL, 10);
	return t->producer;
}

/* Frames of the current start made available by the clock at `now`,
 * before fault injection and overrun are considered. */
static uint64_t clock_frames(const struct tpcm *t, uint64_t now)
{
	if (now < t->t0_ns)
		return 0;
	return ns_to_frames(now - t->t0_ns, t->io.rate) + 1;
}

/*
 * The client's position comes from alsa-lib's appl_ptr, not from our
 * transfer callback: snd_pcm_forward() (and rewind) move it without any
 * callback.  It wraps at the boundary.
 */
static void sync_appl(struct tpcm *t)
{
	snd_pcm_uframes_t appl = t->io.appl_ptr;
	snd_pcm_uframes_t d = appl >= t->last_appl
		? appl - t->last_appl : t->boundary - t->last_appl + appl;

	if (d <= t->boundary / 2) {
		t->read += d;
	} else {
		/* moved back (rewind) */
		d = t->boundary - d;
		t->read = d < t->read ? t->read - d : 0;
	}
	t->last_appl = appl;
}

/*
 * Bring the device model up to `now`: how many frames exist in this start,
 * and whether an overrun or an injected xrun has happened.  Returns the
 * frames available in this start (hardware position).
 */
static void timer_set(struct tpcm *t, uint64_t when_ns);

static uint64_t update(struct tpcm *t, uint64_t now)
{
	if (!t->running)
		return t->read;
	sync_appl(t);
	if (t->xrun)
		return t->read;
	if (t->suspend_at_ms >= 0 && !t->suspend_done &&
	    now >= t->origin_ns + ms_to_ns(t->suspend_at_ms)) {
		/* the system suspends: the PCM core's snd_pcm_suspend_all()
		 * leaves the stream SUSPENDED (reads -ESTRPIPE, poll an error
		 * for as long as it lasts). There is no .resume here, as in
		 * a driver without SNDRV_PCM_INFO_RESUME: prepare and start */
		t->suspend_done = true;
		t->suspended = true;
		t->running = false;
		timer_set(t, now);
		snd_pcm_ioplug_set_state(&t->io, SND_PCM_STATE_SUSPENDED);
		return t->read;
	}
	if (t->rate_file) {
		unsigned r = producer_rate(t);

		/* snd-aloop stops a capture whose producer restarted at
		 * another rate (DRAINING, SETUP once read empty: reads give
		 * -EBADFD, poll an error); it cannot start again at the old
		 * rate */
		if (r && r != t->io.rate) {
			t->format_broken = true;
			t->running = false;
			/* pollers wake, and the fd stays readable: POLLERR
			 * for as long as the state lasts, as the kernel's */
			timer_set(t, now);
			snd_pcm_ioplug_set_state(&t->io, SND_PCM_STATE_SETUP);
			return t->read;
		}
	}

	double ims = inject_ms(t, t->inject_next);

	if (!t->paced) {
		uint64_t produced = t->read + t->io.buffer_size;

		if (ims >= 0) {
			uint64_t gi = ms_to_frames(ims, t->io.rate);
			uint64_t cap = gi > t->g0 ? gi - t->g0 : 0;

			if (produced > cap)
				produced = cap;
			if (t->read >= cap) {
				t->xrun = true;
				t->inject_next++;
				t->g_next = gi + ms_to_frames(t->stall_ms, t->io.rate);
			}
		}
		return produced;
	}

	uint64_t produced = clock_frames(t, now);

	if (ims >= 0) {
		uint64_t istart = t->origin_ns + ms_to_ns(ims);
		uint64_t iend = istart + ms_to_ns(t->stall_ms);

		if (now >= iend) {
			t->xrun = true;
			t->inject_next++;
			return t->read;
		}
		/* During a stall the device delivers nothing more. */
		if (now >= istart) {
			uint64_t cap = clock_frames(t, istart);

			if (produced > cap)
				produced = cap;
		}
	}
	if (produced < t->read)
		produced = t->read;	/* a client cannot be ahead; be safe */
	/* Like the kernel: a capture stream stops once stop_threshold frames
	 * are waiting (thresholds beyond the buffer act as the buffer size,
	 * this device never overwrites unread audio). */
	snd_pcm_uframes_t stop = t->stop_threshold;

	if (stop == 0 || stop > t->io.buffer_size)
		stop = t->io.buffer_size;
	if (produced - t->read >= stop) {
		t->xrun = true;
		return t->read;
	}
	return produced;
}

static void timer_set(struct tpcm *t, uint64_t when_ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (when_ns == 0)
		when_ns = 1;	/* all-zero would disarm; any past time fires */
	its.it_value.tv_sec = (time_t)(when_ns / NS_PER_S);
	its.it_value.tv_nsec = (long)(when_ns % NS_PER_S);
	timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void timer_disarm(struct tpcm *t)
{
	struct itimerspec its;
	uint64_t n;

	memset(&its, 0, sizeof(its));
	timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	/* drop an expiry that is already pending */
	if (read(t->timer_fd, &n, sizeof(n)) < 0)
		n = 0;
}

/* Make the poll fd readable exactly when the client has something to do:
 * avail >= avail_min, or an xrun to report; `pos` is the client's
 * position in this start. */
static void timer_arm_at(struct tpcm *t, uint64_t pos)
{
	if (!t->running) {
		if (!t->format_broken && !t->suspended)	/* those stay readable */
			timer_disarm(t);
		return;
	}
	if (t->xrun || !t->paced) {
		timer_set(t, 1);
		return;
	}
	snd_pcm_uframes_t amin = t->avail_min ? t->avail_min : 1;
	uint64_t need = pos + amin;	/* frames that must exist */
	uint64_t ready = t->t0_ns + frames_to_ns(need - 1, t->io.rate);
	/* The stop threshold overruns no earlier than readiness, as long as
	 * avail_min does not exceed it; otherwise wake for the overrun. */
	snd_pcm_uframes_t stop = t->stop_threshold;

	if (stop == 0 || stop > t->io.buffer_size)
		stop = t->io.buffer_size;
	if (amin > stop)
		ready = t->t0_ns + frames_to_ns(pos + stop - 1, t->io.rate);

	double ims = inject_ms(t, t->inject_next);

	if (ims >= 0) {
		uint64_t istart = t->origin_ns + ms_to_ns(ims);

		if (istart < ready)
			ready = istart + ms_to_ns(t->stall_ms);
	}
	timer_set(t, ready);
}

static void timer_arm(struct tpcm *t)
{
	if (t->running)
		sync_appl(t);
	timer_arm_at(t, t->read);
}

static int write_start_line(struct tpcm *t, uint64_t discarded)
{
	int fd = open(t->start_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0644);

	if (fd < 0) {
		int err = -errno;

		SNDERR("a2dpsrc_test: cannot open start_file %s: %s",
		       t->start_file, strerror(errno));
		return err;
	}
	char line[96];
	int n = snprintf(line, sizeof(line), "%llu %u %llu\n",
			 (unsigned long long)t->t0_ns, t->io.rate,
			 (unsigned long long)discarded);
	/* one write() so that concurrent appends never interleave */
	ssize_t w = write(fd, line, (size_t)n);
	int err = (w == n) ? 0 : -EIO;

	close(fd);
	return err;
}

/* `sync`: appl_ptr still holds the client's position (not after
 * alsa-lib's prepare, which zeroes it before calling us) */
static void end_run(struct tpcm *t, bool sync)
{
	if (t->running) {
		if (sync)
			sync_appl(t);
		t->delivered += t->read;
		if (!t->paced && t->g0 + t->read > t->g_next)
			t->g_next = t->g0 + t->read;
	}
	t->running = false;
	t->xrun = false;
	t->read = 0;
}

static int tp_start(snd_pcm_ioplug_t *io)
{
	struct tpcm *t = io->private_data;
	uint64_t now = mono_ns();

	if (t->rate_file) {
		unsigned r = producer_rate(t);

		/* as snd-aloop's trigger when the formats differ */
		if (t->format_broken || (r && r != io->rate))
			return -EIO;
	}
	/* a device that opens and is set up but whose trigger fails (snd-aloop
	 * when the producer's format or access differs, an ASoC board) */
	if (t->start_error > 0 && (!t->start_error_file || access(t->start_error_file, F_OK) == 0))
		return -(int)t->start_error;
	if (t->paced) {
		if (!t->started_once) {
			t->origin_ns = now;
			t->g0 = 0;
		} else {
			/* The signal kept going while we were stopped. */
			t->g0 = ns_to_frames(now - t->origin_ns, io->rate);
			if (t->g0 < t->g_next)
				t->g0 = t->g_next;
		}
		t->t0_ns = t->origin_ns + frames_to_ns(t->g0, io->rate);
	} else {
		if (!t->started_once)
			t->origin_ns = now;
		t->g0 = t->g_next;
		t->t0_ns = now;
	}
	/* Injections scheduled while the stream was stopped never happen. */
	for (;;) {
		double ims = inject_ms(t, t->inject_next);

		if (ims < 0)
			break;
		if (t->paced ? t->origin_ns + ms_to_ns(ims) >= t->t0_ns
			     : ms_to_frames(ims, io->rate) >= t->g0)
			break;
		t->inject_next++;
	}
	t->started_once = true;
	t->running = true;
	t->xrun = false;
	t->read = 0;
	t->last_appl = io->appl_ptr;	/* 0 after prepare */
	t->last_pos = 0;

	if (t->start_file) {
		int err = write_start_line(t, t->g0 - t->delivered);

		if (err < 0) {
			t->running = false;
			return err;
		}
	}
	timer_arm(t);
	return 0;
}

static void stop_run(struct tpcm *t, bool sync)
{
	/* In paced mode the next start resumes from the clock; in unpaced
	 * mode from where the client stopped reading. */
	if (t->paced && t->running) {
		uint64_t end = t->g0 + clock_frames(t, mono_ns());

		if (end > t->g_next)
			t->g_next = end;
	}
	end_run(t, sync);
	timer_disarm(t);
}

static int tp_stop(snd_pcm_ioplug_t *io)
{
	stop_run(io->private_data, true);
	return 0;
}

/* A driver that does not come back, as snd_pcm_recover(-ESTRPIPE) waiting
 * for a resume, or a stuck DMA: the caller blocks while hang_file exists. */
static void hang_while_asked(const struct tpcm *t)
{
	const struct timespec step = { 0, 10000000 };

	if (!t->hang_file)
		return;
	while (access(t->hang_file, F_OK) == 0)
		nanosleep(&step, NULL);
}

static snd_pcm_sframes_t tp_pointer(snd_pcm_ioplug_t *io)
{
	struct tpcm *t = io->private_data;

	hang_while_asked(t);
	if (!t->running)
		return t->last_pos;
	uint64_t hw = update(t, mono_ns());

	if (t->xrun)
		return -EPIPE;
	t->last_pos = (snd_pcm_sframes_t)(hw % t->boundary);
	return t->last_pos;
}

/* Pages of the file already played leave our resident set, as audio a
 * driver has handed over leaves its DMA buffer: a minute of signal would
 * otherwise count ~10 MiB against the capturing process (the benchmarks
 * measure a2dpsrcd's RSS with this plugin inside it). A rewind re-reads
 * them from the file. */
static void drop_played_pages(struct tpcm *t, size_t upto)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t end;

	/* never past our mapping: madvise would zap whatever follows it */
	if (upto > t->file_size)
		upto = t->file_size;
	end = upto / page * page;

	if (upto < t->file_dropped)
		t->file_dropped = 0;	/* the signal restarted: pages came back */
	if (end < t->file_dropped + 64u * 1024u)
		return;
	if (madvise((void *)(t->file_map + t->file_dropped), end - t->file_dropped,
		    MADV_DONTNEED) == 0)
		t->file_dropped = end;
}

/* A file read into an interleaved buffer is one copy and a tail of
 * silence, as a DMA buffer is to a real driver: the benchmarks measure the
 * daemon's capture cost, not a per-sample loop of ours.  Returns false
 * when the layout needs the per-sample path. */
static bool copy_file_interleaved(struct tpcm *t,
				  const snd_pcm_channel_area_t *areas,
				  snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	unsigned ch = t->io.channels;
	size_t frame_bytes = 2u * ch;

	if (t->source != SOURCE_FILE || BYTE_ORDER != LITTLE_ENDIAN)
		return false;
	for (unsigned c = 0; c < ch; c++)
		if (areas[c].addr != areas[0].addr || areas[c].first != 16u * c ||
		    areas[c].step != 16u * ch)
			return false;

	uint64_t g = t->g0 + t->read;
	uint64_t end = t->file_size / frame_bytes;
	uint8_t *dst = (uint8_t *)areas[0].addr + offset * frame_bytes;
	uint64_t n = 0;

	if (t->duration_frames && t->duration_frames < end)
		end = t->duration_frames;
	if (g < end)
		n = end - g < size ? end - g : size;
	if (n)
		memcpy(dst, t->file_map + g * frame_bytes, n * frame_bytes);
	memset(dst + n * frame_bytes, 0, (size - n) * frame_bytes);
	drop_played_pages(t, (g + n) * frame_bytes);
	return true;
}

static snd_pcm_sframes_t tp_transfer(snd_pcm_ioplug_t *io,
				     const snd_pcm_channel_area_t *areas,
				     snd_pcm_uframes_t offset,
				     snd_pcm_uframes_t size)
{
	struct tpcm *t = io->private_data;

	sync_appl(t);
	if (copy_file_interleaved(t, areas, offset, size))
		goto done;
	for (snd_pcm_uframes_t i = 0; i < size; i++) {
		uint64_t g = t->g0 + t->read + i;

		for (unsigned c = 0; c < io->channels; c++) {
			const snd_pcm_channel_area_t *a = &areas[c];
			uint8_t *dst = (uint8_t *)a->addr +
				       (a->first + (offset + i) * a->step) / 8;
			uint16_t v = htole16((uint16_t)sample_at(t, g, c));

			memcpy(dst, &v, 2);
		}
	}
done:
	/* alsa-lib advances appl_ptr by `size` after we return; the next
	 * sync_appl() counts it */
	timer_arm_at(t, t->read + size);
	return (snd_pcm_sframes_t)size;
}

static int tp_hw_params(snd_pcm_ioplug_t *io, snd_pcm_hw_params_t *params)
{
	struct tpcm *t = io->private_data;

	(void)params;
	/* a new configuration starts a new signal (index 0 at the next
	 * start); its start_file line has 0 discarded and marks a new origin */
	stop_run(t, false);
	t->format_broken = false;
	t->started_once = false;
	t->delivered = 0;
	t->g_next = 0;
	t->inject_next = 0;
	t->duration_frames = t->duration_s > 0
		? (uint64_t)llround(t->duration_s * io->rate) : 0;
	t->avail_min = io->period_size;
	t->stop_threshold = io->buffer_size;
	/* Same rule alsa-lib uses; sw_params reports the real value. */
	t->boundary = io->buffer_size;
	while (t->boundary * 2 <= LONG_MAX - io->buffer_size)
		t->boundary *= 2;
	return 0;
}

static int tp_sw_params(snd_pcm_ioplug_t *io, snd_pcm_sw_params_t *params)
{
	struct tpcm *t = io->private_data;
	snd_pcm_uframes_t v;

	if (snd_pcm_sw_params_get_avail_min(params, &v) == 0)
		t->avail_min = v;
	if (snd_pcm_sw_params_get_stop_threshold(params, &v) == 0)
		t->stop_threshold = v;
	if (snd_pcm_sw_params_get_boundary(params, &v) == 0 && v)
		t->boundary = v;
	if (t->running)
		timer_arm(t);
	return 0;
}

static int tp_prepare(snd_pcm_ioplug_t *io)
{
	struct tpcm *t = io->private_data;

	/* e.g. after an xrun: the stream was never stopped */
	stop_run(t, false);
	t->suspended = false;
	t->last_pos = 0;
	return 0;
}

static int tp_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd,
			   unsigned int nfds, unsigned short *revents)
{
	struct tpcm *t = io->private_data;
	uint64_t n;

	*revents = 0;
	if (nfds < 1)
		return -EINVAL;
	if (pfd[0].revents & (POLLERR | POLLNVAL)) {
		*revents = POLLERR;
		return 0;
	}
	if (t->format_broken || t->suspended) {
		*revents = POLLIN | POLLERR;
		return 0;
	}
	/* consume the expiry; readiness is recomputed from the model */
	if (read(t->timer_fd, &n, sizeof(n)) < 0)
		n = 0;
	if (!t->running)
		return 0;

	uint64_t hw = update(t, mono_ns());

	if (t->xrun) {
		/* alsa-lib turns POLLERR into the PCM state's error code */
		snd_pcm_ioplug_set_state(io, SND_PCM_STATE_XRUN);
		*revents = POLLIN | POLLERR;
	} else if (hw - t->read >= (t->avail_min ? t->avail_min : 1)) {
		*revents = POLLIN;
	}
	timer_arm(t);
	return 0;
}

static int tp_close(snd_pcm_ioplug_t *io)
{
	struct tpcm *t = io->private_data;

	if (t->timer_fd >= 0)
		close(t->timer_fd);
	if (t->file_map)
		munmap((void *)t->file_map, t->file_size);
	free(t->file_path);
	free(t->start_file);
	free(t->rate_file);
	free(t->hang_file);
	free(t->start_error_file);
	free(t);
	return 0;
}

static const snd_pcm_ioplug_callback_t tp_callbacks = {
	.start = tp_start,
	.stop = tp_stop,
	.pointer = tp_pointer,
	.transfer = tp_transfer,
	.close = tp_close,
	.hw_params = tp_hw_params,
	.sw_params = tp_sw_params,
	.prepare = tp_prepare,
	.poll_revents = tp_poll_revents,
};

/* Accept integers, reals and numeric strings for numeric keys. */
static int conf_number(snd_config_t *n, const char *id, double *out)
{
	const char *s;

	if (snd_config_get_ireal(n, out) == 0)
		return 0;
	if (snd_config_get_string(n, &s) == 0) {
		char *end;

		errno = 0;
		*out = strtod(s, &end);
		if (errno == 0 && end != s && *end == '\0')
			return 0;
	}
	SNDERR("a2dpsrc_test: %s must be a number", id);
	return -EINVAL;
}

static int conf_string(snd_config_t *n, const char *id, char **out)
{
	const char *s;

	if (snd_config_get_string(n, &s) < 0) {
		SNDERR("a2dpsrc_test: %s must be a string", id);
		return -EINVAL;
	}
	free(*out);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int parse_conf(struct tpcm *t, snd_config_t *conf)
{
	snd_config_iterator_t i, next;
	char *source = NULL;
	int err = 0;

	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;

		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") ||
		    !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "source")) {
			err = conf_string(n, id, &source);
		} else if (!strcmp(id, "file")) {
			err = conf_string(n, id, &t->file_path);
		} else if (!strcmp(id, "start_file")) {
			err = conf_string(n, id, &t->start_file);
		} else if (!strcmp(id, "rate_file")) {
			err = conf_string(n, id, &t->rate_file);
		} else if (!strcmp(id, "rate")) {
			double r;

			err = conf_number(n, id, &r);
			if (err == 0 && !(r == 0 || (r >= 8000 && r <= 96000))) {
				SNDERR("a2dpsrc_test: rate must be 0 or 8000..96000");
				err = -EINVAL;
			}
			if (err == 0)
				t->fixed_rate = (unsigned)r;
		} else if (!strcmp(id, "channels")) {
			double c;

			err = conf_number(n, id, &c);
			if (err == 0 && !(c == 0 || c == 1 || c == 2)) {
				SNDERR("a2dpsrc_test: channels must be 0, 1 or 2");
				err = -EINVAL;
			}
			if (err == 0)
				t->fixed_channels = (unsigned)c;
		} else if (!strcmp(id, "hang_file")) {
			err = conf_string(n, id, &t->hang_file);
		} else if (!strcmp(id, "start_error")) {
			err = conf_number(n, id, &t->start_error);
			if (err == 0 && !(t->start_error >= 0 && t->start_error < 4096)) {
				SNDERR("a2dpsrc_test: start_error must be an errno, 0..4095");
				err = -EINVAL;
			}
		} else if (!strcmp(id, "start_error_file")) {
			err = conf_string(n, id, &t->start_error_file);
		} else if (!strcmp(id, "paced")) {
			int b = snd_config_get_bool(n);

			if (b < 0) {
				SNDERR("a2dpsrc_test: paced must be a boolean");
				err = -EINVAL;
			} else {
				t->paced = b;
			}
		} else if (!strcmp(id, "frequency")) {
			err = conf_number(n, id, &t->frequency);
		} else if (!strcmp(id, "amplitude")) {
			err = conf_number(n, id, &t->amplitude);
		} else if (!strcmp(id, "duration")) {
			err = conf_number(n, id, &t->duration_s);
		} else if (!strcmp(id, "channel_offset_hz")) {
			err = conf_number(n, id, &t->channel_offset_hz);
		} else if (!strcmp(id, "xrun_at_ms")) {
			err = conf_number(n, id, &t->xrun_at_ms);
		} else if (!strcmp(id, "xrun_every_ms")) {
			err = conf_number(n, id, &t->xrun_every_ms);
		} else if (!strcmp(id, "stall_ms")) {
			err = conf_number(n, id, &t->stall_ms);
		} else if (!strcmp(id, "xrun_count")) {
			err = conf_number(n, id, &t->xrun_count);
		} else if (!strcmp(id, "suspend_at_ms")) {
			err = conf_number(n, id, &t->suspend_at_ms);
		} else {
			SNDERR("a2dpsrc_test: unknown field %s", id);
			err = -EINVAL;
		}
		if (err < 0)
			goto out;
	}

	if (!source || !strcmp(source, "sine")) {
		t->source = SOURCE_SINE;
	} else if (!strcmp(source, "file")) {
		t->source = SOURCE_FILE;
		if (!t->file_path) {
			SNDERR("a2dpsrc_test: source \"file\" needs file");
			err = -EINVAL;
		}
	} else {
		SNDERR("a2dpsrc_test: source must be \"sine\" or \"file\"");
		err = -EINVAL;
	}
	if (!(t->amplitude >= 0 && t->amplitude <= 1)) {
		SNDERR("a2dpsrc_test: amplitude must be within 0..1");
		err = -EINVAL;
	}
	if (!(t->frequency >= 0) || !(t->duration_s >= 0) ||
	    !(t->stall_ms >= 0) || !isfinite(t->channel_offset_hz) ||
	    !isfinite(t->xrun_at_ms) || !isfinite(t->xrun_every_ms) ||
	    !isfinite(t->suspend_at_ms)) {
		SNDERR("a2dpsrc_test: frequency, duration and stall_ms must be >= 0");
		err = -EINVAL;
	}
out:
	free(source);
	return err;
}

static int map_file(struct tpcm *t)
{
	int fd = open(t->file_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int err = 0;

	if (fd < 0) {
		err = -errno;
		SNDERR("a2dpsrc_test: cannot open %s: %s", t->file_path,
		       strerror(errno));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
	} else if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);

		if (p == MAP_FAILED) {
			err = -errno;
		} else {
			t->file_map = p;
			t->file_size = (size_t)st.st_size;
		}
	}
	close(fd);
	if (err < 0)
		SNDERR("a2dpsrc_test: cannot map %s", t->file_path);
	return err;
}

static int set_constraints(snd_pcm_ioplug_t *io, unsigned rate, unsigned channels)
{
	/* mmap through ioplug's own buffer, as alsa-lib's converters (plug:
	 * rate, format) read their slave */
	static const unsigned int access[] = {
		SND_PCM_ACCESS_RW_INTERLEAVED,
		SND_PCM_ACCESS_RW_NONINTERLEAVED,
		SND_PCM_ACCESS_MMAP_INTERLEAVED,
	};
	static const unsigned int formats[] = { SND_PCM_FORMAT_S16_LE };
	int err;

	if ((err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_ACCESS,
						 3, access)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_FORMAT,
						 1, formats)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_CHANNELS,
						   channels ? channels : 1,
						   channels ? channels : 2)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_RATE,
						   rate ? rate : 8000,
						   rate ? rate : 96000)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIOD_BYTES,
						   PERIOD_BYTES_MIN,
						   PERIOD_BYTES_MAX)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_BUFFER_BYTES,
						   2 * PERIOD_BYTES_MIN,
						   BUFFER_BYTES_MAX)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIODS,
						   2, PERIODS_MAX)) < 0)
		return err;
	return 0;
}

/* The macro is also a declarator: give the entry point a prototype. */
SND_PCM_PLUGIN_DEFINE_FUNC(a2dpsrc_test);

SND_PCM_PLUGIN_DEFINE_FUNC(a2dpsrc_test)
{
	struct tpcm *t;
	int err;

	(void)root;
	if (stream != SND_PCM_STREAM_CAPTURE) {
		SNDERR("a2dpsrc_test: capture only");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->timer_fd = -1;
	t->source = SOURCE_SINE;
	t->frequency = 1000;
	t->amplitude = 0.5;
	t->paced = true;
	t->xrun_at_ms = -1;
	t->suspend_at_ms = -1;

	err = parse_conf(t, conf);
	if (err == 0 && t->source == SOURCE_FILE)
		err = map_file(t);
	if (err == 0) {
		t->timer_fd = timerfd_create(CLOCK_MONOTONIC,
					     TFD_NONBLOCK | TFD_CLOEXEC);
		if (t->timer_fd < 0)
			err = -errno;
	}
	if (err < 0) {
		t->io.private_data = t;
		tp_close(&t->io);
		return err;
	}

	t->io.version = SND_PCM_IOPLUG_VERSION;
	t->io.name = "a2dpsrc test capture";
	t->io.callback = &tp_callbacks;
	t->io.private_data = t;
	t->io.poll_fd = t->timer_fd;
	t->io.poll_events = POLLIN;
	/* BOUNDARY_WA: report the position modulo the boundary so that a
	 * full buffer's worth of progress is never mistaken for none.
	 * Not FLAG_MONOTONIC: ioplug stamps triggers with the client's
	 * tstamp_type (gettimeofday by default), and claiming monotonic
	 * stamps would make clients such as arecord mix the two clocks. */
	t->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA;

	err = snd_pcm_ioplug_create(&t->io, name, stream, mode);
	if (err < 0) {
		tp_close(&t->io);
		return err;
	}
	err = set_constraints(&t->io, producer_rate(t), t->fixed_channels);
	if (err < 0) {
		snd_pcm_ioplug_delete(&t->io);	/* calls tp_close */
		return err;
	}
	*pcmp = t->io.pcm;
	return 0;
}

SND_PCM_PLUGIN_SYMBOL(a2dpsrc_test);
