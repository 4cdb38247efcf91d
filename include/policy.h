/* Speaker-mode decisions as pure functions of what the daemon knows:
 * why speaker mode cannot be on, what State the companion app sees, which
 * categories go to Bluetooth, how long to wait before reconnecting. */
#ifndef A2DPSRC_POLICY_H
#define A2DPSRC_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "options.h"

enum blocker {
        BLOCKER_NONE,
        BLOCKER_NO_ADAPTER,
        BLOCKER_NO_BR_EDR,
        BLOCKER_ADAPTER_OFF,
        BLOCKER_ON_BATTERY,
};

struct policy_inputs {
        bool have_adapter;       /* an adapter we may use, with Media1 */
        bool br_edr;             /* it can do classic (BR/EDR) audio */
        bool powered;
        bool on_battery;
};

enum output_state {
        OUT_OFF,                 /* speaker mode off */
        OUT_IDLE,                /* on, no speaker connected */
        OUT_CONNECTING,
        OUT_CONNECTED,           /* configured transport, not streaming */
        OUT_STREAMING,
};

enum blocker policy_blocker(const struct policy_inputs *in);
/* "", "no-adapter", "no-br-edr", "adapter-off", "on-battery" */
const char *policy_blocker_name(enum blocker b);
/* A sentence for an error reply / the log. */
const char *policy_blocker_message(enum blocker b);
/* The org.a2dpsrc.Error.* name that refuses speaker mode for b. */
const char *policy_blocker_error(enum blocker b);

enum output_state policy_state(bool speaker_mode, bool connecting, bool configured, bool streaming);
const char *policy_state_name(enum output_state s);

/* Exponential backoff: 1, 2, 4 ... s for attempt 0, 1, 2 ..., at most max_s. */
unsigned policy_backoff_s(unsigned attempt, unsigned max_s);

/* Exponential backoff for reconnecting a lost speaker: 1, 2, 4 ... 60 s. */
unsigned policy_reconnect_delay_s(unsigned attempt);

/* A speaker that closes its stream while connected is set up again after
 * a wait: 1 s, doubling (to 60 s) while it closes again within 30 s of
 * being set up (a phone or its other input wants it, and would be fought
 * every second). One per output. */
struct close_history {
        char address[18];        /* whose ("": nobody's yet) */
        uint64_t at_us;          /* when it last closed (0: never) */
        unsigned attempt;        /* of policy_reconnect_delay_s */
};
#define POLICY_CLOSE_CALM_US (30ull * 1000000)
/* The wait after address's speaker closed its stream at now_us, which h
 * then remembers (another speaker's close starts afresh); in seconds. */
unsigned policy_close_holdoff_s(struct close_history *h, const char *address, uint64_t now_us);

#endif
