/* An A2DP codec as an object: every codec a2dpsrc can send lives in a file
 * of its own (src/a2dp-<name>.c) behind this interface, and the core (the
 * endpoints, the transport, the sender, the audio thread, Manager1) knows
 * codecs only through it.
 *
 * Three parts, kept apart:
 *  - pure logic on capability and configuration blobs (no I/O, fuzzed):
 *    what we advertise, the choice of a configuration within a speaker's
 *    capabilities, the validation of a configuration a speaker sets itself;
 *  - the encoder's set-up and tear-down, on the main thread (libraries are
 *    loaded there, on first use: see codec-lib.h);
 *  - encoding and packet framing, on the real-time audio thread: no
 *    allocation, no locks, no system calls beyond what the sender does.
 *
 * The table (a2dp-codecs.c) is indexed by enum a2dp_codec_index: stable
 * numbers, never reordered. Endpoints are registered in one fixed order,
 * a2dp_codec_register_order (best first: BlueZ 5.66 tries local endpoints
 * in registration order, after the pair it remembers as LastUsed), which
 * never changes between versions; docs/codecs.md says why. */
#ifndef A2DPSRC_A2DP_CODEC_H
#define A2DPSRC_A2DP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtp.h"

/* A2DP codec types (A2DP spec 4.2) */
#define A2DP_CODEC_SBC 0x00
#define A2DP_CODEC_MPEG24 0x02
#define A2DP_CODEC_VENDOR 0xff

/* Longest capability or configuration blob we build or accept. */
#define A2DP_CODEC_BLOB_MAX 32
/* Largest packet we build; a bigger write MTU is simply not filled. */
#define CODEC_MAX_PACKET 2048
/* Largest encoded frame a codec may hand the sender at once. */
#define CODEC_MAX_FRAME 8192

/* Stable indexes (object paths, saved settings). Append only. */
enum a2dp_codec_index {
        CODEC_SBC,
        CODEC_SBC_XQ,
        CODEC_APTX,
        CODEC_APTX_HD,
        CODEC_AAC,
        CODEC_LDAC,
        CODEC_COUNT
};

/* What the configuration chooser is asked for (pure). */
struct codec_prefs {
        unsigned rate;           /* the capture's rate, tried first; 0 = 48000 */
        bool no_xq;              /* this speaker is opted out of SBC-XQ */
};

/* A configuration, decoded: enough for the core to size and describe the
 * stream without knowing the codec. */
struct codec_info {
        unsigned rate;
        unsigned channels;       /* a2dpsrc streams stereo: 2 */
        unsigned frame_samples;  /* PCM frames per codec frame (AAC 1024, aptX 4 ...) */
        unsigned delay_samples;  /* the encoder's algorithmic delay */
        unsigned max_bitrate;    /* bit/s at the best quality level, 0 unknown */
        /* Optional, for sizing the capture period before an encoder exists
         * (a2dp_codec_packet_samples): bytes of one encoded frame at the
         * best level (0: estimated from max_bitrate), and bytes ahead of
         * the first frame of a packet (what header_len() will say). */
        unsigned frame_bytes;
        unsigned packet_overhead;
};

/* Where a packet stands in the framing of a frame split over several
 * packets (SBC, AAC). */
enum codec_fragment { FRAG_NONE, FRAG_FIRST, FRAG_MIDDLE, FRAG_LAST };

/* One packet's framing, as the sender asks the codec to write it. */
struct codec_packet_meta {
        uint32_t timestamp;      /* RTP time of the first sample */
        unsigned frames;         /* whole frames in the packet (0: a fragment) */
        enum codec_fragment frag;
        unsigned fragments_left; /* fragments after this one (SBC's header) */
};

struct codec_encoder;    /* opaque: each codec's own state */

struct a2dp_codec {
        enum a2dp_codec_index index;
        const char *name;        /* "sbc", "sbc-xq", "aptx", "aptx-hd", "aac", "ldac" */
        const char *label;       /* "SBC", "SBC-XQ", "aptX", "aptX HD", "AAC", "LDAC" */
        uint8_t codec_id;        /* A2DP_CODEC_* */
        uint32_t vendor_id;      /* A2DP_CODEC_VENDOR only */
        uint16_t vendor_codec_id;

        /* --- pure: capability and configuration blobs --- */

        /* Our capabilities, as the endpoint advertises them. Returns the
         * length written. */
        size_t (*capabilities)(uint8_t *out, size_t len);
        /* Whether a speaker's capabilities (of this codec id and vendor)
         * are this codec's and usable: SBC-XQ needs dual channel and a
         * high enough maximum bitpool. */
        bool (*usable)(const uint8_t *caps, size_t len, const struct codec_prefs *prefs);
        /* Choose a configuration within caps. Returns its length, or
         * -EINVAL / -ENOTSUP with a sentence naming the field in err. Never
         * a configuration with zero or several bits in one field. */
        int (*select)(const uint8_t *caps, size_t len, const struct codec_prefs *prefs,
                      uint8_t *config, size_t config_len, char *err, size_t err_len);
        /* Validate a configuration (ours, or one the speaker set up itself)
         * and decode what the core needs. 0 or -EINVAL with a reason. */
        int (*parse)(const uint8_t *config, size_t len, struct codec_info *info,
                     char *err, size_t err_len);
        /* "aptX HD 48000 Hz", "SBC 44100 Hz joint-stereo bitpool 53":
         * level is the encoder's quality level (codec_ops.level), 0 = best. */
        void (*describe)(const uint8_t *config, size_t len, unsigned level, char *buf,
                         size_t buf_len);

        /* --- main thread: the encoder --- */

        /* Whether the codec's library is there (built in and loadable). */
        bool (*available)(void);
        /* Sets up an encoder for config and a packet size of mtu bytes.
         * May allocate and load libraries. */
        int (*encoder_new)(const uint8_t *config, size_t len, size_t mtu,
                           struct codec_encoder **out, char *err, size_t err_len);
        void (*encoder_free)(struct codec_encoder *e);
        /* Optional (NULL: none): the id of a thread of the encoder's own
         * (AAC's), which the daemon makes real-time just below the audio
         * thread when that one is; 0 when there is none. */
        int (*worker_tid)(struct codec_encoder *e);

        /* --- real-time thread: no allocation --- */

        /* Encodes one frame of info.frame_samples stereo S16 PCM frames
         * into out. Returns the bytes written, 0 when the encoder holds
         * the audio for now (look-ahead), or a negative errno. */
        int (*encode)(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len);
        /* Optional (NULL: none): how many samples the frame encode() last
         * handed out trails the one it was given then, beyond
         * delay_samples: an encoder on a thread of its own (AAC) that
         * fell behind once stays behind, and the speaker hears that much
         * later (the sender counts it into when a packet's audio was
         * captured, which the alignment of two speakers follows). */
        unsigned (*lag_samples)(const struct codec_encoder *e);
        /* Bytes before the first frame of a packet: RTP and payload
         * headers (0 for aptX, which has no RTP). */
        size_t (*header_len)(const struct codec_encoder *e);
        /* Writes those bytes; uses and advances the RTP sequence number
         * when there is an RTP header. */
        void (*write_header)(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                             const struct codec_packet_meta *m);
        /* Most whole frames one packet carries (SBC and LDAC: 15; AAC: 1). */
        unsigned max_frames;
        /* Optional (NULL: none): the most frames the next packet should
         * carry now, below max_frames, for a codec whose library groups
         * its frames itself (LDAC: 661 bytes of frames a packet); 0 = as
         * many as fit. Real-time thread. */
        unsigned (*packet_frames)(const struct codec_encoder *e);
        /* Whether a frame bigger than a packet may be split (SBC, AAC);
         * otherwise such a configuration is refused at encoder_new. */
        bool can_fragment;

        /* Congestion: quality levels 0 (best) .. levels-1, and bit/s at
         * each. The sender steps down at most once a second under
         * congestion and back up after five calm seconds (unless the codec
         * has a rate controller of its own, below); a codec without rate
         * control has one level. */
        unsigned (*levels)(const struct codec_encoder *e);
        void (*set_level)(struct codec_encoder *e, unsigned level);
        unsigned (*level_bitrate)(const struct codec_encoder *e, unsigned level);
        /* What Statistics and logs show for a level: the bitpool for SBC,
         * kbit/s for the others. */
        unsigned (*level_value)(const struct codec_encoder *e, unsigned level);

        /* Optional (NULL: none): a rate controller of the codec's own
         * (LDAC's libldacBT_abr), in charge instead of the sender's steps.
         * rate_control_ms: how often it wants the sender's queue depth;
         * 0 when this encoder has none (its library is not installed,
         * rate_control_lib names it): the sender's steps apply. Its levels
         * need not be in order of bit rate; set_level still takes any of
         * them (the sender sets back the level of before a stall). */
        unsigned (*rate_control_ms)(const struct codec_encoder *e);
        /* Fed every rate_control_ms while the speaker takes audio: whole
         * packets waiting in the sender's queue. Returns the level the
         * encoder uses now, which it may have changed itself. Real-time
         * thread. */
        unsigned (*rate_control)(struct codec_encoder *e, unsigned queued_packets);
        /* The speaker takes audio again after a stall: what the controller
         * saw of the queue as the stall began was the speaker's doing, not
         * the link's; it forgets it. Real-time thread. */
        void (*rate_control_restart)(struct codec_encoder *e);
        const char *rate_control_lib;
};

/* The table, by index (a2dp-codecs.c); NULL where a codec is not built. */
extern const struct a2dp_codec *const a2dp_codecs[CODEC_COUNT];
/* Default preference, best first: LDAC, aptX HD, aptX, AAC, SBC-XQ, SBC
 * (docs/codecs.md says why). Endpoints are registered in this order. */
extern const enum a2dp_codec_index a2dp_codec_default_order[CODEC_COUNT];

/* The built codec of that name ("sbc-xq"), or NULL. */
const struct a2dp_codec *a2dp_codec_by_name(const char *name);
/* The built codecs in registration order: the n-th, or NULL past the end. */
const struct a2dp_codec *a2dp_codec_registered(unsigned n);
/* PCM frames in one packet of at most mtu bytes at the best level: whole
 * frames up to max_frames, or one frame when frames are fragmented. */
unsigned a2dp_codec_packet_samples(const struct a2dp_codec *c, const struct codec_info *info,
                                   size_t mtu);
/* The codec whose id (and vendor id and codec id, for vendor codecs) a
 * blob of capabilities or configuration belongs to. For SBC, the caller
 * tells SBC from SBC-XQ by the endpoint. */
bool a2dp_codec_matches(const struct a2dp_codec *c, uint8_t codec_id, const uint8_t *blob,
                        size_t len);

/* Vendor codec blobs (A2DP spec 4.7.2): u32 vendor id, u16 codec id, LE. */
#define A2DP_VENDOR_HEADER_LEN 6
bool a2dp_vendor_header_is(const uint8_t *blob, size_t len, uint32_t vendor, uint16_t codec);
void a2dp_vendor_header_write(uint8_t *blob, uint32_t vendor, uint16_t codec);

#endif
