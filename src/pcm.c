#include "pcm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Access, format and channels; the rate stays open. resample: whether a
 * converting PCM (plug) may convert the rate. */
static int setup_hw(snd_pcm_t *pcm, snd_pcm_hw_params_t *hw, unsigned channels, bool resample,
                    const char **what)
{
        int r;

        *what = "no hardware parameters";
        if ((r = snd_pcm_hw_params_any(pcm, hw)) < 0)
                return r;
        *what = "no interleaved access";
        if ((r = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0)
                return r;
        *what = "no S16_LE format";
        if ((r = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0)
                return r;
        *what = "channel count not supported";
        if ((r = snd_pcm_hw_params_set_channels(pcm, hw, channels)) < 0)
                return r;
        *what = "rate conversion setting refused";
        return snd_pcm_hw_params_set_rate_resample(pcm, hw, resample ? 1 : 0);
}

/* The device's own rate: wanted when it has it, else one every A2DP SBC
 * sink must take (A2DP 1.3, 4.3.2: 44.1 and 48 kHz mandatory for sinks),
 * else the nearest. 0 when it offers none. */
static unsigned native_rate(snd_pcm_t *pcm, const snd_pcm_hw_params_t *base, unsigned wanted)
{
        const unsigned pref[] = { wanted, 48000, 44100 };
        snd_pcm_hw_params_t *hw;
        unsigned r = wanted;
        int dir = 0;

        snd_pcm_hw_params_alloca(&hw);
        for (size_t i = 0; i < sizeof(pref) / sizeof(pref[0]); i++) {
                snd_pcm_hw_params_copy(hw, base);
                if (snd_pcm_hw_params_test_rate(pcm, hw, pref[i], 0) == 0)
                        return pref[i];
        }
        snd_pcm_hw_params_copy(hw, base);
        return snd_pcm_hw_params_set_rate_near(pcm, hw, &r, &dir) == 0 ? r : 0;
}

/* One attempt on name. *needs_plug: the rate must be converted and name
 * does not convert by itself. */
static int open_at(snd_pcm_t **out, const char *name, const char *shown, snd_pcm_stream_t dir,
                   const struct pcm_config *cfg, struct pcm_result *res, bool *needs_plug,
                   char *err, size_t err_len)
{
        bool wrapped = name != shown;
        const char *kind = dir == SND_PCM_STREAM_CAPTURE ? "capture" : "local output";
        snd_pcm_t *pcm = NULL;
        snd_pcm_hw_params_t *hw;
        snd_pcm_sw_params_t *sw;
        snd_pcm_uframes_t period = cfg->period_frames, buffer;
        unsigned rate = cfg->rate, native;
        const char *what;
        int r;

        *needs_plug = false;
        r = snd_pcm_open(&pcm, name, dir, SND_PCM_NONBLOCK);
        if (r < 0) {
                snprintf(err, err_len, "cannot open %s '%s': %s", kind, shown, snd_strerror(r));
                return r;
        }
        snd_pcm_hw_params_alloca(&hw);
        snd_pcm_sw_params_alloca(&sw);

        if ((r = setup_hw(pcm, hw, cfg->channels, false, &what)) < 0) {
                /* the device's own format or channels (a loopback its
                 * producer opened as S32 or mono): plug converts them */
                *needs_plug = strcmp(what, "no S16_LE format") == 0 ||
                              strcmp(what, "channel count not supported") == 0;
                goto fail;
        }
        what = "no usable sampling rate";
        native = native_rate(pcm, hw, cfg->rate);
        if (!native) {
                r = -EINVAL;
                goto fail;
        }
        if (!cfg->exact) {
                /* the board's rate: a period of the same duration */
                period = (snd_pcm_uframes_t)((unsigned long long)period * native / cfg->rate);
                rate = native;
        }
        res->native_rate = native;
        res->converting = rate != native;
        res->plugged = wrapped;
        if (res->converting) {
                if ((r = setup_hw(pcm, hw, cfg->channels, true, &what)) < 0)
                        goto fail;
                if (snd_pcm_hw_params_test_rate(pcm, hw, rate, 0) < 0) {
                        *needs_plug = true;
                        r = -EINVAL;
                        what = "sampling rate not supported";
                        goto fail;
                }
        }
        what = "sampling rate not supported";
        if ((r = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0)) < 0)
                goto fail;
        what = "period size not supported";
        if ((r = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, NULL)) < 0)
                goto fail;
        buffer = pcm_buffer_frames(period, cfg->periods, rate, cfg->min_buffer_ms);
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

        res->rate = rate;
        res->period_frames = (unsigned)period;
        *out = pcm;
        return 0;
fail:
        snprintf(err, err_len, "%s '%s' (%u Hz, %u channels): %s: %s", kind, shown, rate,
                 cfg->channels, what, snd_strerror(r));
        snd_pcm_close(pcm);
        return r;
}

int pcm_open(snd_pcm_t **out, const char *name, snd_pcm_stream_t dir,
             const struct pcm_config *cfg, struct pcm_result *res, char *err, size_t err_len)
{
        char plug[320];
        bool needs_plug;
        int r;

        memset(res, 0, sizeof(*res));
        r = open_at(out, name, name, dir, cfg, res, &needs_plug, err, err_len);
        if (r == 0 || !needs_plug)
                return r;
        /* a device that does not convert (hw, snd-aloop): through alsa-lib's
         * plug, whose rate plugin converts; a name with a quote in it
         * cannot be wrapped */
        if (strchr(name, '\'') ||
            snprintf(plug, sizeof(plug), "plug:'%s'", name) >= (int)sizeof(plug))
                return r;
        return open_at(out, plug, name, dir, cfg, res, &needs_plug, err, err_len);
}
