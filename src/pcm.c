#include "pcm.h"

#include <errno.h>
#include <stdio.h>

int pcm_open(snd_pcm_t **out, const char *name, snd_pcm_stream_t dir,
             const struct pcm_config *cfg, unsigned *period_frames, char *err, size_t err_len)
{
        const char *kind = dir == SND_PCM_STREAM_CAPTURE ? "capture" : "local output";
        snd_pcm_t *pcm = NULL;
        snd_pcm_hw_params_t *hw;
        snd_pcm_sw_params_t *sw;
        snd_pcm_uframes_t period = cfg->period_frames, buffer;
        unsigned rate = cfg->rate;
        const char *what;
        int r;

        r = snd_pcm_open(&pcm, name, dir, SND_PCM_NONBLOCK);
        if (r < 0) {
                snprintf(err, err_len, "cannot open %s '%s': %s", kind, name, snd_strerror(r));
                return r;
        }
        snd_pcm_hw_params_alloca(&hw);
        snd_pcm_sw_params_alloca(&sw);

        what = "no hardware parameters";
        if ((r = snd_pcm_hw_params_any(pcm, hw)) < 0)
                goto fail;
        what = "no interleaved access";
        if ((r = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0)
                goto fail;
        what = "no S16_LE format";
        if ((r = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0)
                goto fail;
        what = "channel count not supported";
        if ((r = snd_pcm_hw_params_set_channels(pcm, hw, cfg->channels)) < 0)
                goto fail;
        /* the speaker's rate exactly: resampling is not this daemon's job */
        what = "sampling rate not supported";
        if ((r = snd_pcm_hw_params_set_rate_resample(pcm, hw, 0)) < 0 ||
            (r = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0)) < 0)
                goto fail;
        what = "period size not supported";
        if ((r = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, NULL)) < 0)
                goto fail;
        buffer = period * cfg->periods;
        what = "buffer size not supported";
        if ((r = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer)) < 0)
                goto fail;
        what = "hardware parameters refused";
        if ((r = snd_pcm_hw_params(pcm, hw)) < 0)
                goto fail;
        snd_pcm_hw_params_get_period_size(hw, &period, NULL);

        what = "software parameters refused";
        if ((r = snd_pcm_sw_params_current(pcm, sw)) < 0 ||
            (r = snd_pcm_sw_params_set_avail_min(pcm, sw, period)) < 0 ||
            /* capture is started explicitly by the audio thread; playback
             * starts once a period is queued */
            (r = snd_pcm_sw_params_set_start_threshold(pcm, sw, dir == SND_PCM_STREAM_CAPTURE
                                                                ? buffer * 2 : period)) < 0 ||
            (r = snd_pcm_sw_params_set_tstamp_mode(pcm, sw, SND_PCM_TSTAMP_ENABLE)) < 0 ||
            (r = snd_pcm_sw_params(pcm, sw)) < 0)
                goto fail;
        what = "prepare failed";
        if ((r = snd_pcm_prepare(pcm)) < 0)
                goto fail;

        *period_frames = (unsigned)period;
        *out = pcm;
        return 0;
fail:
        snprintf(err, err_len, "%s '%s' (%u Hz, %u channels): %s: %s", kind, name, cfg->rate,
                 cfg->channels, what, snd_strerror(r));
        snd_pcm_close(pcm);
        return r;
}
