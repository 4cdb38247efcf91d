/* Command line and configuration file (same keys). Parsing is pure: the
 * file is read by the caller, so tests and fuzzers reach every rule. */
#ifndef A2DPSRC_OPTIONS_H
#define A2DPSRC_OPTIONS_H

#include <stddef.h>

#define OPT_STR 256

enum audio_category { CAT_MEDIA, CAT_ALERTS, CAT_VOICE, CAT_COUNT };

struct options {
        char capture[CAT_COUNT][OPT_STR]; /* ALSA capture PCM per category; "" = none */
        char local_output[OPT_STR];
        char adapter[OPT_STR];             /* "" = every adapter */
        char config[OPT_STR];
        char state_dir[OPT_STR];
        char power_supply[OPT_STR];
        unsigned rate;                     /* preferred sampling rate */
        unsigned codecs;                   /* bit (1 << enum a2dp_codec_index) per codec offered */
        int rt_priority;                   /* SCHED_FIFO priority, 0 = none */
        unsigned scan_timeout;             /* seconds a Manager1 scan may run */
        int verbose;
        int config_given;                  /* --config named explicitly */
};

#define DEFAULT_CONFIG "/etc/a2dpsrcd.conf"

void options_defaults(struct options *o);
const char *audio_category_name(enum audio_category c);
int audio_category_from_name(const char *name);

/* Set one key (config-file spelling: "capture", "adapter", "rt-priority",
 * ...). Returns 0 or -EINVAL with a one-line reason. */
int options_set(struct options *o, const char *key, const char *value,
                char *err, size_t err_len);

/* "key = value" lines, '#' comments, blank lines. Returns 0 or -EINVAL with
 * the line number in err. */
int options_parse_config(struct options *o, const char *text, char *err, size_t err_len);

/* Command line. Returns 0 to run, 1 when --help/--version was answered,
 * -EINVAL with a reason. Only the path of --config is taken when
 * config_only is set (first pass, before the file is read). */
int options_parse_args(struct options *o, int argc, char **argv, int config_only,
                       char *err, size_t err_len);

void options_usage(const char *argv0);

#endif
