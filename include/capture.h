/* Opening and configuring an ALSA capture device for the audio thread.
 * Runs on the main thread: alsa-lib allocates here, never on the audio
 * thread. */
#ifndef A2DPSRC_CAPTURE_H
#define A2DPSRC_CAPTURE_H

#include <alsa/asoundlib.h>
#include <stddef.h>

struct capture_config {
        unsigned rate;
        unsigned channels;
        unsigned period_frames;   /* wanted; the device may round it */
        unsigned periods;         /* buffer = periods * period */
};

/* Opens name non-blocking as S16_LE interleaved at exactly cfg->rate and
 * cfg->channels. On success *period_frames holds the period the device
 * chose. Returns a negative errno/ALSA error and a sentence in err. */
int capture_open(snd_pcm_t **pcm, const char *name, const struct capture_config *cfg,
                 unsigned *period_frames, char *err, size_t err_len);

/* Whether an open failure is worth retrying (device missing or busy). */
int capture_error_is_transient(int err);

#endif
