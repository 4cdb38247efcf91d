#include "connect-calloff.h"

#include <stdio.h>
#include <strings.h>

#include "log.h"

#define BLUEZ_SERVICE "org.bluez"
/* bluetoothd answers once the link is down: its own disconnect timer is
 * 2 s (DISCONNECT_TIMER), the controller's supervision a few more */
#define CALLOFF_TIMEOUT_MS 10000

int calloff_send(DBusConnection *conn, struct calloff *c, const char *path, const char *address,
                 dbus_reply_cb cb, void *ud)
{
        DBusMessage *m = dbus_message_new_method_call(BLUEZ_SERVICE, path, "org.bluez.Device1", "Disconnect");
        DBusPendingCall *call = NULL;
        int r;

        r = dbus_call_async(conn, m, CALLOFF_TIMEOUT_MS, cb, ud, &call);
        if (r < 0)
                return r;
        calloff_cancel(c);
        c->call = call;
        snprintf(c->address, sizeof(c->address), "%s", address);
        return 0;
}

bool calloff_waiting(const struct calloff *c, const char *address)
{
        return c->call && (!address || strcasecmp(c->address, address) == 0);
}

void calloff_answered(struct calloff *c, const DBusError *err, char *address)
{
        snprintf(address, sizeof(c->address), "%s", c->address);
        if (c->call)
                dbus_pending_call_unref(c->call);
        c->call = NULL;
        if (err)
                log_debug("calling off the connection to %s: %s", address, err->message);
}

bool calloff_drop_unanswered(DBusPendingCall **pending, char *inflight, const char *address)
{
        if (!*pending || strcasecmp(inflight, address) != 0)
                return false;
        log_info("bluetoothd dropped the connection to %s unanswered", address);
        dbus_call_cancel(pending);
        inflight[0] = '\0';
        return true;
}

void calloff_cancel(struct calloff *c)
{
        dbus_call_cancel(&c->call);
}
