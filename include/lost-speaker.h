/* The output speaker lost without our asking (out of range, switched off
 * abruptly), which bluetoothd 5.66 may be paging by itself, and its being
 * let go when the user disconnects meanwhile (lost-speaker.c). */
#ifndef A2DPSRC_LOST_SPEAKER_H
#define A2DPSRC_LOST_SPEAKER_H

#include <dbus/dbus.h>
#include <stdbool.h>

struct daemon;

/* A speaker being let go: its Disconnect unanswered. */
struct lost_going {
        struct daemon *d;
        char address[18];
        DBusPendingCall *call;
};

struct lost_speaker {
        char address[18];               /* lost, not back since; "" none */
        struct lost_going going[2];     /* the first output's, the second's */
};

/* The output's link went down, not by our Disconnect. */
void lost_speaker_note(struct lost_speaker *l, const char *address);
/* address is the output again: bluetoothd's reconnect, if any, is over. */
void lost_speaker_back(struct lost_speaker *l, const char *address);
/* The user's Disconnect: the lost output and lost2, the second speaker
 * lost (MultiOutput, d->lost2), unless either is output, the one
 * disconnected as such, are disconnected and bluetoothd's own reconnect
 * of them is ended. */
void lost_speaker_let_go(struct daemon *d, const char *output, const char *lost2);
/* True while address (NULL: any) is being let go: a stream it sets up
 * meanwhile is not a speaker coming by itself, and a Connect waits. */
bool lost_speaker_going(const struct lost_speaker *l, const char *address);
/* At shutdown: nothing is remembered or waited for. */
void lost_speaker_clear(struct lost_speaker *l);

#endif
