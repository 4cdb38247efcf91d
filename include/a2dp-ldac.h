/* LDAC behind struct a2dp_codec (src/a2dp-ldac.c), and the pure pieces
 * its tests and the speaker's framing checks use. */
#ifndef A2DPSRC_A2DP_LDAC_H
#define A2DPSRC_A2DP_LDAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "a2dp-codec.h"

#define LDAC_VENDOR_ID 0x0000012du      /* Sony */
#define LDAC_CODEC_ID 0x00aa
/* vendor header + rates + channel modes */
#define LDAC_INFO_LEN 8

#define LDAC_RATE_44100 0x20
#define LDAC_RATE_48000 0x10
#define LDAC_RATE_88200 0x08
#define LDAC_RATE_96000 0x04
#define LDAC_RATE_176400 0x02
#define LDAC_RATE_192000 0x01
/* what libldacBT_enc encodes */
#define LDAC_RATES_SUPPORTED (LDAC_RATE_44100 | LDAC_RATE_48000 | LDAC_RATE_88200 | LDAC_RATE_96000)

#define LDAC_MODE_MONO 0x04
#define LDAC_MODE_DUAL 0x02
#define LDAC_MODE_STEREO 0x01

/* Quality levels are the library's EQMIDs: 0 HQ 990, 1 SQ 660, 2 MQ 330
 * kbit/s at 48 and 96 kHz (909/606/303 at 44.1 and 88.2), which
 * ldacBT_set_eqmid takes and a2dpsrc's own steps use (LDAC_LEVELS); and
 * 3 "Q0" 492, 4 "Q1" 396 kbit/s, between SQ and MQ, which only
 * libldacBT_abr reaches (ldacBT_alter_eqmid_priority steps HQ, SQ, Q0,
 * Q1, MQ). Numbered so, level 2 is MQ whoever is in charge: describe()
 * needs no encoder; the numbers are not in order of bit rate. */
#define LDAC_LEVELS 3
#define LDAC_ABR_LEVELS 5
/* libldacBT_abr is fed the sender's queue every 5 ms (an HQ packet's
 * audio at 48 kHz); docs/codecs.md says why these thresholds, in packets
 * waiting in the sender's queue. */
#define LDAC_ABR_INTERVAL_MS 5
/* The library's packets fit a 2-DH5 baseband packet: it needs a 679-byte
 * MTU and puts at most 661 bytes of frames in a packet. */
#define LDAC_MTU_MIN 679
#define LDAC_PACKET_PAYLOAD 661
/* the payload header's 4-bit frame count */
#define LDAC_MAX_FRAMES 15

/* Each LDAC frame starts with 3 bytes: sync word 0xAA, then the rate
 * index (3 bits), channel configuration (2), frame length - 1 (9, the
 * bytes after these 3) and frame status (2). */
#define LDAC_SYNC_WORD 0xaa
#define LDAC_FRAME_HEADER_LEN 3

struct ldac_frame_header {
        unsigned rate_id;        /* 0 44.1, 1 48, 2 88.2, 3 96 kHz */
        unsigned channel_config; /* 0 mono, 1 dual channel, 2 stereo */
        unsigned length;         /* whole frame, these 3 bytes included */
        unsigned status;
};

/* 0, or -EINVAL when p holds no LDAC frame header. */
int ldac_frame_parse(const uint8_t *p, size_t len, struct ldac_frame_header *h);

struct ldac_config {
        unsigned rate;
        uint8_t mode;            /* LDAC_MODE_* */
        unsigned channels;
};

/* Validates a configuration blob: vendor, one supported rate, one mode. */
int ldac_config_parse(const uint8_t *config, size_t len, struct ldac_config *c, char *err,
                      size_t err_len);

/* PCM frames per LDAC frame: 128 at 44.1/48 kHz, 256 at 88.2/96 kHz. */
unsigned ldac_frame_samples(unsigned rate);
/* bit/s of a quality level, frame headers included. */
unsigned ldac_level_bitrate(unsigned rate, unsigned channels, unsigned level);
/* Frames the library groups in one packet at a level. */
unsigned ldac_level_packet_frames(unsigned channels, unsigned level);

/* Frames of the size encode() last returned that the library puts in one
 * packet (2, 3, 6 in stereo at HQ, SQ, MQ): the sender's packets carry as
 * many. */
unsigned ldac_encoder_packet_frames(const struct codec_encoder *e);
unsigned ldac_encoder_level(const struct codec_encoder *e);
/* Whether libldacBT_abr drives this encoder's level. */
bool ldac_encoder_abr(const struct codec_encoder *e);
/* encoder_new with the ABR library named: tests name one that is not
 * there to get the fallback (a2dpsrc's own steps) an install without
 * libldacbt-abr2 gets. */
int ldac_encoder_new_with(const uint8_t *config, size_t len, size_t mtu, const char *abr_soname,
                          struct codec_encoder **out, char *err, size_t err_len);

extern const struct a2dp_codec a2dp_codec_ldac;

#endif
