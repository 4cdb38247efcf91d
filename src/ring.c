#include "ring.h"

#include <errno.h>
#include <string.h>

int ring_init(struct ring *r, void *buf, size_t elem_size, size_t capacity)
{
        if (!buf || elem_size == 0 || capacity == 0 || (capacity & (capacity - 1)))
                return -EINVAL;
        r->buf = buf;
        r->elem_size = elem_size;
        r->capacity = capacity;
        atomic_init(&r->head, 0);
        atomic_init(&r->tail, 0);
        return 0;
}

bool ring_push(struct ring *r, const void *elem)
{
        size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

        if (head - tail == r->capacity)
                return false;
        memcpy(r->buf + (head & (r->capacity - 1)) * r->elem_size, elem, r->elem_size);
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
        return true;
}

bool ring_pop(struct ring *r, void *elem)
{
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

        if (head == tail)
                return false;
        memcpy(elem, r->buf + (tail & (r->capacity - 1)) * r->elem_size, r->elem_size);
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
        return true;
}

size_t ring_count(struct ring *r)
{
        return atomic_load_explicit(&r->head, memory_order_acquire) -
               atomic_load_explicit(&r->tail, memory_order_acquire);
}
