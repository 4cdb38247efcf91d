/* A Connect while a connection a caller asked for runs
 * (connect-callers.h): one of that speaker waits for it and is answered
 * with its outcome; one of another speaker is refused. */
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define ERR_PREFIX "org.a2dpsrc.Error."

bool connect_join(struct daemon *d, const struct device *dev, DBusMessage *call)
{
        bool first = d->connect_calls.asked;
        struct connect_callers *c = first ? &d->connect_calls : &d->connect2_calls;
        const char *busy = first ? d->connecting : d->connecting2;

        /* the first output asked for again while the second joins: the
         * usual way (it plays already) */
        if (!c->asked || (!first && strcasecmp(dev->address, d->output) == 0))
                return false;
        /* the first caller's choice stands until a Disconnect */
        if (strcasecmp(busy, dev->address) != 0)
                dbus_reply_error(d->conn, call, ERR_PREFIX "InProgress", "connecting %s is in progress "
                                 "(asked by another Connect); Disconnect first to connect %s instead",
                                 busy, dev->address);
        else if (connect_callers_join(d->conn, c, call, busy))
                log_debug("another Connect waits for the connection to %s under way", busy);
        return true;
}

bool connect_join_pairing(struct daemon *d, const struct device *dev, DBusMessage *call)
{
        if (!d->pair_call || !d->pair_done || d->pair_called_off || strcasecmp(d->pairing, dev->address) != 0)
                return false;
        if (connect_callers_add(d->conn, &d->pair_joined, call) < 0)
                dbus_reply_error(d->conn, call, ERR_PREFIX "InProgress", "%u more Connect calls wait for "
                                 "the pairing with %s already; try again once it is connected",
                                 CONNECT_CALLERS_MAX, dev->address);
        else
                log_debug("another Connect waits for the pairing with %s under way", dev->address);
        return true;
}

void connect_join_caller_left(struct daemon *d, const char *name)
{
        bool first = connect_callers_gone(d->conn, &d->connect_calls, name);
        bool second = connect_callers_gone(d->conn, &d->connect2_calls, name);
        bool pairing = connect_callers_gone(d->conn, &d->pair_joined, name);

        if (first || second || pairing)
                log_debug("%s left the bus while its Connect waited; the connection goes on", name);
}
