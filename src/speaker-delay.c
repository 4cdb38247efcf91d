/* The speaker's own delay: reported, set by the user, or assumed
 * (include/speaker-delay.h). */
#include "speaker-delay.h"

uint32_t speaker_delay_us(bool has_report, uint16_t reported, uint32_t set_us,
                          enum speaker_delay_source *source)
{
        enum speaker_delay_source src;
        uint32_t us;

        /* a report wins even over the user's offset: it is what the speaker
         * does now, and follows its changes (a sound mode, a codec) */
        if (has_report) {
                src = SPEAKER_DELAY_REPORTED;
                us = (uint32_t)reported * 100u;
        } else if (set_us) {
                src = SPEAKER_DELAY_SET;
                us = set_us;
        } else {
                src = SPEAKER_DELAY_ASSUMED;
                us = SPEAKER_DELAY_ASSUMED_US;
        }
        if (source)
                *source = src;
        return us;
}

const char *speaker_delay_source_name(enum speaker_delay_source s)
{
        switch (s) {
        case SPEAKER_DELAY_REPORTED:
                return "reported";
        case SPEAKER_DELAY_SET:
                return "set";
        case SPEAKER_DELAY_ASSUMED:
                break;
        }
        return "assumed";
}
