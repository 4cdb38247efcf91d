/* Opening and configuring ALSA devices for the audio thread: the captures
 * and the local output. Runs on the main thread: alsa-lib allocates here,
 * never on the audio thread. */
#ifndef A2DPSRC_PCM_H
#define A2DPSRC_PCM_H

#include <alsa/asoundlib.h>
#include <stddef.h>

struct pcm_config {
        unsigned rate;
        unsigned channels;
        unsigned period_frames;   /* wanted; the device may round it */
        unsigned periods;         /* buffer = periods * period */
};

/* Opens name non-blocking as S16_LE interleaved at exactly cfg->rate and
 * cfg->channels, for capture (started by the audio thread) or playback
 * (started by the first write). On success *period_frames holds the period
 * the device chose. Returns a negative errno/ALSA error and a sentence in
 * err. */
int pcm_open(snd_pcm_t **pcm, const char *name, snd_pcm_stream_t dir,
             const struct pcm_config *cfg, unsigned *period_frames, char *err, size_t err_len);

#endif
