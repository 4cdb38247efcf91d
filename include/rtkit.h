/* Real-time scheduling through rtkit (org.freedesktop.RealtimeKit1), for
 * systems where the daemon has no CAP_SYS_NICE of its own. */
#ifndef A2DPSRC_RTKIT_H
#define A2DPSRC_RTKIT_H

#include <dbus/dbus.h>
#include <sys/types.h>

/* Asks rtkit to make thread tid of this process SCHED_FIFO at priority
 * (capped at rtkit's maximum, 20 by default). Returns the priority
 * granted, or a negative errno; err says why. */
int rtkit_make_realtime(DBusConnection *conn, pid_t tid, int priority, char *err, size_t err_len);

#endif
