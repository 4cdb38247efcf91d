/* SBC and SBC-XQ behind the codec interface (a2dp-sbc.c, a2dp-sbc-xq.c).
 * Both are libsbc, linked (SBC is the codec every A2DP device has); they
 * differ in the configuration they choose. */
#ifndef A2DPSRC_A2DP_SBC_H
#define A2DPSRC_A2DP_SBC_H

#include "a2dp-codec.h"
#include "sbc-config.h"

extern const struct a2dp_codec a2dp_codec_sbc;
extern const struct a2dp_codec a2dp_codec_sbc_xq;

/* SBC-XQ: dual channel, 16 blocks, 8 subbands, loudness, at the bitpool
 * that gives about 452 kbit/s (38 at 44.1 kHz, 35 at 48 kHz). */
unsigned sbc_xq_bitpool(unsigned rate);
/* Why a speaker's SBC capabilities cannot carry SBC-XQ, or NULL when they
 * can (pure). */
const char *sbc_xq_refusal(const uint8_t *caps, size_t len, const struct codec_prefs *prefs);

/* The parts SBC-XQ shares with SBC (a2dp-sbc.c). */
int a2dp_sbc_parse(const uint8_t *config, size_t len, struct codec_info *info, char *err,
                   size_t err_len);
void a2dp_sbc_describe(const uint8_t *config, size_t len, unsigned level, char *buf,
                       size_t buf_len);
bool a2dp_sbc_available(void);
int a2dp_sbc_encoder_new(const uint8_t *config, size_t len, size_t mtu,
                         struct codec_encoder **out, char *err, size_t err_len);
void a2dp_sbc_encoder_free(struct codec_encoder *e);
int a2dp_sbc_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len);
size_t a2dp_sbc_header_len(const struct codec_encoder *e);
void a2dp_sbc_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                           const struct codec_packet_meta *m);
unsigned a2dp_sbc_levels(const struct codec_encoder *e);
void a2dp_sbc_set_level(struct codec_encoder *e, unsigned level);
unsigned a2dp_sbc_level_bitrate(const struct codec_encoder *e, unsigned level);
unsigned a2dp_sbc_level_value(const struct codec_encoder *e, unsigned level);

/* The bitpool ladder congestion steps down: from the working bitpool, an
 * eighth (at least 2) a step, down to the configuration's minimum. Returns
 * the number of levels (at most max). Pure, for the tests. */
unsigned sbc_bitpool_ladder(const struct sbc_params *p, unsigned *bitpools, unsigned max);
/* bit/s of a configuration at a bitpool */
unsigned sbc_bitrate(const struct sbc_params *p, unsigned bitpool);

#endif
