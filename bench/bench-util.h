/* What the bench tools share: the process's CPU clock and a hex argument. */
#ifndef A2DPSRC_BENCH_UTIL_H
#define A2DPSRC_BENCH_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* CPU seconds this process has used. */
static inline double cpu_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Hex digits, two a byte, into at most max bytes. */
static inline int bench_parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
        size_t n = strlen(s) / 2;

        if (strlen(s) % 2 || n == 0 || n > max)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned v;

                if (sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t)v;
        }
        *len = n;
        return 0;
}

#endif
