/* Mixing interleaved S16 audio: saturating sums and gain. Pure, no
 * allocation: used on the real-time thread. */
#ifndef A2DPSRC_MIXER_H
#define A2DPSRC_MIXER_H

#include <stddef.h>
#include <stdint.h>

#define MIXER_UNITY_GAIN 127

/* dst[i] = clamp(dst[i] + src[i]) over n samples. */
void mixer_add(int16_t *dst, const int16_t *src, size_t n);
/* pcm[i] *= gain / 127, gain 0..127 (127 leaves pcm untouched). */
void mixer_gain(int16_t *pcm, size_t n, unsigned gain);
/* True when every sample is zero. */
int mixer_is_silent(const int16_t *pcm, size_t n);

#endif
