/* a2dpsrcctl's calls to a2dpsrcd (ctl-bus.h). */
#include <stdio.h>
#include <string.h>

#include "ctl-bus.h"

int ctl_report(const struct ctl *c, const DBusError *e)
{
        char text[512];
        bool not_running;

        ctl_error_text(e->name, e->message, c->args->timeout_ms, text, sizeof(text), &not_running);
        fprintf(stderr, "a2dpsrcctl: %s\n", text);
        if (c->args->verbose)
                fprintf(stderr, "a2dpsrcctl: D-Bus error %s: %s\n", e->name,
                        e->message ? e->message : "");
        return CTL_EXIT_FAILED;
}

int ctl_out_of_memory(void)
{
        fprintf(stderr, "a2dpsrcctl: out of memory\n");
        return CTL_EXIT_FAILED;
}

/* Sends m (consumed) and waits. NULL after the error was printed. */
DBusMessage *ctl_call(const struct ctl *c, DBusMessage *m)
{
        DBusMessage *reply;
        DBusError e;

        if (!m) {
                ctl_out_of_memory();
                return NULL;
        }
        dbus_error_init(&e);
        reply = dbus_connection_send_with_reply_and_block(c->conn, m, c->args->timeout_ms, &e);
        dbus_message_unref(m);
        if (!reply) {
                ctl_report(c, &e);
                dbus_error_free(&e);
        }
        return reply;
}

/* Sends m (consumed) for a reply that carries nothing: the exit status. */
int ctl_call_empty(const struct ctl *c, DBusMessage *m)
{
        DBusMessage *reply = ctl_call(c, m);

        if (!reply)
                return CTL_EXIT_FAILED;
        dbus_message_unref(reply);
        return CTL_EXIT_OK;
}

DBusMessage *ctl_method(const char *member)
{
        return dbus_message_new_method_call(CTL_BUS_NAME, CTL_PATH, CTL_IFACE, member);
}

/* A method with no argument or one string; the reply carries nothing. */
int ctl_call_simple(const struct ctl *c, const char *member, const char *arg)
{
        DBusMessage *m = ctl_method(member);

        if (m && arg && !dbus_message_append_args(m, DBUS_TYPE_STRING, &arg, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        return ctl_call_empty(c, m);
}

int ctl_call_address_and(const struct ctl *c, const char *member, int type, const void *value)
{
        DBusMessage *m = ctl_method(member);
        const char *addr = c->args->address;

        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &addr, type, value, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        return ctl_call_empty(c, m);
}

/* Properties.Get: *reply holds the message *value points into. */
int ctl_get_property(const struct ctl *c, const char *name, DBusMessage **reply,
                     DBusMessageIter *value)
{
        DBusMessage *m = dbus_message_new_method_call(CTL_BUS_NAME, CTL_PATH, PROPERTIES_IFACE, "Get");
        const char *iface = CTL_IFACE;
        DBusMessageIter it;

        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
                                           DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        *reply = ctl_call(c, m);
        if (!*reply)
                return CTL_EXIT_FAILED;
        if (!dbus_message_iter_init(*reply, &it) ||
            dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_VARIANT) {
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent a malformed %s\n", name);
                dbus_message_unref(*reply);
                *reply = NULL;
                return CTL_EXIT_FAILED;
        }
        dbus_message_iter_recurse(&it, value);
        return CTL_EXIT_OK;
}

/* Properties.Set, up to the open variant; fill it, then set_property_send. */
DBusMessage *ctl_set_property_begin(const char *name, const char *sig, DBusMessageIter *it,
                                    DBusMessageIter *var)
{
        DBusMessage *m = dbus_message_new_method_call(CTL_BUS_NAME, CTL_PATH, PROPERTIES_IFACE, "Set");
        const char *iface = CTL_IFACE;

        if (!m)
                return NULL;
        dbus_message_iter_init_append(m, it);
        if (!dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &iface) ||
            !dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &name) ||
            !dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, sig, var)) {
                dbus_message_unref(m);
                return NULL;
        }
        return m;
}

int ctl_set_property_send(const struct ctl *c, DBusMessage *m, DBusMessageIter *it,
                          DBusMessageIter *var)
{
        if (!dbus_message_iter_close_container(it, var)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        return ctl_call_empty(c, m);
}

int ctl_set_basic(const struct ctl *c, const char *name, int type, const void *value)
{
        char sig[2] = { (char)type, '\0' };
        DBusMessageIter it, var;
        DBusMessage *m = ctl_set_property_begin(name, sig, &it, &var);

        if (!m)
                return ctl_out_of_memory();
        if (!dbus_message_iter_append_basic(&var, type, value)) {
                dbus_message_iter_abandon_container(&it, &var);
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        return ctl_set_property_send(c, m, &it, &var);
}
