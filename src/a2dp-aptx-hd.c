/* aptX HD behind the codec interface: aptX's capability layout with 4
 * reserved bytes after it, 24-bit codewords (6 bytes per 4 stereo
 * samples, 576 kbit/s at 48 kHz), and packets that carry an RTP header but
 * no payload header. The rest is aptX's (a2dp-aptx.c). */
#include "a2dp-aptx.h"

const struct aptx_variant aptx_variant_hd = {
        .label = "aptX HD",
        .vendor_id = APTX_HD_VENDOR_ID,
        .codec_id = APTX_HD_CODEC_ID,
        .blob_len = APTX_HD_CAPS_LEN,
        .codeword = 6,
        .header_len = RTP_HEADER_LEN,
        .hd = 1,
};

A2DP_APTX_CODEC(a2dp_codec_aptx_hd, aptx_variant_hd, CODEC_APTX_HD, "aptx-hd", "aptX HD",
                APTX_HD_VENDOR_ID, APTX_HD_CODEC_ID);
