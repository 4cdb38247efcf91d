#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int max_level = LOG_LVL_INFO;
static int journal;

void log_init(int verbosity)
{
        max_level = LOG_LVL_INFO + verbosity;
        /* systemd sets JOURNAL_STREAM when stderr goes to the journal, which
         * understands "<N>" priority prefixes and adds its own timestamps. */
        journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
        static const char *const names[] = {
                [LOG_LVL_ERR] = "error", [LOG_LVL_WARNING] = "warning",
                [LOG_LVL_NOTICE] = "notice", [LOG_LVL_INFO] = "info",
                [LOG_LVL_DEBUG] = "debug",
        };
        va_list ap;

        if ((int)level > max_level)
                return;
        if (journal) {
                fprintf(stderr, "<%d>", (int)level);
        } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                fprintf(stderr, "[%5lld.%03ld] %s: ", (long long)ts.tv_sec,
                        ts.tv_nsec / 1000000, names[level]);
        }
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void log_news(char *said, size_t len, enum log_level level, const char *text)
{
        if (len && strncmp(said, text, len - 1) == 0) {
                log_debug("%s (again)", text);
                return;
        }
        snprintf(said, len, "%s", text);
        log_msg(level, "%s", text);
}
