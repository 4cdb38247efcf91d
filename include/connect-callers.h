/* The Manager1.Connect calls waiting for one connection.
 *
 * A Connect of a speaker that is being connected already (tapped twice,
 * an app asking again after its own D-Bus timeout, the daemon's own
 * reconnect under way) joins that connection: no second page, and every
 * caller gets the same answer once it ends. The callers are bounded (a
 * client asking in a loop must not grow our memory), and one that leaves
 * the bus while waiting is dropped unanswered, freeing its place: each
 * caller's name is watched with a NameOwnerChanged match while it waits. */
#ifndef A2DPSRC_CONNECT_CALLERS_H
#define A2DPSRC_CONNECT_CALLERS_H

#include <dbus/dbus.h>
#include <stdbool.h>

/* a double tap and a few retries of an impatient app; more is a client
 * gone wrong */
#define CONNECT_CALLERS_MAX 8

struct connect_callers {
        DBusMessage *call[CONNECT_CALLERS_MAX];
        unsigned n;
        /* asked for by a caller, who may have left since: a user's
         * connection, not an automatic reconnect */
        bool asked;
};

/* Adds call (referenced) to those waiting: 0, or -ENOSPC when
 * CONNECT_CALLERS_MAX wait already (call is not answered: the caller's
 * to do). */
int connect_callers_add(DBusConnection *conn, struct connect_callers *c, DBusMessage *call);
/* Moves the calls out (their references to out, at most
 * CONNECT_CALLERS_MAX) and empties c; returns how many. */
/* connect_callers_add for a Connect of address; when too many wait
 * already, call is answered InProgress saying so. True when it waits. */
bool connect_callers_join(DBusConnection *conn, struct connect_callers *c, DBusMessage *call,
                          const char *address);
unsigned connect_callers_take(DBusConnection *conn, struct connect_callers *c, DBusMessage **out);
/* Answers every caller alike (err_name NULL: success) and empties c. */
void connect_callers_finish(DBusConnection *conn, struct connect_callers *c, const char *err_name,
                            const char *text);
/* The bus name `name` left: its calls are dropped unanswered. True when
 * any was. */
bool connect_callers_gone(DBusConnection *conn, struct connect_callers *c, const char *name);
/* The bus name that left, when msg is the bus's NameOwnerChanged saying a
 * unique name is gone; else NULL. */
const char *connect_callers_left_bus(DBusMessage *msg);

#endif
