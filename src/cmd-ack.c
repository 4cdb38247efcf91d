#include "cmd-ack.h"

void cmd_ack_init(struct cmd_ack *a)
{
        a->sent = 0;
        atomic_init(&a->done, 0);
}

uint32_t cmd_ack_next(struct cmd_ack *a)
{
        return ++a->sent;
}

void cmd_ack_done(struct cmd_ack *a, uint32_t seq)
{
        /* release: what the command handed back is visible to the waiter */
        atomic_store_explicit(&a->done, seq, memory_order_release);
}

bool cmd_ack_answered(const struct cmd_ack *a, uint32_t seq)
{
        uint32_t done = atomic_load_explicit(&a->done, memory_order_acquire);

        /* serial-number arithmetic: done is at or past seq */
        return (int32_t)(done - seq) >= 0;
}
