/* a2dpsrcctl's pure half: the command line, argument checks, and turning
 * the daemon's D-Bus values into text. Nothing here talks to a bus, so the
 * unit tests call all of it on messages they build themselves. */
#ifndef A2DPSRC_CTL_FORMAT_H
#define A2DPSRC_CTL_FORMAT_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_BUS_NAME "org.a2dpsrc"
#define CTL_PATH "/org/a2dpsrc"
#define CTL_IFACE "org.a2dpsrc.Manager1"

#define CTL_DEFAULT_TIMEOUT_MS 25000
/* pair and connect, unless -t: the daemon's Connect may first drop the old
 * speaker (10 s), then pair (60 s), then connect (30 s): speaker.c, agent.c */
#define CTL_PAIRING_TIMEOUT_MS 105000
#define CTL_MAX_TIMEOUT_MS 3600000
#define CTL_DEFAULT_SCAN_S 10
#define CTL_MAX_SCAN_S 3600
#define CTL_VOLUME_MAX 127

enum ctl_exit { CTL_EXIT_OK = 0, CTL_EXIT_FAILED = 1, CTL_EXIT_USAGE = 2 };

enum ctl_command {
        CTL_STATUS, CTL_SPEAKER_MODE, CTL_SCAN, CTL_DEVICES, CTL_PAIR, CTL_CONNECT,
        CTL_DISCONNECT, CTL_FORGET, CTL_ROUTE, CTL_DEFAULT_OUTPUT, CTL_VOLUME,
        CTL_AUTO_RECONNECT, CTL_IDLE_SUSPEND, CTL_RESET, CTL_MONITOR, CTL_PLAYBACK_STATUS,
        CTL_NOW_PLAYING, CTL_DOCTOR, CTL_CODEC, CTL_CODECS, CTL_SBC_XQ,
        CTL_SPEAKER_DELAY, CTL_MULTI_OUTPUT, CTL_OUTPUTS,
};

struct ctl_args {
        enum ctl_command command;
        int timeout_ms;
        int verbose;
        bool flag;              /* speaker-mode, auto-reconnect, sbc-xq, multi-output */
        bool json;              /* doctor --json */
        char address[18];       /* pair, connect, forget, sbc-xq, speaker-delay, doctor ("" the board); upper case */
        char category[8];       /* route: media, alerts or voice */
        char target[16];        /* route, default-output: bluetooth or local */
        uint32_t number;        /* volume, idle-suspend, scan seconds, now-playing length,
                                 * speaker-delay ms (0: auto) */
        /* now-playing: title, artist, album (argv's, "" when not given) */
        const char *text[3];    /* now-playing; codec: [0] the name, codecs: [0] the list */
};

/* Returns 0 to run the command, 1 when --help or --version was printed to
 * out, -EINVAL with a one-line reason in err (exit 2 for that). */
int ctl_parse_args(int argc, char **argv, struct ctl_args *a, FILE *out,
                   char *err, size_t err_len);
void ctl_usage(FILE *f);

/* on/off (also true/false, yes/no, 1/0). */
int ctl_parse_on_off(const char *s, bool *out);
/* AA:BB:CC:DD:EE:FF in either case; out gets it in upper case. */
int ctl_parse_address(const char *s, char out[18]);
/* Decimal, no sign, at most max. */
int ctl_parse_uint(const char *s, uint32_t max, uint32_t *out);

/* src into dst (len bytes), control characters as '?' (names come from
 * whatever is on the air), cut to fit. */
void ctl_copy_clean(char *dst, size_t len, const char *src);

/* One value of any D-Bus type on one line: containers as [..], {k: v},
 * (..). Control characters become '?', since device names come from
 * whatever is on the air. Output is cut (ending in "...") to fit len.
 * Returns the length written. */
size_t ctl_format_value(DBusMessageIter *value, char *buf, size_t len);

/* "Name: value" as status and monitor show it, with units and words for
 * the known properties ("64 (50%)", "never", "none"); a{sv} such as
 * Statistics go one entry per line below, indented. prefix (may be "")
 * starts every line. value is the variant's content or the variant. */
void ctl_print_property(FILE *f, const char *prefix, const char *name, DBusMessageIter *value);

/* An a{sv} of properties, known ones in a fixed order, then the rest as
 * they come. -EINVAL when iter is not at an a{sv}. */
int ctl_print_properties(FILE *f, DBusMessageIter *dict);

struct ctl_device {
        char address[18];
        char name[128];
        bool paired, trusted, connected, audio_sink, has_rssi;
        int16_t rssi;
        char codecs[80];         /* "aptx, sbc-xq, sbc" where the daemon lists them */
};

/* One entry of GetDevices' aa{sv}; entries without a valid Address are
 * -EINVAL. Unknown keys and mistyped values are skipped. */
int ctl_device_parse(DBusMessageIter *dict, struct ctl_device *d);
/* The whole aa{sv}: *devs is malloc'ed (free it), possibly NULL when n is
 * 0. Bad entries are skipped. */
int ctl_devices_parse(DBusMessageIter *array, struct ctl_device **devs, size_t *n);
/* "AA:BB:CC:DD:EE:FF  Name  [paired, connected, audio sink, -60 dBm]" */
void ctl_device_format(const struct ctl_device *d, char *buf, size_t len);

/* One output of GetOutputs' aa{sv} (ctl-outputs.c). */
struct ctl_output {
        char address[18];
        char name[128];
        char state[16];          /* connecting, connected, streaming */
        char codec[96];          /* "" until its stream is set up */
        bool has_volume;
        uint16_t volume;         /* 0..127 */
        bool has_delay;
        uint32_t delay_us;
        char delay_source[12];   /* reported, set, assumed */
        uint64_t stalls, dropped_ms;     /* its stream's, since attached */
        uint32_t out_of_step_us;         /* heard ahead of the other by */
};

/* One entry; -EINVAL without a valid Address. Unknown keys and mistyped
 * values are skipped. */
int ctl_output_parse(DBusMessageIter *dict, struct ctl_output *o);
/* "AA:BB:CC:DD:EE:FF  Name  streaming  SBC 48000 Hz ...  volume 64  delay
 * 40.0 ms (reported)", then "  2 stalls  120 ms dropped" when there were
 * any, and "  heard 160 ms ahead" when the two cannot be aligned */
void ctl_output_format(const struct ctl_output *o, char *buf, size_t len);

/* "MediaKey: play 00:11:22:33:44:55", or without the device when none
 * was named; key and device come from the bus and are cleaned. */
void ctl_format_media_key(const char *key, const char *device, char *buf, size_t len);

/* The sentence to show for a failed call. not_running is set when the
 * daemon is not on the bus or could not be started. */
void ctl_error_text(const char *name, const char *message, int timeout_ms,
                    char *buf, size_t len, bool *not_running);

#endif
