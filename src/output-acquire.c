/* Acquiring a speaker's stream, and trying again when BlueZ or the
 * speaker refuses (split out of output.c). */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "stream.h"

/* Acquire fails for a moment while the stream opens (quick retries), and
 * for as long as a phone plays when a multipoint speaker has suspended us
 * for it and refuses AVDTP START (BlueZ: org.bluez.Error.Failed,
 * "Input/output error"). That can last a song or a call: the stream is
 * asked for again with a backoff, 1 s doubling to 60 s, while there is
 * sound to send; in silence it waits for sound, as after an idle suspend. */
#define ACQUIRE_QUICK_RETRIES 6u
#define ACQUIRE_FAILURES_MAX 64u

static int on_acquire_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        struct transport *t = ud;
        struct daemon *d = t->daemon;
        uint64_t rate = d->engine_rate ? d->engine_rate : 48000;

        sd_event_source_disable_unref(t->acquire_timer);
        t->acquire_timer = NULL;
        if (t->acquire_failures > ACQUIRE_QUICK_RETRIES &&
            atomic_load(&stream_stats(d->stream)->silent_run) >= rate && !d->idle_suspended) {
                log_info("no sound to send: %s is asked for again when sound comes", t->path);
                d->idle_suspended = true;
                d->holdoff_device[0] = '\0';   /* for silence: no speaker's hold-off */
                output_idle_suspend_changed(d);
                return 0;
        }
        output_maybe_acquire(d, t);
        return 0;
}

/* Acquire a little later: BlueZ opens the AVDTP stream only after our
 * SetConfiguration reply, and refuses Acquire until then. */
static void schedule_acquire(struct daemon *d, struct transport *t, unsigned ms)
{
        if (t->acquire_timer)
                return;
        if (sd_event_add_time_relative(d->event, &t->acquire_timer, CLOCK_MONOTONIC,
                                       (uint64_t)ms * 1000, 1000, on_acquire_timer, t) < 0)
                log_err("cannot schedule Acquire");
}

void output_transport_added(struct daemon *d, struct transport *t)
{
        t->acquire_failures = 0;
        schedule_acquire(d, t, 20);
        output_update_status(d);
}

void output_acquire_failed(struct daemon *d, struct transport *t, const char *error, bool by_bluez)
{
        unsigned n = t->acquire_failures;

        if (t->acquire_failures < ACQUIRE_FAILURES_MAX)
                t->acquire_failures++;
        /* the first refusals may be the stream still opening; from the
         * third in a row the speaker refuses START */
        if (by_bluez && n >= 2)
                diagnose_note_transport(d, t, HIST_ACQUIRE_FAILED, error);
        if (n < ACQUIRE_QUICK_RETRIES) {
                unsigned ms = 50u << n;
                log_debug("acquiring %s failed (%s); retrying in %u ms", t->path, error, ms);
                schedule_acquire(d, t, ms);
        } else if (!by_bluez) {
                /* what BlueZ gave us is unusable (an MTU too small for a
                 * frame): the same again until the stream is set up anew */
                log_err("acquiring %s failed: %s", t->path, error);
        } else {
                unsigned s = policy_reconnect_delay_s(n - ACQUIRE_QUICK_RETRIES);
                log_warn("acquiring %s failed (%s); trying again in %u s", t->path, error, s);
                schedule_acquire(d, t, s * 1000);
        }
        output_update_status(d);
}

/* The output speaker asked for music (its PLAY, NEXT or PREVIOUS key): it is
 * free again, so a wait meant not to fight it (the hold-off after its
 * suspend, the backoff while it refused START for a phone) ends, and the
 * next suspend starts the hold-off afresh. In silence the stream still
 * waits for sound. */
void output_speaker_wants_music(struct daemon *d)
{
        for (struct transport *t = d->transports; t; t = t->next) {
                if (!speaker_transport_is_output(d, t) || multi_output_is_second(d, t))
                        continue;
                if (d->idle_suspended && d->holdoff_device[0] && strcmp(d->holdoff_device, t->device) == 0 &&
                    d->resume_not_before) {
                        log_info("the speaker asked for music: its hold-off is over");
                        d->resume_not_before = 0;
                        d->resume_holdoff_ms = 0;
                }
                if (t->acquire_timer && t->acquire_failures > ACQUIRE_QUICK_RETRIES) {
                        log_info("the speaker asked for music: asking it for %s now", t->path);
                        sd_event_source_disable_unref(t->acquire_timer);
                        t->acquire_timer = NULL;
                        t->acquire_failures = ACQUIRE_QUICK_RETRIES;
                        d->resume_holdoff_ms = 0;
                        output_maybe_acquire(d, t);
                }
        }
}
