/* Opening and configuring ALSA devices for the audio thread: the captures
 * and the local output. Runs on the main thread: alsa-lib allocates here,
 * never on the audio thread. */
#ifndef A2DPSRC_PCM_H
#define A2DPSRC_PCM_H

#include <alsa/asoundlib.h>
#include <stdbool.h>
#include <stddef.h>

/* Capture buffers hold this many periods, and at least this long: the
 * period follows the packet, and one SBC frame per packet (a small write
 * MTU) made four periods 10.7 ms, overrun by any stall that long. Only what
 * the thread has not read yet waits in it, so the headroom costs no
 * latency. */
#define CAPTURE_PERIODS 4
#define CAPTURE_BUFFER_MIN_MS 80

struct pcm_config {
        unsigned rate;            /* wanted (see exact) */
        bool exact;               /* rate must be met, converting if need be */
        unsigned channels;
        unsigned period_frames;   /* wanted at rate; the device may round it */
        unsigned periods;         /* buffer = periods * period, */
        unsigned min_buffer_ms;   /* or more periods to hold this long */
};

/* The buffer for a period: periods of it, or as many as min_ms takes. */
static inline snd_pcm_uframes_t pcm_buffer_frames(snd_pcm_uframes_t period, unsigned periods,
                                                  unsigned rate, unsigned min_ms)
{
        snd_pcm_uframes_t min = ((snd_pcm_uframes_t)rate * min_ms + 999) / 1000;
        snd_pcm_uframes_t n = period ? (min + period - 1) / period : 0;

        return period * (n > periods ? n : periods);
}

/* What pcm_open settled on. */
struct pcm_result {
        unsigned rate;            /* the rate the client reads/writes at */
        unsigned native_rate;     /* the device's own rate (no conversion) */
        bool converting;          /* alsa-lib's rate plugin converts */
        bool plugged;             /* opened through plug (rate, format or channels) */
        unsigned period_frames;   /* the period the device chose */
};

/* The device's own rate, the board's choice: cfg->rate when the device
 * offers it without conversion, else 48000 or 44100 (the rates every A2DP
 * SBC sink takes), else the nearest it has. Opens name non-blocking as
 * S16_LE interleaved with cfg->channels at that rate; with cfg->exact, at
 * cfg->rate exactly, converting with alsa-lib's rate plugin when the device
 * does not have it (a converting PCM such as plug or default converts
 * itself; any other is opened through plug). A device whose own format or
 * channels are not S16_LE/cfg->channels is opened through plug too. For capture (started by the
 * audio thread) or playback (started by the first write). Returns a
 * negative errno/ALSA error and a sentence in err. */
int pcm_open(snd_pcm_t **pcm, const char *name, snd_pcm_stream_t dir,
             const struct pcm_config *cfg, struct pcm_result *res, char *err, size_t err_len);

#endif
