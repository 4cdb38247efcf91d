/* a2dpsrcctl's calls to a2dpsrcd over the system bus: methods and
 * properties of org.a2dpsrc.Manager1, with a D-Bus error printed once, in
 * words (ctl_error_text), where it happens. */
#ifndef A2DPSRC_CTL_BUS_H
#define A2DPSRC_CTL_BUS_H

#include <dbus/dbus.h>

#include "ctl-format.h"

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

struct ctl {
        DBusConnection *conn;
        const struct ctl_args *args;
};

/* Prints e in words; returns CTL_EXIT_FAILED. */
int ctl_report(const struct ctl *c, const DBusError *e);
int ctl_out_of_memory(void);
/* Sends m (consumed) and waits. NULL after the error was printed. */
DBusMessage *ctl_call(const struct ctl *c, DBusMessage *m);
/* Sends m (consumed) for a reply that carries nothing: the exit status. */
int ctl_call_empty(const struct ctl *c, DBusMessage *m);
/* A Manager1 method call, no arguments yet. */
DBusMessage *ctl_method(const char *member);
/* A method with no argument or one string; the reply carries nothing. */
int ctl_call_simple(const struct ctl *c, const char *member, const char *arg);
/* member(args->address, one value of a basic type), no reply value: the
 * per-speaker settings (SetSbcXq, SetSpeakerDelay). */
int ctl_call_address_and(const struct ctl *c, const char *member, int type, const void *value);
/* Properties.Get: *reply holds the message *value points into. */
int ctl_get_property(const struct ctl *c, const char *name, DBusMessage **reply,
                     DBusMessageIter *value);
/* Properties.Set, up to the open variant; fill it, then ctl_set_property_send. */
DBusMessage *ctl_set_property_begin(const char *name, const char *sig, DBusMessageIter *it,
                                    DBusMessageIter *var);
int ctl_set_property_send(const struct ctl *c, DBusMessage *m, DBusMessageIter *it,
                          DBusMessageIter *var);
int ctl_set_basic(const struct ctl *c, const char *name, int type, const void *value);

/* The codec commands (ctl-codecs.c). */
int ctl_cmd_codec(const struct ctl *c);
int ctl_cmd_codecs(const struct ctl *c);

#endif
