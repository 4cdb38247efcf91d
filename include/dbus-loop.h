/* Runs a libdbus connection on an sd-event loop: watches become I/O
 * sources, timeouts become timers, and dispatching happens from a defer
 * source whenever libdbus has queued messages. */
#ifndef A2DPSRC_DBUS_LOOP_H
#define A2DPSRC_DBUS_LOOP_H

#include <dbus/dbus.h>
#include <systemd/sd-event.h>

int dbus_loop_attach(DBusConnection *conn, sd_event *event);
void dbus_loop_detach(DBusConnection *conn);

#endif
