/* The state of a PCM substream as ALSA's procfs shows it
 * (/proc/asound/cardN/pcmDp/subS/status): what the loopback's producer is
 * doing when its cable stops. Pure parsing, no I/O. */
#ifndef A2DPSRC_ALOOP_STATUS_H
#define A2DPSRC_ALOOP_STATUS_H

enum pcm_sub_state {
        PCM_SUB_UNKNOWN,        /* unreadable or not understood */
        PCM_SUB_CLOSED,         /* nobody has it open */
        PCM_SUB_OPEN,           /* open, set up, stopped, draining or paused */
        PCM_SUB_PREPARED,       /* ready to start (e.g. recovering from an xrun) */
        PCM_SUB_RUNNING,
        PCM_SUB_XRUN,           /* underrun: the client has not recovered yet */
};

enum pcm_sub_state pcm_sub_state_parse(const char *text);

#endif
