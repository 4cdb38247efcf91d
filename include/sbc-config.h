/* A2DP SBC codec information (A2DP spec 4.3.2): capability and
 * configuration blobs, the choice of a configuration, and frame sizes.
 * Pure logic, no I/O. */
#ifndef A2DPSRC_SBC_CONFIG_H
#define A2DPSRC_SBC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define A2DP_SBC_INFO_LEN 4

/* byte 0 */
#define SBC_CAP_FREQ_16000  0x80
#define SBC_CAP_FREQ_32000  0x40
#define SBC_CAP_FREQ_44100  0x20
#define SBC_CAP_FREQ_48000  0x10
#define SBC_CAP_MODE_MONO   0x08
#define SBC_CAP_MODE_DUAL   0x04
#define SBC_CAP_MODE_STEREO 0x02
#define SBC_CAP_MODE_JOINT  0x01
/* byte 1 */
#define SBC_CAP_BLOCKS_4    0x80
#define SBC_CAP_BLOCKS_8    0x40
#define SBC_CAP_BLOCKS_12   0x20
#define SBC_CAP_BLOCKS_16   0x10
#define SBC_CAP_SUBBANDS_4  0x08
#define SBC_CAP_SUBBANDS_8  0x04
#define SBC_CAP_ALLOC_SNR   0x02
#define SBC_CAP_ALLOC_LOUDNESS 0x01

#define SBC_MIN_BITPOOL 2
#define SBC_MAX_BITPOOL 250
/* "High quality" bitpools the A2DP spec recommends for joint stereo. */
#define SBC_HQ_BITPOOL_44100 53
#define SBC_HQ_BITPOOL_48000 51
/* Dual channel codes each channel on its own bitpool: these keep it near
 * 452 kbit/s (SBC-XQ's), where joint stereo's 51 would make 650. */
#define SBC_DUAL_HQ_BITPOOL_44100 38
#define SBC_DUAL_HQ_BITPOOL_48000 35

enum sbc_channel_mode { SBC_CH_MONO, SBC_CH_DUAL, SBC_CH_STEREO, SBC_CH_JOINT };
enum sbc_allocation { SBC_ALLOC_LOUDNESS, SBC_ALLOC_SNR };

/* One decoded configuration: exactly one value per field. */
struct sbc_params {
        unsigned rate;
        enum sbc_channel_mode mode;
        unsigned channels;
        unsigned blocks;
        unsigned subbands;
        enum sbc_allocation allocation;
        unsigned min_bitpool;
        unsigned max_bitpool;
};

/* Full capabilities we advertise: every SBC feature, bitpool 2-250. */
extern const uint8_t sbc_source_capabilities[A2DP_SBC_INFO_LEN];

/* Choose a configuration from a remote sink's capabilities.
 * preferred_rate: the rate to try first (0 = 48000).
 * Returns 0 and writes the configuration, or -EINVAL with a sentence naming
 * the offending field in err. Never returns a configuration with zero or
 * several bits set in one field. */
int sbc_config_select(const uint8_t *caps, size_t caps_len, unsigned preferred_rate,
                      uint8_t config[A2DP_SBC_INFO_LEN], char *err, size_t err_len);

/* Decode and validate a configuration (exactly one bit per field, bitpool
 * range sane). Returns 0 or -EINVAL with a reason in err. */
int sbc_config_parse(const uint8_t *config, size_t len, struct sbc_params *p,
                     char *err, size_t err_len);

/* The highest bitpool a2dpsrc sends with in this configuration: the
 * configured maximum, but no more than the A2DP high-quality bitpool (or the
 * sink's minimum, when that is higher). A sink that starts the stream
 * itself may configure up to 250; frames carry their bitpool, so any value
 * in the configured range is valid. */
unsigned sbc_params_working_bitpool(const struct sbc_params *p);

/* Bytes in one SBC frame of these parameters at this bitpool (A2DP spec
 * 12.9 frame_length formula). */
size_t sbc_frame_length(const struct sbc_params *p, unsigned bitpool);
/* PCM frames (samples per channel) one SBC frame carries. */
unsigned sbc_frame_samples(const struct sbc_params *p);

/* "SBC 48000 Hz joint-stereo 16/8 loudness bitpool 51" (max bitpool). */
void sbc_params_describe(const struct sbc_params *p, unsigned bitpool,
                         char *buf, size_t len);

/* The encoder's algorithmic delay in samples (73 for 8 subbands, 37 for 4). */
unsigned sbc_encoder_delay(const struct sbc_params *p);

#endif
