/* SBC capability / configuration blobs from a remote device. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sbc-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t config[A2DP_SBC_INFO_LEN];
        struct sbc_params p;
        char err[160];
        unsigned rate = size ? (data[0] & 1 ? 44100 : 48000) : 48000;

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
        return 0;
}
