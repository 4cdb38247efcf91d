/* MPEG-2/4 AAC behind the codec interface: the capability blob and the
 * choice of a configuration (a2dp-aac.c, pure), and the encoder
 * (aac-encoder.c): libavcodec's native AAC-LC encoder, loaded on first use,
 * framed as LATM (latm.h) in RTP.
 *
 * Capability and configuration layout (A2DP spec 4.5.2, 6 bytes):
 *   octet 0     object types: MPEG-2 AAC LC 0x80, MPEG-4 AAC LC 0x40,
 *               MPEG-4 AAC LTP 0x20, MPEG-4 AAC scalable 0x10 (A2DP 1.4
 *               adds HE-AAC, HE-AACv2, ELDv2 and DRC in the low bits)
 *   octets 1-2  sampling frequencies, 12 bits from 8000 Hz (0x80 of
 *               octet 1) to 44100 (0x01 of octet 1), 48000 (0x80 of
 *               octet 2), 64000, 88200, 96000 (0x10 of octet 2)
 *   octet 2     low nibble: channels, 1 = 0x08, 2 = 0x04 (A2DP 1.4: 6 =
 *               0x02, 8 = 0x01)
 *   octet 3     0x80 VBR; then the bit rate in bit/s, 23 bits, big
 *               endian, over octets 3-5 (0: not said) */
#ifndef A2DPSRC_A2DP_AAC_H
#define A2DPSRC_A2DP_AAC_H

#include <stdbool.h>

#include "a2dp-codec.h"

#define AAC_INFO_LEN 6

#define AAC_OBJ_MPEG2_LC 0x80
#define AAC_OBJ_MPEG4_LC 0x40
#define AAC_OBJ_MPEG4_LTP 0x20
#define AAC_OBJ_MPEG4_SCALABLE 0x10

/* the 12 rate bits as one 16-bit value: octet 1 high, octet 2 low */
#define AAC_RATE_MASK 0xfff0u
#define AAC_CHANNELS_1 0x08
#define AAC_CHANNELS_2 0x04
#define AAC_CHANNELS_MASK 0x0f
#define AAC_VBR 0x80
#define AAC_BITRATE_MAX_FIELD 0x7fffffu

/* The most we encode at, and what we ask for when the speaker allows more
 * or says nothing: Apple's AAC rate. libavcodec's encoder is at its
 * steadiest there: on a 997 Hz tone at 48 kHz no 10 ms window falls 15 dB
 * below the median at 256 or 272 kbit/s, while at 320 (and at 192, 224)
 * windows do, some 25 dB below (docs/codecs.md). */
#define AAC_PREFERRED_BITRATE 256000u
/* Below this a configuration is refused: a speaker field this small is
 * bogus, and AAC-LC has nothing left to code music with. */
#define AAC_MIN_BITRATE 8000u
/* Congestion steps (VBR configurations only): percent of the configured
 * bit rate. */
#define AAC_LEVELS 3
/* PCM frames per AAC-LC frame */
#define AAC_FRAME_SAMPLES 1024u
/* Frames in flight each way between the audio thread and the encoding
 * thread: the latter may wait tens of milliseconds on a loaded two-core
 * board (it runs real-time just below the audio thread when the daemon
 * has one, at normal priority otherwise). */
#define AAC_RING 8u
/* From a frame of PCM handed to encode() to the first of its samples
 * played by the speaker: libavcodec's encoder holds one frame of look-ahead
 * and primes the decoder with 1024 samples (initial_padding), and the
 * hand-off to the encoding thread costs one more frame (aac-encoder.c). The
 * round-trip test measures it. */
#define AAC_DELAY_SAMPLES (3 * AAC_FRAME_SAMPLES)

extern const struct a2dp_codec a2dp_codec_aac;

/* A configuration, decoded (pure). */
struct aac_params {
        bool mpeg2;              /* MPEG-2 AAC LC: no PNS, an MPEG-4 tool */
        unsigned rate;
        unsigned channels;
        bool vbr;
        unsigned bitrate;        /* what the encoder aims at, bit/s */
};

int aac_params_parse(const uint8_t *config, size_t len, struct aac_params *p, char *err,
                     size_t err_len);
/* Most bit/s libavcodec's encoder can put in a frame: 6144 bits per
 * channel per 1024 samples (the AAC decoder's input buffer). */
unsigned aac_encoder_max_bitrate(unsigned rate, unsigned channels);
/* Quality levels of a configuration: three steps (100, 75, 50 %) when the
 * speaker takes a variable bit rate, one otherwise: a CBR speaker keeps
 * the configured rate. */
unsigned aac_levels(const struct aac_params *p);
unsigned aac_bitrate_at(const struct aac_params *p, unsigned level);

/* The encoder (aac-encoder.c) */
bool aac_available(void);
int aac_encoder_new(const uint8_t *config, size_t len, size_t mtu, struct codec_encoder **out,
                    char *err, size_t err_len);
void aac_encoder_free(struct codec_encoder *e);
/* The encoding thread's id (0 if it has not started within 100 ms). */
int aac_encoder_worker_tid(struct codec_encoder *e);
int aac_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len);
unsigned aac_encoder_lag_samples(const struct codec_encoder *e);
size_t aac_header_len(const struct codec_encoder *e);
void aac_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                      const struct codec_packet_meta *m);
unsigned aac_encoder_levels(const struct codec_encoder *e);
void aac_set_level(struct codec_encoder *e, unsigned level);
unsigned aac_level_bitrate(const struct codec_encoder *e, unsigned level);
unsigned aac_level_value(const struct codec_encoder *e, unsigned level);
/* Frames the encoding thread could not take or hand back in time
 * (statistics; the tests). */
unsigned aac_encoder_overruns(const struct codec_encoder *e);
/* Whether the encoding thread has taken every frame handed to it (the
 * tests pace themselves on it, as real time paces the sender). */
bool aac_encoder_idle(const struct codec_encoder *e);
/* Elements waiting to be handed out (the tests: latency after a stall). */
unsigned aac_encoder_ready(const struct codec_encoder *e);

#endif
