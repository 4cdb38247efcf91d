/* The doctor's rules: from a snapshot of what the daemon knows (adapter,
 * power and policy facts, one device's properties and history, the audio
 * engine's counters, why nothing streams) to findings a person can act on:
 * a stable id, a verdict, what was seen with figures and times, and the one
 * thing to do. Pure: no I/O, no clock, no daemon; unit tests build the
 * snapshot themselves (tests/unit/test-doctor.c), doctor-snapshot.c fills
 * it from the daemon. */
#ifndef A2DPSRC_DOCTOR_H
#define A2DPSRC_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history.h"
#include "policy.h"
#include "sbc-config.h"
#include "speaker-delay.h"

enum doctor_verdict { DOCTOR_OK, DOCTOR_WARNING, DOCTOR_PROBLEM };

#define DOCTOR_ID_LEN 24
#define DOCTOR_SEEN_LEN 384
#define DOCTOR_FIX_LEN 256
#define DOCTOR_MAX_FINDINGS 24

struct doctor_finding {
        char id[DOCTOR_ID_LEN];
        enum doctor_verdict verdict;
        char seen[DOCTOR_SEEN_LEN];
        char fix[DOCTOR_FIX_LEN];       /* "" when there is nothing to do */
};

/* Profiles a device may list in its UUIDs (bit masks). */
enum doctor_profile {
        PROF_A2DP_SINK = 1u << 0,
        PROF_A2DP_SOURCE = 1u << 1,
        PROF_AVRCP = 1u << 2,
        PROF_HSP = 1u << 3,
        PROF_HFP = 1u << 4,
        PROF_OTHER = 1u << 5,
};

struct doctor_board {
        bool bluetoothd;                /* org.bluez has an owner */
        enum blocker blocker;           /* what keeps speaker mode off */
        bool blocked;                   /* the adapter is rfkill-blocked (PowerState) */
        char adapter[32];               /* hciN, "" none */
        bool speaker_mode;
        bool discovering;               /* a scan runs on the output's adapter */
        bool our_scan;                  /* ... started through Manager1 */
        char output[18];                /* the output device, "" none */
};

struct doctor_device {
        char address[18];
        char name[64];
        bool known;                     /* BlueZ has the device */
        bool ours;                      /* paired through a2dpsrc (saved) */
        bool paired, trusted, connected;
        bool uuids_known;
        unsigned profiles;              /* enum doctor_profile bits */
        bool is_output;                 /* the Bluetooth output, or being connected */
        bool configured;                /* it has a transport */
        bool streaming;                 /* the audio thread writes to it */
        bool suspended;                 /* held off: the speaker suspended us */
        bool idle_released;             /* released by IdleSuspend, waiting for sound */
        unsigned resume_in_s;           /* when suspended: next start in */
};

struct doctor_audio {
        bool engine_running;
        unsigned engine_failures;       /* capture open failures in a row */
        unsigned engine_rate;           /* Hz, 0 when not running */
        unsigned capture_rate;          /* the capture's own rate, 0 unknown */
        char capture[64];               /* the media capture PCM */
        /* why nothing streams: "" or "<reason>: <sentence>" */
        char stream_blocked[320];
        uint64_t silent_ms;             /* silence in a row on the Bluetooth mix */
        bool media_local;               /* media routed to the local output */
        unsigned local_categories;      /* how many categories play locally */
        unsigned volume;                /* 0..127, Manager1.Volume */
        bool avrcp_volume;              /* the speaker takes AVRCP volume */
        unsigned idle_suspend_s;
        /* codec */
        bool have_codec;
        /* "" or the codec in use as Manager1.Codec shows it; other_codec:
         * not SBC nor SBC-XQ, so sbc, bitpool_now and offer say nothing and
         * other_rate is the stream's rate */
        char codec_desc[96];
        bool other_codec;
        unsigned other_rate;
        struct sbc_params sbc;
        unsigned bitpool_now;
        bool have_offer;                /* the speaker's SBC capabilities */
        uint8_t offer[4];
        /* latency parts, us */
        uint32_t period_us, queue_us, encoder_us, speaker_us;
        enum speaker_delay_source speaker_source;  /* where speaker_us comes from */
        /* counters since the daemon started */
        uint64_t underruns, dropped_ms, stalls, xruns, link_errors, packets;
};

struct doctor_radio {
        int status;                     /* 0, or -errno: no HCI device, not connected */
        bool has_rssi, has_link_quality;        /* when status is 0 */
        int8_t rssi;                    /* dB, relative to the golden range */
        uint8_t link_quality;           /* 0-255 */
        int error;                      /* why a figure is missing */
};

struct doctor_snapshot {
        uint64_t now_us;                /* CLOCK_BOOTTIME, as the history's times */
        struct doctor_board board;
        bool have_device;               /* "" asks about the board alone */
        struct doctor_device device;
        struct doctor_audio audio;
        const struct device_history *history;   /* may be NULL */
        struct doctor_radio radio;
};

/* Fills out (up to max) and returns how many findings were written. */
size_t doctor_run(const struct doctor_snapshot *s, struct doctor_finding *out, size_t max);
/* "ok", "warning", "problem" */
const char *doctor_verdict_name(enum doctor_verdict v);
/* The worst verdict of n findings (DOCTOR_OK for none). */
enum doctor_verdict doctor_worst(const struct doctor_finding *f, size_t n);
/* "0000110b-..." -> PROF_* (PROF_OTHER for the rest, 0 for services that
 * say nothing about audio, such as PnP). */
unsigned doctor_profile_of_uuid(const char *uuid);

#endif
