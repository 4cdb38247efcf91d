/* a2dpsrcctl outputs: one line per speaker of Manager1.GetOutputs(), from
 * its a{sv}. Pure: the unit tests build the messages. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl-format.h"

static const char *string_of(DBusMessageIter *v)
{
        const char *s = NULL;

        if (dbus_message_iter_get_arg_type(v) == DBUS_TYPE_STRING)
                dbus_message_iter_get_basic(v, &s);
        return s;
}

int ctl_output_parse(DBusMessageIter *dict, struct ctl_output *o)
{
        DBusMessageIter it;

        memset(o, 0, sizeof(*o));
        if (dbus_message_iter_get_arg_type(dict) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(dict) != DBUS_TYPE_DICT_ENTRY)
                return -EINVAL;
        dbus_message_iter_recurse(dict, &it);
        for (; dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&it)) {
                DBusMessageIter e, v;
                const char *key, *s;

                dbus_message_iter_recurse(&it, &e);
                if (dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_STRING)
                        continue;
                dbus_message_iter_get_basic(&e, &key);
                dbus_message_iter_next(&e);
                if (dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_VARIANT)
                        continue;
                dbus_message_iter_recurse(&e, &v);
                s = string_of(&v);
                if (strcmp(key, "Delay") == 0 && dbus_message_iter_get_arg_type(&v) == DBUS_TYPE_UINT32) {
                        dbus_message_iter_get_basic(&v, &o->delay_us);
                        o->has_delay = true;
                } else if (strcmp(key, "Volume") == 0 && dbus_message_iter_get_arg_type(&v) == DBUS_TYPE_UINT16) {
                        dbus_message_iter_get_basic(&v, &o->volume);
                        o->has_volume = true;
                } else if (!s) {
                        continue;
                } else if (strcmp(key, "Address") == 0) {
                        if (ctl_parse_address(s, o->address) < 0)
                                o->address[0] = '\0';
                } else if (strcmp(key, "Name") == 0) {
                        ctl_copy_clean(o->name, sizeof(o->name), s);
                } else if (strcmp(key, "State") == 0) {
                        ctl_copy_clean(o->state, sizeof(o->state), s);
                } else if (strcmp(key, "Codec") == 0) {
                        ctl_copy_clean(o->codec, sizeof(o->codec), s);
                } else if (strcmp(key, "DelaySource") == 0) {
                        ctl_copy_clean(o->delay_source, sizeof(o->delay_source), s);
                }
        }
        return o->address[0] ? 0 : -EINVAL;
}

void ctl_output_format(const struct ctl_output *o, char *buf, size_t len)
{
        int n = snprintf(buf, len, "%s  %s  %s", o->address, o->name[0] ? o->name : "(no name)",
                         o->state[0] ? o->state : "?");

        if (n < 0 || (size_t)n >= len)
                return;
        if (o->codec[0])
                n += snprintf(buf + n, len - (size_t)n, "  %s", o->codec);
        if (n >= 0 && (size_t)n < len && o->has_volume)
                n += snprintf(buf + n, len - (size_t)n, "  volume %u", o->volume);
        if (n >= 0 && (size_t)n < len && o->has_delay)
                snprintf(buf + n, len - (size_t)n, "  delay %.1f ms%s%s%s", o->delay_us / 1000.0,
                         o->delay_source[0] ? " (" : "", o->delay_source,
                         o->delay_source[0] ? ")" : "");
}
