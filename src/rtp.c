#include "rtp.h"

#include <errno.h>
#include <string.h>

void rtp_stream_init(struct rtp_stream *s, uint32_t ssrc, uint16_t seq0, uint32_t ts0)
{
        s->ssrc = ssrc;
        s->seq = seq0;
        s->timestamp = ts0;
}

unsigned rtp_sbc_frames_per_packet(size_t mtu, size_t frame_len)
{
        size_t n;

        if (frame_len == 0 || mtu <= RTP_SBC_OVERHEAD)
                return 0;
        n = (mtu - RTP_SBC_OVERHEAD) / frame_len;
        return n > RTP_SBC_MAX_FRAMES ? RTP_SBC_MAX_FRAMES : (unsigned)n;
}

void rtp_write_header(struct rtp_stream *s, uint8_t *out, uint32_t ts)
{
        out[0] = 0x80;                 /* V=2, no padding, no extension, CC=0 */
        out[1] = RTP_PAYLOAD_TYPE_A2DP; /* marker clear */
        out[2] = (uint8_t)(s->seq >> 8);
        out[3] = (uint8_t)s->seq;
        out[4] = (uint8_t)(ts >> 24);
        out[5] = (uint8_t)(ts >> 16);
        out[6] = (uint8_t)(ts >> 8);
        out[7] = (uint8_t)ts;
        out[8] = (uint8_t)(s->ssrc >> 24);
        out[9] = (uint8_t)(s->ssrc >> 16);
        out[10] = (uint8_t)(s->ssrc >> 8);
        out[11] = (uint8_t)s->ssrc;
        s->seq++;
}

void rtp_sbc_write_header(struct rtp_stream *s, uint8_t *out, uint32_t ts, uint8_t sbc_header)
{
        rtp_write_header(s, out, ts);
        out[RTP_HEADER_LEN] = sbc_header;
}

int rtp_sbc_pack_fragment(struct rtp_stream *s, uint8_t *out, size_t mtu,
                          const uint8_t *frame, size_t frame_len, size_t *offset,
                          unsigned samples_per_frame)
{
        size_t room, remaining, chunk, fragments_left;
        uint8_t hdr = RTP_SBC_FRAGMENTED;

        if (mtu <= RTP_SBC_OVERHEAD || frame_len == 0 || *offset > frame_len)
                return -EINVAL;
        if (*offset == frame_len)
                return 0;
        room = mtu - RTP_SBC_OVERHEAD;
        remaining = frame_len - *offset;
        fragments_left = (remaining + room - 1) / room;
        /* the 4-bit field counts the remaining fragments, this one included */
        if (fragments_left > RTP_SBC_MAX_FRAMES)
                return -EMSGSIZE;
        chunk = remaining < room ? remaining : room;
        if (*offset == 0)
                hdr |= RTP_SBC_START;
        if (chunk == remaining)
                hdr |= RTP_SBC_LAST;
        hdr |= (uint8_t)fragments_left;

        rtp_sbc_write_header(s, out, s->timestamp, hdr);
        memcpy(out + RTP_SBC_OVERHEAD, frame + *offset, chunk);
        *offset += chunk;
        if (*offset == frame_len)
                s->timestamp += samples_per_frame;
        return (int)(RTP_SBC_OVERHEAD + chunk);
}

int rtp_sbc_parse(const uint8_t *pkt, size_t len, struct rtp_sbc_view *v)
{
        size_t hdr;

        if (len < RTP_SBC_OVERHEAD)
                return -EINVAL;
        if ((pkt[0] >> 6) != 2)
                return -EPROTO;
        hdr = RTP_HEADER_LEN + 4u * (pkt[0] & 0x0f);
        if (pkt[0] & 0x10) {            /* header extension */
                if (len < hdr + 4)
                        return -EINVAL;
                hdr += 4 + 4u * (((size_t)pkt[hdr + 2] << 8) | pkt[hdr + 3]);
        }
        if (len < hdr + RTP_SBC_HEADER_LEN)
                return -EINVAL;
        if (pkt[0] & 0x20) {            /* padding: last byte counts it */
                size_t pad = pkt[len - 1];
                if (pad == 0 || pad > len - hdr - RTP_SBC_HEADER_LEN)
                        return -EINVAL;
                len -= pad;
        }
        v->payload_type = pkt[1] & 0x7f;
        v->seq = (uint16_t)((pkt[2] << 8) | pkt[3]);
        v->timestamp = ((uint32_t)pkt[4] << 24) | ((uint32_t)pkt[5] << 16) |
                       ((uint32_t)pkt[6] << 8) | pkt[7];
        v->ssrc = ((uint32_t)pkt[8] << 24) | ((uint32_t)pkt[9] << 16) |
                  ((uint32_t)pkt[10] << 8) | pkt[11];
        v->sbc_header = pkt[hdr];
        v->payload = pkt + hdr + RTP_SBC_HEADER_LEN;
        v->payload_len = len - hdr - RTP_SBC_HEADER_LEN;
        return 0;
}
