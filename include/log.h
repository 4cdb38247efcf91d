/* Logging: to stderr, with sd-daemon level prefixes when the journal reads
 * our stderr. Only the main thread logs; the real-time thread reports events
 * to it instead, because stdio takes a lock. */
#ifndef A2DPSRC_LOG_H
#define A2DPSRC_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5,
                 LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_init(int verbosity);
void log_msg(enum log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* text at level when it is news: not what said (len bytes) holds, the last
 * of its kind said; at debug when it repeats. A failure that comes back
 * every retry for hours is said once (a board's journal is small). said
 * keeps text; "" forgets, so that the next is news again. */
void log_news(char *said, size_t len, enum log_level level, const char *text);

#define log_err(...)    log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
