/* RTP/SBC packets from a peer, and the packetizer's own fragmentation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct rtp_sbc_view v;
        struct rtp_stream s;
        uint8_t out[2048];

        if (rtp_sbc_parse(data, size, &v) == 0) {
                if (v.payload < data || v.payload + v.payload_len > data + size)
                        abort();
        }
        if (size >= 3) {
                /* MTU and frame length from the input; the frame is the rest */
                size_t mtu = 14 + ((size_t)data[0] << 3 | data[1]) % 2034;
                const uint8_t *frame = data + 2;
                size_t frame_len = size - 2, offset = 0, joined = 0;
                int n, packets = 0;

                rtp_stream_init(&s, 1, 0xfff0, 0xfffffff0u);
                while ((n = rtp_sbc_pack_fragment(&s, out, mtu, frame, frame_len, &offset, 128)) > 0) {
                        if ((size_t)n > mtu || rtp_sbc_parse(out, (size_t)n, &v) != 0)
                                abort();
                        if (memcmp(v.payload, frame + joined, v.payload_len) != 0)
                                abort();
                        joined += v.payload_len;
                        if (++packets > 15)
                                abort();
                }
                if (n == 0 && joined != frame_len)
                        abort();
                unsigned fpp = rtp_sbc_frames_per_packet(mtu, frame_len);
                if (fpp && 13 + fpp * frame_len > mtu)
                        abort();
        }
        return 0;
}
