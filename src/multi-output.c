/* The second speaker (Manager1.MultiOutput, issue #13): with the mode on, a
 * Connect while a speaker is the output makes the new one a second output,
 * on the engine's other slot, aligned with the first by the engine
 * (docs/multi-output.md). The first output stays output.c's and
 * speaker.c's (first_slot, reconnect, idle suspend, volume); this file keeps
 * the second: its connection, its stream, its events, and the choice of the
 * speaker kept when the mode goes off. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "airtime.h"
#include "codec-control.h"
#include "daemon.h"
#include "dbus-util.h"
#include "log.h"
#include "policy.h"
#include "realtime.h"
#include "stream.h"

#define ERR_PREFIX "org.a2dpsrc.Error."

static struct transport *transport_of(struct daemon *d, const char *address)
{
        return transport_of_device(d, address[0] ? bluez_device_by_address(d, address) : NULL);
}

static void finish_call(struct daemon *d, const char *err_name, const char *text)
{
        connect_callers_finish(d->conn, &d->connect2_calls, err_name, text);
}

/* call waits for the second's connection too; refused when too many do */
static void join(struct daemon *d, const struct device *dev, DBusMessage *call)
{
        if (call)
                connect_callers_join(d->conn, &d->connect2_calls, call, dev->address);
}

bool multi_output_is_second(struct daemon *d, const struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);

        return dev && d->output2[0] && strcasecmp(dev->address, d->output2) == 0;
}

bool multi_output_connected(struct daemon *d)
{
        struct device *dev = d->output2[0] ? bluez_device_by_address(d, d->output2) : NULL;

        return dev && dev->connected;
}

/* ---- the stream on the second slot ----------------------------------------------------- */

void multi_output_detach(struct daemon *d)
{
        if (!d->streaming2)
                return;
        if (stream_detach_bt(d->stream, second_slot(d)) < 0) {
                /* the socket is still the thread's: left open, never closed */
                d->streaming2->fd = -1;
                output_engine_stuck(d);
        }
        d->streaming2 = NULL;
        output_update_status(d);
}

/* The second's volume where it plays: AVRCP absolute volume on the
 * speaker when it has it (the software gain steps aside), else its own
 * software gain in the engine (its slot). */
static void apply_volume(struct daemon *d, struct transport *t)
{
        if (t && t->has_volume) {
                stream_set_gain(d->stream, second_slot(d), 127);
                if (t->volume != d->volume2)
                        transport_set_volume(d, t, d->volume2);
        } else {
                stream_set_gain(d->stream, second_slot(d), d->volume2);
        }
}

int multi_output_set_volume(struct daemon *d, unsigned volume)
{
        if (!d->output2[0])
                return -ENOENT;
        d->volume2 = (uint8_t)(volume > 127 ? 127 : volume);
        apply_volume(d, transport_of(d, d->output2));
        manager_update(d);
        return 0;
}

void multi_output_transport_volume(struct daemon *d, struct transport *t)
{
        if (t->volume_appeared) {
                /* AVRCP came up: the speaker takes the volume we hold */
                t->volume_appeared = t->volume_changed = false;
                apply_volume(d, t);
        } else if (t->volume_answer) {
                /* the answer to a write of ours: to the volume we hold,
                 * the step it took is ours; to one superseded since, the
                 * volume we hold is asked again */
                t->volume_answer = false;
                if (t->volume_answered == d->volume2) {
                        d->volume2 = (uint8_t)(t->volume > 127 ? 127 : t->volume);
                        manager_update(d);
                } else {
                        apply_volume(d, t);
                }
        } else if (t->volume_changed) {
                /* its own buttons: follow them */
                t->volume_changed = false;
                d->volume2 = (uint8_t)(t->volume > 127 ? 127 : t->volume);
                manager_update(d);
        }
}

/* What the engine capped, two streams sharing the adapter (airtime.h),
 * and whether that fits. */
static void log_airtime(struct daemon *d)
{
        const struct stream_stats *st = stream_stats(d->stream);
        unsigned a = atomic_load(&st->out[first_slot(d)].cap_bps), b = atomic_load(&st->out[second_slot(d)].cap_bps);

        if (!a || !b)
                return;
        if (a + b > AIRTIME_BUDGET_BPS)
                log_warn("%s and %s need %u kbit/s at their lightest, more than the %u kbit/s one adapter "
                         "carries for both: expect dropouts; a lighter codec for one (Codecs) fits",
                         d->output, d->output2, (a + b) / 1000, AIRTIME_BUDGET_BPS / 1000);
        else
                log_info("two speakers share the air (%u kbit/s for both): %s at most %u kbit/s, %s at most "
                         "%u kbit/s", AIRTIME_BUDGET_BPS / 1000, d->output, a / 1000, d->output2, b / 1000);
}

/* A second stream at another rate than the engine's (a speaker that set
 * its stream up itself, or SBC on a sink without the rate): the speaker is
 * asked for the engine's rate in the same codec, once per stream; a codec
 * without that rate is left for SBC at it, which every sink takes at 44.1
 * and 48 kHz (A2DP 1.3, 4.3.2). Where even that fails, the stream waits
 * (it is not converted a second time). */
static void engine_rate_answered(struct daemon *d, int err, const char *why, void *ud)
{
        const struct a2dp_codec *sbc = a2dp_codecs[CODEC_SBC];
        struct transport *t = transport_of(d, d->output2);
        bool asked_sbc = ud == sbc;
        const char *sep;

        /* bluetoothd tries SBC first next time (LastUsed) */
        if (!err && asked_sbc && d->output2[0])
                codec_control_mark_rechoose(d, d->output2, true);
        /* no stream left (BlueZ closed it first): set up again, not kept
         * waiting (multi_output_stream_lost) */
        if (!err || err == -ECANCELED || !t)
                return;
        sep = codec_control_sep_path(bluez_device_by_path(d, t->device), sbc);
        /* once, and only at the rates SBC is sure to have */
        if (err == -ENOTSUP && !asked_sbc && t->codec != sbc && sep &&
            (d->engine_rate == 44100 || d->engine_rate == 48000) &&
            remote_sep_configure(d, t, sep, sbc, d->engine_rate, engine_rate_answered, (void *)sbc) == 0) {
                log_info("%s has no %u Hz in %s: asking it for SBC at %u Hz", d->output2, d->engine_rate,
                         t->codec->label, d->engine_rate);
                return;
        }
        log_warn("%s stays at another rate than the first output's %u Hz (%s): it waits", d->output2,
                 d->engine_rate, why);
}

static int on_rate_retry(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;

        sd_event_source_disable_unref(d->rate_retry);
        d->rate_retry = NULL;
        multi_output_resume(d);
        return 0;
}

static void ask_engine_rate(struct daemon *d, struct transport *t)
{
        int r;

        /* the rate is the first speaker's: asked for once it plays */
        if (t->rate_asked || !d->streaming)
                return;
        r = remote_sep_configure(d, t, NULL, t->codec, d->engine_rate, engine_rate_answered, NULL);
        if (r == -EBUSY) {
                /* another reconfiguration is under way: again in a second */
                if (d->rate_retry)
                        return;
                if (sd_event_add_time_relative(d->event, &d->rate_retry, CLOCK_MONOTONIC, 1000000, 100000,
                                               on_rate_retry, d) < 0)
                        log_err("cannot schedule asking %s for %u Hz", d->output2, d->engine_rate);
                else
                        log_info("%s streams at %u Hz, the first output at %u Hz: another reconfiguration "
                                 "is under way, it is asked once that is done", d->output2, t->info.rate,
                                 d->engine_rate);
                return;
        }
        t->rate_asked = true;
        if (r < 0)
                log_warn("%s streams at %u Hz, the first output at %u Hz, and cannot be reconfigured (%s): "
                         "it waits", d->output2, t->info.rate, d->engine_rate, strerror(-r));
        else
                log_info("%s streams at %u Hz, the first output at %u Hz: asking it for %u Hz", d->output2,
                         t->info.rate, d->engine_rate, d->engine_rate);
}

/* The engine runs at the first output's rate (or, alone, the capture's). */
static int attach(struct daemon *d, struct transport *t)
{
        struct stream_bt_params bt = { .fd = t->fd, .write_mtu = t->write_mtu, .codec = t->codec,
                                       .config_len = t->config_len, .info = t->info };
        char desc[96], err[160];
        int r;

        if (d->streaming2 == t)
                return 0;
        if (!stream_running(d->stream))
                return -EAGAIN;
        if (d->engine_rate != t->info.rate) {
                ask_engine_rate(d, t);
                return -EAGAIN;
        }
        memcpy(bt.config, t->config, t->config_len);
        apply_volume(d, t);
        stream_set_output_delay(d->stream, second_slot(d), output_speaker_delay_us(d, t, NULL));
        r = stream_prepare_bt(d->stream, second_slot(d), &bt, err, sizeof(err));
        if (codec_control_encoder_failed(d, t, r, err))
                return -ENOTSUP;
        manager_outputs_mark_attach(d, second_slot(d));
        r = stream_attach_bt(d->stream, second_slot(d), &bt, err, sizeof(err));
        if (r < 0) {
                log_err("cannot attach the second speaker to the audio thread: %s (%s)", strerror(-r),
                        err);
                if (stream_wedged(d->stream))
                        t->fd = -1;     /* may be the thread's: left open, never closed */
                output_engine_stuck(d);
                return r;
        }
        d->streaming2 = t;
        realtime_worker(d, stream_encoder_worker_tid(d->stream, second_slot(d)), t->codec->label);
        transport_describe(t, 0, desc, sizeof(desc));
        log_info("streaming %s to %s as the second output (write MTU %u)", desc, t->device, t->write_mtu);
        log_airtime(d);
        output_update_status(d);
        return 0;
}

/* After the engine (re)started: the second stream, when held, again. */
void multi_output_resume(struct daemon *d)
{
        struct transport *t = transport_of(d, d->output2);

        if (t && t->acq == ACQ_HELD && !d->streaming2)
                attach(d, t);
}

void multi_output_maybe_acquire(struct daemon *d, struct transport *t)
{
        if (!d->want_bluetooth || d->shutting_down || d->stream_blocked[0])
                return;
        if (transport_acquire(d, t) < 0)
                log_err("cannot acquire %s", t->path);
}

void multi_output_acquired(struct daemon *d, struct transport *t)
{
        if (!d->want_bluetooth || d->shutting_down || d->stream_blocked[0]) {
                transport_release(d, t, false);
                return;
        }
        /* -EAGAIN: held, attached when the engine runs at its rate */
        attach(d, t);
}

void multi_output_event(struct daemon *d, const struct stream_event *ev)
{
        struct transport *t = d->streaming2;

        switch (ev->type) {
        case STREAM_EV_LINK_ERROR:
                if (t && output_reconfiguring(d, t))
                        break;
                d->link_errors++;
                log_warn("link to the second speaker lost (%s); the first plays on", strerror(ev->value));
                if (t) {
                        diagnose_note_transport(d, t, HIST_LINK_ERROR, strerror(ev->value));
                        multi_output_detach(d);
                        transport_release(d, t, false);
                }
                break;
        case STREAM_EV_STALLED:
                if (t)
                        diagnose_note_transport(d, t, HIST_STALL, NULL);
                log_warn("the second speaker stopped taking audio");
                break;
        case STREAM_EV_RESUMED:
                log_notice("the second speaker takes audio again");
                break;
        case STREAM_EV_LEVEL:
                log_info("second speaker: quality now %u (level %d)", ev->level_value, ev->value);
                manager_update(d);      /* its Codec shows the level (OutputChanged) */
                break;
        default:
                break;
        }
}

/* ---- connecting ---------------------------------------------------------------- */

static bool send_connect2(struct daemon *d, const struct device *dev);

/* Asks for d->connecting2 again (wanted again once a call off is over,
 * or BlueZ was connecting it already); given up when it cannot be sent. */
static void connect2_resend(struct daemon *d)
{
        struct device *dev = bluez_device_by_address(d, d->connecting2);

        if (!dev || !send_connect2(d, dev)) {
                d->output2[0] = '\0';
                d->connecting2[0] = '\0';
                finish_call(d, ERR_PREFIX "Failed", dev ? "cannot reach bluetoothd" : "the device went away");
        }
}

/* BlueZ was connecting it already (connect-busy.h) */
static void connect2_again(void *ud, const char *addr)
{
        struct daemon *d = ud;

        if (strcasecmp(d->connecting2, addr) == 0 && !d->connect2_pending)
                connect2_resend(d);
        else
                connect_busy_clear(&d->connect2_busy);
        manager_update(d);
}

static void on_connect_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        bool ok = reply || dbus_error_has_name(err, "org.bluez.Error.AlreadyConnected");
        char addr[18], text[256];
        struct device *dev;
        struct transport *t;

        dbus_pending_call_unref(d->connect2_pending);
        d->connect2_pending = NULL;
        snprintf(addr, sizeof(addr), "%s", d->connect2_inflight);
        d->connect2_inflight[0] = '\0';
        if (calloff_waiting(&d->calloff2, addr)) {
                /* we called it off: our Disconnect undoes it, and its
                 * answer starts it again if it is wanted again */
                manager_update(d);
                return;
        }
        dev = bluez_device_by_address(d, addr);
        if (strcasecmp(addr, d->connecting2) != 0 || strcasecmp(addr, d->output2) != 0) {
                /* called off meanwhile (MultiOutput off, Disconnect) */
                if (ok && dev) {
                        log_info("%s connected, but is no longer wanted; disconnecting it", addr);
                        bluez_device_call(d, dev, "org.bluez.Device1", "Disconnect");
                }
                manager_update(d);
                return;
        }
        /* it refused the codec chosen: again at once, with its next
         * (output2, connecting2 and the call stay) */
        if (!ok && dev && speaker_refusal_learn(d, addr, false) && send_connect2(d, dev)) {
                manager_update(d);
                return;
        }
        if (!ok && connect_busy_wait(&d->connect2_busy, d->event, err, addr, connect2_again, d))
                return;
        connect_busy_clear(&d->connect2_busy);
        d->connecting2[0] = '\0';
        if (!ok) {
                const char *name = speaker_connect_error(err, addr, text, sizeof(text));
                bool again = strcasecmp(addr, d->lost2) == 0;

                /* a speaker away for hours fails alike every minute */
                if (again)
                        log_news(d->reconnect2_said, sizeof(d->reconnect2_said), LOG_LVL_WARNING, text);
                else
                        log_warn("%s", text);
                diagnose_note(d, addr, HIST_CONNECT_FAILED,
                              err->message && err->message[0] ? err->message : err->name);
                d->output2[0] = '\0';
                finish_call(d, name, text);
                if (strcasecmp(addr, d->lost2) == 0)
                        multi_output_reconnect_backoff(d);
                manager_update(d);
                return;
        }
        if (strcasecmp(addr, d->lost2) == 0)
                multi_output_forget_lost(d);
        log_info("%s connected as the second output", addr);
        diagnose_note(d, addr, HIST_CONNECTED, "second output");
        finish_call(d, NULL, NULL);
        /* the transport came with SetConfiguration before this reply;
         * none: the speaker closed the stream meanwhile */
        t = transport_of(d, addr);
        if (t)
                output_transport_added(d, t);
        else
                closed_stream_check_soon(d);
        manager_update(d);
}

/* dev, whose ConnectProfile is in flight, is the second output to be */
static void want_inflight(struct daemon *d, struct device *dev, DBusMessage *call)
{
        if (strcasecmp(d->lost2, dev->address) != 0) {
                multi_output_forget_lost(d);                 /* another speaker is the second now */
                d->volume2 = d->state.volume;   /* it starts where the first is */
        }
        snprintf(d->output2, sizeof(d->output2), "%s", dev->address);
        snprintf(d->connecting2, sizeof(d->connecting2), "%s", dev->address);
        d->output2_newer = true;
        join(d, dev, call);
        manager_update(d);
}

/* A SetConfiguration for dev, whose connection as the second output was
 * called off while in flight: not a speaker coming by itself. */
bool multi_output_called_off(struct daemon *d, const struct device *dev)
{
        return ((d->connect2_pending && strcasecmp(d->connect2_inflight, dev->address) == 0) ||
                calloff_waiting(&d->calloff2, dev->address)) &&
               strcasecmp(d->connecting2, dev->address) != 0;
}

/* ConnectProfile to dev as the second output; false when it could not be
 * sent. */
static bool send_connect2(struct daemon *d, const struct device *dev)
{
        const char *uuid = A2DP_SINK_UUID;
        DBusMessage *m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->path, "org.bluez.Device1",
                                                      "ConnectProfile");

        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &uuid, DBUS_TYPE_INVALID) ||
            dbus_call_async(d->conn, m, 30000, on_connect_reply, d, &d->connect2_pending) < 0)
                return false;
        snprintf(d->connect2_inflight, sizeof(d->connect2_inflight), "%s", dev->address);
        if (d->reconnect2_said[0] && strcasecmp(dev->address, d->lost2) == 0)
                log_debug("connecting %s as the second output", dev->address);  /* said */
        else
                log_info("connecting %s as the second output", dev->address);
        return true;
}

/* Our Disconnect of the second speaker whose connection we called off is
 * answered: that attempt is over, answered or not (connect-calloff.h). */
static void on_called_off(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        char addr[18];

        calloff_answered(&d->calloff2, reply ? NULL : err, addr);
        calloff_drop_unanswered(&d->connect2_pending, d->connect2_inflight, addr);
        if (d->connecting2[0] && !d->connect2_pending)
                connect2_resend(d);     /* wanted again meanwhile */
        manager_update(d);
}

bool multi_output_connect(struct daemon *d, struct device *dev, DBusMessage *call)
{
        struct device *first = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;

        if (!d->state.multi_output || strcasecmp(d->output, dev->address) == 0)
                return false;
        if (strcasecmp(d->output2, dev->address) == 0) {
                if (d->connecting2[0]) {
                        join(d, dev, call);     /* its reconnect is the caller's now */
                } else if (call) {
                        dbus_reply_empty(d->conn, call);     /* an output already */
                }
                return true;
        }
        /* no first output playing: dev becomes it, the usual way */
        if (!first || !first->connected)
                return false;
        if (d->connecting2[0] || multi_output_connected(d)) {
                if (call)
                        dbus_reply_error(d->conn, call, ERR_PREFIX "TooManyOutputs",
                                         "two speakers play already: %s and %s; disconnect one first",
                                         d->output, d->output2);
                return true;
        }
        /* a connection called off is still in flight: its reply sends
         * the speaker away, unless it is wanted again */
        if (d->connect2_pending || calloff_waiting(&d->calloff2, NULL)) {
                const char *inflight = d->connect2_pending ? d->connect2_inflight : d->calloff2.address;

                if (strcasecmp(inflight, dev->address) == 0) {
                        want_inflight(d, dev, call);
                } else if (call) {
                        dbus_reply_error(d->conn, call, ERR_PREFIX "InProgress",
                                         "the connection to %s is being called off; retry in a moment",
                                         inflight);
                }
                return true;
        }
        /* bluetoothd 5.66 gives both connections the same endpoint when
         * they are set up at once (docs/multi-output.md): the second waits
         * for the first's SetConfiguration */
        if (!transport_of(d, d->output) || d->connecting[0] || d->connect_pending) {
                if (call)
                        dbus_reply_error(d->conn, call, ERR_PREFIX "InProgress",
                                         "%s is still being set up; connect %s once it plays",
                                         d->output, dev->address);
                return true;
        }
        if (!d->state.speaker_mode)
                output_set_speaker_mode(d, true);
        if (!send_connect2(d, dev)) {
                if (call)
                        dbus_reply_error(d->conn, call, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return true;
        }
        want_inflight(d, dev, call);
        return true;
}

/* ---- going away ------------------------------------------------------------------ */

/* Lets the second speaker go: its stream, its link, our record of it; a
 * Connect waiting for it is told why. */
static void drop_second(struct daemon *d, const char *why)
{
        struct device *dev = d->output2[0] ? bluez_device_by_address(d, d->output2) : NULL;
        struct transport *t = transport_of(d, d->output2);

        if (t) {
                if (d->streaming2 == t)
                        multi_output_detach(d);
                transport_release(d, t, false);
        }
        /* a connection under way is called off (BlueZ cancels it on
         * Disconnect, and answers that Disconnect once it is over) */
        if (dev) {
                bool inflight = d->connect2_pending && strcasecmp(d->connect2_inflight, dev->address) == 0;

                log_info("%s %s", d->connecting2[0] ? "cancelling the connection to" : "disconnecting",
                         dev->address);
                if (!inflight || calloff_send(d->conn, &d->calloff2, dev->path, dev->address, on_called_off, d) < 0)
                        bluez_device_call(d, dev, "org.bluez.Device1", "Disconnect");
        }
        finish_call(d, ERR_PREFIX "Failed", why);
        d->output2[0] = '\0';
        d->connecting2[0] = '\0';
        multi_output_forget_lost(d);
}

void multi_output_disconnect(struct daemon *d)
{
        if (d->output2[0])
                drop_second(d, "cancelled by Disconnect");
}

bool multi_output_device_changed(struct daemon *d, struct device *dev, bool was_connected)
{
        if (!d->output2[0] || strcasecmp(dev->address, d->output2) != 0)
                return false;
        if (was_connected && !dev->connected && !d->connecting2[0]) {
                struct transport *t = transport_of(d, d->output2);

                log_warn("%s (the second output) disconnected", dev->address);
                diagnose_note(d, dev->address, HIST_DISCONNECTED, NULL);
                /* its transport may outlive the link a moment: let go of
                 * it now, before it stops being the second's and looks
                 * like a first output's */
                if (t) {
                        multi_output_transport_removing(d, t);
                        transport_release(d, t, false);
                }
                snprintf(d->lost2, sizeof(d->lost2), "%s", d->output2);
                d->output2[0] = '\0';
                multi_output_reconnect_backoff(d);
        }
        manager_update(d);
        return true;
}

void multi_output_stream_lost(struct daemon *d, const char *device_path)
{
        struct device *dev = bluez_device_by_path(d, device_path);

        if (!dev || !d->output2[0] || strcasecmp(dev->address, d->output2) != 0)
                return;
        /* listed with no stream, it would stay silent: connected again
         * (ConnectProfile; SelectConfiguration then takes the first's
         * rate), and listed once it is; without auto-reconnect, let go */
        snprintf(d->lost2, sizeof(d->lost2), "%s", d->output2);
        d->output2[0] = '\0';
        if (multi_output_reconnect_wanted(d)) {
                log_warn("%s (the second output) has no stream left; it is set up again", dev->address);
                multi_output_reconnect_backoff(d);
        } else {
                log_warn("%s (the second output) has no stream left; disconnecting it", dev->address);
                multi_output_forget_lost(d);
                bluez_device_call(d, dev, "org.bluez.Device1", "Disconnect");
        }
        manager_update(d);
}

bool multi_output_takes(struct daemon *d, const struct device *dev)
{
        struct device *first = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;

        return d->state.multi_output && d->state.speaker_mode && !d->output2[0] && first && first->connected &&
               transport_of_device(d, first) && strcasecmp(dev->address, d->output) != 0;
}

bool multi_output_adopt(struct daemon *d, struct device *dev)
{
        if (!multi_output_takes(d, dev))
                return false;
        log_info("%s connected by itself; it is the second output now", dev->address);
        diagnose_note(d, dev->address, HIST_CONNECTED, "second output, connected by itself");
        if (strcasecmp(d->lost2, dev->address) != 0)
                d->volume2 = d->state.volume;
        multi_output_forget_lost(d);
        snprintf(d->output2, sizeof(d->output2), "%s", dev->address);
        d->output2_newer = true;
        manager_update(d);
        return true;
}

void multi_output_transport_removing(struct daemon *d, struct transport *t)
{
        if (d->streaming2 == t)
                multi_output_detach(d);
}

/* The first goes (its stream, then its link), and the second becomes the
 * one output: where it plays, untouched; else attached as the first. */
static void promote_second(struct daemon *d, struct device *first)
{
        struct transport *t = transport_of(d, d->output);

        if (t) {
                output_transport_removing(d, t);
                transport_release(d, t, false);
        }
        if (first && first->connected)
                bluez_device_call(d, first, "org.bluez.Device1", "Disconnect");
        snprintf(d->output, sizeof(d->output), "%s", d->output2);
        snprintf(d->state.last_output, sizeof(d->state.last_output), "%s", d->output2);
        d->state.volume = d->volume2;   /* it keeps its volume as the one output */
        d->output2[0] = '\0';
        d->reconnect_attempt = 0;
        if (d->streaming2) {
                output_take_over(d);
                return;
        }
        output_engine_resume(d);
}

/* MultiOutput off: the speaker connected last stays, the other goes. */
static void keep_most_recent(struct daemon *d)
{
        struct device *first = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;
        struct device *second = d->output2[0] ? bluez_device_by_address(d, d->output2) : NULL;

        if (!d->output2[0])
                return;
        if (!d->output2_newer && first && first->connected) {
                log_info("MultiOutput off: %s stays, %s goes", d->output, d->output2);
                drop_second(d, "cancelled: MultiOutput was turned off");
                return;
        }
        if (d->connecting2[0] || !second || !second->connected) {
                drop_second(d, "cancelled: MultiOutput was turned off");
                return;
        }
        log_info("MultiOutput off: %s stays, %s goes", d->output2, first ? first->address : d->output);
        promote_second(d, first);
}

bool multi_output_forget(struct daemon *d, const char *address)
{
        if (d->output2[0] && strcasecmp(address, d->output2) == 0) {
                log_info("%s is forgotten; %s plays on alone", d->output2, d->output);
                drop_second(d, "cancelled: the speaker is being forgotten");
                return true;
        }
        if (d->lost2[0] && strcasecmp(address, d->lost2) == 0) {
                multi_output_forget_lost(d);
                return true;
        }
        return false;
}

int multi_output_disconnect_one(struct daemon *d, bool first_one)
{
        struct device *first = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;

        if (!first_one) {
                log_info("%s goes; %s plays on alone", d->output2, d->output);
                drop_second(d, "cancelled by DisconnectOutput");
                return 0;
        }
        if (!d->output2[0] || d->connecting2[0] || !multi_output_connected(d))
                return -ENOTCONN;       /* the one output: Disconnect() */
        log_info("%s goes; %s plays on alone", d->output, d->output2);
        promote_second(d, first);
        return 0;
}

int multi_output_set(struct daemon *d, bool on)
{
        if (d->state.multi_output == on)
                return 0;
        log_info("MultiOutput %s", on ? "on" : "off");
        if (!on)
                keep_most_recent(d);
        d->state.multi_output = on;
        endpoint_spares_update(d);
        output_update_status(d);
        return 0;
}

void multi_output_shutdown(struct daemon *d)
{
        multi_output_reconnect_cancel(d);
        connect_busy_clear(&d->connect2_busy);
        sd_event_source_disable_unref(d->rate_retry);
        d->rate_retry = NULL;
        dbus_call_cancel(&d->connect2_pending);
        calloff_cancel(&d->calloff2);
        d->connecting2[0] = '\0';
        d->connect2_inflight[0] = '\0';
        finish_call(d, ERR_PREFIX "Failed", "a2dpsrcd is stopping");
}
