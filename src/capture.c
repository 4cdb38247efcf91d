#include "capture.h"

#include <errno.h>
#include <stdio.h>

int capture_error_is_transient(int err)
{
        return err == -ENOENT || err == -EBUSY || err == -ENODEV || err == -EAGAIN ||
               err == -ENXIO;
}

int capture_open(snd_pcm_t **out, const char *name, const struct capture_config *cfg,
                 unsigned *period_frames, char *err, size_t err_len)
{
        snd_pcm_t *pcm = NULL;
        snd_pcm_hw_params_t *hw;
        snd_pcm_sw_params_t *sw;
        snd_pcm_uframes_t period = cfg->period_frames, buffer;
        unsigned rate = cfg->rate;
        const char *what;
        int r;

        r = snd_pcm_open(&pcm, name, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK);
        if (r < 0) {
                snprintf(err, err_len, "cannot open capture '%s': %s", name, snd_strerror(r));
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
            /* started explicitly by the audio thread */
            (r = snd_pcm_sw_params_set_start_threshold(pcm, sw, buffer * 2)) < 0 ||
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
        snprintf(err, err_len, "capture '%s' (%u Hz, %u channels): %s: %s", name, cfg->rate,
                 cfg->channels, what, snd_strerror(r));
        snd_pcm_close(pcm);
        return r;
}
