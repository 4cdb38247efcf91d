#include "err-text.h"

#include <errno.h>
#include <stdio.h>

int err_vtext(char *err, size_t err_len, const char *fmt, va_list ap)
{
        if (err && err_len)
                vsnprintf(err, err_len, fmt, ap);
        return -EINVAL;
}

int err_text(char *err, size_t err_len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        err_vtext(err, err_len, fmt, ap);
        va_end(ap);
        return -EINVAL;
}
