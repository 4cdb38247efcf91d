#include "state.h"

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
#define STATE_TMP STATE_FILE ".tmp"

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

/* An address list of the state (paired, no-xq): at most STATE_MAX_PAIRED,
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

int state_no_xq_set(struct saved_state *s, const char *addr, bool no_xq)
{
        int r;

        if (no_xq)
                return list_add(s->no_xq, &s->n_no_xq, addr);
        r = list_remove(s->no_xq, &s->n_no_xq, addr);
        return r == -ENOENT ? 0 : r;
}

int state_paired_remove(struct saved_state *s, const char *addr)
{
        return list_remove(s->paired, &s->n_paired, addr);
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
                if (parse_u32(value, UINT32_MAX, &s->idle_suspend) < 0)
                        return fail(err, err_len, lineno,
                                    "idle-suspend: '%s' is not a number of seconds", q);
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
        if (span_is(key, "paired") || span_is(key, "no-xq")) {
                bool paired = span_is(key, "paired");
                const char *name = paired ? "paired" : "no-xq";
                char addr[STATE_ADDR_LEN];

                if (!addr_valid_n(value.p, value.n))
                        return fail(err, err_len, lineno, "%s: '%s' is not a Bluetooth address", name, q);
                memcpy(addr, value.p, STATE_ADDR_LEN - 1);
                addr[STATE_ADDR_LEN - 1] = '\0';
                if ((paired ? state_paired_add(s, addr) : state_no_xq_set(s, addr, true)) < 0)
                        return fail(err, err_len, lineno, "%s: more than %d addresses", name,
                                    STATE_MAX_PAIRED);
                return 0;
        }
        /* written by a newer a2dpsrc: not ours to judge */
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

static bool state_valid(const struct saved_state *s)
{
        if (s->volume > STATE_VOLUME_MAX || s->n_paired > STATE_MAX_PAIRED ||
            s->n_no_xq > STATE_MAX_PAIRED)
                return false;
        for (int c = 0; c < CAT_COUNT; c++)
                if (s->routes[c] != ROUTE_BLUETOOTH && s->routes[c] != ROUTE_LOCAL)
                        return false;
        if (s->last_output[0] && !addr_field_valid(s->last_output))
                return false;
        if (s->codecs && (!(s->codecs & (1u << CODEC_SBC)) || s->codecs >> CODEC_COUNT))
                return false;
        for (unsigned i = 0; i < s->n_paired; i++) {
                if (!addr_field_valid(s->paired[i]))
                        return false;
                /* the reader would fold duplicates into one entry */
                for (unsigned j = 0; j < i; j++)
                        if (strncasecmp(s->paired[i], s->paired[j], STATE_ADDR_LEN) == 0)
                                return false;
        }
        for (unsigned i = 0; i < s->n_no_xq; i++) {
                if (!addr_field_valid(s->no_xq[i]))
                        return false;
                for (unsigned j = 0; j < i; j++)
                        if (strncasecmp(s->no_xq[i], s->no_xq[j], STATE_ADDR_LEN) == 0)
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
        if (s->last_output[0])
                put_addr(&o, "last-output", s->last_output);
        else
                put(&o, "last-output=\n");
        for (unsigned i = 0; i < s->n_paired; i++)
                put_addr(&o, "paired", s->paired[i]);
        for (unsigned i = 0; i < s->n_no_xq; i++)
                put_addr(&o, "no-xq", s->no_xq[i]);
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
        if (o.overflow) {
                buf[0] = '\0';
                return -ENOSPC;
        }
        return (int)o.used;
}

/* ---- the file ----------------------------------------------------------- */

static void set_err(char *err, size_t err_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
        va_list ap;

        if (!err || !err_len)
                return;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
}

/* Reads up to cap bytes; *len == cap means the file may be longer. */
static int read_upto(int fd, char *buf, size_t cap, size_t *len)
{
        size_t got = 0;

        while (got < cap) {
                ssize_t n = read(fd, buf + got, cap - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        *len = got;
        return 0;
}

/* Renames the bad file to a name not in use, so an earlier corrupt copy is
 * never overwritten either. */
static int set_aside(int dfd, char *name, size_t name_len)
{
        long long now = (long long)time(NULL);

        for (int i = 0; i < 100; i++) {
                if (i == 0)
                        snprintf(name, name_len, STATE_FILE ".corrupt-%lld", now);
                else
                        snprintf(name, name_len, STATE_FILE ".corrupt-%lld.%d", now, i);
                if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                if (renameat(dfd, STATE_FILE, dfd, name) < 0)
                        return -errno;
                fsync(dfd);     /* best effort: the rename is what matters now */
                return 0;
        }
        return -EEXIST;
}

int state_load(const char *dir, struct saved_state *out, char *err, size_t err_len)
{
        char msg[256], aside[64];
        struct stat st;
        char *buf = NULL;
        size_t len = 0;
        int dfd, fd = -1, r;

        state_defaults(out);
        set_err(err, err_len, "%s", "");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                if (r == -ENOENT)
                        return 0;       /* nothing saved yet */
                set_err(err, err_len, "%s: %s", dir, strerror(-r));
                return r;
        }
        /* an interrupted save: state itself is still the last good copy */
        unlinkat(dfd, STATE_TMP, 0);

        /* O_NONBLOCK: a FIFO planted under our name must not hang us */
        fd = openat(dfd, STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT) {
                        r = 0;
                        goto out;
                }
                set_err(err, err_len, "%s/" STATE_FILE ": %s", dir, strerror(-r));
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                set_err(err, err_len, "%s/" STATE_FILE ": %s", dir, strerror(-r));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(msg, sizeof(msg), "not a regular file");
                goto corrupt;
        }
        buf = malloc(STATE_MAX_FILE + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        r = read_upto(fd, buf, STATE_MAX_FILE + 1, &len);
        if (r < 0) {
                /* maybe a bad sector, maybe passing: not proof of corruption */
                set_err(err, err_len, "%s/" STATE_FILE ": %s", dir, strerror(-r));
                goto out;
        }
        if (len > STATE_MAX_FILE) {
                snprintf(msg, sizeof(msg), "larger than %zu KiB", STATE_MAX_FILE / 1024);
                goto corrupt;
        }
        if (state_parse(buf, len, out, msg, sizeof(msg)) == 0) {
                r = 0;
                goto out;
        }

corrupt:
        state_defaults(out);
        r = set_aside(dfd, aside, sizeof(aside));
        if (r < 0)
                set_err(err, err_len, "%s/" STATE_FILE ": %s; could not move it aside: %s",
                        dir, msg, strerror(-r));
        else
                set_err(err, err_len, "%s/" STATE_FILE ": %s; moved to %s", dir, msg, aside);
        r = STATE_LOAD_CORRUPT;
out:
        free(buf);
        if (fd >= 0)
                close(fd);
        close(dfd);
        return r;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int state_save(const char *dir, const struct saved_state *s)
{
        char text[STATE_FORMAT_MAX];
        int dfd, fd, r, n;

        n = state_format(s, text, sizeof(text));
        if (n < 0)
                return n;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        /* a fresh inode: an old tmp file may have another mode or owner */
        unlinkat(dfd, STATE_TMP, 0);
        fd = openat(dfd, STATE_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;     /* not ours: nothing to remove */
                goto out;
        }
        r = write_all(fd, text, (size_t)n);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        /* some file systems report write-back errors only here */
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                goto fail;
        if (renameat(dfd, STATE_TMP, dfd, STATE_FILE) < 0) {
                r = -errno;
                goto fail;
        }
        /* makes the rename itself durable; EINVAL: the file system cannot */
        if (fsync(dfd) < 0 && errno != EINVAL)
                r = -errno;
        goto out;

fail:
        unlinkat(dfd, STATE_TMP, 0);
out:
        close(dfd);
        return r;
}
