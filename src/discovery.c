/* Scanning for speakers on behalf of a D-Bus client (the companion app).
 * BlueZ ties discovery to the client that started it — here, the daemon —
 * so the daemon ties it to the app in turn: when the app leaves the bus,
 * or after a time limit, discovery stops. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define ERR_PREFIX "org.a2dpsrc.Error."
/* A forgotten scan must not run for ever (it costs radio time). */
#define DISCOVERY_MAX_S 300

static sd_event_source *limit_timer;

struct call_ctx {
        struct daemon *d;
        DBusMessage *call;
        bool start;
};

static void owner_match(struct daemon *d, const char *owner, bool add)
{
        char rule[256];

        snprintf(rule, sizeof(rule),
                 "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                 "member='NameOwnerChanged',arg0='%s'", owner);
        if (add)
                dbus_bus_add_match(d->conn, rule, NULL);
        else
                dbus_bus_remove_match(d->conn, rule, NULL);
}

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

struct owner_check {
        struct daemon *d;
        char name[64];
};

static void on_owner_check(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct owner_check *c = ud;
        dbus_bool_t has = TRUE;

        if (reply && dbus_message_get_args(reply, NULL, DBUS_TYPE_BOOLEAN, &has, DBUS_TYPE_INVALID) &&
            !has)
                discovery_client_gone(c->d, c->name);
        free(c);
}

/* A client may leave before its call is even read: its NameOwnerChanged
 * then came before our match for it. Asked after the match is added (the
 * bus keeps our messages in order), so no departure falls in between. */
static void check_owner_still_there(struct daemon *d, const char *name)
{
        struct owner_check *c = calloc(1, sizeof(*c));
        DBusMessage *m;

        if (!c)
                return;
        c->d = d;
        snprintf(c->name, sizeof(c->name), "%s", name);
        m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                         "NameHasOwner");
        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                m = NULL;
        }
        /* takes m, even when it fails */
        if (dbus_call_async(d->conn, m, 5000, on_owner_check, c, NULL) < 0)
                free(c);
}

static void forget_owner(struct daemon *d)
{
        if (d->discovery_owner[0])
                owner_match(d, d->discovery_owner, false);
        d->discovery_owner[0] = '\0';
        sd_event_source_disable_unref(limit_timer);
        limit_timer = NULL;
}

static void on_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct call_ctx *ctx = ud;
        struct daemon *d = ctx->d;

        /* BlueZ's InProgress on start means it is already scanning for us */
        if (!reply && !(ctx->start && dbus_error_has_name(err, "org.bluez.Error.InProgress"))) {
                if (ctx->start) {
                        forget_owner(d);
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

static int on_limit(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;

        log_info("discovery ran for %d s; stopping it", DISCOVERY_MAX_S);
        discovery_stop(d, NULL);
        return 0;
}

int discovery_start(struct daemon *d, DBusMessage *call)
{
        struct adapter *a = bluez_default_adapter(d);
        const char *sender = dbus_message_get_sender(call);

        if (!a || !a->powered) {
                dbus_reply_error(d->conn, call, ERR_PREFIX "NotAvailable", "%s",
                                 a ? "The Bluetooth adapter is powered off"
                                   : "No Bluetooth adapter is available");
                return -ENODEV;
        }
        if (d->discovery_owner[0] && sender && strcmp(sender, d->discovery_owner) != 0)
                forget_owner(d);   /* the newest asker owns the scan */
        if (sender && !d->discovery_owner[0]) {
                snprintf(d->discovery_owner, sizeof(d->discovery_owner), "%s", sender);
                owner_match(d, sender, true);
                check_owner_still_there(d, sender);
        }
        d->discovery_adapter = a;
        sd_event_source_disable_unref(limit_timer);
        limit_timer = NULL;
        sd_event_add_time_relative(d->event, &limit_timer, CLOCK_MONOTONIC,
                                   (uint64_t)DISCOVERY_MAX_S * 1000000, 1000000, on_limit, d);
        if (send_discovery(d, a, true, call) < 0) {
                forget_owner(d);
                dbus_reply_error(d->conn, call, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return -ENOTCONN;
        }
        log_info("discovery started for %s", sender ? sender : "?");
        return 0;
}

int discovery_stop(struct daemon *d, DBusMessage *call)
{
        struct adapter *a = scan_adapter(d);

        forget_owner(d);
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

void discovery_client_gone(struct daemon *d, const char *name)
{
        if (!d->discovery_owner[0] || strcmp(name, d->discovery_owner) != 0)
                return;
        log_info("%s left the bus; stopping its discovery", name);
        discovery_stop(d, NULL);
}

void discovery_bluez_gone(struct daemon *d)
{
        forget_owner(d);
        d->discovery_adapter = NULL;
}
