#include "ctl-format.h"
#include "bdaddr.h"
#include "err-text.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ---------------------------------------------------------- */

int ctl_parse_on_off(const char *s, bool *out)
{
        static const char *const on[] = { "on", "true", "yes", "1" };
        static const char *const off[] = { "off", "false", "no", "0" };

        for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
                if (strcmp(s, on[i]) == 0) {
                        *out = true;
                        return 0;
                }
                if (strcmp(s, off[i]) == 0) {
                        *out = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int ctl_parse_address(const char *s, char out[18])
{
        if (!bdaddr_valid(s))
                return -EINVAL;
        /* BlueZ spells addresses in upper case; the daemon may compare them */
        for (int i = 0; i < 17; i++)
                out[i] = (char)toupper((unsigned char)s[i]);
        out[17] = '\0';
        return 0;
}

int ctl_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > max)
                        return -EINVAL;
        }
        *out = (uint32_t)v;
        return 0;
}


struct command {
        const char *name;
        enum ctl_command command;
        int min_args, max_args;
        const char *args;
        const char *help;
};

static const struct command commands[] = {
        { "status", CTL_STATUS, 0, 0, "", "show every setting and the link's state" },
        { "speaker-mode", CTL_SPEAKER_MODE, 1, 1, "on|off", "send the board's audio to a speaker, or stop" },
        { "scan", CTL_SCAN, 0, 1, "[SECONDS]", "look for speakers (default 10 s), then list devices" },
        { "devices", CTL_DEVICES, 0, 0, "", "list the devices Bluetooth knows of" },
        { "pair", CTL_PAIR, 1, 1, "ADDRESS", "pair with a speaker" },
        { "connect", CTL_CONNECT, 1, 1, "ADDRESS", "connect to a speaker" },
        { "disconnect", CTL_DISCONNECT, 0, 0, "", "disconnect the speaker" },
        { "forget", CTL_FORGET, 1, 1, "ADDRESS", "unpair a device" },
        { "route", CTL_ROUTE, 2, 2, "CATEGORY bluetooth|local", "where media, alerts or voice play" },
        { "default-output", CTL_DEFAULT_OUTPUT, 1, 1, "bluetooth|local", "where audio plays by default" },
        { "volume", CTL_VOLUME, 1, 1, "0-127", "the speaker's volume" },
        { "auto-reconnect", CTL_AUTO_RECONNECT, 1, 1, "on|off", "reconnect to the last speaker by itself" },
        { "idle-suspend", CTL_IDLE_SUSPEND, 1, 1, "SECONDS", "let the speaker go after this much silence (0 = never)" },
        { "reset", CTL_RESET, 0, 0, "", "reset Bluetooth: forget the devices a2dpsrc paired" },
        { "monitor", CTL_MONITOR, 0, 0, "", "print every change and key until interrupted" },
        { "playback-status", CTL_PLAYBACK_STATUS, 1, 1, "playing|paused|stopped",
          "tell the speaker whether music plays" },
        { "now-playing", CTL_NOW_PLAYING, 1, 4, "TITLE [ARTIST [ALBUM [SECONDS]]]",
          "show a track on the speaker" },
        { "doctor", CTL_DOCTOR, 0, 2, "[ADDRESS]",
          "say what is wrong and how to fix it (exit 1 on a problem)" },
};

void ctl_usage(FILE *f)
{
        fprintf(f, "Usage: a2dpsrcctl [OPTION]... COMMAND [ARG]...\n"
                   "Controls a2dpsrcd, the Bluetooth A2DP source daemon.\n\nCommands:\n");
        size_t width = 0;

        /* the help text stands two spaces or more right of the longest
         * command line: the bash completion splits there */
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                size_t n = strlen(commands[i].name) + 1 + strlen(commands[i].args);
                if (n > width)
                        width = n;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                char left[96];

                snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].args);
                fprintf(f, "  %-*s  %s\n", (int)width, left, commands[i].help);
        }
        fprintf(f, "\nOptions:\n"
                   "  -t, --timeout MS   wait this long for each call (default %d)\n"
                   "  -v, --verbose      also show D-Bus error names\n"
                   "  -j, --json         doctor: print JSON for apps\n"
                   "  -h, --help         this text\n"
                   "  -V, --version      the version\n\n"
                   "Exit status: 0 done, 1 the call failed, 2 bad arguments.\n",
                CTL_DEFAULT_TIMEOUT_MS);
}

static int parse_output(const char *cmd, const char *arg, struct ctl_args *a,
                        char *err, size_t err_len)
{
        if (strcmp(arg, "bluetooth") != 0 && strcmp(arg, "local") != 0)
                return err_text(err, err_len, "%s: '%s' is not bluetooth or local", cmd, arg);
        snprintf(a->target, sizeof(a->target), "%s", arg);
        return 0;
}

static int parse_command_args(const struct command *c, char **args, struct ctl_args *a,
                              char *err, size_t err_len)
{
        const char *arg = args[0];

        switch (c->command) {
        case CTL_SPEAKER_MODE:
        case CTL_AUTO_RECONNECT:
                if (ctl_parse_on_off(arg, &a->flag) < 0)
                        return err_text(err, err_len, "%s: '%s' is not on or off", c->name, arg);
                return 0;
        case CTL_SCAN:
                a->number = CTL_DEFAULT_SCAN_S;
                if (arg && (ctl_parse_uint(arg, CTL_MAX_SCAN_S, &a->number) < 0 || a->number == 0))
                        return err_text(err, err_len, "scan: '%s' is not 1-%d seconds",
                                     arg, CTL_MAX_SCAN_S);
                return 0;
        case CTL_PAIR:
        case CTL_CONNECT:
        case CTL_FORGET:
                if (ctl_parse_address(arg, a->address) < 0)
                        return err_text(err, err_len,
                                     "%s: '%s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)",
                                     c->name, arg);
                return 0;
        case CTL_ROUTE:
                if (strcmp(arg, "media") != 0 && strcmp(arg, "alerts") != 0 &&
                    strcmp(arg, "voice") != 0)
                        return err_text(err, err_len, "route: '%s' is not media, alerts or voice", arg);
                snprintf(a->category, sizeof(a->category), "%s", arg);
                return parse_output(c->name, args[1], a, err, err_len);
        case CTL_DEFAULT_OUTPUT:
                return parse_output(c->name, arg, a, err, err_len);
        case CTL_VOLUME:
                if (ctl_parse_uint(arg, CTL_VOLUME_MAX, &a->number) < 0)
                        return err_text(err, err_len, "volume: '%s' is not 0-%d", arg, CTL_VOLUME_MAX);
                return 0;
        case CTL_IDLE_SUSPEND:
                if (ctl_parse_uint(arg, UINT32_MAX, &a->number) < 0)
                        return err_text(err, err_len, "idle-suspend: '%s' is not a number of seconds", arg);
                return 0;
        case CTL_PLAYBACK_STATUS:
                if (strcmp(arg, "playing") != 0 && strcmp(arg, "paused") != 0 && strcmp(arg, "stopped") != 0)
                        return err_text(err, err_len, "playback-status: '%s' is not playing, paused or stopped",
                                        arg);
                snprintf(a->target, sizeof(a->target), "%s", arg);
                return 0;
        case CTL_NOW_PLAYING: {
                int n = 0;

                while (n < 4 && args[n])
                        n++;
                for (int i = 0; i < 3; i++)
                        a->text[i] = i < n ? args[i] : "";
                /* a track of up to ten days, as the daemon takes */
                if (n == 4 && ctl_parse_uint(args[3], 864000, &a->number) < 0)
                        return err_text(err, err_len, "now-playing: '%s' is not a length in seconds", args[3]);
                return 0;
        }
        case CTL_DOCTOR:
                for (int i = 0; i < 2 && args[i]; i++) {
                        /* "doctor --json": the option after the command too */
                        if (strcmp(args[i], "--json") == 0)
                                a->json = true;
                        else if (a->address[0] || ctl_parse_address(args[i], a->address) < 0)
                                return err_text(err, err_len, "usage: a2dpsrcctl doctor %s ('%s' is "
                                                "not a Bluetooth address)", c->args, args[i]);
                }
                return 0;
        default:
                return 0;
        }
}

int ctl_parse_args(int argc, char **argv, struct ctl_args *a, FILE *out,
                   char *err, size_t err_len)
{
        static const struct option longopts[] = {
                { "timeout", required_argument, NULL, 't' },
                { "verbose", no_argument, NULL, 'v' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { NULL, 0, NULL, 0 },
        };
        const struct command *c = NULL;
        uint32_t v;
        int opt, nargs;

        memset(a, 0, sizeof(*a));
        a->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
        optind = 0;
        opterr = 0;
        /* '+': options end at the command, so "volume -1" is an argument */
        while ((opt = getopt_long(argc, argv, "+:t:vjhV", longopts, NULL)) != -1) {
                switch (opt) {
                case 't':
                        if (ctl_parse_uint(optarg, CTL_MAX_TIMEOUT_MS, &v) < 0 || v == 0)
                                return err_text(err, err_len, "--timeout: '%s' is not 1-%d ms",
                                             optarg, CTL_MAX_TIMEOUT_MS);
                        a->timeout_ms = (int)v;
                        break;
                case 'v':
                        a->verbose++;
                        break;
                case 'j':
                        a->json = true;
                        break;
                case 'h':
                        ctl_usage(out);
                        return 1;
                case 'V':
                        fprintf(out, "a2dpsrcctl %s\n", A2DPSRC_VERSION);
                        return 1;
                case ':':
                        return err_text(err, err_len, "option '%s' needs a value", argv[optind - 1]);
                default:
                        return err_text(err, err_len, "unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return err_text(err, err_len, "no command given");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[optind], commands[i].name) == 0)
                        c = &commands[i];
        if (!c)
                return err_text(err, err_len, "unknown command '%s'", argv[optind]);
        a->command = c->command;
        if (a->json && c->command != CTL_DOCTOR)
                return err_text(err, err_len, "--json is for doctor only");
        nargs = argc - optind - 1;
        if (nargs < c->min_args || nargs > c->max_args) {
                if (c->max_args == 0)
                        return err_text(err, err_len, "%s takes no arguments", c->name);
                return err_text(err, err_len, "usage: a2dpsrcctl %s %s", c->name, c->args);
        }
        return parse_command_args(c, argv + optind + 1, a, err, err_len);
}

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
        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_STRING)
                return false;
        dbus_message_iter_get_basic(v, s);
        return true;
}

static bool is_basic(DBusMessageIter *v, int type, void *out)
{
        if (dbus_message_iter_get_arg_type(v) != type)
                return false;
        dbus_message_iter_get_basic(v, out);
        return true;
}

/* The words and units of the properties we know; false: show it plainly. */
static bool format_known(struct out *o, const char *name, DBusMessageIter *v)
{
        const char *s;
        dbus_bool_t b;
        uint16_t q;
        uint32_t u;

        if ((strcmp(name, "SpeakerMode") == 0 || strcmp(name, "AutoReconnect") == 0) &&
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
        "Volume", "Routes", "AutoReconnect", "IdleSuspend", "Discovering", "PlaybackStatus",
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

static void copy_clean(char *dst, size_t len, const char *src)
{
        struct out o;

        out_init(&o, dst, len);
        out_clean(&o, src);
}

int ctl_device_parse(DBusMessageIter *dict, struct ctl_device *d)
{
        DBusMessageIter it;

        memset(d, 0, sizeof(*d));
        if (dbus_message_iter_get_arg_type(dict) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(dict) != DBUS_TYPE_DICT_ENTRY)
                return -EINVAL;
        dbus_message_iter_recurse(dict, &it);
        while (dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_DICT_ENTRY) {
                DBusMessageIter e, v;
                const char *key, *s;
                dbus_bool_t b;
                int16_t n;

                dbus_message_iter_recurse(&it, &e);
                dbus_message_iter_next(&it);
                if (dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_STRING)
                        continue;
                dbus_message_iter_get_basic(&e, &key);
                dbus_message_iter_next(&e);
                if (dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_VARIANT)
                        continue;
                dbus_message_iter_recurse(&e, &v);
                if (strcmp(key, "Address") == 0 && is_string(&v, &s)) {
                        if (ctl_parse_address(s, d->address) < 0)
                                d->address[0] = '\0';
                } else if (strcmp(key, "Name") == 0 && is_string(&v, &s)) {
                        copy_clean(d->name, sizeof(d->name), s);
                } else if (strcmp(key, "Paired") == 0 && is_basic(&v, DBUS_TYPE_BOOLEAN, &b)) {
                        d->paired = b;
                } else if (strcmp(key, "Trusted") == 0 && is_basic(&v, DBUS_TYPE_BOOLEAN, &b)) {
                        d->trusted = b;
                } else if (strcmp(key, "Connected") == 0 && is_basic(&v, DBUS_TYPE_BOOLEAN, &b)) {
                        d->connected = b;
                } else if (strcmp(key, "AudioSink") == 0 && is_basic(&v, DBUS_TYPE_BOOLEAN, &b)) {
                        d->audio_sink = b;
                } else if (strcmp(key, "RSSI") == 0 && is_basic(&v, DBUS_TYPE_INT16, &n)) {
                        d->rssi = n;
                        d->has_rssi = true;
                }
        }
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
        if (o.used >= 4 && strcmp(o.buf + o.used - 4, "  []") == 0)
                o.buf[o.used - 4] = '\0';
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
