/* LDAC capability and configuration blobs from a remote device: the
 * chooser and the parser (and the description built from what they
 * accept). The first byte picks the capture rate the chooser prefers. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "a2dp-ldac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned rates[] = { 0, 44100, 48000, 88200, 96000, 32000, 192000, 8000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct a2dp_codec *c = &a2dp_codec_ldac;
        struct codec_prefs prefs = { .rate = size ? rates[data[0] & 7] : 0 };
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_info info;
        char err[160], desc[96];
        int n;

        if (size)
                data++, size--;
        n = c->select(data, size, &prefs, config, sizeof(config), err, sizeof(err));
        if (n > 0) {
                /* what we choose is a valid configuration inside the caps:
                 * one rate we encode, one stereo-capable mode */
                if (n != LDAC_INFO_LEN || memcmp(config, data, 6) != 0)
                        abort();
                if (c->parse(config, (size_t)n, &info, err, sizeof(err)) != 0)
                        abort();
                if ((config[6] & ~data[6]) || (config[7] & ~data[7]))
                        abort();
                if (info.channels != 2 || info.frame_samples == 0 || info.max_bitrate == 0)
                        abort();
                if (prefs.rate && info.rate != prefs.rate) {
                        struct ldac_config pc;
                        uint8_t want[LDAC_INFO_LEN];
                        /* the capture's rate was offered: it must be the one */
                        memcpy(want, config, sizeof(want));
                        for (uint8_t bit = 0x04; bit <= 0x20; bit <<= 1) {
                                want[6] = bit;
                                if ((data[6] & bit) &&
                                    ldac_config_parse(want, sizeof(want), &pc, NULL, 0) == 0 &&
                                    pc.rate == prefs.rate)
                                        abort();
                        }
                }
                if (!c->usable(data, size, &prefs))
                        abort();
                c->describe(config, (size_t)n, data[0] % 4, desc, sizeof(desc));
        } else if (n != -EINVAL && n != -ENOTSUP) {
                abort();
        } else if (c->usable(data, size, &prefs)) {
                abort();
        }
        if (c->parse(data, size, &info, err, sizeof(err)) == 0) {
                if (size != LDAC_INFO_LEN || info.channels != 2 ||
                    (info.frame_samples != 128 && info.frame_samples != 256) ||
                    info.delay_samples == 0)
                        abort();
        }
        c->describe(data, size, size ? data[size - 1] : 0, desc, sizeof(desc));
        return 0;
}
