/* aptX and aptX HD capability and configuration blobs from a remote
 * device: the chooser and the validator of both codecs. The first byte
 * picks the capture rate the chooser is asked for; the whole input is the
 * blob. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "a2dp-aptx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const struct a2dp_codec *c, const uint8_t *data, size_t size, unsigned rate)
{
        static const unsigned rates[] = { 16000, 32000, 44100, 48000 };
        struct codec_prefs prefs = { .rate = rate };
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_info info;
        char err[200], desc[96];
        int len;

        len = c->select(data, size, &prefs, config, sizeof(config), err, sizeof(err));
        if ((len > 0) != c->usable(data, size, &prefs))
                abort();
        if (len > 0) {
                /* what we choose parses, is inside the caps, one bit a field */
                if (c->parse(config, (size_t)len, &info, err, sizeof(err)) != 0)
                        abort();
                if (memcmp(config, data, A2DP_VENDOR_HEADER_LEN) != 0)
                        abort();
                if (config[6] & ~data[6])
                        abort();
                if (info.channels != 2 || info.frame_samples == 0 || info.frame_samples % 4)
                        abort();
                /* the capture's rate whenever the speaker offers it */
                for (size_t i = 0; i < 4; i++)
                        if (rates[i] == rate && (data[6] & (0x10u << (3 - i))) && info.rate != rate)
                                abort();
        } else if (len == 0 || !err[0]) {
                abort();        /* a refusal says why */
        }
        if (c->parse(data, size, &info, err, sizeof(err)) == 0) {
                if (info.rate < 16000 || info.rate > 48000 || info.channels != 2)
                        abort();
        } else if (!err[0]) {
                abort();
        }
        c->describe(data, size, 0, desc, sizeof(desc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const unsigned rates[] = { 0, 16000, 32000, 44100, 48000, 96000 };
        unsigned rate = size ? rates[data[size - 1] % 6] : 0;

        one(&a2dp_codec_aptx, data, size, rate);
        one(&a2dp_codec_aptx_hd, data, size, rate);
        return 0;
}
