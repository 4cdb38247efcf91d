/* a2dpsrcctl's command line: the commands, their arguments and --help;
 * pure, so that tests/unit/test-ctl-args.c reaches it directly. */
#include "ctl-format.h"
#include "bdaddr.h"
#include "err-text.h"
#include "state.h"

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
        { "disconnect", CTL_DISCONNECT, 0, 1, "[ADDRESS]", "disconnect the speaker (or one of two)" },
        { "forget", CTL_FORGET, 1, 1, "ADDRESS", "unpair a device" },
        { "route", CTL_ROUTE, 2, 2, "CATEGORY bluetooth|local", "where media, alerts or voice play" },
        { "default-output", CTL_DEFAULT_OUTPUT, 1, 1, "bluetooth|local", "where audio plays by default" },
        { "volume", CTL_VOLUME, 1, 2, "0-127 [ADDRESS]", "the speaker's volume (or one of two's)" },
        { "auto-reconnect", CTL_AUTO_RECONNECT, 1, 1, "on|off", "reconnect to the last speaker by itself" },
        { "idle-suspend", CTL_IDLE_SUSPEND, 1, 1, "SECONDS", "let the speaker go after this much silence (0 = never)" },
        { "reset", CTL_RESET, 0, 0, "", "reset Bluetooth: forget the devices a2dpsrc paired" },
        { "monitor", CTL_MONITOR, 0, 0, "", "print every change and key until interrupted" },
        { "playback-status", CTL_PLAYBACK_STATUS, 1, 1, "playing|paused|stopped",
          "tell the speaker whether music plays" },
        { "now-playing", CTL_NOW_PLAYING, 1, 4, "TITLE [ARTIST [ALBUM [SECONDS]]]",
          "show a track on the speaker" },
        { "codec", CTL_CODEC, 0, 2, "[NAME [ADDRESS]]",
          "show the stream's codec, or switch to NAME (e.g. aptx); one speaker of two" },
        { "codecs", CTL_CODECS, 0, 1, "[LIST|all]", "show or restrict the codecs offered (e.g. aptx,sbc)" },
        { "sbc-xq", CTL_SBC_XQ, 2, 2, "ADDRESS on|off", "allow SBC-XQ for a speaker, or not (some break with it)" },
        { "speaker-delay", CTL_SPEAKER_DELAY, 2, 2, "ADDRESS MS|auto",
          "a speaker's delay when it reports none (for Latency and two speakers)" },
        { "multi-output", CTL_MULTI_OUTPUT, 1, 1, "on|off", "play on two speakers at once, in time (or on one)" },
        { "outputs", CTL_OUTPUTS, 0, 0, "", "list the speakers audio goes to: state, codec, delay" },
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
                   "  -t, --timeout MS   wait this long for each call (default %d; pair\n"
                   "                     and connect %d)\n"
                   "  -v, --verbose      also show D-Bus error names\n"
                   "  -j, --json         doctor: print JSON for apps\n"
                   "  -h, --help         this text\n"
                   "  -V, --version      the version\n\n"
                   "Exit status: 0 done, 1 the call failed, 2 bad arguments.\n",
                CTL_DEFAULT_TIMEOUT_MS, CTL_PAIRING_TIMEOUT_MS);
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
        case CTL_MULTI_OUTPUT:
                if (ctl_parse_on_off(arg, &a->flag) < 0)
                        return err_text(err, err_len, "%s: '%s' is not on or off", c->name, arg);
                return 0;
        case CTL_SCAN:
                a->number = CTL_DEFAULT_SCAN_S;
                if (arg && (ctl_parse_uint(arg, CTL_MAX_SCAN_S, &a->number) < 0 || a->number == 0))
                        return err_text(err, err_len, "scan: '%s' is not 1-%d seconds",
                                     arg, CTL_MAX_SCAN_S);
                return 0;
        case CTL_DISCONNECT:
                if (!arg)
                        return 0;
                /* one speaker of two */
                __attribute__((fallthrough));
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
                if (args[1] && ctl_parse_address(args[1], a->address) < 0)
                        return err_text(err, err_len, "volume: '%s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)",
                                        args[1]);
                return 0;
        case CTL_IDLE_SUSPEND:
                if (ctl_parse_uint(arg, STATE_IDLE_SUSPEND_MAX, &a->number) < 0)
                        return err_text(err, err_len, "idle-suspend: '%s' is not 0-%u seconds", arg,
                                        STATE_IDLE_SUSPEND_MAX);
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
        case CTL_SBC_XQ:
                if (ctl_parse_address(arg, a->address) < 0)
                        return err_text(err, err_len,
                                        "sbc-xq: '%s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)", arg);
                if (ctl_parse_on_off(args[1], &a->flag) < 0)
                        return err_text(err, err_len, "sbc-xq: '%s' is not on or off", args[1]);
                return 0;
        case CTL_SPEAKER_DELAY:
                if (ctl_parse_address(arg, a->address) < 0)
                        return err_text(err, err_len,
                                        "speaker-delay: '%s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)", arg);
                if (strcmp(args[1], "auto") == 0)
                        a->number = 0;
                else if (ctl_parse_uint(args[1], 1000, &a->number) < 0 || a->number == 0)
                        return err_text(err, err_len, "speaker-delay: '%s' is not 1-1000 ms or auto", args[1]);
                return 0;
        case CTL_CODEC:
        case CTL_CODECS:
                /* the daemon judges the names: it knows what is built */
                if (arg && !arg[0])
                        return err_text(err, err_len, "%s: give a codec name", c->name);
                a->text[0] = arg;
                if (arg && args[1] && ctl_parse_address(args[1], a->address) < 0)
                        return err_text(err, err_len, "codec: '%s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)",
                                        args[1]);
                return 0;
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
        bool timeout_given = false;
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
                        timeout_given = true;
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
        if (!timeout_given && (c->command == CTL_PAIR || c->command == CTL_CONNECT))
                a->timeout_ms = CTL_PAIRING_TIMEOUT_MS;
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

