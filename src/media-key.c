/* The speaker's buttons: names, and merging presses too fast for a person. */
#include "media-key.h"

#include <string.h>

static const struct {
        const char *name;
        const char *method;
} keys[MEDIA_KEY_COUNT] = {
        [MEDIA_KEY_PLAY] = { "play", "Play" },
        [MEDIA_KEY_PAUSE] = { "pause", "Pause" },
        [MEDIA_KEY_PLAY_PAUSE] = { "play-pause", "PlayPause" },
        [MEDIA_KEY_STOP] = { "stop", "Stop" },
        [MEDIA_KEY_NEXT] = { "next", "Next" },
        [MEDIA_KEY_PREVIOUS] = { "previous", "Previous" },
};

const char *media_key_name(enum media_key k)
{
        return (unsigned)k < MEDIA_KEY_COUNT ? keys[k].name : "unknown";
}

int media_key_from_method(const char *member)
{
        for (int k = 0; k < MEDIA_KEY_COUNT; k++)
                if (member && strcmp(member, keys[k].method) == 0)
                        return k;
        return -1;
}

bool media_key_gate_pass(struct media_key_gate *g, uint64_t now_us)
{
        /* a clock that went backwards counts as "at once" */
        bool close = g->seen && (now_us < g->last_us || now_us - g->last_us < MEDIA_KEY_GAP_US);

        g->seen = true;
        g->last_us = now_us;
        if (close)
                g->merged++;
        return !close;
}
