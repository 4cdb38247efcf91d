#include "mixer.h"

void mixer_add(int16_t *dst, const int16_t *src, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int32_t v = (int32_t)dst[i] + src[i];
                dst[i] = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
        }
}

void mixer_gain(int16_t *pcm, size_t n, unsigned gain)
{
        if (gain >= MIXER_UNITY_GAIN)
                return;
        /* a perceptual curve would belong to the UI; AVRCP volume is linear
         * 0-127 too, so software gain matches what a speaker would do */
        for (size_t i = 0; i < n; i++)
                pcm[i] = (int16_t)(((int32_t)pcm[i] * (int32_t)gain) / MIXER_UNITY_GAIN);
}

int mixer_is_silent(const int16_t *pcm, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (pcm[i])
                        return 0;
        return 1;
}
