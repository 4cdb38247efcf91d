/* The one Bluetooth output: connecting a speaker (dropping the previous
 * one), adopting a speaker that connects by itself, disconnecting,
 * forgetting; reconnecting with backoff when the link drops is
 * speaker-reconnect.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec-control.h"
#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define ERR_PREFIX "org.a2dpsrc.Error."

/* What the one call in d->connect_pending is (d->connect_pending_kind): the
 * previous output being disconnected, or ConnectProfile to
 * d->connect_inflight. When the user changes their mind (Disconnect, or
 * Connect to another speaker during an automatic reconnect) a ConnectProfile
 * in flight is called off with a Disconnect of that speaker (d->calloff,
 * connect-calloff.h); BlueZ keeps our one local endpoint until that attempt
 * is over, so its outcome is awaited (a speaker no longer wanted is sent
 * away), and only once the Disconnect is answered does the next connection
 * start. */

static void set_str(char *dst, size_t len, const char *src)
{
        snprintf(dst, len, "%s", src);
}

static void finish_call(struct daemon *d, DBusMessage **call, const char *err_name, const char *text)
{
        if (!*call)
                return;
        if (err_name)
                dbus_reply_error(d->conn, *call, err_name, "%s", text);
        else
                dbus_reply_empty(d->conn, *call);
        dbus_message_unref(*call);
        *call = NULL;
}

/* Answers every Connect waiting for d->connecting alike. */
static void finish_connect(struct daemon *d, const char *err_name, const char *text)
{
        connect_callers_finish(d->conn, &d->connect_calls, err_name, text);
}

static void on_connect_reply(DBusMessage *reply, const DBusError *err, void *ud);

/* Lets go of t's stream: the audio thread first, since it may be writing
 * to the very socket transport_release closes (and whose number the next
 * open() hands out again). */
static void release_stream(struct daemon *d, struct transport *t)
{
        output_transport_removing(d, t);
        transport_release(d, t, false);
}

/* ---- connect --------------------------------------------------------------------- */

/* Maps BlueZ's ConnectProfile errors to ours, in words a user can act on. */
const char *speaker_connect_error(const DBusError *err, const char *addr, char *text, size_t len)
{
        const char *msg = err->message ? err->message : "";

        if (dbus_error_has_name(err, "org.bluez.Error.InProgress")) {
                snprintf(text, len, "BlueZ is already connecting %s", addr);
                return ERR_PREFIX "InProgress";
        }
        if (dbus_error_has_name(err, "org.bluez.Error.NotAvailable") || strstr(msg, "profile-unavailable")) {
                snprintf(text, len, "%s offers no A2DP audio sink; it may support only "
                         "headset/hands-free profiles", addr);
                return ERR_PREFIX "NotAudioSink";
        }
        /* the bus's answer for a call whose recipient left it (bluetoothd
         * crashed or was restarted): not the speaker's doing */
        if (dbus_error_has_name(err, DBUS_ERROR_NO_REPLY) && strstr(msg, "disconnected")) {
                snprintf(text, len, "bluetoothd stopped while connecting %s; try again once it "
                         "is back", addr);
                return ERR_PREFIX "Failed";
        }
        if (strstr(msg, "page-timeout") || strstr(msg, "Host is down") || strstr(msg, "timeout") ||
            dbus_error_has_name(err, DBUS_ERROR_NO_REPLY)) {
                snprintf(text, len, "%s did not answer; is it on and in range?", addr);
                return ERR_PREFIX "NotAvailable";
        }
        snprintf(text, len, "connecting %s failed: %s", addr, msg[0] ? msg : err->name);
        return ERR_PREFIX "Failed";
}

static void connect_succeeded(struct daemon *d, const char *addr, bool automatic)
{
        struct device *dev = bluez_device_by_address(d, addr);
        struct transport *t = transport_of_device(d, dev);

        log_info("%s connected as the Bluetooth output", addr);
        diagnose_note(d, addr, HIST_CONNECTED, automatic ? "reconnected" : NULL);
        speaker_reconnect_cancel(d);
        set_str(d->output, sizeof(d->output), addr);
        lost_speaker_back(&d->lost, addr);
        set_str(d->state.last_output, sizeof(d->state.last_output), addr);
        d->output2_newer = false;       /* the most recent now (MultiOutput) */
        if (automatic)
                d->reconnects++;
        d->reconnect_attempt = 0;
        d->reconnect_said[0] = '\0';
        manager_save(d);
        finish_connect(d, NULL, NULL);
        /* the transport came with SetConfiguration before this reply;
         * none: the speaker closed the stream meanwhile */
        if (t)
                output_transport_added(d, t);
        else
                closed_stream_check_soon(d);
        manager_update(d);
}

static void send_connect_profile(struct daemon *d, const char *address);
static void on_old_disconnected(DBusMessage *reply, const DBusError *err, void *ud);

/* Disconnects old, then connects d->connecting: BlueZ 5.66 carries one
 * stream per local endpoint, so the next speaker is asked only after. */
static bool drop_then_connect(struct daemon *d, struct device *old)
{
        DBusMessage *m = dbus_message_new_method_call(BLUEZ_SERVICE, old->path, "org.bluez.Device1",
                                                      "Disconnect");

        if (!m || dbus_call_async(d->conn, m, 10000, on_old_disconnected, d, &d->connect_pending) < 0)
                return false;
        d->connect_pending_kind = CONNECT_DROP_OLD;
        return true;
}

/* BlueZ was connecting it already (connect-busy.h: mostly its own
 * reconnect after a lost link): asked again unless no longer wanted. */
static void connect_again(void *ud, const char *addr)
{
        struct daemon *d = ud;

        if (strcasecmp(d->connecting, addr) == 0 && !d->connect_pending)
                send_connect_profile(d, addr);
        else
                connect_busy_clear(&d->connect_busy);
}

static void on_connect_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        char addr[18], text[256];
        bool automatic = !d->connect_calls.asked;
        bool ok = reply || dbus_error_has_name(err, "org.bluez.Error.AlreadyConnected");

        dbus_pending_call_unref(d->connect_pending);
        d->connect_pending = NULL;
        d->connect_pending_kind = CONNECT_NONE;
        set_str(addr, sizeof(addr), d->connect_inflight);
        d->connect_inflight[0] = '\0';

        if (calloff_waiting(&d->calloff, addr)) {
                /* we called it off: our Disconnect undoes it, and its
                 * answer starts what is wanted now (on_called_off) */
                log_debug("the connection to %s, called off, ended", addr);
                return;
        }
        if (strcasecmp(addr, d->connecting) != 0) {
                /* called off meanwhile: undo it, then go on with what is
                 * wanted now, if anything */
                struct device *dev = bluez_device_by_address(d, addr);

                if (ok && dev) {
                        log_info("%s connected, but is no longer wanted; disconnecting it", addr);
                        if (!d->connecting[0] || !drop_then_connect(d, dev))
                                bluez_device_call(d, dev, "org.bluez.Device1", "Disconnect");
                        else
                                return;
                }
                if (d->connecting[0])
                        send_connect_profile(d, d->connecting);
                manager_update(d);
                return;
        }
        /* a selection made for a connection we did not make says nothing
         * of ours */
        if (!ok && speaker_refusal_learn(d, addr, false)) {
                send_connect_profile(d, addr);
                manager_update(d);
                return;
        }
        if (!ok && connect_busy_wait(&d->connect_busy, d->event, err, addr, connect_again, d)) {
                manager_update(d);
                return;
        }
        connect_busy_clear(&d->connect_busy);
        d->connecting[0] = '\0';

        if (!ok) {
                const char *name = speaker_connect_error(err, addr, text, sizeof(text));

                if (automatic)
                        log_news(d->reconnect_said, sizeof(d->reconnect_said), LOG_LVL_WARNING, text);
                else
                        log_warn("%s", text);
                diagnose_note(d, addr, HIST_CONNECT_FAILED,
                              err->message && err->message[0] ? err->message : err->name);
                finish_connect(d, name, text);
                /* the link may have come and gone first: its Connected=false
                 * planned the next try already */
                if (automatic && !d->reconnect_timer)
                        speaker_reconnect_backoff(d);
                manager_update(d);
                return;
        }
        connect_succeeded(d, addr, automatic);
}

static void send_connect_profile(struct daemon *d, const char *address)
{
        struct device *dev = bluez_device_by_address(d, address);
        const char *uuid = A2DP_SINK_UUID;
        DBusMessage *m;

        if (!dev) {
                d->connecting[0] = '\0';
                finish_connect(d, ERR_PREFIX "NotFound", "the device went away");
                return;
        }
        m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->path, "org.bluez.Device1", "ConnectProfile");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &uuid, DBUS_TYPE_INVALID) ||
            dbus_call_async(d->conn, m, 30000, on_connect_reply, d, &d->connect_pending) < 0) {
                d->connecting[0] = '\0';
                finish_connect(d, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return;
        }
        d->connect_pending_kind = CONNECT_PROFILE;
        set_str(d->connect_inflight, sizeof(d->connect_inflight), dev->address);
        if (!d->connect_calls.asked && d->reconnect_said[0])
                log_debug("connecting %s", dev->address);    /* it failed before: said then */
        else
                log_info("connecting %s", dev->address);
}

/* The previous output is gone (or going): the new speaker is asked now. */
static void on_old_disconnected(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;

        dbus_pending_call_unref(d->connect_pending);
        d->connect_pending = NULL;
        d->connect_pending_kind = CONNECT_NONE;
        if (!reply)
                log_debug("disconnecting the previous output: %s", err->message);
        /* Disconnect() may have called the new one off meanwhile; a
         * connection called off is over first (on_called_off goes on) */
        speaker_connect_when_free(d);
}

/* Our Disconnect of a speaker whose connection we called off is answered:
 * that attempt is over, answered or not (connect-calloff.h). */
static void on_called_off(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        char addr[18];

        calloff_answered(&d->calloff, reply ? NULL : err, addr);
        if (d->connect_pending_kind == CONNECT_PROFILE &&
            calloff_drop_unanswered(&d->connect_pending, d->connect_inflight, addr))
                d->connect_pending_kind = CONNECT_NONE;
        speaker_connect_when_free(d);
}

void speaker_connect_when_free(struct daemon *d)
{
        if (d->connecting[0] && !d->connect_pending && !calloff_waiting(&d->calloff, NULL) &&
            !lost_speaker_going(&d->lost, NULL))
                send_connect_profile(d, d->connecting);
        manager_update(d);
}

/* Calls off the ConnectProfile in flight to dev. */
static void call_off(struct daemon *d, const struct device *dev)
{
        log_info("cancelling the connection to %s", dev->address);
        if (calloff_send(d->conn, &d->calloff, dev->path, dev->address, on_called_off, d) < 0)
                bluez_device_call(d, dev, "org.bluez.Device1", "Disconnect");
}

void speaker_connect(struct daemon *d, struct device *dev, DBusMessage *call)
{
        struct device *old = NULL;

        /* MultiOutput: a second speaker, or a third refused */
        if (multi_output_connect(d, dev, call))
                return;
        speaker_reconnect_cancel(d);
        connect_busy_clear(&d->connect_busy);
        d->user_disconnected = false;
        if (!d->state.speaker_mode)
                output_set_speaker_mode(d, true);
        /* a speaker's own reconnect joined by that many: refused */
        if (call && !connect_callers_join(d->conn, &d->connect_calls, call, dev->address))
                call = NULL;
        /* a speaker already configured needs no new connection */
        if (!d->connect_pending && dev->connected && transport_of_device(d, dev) &&
            strcasecmp(d->output, dev->address) == 0) {
                connect_succeeded(d, dev->address, !d->connect_calls.asked);
                return;
        }
        if (d->connect_pending || calloff_waiting(&d->calloff, NULL) || lost_speaker_going(&d->lost, NULL)) {
                /* a call is under way (an automatic reconnect, one called
                 * off, a lost speaker let go): it finishes first, and what
                 * follows is for dev */
                if (d->connect_pending_kind == CONNECT_PROFILE && strcasecmp(d->connect_inflight, dev->address) != 0 &&
                    strcasecmp(d->connect_inflight, d->connecting) == 0) {
                        struct device *c = bluez_device_by_address(d, d->connect_inflight);

                        log_info("giving up connecting %s for %s", d->connect_inflight, dev->address);
                        if (c)
                                call_off(d, c);
                }
                set_str(d->connecting, sizeof(d->connecting), dev->address);
                d->output[0] = '\0';
                manager_update(d);
                return;
        }
        set_str(d->connecting, sizeof(d->connecting), dev->address);

        /* one output at a time: the previous one goes first */
        if (d->output[0] && strcasecmp(d->output, dev->address) != 0)
                old = bluez_device_by_address(d, d->output);
        d->output[0] = '\0';
        if (old && old->connected) {
                struct transport *t = transport_of_device(d, old);

                log_info("dropping %s for %s", old->address, dev->address);
                if (t)
                        release_stream(d, t);
                if (drop_then_connect(d, old)) {
                        manager_update(d);
                        return;
                }
        }
        send_connect_profile(d, dev->address);
        manager_update(d);
}

bool speaker_transport_is_output(struct daemon *d, struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);

        if (!dev)
                return false;
        return strcasecmp(dev->address, d->output) == 0 || strcasecmp(dev->address, d->connecting) == 0;
}

/* SetConfiguration for t: our output, a speaker we adopt, or a second
 * speaker we leave alone. */
void speaker_transport_configured(struct daemon *d, struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        struct device *cur;

        if (dev)
                speaker_refusal_configured(d, dev->address);
        if (!dev || speaker_transport_is_output(d, t) || multi_output_is_second(d, t))
                return;
        if ((d->connect_pending_kind == CONNECT_PROFILE && strcasecmp(d->connect_inflight, dev->address) == 0) ||
            calloff_waiting(&d->calloff, dev->address) || lost_speaker_going(&d->lost, dev->address)) {
                /* our own connection, called off: not a speaker coming by
                 * itself; on_connect_reply or our Disconnect sends it away */
                log_info("%s is being configured, but is no longer wanted", dev->address);
                return;
        }
        if (multi_output_called_off(d, dev)) {
                log_info("%s is being configured, but is no longer wanted as the second output",
                         dev->address);
                return;
        }
        if (multi_output_adopt(d, dev))
                return;
        cur = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;
        if (cur && cur->connected && transport_of_device(d, cur)) {
                log_notice("%s connected while %s is the output; leaving it unused", dev->address,
                           d->output);
                return;
        }
        /* the speaker came by itself (it reconnects on power-up) */
        log_info("%s connected by itself; it is the Bluetooth output now", dev->address);
        diagnose_note(d, dev->address, HIST_CONNECTED, "connected by itself");
        set_str(d->output, sizeof(d->output), dev->address);
        lost_speaker_back(&d->lost, dev->address);
        if (d->state.speaker_mode && strcmp(d->state.last_output, dev->address) != 0) {
                set_str(d->state.last_output, sizeof(d->state.last_output), dev->address);
                manager_save(d);
        }
        speaker_reconnect_cancel(d);
        d->reconnect_attempt = 0;
        d->reconnect_said[0] = '\0';
}

/* ---- link loss ------------------------------------------------------------------- */

void speaker_link_lost(struct daemon *d, const char *device_path)
{
        struct device *dev = bluez_device_by_path(d, device_path);

        if (!dev || strcasecmp(dev->address, d->output) != 0)
                return;
        /* BlueZ follows with ClearConfiguration and Connected=false; if the
         * device stays connected the stream is simply set up again. Not
         * with closed-stream.c's hold-off here: a socket error is also how
         * a lost link and a bluetoothd restart show (the soak's cycles grew
         * it to 16 s), and neither is the speaker's choice. When the
         * transport has gone and the link stayed (the speaker closed or
         * aborted the stream), closed-stream.c takes this over */
        speaker_reconnect_in(d, 1000);
        d->reconnect_after_socket_error = d->reconnect_timer != NULL;
}

bool speaker_reconnect_after_socket_error(const struct daemon *d)
{
        return d->reconnect_timer && d->reconnect_after_socket_error;
}

/* How long after our unnamed SelectConfiguration a speaker's link may go
 * down and still be the one that refused it. bluetoothd 5.66 starts its
 * own setup 1 s after a speaker opened AVDTP, a SET_CONFIGURATION answer
 * may take a moment, then after the rejection AVDTP closes 1 s later and
 * the kernel drops the idle link after 2 s (4 s on a link the speaker
 * opened): some 5.5 s in all. */
#define UNNAMED_REFUSAL_WINDOW_US (10ULL * 1000000)

/* A connection we did not make (the speaker connecting by itself, another
 * client's Device1.Connect, bluetoothd's own policy) takes one of our
 * endpoints too, and SelectConfiguration does not say for whom: it is
 * taken to be for the one paired device then connected without a stream,
 * if there was just one (endpoint.c). When that device's link goes down
 * before SetConfiguration, with no connection of ours under way, it
 * refused the codec chosen: learnt as on our own connection, and a speaker
 * that came to us while there is no output, or that MultiOutput would
 * have taken as the second, is connected again with its next codec. True
 * when that connection was started. */
static bool unnamed_refusal(struct daemon *d, struct device *dev)
{
        uint64_t now;

        if (!d->chosen_codec || !d->chosen_unnamed || strcasecmp(d->chosen_for, dev->address) != 0 ||
            d->connecting[0] || d->connect_pending || transport_of_device(d, dev) ||
            sd_event_now(d->event, CLOCK_MONOTONIC, &now) < 0 ||
            now - d->chosen_at > UNNAMED_REFUSAL_WINDOW_US)
                return false;
        if (!speaker_refusal_learn(d, dev->address, true))
                return false;
        if (!d->state.speaker_mode || d->shutting_down ||
            (d->output[0] && !multi_output_takes(d, dev)) ||
            (d->user_disconnected && strcasecmp(d->state.last_output, dev->address) != 0))
                return false;
        speaker_connect(d, dev, NULL);
        return true;
}

void speaker_device_changed(struct daemon *d, struct device *dev, bool was_connected)
{
        if (multi_output_device_changed(d, dev, was_connected))
                return;
        if (was_connected && !dev->connected)
                diagnose_note(d, dev->address, HIST_DISCONNECTED, NULL);
        diagnose_seen(d, dev);
        if (was_connected && !dev->connected && unnamed_refusal(d, dev)) {
                manager_update(d);
                return;
        }
        if (strcasecmp(dev->address, d->state.last_output) != 0)
                return;
        if (was_connected && !dev->connected) {
                bool was_output = strcasecmp(dev->address, d->output) == 0;

                log_warn("%s disconnected", dev->address);
                /* a speaker that played and went away starts the backoff
                 * afresh; one whose connect failed after its link came up
                 * (busy with a phone, bond lost, A2DP refused) goes on
                 * with it, or it would be paged every second for ever */
                if (was_output) {
                        d->output[0] = '\0';
                        d->reconnect_attempt = 0;
                        /* not by our Disconnect (that lets go of the output
                         * first): bluetoothd may be paging it */
                        lost_speaker_note(&d->lost, dev->address);
                }
                /* not when it was dropped for another speaker, nor when the
                 * failed connect has planned the next try already */
                if ((!d->connecting[0] || strcasecmp(d->connecting, dev->address) == 0) &&
                    (was_output || !d->reconnect_timer))
                        speaker_reconnect_backoff(d);
                manager_update(d);
        } else if (!was_connected && dev->connected) {
                manager_update(d);
        }
}

/* ---- disconnect, forget, reset --------------------------------------------------- */

/* Disconnects the output and calls off a connection under way, whose
 * callers are told why. */
static void disconnect_all(struct daemon *d, const char *why)
{
        struct device *dev = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;

        speaker_reconnect_cancel(d);
        d->user_disconnected = true;
        multi_output_disconnect(d);
        agent_call_off_connect(d);
        if (d->connecting[0]) {
                /* the call under way stays: its outcome is undone when it
                 * comes (on_connect_reply, on_old_disconnected) */
                if (d->connect_pending_kind == CONNECT_PROFILE && strcasecmp(d->connect_inflight, d->connecting) == 0) {
                        struct device *c = bluez_device_by_address(d, d->connect_inflight);

                        if (c && c != dev)
                                call_off(d, c);
                }
                d->connecting[0] = '\0';
                finish_connect(d, ERR_PREFIX "Failed", why);
        }
        if (dev) {
                struct transport *t = transport_of_device(d, dev);
                if (t)
                        release_stream(d, t);
                /* tracked when nothing else is under way: a Connect right
                 * after waits for the link to be down, or BlueZ would cancel
                 * the new connection with the old link */
                if (d->connect_pending || !drop_then_connect(d, dev))
                        bluez_device_call(d, dev, "org.bluez.Device1", "Disconnect");
                log_info("disconnecting %s", dev->address);
        }
        lost_speaker_let_go(d, d->output, d->lost2);
        d->output[0] = '\0';
        d->state.last_output[0] = '\0';
}

void speaker_disconnect(struct daemon *d)
{
        disconnect_all(d, "cancelled by Disconnect");
}

struct forget_ctx {
        struct daemon *d;
        DBusMessage *call;
        char address[18];
};

static void on_removed(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct forget_ctx *ctx = ud;
        struct daemon *d = ctx->d;

        if (!reply && !dbus_error_has_name(err, "org.bluez.Error.DoesNotExist")) {
                char text[256];
                snprintf(text, sizeof(text), "BlueZ could not remove %s: %s", ctx->address,
                         err->message ? err->message : err->name);
                finish_call(d, &ctx->call, ERR_PREFIX "Failed", text);
        } else {
                log_info("forgot %s", ctx->address);
                finish_call(d, &ctx->call, NULL, NULL);
        }
        free(ctx);
}

static int remove_device(struct daemon *d, const struct device *dev, DBusMessage *call)
{
        struct forget_ctx *ctx = calloc(1, sizeof(*ctx));
        const char *path = dev->path;
        DBusMessage *m;

        if (!ctx)
                return -ENOMEM;
        ctx->d = d;
        set_str(ctx->address, sizeof(ctx->address), dev->address);
        m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->adapter, "org.bluez.Adapter1", "RemoveDevice");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID)) {
                if (m)
                        dbus_message_unref(m);
                free(ctx);
                return -ENOMEM;
        }
        if (call)
                ctx->call = dbus_message_ref(call);
        if (dbus_call_async(d->conn, m, 10000, on_removed, ctx, NULL) < 0) {
                if (ctx->call)
                        dbus_message_unref(ctx->call);
                free(ctx);
                return -ENOTCONN;
        }
        return 0;
}

/* One of two forgotten: the other plays on (a second one lost was
 * reconnected for ever to a device BlueZ no longer had). */
static void let_forgotten_go(struct daemon *d, const char *addr)
{
        char why[64];

        if (multi_output_forget(d, addr))
                return;
        if (strcasecmp(addr, d->output) == 0 && multi_output_disconnect_one(d, true) == 0)
                return;
        /* one being connected too: its Connect ends now, not with a
         * connection to a speaker BlueZ no longer knows */
        snprintf(why, sizeof(why), "cancelled: %s is being forgotten", addr);
        if (strcasecmp(addr, d->output) == 0 || strcasecmp(addr, d->state.last_output) == 0 ||
            strcasecmp(addr, d->connecting) == 0)
                disconnect_all(d, why);
}

void speaker_forget(struct daemon *d, struct device *dev, DBusMessage *call)
{
        char addr[18];

        set_str(addr, sizeof(addr), dev->address);
        let_forgotten_go(d, addr);
        state_paired_remove(&d->state, addr);
        manager_save(d);
        if (remove_device(d, dev, call) < 0)
                dbus_reply_error(d->conn, call, ERR_PREFIX "Failed", "cannot reach bluetoothd");
        manager_update(d);
}

void speaker_reset(struct daemon *d)
{
        struct saved_state fresh;

        log_notice("Bluetooth reset: disconnecting, forgetting our speakers, clearing settings");
        speaker_disconnect(d);
        for (unsigned i = 0; i < d->state.n_paired; i++) {
                struct device *dev = bluez_device_by_address(d, d->state.paired[i]);
                if (dev && remove_device(d, dev, NULL) < 0)
                        log_warn("cannot forget %s", dev->address);
        }
        state_defaults(&fresh);
        d->state = fresh;
        d->user_disconnected = false;
        output_set_speaker_mode(d, d->state.speaker_mode);
        output_routes_changed(d);
        output_volume_changed(d);
        manager_save(d);
        /* registrations made anew, as after a bluetoothd restart */
        endpoint_unregister_all(d);
        for (struct adapter *a = d->adapters; a; a = a->next)
                endpoint_register(d, a);
        /* a pairing under way is called off */
        agent_bluez_gone(d);
}

void speaker_shutdown(struct daemon *d)
{
        multi_output_shutdown(d);
        speaker_reconnect_cancel(d);
        connect_busy_clear(&d->connect_busy);
        dbus_call_cancel(&d->connect_pending);
        calloff_cancel(&d->calloff);
        lost_speaker_clear(&d->lost);
        d->connect_pending_kind = CONNECT_NONE;
        d->connect_inflight[0] = '\0';
        finish_connect(d, ERR_PREFIX "Failed", "a2dpsrcd is stopping");
}
