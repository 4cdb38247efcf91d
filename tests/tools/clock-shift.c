/* LD_PRELOAD shim: what a system suspend and a wall-clock step do to the
 * clocks a process reads, without touching this machine's clock.
 *
 * A2DPSRC_CLOCK_SHIFT names a file holding "BOOT REAL": seconds (signed,
 * may be fractional) added to CLOCK_BOOTTIME and to CLOCK_REALTIME reads
 * (clock_gettime, gettimeofday, time). CLOCK_MONOTONIC is left alone:
 *
 *   a suspend of S seconds:  BOOT += S, REAL += S  (MONOTONIC stops)
 *   an NTP step of S:        REAL += S             (the others do not move)
 *
 * The file is read at each shifted read, so a test moves the clocks while
 * the process runs; missing or unreadable = no shift. Only reads: a timer
 * armed in the kernel (timerfd) does not see the shift. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime(void)
{
        static clock_gettime_fn fn;

        if (!fn)
                fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        return fn;
}

/* ns added to clk; 0 for the clocks a suspend and a step leave alone */
static long long shift_ns(clockid_t clk)
{
        const char *path = getenv("A2DPSRC_CLOCK_SHIFT");
        double boot = 0, real = 0;
        char buf[128];
        ssize_t n;
        int fd;

        if (clk != CLOCK_BOOTTIME && clk != CLOCK_BOOTTIME_ALARM && clk != CLOCK_REALTIME &&
            clk != CLOCK_REALTIME_COARSE && clk != CLOCK_REALTIME_ALARM)
                return 0;
        if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        if (sscanf(buf, "%lf %lf", &boot, &real) < 1)
                return 0;
        return (long long)(((clk == CLOCK_BOOTTIME || clk == CLOCK_BOOTTIME_ALARM) ? boot : real) * 1e9);
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
        long long ns, shift;
        int r = real_clock_gettime()(clk, ts);

        if (r < 0 || !(shift = shift_ns(clk)))
                return r;
        ns = (long long)ts->tv_sec * 1000000000ll + ts->tv_nsec + shift;
        ts->tv_sec = (time_t)(ns / 1000000000ll);
        ts->tv_nsec = (long)(ns % 1000000000ll);
        if (ts->tv_nsec < 0) {
                ts->tv_nsec += 1000000000l;
                ts->tv_sec--;
        }
        return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
        struct timespec ts;

        (void)tz;
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -1;
        *tv = (struct timeval){ .tv_sec = ts.tv_sec, .tv_usec = ts.tv_nsec / 1000 };
        return 0;
}

time_t time(time_t *out)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        if (out)
                *out = ts.tv_sec;
        return ts.tv_sec;
}
