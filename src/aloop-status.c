#include "aloop-status.h"

#include <string.h>

/* The file says "closed" alone, or starts with "state: NAME" (the kernel's
 * snd_pcm_state_name()); other lines follow and are not ours to read. */
enum pcm_sub_state pcm_sub_state_parse(const char *text)
{
        static const struct {
                const char *name;
                enum pcm_sub_state state;
        } states[] = {
                { "RUNNING", PCM_SUB_RUNNING }, { "XRUN", PCM_SUB_XRUN },
                { "PREPARED", PCM_SUB_PREPARED }, { "OPEN", PCM_SUB_OPEN },
                { "SETUP", PCM_SUB_OPEN }, { "DRAINING", PCM_SUB_OPEN },
                { "PAUSED", PCM_SUB_OPEN }, { "SUSPENDED", PCM_SUB_OPEN },
                { "DISCONNECTED", PCM_SUB_CLOSED },
        };
        size_t n;

        if (!text)
                return PCM_SUB_UNKNOWN;
        if (strncmp(text, "closed", 6) == 0 && (text[6] == '\n' || text[6] == '\0'))
                return PCM_SUB_CLOSED;
        if (strncmp(text, "state: ", 7) != 0)
                return PCM_SUB_UNKNOWN;
        text += 7;
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                n = strlen(states[i].name);
                if (strncmp(text, states[i].name, n) == 0 && (text[n] == '\n' || text[n] == '\0'))
                        return states[i].state;
        }
        return PCM_SUB_UNKNOWN;
}
