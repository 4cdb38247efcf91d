#include "sbc-config.h"
#include "err-text.h"

#include <errno.h>
#include <stdio.h>

const uint8_t sbc_source_capabilities[A2DP_SBC_INFO_LEN] = {
        SBC_CAP_FREQ_16000 | SBC_CAP_FREQ_32000 | SBC_CAP_FREQ_44100 |
        SBC_CAP_FREQ_48000 | SBC_CAP_MODE_MONO | SBC_CAP_MODE_DUAL |
        SBC_CAP_MODE_STEREO | SBC_CAP_MODE_JOINT,
        SBC_CAP_BLOCKS_4 | SBC_CAP_BLOCKS_8 | SBC_CAP_BLOCKS_12 |
        SBC_CAP_BLOCKS_16 | SBC_CAP_SUBBANDS_4 | SBC_CAP_SUBBANDS_8 |
        SBC_CAP_ALLOC_SNR | SBC_CAP_ALLOC_LOUDNESS,
        SBC_MIN_BITPOOL,
        SBC_MAX_BITPOOL,
};

struct bit_value {
        uint8_t bit;
        unsigned value;
};

static const struct bit_value freq_bits[] = {
        { SBC_CAP_FREQ_16000, 16000 }, { SBC_CAP_FREQ_32000, 32000 },
        { SBC_CAP_FREQ_44100, 44100 }, { SBC_CAP_FREQ_48000, 48000 },
};
/* In order of preference for a stereo source. Mono is not offered: the
 * board's audio is stereo and a mono-only sink is refused with a reason. */
static const struct bit_value mode_pref[] = {
        { SBC_CAP_MODE_JOINT, SBC_CH_JOINT }, { SBC_CAP_MODE_STEREO, SBC_CH_STEREO },
        { SBC_CAP_MODE_DUAL, SBC_CH_DUAL },
};
static const struct bit_value mode_bits[] = {
        { SBC_CAP_MODE_MONO, SBC_CH_MONO }, { SBC_CAP_MODE_DUAL, SBC_CH_DUAL },
        { SBC_CAP_MODE_STEREO, SBC_CH_STEREO }, { SBC_CAP_MODE_JOINT, SBC_CH_JOINT },
};
static const struct bit_value blocks_pref[] = {
        { SBC_CAP_BLOCKS_16, 16 }, { SBC_CAP_BLOCKS_12, 12 },
        { SBC_CAP_BLOCKS_8, 8 }, { SBC_CAP_BLOCKS_4, 4 },
};
static const struct bit_value subbands_pref[] = {
        { SBC_CAP_SUBBANDS_8, 8 }, { SBC_CAP_SUBBANDS_4, 4 },
};
static const struct bit_value alloc_pref[] = {
        { SBC_CAP_ALLOC_LOUDNESS, SBC_ALLOC_LOUDNESS }, { SBC_CAP_ALLOC_SNR, SBC_ALLOC_SNR },
};

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const mode_names[] = {
        [SBC_CH_MONO] = "mono", [SBC_CH_DUAL] = "dual-channel",
        [SBC_CH_STEREO] = "stereo", [SBC_CH_JOINT] = "joint-stereo",
};

static int fail(char *err, size_t err_len, const char *msg)
{
        return err_text(err, err_len, "%s", msg);
}

/* First preferred value whose bit the mask has, or NULL. */
static const struct bit_value *pick(const struct bit_value *pref, size_t n, uint8_t mask)
{
        for (size_t i = 0; i < n; i++)
                if (mask & pref[i].bit)
                        return &pref[i];
        return NULL;
}

/* The single value a configuration field names, or NULL if zero or several
 * of the field's bits are set. */
static const struct bit_value *single(const struct bit_value *tab, size_t n,
                                      uint8_t field)
{
        const struct bit_value *found = NULL;

        for (size_t i = 0; i < n; i++) {
                if (!(field & tab[i].bit))
                        continue;
                if (found)
                        return NULL;
                found = &tab[i];
        }
        /* a bit outside the table is as bad as two bits */
        uint8_t all = 0;
        for (size_t i = 0; i < n; i++)
                all |= tab[i].bit;
        if (field & ~all)
                return NULL;
        return found;
}

static unsigned hq_bitpool(unsigned rate)
{
        return rate == 48000 ? SBC_HQ_BITPOOL_48000 : SBC_HQ_BITPOOL_44100;
}

/* Largest bitpool the SBC spec allows for this layout (A2DP 12.9 / SBC
 * spec: 16*subbands per channel). */
static unsigned spec_max_bitpool(enum sbc_channel_mode mode, unsigned subbands)
{
        unsigned m = (mode == SBC_CH_MONO || mode == SBC_CH_DUAL) ? 16 * subbands
                                                                  : 32 * subbands;
        return m < SBC_MAX_BITPOOL ? m : SBC_MAX_BITPOOL;
}

int sbc_config_select(const uint8_t *caps, size_t caps_len, unsigned preferred_rate,
                      uint8_t config[A2DP_SBC_INFO_LEN], char *err, size_t err_len)
{
        const struct bit_value *freq = NULL, *mode, *blocks, *subbands, *alloc;
        unsigned rate_pref[] = { preferred_rate ? preferred_rate : 48000, 48000, 44100,
                                 32000, 16000 };
        unsigned min_bp, max_bp;

        if (!caps || caps_len != A2DP_SBC_INFO_LEN)
                return fail(err, err_len, caps_len < A2DP_SBC_INFO_LEN
                            ? "capabilities: too short for SBC (need 4 bytes)"
                            : "capabilities: too long for SBC (need 4 bytes)");

        for (size_t i = 0; i < N_ELEM(rate_pref) && !freq; i++)
                for (size_t j = 0; j < N_ELEM(freq_bits); j++)
                        if (freq_bits[j].value == rate_pref[i] && (caps[0] & freq_bits[j].bit))
                                freq = &freq_bits[j];
        if (!freq)
                return fail(err, err_len, "sampling frequency: no rate in common");

        mode = pick(mode_pref, N_ELEM(mode_pref), caps[0]);
        if (!mode)
                return fail(err, err_len, (caps[0] & SBC_CAP_MODE_MONO)
                            ? "channel mode: the sink supports only mono; a2dpsrc sends stereo"
                            : "channel mode: none set");
        blocks = pick(blocks_pref, N_ELEM(blocks_pref), caps[1]);
        if (!blocks)
                return fail(err, err_len, "block length: none set");
        subbands = pick(subbands_pref, N_ELEM(subbands_pref), caps[1]);
        if (!subbands)
                return fail(err, err_len, "subbands: none set");
        alloc = pick(alloc_pref, N_ELEM(alloc_pref), caps[1]);
        if (!alloc)
                return fail(err, err_len, "allocation method: none set");

        if (caps[2] < SBC_MIN_BITPOOL || caps[2] > SBC_MAX_BITPOOL)
                return fail(err, err_len, "minimum bitpool: outside 2-250");
        if (caps[3] < SBC_MIN_BITPOOL || caps[3] > SBC_MAX_BITPOOL)
                return fail(err, err_len, "maximum bitpool: outside 2-250");
        if (caps[2] > caps[3])
                return fail(err, err_len, "bitpool: minimum above maximum");

        max_bp = hq_bitpool(freq->value);
        if (caps[3] < max_bp)
                max_bp = caps[3];
        if (spec_max_bitpool(mode->value, subbands->value) < max_bp)
                max_bp = spec_max_bitpool(mode->value, subbands->value);
        min_bp = caps[2];
        /* a sink whose minimum is above our usual choice gets its minimum */
        if (min_bp > max_bp)
                max_bp = min_bp;
        if (max_bp > spec_max_bitpool(mode->value, subbands->value))
                return fail(err, err_len, "bitpool: the sink's minimum is above what SBC allows for this layout");

        config[0] = freq->bit | mode->bit;
        config[1] = blocks->bit | subbands->bit | alloc->bit;
        config[2] = (uint8_t)min_bp;
        config[3] = (uint8_t)max_bp;
        return 0;
}

int sbc_config_parse(const uint8_t *config, size_t len, struct sbc_params *p,
                     char *err, size_t err_len)
{
        const struct bit_value *freq, *mode, *blocks, *subbands, *alloc;

        if (!config || len != A2DP_SBC_INFO_LEN)
                return fail(err, err_len, "configuration: SBC needs exactly 4 bytes");
        freq = single(freq_bits, N_ELEM(freq_bits), config[0] & 0xf0);
        if (!freq)
                return fail(err, err_len, "configuration: sampling frequency must have exactly one bit set");
        mode = single(mode_bits, N_ELEM(mode_bits), config[0] & 0x0f);
        if (!mode)
                return fail(err, err_len, "configuration: channel mode must have exactly one bit set");
        blocks = single(blocks_pref, N_ELEM(blocks_pref), config[1] & 0xf0);
        if (!blocks)
                return fail(err, err_len, "configuration: block length must have exactly one bit set");
        subbands = single(subbands_pref, N_ELEM(subbands_pref), config[1] & 0x0c);
        if (!subbands)
                return fail(err, err_len, "configuration: subbands must have exactly one bit set");
        alloc = single(alloc_pref, N_ELEM(alloc_pref), config[1] & 0x03);
        if (!alloc)
                return fail(err, err_len, "configuration: allocation method must have exactly one bit set");
        /* a range reaching past what SBC allows for the layout (a sink
         * taking the top of our capabilities, 250, in dual channel) is
         * used up to that limit; one past A2DP's 250 or with no valid
         * bitpool at all is refused */
        if (config[2] < SBC_MIN_BITPOOL || config[2] > config[3] || config[3] > SBC_MAX_BITPOOL ||
            config[2] > spec_max_bitpool(mode->value, subbands->value))
                return fail(err, err_len, "configuration: bitpool range invalid");

        p->rate = freq->value;
        p->mode = (enum sbc_channel_mode)mode->value;
        p->channels = p->mode == SBC_CH_MONO ? 1 : 2;
        p->blocks = blocks->value;
        p->subbands = subbands->value;
        p->allocation = (enum sbc_allocation)alloc->value;
        p->min_bitpool = config[2];
        p->max_bitpool = config[3] < spec_max_bitpool(mode->value, subbands->value)
                                 ? config[3] : spec_max_bitpool(mode->value, subbands->value);
        return 0;
}

unsigned sbc_params_working_bitpool(const struct sbc_params *p)
{
        unsigned bp = p->mode != SBC_CH_DUAL ? hq_bitpool(p->rate)
                      : p->rate == 48000 ? SBC_DUAL_HQ_BITPOOL_48000 : SBC_DUAL_HQ_BITPOOL_44100;

        if (bp < p->min_bitpool)
                bp = p->min_bitpool;
        return bp < p->max_bitpool ? bp : p->max_bitpool;
}

size_t sbc_frame_length(const struct sbc_params *p, unsigned bitpool)
{
        size_t bits = 0;
        size_t len = 4 + (4 * p->subbands * p->channels) / 8;

        switch (p->mode) {
        case SBC_CH_MONO:
        case SBC_CH_DUAL:
                bits = (size_t)p->blocks * p->channels * bitpool;
                break;
        case SBC_CH_JOINT:
                bits = p->subbands;
                /* fall through */
        case SBC_CH_STEREO:
                bits += (size_t)p->blocks * bitpool;
                break;
        }
        return len + (bits + 7) / 8;
}

unsigned sbc_frame_samples(const struct sbc_params *p)
{
        return p->blocks * p->subbands;
}

unsigned sbc_encoder_delay(const struct sbc_params *p)
{
        /* analysis filter length minus one subband's worth, plus one */
        return p->subbands == 8 ? 73 : 37;
}

void sbc_params_describe(const struct sbc_params *p, unsigned bitpool, char *buf, size_t len)
{
        snprintf(buf, len, "SBC %u Hz %s %u/%u %s bitpool %u", p->rate, mode_names[p->mode],
                 p->blocks, p->subbands,
                 p->allocation == SBC_ALLOC_LOUDNESS ? "loudness" : "snr", bitpool);
}
