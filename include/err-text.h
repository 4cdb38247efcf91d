/* Error text for the pure parsers: they say what was wrong in a buffer the
 * caller passes (which may be NULL) and return -EINVAL, so each caller
 * decides whether and where to log it. */
#ifndef A2DPSRC_ERR_TEXT_H
#define A2DPSRC_ERR_TEXT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err (truncating; nothing when err is NULL or err_len 0).
 * Returns -EINVAL. */
int err_text(char *err, size_t err_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int err_vtext(char *err, size_t err_len, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

#endif
