/* aptX and aptX HD behind the codec interface (a2dp-aptx.c,
 * a2dp-aptx-hd.c), encoded by libfreeaptx, loaded on first use.
 *
 * Both share one capability layout (Qualcomm's published A2DP vendor codec
 * definitions, as BlueZ, bluez-alsa and PipeWire carry them): the 6-byte
 * vendor header, then one byte with the sampling frequencies in its high
 * nibble and the channel modes in its low nibble; aptX HD adds 4 reserved
 * bytes. They differ in the codeword (4 bytes per 4 stereo samples for
 * aptX, 6 for aptX HD) and in the framing: aptX packets carry bare
 * codewords, no RTP header; aptX HD packets carry an RTP header and no
 * payload header. */
#ifndef A2DPSRC_A2DP_APTX_H
#define A2DPSRC_A2DP_APTX_H

#include "a2dp-codec.h"

#define APTX_VENDOR_ID 0x0000004fu     /* APT Ltd., now Qualcomm */
#define APTX_CODEC_ID 0x0001u
#define APTX_HD_VENDOR_ID 0x000000d7u  /* Qualcomm Technologies International */
#define APTX_HD_CODEC_ID 0x0024u

#define APTX_CAPS_LEN 7
#define APTX_HD_CAPS_LEN 11

/* byte 6 */
#define APTX_FREQ_16000 0x80
#define APTX_FREQ_32000 0x40
#define APTX_FREQ_44100 0x20
#define APTX_FREQ_48000 0x10
#define APTX_FREQ_MASK 0xf0
#define APTX_MODE_MONO 0x01
#define APTX_MODE_STEREO 0x02
#define APTX_MODE_MASK 0x0f

/* The codec's delay: libfreeaptx's QMF analysis and the sink's synthesis
 * hold 90 samples (freeaptx.h; the round-trip test measures it through
 * libavcodec's decoder). */
#define APTX_DELAY_SAMPLES 90

/* A codec frame: 8 codewords, 32 samples at every rate. The sync pattern
 * in the codewords' parity repeats every 8 codewords, so packets of whole
 * frames keep it in step when the sender drops a packet (docs/codecs.md). */
#define APTX_FRAME_SAMPLES 32u
/* Most frames one packet carries: 864 samples, 18 ms at 48 kHz, 19.6 ms at
 * 44.1 kHz. */
#define APTX_MAX_FRAMES 27

extern const struct a2dp_codec a2dp_codec_aptx;
extern const struct a2dp_codec a2dp_codec_aptx_hd;

/* What tells aptX from aptX HD: shared by the two files. */
struct aptx_variant {
        const char *label;       /* "aptX", "aptX HD" */
        uint32_t vendor_id;
        uint16_t codec_id;
        size_t blob_len;         /* capability and configuration length */
        size_t codeword;         /* bytes per 4 stereo samples */
        size_t header_len;       /* RTP header or none */
        int hd;                  /* aptx_init()'s argument */
};

extern const struct aptx_variant aptx_variant_aptx;
extern const struct aptx_variant aptx_variant_hd;

/* The family's implementation, a variant given (a2dp-aptx.c). */
size_t a2dp_aptx_family_capabilities(const struct aptx_variant *v, uint8_t *out, size_t len);
int a2dp_aptx_family_select(const struct aptx_variant *v, const uint8_t *caps, size_t len,
                       const struct codec_prefs *prefs, uint8_t *config, size_t config_len,
                       char *err, size_t err_len);
int a2dp_aptx_family_parse(const struct aptx_variant *v, const uint8_t *config, size_t len,
                      struct codec_info *info, char *err, size_t err_len);
void a2dp_aptx_family_describe(const struct aptx_variant *v, const uint8_t *config, size_t len,
                          char *buf, size_t buf_len);
int a2dp_aptx_family_encoder_new(const struct aptx_variant *v, const uint8_t *config, size_t len,
                            size_t mtu, struct codec_encoder **out, char *err, size_t err_len);

/* Shared as they are: the encoder knows its variant. */
bool a2dp_aptx_available(void);
void a2dp_aptx_encoder_free(struct codec_encoder *e);
int a2dp_aptx_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len);
size_t a2dp_aptx_header_len(const struct codec_encoder *e);
void a2dp_aptx_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                       const struct codec_packet_meta *m);
unsigned a2dp_aptx_levels(const struct codec_encoder *e);
void a2dp_aptx_set_level(struct codec_encoder *e, unsigned level);
unsigned a2dp_aptx_level_bitrate(const struct codec_encoder *e, unsigned level);
unsigned a2dp_aptx_level_value(const struct codec_encoder *e, unsigned level);

/* One codec object of the family: the interface's entry points carry no
 * codec argument, so each object gets wrappers that hand the family's
 * functions its variant. */
#define A2DP_APTX_CODEC(sym, var, idx, nm, lbl, vendor, codec)                                  \
        static size_t sym##_caps(uint8_t *out, size_t len)                                     \
        {                                                                                      \
                return a2dp_aptx_family_capabilities(&(var), out, len);                        \
        }                                                                                      \
        static int sym##_select(const uint8_t *caps, size_t len,                               \
                                const struct codec_prefs *prefs, uint8_t *config,              \
                                size_t config_len, char *err, size_t err_len)                  \
        {                                                                                      \
                return a2dp_aptx_family_select(&(var), caps, len, prefs, config, config_len,   \
                                               err, err_len);                                  \
        }                                                                                      \
        static bool sym##_usable(const uint8_t *caps, size_t len,                              \
                                 const struct codec_prefs *prefs)                              \
        {                                                                                      \
                uint8_t config[A2DP_CODEC_BLOB_MAX];                                           \
                return sym##_select(caps, len, prefs, config, sizeof(config), NULL, 0) > 0;    \
        }                                                                                      \
        static int sym##_parse(const uint8_t *config, size_t len, struct codec_info *info,     \
                               char *err, size_t err_len)                                      \
        {                                                                                      \
                return a2dp_aptx_family_parse(&(var), config, len, info, err, err_len);        \
        }                                                                                      \
        static void sym##_describe(const uint8_t *config, size_t len, unsigned level,          \
                                   char *buf, size_t buf_len)                                  \
        {                                                                                      \
                a2dp_aptx_family_describe(&(var), config, len, buf, buf_len);                  \
        }                                                                                      \
        static int sym##_encoder_new(const uint8_t *config, size_t len, size_t mtu,            \
                                     struct codec_encoder **out, char *err, size_t err_len)    \
        {                                                                                      \
                return a2dp_aptx_family_encoder_new(&(var), config, len, mtu, out, err,        \
                                                    err_len);                                  \
        }                                                                                      \
        const struct a2dp_codec sym = {                                                        \
                .index = (idx),                                                                \
                .name = (nm),                                                                  \
                .label = (lbl),                                                                \
                .codec_id = A2DP_CODEC_VENDOR,                                                 \
                .vendor_id = (vendor),                                                         \
                .vendor_codec_id = (codec),                                                    \
                .capabilities = sym##_caps,                                                    \
                .usable = sym##_usable,                                                        \
                .select = sym##_select,                                                        \
                .parse = sym##_parse,                                                          \
                .describe = sym##_describe,                                                    \
                .available = a2dp_aptx_available,                                              \
                .encoder_new = sym##_encoder_new,                                              \
                .encoder_free = a2dp_aptx_encoder_free,                                        \
                .encode = a2dp_aptx_encode,                                                    \
                .header_len = a2dp_aptx_header_len,                                            \
                .write_header = a2dp_aptx_write_header,                                        \
                .max_frames = APTX_MAX_FRAMES,                                                 \
                .can_fragment = false,                                                         \
                .levels = a2dp_aptx_levels,                                                    \
                .set_level = a2dp_aptx_set_level,                                              \
                .level_bitrate = a2dp_aptx_level_bitrate,                                      \
                .level_value = a2dp_aptx_level_value,                                          \
        }

#endif
