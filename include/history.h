/* A bounded history per device: the last HISTORY_EVENTS connects,
 * disconnects, suspends, Acquire failures and link troubles of each of the
 * last HISTORY_DEVICES devices, with times, from which the doctor reads
 * patterns (a speaker that sleeps a fixed time after the audio stops, one
 * that keeps refusing START, one that no longer answers pages).
 *
 * Fixed-size arrays: memory stays the same whatever happens on the air;
 * the device recorded least recently makes room for a new one.
 *
 * It lives in memory only and does not survive a restart, by choice: its
 * times are CLOCK_BOOTTIME (boards often have no real-time clock, and
 * intervals are what the patterns need; unlike CLOCK_MONOTONIC it goes on
 * while the system is suspended, and "2 h ago" must mean that), the story
 * before a restart is in the journal, and a write to flash on every suspend would wear a board's
 * SD card for a diagnosis that is about what happens now. */
#ifndef A2DPSRC_HISTORY_H
#define A2DPSRC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HISTORY_DEVICES 8
#define HISTORY_EVENTS 24
#define HISTORY_DETAIL 48

enum history_kind {
        HIST_CONNECTED,          /* became our output */
        HIST_DISCONNECTED,       /* the link went down */
        HIST_CONNECT_FAILED,     /* detail: BlueZ's reason (br-connection-...) */
        HIST_SUSPENDED,          /* the speaker suspended the stream */
        HIST_IDLE_RELEASED,      /* we released it for silence (IdleSuspend) */
        HIST_ACQUIRE_FAILED,     /* detail: the error; START refused when by BlueZ */
        HIST_LINK_ERROR,         /* the socket failed while streaming */
        HIST_STALL,              /* the speaker stopped taking audio */
        HIST_BITPOOL_DOWN,       /* detail: the new bitpool */
        HIST_KIND_COUNT
};

struct history_event {
        uint64_t at_us;          /* CLOCK_BOOTTIME */
        uint32_t silent_ms;      /* silence on the Bluetooth mix just before */
        enum history_kind kind;
        char detail[HISTORY_DETAIL];
};

struct device_history {
        char address[18];        /* "" = free slot */
        uint64_t touched;        /* order of the last record, for eviction */
        unsigned head, count;    /* ring: oldest at (head - count) */
        bool seen;               /* found by a scan since the first record */
        int16_t seen_rssi;       /* dBm, as the scan reported it */
        uint64_t seen_at_us;
        struct history_event ev[HISTORY_EVENTS];
};

struct history {
        uint64_t clock;          /* counts records */
        struct device_history dev[HISTORY_DEVICES];
};

void history_init(struct history *h);
/* Adds an event for address (any case); detail may be NULL. */
void history_record(struct history *h, const char *address, enum history_kind kind,
                    uint64_t at_us, uint32_t silent_ms, const char *detail);
/* A scan found address at rssi: kept with the device's history when it has
 * one (scans find every phone around; they do not make room for them). */
void history_seen(struct history *h, const char *address, uint64_t at_us, int16_t rssi);
/* NULL when nothing was recorded for address. */
const struct device_history *history_find(const struct history *h, const char *address);
/* The i-th event, oldest first (i < dh->count). */
const struct history_event *history_event_at(const struct device_history *dh, unsigned i);
/* Events of kind since since_us (0: all). */
unsigned history_count(const struct device_history *dh, enum history_kind kind, uint64_t since_us);
/* The newest event of kind, NULL none. */
const struct history_event *history_last(const struct device_history *dh, enum history_kind kind);
/* "connected", "suspended", ... */
const char *history_kind_name(enum history_kind kind);

#endif
