#include "rtkit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#define RTKIT_SERVICE "org.freedesktop.RealtimeKit1"
#define RTKIT_PATH "/org/freedesktop/RealtimeKit1"

static int get_int_property(DBusConnection *conn, const char *name, int type, void *out)
{
        const char *iface = RTKIT_SERVICE;
        DBusMessage *m, *reply;
        DBusMessageIter it, var;
        int r = -EIO;

        m = dbus_message_new_method_call(RTKIT_SERVICE, RTKIT_PATH, DBUS_INTERFACE_PROPERTIES, "Get");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
                                            DBUS_TYPE_INVALID)) {
                if (m)
                        dbus_message_unref(m);
                return -ENOMEM;
        }
        reply = dbus_connection_send_with_reply_and_block(conn, m, 1000, NULL);
        dbus_message_unref(m);
        if (!reply)
                return -ENOENT;
        if (dbus_message_iter_init(reply, &it) && dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
                dbus_message_iter_recurse(&it, &var);
                if (dbus_message_iter_get_arg_type(&var) == type) {
                        dbus_message_iter_get_basic(&var, out);
                        r = 0;
                }
        }
        dbus_message_unref(reply);
        return r;
}

int rtkit_make_realtime(DBusConnection *conn, pid_t tid, int priority, char *err, size_t err_len)
{
        int32_t max_prio = 0;
        int64_t max_rttime = 0;
        uint64_t thread = (uint64_t)tid;
        uint32_t prio;
        struct rlimit rl;
        DBusMessage *m, *reply;
        DBusError derr;

        /* rtkit only serves processes that cap their real-time CPU time,
         * so a runaway thread cannot freeze the board */
        if (get_int_property(conn, "MaxRealtimePriority", DBUS_TYPE_INT32, &max_prio) < 0 ||
            get_int_property(conn, "RTTimeUSecMax", DBUS_TYPE_INT64, &max_rttime) < 0) {
                snprintf(err, err_len, "rtkit is not available");
                return -ENOENT;
        }
        /* the unit's LimitRTTIME= is usually tighter already: then no
         * setrlimit (which the unit's system call filter refuses) */
        if (getrlimit(RLIMIT_RTTIME, &rl) < 0 || rl.rlim_max > (rlim_t)max_rttime) {
                rl.rlim_cur = rl.rlim_max = (rlim_t)max_rttime;
                if (setrlimit(RLIMIT_RTTIME, &rl) < 0) {
                        snprintf(err, err_len, "cannot limit RLIMIT_RTTIME for rtkit");
                        return -errno;
                }
        }
        prio = (uint32_t)(priority < max_prio ? priority : max_prio);
        m = dbus_message_new_method_call(RTKIT_SERVICE, RTKIT_PATH, RTKIT_SERVICE, "MakeThreadRealtime");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_UINT64, &thread, DBUS_TYPE_UINT32, &prio,
                                            DBUS_TYPE_INVALID)) {
                if (m)
                        dbus_message_unref(m);
                return -ENOMEM;
        }
        dbus_error_init(&derr);
        reply = dbus_connection_send_with_reply_and_block(conn, m, 2000, &derr);
        dbus_message_unref(m);
        if (!reply) {
                snprintf(err, err_len, "rtkit refused: %s", derr.message ? derr.message : derr.name);
                dbus_error_free(&derr);
                return -EPERM;
        }
        dbus_message_unref(reply);
        return (int)prio;
}
