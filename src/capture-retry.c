/* Reopening a secondary capture (alerts, voice) that failed, while the
 * engine runs: a failed category loses only itself. The audio thread plays
 * it as silence meanwhile; it is reopened with backoff (1 s doubling to
 * 32 s) at the engine's rate and handed to the running engine. Bluetooth
 * and the other categories go on. (The master capture paces the engine:
 * output.c restarts the engine when it fails.) */
#include <errno.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "pcm.h"
#include "stream.h"

static int on_capture_retry(sd_event_source *src, uint64_t usec, void *ud);

void capture_retry_schedule(struct daemon *d, int c)
{
        unsigned s = policy_backoff_s(d->capture_retries[c], 32);

        if (d->capture_retry[c])
                return;
        d->capture_retries[c]++;
        if (sd_event_add_time_relative(d->event, &d->capture_retry[c], CLOCK_MONOTONIC,
                                       (uint64_t)s * 1000000, 10000, on_capture_retry, d) < 0)
                log_err("cannot schedule reopening the %s capture", audio_category_name(c));
}

static int on_capture_retry(sd_event_source *src, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        struct pcm_config cc = { .rate = d->engine_rate, .exact = true, .channels = 2,
                                 .period_frames = d->capture_period, .periods = CAPTURE_PERIODS,
                                 .min_buffer_ms = CAPTURE_BUFFER_MIN_MS };
        struct pcm_result res;
        snd_pcm_t *pcm = NULL;
        char err[256];
        int c = 0, r;

        while (c < CAT_COUNT && d->capture_retry[c] != src)
                c++;
        if (c == CAT_COUNT)
                return 0;
        sd_event_source_disable_unref(src);
        d->capture_retry[c] = NULL;
        if (!stream_running(d->stream) || stream_wedged(d->stream))
                return 0;       /* the engine's restart reopens every capture */
        if (pcm_open(&pcm, d->opts.capture[c], SND_PCM_STREAM_CAPTURE, &cc, &res, err,
                     sizeof(err)) < 0) {
                log_debug("%s", err);   /* logged once, when it failed */
                capture_retry_schedule(d, c);
                return 0;
        }
        r = stream_set_capture(d->stream, c, pcm);
        if (r < 0) {
                /* not taken: ours to close; unanswered: the thread's */
                if (r == -EINVAL || r == -EBUSY)
                        snd_pcm_close(pcm);
                log_err("cannot hand the reopened %s capture to the audio thread: %s",
                        audio_category_name(c), strerror(-r));
                if (stream_wedged(d->stream))
                        output_engine_stuck(d); /* no retry: nothing new for it */
                else
                        capture_retry_schedule(d, c);
                return 0;
        }
        if (d->capture[c])
                snd_pcm_close(d->capture[c]);
        d->capture[c] = pcm;
        d->capture_retries[c] = 0;
        log_notice("capture %s reopened", audio_category_name(c));
        return 0;
}

void capture_retry_cancel(struct daemon *d)
{
        for (int c = 0; c < CAT_COUNT; c++) {
                sd_event_source_disable_unref(d->capture_retry[c]);
                d->capture_retry[c] = NULL;
                d->capture_retries[c] = 0;
        }
}
