/* The doctor's rules share these (doctor.c, doctor-stream.c): a finding
 * added to the output, its text, and the thresholds. Internal to the
 * doctor; doctor.h is its interface. */
#ifndef A2DPSRC_DOCTOR_RULES_H
#define A2DPSRC_DOCTOR_RULES_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "doctor.h"

#define MIN_US 60000000ull
#define RECENT_US (10 * MIN_US)         /* "lately" for failures and suspends */
#define LINK_WINDOW_US (5 * MIN_US)     /* link quality over the last minutes */
#define SILENCE_WARN_MS 2000u
#define SLEEP_MIN_SILENCE_MS 5000u      /* a speaker's auto-off is seconds, not less */
#define LOW_VOLUME 40u                  /* of 127: about -10 dB */
#define SEED_LATENCY_LOW_MS 120u
#define SEED_LATENCY_HIGH_MS 180u
#define RSSI_LOW_DB (-10)               /* below the golden receive range */
#define LINK_QUALITY_LOW 200u

struct doctor_out {
        struct doctor_finding *f;
        size_t n, max;
        struct doctor_finding spare;    /* no room: written here and dropped */
};

static inline struct doctor_finding *add(struct doctor_out *o, const char *id, enum doctor_verdict v)
{
        struct doctor_finding *f = o->n < o->max ? &o->f[o->n++] : &o->spare;

        memset(f, 0, sizeof(*f));
        snprintf(f->id, sizeof(f->id), "%s", id);
        f->verdict = v;
        return f;
}

__attribute__((format(printf, 3, 4)))
static inline void put(char *dst, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(dst, len, fmt, ap);
        va_end(ap);
}

/* Appends to a string already in dst. */
__attribute__((format(printf, 3, 4)))
static inline void cat(char *dst, size_t len, const char *fmt, ...)
{
        size_t used = strlen(dst);
        va_list ap;

        if (used + 1 >= len)
                return;
        va_start(ap, fmt);
        vsnprintf(dst + used, len - used, fmt, ap);
        va_end(ap);
}

#define SEEN(f, ...) put((f)->seen, sizeof((f)->seen), __VA_ARGS__)
#define FIX(f, ...) put((f)->fix, sizeof((f)->fix), __VA_ARGS__)

/* "12 s ago", "5 min ago", "2 h ago" */
static inline const char *ago(uint64_t now, uint64_t at, char *buf, size_t len)
{
        uint64_t s = now > at ? (now - at) / 1000000 : 0;

        if (s < 120)
                snprintf(buf, len, "%llu s ago", (unsigned long long)s);
        else if (s < 7200)
                snprintf(buf, len, "%llu min ago", (unsigned long long)(s / 60));
        else
                snprintf(buf, len, "%llu h ago", (unsigned long long)(s / 3600));
        return buf;
}

static inline uint64_t since(const struct doctor_snapshot *s, uint64_t window)
{
        return s->now_us > window ? s->now_us - window : 0;
}

/* The stream's findings, in order: suspended, silence, routing, volume,
 * codec, latency, link, radio (doctor-stream.c). */
void doctor_check_stream(const struct doctor_snapshot *s, struct doctor_out *o);

#endif
