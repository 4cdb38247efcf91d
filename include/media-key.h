/* A speaker's transport buttons as BlueZ hands them to our player, and
 * the rule that merges presses no person could have made. Pure logic:
 * the unit tests drive it with their own clock. */
#ifndef A2DPSRC_MEDIA_KEY_H
#define A2DPSRC_MEDIA_KEY_H

#include <stdbool.h>
#include <stdint.h>

enum media_key {
        MEDIA_KEY_PLAY,
        MEDIA_KEY_PAUSE,
        MEDIA_KEY_PLAY_PAUSE,
        MEDIA_KEY_STOP,
        MEDIA_KEY_NEXT,
        MEDIA_KEY_PREVIOUS,
        MEDIA_KEY_COUNT
};

/* A key that follows the previous one (of any kind) closer than this is
 * merged into it: a finger cannot press again that fast, so it is a held
 * key repeating, a bounce or a flood. The window slides with every
 * arrival, so a burst gives one key however long it lasts. */
#define MEDIA_KEY_GAP_US 100000

/* "play", "pause", "play-pause", "stop", "next", "previous" */
const char *media_key_name(enum media_key k);
/* The org.mpris.MediaPlayer2.Player method BlueZ calls ("Play", "Next",
 * ...); -1 for any other member. */
int media_key_from_method(const char *member);

struct media_key_gate {
        bool seen;
        uint64_t last_us;       /* arrival of the previous key */
        uint64_t merged;        /* keys merged so far */
};

/* Whether the key arriving at now_us (a monotonic clock) is passed on. */
bool media_key_gate_pass(struct media_key_gate *g, uint64_t now_us);

#endif
