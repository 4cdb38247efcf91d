/* A Disconnect sent to call off a ConnectProfile still in flight.
 *
 * bluetoothd 5.66 (device.c device_request_disconnect) answers it only once
 * that connection attempt is over: the attempt's own answer, when it gets
 * one (br-connection-canceled, or success if it won the race), comes first
 * on the bus; an attempt still searching the speaker's services gets none
 * at all (browse_request_cancel frees its message). So the Disconnect's
 * answer is what says the attempt is over, and what comes next (another
 * speaker, or the same one wanted again) waits for it. */
#ifndef A2DPSRC_CONNECT_CALLOFF_H
#define A2DPSRC_CONNECT_CALLOFF_H

#include <dbus/dbus.h>
#include <stdbool.h>

#include "dbus-util.h"

struct calloff {
        DBusPendingCall *call;          /* the Disconnect, until answered */
        char address[18];               /* whose connection it calls off */
};

/* Sends Disconnect to the device at path (address): cb(ud) gets the
 * answer, and calloff_answered must be called from it first. A call off
 * already waiting is superseded. Negative errno when it could not be sent
 * (nothing is then waited for). */
int calloff_send(DBusConnection *conn, struct calloff *c, const char *path, const char *address,
                 dbus_reply_cb cb, void *ud);
/* True while a Disconnect calling off address's connection is unanswered
 * (address NULL: anyone's). */
bool calloff_waiting(const struct calloff *c, const char *address);
/* The Disconnect is answered (err: why it failed, or NULL); address (18
 * bytes) gets whose connection it called off. */
void calloff_answered(struct calloff *c, const DBusError *err, char *address);
/* The ConnectProfile in *pending to inflight, when it is to address and
 * still unanswered, never will be (5.66 dropped it with its service
 * search): cancelled, and inflight cleared. True when it was. */
bool calloff_drop_unanswered(DBusPendingCall **pending, char *inflight, const char *address);
/* At shutdown: its answer is no longer wanted. */
void calloff_cancel(struct calloff *c);

#endif
