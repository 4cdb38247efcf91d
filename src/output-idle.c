/* When the speaker is given back and taken again (split out of output.c):
 * after IdleSuspend seconds of silence, and after the speaker suspended
 * the stream itself (a hold-off, so that a speaker switching to its
 * other input is not fought). */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "stream.h"

/* Idle suspend: released after IdleSuspend seconds of silence, taken back
 * when sound comes. Polled four times a second, quick enough to come back,
 * and only while it can change something: streaming with an IdleSuspend,
 * or suspended and waiting for sound (a board that never suspends never
 * wakes for it). */
#define IDLE_POLL_US 250000ull

void output_idle_watch_update(struct daemon *d)
{
        bool needed = (d->streaming && d->state.idle_suspend) || d->idle_suspended;

        if (d->idle_timer && sd_event_source_set_enabled(d->idle_timer, needed ? SD_EVENT_ON
                                                                                : SD_EVENT_OFF) < 0)
                log_err("cannot %s the idle-suspend check", needed ? "start" : "stop");
}

void output_idle_suspend_changed(struct daemon *d)
{
        output_idle_watch_update(d);
}

static int on_idle_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        uint64_t silent = atomic_load(&stream_stats(d->stream)->silent_run);
        uint64_t rate = d->engine_rate ? d->engine_rate : 48000;

        if (d->streaming && d->state.idle_suspend &&
            silent >= (uint64_t)d->state.idle_suspend * rate) {
                struct transport *t = d->streaming;
                struct transport *t2 = d->streaming2;

                log_info("%u s of silence: releasing the speaker%s until sound comes", d->state.idle_suspend,
                         t2 ? "s" : "");
                diagnose_note_transport(d, t, HIST_IDLE_RELEASED, NULL);
                output_let_go(d, t);
                if (t2) {
                        /* the second too: both come back with the sound
                         * (output_maybe_acquire below takes every transport) */
                        diagnose_note_transport(d, t2, HIST_IDLE_RELEASED, NULL);
                        output_let_go(d, t2);
                }
                d->idle_suspended = true;
                d->holdoff_device[0] = '\0';   /* for silence: every speaker waits */
        } else if (d->idle_suspended && silent < rate / 8 && usec >= d->resume_not_before) {
                log_info("sound again: taking the speaker back");
                d->idle_suspended = false;
                d->resumed_at = usec;
                for (struct transport *t = d->transports; t; t = t->next)
                        output_maybe_acquire(d, t);
        }
        sd_event_source_set_time(s, usec + IDLE_POLL_US);
        output_idle_watch_update(d);
        return 0;
}

/* The hold-off after a speaker's suspend ends: its stream closed, or
 * another speaker is the output now. The next starts clean. */
void output_forget_holdoff(struct daemon *d)
{
        d->idle_suspended = false;
        d->resume_not_before = 0;
        d->resume_holdoff_ms = 0;
        d->holdoff_device[0] = '\0';
        output_idle_watch_update(d);
}

/* Sinks rarely start a stream themselves: after a suspend the source starts
 * it again when it has something to play. Not at once (a speaker switching
 * to its other input would be fought), and later each time the speaker
 * suspends again soon after a resume. */
#define RESUME_HOLDOFF_MIN_MS 1000u
#define RESUME_HOLDOFF_MAX_MS 60000u
#define RESUME_CALM_US 30000000ull

void output_hold_off_after_suspend(struct daemon *d, struct transport *t)
{
        uint64_t now = 0;

        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (d->resumed_at && now - d->resumed_at < RESUME_CALM_US && d->resume_holdoff_ms)
                d->resume_holdoff_ms = d->resume_holdoff_ms * 2 < RESUME_HOLDOFF_MAX_MS
                                               ? d->resume_holdoff_ms * 2 : RESUME_HOLDOFF_MAX_MS;
        else
                d->resume_holdoff_ms = RESUME_HOLDOFF_MIN_MS;
        d->resume_not_before = now + (uint64_t)d->resume_holdoff_ms * 1000;
        d->idle_suspended = true;
        snprintf(d->holdoff_device, sizeof(d->holdoff_device), "%s", t->device);
        log_info("%s suspended by the speaker; starting it again in %u s when there is sound",
                 t->path, d->resume_holdoff_ms / 1000);
}

int output_idle_init(struct daemon *d)
{
        return sd_event_add_time_relative(d->event, &d->idle_timer, CLOCK_MONOTONIC, IDLE_POLL_US,
                                          50000, on_idle_timer, d);
}

void output_idle_shutdown(struct daemon *d)
{
        sd_event_source_disable_unref(d->idle_timer);
        d->idle_timer = NULL;
}
