/* Small helpers over libdbus: asynchronous calls with a callback, error
 * replies, and reading a{sv} dictionaries without trusting their types. */
#ifndef A2DPSRC_DBUS_UTIL_H
#define A2DPSRC_DBUS_UTIL_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdaddr.h"

/* reply is NULL when the call failed; err then says why. */
typedef void (*dbus_reply_cb)(DBusMessage *reply, const DBusError *err, void *userdata);

/* Sends msg (consumed) and calls cb on the reply. *pending (may be NULL)
 * receives the call, to cancel with dbus_call_cancel if userdata dies first. */
int dbus_call_async(DBusConnection *conn, DBusMessage *msg, int timeout_ms,
                    dbus_reply_cb cb, void *userdata, DBusPendingCall **pending);
void dbus_call_cancel(DBusPendingCall **pending);

/* Replies with an error; returns DBUS_HANDLER_RESULT_HANDLED. */
DBusHandlerResult dbus_reply_error(DBusConnection *conn, DBusMessage *call,
                                   const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Replies with no arguments. */
DBusHandlerResult dbus_reply_empty(DBusConnection *conn, DBusMessage *call);
/* Sends (and unrefs) a reply built by the caller; NULL means out of memory. */
DBusHandlerResult dbus_send_reply(DBusConnection *conn, DBusMessage *reply);

/* Walks an a{sv} at iter: for each entry calls fn(key, variant_iter). A
 * negative return from fn stops the walk and is returned. -EINVAL when the
 * iterator is not at an a{sv}. */
typedef int (*dbus_dict_fn)(const char *key, DBusMessageIter *value, void *userdata);
int dbus_dict_foreach(DBusMessageIter *iter, dbus_dict_fn fn, void *userdata);

/* PropertiesChanged: true when name is among the invalidated properties
 * that follow the changed dictionary at changed (not moved). */
bool dbus_invalidated_has(const DBusMessageIter *changed, const char *name);

/* Typed reads of a variant's content; -EINVAL when the type differs. */
int dbus_variant_get_basic(DBusMessageIter *variant, int type, void *out);
/* "ay" in a variant (or at iter directly when variant is false). */
int dbus_iter_get_bytes(DBusMessageIter *iter, bool variant, const uint8_t **bytes, int *len);
/* "as" in a variant: calls fn for each string. */
int dbus_variant_foreach_string(DBusMessageIter *variant,
                                int (*fn)(const char *s, void *ud), void *ud);

/* Appends a{sv} entries to an open dict container. */
bool dbus_dict_append_basic(DBusMessageIter *dict, const char *key, int type, const void *value);
/* A Properties.Set call to dest for one basic-typed value; NULL on no memory. */
DBusMessage *dbus_new_set_property(const char *dest, const char *path, const char *iface,
                                   const char *name, int type, const void *value);
bool dbus_dict_append_bytes(DBusMessageIter *dict, const char *key, const uint8_t *bytes, int len);


#endif
