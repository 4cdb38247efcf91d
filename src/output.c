/* The Bluetooth output: when a configured transport is acquired, how the
 * capture device and socket are set up for the audio thread, and what
 * happens when any of them fails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "capture.h"
#include "daemon.h"
#include "log.h"
#include "rtp.h"
#include "stream.h"

#define CAPTURE_PERIODS 4
#define RETRY_MAX_S 30

static int on_capture_retry(sd_event_source *s, uint64_t usec, void *ud);

static struct transport *held_transport(struct daemon *d)
{
        for (struct transport *t = d->transports; t; t = t->next)
                if (t->acq != ACQ_NONE)
                        return t;
        return NULL;
}

static void close_capture(struct daemon *d)
{
        if (d->pcm) {
                snd_pcm_close(d->pcm);
                d->pcm = NULL;
        }
}

static void stop_streaming(struct daemon *d)
{
        if (!d->streaming)
                return;
        if (stream_stop(d->stream) < 0)
                log_err("audio thread did not stop in time");
        close_capture(d);
        d->streaming = NULL;
        output_update_status(d);
}

static void maybe_acquire(struct daemon *d, struct transport *t)
{
        struct transport *held = held_transport(d);

        if (!d->want_bluetooth || d->shutting_down || (held && held != t))
                return;
        if (t->acq == ACQ_NONE && transport_acquire(d, t) < 0)
                log_err("cannot acquire %s", t->path);
}

static void schedule_capture_retry(struct daemon *d)
{
        unsigned delay = 1u << (d->capture_failures < 5 ? d->capture_failures : 5);

        if (delay > RETRY_MAX_S)
                delay = RETRY_MAX_S;
        d->capture_failures++;
        sd_event_source_disable_unref(d->capture_retry);
        d->capture_retry = NULL;
        if (sd_event_add_time_relative(d->event, &d->capture_retry, CLOCK_MONOTONIC,
                                       (uint64_t)delay * 1000000, 10000, on_capture_retry, d) < 0)
                log_err("cannot schedule a capture retry");
        else
                log_notice("retrying capture in %u s", delay);
}

/* Socket set-up for low, bounded latency: a send buffer of a few packets
 * (what sits in the kernel is latency we cannot take back) and the audio
 * priority class, as BlueZ peers use. */
static void tune_socket(int fd, unsigned write_mtu)
{
        int sndbuf = (int)write_mtu * 3;
        int prio = 6;

        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
                log_warn("SO_SNDBUF on the transport: %s", strerror(errno));
        if (setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio)) < 0)
                log_warn("SO_PRIORITY on the transport: %s", strerror(errno));
}

static int start_streaming(struct daemon *d, struct transport *t)
{
        struct stream_params p = { 0 };
        struct capture_config cc;
        unsigned fpp, period = 0;
        char err[256];
        size_t mtu = t->write_mtu < 2048 ? t->write_mtu : 2048;
        int r;

        fpp = rtp_sbc_frames_per_packet(mtu, sbc_frame_length(&t->params, t->params.max_bitpool));
        cc.rate = t->params.rate;
        cc.channels = 2;
        cc.period_frames = (fpp ? fpp : 1) * sbc_frame_samples(&t->params);
        cc.periods = CAPTURE_PERIODS;

        r = capture_open(&d->pcm, d->opts.capture[CAT_MEDIA], &cc, &period, err, sizeof(err));
        if (r < 0) {
                log_err("%s", err);
                schedule_capture_retry(d);
                return r;
        }
        d->capture_failures = 0;
        tune_socket(t->fd, t->write_mtu);

        p.pcm = d->pcm;
        p.pcm_channels = 2;
        p.period_frames = period;
        p.fd = t->fd;
        p.write_mtu = t->write_mtu;
        p.sbc = t->params;
        memcpy(p.config, t->config, sizeof(p.config));
        r = stream_start(d->stream, &p);
        if (r < 0) {
                log_err("cannot start the audio thread: %s", strerror(-r));
                close_capture(d);
                return r;
        }
        d->streaming = t;
        {
                char desc[96];
                sbc_params_describe(&t->params, t->params.max_bitpool, desc, sizeof(desc));
                log_info("streaming %s to %s: %u frames/packet, capture period %u", desc, t->device,
                         fpp, period);
        }
        output_update_status(d);
        return 0;
}

static int on_capture_retry(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        struct transport *t = held_transport(d);

        sd_event_source_disable_unref(d->capture_retry);
        d->capture_retry = NULL;
        if (t && t->acq == ACQ_HELD && !d->streaming)
                start_streaming(d, t);
        return 0;
}

void output_transport_added(struct daemon *d, struct transport *t)
{
        maybe_acquire(d, t);
        output_update_status(d);
}

void output_transport_changed(struct daemon *d, struct transport *t)
{
        if (t->state == TRANSPORT_IDLE && t->acq == ACQ_HELD && t->prev_state != TRANSPORT_IDLE) {
                /* the speaker suspended the stream: our socket is dead */
                log_info("%s suspended by the speaker", t->path);
                if (d->streaming == t)
                        stop_streaming(d);
                transport_release(d, t, false);
        } else if (t->state == TRANSPORT_PENDING && t->acq == ACQ_NONE) {
                /* the speaker started the stream: take it */
                maybe_acquire(d, t);
        }
        output_update_status(d);
}

void output_transport_removing(struct daemon *d, struct transport *t)
{
        if (d->streaming == t)
                stop_streaming(d);
        if (held_transport(d) == t) {
                sd_event_source_disable_unref(d->capture_retry);
                d->capture_retry = NULL;
        }
}

void output_acquired(struct daemon *d, struct transport *t)
{
        if (!d->want_bluetooth || d->shutting_down) {
                transport_release(d, t, false);
                return;
        }
        start_streaming(d, t);
}

void output_acquire_failed(struct daemon *d, struct transport *t, const char *error)
{
        log_err("acquiring %s failed: %s", t->path, error);
        output_update_status(d);
}

static int on_stream_event(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct daemon *d = ud;
        struct stream_event ev;

        while (stream_next_event(d->stream, &ev)) {
                struct transport *t = d->streaming;

                switch (ev.type) {
                case STREAM_EV_LINK_ERROR:
                        d->link_errors++;
                        log_warn("link to the speaker lost: %s", strerror(ev.value));
                        if (t) {
                                stop_streaming(d);
                                transport_release(d, t, false);
                        }
                        break;
                case STREAM_EV_CAPTURE_ERROR:
                        log_err("capture failed: %s", snd_strerror(ev.value));
                        if (t) {
                                stop_streaming(d);
                                schedule_capture_retry(d);
                        }
                        break;
                case STREAM_EV_XRUN_BURST:
                        log_warn("capture overrun: %d xrun(s) recovered", ev.value);
                        break;
                case STREAM_EV_BITPOOL:
                        log_info("bitpool now %d (link %s)", ev.value,
                                 ev.value < (int)(t ? t->params.max_bitpool : 0) ? "congested" : "clear");
                        break;
                }
        }
        return 0;
}

int output_init(struct daemon *d)
{
        int r = stream_create(&d->stream, d->opts.rt_priority, &d->rt_granted);

        if (r < 0)
                return r;
        if (d->rt_granted)
                log_info("audio thread runs SCHED_FIFO priority %d", d->opts.rt_priority);
        return sd_event_add_io(d->event, &d->stream_events, stream_event_fd(d->stream), EPOLLIN,
                               on_stream_event, d);
}

void output_shutdown(struct daemon *d)
{
        stop_streaming(d);
        sd_event_source_disable_unref(d->capture_retry);
        d->capture_retry = NULL;
        for (struct transport *t = d->transports; t; t = t->next)
                transport_release(d, t, true);
        sd_event_source_disable_unref(d->stream_events);
        d->stream_events = NULL;
        stream_destroy(d->stream);
        d->stream = NULL;
}

void output_update_status(struct daemon *d)
{
        char status[512];
        struct adapter *reg = NULL;
        bool pending = false;

        for (struct adapter *a = d->adapters; a; a = a->next) {
                if (a->reg == REG_DONE && !reg)
                        reg = a;
                if (a->reg == REG_PENDING)
                        pending = true;
        }
        if (d->streaming) {
                char desc[96];
                sbc_params_describe(&d->streaming->params, d->streaming->params.max_bitpool, desc,
                                    sizeof(desc));
                snprintf(status, sizeof(status), "Streaming to %s (%s)", d->streaming->device, desc);
        } else if (d->transports) {
                snprintf(status, sizeof(status), "Speaker connected, not streaming");
        } else if (!d->bluez_owner[0]) {
                snprintf(status, sizeof(status), "Waiting for bluetoothd");
        } else if (reg) {
                snprintf(status, sizeof(status), "Ready on %s; no speaker connected", reg->name);
        } else {
                snprintf(status, sizeof(status), "Waiting for a Bluetooth adapter");
        }
        /* READY once registered, or once it is clear we wait for BlueZ */
        if (!d->ready_sent && !pending && !d->owner_call && !d->objects_call) {
                sd_notifyf(0, "READY=1\nSTATUS=%s", status);
                d->ready_sent = true;
        } else {
                sd_notifyf(0, "STATUS=%s", status);
        }
}
