/* a2dpsrcctl outputs: one line per speaker of Manager1.GetOutputs(), from
 * its a{sv}. Pure: the unit tests build the messages. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl-format.h"
#include "dbus-util.h"

static int output_entry(const char *key, DBusMessageIter *v, void *ud)
{
        struct ctl_output *o = ud;
        const char *s;

        if (strcmp(key, "Delay") == 0) {
                o->has_delay = dbus_variant_get_basic(v, DBUS_TYPE_UINT32, &o->delay_us) == 0;
        } else if (strcmp(key, "Stalls") == 0) {
                dbus_variant_get_basic(v, DBUS_TYPE_UINT64, &o->stalls);
        } else if (strcmp(key, "DroppedMs") == 0) {
                dbus_variant_get_basic(v, DBUS_TYPE_UINT64, &o->dropped_ms);
        } else if (strcmp(key, "OutOfStepUs") == 0) {
                dbus_variant_get_basic(v, DBUS_TYPE_UINT32, &o->out_of_step_us);
        } else if (strcmp(key, "Volume") == 0) {
                o->has_volume = dbus_variant_get_basic(v, DBUS_TYPE_UINT16, &o->volume) == 0;
        } else if (dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) < 0) {
                return 0;
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
        return 0;
}

int ctl_output_parse(DBusMessageIter *dict, struct ctl_output *o)
{
        memset(o, 0, sizeof(*o));
        if (dbus_dict_foreach(dict, output_entry, o) < 0)
                return -EINVAL;
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
                n += snprintf(buf + n, len - (size_t)n, "  delay %.1f ms%s%s%s", o->delay_us / 1000.0,
                              o->delay_source[0] ? " (" : "", o->delay_source,
                              o->delay_source[0] ? ")" : "");
        /* trouble of this speaker's alone, when there was any */
        if (n >= 0 && (size_t)n < len && o->stalls)
                n += snprintf(buf + n, len - (size_t)n, "  %llu stall%s", (unsigned long long)o->stalls,
                              o->stalls == 1 ? "" : "s");
        if (n >= 0 && (size_t)n < len && o->dropped_ms)
                n += snprintf(buf + n, len - (size_t)n, "  %llu ms dropped", (unsigned long long)o->dropped_ms);
        if (n >= 0 && (size_t)n < len && o->out_of_step_us)
                snprintf(buf + n, len - (size_t)n, "  heard %u ms ahead", o->out_of_step_us / 1000);
}
