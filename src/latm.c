#include "latm.h"

#include <errno.h>
#include <string.h>

/* ISO/IEC 14496-3 Table 1.18: samplingFrequencyIndex 0..12 */
static const unsigned sampling_rates[] = {
        96000, 88200, 64000, 48000, 44100, 32000, 24000,
        22050, 16000, 12000, 11025, 8000, 7350,
};
#define N_RATES (sizeof(sampling_rates) / sizeof(sampling_rates[0]))

void latm_bitw_init(struct latm_bitw *w, uint8_t *buf, size_t cap)
{
        w->buf = buf;
        w->cap = cap;
        w->bit = 0;
        w->overflow = false;
}

void latm_bitw_put(struct latm_bitw *w, uint32_t value, unsigned nbits)
{
        while (nbits > 0) {
                size_t byte = w->bit / 8;
                unsigned used = (unsigned)(w->bit % 8), room = 8 - used;
                unsigned n = nbits < room ? nbits : room;
                uint8_t chunk = (uint8_t)((value >> (nbits - n)) & ((1u << n) - 1));

                if (byte >= w->cap) {
                        w->overflow = true;
                        return;
                }
                if (used == 0)
                        w->buf[byte] = 0;
                w->buf[byte] |= (uint8_t)(chunk << (room - n));
                w->bit += n;
                nbits -= n;
        }
}

void latm_bitw_put_bytes(struct latm_bitw *w, const uint8_t *src, size_t n)
{
        unsigned shift = (unsigned)(w->bit % 8);
        size_t byte = w->bit / 8;

        if (n == 0)
                return;
        /* the last byte written is partial unless aligned */
        if (byte + n + (shift ? 1 : 0) > w->cap) {
                w->overflow = true;
                return;
        }
        if (shift == 0) {
                memcpy(w->buf + byte, src, n);
        } else {
                /* each source byte spans two output bytes: its high bits
                 * finish the current one, its low bits start the next */
                uint8_t keep = (uint8_t)(w->buf[byte] & (0xff << (8 - shift)));

                for (size_t i = 0; i < n; i++) {
                        w->buf[byte + i] = (uint8_t)(keep | (src[i] >> shift));
                        keep = (uint8_t)(src[i] << (8 - shift));
                }
                w->buf[byte + n] = keep;
        }
        w->bit += n * 8;
}

void latm_bitw_align(struct latm_bitw *w)
{
        if (w->bit % 8)
                latm_bitw_put(w, 0, 8 - (unsigned)(w->bit % 8));
}

size_t latm_bitw_len(const struct latm_bitw *w)
{
        return (w->bit + 7) / 8;
}

void latm_bitr_init(struct latm_bitr *r, const uint8_t *buf, size_t len)
{
        r->buf = buf;
        r->len = len;
        r->bit = 0;
        r->overrun = false;
}

uint32_t latm_bitr_get(struct latm_bitr *r, unsigned nbits)
{
        uint32_t v = 0;

        if (r->bit + nbits > r->len * 8) {
                r->overrun = true;
                r->bit = r->len * 8;
                return 0;
        }
        for (unsigned i = 0; i < nbits; i++, r->bit++)
                v = (v << 1) | ((r->buf[r->bit / 8] >> (7 - r->bit % 8)) & 1u);
        return v;
}

int latm_sampling_index(unsigned rate)
{
        for (size_t i = 0; i < N_RATES; i++)
                if (sampling_rates[i] == rate)
                        return (int)i;
        return -1;
}

unsigned latm_sampling_rate(unsigned index)
{
        return index < N_RATES ? sampling_rates[index] : 0;
}

void latm_put_audio_specific_config(struct latm_bitw *w, unsigned rate, unsigned channels)
{
        int idx = latm_sampling_index(rate);

        latm_bitw_put(w, LATM_AOT_AAC_LC, 5);                 /* audioObjectType */
        latm_bitw_put(w, idx < 0 ? 0xf : (uint32_t)idx, 4);   /* samplingFrequencyIndex */
        latm_bitw_put(w, channels, 4);                        /* channelConfiguration */
        /* GASpecificConfig: frameLengthFlag 0 (1024 samples),
         * dependsOnCoreCoder 0, extensionFlag 0 */
        latm_bitw_put(w, 0, 3);
}

int latm_write_element(unsigned rate, unsigned channels, const uint8_t *aac, size_t aac_len,
                       uint8_t *out, size_t out_len)
{
        struct latm_bitw w;
        size_t left;

        if (latm_sampling_index(rate) < 0 || channels < 1 || channels > 2 || !aac ||
            aac_len == 0)
                return -EINVAL;
        latm_bitw_init(&w, out, out_len);
        latm_bitw_put(&w, 0, 1);         /* useSameStreamMux: the config follows */
        /* StreamMuxConfig */
        latm_bitw_put(&w, 0, 1);         /* audioMuxVersion */
        latm_bitw_put(&w, 1, 1);         /* allStreamsSameTimeFraming */
        latm_bitw_put(&w, 0, 6);         /* numSubFrames: one frame */
        latm_bitw_put(&w, 0, 4);         /* numProgram: one */
        latm_bitw_put(&w, 0, 3);         /* numLayer: one */
        latm_put_audio_specific_config(&w, rate, channels);
        latm_bitw_put(&w, 0, 3);         /* frameLengthType: variable, lengths follow */
        latm_bitw_put(&w, 0xff, 8);      /* latmBufferFullness: not signalled */
        latm_bitw_put(&w, 0, 1);         /* otherDataPresent */
        latm_bitw_put(&w, 0, 1);         /* crcCheckPresent */
        /* PayloadLengthInfo: 255 per byte while the length exceeds it */
        for (left = aac_len; left >= 255; left -= 255)
                latm_bitw_put(&w, 0xff, 8);
        latm_bitw_put(&w, (uint32_t)left, 8);
        latm_bitw_put_bytes(&w, aac, aac_len);
        latm_bitw_align(&w);
        if (w.overflow)
                return -EMSGSIZE;
        return (int)latm_bitw_len(&w);
}

/* AudioSpecificConfig of a GA object: what the tests and the speaker
 * double need to check (ISO 14496-3 1.6.2.1, 4.4.1). */
static int parse_asc(struct latm_bitr *r, struct latm_element *el)
{
        unsigned idx;

        el->object_type = latm_bitr_get(r, 5);
        if (el->object_type == 31)
                return -EPROTO;          /* escaped types: not A2DP's */
        idx = latm_bitr_get(r, 4);
        el->rate = idx == 0xf ? latm_bitr_get(r, 24) : latm_sampling_rate(idx);
        el->channels = latm_bitr_get(r, 4);
        if (el->object_type != LATM_AOT_AAC_LC)
                return -EPROTO;
        el->frame_length_flag = latm_bitr_get(r, 1);
        if (latm_bitr_get(r, 1))         /* dependsOnCoreCoder */
                latm_bitr_get(r, 14);    /* coreCoderDelay */
        if (latm_bitr_get(r, 1))         /* extensionFlag: not for AAC-LC */
                return -EPROTO;
        if (el->channels == 0)
                return -EPROTO;          /* a program_config_element: not A2DP's */
        return 0;
}

int latm_parse_element(const uint8_t *in, size_t len, struct latm_element *el, uint8_t *payload,
                       size_t payload_cap)
{
        struct latm_bitr r;
        uint32_t tmp;
        int ret;

        memset(el, 0, sizeof(*el));
        latm_bitr_init(&r, in, len);
        if (latm_bitr_get(&r, 1))        /* useSameStreamMux */
                return r.overrun ? -EINVAL : -EPROTO;
        if (latm_bitr_get(&r, 1))        /* audioMuxVersion 1 */
                return r.overrun ? -EINVAL : -EPROTO;
        if (!latm_bitr_get(&r, 1) || latm_bitr_get(&r, 6) || latm_bitr_get(&r, 4) ||
            latm_bitr_get(&r, 3))        /* one frame, program and layer */
                return r.overrun ? -EINVAL : -EPROTO;
        ret = parse_asc(&r, el);
        if (r.overrun)
                return -EINVAL;
        if (ret < 0)
                return ret;
        if (latm_bitr_get(&r, 3))        /* frameLengthType */
                return r.overrun ? -EINVAL : -EPROTO;
        el->buffer_fullness = (uint8_t)latm_bitr_get(&r, 8);
        if (latm_bitr_get(&r, 1) || latm_bitr_get(&r, 1)) /* other data, CRC */
                return r.overrun ? -EINVAL : -EPROTO;
        do {
                tmp = latm_bitr_get(&r, 8);
                el->payload_len += tmp;
        } while (tmp == 255 && !r.overrun);
        if (r.overrun || el->payload_len > payload_cap ||
            r.bit + el->payload_len * 8 > len * 8)
                return -EINVAL;
        for (size_t i = 0; i < el->payload_len; i++)
                payload[i] = (uint8_t)latm_bitr_get(&r, 8);
        /* nothing but alignment may follow */
        if (len - (r.bit + 7) / 8 != 0)
                return -EINVAL;
        return 0;
}

int latm_loas_wrap(const uint8_t *element, size_t len, uint8_t *out, size_t out_len)
{
        if (len > LOAS_MAX_ELEMENT || out_len < LOAS_HEADER_LEN + len)
                return -EMSGSIZE;
        out[0] = 0x56;                   /* syncword 0x2B7, 11 bits */
        out[1] = (uint8_t)(0xe0 | (len >> 8));
        out[2] = (uint8_t)len;
        memmove(out + LOAS_HEADER_LEN, element, len);
        return (int)(LOAS_HEADER_LEN + len);
}

void latm_rtp_write_header(struct rtp_stream *s, uint8_t *out, uint32_t timestamp, bool marker)
{
        rtp_write_header(s, out, timestamp);
        if (marker)
                out[1] |= 0x80;
}

int latm_rtp_pack(struct rtp_stream *s, uint8_t *out, size_t mtu, const uint8_t *element,
                  size_t len, size_t *offset, unsigned samples)
{
        size_t room, chunk;
        bool last;

        if (mtu <= RTP_HEADER_LEN || len == 0 || *offset > len)
                return -EINVAL;
        if (*offset == len)
                return 0;
        room = mtu - RTP_HEADER_LEN;
        chunk = len - *offset < room ? len - *offset : room;
        last = *offset + chunk == len;
        latm_rtp_write_header(s, out, s->timestamp, last);
        memcpy(out + RTP_HEADER_LEN, element + *offset, chunk);
        *offset += chunk;
        if (last)
                s->timestamp += samples;
        return (int)(RTP_HEADER_LEN + chunk);
}

void latm_reasm_init(struct latm_reasm *r)
{
        memset(r, 0, sizeof(*r));
}

int latm_reasm_push(struct latm_reasm *r, const uint8_t *pkt, size_t len,
                    const uint8_t **element, size_t *element_len)
{
        size_t hdr;
        uint16_t seq;
        uint32_t ts;
        bool marker;

        if (len < RTP_HEADER_LEN || (pkt[0] >> 6) != 2)
                return -EINVAL;
        hdr = RTP_HEADER_LEN + 4u * (pkt[0] & 0x0f);
        if (len < hdr)
                return -EINVAL;
        if (pkt[0] & 0x10) {             /* header extension */
                if (len < hdr + 4)
                        return -EINVAL;
                hdr += 4 + 4u * (((size_t)pkt[hdr + 2] << 8) | pkt[hdr + 3]);
                if (len < hdr)
                        return -EINVAL;
        }
        if (pkt[0] & 0x20) {             /* padding: the last byte counts it */
                if (pkt[len - 1] > len - hdr)
                        return -EINVAL;
                len -= pkt[len - 1];
        }
        marker = pkt[1] & 0x80;
        seq = (uint16_t)((pkt[2] << 8) | pkt[3]);
        ts = ((uint32_t)pkt[4] << 24) | ((uint32_t)pkt[5] << 16) | ((uint32_t)pkt[6] << 8) | pkt[7];

        if (r->started && seq != r->next_seq) {
                /* packets lost: what follows up to the next marker may be
                 * the tail of an element whose head is gone */
                if (r->open)
                        r->dropped++;
                r->open = false;
                r->resync = true;
        } else if (r->open && ts != r->timestamp) {
                /* a new element before the end of the last was marked */
                r->dropped++;
                r->open = false;
        }
        r->started = true;
        r->next_seq = (uint16_t)(seq + 1);
        if (r->resync) {
                if (marker)
                        r->resync = false;
                return -EPROTO;
        }
        if (!r->open) {
                r->open = true;
                r->len = 0;
                r->timestamp = ts;
        }
        if (r->len + (len - hdr) > sizeof(r->buf)) {
                r->dropped++;
                r->open = false;
                r->resync = !marker;
                return -EMSGSIZE;
        }
        memcpy(r->buf + r->len, pkt + hdr, len - hdr);
        r->len += len - hdr;
        if (!marker)
                return 0;
        r->open = false;
        *element = r->buf;
        *element_len = r->len;
        return 1;
}
