#include "dbus-util.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct call_ctx {
        dbus_reply_cb cb;
        void *userdata;
};

static void on_pending_done(DBusPendingCall *call, void *data)
{
        struct call_ctx *ctx = data;
        DBusMessage *reply = dbus_pending_call_steal_reply(call);
        DBusError err;

        dbus_error_init(&err);
        if (!reply) {
                dbus_set_error_const(&err, DBUS_ERROR_NO_REPLY, "no reply");
                ctx->cb(NULL, &err, ctx->userdata);
        } else if (dbus_set_error_from_message(&err, reply)) {
                ctx->cb(NULL, &err, ctx->userdata);
        } else {
                ctx->cb(reply, &err, ctx->userdata);
        }
        dbus_error_free(&err);
        if (reply)
                dbus_message_unref(reply);
}

int dbus_call_async(DBusConnection *conn, DBusMessage *msg, int timeout_ms,
                    dbus_reply_cb cb, void *userdata, DBusPendingCall **pending)
{
        DBusPendingCall *call = NULL;
        struct call_ctx *ctx;

        if (!msg)
                return -ENOMEM;
        ctx = malloc(sizeof(*ctx));
        if (!ctx) {
                dbus_message_unref(msg);
                return -ENOMEM;
        }
        ctx->cb = cb;
        ctx->userdata = userdata;
        if (!dbus_connection_send_with_reply(conn, msg, &call, timeout_ms) || !call) {
                dbus_message_unref(msg);
                free(ctx);
                /* a NULL call means the connection is already closed */
                return call ? -ENOMEM : -ENOTCONN;
        }
        dbus_message_unref(msg);
        if (!dbus_pending_call_set_notify(call, on_pending_done, ctx, free)) {
                dbus_pending_call_cancel(call);
                dbus_pending_call_unref(call);
                free(ctx);
                return -ENOMEM;
        }
        if (pending)
                *pending = call;
        else
                dbus_pending_call_unref(call);
        return 0;
}

void dbus_call_cancel(DBusPendingCall **pending)
{
        if (!*pending)
                return;
        dbus_pending_call_cancel(*pending);
        dbus_pending_call_unref(*pending);
        *pending = NULL;
}

DBusHandlerResult dbus_send_reply(DBusConnection *conn, DBusMessage *reply)
{
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_connection_send(conn, reply, NULL);
        dbus_message_unref(reply);
        return DBUS_HANDLER_RESULT_HANDLED;
}

DBusHandlerResult dbus_reply_error(DBusConnection *conn, DBusMessage *call,
                                   const char *name, const char *fmt, ...)
{
        char text[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        /* a name in it may have been cut to fit (libdbus aborts on a
         * split character) */
        utf8_copy(text, sizeof(text), text);
        if (dbus_message_get_no_reply(call))
                return DBUS_HANDLER_RESULT_HANDLED;
        return dbus_send_reply(conn, dbus_message_new_error(call, name, text));
}

DBusHandlerResult dbus_reply_empty(DBusConnection *conn, DBusMessage *call)
{
        if (dbus_message_get_no_reply(call))
                return DBUS_HANDLER_RESULT_HANDLED;
        return dbus_send_reply(conn, dbus_message_new_method_return(call));
}

int dbus_dict_foreach(DBusMessageIter *iter, dbus_dict_fn fn, void *userdata)
{
        DBusMessageIter dict;

        if (dbus_message_iter_get_arg_type(iter) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(iter) != DBUS_TYPE_DICT_ENTRY)
                return -EINVAL;
        dbus_message_iter_recurse(iter, &dict);
        while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
                DBusMessageIter entry, value;
                const char *key;
                int r;

                dbus_message_iter_recurse(&dict, &entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_STRING)
                        return -EINVAL;
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_VARIANT)
                        return -EINVAL;
                dbus_message_iter_recurse(&entry, &value);
                r = fn(key, &value, userdata);
                if (r < 0)
                        return r;
                dbus_message_iter_next(&dict);
        }
        return 0;
}

int dbus_variant_get_basic(DBusMessageIter *variant, int type, void *out)
{
        if (dbus_message_iter_get_arg_type(variant) != type)
                return -EINVAL;
        dbus_message_iter_get_basic(variant, out);
        return 0;
}

int dbus_iter_get_bytes(DBusMessageIter *iter, bool variant, const uint8_t **bytes, int *len)
{
        DBusMessageIter inner, arr;

        if (variant) {
                if (dbus_message_iter_get_arg_type(iter) == DBUS_TYPE_VARIANT) {
                        dbus_message_iter_recurse(iter, &inner);
                        iter = &inner;
                }
        }
        if (dbus_message_iter_get_arg_type(iter) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(iter) != DBUS_TYPE_BYTE)
                return -EINVAL;
        dbus_message_iter_recurse(iter, &arr);
        *bytes = NULL;
        *len = 0;
        if (dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_BYTE)
                dbus_message_iter_get_fixed_array(&arr, bytes, len);
        return 0;
}

int dbus_variant_foreach_string(DBusMessageIter *variant,
                                int (*fn)(const char *s, void *ud), void *ud)
{
        DBusMessageIter arr;

        if (dbus_message_iter_get_arg_type(variant) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(variant) != DBUS_TYPE_STRING)
                return -EINVAL;
        dbus_message_iter_recurse(variant, &arr);
        while (dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRING) {
                const char *s;
                int r;

                dbus_message_iter_get_basic(&arr, &s);
                r = fn(s, ud);
                if (r < 0)
                        return r;
                dbus_message_iter_next(&arr);
        }
        return 0;
}

static const char *type_sig(int type)
{
        switch (type) {
        case DBUS_TYPE_BOOLEAN: return DBUS_TYPE_BOOLEAN_AS_STRING;
        case DBUS_TYPE_BYTE: return DBUS_TYPE_BYTE_AS_STRING;
        case DBUS_TYPE_UINT16: return DBUS_TYPE_UINT16_AS_STRING;
        case DBUS_TYPE_INT16: return DBUS_TYPE_INT16_AS_STRING;
        case DBUS_TYPE_UINT32: return DBUS_TYPE_UINT32_AS_STRING;
        case DBUS_TYPE_INT32: return DBUS_TYPE_INT32_AS_STRING;
        case DBUS_TYPE_UINT64: return DBUS_TYPE_UINT64_AS_STRING;
        case DBUS_TYPE_INT64: return DBUS_TYPE_INT64_AS_STRING;
        case DBUS_TYPE_DOUBLE: return DBUS_TYPE_DOUBLE_AS_STRING;
        case DBUS_TYPE_OBJECT_PATH: return DBUS_TYPE_OBJECT_PATH_AS_STRING;
        default: return DBUS_TYPE_STRING_AS_STRING;
        }
}

bool dbus_dict_append_basic(DBusMessageIter *dict, const char *key, int type, const void *value)
{
        DBusMessageIter entry, var;

        return dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) &&
               dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) &&
               dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, type_sig(type), &var) &&
               dbus_message_iter_append_basic(&var, type, value) &&
               dbus_message_iter_close_container(&entry, &var) &&
               dbus_message_iter_close_container(dict, &entry);
}

DBusMessage *dbus_new_set_property(const char *dest, const char *path, const char *iface,
                                   const char *name, int type, const void *value)
{
        DBusMessage *m = dbus_message_new_method_call(dest, path, DBUS_INTERFACE_PROPERTIES, "Set");
        DBusMessageIter it, var;

        if (!m)
                return NULL;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface) ||
            !dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &name) ||
            !dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, type_sig(type), &var) ||
            !dbus_message_iter_append_basic(&var, type, value) ||
            !dbus_message_iter_close_container(&it, &var)) {
                dbus_message_unref(m);
                return NULL;
        }
        return m;
}

bool dbus_dict_append_bytes(DBusMessageIter *dict, const char *key, const uint8_t *bytes, int len)
{
        DBusMessageIter entry, var, arr;

        return dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) &&
               dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) &&
               dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "ay", &var) &&
               dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "y", &arr) &&
               dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &bytes, len) &&
               dbus_message_iter_close_container(&var, &arr) &&
               dbus_message_iter_close_container(&entry, &var) &&
               dbus_message_iter_close_container(dict, &entry);
}

bool dbus_invalidated_has(const DBusMessageIter *changed, const char *name)
{
        DBusMessageIter inv = *changed, names;

        if (!dbus_message_iter_next(&inv) || dbus_message_iter_get_arg_type(&inv) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(&inv) != DBUS_TYPE_STRING)
                return false;
        dbus_message_iter_recurse(&inv, &names);
        for (; dbus_message_iter_get_arg_type(&names) == DBUS_TYPE_STRING; dbus_message_iter_next(&names)) {
                const char *n;

                dbus_message_iter_get_basic(&names, &n);
                if (strcmp(n, name) == 0)
                        return true;
        }
        return false;
}
