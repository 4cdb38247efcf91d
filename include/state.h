/* Saved user settings: what the user chose survives restarts and reboots.
 *
 * The file is <state-dir>/state, a small text file:
 *
 *   a2dpsrc-state 1
 *   speaker-mode=false
 *   route.media=bluetooth
 *   route.alerts=local
 *   route.voice=local
 *   volume=64
 *   idle-suspend=0
 *   auto-reconnect=true
 *   multi-output=true
 *   last-output=AA:BB:CC:DD:EE:FF
 *   paired=11:22:33:44:55:66
 *   no-xq=22:33:44:55:66:77
 *   rechoose-codec=44:55:66:77:88:99
 *   speaker-delay=33:44:55:66:77:88 180000
 *   codecs=sbc-xq,sbc
 *
 * The first line names the format version. Keys a reader does not know are
 * kept as they are and written back after its own (up to a kilobyte), so
 * adding a key never needs a new version and a downgrade loses nothing; the version changes
 * only when a key changes meaning, and a reader refuses versions it does not
 * know. Missing keys keep their defaults. "multi-output" (Manager1.MultiOutput,
 * default false) is written only when true. "codecs" (Manager1.Codecs) is
 * written only once set; a name the reader does not know is skipped. "paired", "no-xq" (the
 * speakers opted out of SBC-XQ) and "rechoose-codec" (the speakers whose
 * codec was chosen to join another at its rate: chosen afresh when they
 * next play alone) repeat, once per address; so does
 * "speaker-delay" (an address, a space, microseconds 1..SPEAKER_DELAY_MAX_US:
 * the delay set for a speaker that reports none). Blank lines and lines starting with '#' are skipped.
 *
 * The parse and format half is pure (fuzzed, unit tested); the load and save
 * half is the only part that touches the disk. */
#ifndef A2DPSRC_STATE_H
#define A2DPSRC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define STATE_VERSION 1
#define STATE_FILE "state"
#define STATE_MAX_PAIRED 32
#define STATE_MAX_FILE ((size_t)64 * 1024) /* larger files are not ours */
#define STATE_UNKNOWN_MAX 1024        /* lines of a newer version kept */
#define STATE_FORMAT_MAX 8192          /* fits the largest valid state */
#define STATE_VOLUME_MAX 127           /* AVRCP absolute volume scale */
/* IdleSuspend: at most a day (seconds) */
#define STATE_IDLE_SUSPEND_MAX 86400u
/* Half scale: loud enough to hear that a speaker works, low enough not to
 * blast a speaker of unknown loudness on its first connection. */
#define STATE_VOLUME_DEFAULT 64
#define STATE_ADDR_LEN 18              /* "AA:BB:CC:DD:EE:FF" and its NUL */

enum route { ROUTE_BLUETOOTH, ROUTE_LOCAL };

struct saved_state {
        bool speaker_mode;
        enum route routes[CAT_COUNT];
        uint8_t volume;                          /* 0-127 */
        uint32_t idle_suspend;                   /* seconds, 0 = never */
        bool auto_reconnect;
        bool multi_output;       /* two speakers at once (docs/multi-output.md) */
        char last_output[STATE_ADDR_LEN];        /* "" = none */
        unsigned n_paired;
        char paired[STATE_MAX_PAIRED][STATE_ADDR_LEN]; /* paired by us */
        unsigned n_no_xq;
        char no_xq[STATE_MAX_PAIRED][STATE_ADDR_LEN];  /* never sent SBC-XQ */
        unsigned n_rechoose;
        char rechoose[STATE_MAX_PAIRED][STATE_ADDR_LEN]; /* codec chosen afresh when alone */
        unsigned codecs;         /* Manager1.Codecs: 1 << enum a2dp_codec_index; 0 = all */
        unsigned n_delays;       /* Manager1.SetSpeakerDelay, per speaker */
        struct state_delay {
                char addr[STATE_ADDR_LEN];
                uint32_t us;     /* 1..SPEAKER_DELAY_MAX_US */
        } delays[STATE_MAX_PAIRED];
        /* "key=value" lines of a newer a2dpsrc, kept and written back: a
         * downgrade and an upgrade again lose nothing (what does not fit
         * is dropped) */
        size_t unknown_len;
        char unknown[STATE_UNKNOWN_MAX];
};

void state_defaults(struct saved_state *s);

const char *route_name(enum route r);
int route_from_name(const char *name);

/* text need not be NUL-terminated. Returns 0, or -EINVAL with "line N: ..."
 * in err (which may be NULL); out is then set to the defaults. Any byte
 * sequence is safe to pass. */
int state_parse(const char *text, size_t len, struct saved_state *out,
                char *err, size_t err_len);

/* Writes the file's text with a NUL after it. Returns its length, -EINVAL
 * when s holds something state_parse would refuse (so nothing unreadable is
 * ever saved), -ENOSPC when buf is too small (STATE_FORMAT_MAX is enough).
 * Addresses are written in upper case, as BlueZ spells them; otherwise
 * state_parse(state_format(s)) gives back s exactly. */
int state_format(const struct saved_state *s, char *buf, size_t len);

/* The list of devices we paired. Addresses are compared without regard to
 * case. add: 0, or -EINVAL (bad address), -ENOSPC (list full); adding one
 * that is there already is 0. remove: 0, or -ENOENT. */
bool state_paired_contains(const struct saved_state *s, const char *addr);
int state_paired_add(struct saved_state *s, const char *addr);
int state_paired_remove(struct saved_state *s, const char *addr);
/* The speakers opted out of SBC-XQ (some break with it): the same rules. */
bool state_no_xq(const struct saved_state *s, const char *addr);
int state_no_xq_set(struct saved_state *s, const char *addr, bool no_xq);
/* The speakers whose codec was chosen under another's rate (MultiOutput):
 * bluetoothd tries that pair first on their next connection (LastUsed),
 * so alone they would keep it. The same rules. */
bool state_rechoose_codec(const struct saved_state *s, const char *addr);
int state_rechoose_codec_set(struct saved_state *s, const char *addr, bool on);

/* The delay set for a speaker (speaker-delay.h), 0 when none. set: us 0
 * forgets it; 0, or -EINVAL (bad address, us above SPEAKER_DELAY_MAX_US),
 * -ENOSPC (STATE_MAX_PAIRED speakers have one). */
uint32_t state_speaker_delay(const struct saved_state *s, const char *addr);
int state_speaker_delay_set(struct saved_state *s, const char *addr, uint32_t us);

/* Returned by state_load when the file was corrupt and was set aside. */
#define STATE_LOAD_CORRUPT 1

/* Reads <dir>/state into out. A missing file gives the defaults and 0. A
 * corrupt one is renamed to state.corrupt-<unix time> (kept for a human to
 * look at), out gets the defaults and the return is STATE_LOAD_CORRUPT with
 * the reason and the new name in err, for the caller to log once. A file
 * that cannot be read at all gives the defaults and a negative errno. A
 * leftover state.tmp from an interrupted save is removed. */
int state_load(const char *dir, struct saved_state *out, char *err, size_t err_len);

/* Replaces <dir>/state atomically: state.tmp (mode 0600) is written and
 * fsynced, renamed over state, and the directory is fsynced. On failure the
 * negative errno is returned, state.tmp is removed and the previous file is
 * still there, whole. */
int state_save(const char *dir, const struct saved_state *s);

#endif
