#include "options.h"
#include "err-text.h"
#include "a2dp-codec.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const category_names[CAT_COUNT] = {
        [CAT_MEDIA] = "media", [CAT_ALERTS] = "alerts", [CAT_VOICE] = "voice",
};

const char *audio_category_name(enum audio_category c)
{
        return (unsigned)c < CAT_COUNT ? category_names[c] : "?";
}

int audio_category_from_name(const char *name)
{
        for (int i = 0; i < CAT_COUNT; i++)
                if (strcmp(name, category_names[i]) == 0)
                        return i;
        return -EINVAL;
}

void options_defaults(struct options *o)
{
        memset(o, 0, sizeof(*o));
        snprintf(o->capture[CAT_MEDIA], OPT_STR, "hw:Loopback,1,0");
        snprintf(o->local_output, OPT_STR, "default");
        snprintf(o->config, OPT_STR, DEFAULT_CONFIG);
        snprintf(o->state_dir, OPT_STR, "/var/lib/a2dpsrcd");
        snprintf(o->power_supply, OPT_STR, "/sys/class/power_supply");
        o->rate = 48000;
        o->codecs = ~0u;
        o->rt_priority = 0;
        o->scan_timeout = 120;
}


/* The names given here reach D-Bus (StreamBlocked, the doctor), where a
 * string that is not UTF-8 makes libdbus abort the daemon: refused here,
 * with the reason, instead. */
static int set_string(char *dst, const char *key, const char *value, char *err, size_t err_len)
{
        size_t n = strlen(value);

        if (n == 0)
                return err_text(err, err_len, "%s: empty value", key);
        if (n >= OPT_STR)
                return err_text(err, err_len, "%s: value too long", key);
        for (size_t i = 0; i < n; i++)
                if (iscntrl((unsigned char)value[i]))
                        return err_text(err, err_len, "%s: control character in value", key);
        for (size_t i = 0, k; i < n; i += k)
                if (!(k = utf8_seq((const unsigned char *)value + i)))
                        return err_text(err, err_len, "%s: the value is not UTF-8 text (byte %zu)",
                                        key, i + 1);
        memcpy(dst, value, n + 1);
        return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
        char *end;
        unsigned long v;

        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *out = v;
        return 0;
}

/* "--capture PCM" is media; "--capture voice=PCM" names the category. An
 * ALSA name may itself contain '=' only after a ':' (plug:'x=y'), so the
 * category prefix is recognised only when it is one of ours. */
static int set_capture(struct options *o, const char *value, char *err, size_t err_len)
{
        const char *eq = strchr(value, '=');

        if (eq) {
                char cat[16];
                size_t n = (size_t)(eq - value);
                if (n < sizeof(cat)) {
                        memcpy(cat, value, n);
                        cat[n] = '\0';
                        int c = audio_category_from_name(cat);
                        if (c >= 0) {
                                if (eq[1] == '\0' || strcmp(eq + 1, "none") == 0) {
                                        o->capture[c][0] = '\0';
                                        return 0;
                                }
                                return set_string(o->capture[c], "capture", eq + 1, err, err_len);
                        }
                }
        }
        return set_string(o->capture[CAT_MEDIA], "capture", value, err, err_len);
}

/* "sbc-xq,sbc": the codecs whose endpoints are registered. Registration
 * order stays the fixed one (docs/codecs.md): the list filters, it does
 * not reorder. SBC stays: every A2DP speaker has it. */
static int set_codecs(struct options *o, const char *value, char *err, size_t err_len)
{
        char buf[OPT_STR], *save = NULL;
        unsigned mask = 0;

        if (strlen(value) >= sizeof(buf))
                return err_text(err, err_len, "codecs: the list is too long");
        snprintf(buf, sizeof(buf), "%s", value);
        for (char *name = strtok_r(buf, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
                const struct a2dp_codec *c = a2dp_codec_by_name(name);

                if (!c) {
                        char known[128] = "";

                        for (unsigned i = 0; i < CODEC_COUNT; i++)
                                if (a2dp_codecs[i])
                                        snprintf(known + strlen(known), sizeof(known) - strlen(known),
                                                 "%s%s", known[0] ? ", " : "", a2dp_codecs[i]->name);
                        return err_text(err, err_len, "codecs: '%.40s' is not a codec built in (%s)",
                                        name, known);
                }
                mask |= 1u << c->index;
        }
        if (!(mask & (1u << CODEC_SBC)))
                return err_text(err, err_len, "codecs: the list must name sbc, which every speaker has");
        o->codecs = mask;
        return 0;
}

int options_set(struct options *o, const char *key, const char *value,
                char *err, size_t err_len)
{
        unsigned long v;

        if (strcmp(key, "capture") == 0)
                return set_capture(o, value, err, err_len);
        if (strcmp(key, "local-output") == 0)
                return set_string(o->local_output, key, value, err, err_len);
        if (strcmp(key, "adapter") == 0) {
                if (strncmp(value, "hci", 3) != 0 || parse_uint(value + 3, 255, &v) < 0)
                        return err_text(err, err_len, "adapter: '%s' is not of the form hciN", value);
                return set_string(o->adapter, key, value, err, err_len);
        }
        if (strcmp(key, "state-dir") == 0)
                return set_string(o->state_dir, key, value, err, err_len);
        if (strcmp(key, "power-supply") == 0)
                return set_string(o->power_supply, key, value, err, err_len);
        if (strcmp(key, "rt-priority") == 0) {
                if (parse_uint(value, 99, &v) < 0)
                        return err_text(err, err_len, "rt-priority: '%s' is not 0-99", value);
                o->rt_priority = (int)v;
                return 0;
        }
        if (strcmp(key, "rate") == 0) {
                if (parse_uint(value, 48000, &v) < 0 || (v != 44100 && v != 48000))
                        return err_text(err, err_len, "rate: '%s' is not 44100 or 48000", value);
                o->rate = (unsigned)v;
                return 0;
        }
        if (strcmp(key, "codecs") == 0)
                return set_codecs(o, value, err, err_len);
        if (strcmp(key, "scan-timeout") == 0) {
                if (parse_uint(value, 3600, &v) < 0 || v < 5)
                        return err_text(err, err_len, "scan-timeout: '%s' is not 5-3600 (seconds)", value);
                o->scan_timeout = (unsigned)v;
                return 0;
        }
        if (strcmp(key, "verbose") == 0) {
                if (parse_uint(value, 3, &v) < 0)
                        return err_text(err, err_len, "verbose: '%s' is not 0-3", value);
                o->verbose = (int)v;
                return 0;
        }
        return err_text(err, err_len, "unknown key '%s'", key);
}

static char *trim(char *s)
{
        char *end;

        while (isspace((unsigned char)*s))
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return s;
}

int options_parse_config(struct options *o, const char *text, char *err, size_t err_len)
{
        char line[1024];
        unsigned lineno = 0;
        const char *p = text;

        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                char *key, *value, *eq, msg[512];

                lineno++;
                if (n >= sizeof(line)) {
                        snprintf(err, err_len, "line %u: too long", lineno);
                        return -EINVAL;
                }
                memcpy(line, p, n);
                line[n] = '\0';
                p += n + (nl ? 1 : 0);

                key = trim(line);
                if (*key == '\0' || *key == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        snprintf(err, err_len, "line %u: expected key = value", lineno);
                        return -EINVAL;
                }
                *eq = '\0';
                value = trim(eq + 1);
                key = trim(key);
                if (options_set(o, key, value, msg, sizeof(msg)) < 0) {
                        snprintf(err, err_len, "line %u: %s", lineno, msg);
                        return -EINVAL;
                }
        }
        return 0;
}

void options_usage(const char *argv0)
{
        printf("Usage: %s [OPTION]...\n"
               "Bluetooth A2DP source daemon: streams the board's audio to a speaker.\n\n"
               "  -c, --capture [CATEGORY=]PCM  ALSA capture device (default hw:Loopback,1,0;\n"
               "                                categories: media, alerts, voice)\n"
               "  -o, --local-output PCM        local playback device (default 'default')\n"
               "  -a, --adapter hciN            use only this adapter (default: all)\n"
               "  -r, --rate 44100|48000        preferred rate when the capture leaves it open\n"
               "                                (default 48000)\n"
               "      --codecs LIST             codecs offered, e.g. sbc-xq,sbc (default: all\n"
               "                                built in; sbc must be listed)\n"
               "  -p, --rt-priority N           SCHED_FIFO priority of the audio thread, 0 = off\n"
               "  -s, --state-dir DIR           saved settings (default /var/lib/a2dpsrcd)\n"
               "      --power-supply DIR        power supplies (default /sys/class/power_supply)\n"
               "      --scan-timeout SECONDS    a scan ends after this long (default 120)\n"
               "  -f, --config FILE             configuration file (default " DEFAULT_CONFIG ")\n"
               "  -v, --verbose                 more logging (repeatable)\n"
               "  -h, --help                    this text\n"
               "  -V, --version                 the version\n", argv0);
}

int options_parse_args(struct options *o, int argc, char **argv, int config_only,
                       char *err, size_t err_len)
{
        static const struct option longopts[] = {
                { "capture", required_argument, NULL, 'c' },
                { "local-output", required_argument, NULL, 'o' },
                { "adapter", required_argument, NULL, 'a' },
                { "rate", required_argument, NULL, 'r' },
                { "rt-priority", required_argument, NULL, 'p' },
                { "state-dir", required_argument, NULL, 's' },
                { "power-supply", required_argument, NULL, 'P' },
                { "scan-timeout", required_argument, NULL, 'T' },
                { "codecs", required_argument, NULL, 'C' },
                { "config", required_argument, NULL, 'f' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { NULL, 0, NULL, 0 },
        };
        static const char *const keys[128] = {
                ['c'] = "capture", ['o'] = "local-output", ['a'] = "adapter",
                ['r'] = "rate", ['p'] = "rt-priority", ['s'] = "state-dir",
                ['P'] = "power-supply", ['T'] = "scan-timeout", ['C'] = "codecs",
        };
        int c;

        optind = 0;     /* full re-scan, also on the second pass */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:o:a:r:p:s:f:vhV", longopts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        if (set_string(o->config, "config", optarg, err, err_len) < 0)
                                return -EINVAL;
                        o->config_given = 1;
                        break;
                case 'v':
                        if (!config_only)
                                o->verbose++;
                        break;
                case 'h':
                        if (config_only)
                                break;
                        options_usage(argv[0]);
                        return 1;
                case 'V':
                        if (config_only)
                                break;
                        printf("a2dpsrcd %s\n", A2DPSRC_VERSION);
                        return 1;
                case ':':
                        return err_text(err, err_len, "option '%s' needs a value",
                                     argv[optind - 1]);
                case '?':
                        return err_text(err, err_len, "unknown option '%s'", argv[optind - 1]);
                default:
                        if (config_only)
                                break;
                        if (c > 0 && c < 128 && keys[c]) {
                                if (options_set(o, keys[c], optarg, err, err_len) < 0)
                                        return -EINVAL;
                        }
                        break;
                }
        }
        if (optind < argc)
                return err_text(err, err_len, "unexpected argument '%s'", argv[optind]);
        return 0;
}
