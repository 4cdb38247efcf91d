/* Where audio goes: the audio engine runs whenever a capture can be
 * opened, playing locally; a held transport is attached to it as the
 * Bluetooth output. This file decides when a transport is acquired, opens
 * the devices at the right rate, and handles what fails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "codec-control.h"
#include "daemon.h"
#include "log.h"
#include "pcm.h"
#include "realtime.h"
#include "rtp.h"
#include "stream.h"

#define LOCAL_PERIODS 4
#define RETRY_MAX_S 30
/* Failures of the main capture in a row, none delivering a frame, after
 * which the speaker is given back (capture-unavailable) until it delivers:
 * one is a producer that restarted at another rate, followed at the first
 * retry; three (1.25 s) a capture that opens but never starts. */
#define CAPTURE_FAILURES_BLOCK 3
/* Period used while no transport dictates one: 20 ms. */
#define LOCAL_PERIOD_MS 20

static int on_engine_retry(sd_event_source *s, uint64_t usec, void *ud);

static struct transport *held_transport(struct daemon *d)
{
        /* the second speaker's (MultiOutput) is multi-output.c's */
        for (struct transport *t = d->transports; t; t = t->next)
                if (t->acq != ACQ_NONE && !multi_output_is_second(d, t))
                        return t;
        return NULL;
}

/* The audio thread left a command unanswered (stream_wedged): it may be
 * stuck inside a driver, and everything it holds is left to it. Systemd's
 * watchdog is what restarts us then (docs/reliability.md): it is no longer
 * fed, and is triggered at once. Without a watchdog the daemon ends with an
 * error, after the usual goodbyes on the bus. */
void output_engine_stuck(struct daemon *d)
{
        if (d->engine_stuck || !stream_wedged(d->stream))
                return;
        d->engine_stuck = true;
        sd_event_source_disable_unref(d->engine_retry);
        d->engine_retry = NULL;
        if (sd_watchdog_enabled(0, NULL) > 0) {
                log_err("audio stopped: asking systemd's watchdog to restart the daemon");
                sd_event_set_watchdog(d->event, false);
                sd_notify(0, "STATUS=The audio thread is stuck; waiting for a restart\n"
                             "WATCHDOG=trigger");
        } else if (!d->shutting_down) {
                log_err("audio stopped: the daemon exits so that it can be started afresh");
                sd_event_exit(d->event, 1);
        }
        manager_update(d);
}

static void close_devices(struct daemon *d)
{
        capture_retry_cancel(d);
        if (stream_wedged(d->stream)) {
                /* still the thread's: forgotten, never closed */
                memset(d->capture, 0, sizeof(d->capture));
                d->local = NULL;
                d->engine_rate = 0;
                d->engine_period = 0;
                return;
        }
        for (int c = 0; c < CAT_COUNT; c++) {
                if (d->capture[c])
                        snd_pcm_close(d->capture[c]);
                d->capture[c] = NULL;
        }
        if (d->local)
                snd_pcm_close(d->local);
        d->local = NULL;
        d->engine_rate = 0;
        d->engine_period = 0;
}

static void stop_engine(struct daemon *d)
{
        if (stream_running(d->stream) && stream_stop(d->stream) < 0) {
                /* the STOP went unanswered: the socket is still the
                 * thread's, and nobody may close it later */
                if (d->streaming)
                        d->streaming->fd = -1;
                if (d->streaming2)
                        d->streaming2->fd = -1;
                output_engine_stuck(d);
        }
        d->streaming = NULL;
        d->streaming2 = NULL;
        d->first_slot = 0;
        close_devices(d);
}

/* The first retry comes quickly (a producer that restarted at another rate
 * is followed within about a second), then 1 s doubling to RETRY_MAX_S. */
static void schedule_engine_retry(struct daemon *d)
{
        unsigned n = d->engine_failures, ms;

        if (d->engine_retry || d->shutting_down || d->engine_stuck)
                return;
        ms = n == 0 ? 250 : 1000 * policy_backoff_s(n - 1, RETRY_MAX_S);
        d->engine_failures++;
        if (sd_event_add_time_relative(d->event, &d->engine_retry, CLOCK_MONOTONIC,
                                       (uint64_t)ms * 1000, 10000, on_engine_retry, d) < 0)
                log_err("cannot schedule a capture retry");
        else if (n == 0)
                log_notice("retrying the capture in %.2g s, then less often while it fails",
                           ms / 1000.0);
        else    /* the failure itself is logged when it is new */
                log_debug("retrying the capture in %.2g s", ms / 1000.0);
}

static void detach(struct daemon *d);
static void maybe_acquire(struct daemon *d, struct transport *t);
static void apply_volume(struct daemon *d, struct transport *t);

/* Opens the captures and the local output and starts the audio thread on
 * them. exact: at rate with a period of period_frames, converting what does
 * not have that rate (a speaker's stream); otherwise at the board's own
 * rate, rate only a preference, with a period of the same duration. */
static int start_engine(struct daemon *d, unsigned rate, unsigned period_frames, bool exact)
{
        struct stream_params p = { 0 };
        struct pcm_config cc = { .rate = rate, .exact = exact, .channels = 2,
                                 .period_frames = period_frames, .periods = CAPTURE_PERIODS,
                                 .min_buffer_ms = CAPTURE_BUFFER_MIN_MS };
        struct pcm_result res, first = { 0 };
        char err[256];
        int r, opened = 0;

        if (d->engine_stuck)
                return -EIO;    /* nothing new for a thread that does not answer */
        stop_engine(d);
        if (!capture_health_producer_plays(d))
                return -EAGAIN;         /* opened when it plays (capture-health.c) */
        for (int c = 0; c < CAT_COUNT; c++) {
                if (!d->opts.capture[c][0])
                        continue;
                r = pcm_open(&d->capture[c], d->opts.capture[c], SND_PCM_STREAM_CAPTURE, &cc,
                             &res, err, sizeof(err));
                if (r < 0) {
                        capture_health_say(d, c, LOG_LVL_ERR, err);
                        continue;
                }
                if (res.converting)
                        log_notice("capture %s: converting %u Hz to %u Hz", d->opts.capture[c],
                                   res.native_rate, res.rate);
                else if (res.plugged)
                        log_notice("capture %s: converting its own format or channels through plug",
                                   d->opts.capture[c]);
                if (!opened++) {
                        /* the first capture (media when present) sets the
                         * engine's rate; the others follow it */
                        first = res;
                        cc.rate = res.rate;
                        cc.exact = true;
                        cc.period_frames = res.period_frames;
                }
                p.capture[c] = d->capture[c];
        }
        if (!opened) {
                d->capture_rate = 0;
                schedule_engine_retry(d);
                output_block_stream(d, BLOCKED_CAPTURE_UNAVAILABLE, err);
                return -ENODEV;
        }
        d->capture_rate = first.native_rate;
        d->capture_converting = first.converting;
        if (d->opts.local_output[0] && strcmp(d->opts.local_output, "none") != 0) {
                struct pcm_config lc = { .rate = first.rate, .exact = true, .channels = 2,
                                         .period_frames = first.period_frames,
                                         .periods = LOCAL_PERIODS };
                r = pcm_open(&d->local, d->opts.local_output, SND_PCM_STREAM_PLAYBACK, &lc, &res,
                             err, sizeof(err));
                if (r < 0 && !d->local_warned) {
                        log_warn("%s; local playback disabled", err);
                        d->local_warned = true;
                } else if (r == 0) {
                        d->local_warned = false;
                }
        }
        p.local = d->local;
        p.rate = first.rate;
        p.period_frames = first.period_frames;
        r = stream_start(d->stream, &p);
        if (r < 0) {
                log_err("cannot start the audio thread: %s", strerror(-r));
                output_engine_stuck(d);
                close_devices(d);
                schedule_engine_retry(d);
                return r;
        }
        stream_set_routes(d->stream, manager_route_mask(d));
        d->engine_rate = first.rate;
        d->capture_period = first.period_frames;
        d->engine_period = exact ? period_frames : first.period_frames;
        /* engine_failures is forgotten only once the capture delivers
         * (capture-health.c): a START the audio thread took may still fail
         * in snd_pcm_start (snd-aloop's trigger on a format or access
         * mismatch, an ASoC board), and such a capture must back off */
        d->watch_frames = atomic_load(&stream_stats(d->stream)->capture_frames);
        sd_event_now(d->event, CLOCK_MONOTONIC, &d->watch_moved_at);
        log_info("audio engine at %u Hz, period %u frames%s%s", first.rate, first.period_frames,
                 d->local ? "" : ", no local output",
                 first.converting ? ", capture converted" : "");
        /* capture-unavailable is lifted when the capture delivers */
        if (output_blocked_for(d, BLOCKED_NO_PRODUCER))
                output_unblock_stream(d);
        /* with failures behind it, watched until it delivers */
        capture_watch_update(d);
        return 0;
}

static unsigned packet_frames(const struct transport *t)
{
        return a2dp_codec_packet_samples(t->codec, &t->info, t->write_mtu);
}

/* The capture's own rate differs from the stream's (the producer changed
 * it, or the speaker chose): converted meanwhile, and the speaker is asked
 * to take the capture's rate when it can. Not more often than every
 * RECONFIG_MIN_US. */

static void maybe_reconfigure(struct daemon *d, struct transport *t)
{
        uint64_t now = 0;
        int r;

        if (!d->capture_converting || !d->capture_rate || d->capture_rate == t->info.rate)
                return;
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (d->reconfig_at && now - d->reconfig_at < RECONFIG_MIN_US)
                return;
        d->reconfig_at = now;
        r = remote_sep_reconfigure(d, t, d->capture_rate);
        if (r < 0 && r != -EBUSY)
                log_info("%s cannot be reconfigured (%s): the capture stays converted", t->path,
                         strerror(-r));
}

static int attach(struct daemon *d, struct transport *t)
{
        struct stream_bt_params bt = { .fd = t->fd, .write_mtu = t->write_mtu, .codec = t->codec,
                                       .config_len = t->config_len, .info = t->info };
        char desc[96], err[160];
        int r, pr;

        /* the engine runs at the speaker's rate, with one packet per period:
         * one wake-up per packet. With a second speaker playing only the
         * rate must match: each packet's end has its own wake-up then, and
         * a restart would cut the second's stream (a codec switch of the
         * first, its return after a link loss) */
        memcpy(bt.config, t->config, t->config_len);
        if (d->engine_rate != t->info.rate || !stream_running(d->stream) ||
            (d->engine_period != packet_frames(t) && !d->streaming2)) {
                if (d->engine_stuck)
                        return -EIO;
                /* the encoder between the stop (which frees every slot)
                 * and the start: what the capture gives while it opens
                 * (AAC: tens of ms) would never reach the speaker. The
                 * engine starts for the local output even if it fails. */
                stop_engine(d);
                pr = stream_prepare_bt(d->stream, first_slot(d), &bt, err, sizeof(err));
                r = start_engine(d, t->info.rate, packet_frames(t), true);
                if (r < 0) {
                        stream_drop_prepared(d->stream, first_slot(d));
                        return r;
                }
        } else {
                pr = stream_prepare_bt(d->stream, first_slot(d), &bt, err, sizeof(err));
        }
        if (codec_control_encoder_failed(d, t, pr, err)) {
                multi_output_resume(d);         /* a restart took the second's stream */
                return -ENOTSUP;
        }
        maybe_reconfigure(d, t);
        /* t, not d->streaming: that is set once attached, and a speaker
         * with AVRCP volume must not get the software gain as well */
        apply_volume(d, t);
        /* the first speaker's slot (0, or the other than a second's) */
        stream_set_output_delay(d->stream, first_slot(d), output_speaker_delay_us(d, t, NULL));
        manager_outputs_mark_attach(d, first_slot(d));
        r = stream_attach_bt(d->stream, first_slot(d), &bt, err, sizeof(err));
        if (r < 0) {
                log_err("cannot attach Bluetooth to the audio thread: %s (%s)", strerror(-r), err);
                if (stream_wedged(d->stream))
                        t->fd = -1;     /* may be the thread's: left open, never closed */
                output_engine_stuck(d);
                return r;
        }
        d->streaming = t;
        realtime_worker(d, stream_encoder_worker_tid(d->stream, first_slot(d)), t->codec->label);
        discovery_streaming_started(d);
        d->watch_frames = atomic_load(&stream_stats(d->stream)->capture_frames);
        sd_event_now(d->event, CLOCK_MONOTONIC, &d->watch_moved_at);
        d->level_logged = 0;
        d->level_value_logged = 0;
        transport_describe(t, 0, desc, sizeof(desc));
        log_info("streaming %s to %s (write MTU %u)", desc, t->device, t->write_mtu);
        if (t->codec->rate_control_ms && !stream_encoder_rate_control(d->stream, first_slot(d)) &&
            !d->rate_control_noted) {
                log_notice("%s: %s is not installed: a2dpsrc steps the quality under congestion "
                           "itself", t->codec->label, t->codec->rate_control_lib);
                d->rate_control_noted = true;
        }
        /* a restart at this speaker's rate took the second one's stream */
        multi_output_resume(d);
        codec_control_stream_started(d, t);
        output_update_status(d);
        return 0;
}

static void detach(struct daemon *d)
{
        if (!d->streaming)
                return;
        if (stream_detach_bt(d->stream, first_slot(d)) < 0) {
                /* the socket is still the thread's: left open, never closed */
                d->streaming->fd = -1;
                output_engine_stuck(d);
        }
        d->streaming = NULL;
        output_update_status(d);
}

void output_let_go(struct daemon *d, struct transport *t)
{
        if (d->streaming == t)
                detach(d);
        multi_output_transport_removing(d, t);
        transport_release(d, t, false);
}

bool output_reconfiguring(struct daemon *d, struct transport *t)
{
        if (t->acq != ACQ_HELD || !remote_sep_busy_on(d, t))
                return false;
        /* BlueZ closes the stream we asked to reconfigure (a codec switch,
         * another rate): no lost link, no suspend of the speaker's, nothing
         * for the doctor's history */
        log_info("%s closed for reconfiguration", t->path);
        output_let_go(d, t);
        return true;
}

/* The second speaker, playing, becomes the one output where it is: its
 * slot, encoder, queue and RTP stream go on untouched (attached again on
 * the first's slot, its encoder would start afresh and what it had queued
 * be lost: a glitch). */
void output_take_over(struct daemon *d)
{
        detach(d);
        d->first_slot = second_slot(d);
        d->streaming = d->streaming2;
        d->streaming2 = NULL;
        apply_volume(d, d->streaming);
        d->watch_frames = atomic_load(&stream_stats(d->stream)->capture_frames);
        sd_event_now(d->event, CLOCK_MONOTONIC, &d->watch_moved_at);
        d->level_logged = 0;
        d->level_value_logged = 0;
        output_update_status(d);
}

/* Both speakers: their transports are released next. */
void output_detach(struct daemon *d)
{
        multi_output_detach(d);
        detach(d);
}

void output_maybe_acquire(struct daemon *d, struct transport *t)
{
        maybe_acquire(d, t);
}

/* The engine again: on a held transport when there is one, else local. */
void output_engine_resume(struct daemon *d)
{
        struct transport *t = held_transport(d);

        if (t && t->acq == ACQ_HELD && !d->streaming)
                attach(d, t);
        else if (!stream_running(d->stream))
                start_engine(d, d->opts.rate, d->opts.rate * LOCAL_PERIOD_MS / 1000, false);
        multi_output_resume(d);
}

/* The engine stopped and every capture closed; a held transport stays. */
void output_engine_stop(struct daemon *d)
{
        sd_event_source_disable_unref(d->engine_retry);
        d->engine_retry = NULL;
        stop_engine(d);
        output_update_status(d);
}

static int on_engine_retry(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;

        sd_event_source_disable_unref(d->engine_retry);
        d->engine_retry = NULL;
        output_engine_resume(d);
        return 0;
}

static void maybe_acquire(struct daemon *d, struct transport *t)
{
        struct transport *held = held_transport(d);

        if (multi_output_is_second(d, t)) {
                multi_output_maybe_acquire(d, t);
                return;
        }
        if (!d->want_bluetooth || d->shutting_down || (held && held != t) ||
            !speaker_transport_is_output(d, t))
                return;
        /* a hold-off belongs to the speaker that suspended: a new output
         * (Connect dropped the old one, a speaker came by itself) is not
         * kept waiting, in silence for ever, for the last one's */
        if (d->idle_suspended && d->holdoff_device[0] && strcmp(t->device, d->holdoff_device) != 0) {
                log_info("%s is not the speaker that suspended: its hold-off is over", t->path);
                output_forget_holdoff(d);
        }
        if (d->idle_suspended || d->stream_blocked[0])
                return;
        /* also one being given back once its Acquire answers: kept */
        if (transport_acquire(d, t) < 0)
                log_err("cannot acquire %s", t->path);
}

void output_transport_changed(struct daemon *d, struct transport *t)
{
        if (d->streaming == t)
                stream_set_output_delay(d->stream, first_slot(d), output_speaker_delay_us(d, t, NULL));
        if (d->streaming2 == t)
                stream_set_output_delay(d->stream, second_slot(d), output_speaker_delay_us(d, t, NULL));
        if ((t->volume_appeared || t->volume_changed || t->volume_answer) && multi_output_is_second(d, t)) {
                multi_output_transport_volume(d, t);
        } else if (t->volume_answer) {
                /* the speaker answered a write of ours: to the volume we
                 * hold, the step it took is ours (nothing written back);
                 * to one superseded since, ours is asked again */
                t->volume_answer = false;
                if (t->volume_answered == d->state.volume && speaker_transport_is_output(d, t)) {
                        if (d->state.volume != t->volume) {
                                d->state.volume = (uint8_t)t->volume;
                                manager_save_soon(d);
                        }
                } else if (d->streaming == t) {
                        apply_volume(d, t);
                }
        } else if (t->volume_appeared && speaker_transport_is_output(d, t)) {
                /* AVRCP just came up: the speaker takes our volume, and the
                 * software gain steps aside */
                t->volume_appeared = t->volume_changed = false;
                output_volume_changed(d);
        } else if (t->volume_changed && speaker_transport_is_output(d, t)) {
                /* the speaker's own buttons: follow them */
                t->volume_changed = false;
                if (d->state.volume != t->volume) {
                        d->state.volume = (uint8_t)t->volume;
                        manager_save_soon(d);   /* a button held down: one write */
                }
        }
        if (t->acq == ACQ_HELD && t->state != TRANSPORT_ACTIVE && t->state_announced &&
            !output_reconfiguring(d, t)) {
                /* the speaker suspended the stream (BlueZ may show the
                 * suspend and a new start as one change, active->pending):
                 * BlueZ has dropped us as owner and our socket is dead.
                 * Any State but active announced after our Acquire's reply
                 * (which flushed what was queued before it) says so: a
                 * SUSPEND read before gdbus' idle flush leaves "active"
                 * never announced at all */
                const struct device *dev = bluez_device_by_path(d, t->device);

                output_let_go(d, t);
                if (dev && !dev->connected) {
                        /* no suspend: its link is gone, which 5.66 says
                         * first (mgmt's Device Disconnected is read before
                         * the channels' HUP), and the doctor must not take
                         * lost links for a speaker busy with a phone */
                        log_info("%s ended with the link", t->path);
                } else {
                        diagnose_note_transport(d, t, HIST_SUSPENDED, NULL);
                        if (!speaker_transport_is_output(d, t))
                                /* the second speaker's: taken again when it
                                 * starts the stream (below); the first's
                                 * idle state is not its business */
                                log_info("%s suspended by the second speaker", t->path);
                        else if (t->state == TRANSPORT_IDLE)
                                output_hold_off_after_suspend(d, t);
                        else
                                log_info("%s suspended and started again by the speaker", t->path);
                }
        }
        if (t->state == TRANSPORT_PENDING && t->acq == ACQ_NONE) {
                /* the speaker started the stream: take it, even while we
                 * were holding off after its suspend or idling for silence */
                if (d->idle_suspended && speaker_transport_is_output(d, t))
                        d->idle_suspended = false;
                maybe_acquire(d, t);
        }
        output_update_status(d);
}

void output_transport_removing(struct daemon *d, struct transport *t)
{
        if (d->streaming == t)
                detach(d);
        multi_output_transport_removing(d, t);
        if (d->idle_suspended && speaker_transport_is_output(d, t)) {
                /* The suspension ends with the stream: a link loss shows the
                 * transport idle just before it goes, which is no suspend of
                 * the speaker's, and the next connection starts afresh
                 * rather than waiting out a hold-off (doubling with each
                 * loss) meant for a speaker that suspends over and over. */
                output_forget_holdoff(d);
        }
}

void output_acquired(struct daemon *d, struct transport *t)
{
        int r;

        t->acquire_failures = 0;
        if (multi_output_is_second(d, t)) {
                multi_output_acquired(d, t);
                return;
        }
        if (!d->want_bluetooth || d->shutting_down || d->stream_blocked[0]) {
                transport_release(d, t, false);
                return;
        }
        /* -ENOTSUP: its codec cannot be sent, the stream is being switched */
        r = attach(d, t);
        if (r < 0 && r != -ENOTSUP)
                schedule_engine_retry(d);
}

static int master_category(const struct daemon *d)
{
        for (int c = 0; c < CAT_COUNT; c++)
                if (d->capture[c])
                        return c;
        return -1;
}

static void capture_failed(struct daemon *d, int c, int err)
{
        char text[160];

        snprintf(text, sizeof(text), "capture %s failed: %s", audio_category_name(c),
                 snd_strerror(err));
        d->capture_failures++;
        if (c != master_category(d) && c >= 0 && c < CAT_COUNT) {
                log_err("%s", text);
                log_notice("the %s category is silent until its capture reopens; the rest plays on",
                           audio_category_name(c));
                capture_retry_schedule(d, c);
                return;
        }
        /* reopen everything after a pause; the transport stays held,
         * unless the capture keeps failing before it delivers anything */
        capture_health_say(d, c, LOG_LVL_ERR, text);
        stop_engine(d);
        schedule_engine_retry(d);
        if (d->engine_failures >= CAPTURE_FAILURES_BLOCK && c >= 0 && c < CAT_COUNT) {
                char detail[sizeof(d->stream_blocked) - 32];
                snprintf(detail, sizeof(detail), "capture '%s' failed %u times without delivering: %s",
                         d->opts.capture[c], d->engine_failures, snd_strerror(err));
                output_block_stream(d, BLOCKED_CAPTURE_UNAVAILABLE, detail);
        }
}

static int on_stream_event(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct daemon *d = ud;
        struct stream_event ev;

        while (stream_next_event(d->stream, &ev)) {
                struct transport *t = d->streaming;

                if (ev.type == STREAM_EV_ALIGN_SHORT && ev.output >= 0) {
                        output_align_short(d, (unsigned)ev.output, (uint32_t)ev.value);
                        continue;
                }
                /* the second speaker's (MultiOutput) */
                if (ev.output >= 0 && (unsigned)ev.output != first_slot(d)) {
                        multi_output_event(d, &ev);
                        continue;
                }
                switch (ev.type) {
                case STREAM_EV_LINK_ERROR:
                        /* the audio thread already plays locally */
                        if (t && output_reconfiguring(d, t))
                                break;
                        d->link_errors++;
                        if (t)
                                diagnose_note_transport(d, t, HIST_LINK_ERROR, strerror(ev.value));
                        log_warn("link to the speaker lost (%s); playing locally", strerror(ev.value));
                        if (t) {
                                char dev[PATH_LEN];
                                snprintf(dev, sizeof(dev), "%s", t->device);
                                detach(d);
                                transport_release(d, t, false);
                                speaker_link_lost(d, dev);
                        }
                        break;
                case STREAM_EV_STALLED:
                        if (t)
                                diagnose_note_transport(d, t, HIST_STALL, NULL);
                        log_warn("the speaker stopped taking audio; playing locally until it does");
                        break;
                case STREAM_EV_RESUMED:
                        log_notice("the speaker takes audio again");
                        break;
                case STREAM_EV_CAPTURE_ERROR:
                        capture_failed(d, ev.category, ev.value);
                        break;
                case STREAM_EV_LOCAL_ERROR:
                        log_err("local output failed: %s", snd_strerror(ev.value));
                        break;
                case STREAM_EV_XRUN_BURST:
                        log_warn("capture overrun: %d xrun(s) recovered", ev.value);
                        break;
                case STREAM_EV_LEVEL: {
                        /* a step back up (51 -> 45 -> 50) is the link
                         * clearing, though still below the best level */
                        unsigned value = ev.level_value;
                        /* a codec's own controller may number its levels
                         * out of bit-rate order (LDAC's EQMIDs): after the
                         * first step from the best, what the level shows
                         * says which way it went */
                        bool down = d->level_value_logged ? value < d->level_value_logged
                                                          : ev.value > d->level_logged;

                        if (t && t->codec->codec_id == A2DP_CODEC_SBC)
                                log_info("bitpool now %u (%s)", value, down ? "link congested" : "link clear");
                        else
                                log_info("%s quality now %u kbit/s (%s)", t ? t->codec->label : "codec",
                                         value, down ? "link congested" : "link clear");
                        if (t && down) {
                                char bp[16];
                                snprintf(bp, sizeof(bp), "%u", value);
                                diagnose_note_transport(d, t, HIST_BITPOOL_DOWN, bp);
                        }
                        d->level_logged = ev.value;
                        d->level_value_logged = value;
                        manager_update(d);      /* Codec shows the level */
                        break;
                }
                case STREAM_EV_ALIGN_SHORT:
                        break;  /* taken above, with the output's slot */
                }
        }
        return 0;
}

int output_init(struct daemon *d)
{
        int r = stream_create(&d->stream, d->opts.rt_priority, &d->rt_granted);

        if (r < 0)
                return r;
        r = sd_event_add_io(d->event, &d->stream_events, stream_event_fd(d->stream), EPOLLIN,
                            on_stream_event, d);
        if (r < 0)
                return r;
        r = output_idle_init(d);
        if (r < 0)
                return r;
        r = capture_health_init(d);
        if (r < 0)
                return r;
        output_idle_watch_update(d);
        /* local playback from the start; a speaker re-opens at its rate */
        start_engine(d, d->opts.rate, d->opts.rate * LOCAL_PERIOD_MS / 1000, false);
        return 0;
}

void output_shutdown(struct daemon *d)
{
        remote_sep_cancel(d);
        multi_output_detach(d);
        detach(d);
        stop_engine(d);
        sd_event_source_disable_unref(d->engine_retry);
        d->engine_retry = NULL;
        output_idle_shutdown(d);
        capture_health_shutdown(d);
        for (struct transport *t = d->transports; t; t = t->next)
                transport_release(d, t, true);
        sd_event_source_disable_unref(d->stream_events);
        d->stream_events = NULL;
        stream_destroy(d->stream);
        d->stream = NULL;
}

void output_update_status(struct daemon *d)
{
        /* every change of streaming or suspension ends here */
        output_idle_watch_update(d);
        capture_watch_update(d);
        service_status_update(d);
        manager_update(d);
}

void output_set_speaker_mode(struct daemon *d, bool on)
{
        if (d->state.speaker_mode == on && d->want_bluetooth == on)
                return;
        d->state.speaker_mode = on;
        d->want_bluetooth = on;
        d->idle_suspended = false;
        log_info("speaker mode %s", on ? "on" : "off");
        if (on) {
                for (struct transport *t = d->transports; t; t = t->next)
                        maybe_acquire(d, t);
                speaker_reconnect_soon(d);
        } else {
                multi_output_detach(d);
                detach(d);
                for (struct transport *t = d->transports; t; t = t->next)
                        transport_release(d, t, false);
        }
        output_update_status(d);
}

void output_routes_changed(struct daemon *d)
{
        stream_set_routes(d->stream, manager_route_mask(d));
}

/* t's volume: AVRCP absolute volume when the speaker has it, software
 * gain else */
static void apply_volume(struct daemon *d, struct transport *t)
{
        if (t && t->has_volume) {
                stream_set_gain(d->stream, first_slot(d), 127);
                if (t->volume != d->state.volume)
                        transport_set_volume(d, t, d->state.volume);
        } else {
                stream_set_gain(d->stream, first_slot(d), d->state.volume);
        }
}

void output_volume_changed(struct daemon *d)
{
        apply_volume(d, d->streaming);
}
