/* a2dpsrcctl's output: D-Bus values, properties, devices and errors as text. */
#include "ctl-format.h"
#include "bdaddr.h"
#include "dbus-util.h"
#include "err-text.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- values as text ----------------------------------------------------- */

struct out {
        char *buf;
        size_t len, used;
        bool full;
};

static void out_init(struct out *o, char *buf, size_t len)
{
        o->buf = buf;
        o->len = len;
        o->used = 0;
        o->full = len == 0;
        if (len)
                buf[0] = '\0';
}

/* Appends n bytes; when they do not fit, ends the text with "...". */
static void out_bytes(struct out *o, const char *s, size_t n)
{
        if (o->full)
                return;
        if (o->used + n < o->len) {
                memcpy(o->buf + o->used, s, n);
                o->used += n;
                o->buf[o->used] = '\0';
                return;
        }
        /* what fits, then the last three bytes say it was cut */
        memcpy(o->buf + o->used, s, o->len - 1 - o->used);
        o->used = o->len - 1;
        o->buf[o->used] = '\0';
        o->full = true;
        if (o->len >= 4)
                memcpy(o->buf + o->len - 4, "...", 3);
}

static void out_str(struct out *o, const char *s)
{
        out_bytes(o, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) out_fmt(struct out *o, const char *fmt, ...)
{
        char tmp[64];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                out_bytes(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Text from the air may hold terminal escapes: C0 controls, DEL, and the
 * C1 controls (U+0080-U+009F, which some terminals obey) become '?'. */
static void out_clean(struct out *o, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        while (*p) {
                const unsigned char *start = p;

                while (*p >= 0x20 && *p != 0x7f && !(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
                        p++;
                out_bytes(o, (const char *)start, (size_t)(p - start));
                if (!*p)
                        break;
                out_bytes(o, "?", 1);
                p += (p[0] == 0xc2) ? 2 : 1;
        }
}

static void format_iter(struct out *o, DBusMessageIter *it, int depth);

static void format_container(struct out *o, DBusMessageIter *it, int depth,
                             const char *open, const char *close)
{
        DBusMessageIter sub;
        bool first = true;

        out_str(o, open);
        dbus_message_iter_recurse(it, &sub);
        while (dbus_message_iter_get_arg_type(&sub) != DBUS_TYPE_INVALID && !o->full) {
                if (!first)
                        out_str(o, ", ");
                first = false;
                format_iter(o, &sub, depth + 1);
                dbus_message_iter_next(&sub);
        }
        out_str(o, close);
}

static void format_entry(struct out *o, DBusMessageIter *it, int depth)
{
        DBusMessageIter sub;

        dbus_message_iter_recurse(it, &sub);
        format_iter(o, &sub, depth + 1);
        out_str(o, ": ");
        if (dbus_message_iter_next(&sub))
                format_iter(o, &sub, depth + 1);
}

static void format_iter(struct out *o, DBusMessageIter *it, int depth)
{
        int type = dbus_message_iter_get_arg_type(it);
        DBusBasicValue v;

        if (depth > 32) {
                out_str(o, "...");
                return;
        }
        memset(&v, 0, sizeof(v));
        /* not for a unix fd: reading one dup()s it */
        if (dbus_type_is_basic(type) && type != DBUS_TYPE_UNIX_FD)
                dbus_message_iter_get_basic(it, &v);
        switch (type) {
        case DBUS_TYPE_STRING:
        case DBUS_TYPE_OBJECT_PATH:
        case DBUS_TYPE_SIGNATURE:
                out_clean(o, v.str);
                break;
        case DBUS_TYPE_BOOLEAN:
                out_str(o, v.bool_val ? "yes" : "no");
                break;
        case DBUS_TYPE_BYTE:
                out_fmt(o, "%u", (unsigned)v.byt);
                break;
        case DBUS_TYPE_INT16:
                out_fmt(o, "%d", (int)v.i16);
                break;
        case DBUS_TYPE_UINT16:
                out_fmt(o, "%u", (unsigned)v.u16);
                break;
        case DBUS_TYPE_INT32:
                out_fmt(o, "%ld", (long)v.i32);
                break;
        case DBUS_TYPE_UINT32:
                out_fmt(o, "%lu", (unsigned long)v.u32);
                break;
        case DBUS_TYPE_INT64:
                out_fmt(o, "%lld", (long long)v.i64);
                break;
        case DBUS_TYPE_UINT64:
                out_fmt(o, "%llu", (unsigned long long)v.u64);
                break;
        case DBUS_TYPE_DOUBLE:
                out_fmt(o, "%g", v.dbl);
                break;
        case DBUS_TYPE_UNIX_FD:
                out_str(o, "(fd)");
                break;
        case DBUS_TYPE_VARIANT: {
                DBusMessageIter sub;
                dbus_message_iter_recurse(it, &sub);
                format_iter(o, &sub, depth + 1);
                break;
        }
        case DBUS_TYPE_ARRAY:
                if (dbus_message_iter_get_element_type(it) == DBUS_TYPE_DICT_ENTRY)
                        format_container(o, it, depth, "{", "}");
                else
                        format_container(o, it, depth, "[", "]");
                break;
        case DBUS_TYPE_DICT_ENTRY:
                format_entry(o, it, depth);
                break;
        case DBUS_TYPE_STRUCT:
                format_container(o, it, depth, "(", ")");
                break;
        case DBUS_TYPE_INVALID:
                out_str(o, "(nothing)");
                break;
        default:
                out_str(o, "?");
                break;
        }
}

size_t ctl_format_value(DBusMessageIter *value, char *buf, size_t len)
{
        struct out o;

        out_init(&o, buf, len);
        format_iter(&o, value, 0);
        return o.used;
}

/* ---- properties --------------------------------------------------------- */

static bool is_string(DBusMessageIter *v, const char **s)
{
        return dbus_variant_get_basic(v, DBUS_TYPE_STRING, s) == 0;
}

static bool is_basic(DBusMessageIter *v, int type, void *out)
{
        return dbus_variant_get_basic(v, type, out) == 0;
}

/* The words and units of the properties we know; false: show it plainly. */
static bool format_known(struct out *o, const char *name, DBusMessageIter *v)
{
        const char *s;
        dbus_bool_t b;
        uint16_t q;
        uint32_t u;

        if ((strcmp(name, "SpeakerMode") == 0 || strcmp(name, "AutoReconnect") == 0 ||
             strcmp(name, "MultiOutput") == 0) &&
            is_basic(v, DBUS_TYPE_BOOLEAN, &b)) {
                out_str(o, b ? "on" : "off");
                return true;
        }
        if ((strcmp(name, "SpeakerModeBlocker") == 0 || strcmp(name, "Output") == 0 ||
             strcmp(name, "Codec") == 0) && is_string(v, &s) && !*s) {
                out_str(o, "none");
                return true;
        }
        if (strcmp(name, "Volume") == 0 && is_basic(v, DBUS_TYPE_UINT16, &q)) {
                out_fmt(o, "%u (%u%%)", (unsigned)q, (unsigned)((q * 100u + 63) / 127));
                return true;
        }
        if (strcmp(name, "IdleSuspend") == 0 && is_basic(v, DBUS_TYPE_UINT32, &u)) {
                if (u == 0)
                        out_str(o, "never");
                else
                        out_fmt(o, "%lu s", (unsigned long)u);
                return true;
        }
        if (strcmp(name, "Latency") == 0 && is_basic(v, DBUS_TYPE_UINT32, &u)) {
                out_fmt(o, "%lu.%lu ms", (unsigned long)(u / 1000), (unsigned long)(u % 1000 / 100));
                return true;
        }
        if (strcmp(name, "Routes") == 0 && dbus_message_iter_get_arg_type(v) == DBUS_TYPE_ARRAY &&
            dbus_message_iter_get_element_type(v) == DBUS_TYPE_DICT_ENTRY) {
                /* "media=bluetooth alerts=local voice=local" */
                DBusMessageIter dict;
                bool first = true;

                dbus_message_iter_recurse(v, &dict);
                while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
                        DBusMessageIter e;

                        dbus_message_iter_recurse(&dict, &e);
                        if (!first)
                                out_str(o, " ");
                        first = false;
                        format_iter(o, &e, 1);
                        out_str(o, "=");
                        if (dbus_message_iter_next(&e))
                                format_iter(o, &e, 1);
                        dbus_message_iter_next(&dict);
                }
                if (first)
                        out_str(o, "none");
                return true;
        }
        return false;
}

static void out_time(struct out *o, int64_t us)
{
        int64_t s = us / 1000000;

        if (s >= 3600)
                out_fmt(o, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                        (long long)(s % 60));
        else
                out_fmt(o, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

/* "Title" by Artist, Album (1:00 / 5:37), or "nothing" */
static void format_now_playing(struct out *o, DBusMessageIter *v)
{
        const char *title = "", *artist = "", *album = "";
        int64_t duration = 0, position = 0;
        DBusMessageIter dict;

        dbus_message_iter_recurse(v, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&dict)) {
                DBusMessageIter e, val;
                const char *key;

                dbus_message_iter_recurse(&dict, &e);
                dbus_message_iter_get_basic(&e, &key);
                dbus_message_iter_next(&e);
                dbus_message_iter_recurse(&e, &val);
                if (strcmp(key, "Title") == 0)
                        is_string(&val, &title);
                else if (strcmp(key, "Artist") == 0)
                        is_string(&val, &artist);
                else if (strcmp(key, "Album") == 0)
                        is_string(&val, &album);
                else if (strcmp(key, "Duration") == 0)
                        is_basic(&val, DBUS_TYPE_INT64, &duration);
                else if (strcmp(key, "Position") == 0)
                        is_basic(&val, DBUS_TYPE_INT64, &position);
        }
        if (!*title && !*artist && !*album && duration <= 0) {
                out_str(o, "nothing");
                return;
        }
        out_str(o, "\"");
        out_clean(o, title);
        out_str(o, "\"");
        if (*artist) {
                out_str(o, " by ");
                out_clean(o, artist);
        }
        if (*album) {
                out_str(o, ", ");
                out_clean(o, album);
        }
        if (duration > 0) {
                out_str(o, " (");
                out_time(o, position);
                out_str(o, " / ");
                out_time(o, duration);
                out_str(o, ")");
        }
}

static bool is_vardict(DBusMessageIter *v)
{
        char *sig;
        bool r;

        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_ARRAY)
                return false;
        sig = dbus_message_iter_get_signature(v);
        r = sig && strcmp(sig, "a{sv}") == 0;
        dbus_free(sig);
        return r;
}

void ctl_print_property(FILE *f, const char *prefix, const char *name, DBusMessageIter *value)
{
        char line[1024];
        struct out o;
        DBusMessageIter inner;

        if (dbus_message_iter_get_arg_type(value) == DBUS_TYPE_VARIANT) {
                dbus_message_iter_recurse(value, &inner);
                value = &inner;
        }
        out_init(&o, line, sizeof(line));
        out_clean(&o, name);
        if (strcmp(name, "NowPlaying") == 0 && is_vardict(value)) {
                out_str(&o, ": ");
                format_now_playing(&o, value);
                fprintf(f, "%s%s\n", prefix, line);
                return;
        }
        if (is_vardict(value)) {
                /* Statistics: one counter a line, below the name */
                DBusMessageIter dict;
                bool any = false;

                fprintf(f, "%s%s:", prefix, line);
                dbus_message_iter_recurse(value, &dict);
                while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
                        DBusMessageIter e;

                        if (!any)
                                fputc('\n', f);
                        any = true;
                        dbus_message_iter_recurse(&dict, &e);
                        out_init(&o, line, sizeof(line));
                        format_iter(&o, &e, 1);
                        out_str(&o, ": ");
                        if (dbus_message_iter_next(&e))
                                format_iter(&o, &e, 1);
                        fprintf(f, "%s    %s\n", prefix, line);
                        dbus_message_iter_next(&dict);
                }
                if (!any)
                        fprintf(f, " none\n");
                return;
        }
        out_str(&o, ": ");
        if (!format_known(&o, name, value))
                format_iter(&o, value, 0);
        fprintf(f, "%s%s\n", prefix, line);
}

void ctl_format_media_key(const char *key, const char *device, char *buf, size_t len)
{
        struct out o;

        out_init(&o, buf, len);
        out_str(&o, "MediaKey: ");
        out_clean(&o, key);
        if (*device) {
                out_str(&o, " ");
                out_clean(&o, device);
        }
}

static const char *const property_order[] = {
        "SpeakerMode", "SpeakerModeBlocker", "State", "Output", "Codec", "Latency",
        "Volume", "Routes", "AutoReconnect", "MultiOutput", "IdleSuspend", "Discovering", "PlaybackStatus",
        "NowPlaying", "Statistics",
};
#define N_ORDER (sizeof(property_order) / sizeof(property_order[0]))

struct prop {
        const char *name;
        DBusMessageIter value;
        bool printed;
};

int ctl_print_properties(FILE *f, DBusMessageIter *dict)
{
        struct prop *props = NULL;
        DBusMessageIter it;
        size_t n = 0, cap = 0;

        if (dbus_message_iter_get_arg_type(dict) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(dict) != DBUS_TYPE_DICT_ENTRY)
                return -EINVAL;
        dbus_message_iter_recurse(dict, &it);
        while (dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_DICT_ENTRY) {
                DBusMessageIter e;

                dbus_message_iter_recurse(&it, &e);
                if (dbus_message_iter_get_arg_type(&e) == DBUS_TYPE_STRING) {
                        if (n == cap) {
                                size_t ncap = cap ? cap * 2 : 16;
                                struct prop *np = realloc(props, ncap * sizeof(*np));
                                if (!np) {
                                        free(props);
                                        return -ENOMEM;
                                }
                                props = np;
                                cap = ncap;
                        }
                        dbus_message_iter_get_basic(&e, &props[n].name);
                        dbus_message_iter_next(&e);
                        props[n].value = e;
                        props[n].printed = false;
                        n++;
                }
                dbus_message_iter_next(&it);
        }
        for (size_t k = 0; k < N_ORDER; k++)
                for (size_t i = 0; i < n; i++)
                        if (!props[i].printed && strcmp(props[i].name, property_order[k]) == 0) {
                                ctl_print_property(f, "", props[i].name, &props[i].value);
                                props[i].printed = true;
                        }
        for (size_t i = 0; i < n; i++)
                if (!props[i].printed)
                        ctl_print_property(f, "", props[i].name, &props[i].value);
        free(props);
        return 0;
}

/* ---- devices ------------------------------------------------------------ */

void ctl_copy_clean(char *dst, size_t len, const char *src)
{
        struct out o;

        out_init(&o, dst, len);
        out_clean(&o, src);
}

/* "aptx, sbc" from an "as" of codec names, cleaned */
static void codecs_join(DBusMessageIter *arr, char *buf, size_t len)
{
        DBusMessageIter it;
        size_t used = 0;

        buf[0] = '\0';
        dbus_message_iter_recurse(arr, &it);
        for (; dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_STRING; dbus_message_iter_next(&it)) {
                const char *s;
                char name[16];

                dbus_message_iter_get_basic(&it, &s);
                ctl_copy_clean(name, sizeof(name), s);
                if (used + strlen(name) + 3 > len)
                        break;
                used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
        }
}

static int device_entry(const char *key, DBusMessageIter *v, void *ud)
{
        struct ctl_device *d = ud;
        const char *s;
        dbus_bool_t b;
        int16_t n;

        if (strcmp(key, "Address") == 0 && is_string(v, &s)) {
                if (ctl_parse_address(s, d->address) < 0)
                        d->address[0] = '\0';
        } else if (strcmp(key, "Name") == 0 && is_string(v, &s)) {
                ctl_copy_clean(d->name, sizeof(d->name), s);
        } else if (strcmp(key, "Paired") == 0 && is_basic(v, DBUS_TYPE_BOOLEAN, &b)) {
                d->paired = b;
        } else if (strcmp(key, "Trusted") == 0 && is_basic(v, DBUS_TYPE_BOOLEAN, &b)) {
                d->trusted = b;
        } else if (strcmp(key, "Connected") == 0 && is_basic(v, DBUS_TYPE_BOOLEAN, &b)) {
                d->connected = b;
        } else if (strcmp(key, "AudioSink") == 0 && is_basic(v, DBUS_TYPE_BOOLEAN, &b)) {
                d->audio_sink = b;
        } else if (strcmp(key, "RSSI") == 0 && is_basic(v, DBUS_TYPE_INT16, &n)) {
                d->rssi = n;
                d->has_rssi = true;
        } else if (strcmp(key, "Codecs") == 0 && dbus_message_iter_get_arg_type(v) == DBUS_TYPE_ARRAY &&
                   dbus_message_iter_get_element_type(v) == DBUS_TYPE_STRING) {
                codecs_join(v, d->codecs, sizeof(d->codecs));
        }
        return 0;
}

int ctl_device_parse(DBusMessageIter *dict, struct ctl_device *d)
{
        memset(d, 0, sizeof(*d));
        if (dbus_dict_foreach(dict, device_entry, d) < 0)
                return -EINVAL;
        return d->address[0] ? 0 : -EINVAL;
}

int ctl_devices_parse(DBusMessageIter *array, struct ctl_device **devs, size_t *n)
{
        DBusMessageIter it;
        size_t cap = 0;

        *devs = NULL;
        *n = 0;
        if (dbus_message_iter_get_arg_type(array) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(array) != DBUS_TYPE_ARRAY)
                return -EINVAL;
        dbus_message_iter_recurse(array, &it);
        while (dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID) {
                struct ctl_device d;

                if (ctl_device_parse(&it, &d) == 0) {
                        if (*n == cap) {
                                size_t ncap = cap ? cap * 2 : 16;
                                struct ctl_device *nd = realloc(*devs, ncap * sizeof(*nd));
                                if (!nd) {
                                        free(*devs);
                                        *devs = NULL;
                                        *n = 0;
                                        return -ENOMEM;
                                }
                                *devs = nd;
                                cap = ncap;
                        }
                        (*devs)[(*n)++] = d;
                }
                dbus_message_iter_next(&it);
        }
        return 0;
}

void ctl_device_format(const struct ctl_device *d, char *buf, size_t len)
{
        struct out o;
        const char *sep = "";

        out_init(&o, buf, len);
        out_str(&o, d->address);
        out_str(&o, "  ");
        out_str(&o, d->name[0] ? d->name : "(no name)");
        out_str(&o, "  [");
        if (d->audio_sink) {
                out_str(&o, "speaker");
                sep = ", ";
        }
        if (d->paired) {
                out_fmt(&o, "%spaired", sep);
                sep = ", ";
        }
        if (d->trusted) {
                out_fmt(&o, "%strusted", sep);
                sep = ", ";
        }
        if (d->connected) {
                out_fmt(&o, "%sconnected", sep);
                sep = ", ";
        }
        if (d->has_rssi)
                out_fmt(&o, "%s%d dBm", sep, (int)d->rssi);
        out_str(&o, "]");
        /* nothing to say: no brackets */
        if (!o.full && o.used >= 4 && strcmp(o.buf + o.used - 4, "  []") == 0) {
                o.buf[o.used - 4] = '\0';
                o.used -= 4;
        }
        if (d->codecs[0]) {
                out_str(&o, "  codecs: ");
                out_str(&o, d->codecs);
        }
}

/* ---- errors ------------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

void ctl_error_text(const char *name, const char *message, int timeout_ms,
                    char *buf, size_t len, bool *not_running)
{
        struct out o;

        *not_running = false;
        if (!name)
                name = "";
        if (!message || !*message)
                message = name;
        out_init(&o, buf, len);
        if (strcmp(name, DBUS_ERROR_SERVICE_UNKNOWN) == 0 ||
            strcmp(name, DBUS_ERROR_NAME_HAS_NO_OWNER) == 0 ||
            starts_with(name, "org.freedesktop.DBus.Error.Spawn.") ||
            starts_with(name, "org.freedesktop.systemd1.")) {
                *not_running = true;
                out_str(&o, "a2dpsrcd is not running (" CTL_BUS_NAME " not on the system bus)");
        } else if (strcmp(name, DBUS_ERROR_NO_REPLY) == 0 || strcmp(name, DBUS_ERROR_TIMEOUT) == 0) {
                out_fmt(&o, "a2dpsrcd did not answer within %d ms (see --timeout)", timeout_ms);
        } else if (strcmp(name, DBUS_ERROR_ACCESS_DENIED) == 0) {
                out_str(&o, "permission denied: this takes root or the a2dpsrc group");
        } else if (strcmp(name, DBUS_ERROR_UNKNOWN_METHOD) == 0 ||
                   strcmp(name, DBUS_ERROR_UNKNOWN_PROPERTY) == 0 ||
                   strcmp(name, DBUS_ERROR_UNKNOWN_INTERFACE) == 0 ||
                   strcmp(name, DBUS_ERROR_UNKNOWN_OBJECT) == 0) {
                out_str(&o, "a2dpsrcd does not know this request (another version?): ");
                out_clean(&o, message);
        } else if (strcmp(name, DBUS_ERROR_DISCONNECTED) == 0) {
                out_str(&o, "lost the connection to the system bus");
        } else {
                /* the daemon's own errors carry a sentence meant for people */
                out_clean(&o, message);
        }
}
