/* The Manager1.Connect calls waiting for one connection
 * (connect-callers.h). */
#include "connect-callers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dbus-util.h"

static bool has_sender(const struct connect_callers *c, const char *name)
{
        for (unsigned i = 0; i < c->n; i++) {
                const char *s = dbus_message_get_sender(c->call[i]);

                if (s && strcmp(s, name) == 0)
                        return true;
        }
        return false;
}

/* Watches (or stops watching) name leaving the bus. Not waited for: a
 * rule the bus refuses only costs the early drop of a gone caller. */
static void watch(DBusConnection *conn, const char *name, bool on)
{
        char rule[256];

        snprintf(rule, sizeof(rule),
                 "type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS
                 "',member='NameOwnerChanged',arg0='%s'", name);
        if (on)
                dbus_bus_add_match(conn, rule, NULL);
        else
                dbus_bus_remove_match(conn, rule, NULL);
}

int connect_callers_add(DBusConnection *conn, struct connect_callers *c, DBusMessage *call)
{
        const char *sender = dbus_message_get_sender(call);

        if (c->n == CONNECT_CALLERS_MAX)
                return -ENOSPC;
        if (sender && !has_sender(c, sender))
                watch(conn, sender, true);
        c->call[c->n++] = dbus_message_ref(call);
        c->asked = true;
        return 0;
}

bool connect_callers_join(DBusConnection *conn, struct connect_callers *c, DBusMessage *call,
                          const char *address)
{
        if (connect_callers_add(conn, c, call) == 0)
                return true;
        dbus_reply_error(conn, call, "org.a2dpsrc.Error.InProgress", "%u Connect calls wait for %s "
                         "already; try again once it is connected", CONNECT_CALLERS_MAX, address);
        return false;
}

/* Lets go of call i, answered or not; the sender is no longer watched
 * when it has no other call waiting. */
static void drop(DBusConnection *conn, struct connect_callers *c, unsigned i)
{
        DBusMessage *call = c->call[i];
        const char *sender = dbus_message_get_sender(call);

        c->call[i] = c->call[--c->n];
        c->call[c->n] = NULL;
        if (sender && !has_sender(c, sender))
                watch(conn, sender, false);
        dbus_message_unref(call);
}

unsigned connect_callers_take(DBusConnection *conn, struct connect_callers *c, DBusMessage **out)
{
        unsigned n = 0;

        while (c->n) {
                out[n++] = dbus_message_ref(c->call[0]);
                drop(conn, c, 0);
        }
        c->asked = false;
        return n;
}

void connect_callers_finish(DBusConnection *conn, struct connect_callers *c, const char *err_name,
                            const char *text)
{
        DBusMessage *calls[CONNECT_CALLERS_MAX];
        /* taken out before answering: nothing answers a caller twice */
        unsigned n = connect_callers_take(conn, c, calls);

        for (unsigned i = 0; i < n; i++) {
                if (err_name)
                        dbus_reply_error(conn, calls[i], err_name, "%s", text);
                else
                        dbus_reply_empty(conn, calls[i]);
                dbus_message_unref(calls[i]);
        }
}

bool connect_callers_gone(DBusConnection *conn, struct connect_callers *c, const char *name)
{
        bool any = false;

        for (unsigned i = 0; i < c->n;) {
                const char *s = dbus_message_get_sender(c->call[i]);

                if (s && strcmp(s, name) == 0) {
                        drop(conn, c, i);
                        any = true;
                } else {
                        i++;
                }
        }
        return any;
}

const char *connect_callers_left_bus(DBusMessage *msg)
{
        const char *name, *old_owner, *new_owner;

        /* any client may send the same signal unicast: only the bus's counts */
        if (!dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged") ||
            !dbus_message_has_sender(msg, DBUS_SERVICE_DBUS) ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner,
                                   DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID))
                return NULL;
        return name[0] == ':' && old_owner[0] && !new_owner[0] ? name : NULL;
}
