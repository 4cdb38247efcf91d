/* Single-producer single-consumer ring of fixed-size messages, lock-free
 * (C11 atomics). The storage is given by the caller at set-up, so pushing
 * and popping never allocate: safe on the real-time thread. */
#ifndef A2DPSRC_RING_H
#define A2DPSRC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct ring {
        unsigned char *buf;
        size_t elem_size;
        size_t capacity;        /* power of two */
        _Atomic size_t head;    /* next slot the producer writes */
        _Atomic size_t tail;    /* next slot the consumer reads */
};

/* capacity must be a power of two; buf holds capacity * elem_size bytes. */
int ring_init(struct ring *r, void *buf, size_t elem_size, size_t capacity);
bool ring_push(struct ring *r, const void *elem);
bool ring_pop(struct ring *r, void *elem);
size_t ring_count(struct ring *r);

#endif
