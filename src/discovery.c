/* Scanning for speakers on behalf of Manager1's callers. BlueZ ties a scan
 * to the D-Bus client that started it -- here, the daemon -- so a scan
 * asked for by a one-shot call (busctl) outlives that call. It is bounded,
 * since inquiry takes air time from the stream: it ends on StopDiscovery,
 * after scan-timeout seconds, or when streaming starts. It looks for
 * BR/EDR devices only: A2DP sinks are BR/EDR, and LE advertisers would
 * flood GetDevices and take air time as well. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define ERR_PREFIX "org.a2dpsrc.Error."

struct call_ctx {
        struct daemon *d;
        DBusMessage *call;
        bool start;
};

/* The adapter our scan runs on, if it is still plugged in: bluez.c frees
 * an adapter that goes away, so the pointer is only trusted while it is
 * in the list. d->discovery_adapter is set only while a scan we asked for
 * runs (or is being started). */
static struct adapter *scan_adapter(struct daemon *d)
{
        for (struct adapter *a = d->adapters; a; a = a->next)
                if (a == d->discovery_adapter)
                        return a;
        d->discovery_adapter = NULL;
        return NULL;
}

static void stop_timer(struct daemon *d)
{
        sd_event_source_disable_unref(d->discovery_timer);
        d->discovery_timer = NULL;
}

static void on_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct call_ctx *ctx = ud;
        struct daemon *d = ctx->d;

        /* BlueZ's InProgress on start means it is already scanning for us */
        if (!reply && !(ctx->start && dbus_error_has_name(err, "org.bluez.Error.InProgress"))) {
                if (ctx->start) {
                        stop_timer(d);
                        d->discovery_adapter = NULL;
                }
                if (ctx->call)
                        dbus_reply_error(d->conn, ctx->call, ERR_PREFIX "Failed", "%s discovery failed: %s",
                                         ctx->start ? "starting" : "stopping",
                                         err->message ? err->message : err->name);
        } else if (ctx->call) {
                dbus_reply_empty(d->conn, ctx->call);
        }
        if (ctx->call)
                dbus_message_unref(ctx->call);
        free(ctx);
        manager_update(d);
}

static int send_discovery(struct daemon *d, struct adapter *a, bool start, DBusMessage *call)
{
        struct call_ctx *ctx = calloc(1, sizeof(*ctx));
        DBusMessage *m;

        if (!ctx)
                return -ENOMEM;
        ctx->d = d;
        ctx->start = start;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, a->path, "org.bluez.Adapter1",
                                         start ? "StartDiscovery" : "StopDiscovery");
        if (call)
                ctx->call = dbus_message_ref(call);
        if (dbus_call_async(d->conn, m, 10000, on_reply, ctx, NULL) < 0) {
                if (ctx->call)
                        dbus_message_unref(ctx->call);
                free(ctx);
                return -ENOTCONN;
        }
        return 0;
}

static void on_filter_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        if (!reply)
                log_warn("SetDiscoveryFilter refused (%s); the scan also finds LE devices",
                         err->message ? err->message : err->name);
}

/* Transport=bredr for our scans. BlueZ keeps a client's filter until the
 * client leaves the bus, but it is set before every scan: a bluetoothd
 * restarted since has forgotten it. Sent before StartDiscovery on the
 * same connection, so BlueZ applies it first. */
static void send_filter(struct daemon *d, struct adapter *a)
{
        DBusMessage *m = dbus_message_new_method_call(BLUEZ_SERVICE, a->path, "org.bluez.Adapter1",
                                                      "SetDiscoveryFilter");
        const char *transport = "bredr";
        DBusMessageIter it, dict;

        if (!m)
                return;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
            !dbus_dict_append_basic(&dict, "Transport", DBUS_TYPE_STRING, &transport) ||
            !dbus_message_iter_close_container(&it, &dict)) {
                dbus_message_unref(m);
                return;
        }
        dbus_call_async(d->conn, m, 10000, on_filter_reply, d, NULL);
}

static int on_limit(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;

        log_info("the scan ran for %u s; stopping it", d->opts.scan_timeout);
        discovery_stop(d, NULL);
        return 0;
}

int discovery_start(struct daemon *d, DBusMessage *call)
{
        struct adapter *a = bluez_default_adapter(d);

        if (!a || !a->powered) {
                dbus_reply_error(d->conn, call, ERR_PREFIX "NotAvailable", "%s",
                                 a ? "The Bluetooth adapter is powered off"
                                   : "No Bluetooth adapter is available");
                return -ENODEV;
        }
        /* a new StartDiscovery starts the time limit again */
        stop_timer(d);
        if (sd_event_add_time_relative(d->event, &d->discovery_timer, CLOCK_MONOTONIC,
                                       (uint64_t)d->opts.scan_timeout * 1000000, 1000000, on_limit,
                                       d) < 0) {
                dbus_reply_error(d->conn, call, ERR_PREFIX "Failed", "cannot bound the scan in time");
                return -ENOMEM;
        }
        d->discovery_adapter = a;
        send_filter(d, a);
        if (send_discovery(d, a, true, call) < 0) {
                stop_timer(d);
                d->discovery_adapter = NULL;
                dbus_reply_error(d->conn, call, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return -ENOTCONN;
        }
        log_info("scanning for speakers for at most %u s", d->opts.scan_timeout);
        return 0;
}

int discovery_stop(struct daemon *d, DBusMessage *call)
{
        struct adapter *a = scan_adapter(d);

        stop_timer(d);
        /* Stopped as far as the app is concerned, now. Not a->discovering:
         * a StartDiscovery still on its way to BlueZ has not turned it on
         * yet, and BlueZ handles our Stop after it, so the Stop is due
         * all the same. */
        d->discovery_adapter = NULL;
        if (!a) {
                /* nothing to stop is not an error for the app */
                if (call)
                        dbus_reply_empty(d->conn, call);
                manager_update(d);
                return 0;
        }
        if (send_discovery(d, a, false, call) < 0) {
                if (call)
                        dbus_reply_error(d->conn, call, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return -ENOTCONN;
        }
        log_info("discovery stopped");
        return 0;
}

void discovery_streaming_started(struct daemon *d)
{
        if (!scan_adapter(d))
                return;
        log_info("streaming started: stopping the scan, which takes air time from it");
        discovery_stop(d, NULL);
}

void discovery_bluez_gone(struct daemon *d)
{
        stop_timer(d);
        d->discovery_adapter = NULL;
}
