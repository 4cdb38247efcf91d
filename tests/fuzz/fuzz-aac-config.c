/* AAC capability / configuration blobs from a remote device: the chooser
 * and the validator (a2dp-aac.c). The first byte picks the capture rate
 * the chooser is asked for; the rest is the blob. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "a2dp-aac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned capture_rates[4] = { 0, 44100, 48000, 96000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct a2dp_codec *c = &a2dp_codec_aac;
        struct codec_prefs prefs = { 0 };
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_info info;
        struct aac_params p;
        char err[160], desc[96];
        int n;

        if (size == 0)
                return 0;
        prefs.rate = capture_rates[data[0] & 3];
        data++;
        size--;

        n = c->select(data, size, &prefs, config, sizeof(config), err, sizeof(err));
        if (n > 0) {
                /* a valid configuration, inside the capabilities, stereo */
                if (n != AAC_INFO_LEN || c->parse(config, (size_t)n, &info, err, sizeof(err)))
                        abort();
                for (int i = 0; i < 3; i++)
                        if (config[i] & ~data[i])
                                abort();
                if (info.channels != 2 || !c->usable(data, size, &prefs))
                        abort();
        } else if (n != -EINVAL && n != -ENOTSUP) {
                abort();
        } else if (!memchr(err, '\0', sizeof(err)) || c->usable(data, size, &prefs)) {
                abort();
        }
        if (aac_params_parse(data, size, &p, err, sizeof(err)) == 0) {
                if (c->parse(data, size, &info, err, sizeof(err)) != 0)
                        abort();
                if (p.channels < 1 || p.channels > 2 || p.bitrate < AAC_MIN_BITRATE ||
                    p.bitrate > aac_encoder_max_bitrate(p.rate, p.channels))
                        abort();
                for (unsigned level = 0; level < 4; level++) {
                        if (aac_bitrate_at(&p, level) == 0)
                                abort();
                        c->describe(data, size, level, desc, sizeof(desc));
                }
        } else if (c->parse(data, size, &info, err, sizeof(err)) == 0) {
                abort();
        }
        return 0;
}
