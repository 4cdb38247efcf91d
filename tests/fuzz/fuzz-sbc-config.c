/* SBC capability / configuration blobs from a remote device, through
 * sbc-config.c and through the codec interface of SBC and SBC-XQ
 * (a2dp-sbc.c, a2dp-sbc-xq.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "a2dp-sbc.h"
#include "sbc-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A chooser's configuration: valid, inside the caps, stereo, and one
 * frame fits a packet of the smallest MTU with room to spare. */
static void check_choice(const struct a2dp_codec *c, const uint8_t *data, size_t size,
                         const struct codec_prefs *prefs)
{
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_info info;
        struct sbc_params p;
        char err[160], desc[96];
        int n = c->select(data, size, prefs, config, sizeof(config), err, sizeof(err));

        if (c->usable(data, size, prefs) != (n > 0))
                abort();
        if (n <= 0)
                return;
        if (n != A2DP_SBC_INFO_LEN || c->parse(config, (size_t)n, &info, err, sizeof(err)) != 0 ||
            sbc_config_parse(config, (size_t)n, &p, err, sizeof(err)) != 0)
                abort();
        if ((config[0] & ~data[0]) || (config[1] & ~data[1]))
                abort();
        if (config[2] < data[2] || config[3] > data[3] || p.mode == SBC_CH_MONO || info.channels != 2)
                abort();
        if (sbc_frame_length(&p, p.max_bitpool) > 600)
                abort();
        if (c->index == CODEC_SBC_XQ &&
            (p.mode != SBC_CH_DUAL || p.max_bitpool != sbc_xq_bitpool(p.rate) || prefs->no_xq ||
             info.max_bitrate < 440000 || info.max_bitrate > 470000))
                abort();
        c->describe(config, (size_t)n, 0, desc, sizeof(desc));
        c->describe(config, (size_t)n, 99, desc, sizeof(desc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t config[A2DP_SBC_INFO_LEN];
        struct sbc_params p;
        struct codec_info info;
        char err[160];
        unsigned rate = size ? (data[0] & 1 ? 44100 : 48000) : 48000;
        struct codec_prefs prefs = { .rate = rate, .no_xq = size > 1 && (data[1] & 1) };

        if (sbc_config_select(data, size, rate, config, err, sizeof(err)) == 0) {
                /* what we choose must be a valid configuration inside the caps */
                if (sbc_config_parse(config, sizeof(config), &p, err, sizeof(err)) != 0)
                        abort();
                if ((config[0] & ~data[0]) || (config[1] & ~data[1]))
                        abort();
                if (config[2] < data[2] || config[3] > data[3] || p.mode == SBC_CH_MONO)
                        abort();
                if (sbc_frame_length(&p, p.max_bitpool) > 600)
                        abort();
        }
        if (sbc_config_parse(data, size, &p, err, sizeof(err)) == 0) {
                if (p.channels < 1 || p.channels > 2 || sbc_frame_samples(&p) == 0)
                        abort();
                char desc[96];
                sbc_params_describe(&p, p.max_bitpool, desc, sizeof(desc));
        }
        check_choice(&a2dp_codec_sbc, data, size, &prefs);
        check_choice(&a2dp_codec_sbc_xq, data, size, &prefs);
        /* a configuration the speaker sets itself, through the interface */
        if (a2dp_codec_sbc.parse(data, size, &info, err, sizeof(err)) == 0 &&
            (info.channels != 2 || !info.frame_samples || !info.rate || !info.max_bitrate))
                abort();
        return 0;
}
