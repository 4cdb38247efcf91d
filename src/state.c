#include "state.h"
#include "speaker-delay.h"

#include "codec-names.h"
#include "err-text.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAGIC "a2dpsrc-state"

static const char *const route_names[] = {
        [ROUTE_BLUETOOTH] = "bluetooth", [ROUTE_LOCAL] = "local",
};

const char *route_name(enum route r)
{
        return (unsigned)r < sizeof(route_names) / sizeof(route_names[0]) ? route_names[r] : "?";
}

int route_from_name(const char *name)
{
        for (unsigned i = 0; i < sizeof(route_names) / sizeof(route_names[0]); i++)
                if (strcmp(name, route_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

void state_defaults(struct saved_state *s)
{
        memset(s, 0, sizeof(*s));
        s->speaker_mode = false;
        s->routes[CAT_MEDIA] = ROUTE_BLUETOOTH;
        s->routes[CAT_ALERTS] = ROUTE_LOCAL;
        s->routes[CAT_VOICE] = ROUTE_LOCAL;
        s->volume = STATE_VOLUME_DEFAULT;
        s->idle_suspend = 0;
        s->auto_reconnect = true;
}

/* ---- addresses ---------------------------------------------------------- */

static bool addr_valid_n(const char *s, size_t n)
{
        if (n != STATE_ADDR_LEN - 1)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (i % 3 == 2) {
                        if (s[i] != ':')
                                return false;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return false;
                }
        }
        return true;
}

/* The string must end within the field: the struct may have been filled
 * by hand. */
static bool addr_field_valid(const char field[STATE_ADDR_LEN])
{
        const char *nul = memchr(field, '\0', STATE_ADDR_LEN);

        return nul && addr_valid_n(field, (size_t)(nul - field));
}

static void addr_copy_upper(char dst[STATE_ADDR_LEN], const char *src)
{
        for (size_t i = 0; i < STATE_ADDR_LEN - 1; i++)
                dst[i] = (char)toupper((unsigned char)src[i]);
        dst[STATE_ADDR_LEN - 1] = '\0';
}

/* An address list of the state (paired, no-xq, rechoose-codec): at most STATE_MAX_PAIRED,
 * upper case, no duplicates. */
typedef char addr_list_t[STATE_MAX_PAIRED][STATE_ADDR_LEN];

static bool list_contains(const addr_list_t l, unsigned count, const char *addr)
{
        unsigned n = count < STATE_MAX_PAIRED ? count : STATE_MAX_PAIRED;

        for (unsigned i = 0; i < n; i++)
                if (strncasecmp(l[i], addr, STATE_ADDR_LEN) == 0)
                        return true;
        return false;
}

static int list_add(addr_list_t l, unsigned *count, const char *addr)
{
        if (!addr_valid_n(addr, strnlen(addr, STATE_ADDR_LEN)))
                return -EINVAL;
        if (list_contains(l, *count, addr))
                return 0;
        if (*count >= STATE_MAX_PAIRED)
                return -ENOSPC;
        addr_copy_upper(l[(*count)++], addr);
        return 0;
}

static int list_remove(addr_list_t l, unsigned *count, const char *addr)
{
        unsigned n = *count < STATE_MAX_PAIRED ? *count : STATE_MAX_PAIRED;

        for (unsigned i = 0; i < n; i++) {
                if (strncasecmp(l[i], addr, STATE_ADDR_LEN) != 0)
                        continue;
                /* keep the order: the file then changes only where it must */
                memmove(l[i], l[i + 1], (n - i - 1) * sizeof(l[0]));
                *count = n - 1;
                memset(l[n - 1], 0, sizeof(l[0]));
                return 0;
        }
        return -ENOENT;
}

bool state_paired_contains(const struct saved_state *s, const char *addr)
{
        return list_contains(s->paired, s->n_paired, addr);
}

int state_paired_add(struct saved_state *s, const char *addr)
{
        return list_add(s->paired, &s->n_paired, addr);
}

bool state_no_xq(const struct saved_state *s, const char *addr)
{
        return list_contains(s->no_xq, s->n_no_xq, addr);
}

/* on: added; off: removed, whether it was there or not */
static int list_set(addr_list_t l, unsigned *count, const char *addr, bool on)
{
        int r;

        if (on)
                return list_add(l, count, addr);
        r = list_remove(l, count, addr);
        return r == -ENOENT ? 0 : r;
}

int state_no_xq_set(struct saved_state *s, const char *addr, bool no_xq)
{
        return list_set(s->no_xq, &s->n_no_xq, addr, no_xq);
}

bool state_rechoose_codec(const struct saved_state *s, const char *addr)
{
        return list_contains(s->rechoose, s->n_rechoose, addr);
}

int state_rechoose_codec_set(struct saved_state *s, const char *addr, bool on)
{
        return list_set(s->rechoose, &s->n_rechoose, addr, on);
}

int state_paired_remove(struct saved_state *s, const char *addr)
{
        return list_remove(s->paired, &s->n_paired, addr);
}

static int delay_index(const struct saved_state *s, const char *addr)
{
        unsigned n = s->n_delays < STATE_MAX_PAIRED ? s->n_delays : STATE_MAX_PAIRED;

        for (unsigned i = 0; i < n; i++)
                if (strncasecmp(s->delays[i].addr, addr, STATE_ADDR_LEN) == 0)
                        return (int)i;
        return -1;
}

uint32_t state_speaker_delay(const struct saved_state *s, const char *addr)
{
        int i = delay_index(s, addr);

        return i < 0 ? 0 : s->delays[i].us;
}

int state_speaker_delay_set(struct saved_state *s, const char *addr, uint32_t us)
{
        int i;

        if (!addr_valid_n(addr, strnlen(addr, STATE_ADDR_LEN)) || us > SPEAKER_DELAY_MAX_US)
                return -EINVAL;
        i = delay_index(s, addr);
        if (us == 0) {
                if (i >= 0) {
                        /* keep the order, as the address lists do */
                        memmove(&s->delays[i], &s->delays[i + 1],
                                (s->n_delays - (unsigned)i - 1) * sizeof(s->delays[0]));
                        memset(&s->delays[--s->n_delays], 0, sizeof(s->delays[0]));
                }
                return 0;
        }
        if (i < 0) {
                if (s->n_delays >= STATE_MAX_PAIRED)
                        return -ENOSPC;
                i = (int)s->n_delays++;
                addr_copy_upper(s->delays[i].addr, addr);
        }
        s->delays[i].us = us;
        return 0;
}

/* ---- parsing ------------------------------------------------------------ */

struct span {
        const char *p;
        size_t n;
};

static bool span_is(struct span s, const char *lit)
{
        size_t n = strlen(lit);

        return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static struct span span_trim(struct span s)
{
        while (s.n && is_blank(s.p[0])) {
                s.p++;
                s.n--;
        }
        while (s.n && is_blank(s.p[s.n - 1]))
                s.n--;
        return s;
}

/* A value as it may appear in a message: short, and only printable bytes,
 * since the file may hold anything. */
static void quote(struct span v, char *out, size_t len)
{
        size_t i, n = v.n < 24 ? v.n : 24;

        if (len < 4) {
                if (len)
                        out[0] = '\0';
                return;
        }
        if (n > len - 4)
                n = len - 4;
        for (i = 0; i < n; i++) {
                unsigned char c = (unsigned char)v.p[i];
                out[i] = isprint(c) ? (char)c : '?';
        }
        if (n < v.n && i + 3 < len) {
                memcpy(out + i, "...", 3);
                i += 3;
        }
        out[i] = '\0';
}

static int __attribute__((format(printf, 4, 5)))
fail(char *err, size_t err_len, unsigned line, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!err || !err_len)
                return -EINVAL;
        n = snprintf(err, err_len, "line %u: ", line);
        if (n < 0 || (size_t)n >= err_len)
                return -EINVAL;
        va_start(ap, fmt);
        err_vtext(err + n, err_len - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* Decimal digits only: no sign, no spaces, no hex. */
static int parse_u32(struct span v, uint32_t max, uint32_t *out)
{
        uint64_t x = 0;

        if (v.n == 0 || v.n > 20)
                return -EINVAL;
        for (size_t i = 0; i < v.n; i++) {
                if (v.p[i] < '0' || v.p[i] > '9')
                        return -EINVAL;
                x = x * 10 + (uint64_t)(v.p[i] - '0');
                if (x > max)
                        return -EINVAL;
        }
        *out = (uint32_t)x;
        return 0;
}

static int parse_bool(struct span v, bool *out)
{
        if (span_is(v, "true"))
                *out = true;
        else if (span_is(v, "false"))
                *out = false;
        else
                return -EINVAL;
        return 0;
}

static int parse_version(struct span line, unsigned lineno, char *err, size_t err_len)
{
        struct span magic = { STATE_MAGIC, sizeof(STATE_MAGIC) - 1 };
        struct span num;
        uint32_t v;

        if (line.n <= magic.n || memcmp(line.p, magic.p, magic.n) != 0 ||
            !is_blank(line.p[magic.n]))
                return fail(err, err_len, lineno, "not an a2dpsrc state file");
        num = span_trim((struct span){ line.p + magic.n, line.n - magic.n });
        if (parse_u32(num, UINT32_MAX, &v) < 0)
                return fail(err, err_len, lineno, "bad version number");
        if (v != STATE_VERSION)
                return fail(err, err_len, lineno, "version %u is not supported (only %d)",
                            (unsigned)v, STATE_VERSION);
        return 0;
}

/* "sbc-xq,sbc": Manager1.Codecs. A name this a2dpsrc does not know (a
 * newer one wrote it) is skipped; sbc must be there. */
static int parse_codecs(struct saved_state *s, struct span value, unsigned lineno, char *err,
                        size_t err_len)
{
        unsigned mask = 0;
        size_t i = 0;

        while (i < value.n) {
                size_t j = i;
                char name[16];
                int c;

                while (j < value.n && value.p[j] != ',')
                        j++;
                if (j - i < sizeof(name)) {
                        memcpy(name, value.p + i, j - i);
                        name[j - i] = '\0';
                        c = codec_index_by_name(name);
                        if (c >= 0)
                                mask |= 1u << c;
                }
                i = j + 1;
        }
        if (!(mask & (1u << CODEC_SBC)))
                return fail(err, err_len, lineno, "codecs: the list must name sbc");
        s->codecs = mask;
        return 0;
}

static void keep_unknown(struct saved_state *s, struct span key, struct span value)
{
        size_t n = key.n + 1 + value.n + 1;

        if (n > sizeof(s->unknown) - s->unknown_len)
                return;
        memcpy(s->unknown + s->unknown_len, key.p, key.n);
        s->unknown[s->unknown_len + key.n] = '=';
        memcpy(s->unknown + s->unknown_len + key.n + 1, value.p, value.n);
        s->unknown[s->unknown_len + n - 1] = '\n';
        s->unknown_len += n;
}

static int parse_entry(struct saved_state *s, struct span key, struct span value,
                       unsigned lineno, char *err, size_t err_len)
{
        char q[32];
        uint32_t u;

        quote(value, q, sizeof(q));
        if (span_is(key, "speaker-mode")) {
                if (parse_bool(value, &s->speaker_mode) < 0)
                        return fail(err, err_len, lineno, "speaker-mode: '%s' is not true or false", q);
                return 0;
        }
        if (span_is(key, "auto-reconnect")) {
                if (parse_bool(value, &s->auto_reconnect) < 0)
                        return fail(err, err_len, lineno, "auto-reconnect: '%s' is not true or false", q);
                return 0;
        }
        if (span_is(key, "multi-output")) {
                if (parse_bool(value, &s->multi_output) < 0)
                        return fail(err, err_len, lineno, "multi-output: '%s' is not true or false", q);
                return 0;
        }
        for (int c = 0; c < CAT_COUNT; c++) {
                char name[32];

                snprintf(name, sizeof(name), "route.%s", audio_category_name(c));
                if (!span_is(key, name))
                        continue;
                if (span_is(value, route_names[ROUTE_BLUETOOTH]))
                        s->routes[c] = ROUTE_BLUETOOTH;
                else if (span_is(value, route_names[ROUTE_LOCAL]))
                        s->routes[c] = ROUTE_LOCAL;
                else
                        return fail(err, err_len, lineno, "%s: '%s' is not bluetooth or local",
                                    name, q);
                return 0;
        }
        if (span_is(key, "volume")) {
                if (parse_u32(value, STATE_VOLUME_MAX, &u) < 0)
                        return fail(err, err_len, lineno, "volume: '%s' is not 0-%d",
                                    q, STATE_VOLUME_MAX);
                s->volume = (uint8_t)u;
                return 0;
        }
        if (span_is(key, "idle-suspend")) {
                if (parse_u32(value, STATE_IDLE_SUSPEND_MAX, &s->idle_suspend) < 0)
                        return fail(err, err_len, lineno, "idle-suspend: '%s' is not 0-%u seconds", q,
                                    STATE_IDLE_SUSPEND_MAX);
                return 0;
        }
        if (span_is(key, "last-output")) {
                if (value.n == 0) {
                        /* whole field cleared: a parsed state has one
                         * representation, whatever the file said before */
                        memset(s->last_output, 0, sizeof(s->last_output));
                        return 0;
                }
                if (!addr_valid_n(value.p, value.n))
                        return fail(err, err_len, lineno,
                                    "last-output: '%s' is not a Bluetooth address", q);
                addr_copy_upper(s->last_output, value.p);
                return 0;
        }
        if (span_is(key, "codecs"))
                return parse_codecs(s, value, lineno, err, err_len);
        if (span_is(key, "paired") || span_is(key, "no-xq") || span_is(key, "rechoose-codec")) {
                const char *name = span_is(key, "paired") ? "paired" : span_is(key, "no-xq") ? "no-xq"
                                                                                              : "rechoose-codec";
                char addr[STATE_ADDR_LEN];
                int r;

                if (!addr_valid_n(value.p, value.n))
                        return fail(err, err_len, lineno, "%s: '%s' is not a Bluetooth address", name, q);
                memcpy(addr, value.p, STATE_ADDR_LEN - 1);
                addr[STATE_ADDR_LEN - 1] = '\0';
                if (name[0] == 'p')
                        r = state_paired_add(s, addr);
                else if (name[0] == 'n')
                        r = state_no_xq_set(s, addr, true);
                else
                        r = state_rechoose_codec_set(s, addr, true);
                if (r < 0)
                        return fail(err, err_len, lineno, "%s: more than %d addresses", name,
                                    STATE_MAX_PAIRED);
                return 0;
        }
        if (span_is(key, "speaker-delay")) {
                /* "AA:BB:CC:DD:EE:FF 180000" */
                char addr[STATE_ADDR_LEN];
                struct span us = { value.p + STATE_ADDR_LEN, 0 };

                if (value.n <= STATE_ADDR_LEN || value.p[STATE_ADDR_LEN - 1] != ' ' ||
                    !addr_valid_n(value.p, STATE_ADDR_LEN - 1))
                        return fail(err, err_len, lineno, "speaker-delay: '%s' is not an address and microseconds", q);
                us.n = value.n - STATE_ADDR_LEN;
                if (parse_u32(us, SPEAKER_DELAY_MAX_US, &u) < 0 || u == 0)
                        return fail(err, err_len, lineno, "speaker-delay: '%s' is not 1-%u microseconds", q,
                                    SPEAKER_DELAY_MAX_US);
                memcpy(addr, value.p, STATE_ADDR_LEN - 1);
                addr[STATE_ADDR_LEN - 1] = '\0';
                if (state_speaker_delay(s, addr))
                        return fail(err, err_len, lineno, "speaker-delay: %s given twice", addr);
                if (state_speaker_delay_set(s, addr, u) < 0)
                        return fail(err, err_len, lineno, "speaker-delay: more than %d speakers", STATE_MAX_PAIRED);
                return 0;
        }
        /* written by a newer a2dpsrc: not ours to judge, but kept */
        keep_unknown(s, key, value);
        return 0;
}

static unsigned line_of(const char *text, const char *at)
{
        unsigned n = 1;

        for (const char *p = text; p < at; p++)
                if (*p == '\n')
                        n++;
        return n;
}

int state_parse(const char *text, size_t len, struct saved_state *out,
                char *err, size_t err_len)
{
        struct saved_state s;
        const char *p = text, *end = text + len, *nul;
        unsigned lineno = 0;
        int r;

        state_defaults(out);
        if (err && err_len)
                err[0] = '\0';
        if (!text || len == 0)
                return fail(err, err_len, 1, "empty file");
        /* NUL bytes are what a file cut short by a crash often holds */
        nul = memchr(text, '\0', len);
        if (nul)
                return fail(err, err_len, line_of(text, nul), "NUL byte (corrupt file)");
        /* we always end with a newline: its absence means a cut file */
        if (text[len - 1] != '\n')
                return fail(err, err_len, line_of(text, end - 1),
                            "no newline at the end (truncated file?)");

        state_defaults(&s);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                struct span line, key, value;
                const char *eq;

                line = span_trim((struct span){ p, (size_t)(nl - p) });
                p = nl + 1;
                lineno++;
                if (lineno == 1) {
                        r = parse_version(line, lineno, err, err_len);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (line.n == 0 || line.p[0] == '#')
                        continue;
                eq = memchr(line.p, '=', line.n);
                if (!eq)
                        return fail(err, err_len, lineno, "expected key=value");
                key = span_trim((struct span){ line.p, (size_t)(eq - line.p) });
                value = span_trim((struct span){ eq + 1, (size_t)(line.p + line.n - eq - 1) });
                r = parse_entry(&s, key, value, lineno, err, err_len);
                if (r < 0)
                        return r;
        }
        *out = s;
        return 0;
}

/* ---- formatting --------------------------------------------------------- */

struct out {
        char *buf;
        size_t len, used;
        bool overflow;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (o->overflow)
                return;
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= o->len - o->used) {
                o->overflow = true;
                return;
        }
        o->used += (size_t)n;
}

static void put_addr(struct out *o, const char *key, const char *addr)
{
        char up[STATE_ADDR_LEN];

        addr_copy_upper(up, addr);
        put(o, "%s=%s\n", key, up);
}

/* Addresses, none twice (the reader would fold duplicates into one). */
static bool list_valid(const addr_list_t l, unsigned count)
{
        for (unsigned i = 0; i < count; i++) {
                if (!addr_field_valid(l[i]))
                        return false;
                for (unsigned j = 0; j < i; j++)
                        if (strncasecmp(l[i], l[j], STATE_ADDR_LEN) == 0)
                                return false;
        }
        return true;
}

static bool state_valid(const struct saved_state *s)
{
        if (s->volume > STATE_VOLUME_MAX || s->n_paired > STATE_MAX_PAIRED ||
            s->n_no_xq > STATE_MAX_PAIRED || s->n_rechoose > STATE_MAX_PAIRED ||
            s->idle_suspend > STATE_IDLE_SUSPEND_MAX || s->unknown_len > sizeof(s->unknown) ||
            memchr(s->unknown, '\0', s->unknown_len))
                return false;
        for (int c = 0; c < CAT_COUNT; c++)
                if (s->routes[c] != ROUTE_BLUETOOTH && s->routes[c] != ROUTE_LOCAL)
                        return false;
        if (s->last_output[0] && !addr_field_valid(s->last_output))
                return false;
        if (s->codecs && (!(s->codecs & (1u << CODEC_SBC)) || s->codecs >> CODEC_COUNT))
                return false;
        if (!list_valid(s->paired, s->n_paired) || !list_valid(s->no_xq, s->n_no_xq) ||
            !list_valid(s->rechoose, s->n_rechoose))
                return false;
        if (s->n_delays > STATE_MAX_PAIRED)
                return false;
        for (unsigned i = 0; i < s->n_delays; i++) {
                if (!addr_field_valid(s->delays[i].addr) || s->delays[i].us == 0 ||
                    s->delays[i].us > SPEAKER_DELAY_MAX_US)
                        return false;
                for (unsigned j = 0; j < i; j++)
                        if (strncasecmp(s->delays[i].addr, s->delays[j].addr, STATE_ADDR_LEN) == 0)
                                return false;
        }
        return true;
}

int state_format(const struct saved_state *s, char *buf, size_t len)
{
        struct out o = { buf, len, 0, false };

        if (!state_valid(s))
                return -EINVAL;
        if (len == 0)
                return -ENOSPC;
        put(&o, "%s %d\n", STATE_MAGIC, STATE_VERSION);
        put(&o, "speaker-mode=%s\n", s->speaker_mode ? "true" : "false");
        for (int c = 0; c < CAT_COUNT; c++)
                put(&o, "route.%s=%s\n", audio_category_name(c), route_name(s->routes[c]));
        put(&o, "volume=%u\n", (unsigned)s->volume);
        put(&o, "idle-suspend=%lu\n", (unsigned long)s->idle_suspend);
        put(&o, "auto-reconnect=%s\n", s->auto_reconnect ? "true" : "false");
        if (s->multi_output)
                put(&o, "multi-output=true\n");
        if (s->last_output[0])
                put_addr(&o, "last-output", s->last_output);
        else
                put(&o, "last-output=\n");
        for (unsigned i = 0; i < s->n_paired; i++)
                put_addr(&o, "paired", s->paired[i]);
        for (unsigned i = 0; i < s->n_no_xq; i++)
                put_addr(&o, "no-xq", s->no_xq[i]);
        for (unsigned i = 0; i < s->n_rechoose; i++)
                put_addr(&o, "rechoose-codec", s->rechoose[i]);
        for (unsigned i = 0; i < s->n_delays; i++) {
                char up[STATE_ADDR_LEN];

                addr_copy_upper(up, s->delays[i].addr);
                put(&o, "speaker-delay=%s %lu\n", up, (unsigned long)s->delays[i].us);
        }
        if (s->codecs) {
                const char *sep = "codecs=";

                for (int i = 0; i < CODEC_COUNT; i++) {
                        if (!(s->codecs & (1u << a2dp_codec_default_order[i])))
                                continue;
                        put(&o, "%s%s", sep, codec_names[a2dp_codec_default_order[i]]);
                        sep = ",";
                }
                put(&o, "\n");
        }
        if (s->unknown_len)
                put(&o, "%.*s", (int)s->unknown_len, s->unknown);
        if (o.overflow) {
                buf[0] = '\0';
                return -ENOSPC;
        }
        return (int)o.used;
}

