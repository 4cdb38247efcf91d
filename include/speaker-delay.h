/* How long a speaker takes from receiving audio to playing it: the part of
 * the path that only the speaker knows.
 *
 * A speaker that supports AVDTP delay reporting tells it (MediaTransport1
 * Delay, 1/10 ms) and may change it while streaming. One that does not
 * gets the offset its user set for it (Manager1.SetSpeakerDelay, saved per
 * address), else an assumed SPEAKER_DELAY_ASSUMED_US. Latency includes it,
 * and two speakers are aligned on it (docs/multi-output.md). Pure. */
#ifndef A2DPSRC_SPEAKER_DELAY_H
#define A2DPSRC_SPEAKER_DELAY_H

#include <stdbool.h>
#include <stdint.h>

/* Not measured here (no speaker on these machines): what PipeWire assumes
 * for an SBC speaker that reports nothing, and within the 100-200 ms that
 * speakers without delay reporting commonly buffer. */
#define SPEAKER_DELAY_ASSUMED_US 125000u
/* The most a user may set: above every delay a speaker reports in
 * practice, and far below what BlueZ's 16-bit Delay can carry (6.5 s). */
#define SPEAKER_DELAY_MAX_US 1000000u

enum speaker_delay_source {
        SPEAKER_DELAY_REPORTED,  /* the speaker's own report */
        SPEAKER_DELAY_SET,       /* the user's offset for this speaker */
        SPEAKER_DELAY_ASSUMED,   /* neither: SPEAKER_DELAY_ASSUMED_US */
};

/* The delay to count for a speaker: its report (reported, in 1/10 ms as
 * BlueZ gives it) when it has one, else set_us when non-zero, else the
 * assumption. *source (may be NULL) says which. */
uint32_t speaker_delay_us(bool has_report, uint16_t reported, uint32_t set_us,
                          enum speaker_delay_source *source);
/* "reported", "set", "assumed" */
const char *speaker_delay_source_name(enum speaker_delay_source s);

#endif
