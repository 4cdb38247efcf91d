/* Counting allocations, for the tests that prove a real-time call does not
 * allocate: the test executable's malloc, calloc and realloc stand before
 * libc's and count while `watching` is set. Nothing in the watched stretch
 * may allocate, Check's assertions included (they record where they ran):
 * keep results in variables, assert after.
 *
 * ASan brings its own allocator: the watch is left out of sanitized builds
 * (ALLOC_WATCH 0), and tests skip their count there. Include once, in the
 * test's one file. */
#ifndef A2DPSRC_ALLOC_WATCH_H
#define A2DPSRC_ALLOC_WATCH_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_WATCH 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_WATCH 0
#endif
#endif
#ifndef ALLOC_WATCH
#define ALLOC_WATCH 1
#endif

static volatile int watching;
static volatile unsigned allocations;

#if ALLOC_WATCH
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
        if (watching)
                allocations++;
        return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
        if (watching)
                allocations++;
        return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
        if (watching)
                allocations++;
        return __libc_realloc(p, n);
}
#endif

#endif
