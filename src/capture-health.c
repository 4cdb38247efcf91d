/* Whether the capture gives the speaker anything: a speaker is never
 * left connected and silent. While the capture cannot be opened, delivers
 * nothing, or (snd-aloop) nothing plays into it, the speaker is given back
 * (as idle suspend does) and taken again when audio comes; why is in
 * Manager1.StreamBlocked, "<reason>: <sentence>" (docs/dbus-api.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aloop-status.h"
#include "daemon.h"
#include "log.h"
#include "stream.h"
#include "utf8.h"

/* Never a speaker connected and silent: while the capture cannot be opened
 * or delivers nothing, the speaker is given back (as idle suspend does)
 * and taken again when audio comes. Why is in Manager1.StreamBlocked,
 * "<reason>: <sentence>" (docs/dbus-api.md). */
void output_block_stream(struct daemon *d, const char *reason, const char *detail)
{
        bool was = d->stream_blocked[0] != '\0';

        snprintf(d->stream_blocked, sizeof(d->stream_blocked), "%s: %s", reason, detail);
        /* a capture name of up to 255 bytes may have been cut to fit,
         * and StreamBlocked goes out on D-Bus */
        utf8_copy(d->stream_blocked, sizeof(d->stream_blocked), d->stream_blocked);
        if (!was)
                log_warn("%s; the speaker is given back until the capture delivers", detail);
        output_detach(d);
        for (struct transport *t = d->transports; t; t = t->next)
                transport_release(d, t, false);
        output_update_status(d);
}

void output_unblock_stream(struct daemon *d)
{
        if (!d->stream_blocked[0])
                return;
        d->stream_blocked[0] = '\0';
        log_info("the capture delivers again: taking the speaker back");
        for (struct transport *t = d->transports; t; t = t->next)
                output_maybe_acquire(d, t);
        output_update_status(d);
}

/* A capture failing the same way at every retry (a missing snd-aloop, a
 * misspelt PCM, a start refused: 30 s apart for as long as the board runs)
 * is news once: logged at level when the failure is new for its category,
 * at debug when it repeats, until the capture delivers. */
void capture_health_say(struct daemon *d, int category, enum log_level level, const char *text)
{
        if (category < 0 || category >= CAT_COUNT)
                log_msg(level, "%s", text);
        else
                log_news(d->capture_said[category], sizeof(d->capture_said[0]), level, text);
}

/* A capture that delivers nothing (a stalled device, a producer that
 * stopped its clock) while streaming: after CAPTURE_DRY_US the speaker is
 * given back, and taken again when frames come. Checked only while
 * streaming or waiting for such frames: also after a capture failed
 * (engine_failures, forgotten once it delivers) or while it is
 * unavailable (lifted once it delivers, not when it merely opens). */
#define CAPTURE_WATCH_US 500000ull
#define CAPTURE_DRY_US 1500000ull

bool output_blocked_for(const struct daemon *d, const char *reason)
{
        size_t n = strlen(reason);

        return strncmp(d->stream_blocked, reason, n) == 0 && d->stream_blocked[n] == ':';
}

void capture_watch_update(struct daemon *d)
{
        /* shutting down, the loop is finished and takes no source back on */
        bool needed = !d->shutting_down &&
                      (d->streaming || output_blocked_for(d, BLOCKED_CAPTURE_NO_DATA) ||
                       output_blocked_for(d, BLOCKED_CAPTURE_UNAVAILABLE) ||
                       (d->engine_failures && stream_running(d->stream)));

        int was = SD_EVENT_OFF;

        if (!d->capture_watch)
                return;
        sd_event_source_get_enabled(d->capture_watch, &was);
        if (needed && was == SD_EVENT_OFF) {
                /* frames count from now: what came before (an engine since
                 * stopped) says nothing of the capture today */
                d->watch_frames = atomic_load(&stream_stats(d->stream)->capture_frames);
                sd_event_now(d->event, CLOCK_MONOTONIC, &d->watch_moved_at);
        }
        if (sd_event_source_set_enabled(d->capture_watch, needed ? SD_EVENT_ON : SD_EVENT_OFF) < 0)
                log_err("cannot %s the capture watch", needed ? "start" : "stop");
}

static int on_capture_watch(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        uint64_t frames = atomic_load(&stream_stats(d->stream)->capture_frames), now = usec;

        /* usec is when the timer was due; the loop's now may be later */
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (frames != d->watch_frames) {
                d->watch_frames = frames;
                d->watch_moved_at = now;
                /* the engine delivers: its next failure is retried quickly
                 * again (output.c) */
                d->engine_failures = 0;
                memset(d->capture_said, 0, sizeof(d->capture_said));
                if (output_blocked_for(d, BLOCKED_CAPTURE_NO_DATA) ||
                    output_blocked_for(d, BLOCKED_CAPTURE_UNAVAILABLE))
                        output_unblock_stream(d);
        } else if (d->streaming && now > d->watch_moved_at &&
                   now - d->watch_moved_at >= CAPTURE_DRY_US) {
                char detail[160];
                snprintf(detail, sizeof(detail), "the capture has delivered nothing for %.1f s",
                         (double)(now - d->watch_moved_at) / 1e6);
                output_block_stream(d, BLOCKED_CAPTURE_NO_DATA, detail);
        }
        sd_event_source_set_time(s, now + CAPTURE_WATCH_US);
        capture_watch_update(d);
        return 0;
}

/* snd-aloop's producer (producer-watch.c). When it stops, the capture is
 * let go at once, so that the next producer chooses its rate (a capture
 * held open fixes it); a held transport waits PRODUCER_GRACE_US for it to
 * come back (a new track, a new rate), then is given back. When it plays,
 * the engine opens again at its rate: on the held transport (converted,
 * and the speaker asked to take the rate) or locally. */
#define PRODUCER_GRACE_US 2000000ull

static int on_producer_gone(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;

        sd_event_source_disable_unref(d->producer_timer);
        d->producer_timer = NULL;
        if (d->producer_known && !d->producer_playing)
                output_block_stream(d, BLOCKED_NO_PRODUCER, "nothing plays into the loopback");
        return 0;
}

static void let_capture_go(struct daemon *d)
{
        log_info("nothing plays into the loopback: the capture is let go for the next producer");
        output_engine_stop(d);
        if (!d->producer_timer &&
            sd_event_add_time_relative(d->event, &d->producer_timer, CLOCK_MONOTONIC,
                                       PRODUCER_GRACE_US, 50000, on_producer_gone, d) < 0)
                on_producer_gone(NULL, 0, d);
}

/* A producer that underran (a busy board's audio engine, held back longer
 * than its buffer) recovers by itself within moments, with the same
 * parameters: its capture, engine and stream are kept meanwhile (snd-aloop
 * fills the capture with silence), instead of a new stream for a glitch.
 * Looked at every PRODUCER_XRUN_POLL_US: once the substream is neither in
 * XRUN nor prepared to restart (closed, set up anew: it may want another
 * rate), or after PRODUCER_XRUN_MAX_US, the capture is let go as for a
 * producer that stopped. */
#define PRODUCER_XRUN_POLL_US 100000ull
#define PRODUCER_XRUN_MAX_US 1000000ull

static bool producer_recovering(struct daemon *d)
{
        int st = producer_watch_sub_state(d);

        return st == PCM_SUB_XRUN || st == PCM_SUB_PREPARED;
}

static void xrun_wait_end(struct daemon *d)
{
        sd_event_source_disable_unref(d->producer_xrun);
        d->producer_xrun = NULL;
}

static int on_producer_xrun(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;

        if (usec - d->producer_xrun_since < PRODUCER_XRUN_MAX_US && producer_recovering(d)) {
                sd_event_source_set_time(s, usec + PRODUCER_XRUN_POLL_US);
                return 0;
        }
        xrun_wait_end(d);
        if (!d->producer_playing) {
                log_info("the loopback's producer did not recover from its underrun");
                let_capture_go(d);
        }
        return 0;
}

void output_producer_changed(struct daemon *d, bool playing)
{
        if (playing) {
                sd_event_source_disable_unref(d->producer_timer);
                d->producer_timer = NULL;
                if (d->producer_xrun)
                        log_info("the loopback's producer recovered from its underrun");
                xrun_wait_end(d);
                output_engine_resume(d);
                return;
        }
        /* read after the event: by then the substream may be in XRUN, or
         * already prepared again, or even running (its event is next) */
        if (!d->producer_xrun && stream_running(d->stream) &&
            (producer_recovering(d) || producer_watch_sub_state(d) == PCM_SUB_RUNNING)) {
                sd_event_now(d->event, CLOCK_MONOTONIC, &d->producer_xrun_since);
                if (sd_event_add_time(d->event, &d->producer_xrun, CLOCK_MONOTONIC,
                                      d->producer_xrun_since + PRODUCER_XRUN_POLL_US, 10000,
                                      on_producer_xrun, d) >= 0) {
                        log_info("the loopback's producer underran: its capture is kept while it recovers");
                        return;
                }
                d->producer_xrun = NULL;
        }
        if (!d->producer_xrun)
                let_capture_go(d);
}

/* Whether the engine may open the capture: always, but on snd-aloop only
 * while the producer plays. Only a lone capture is let go: with alerts or
 * voice captured too, each loopback subdevice has a producer of its own,
 * and an alert must play while no media does. */
bool capture_health_producer_plays(struct daemon *d)
{
        int master = -1, n = 0;

        for (int c = 0; c < CAT_COUNT; c++) {
                if (!d->opts.capture[c][0])
                        continue;
                if (master < 0)
                        master = c;
                n++;
        }
        if (n == 1)
                producer_watch_start(d, d->opts.capture[master]);
        if (!d->producer_known || d->producer_playing)
                return true;
        if (!d->producer_timer)
                output_block_stream(d, BLOCKED_NO_PRODUCER, "nothing plays into the loopback");
        return false;
}

int capture_health_init(struct daemon *d)
{
        int r = sd_event_add_time_relative(d->event, &d->capture_watch, CLOCK_MONOTONIC,
                                           CAPTURE_WATCH_US, 50000, on_capture_watch, d);

        if (r < 0)
                return r;
        capture_watch_update(d);
        return 0;
}

void capture_health_shutdown(struct daemon *d)
{
        sd_event_source_disable_unref(d->capture_watch);
        d->capture_watch = NULL;
        sd_event_source_disable_unref(d->producer_timer);
        d->producer_timer = NULL;
        xrun_wait_end(d);
        producer_watch_stop(d);
}
