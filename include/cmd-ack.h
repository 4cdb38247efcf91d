/* Matching each acknowledgement to its command: the main loop numbers
 * every command it hands the audio thread, the thread publishes the number
 * of the last command it finished, and a command counts as done only when
 * that number has reached its own. A late answer to an earlier command
 * (one that timed out) therefore never passes for the answer to a later
 * one. Pure logic: the eventfd that wakes the waiter is stream.c's. */
#ifndef A2DPSRC_CMD_ACK_H
#define A2DPSRC_CMD_ACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct cmd_ack {
        uint32_t sent;             /* main loop: number of the last command given out */
        _Atomic uint32_t done;     /* audio thread: number of the last command finished */
};

void cmd_ack_init(struct cmd_ack *a);
/* Main loop: the number of a new command. */
uint32_t cmd_ack_next(struct cmd_ack *a);
/* Audio thread: command seq is finished (commands finish in order). */
void cmd_ack_done(struct cmd_ack *a, uint32_t seq);
/* Main loop: has command seq been finished? Correct across wrap-around
 * as long as fewer than 2^31 commands are outstanding. */
bool cmd_ack_answered(const struct cmd_ack *a, uint32_t seq);

#endif
