/* The bounded per-device event history (see history.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "history.h"

static const char *const kind_names[HIST_KIND_COUNT] = {
        [HIST_CONNECTED] = "connected",
        [HIST_DISCONNECTED] = "disconnected",
        [HIST_CONNECT_FAILED] = "connect-failed",
        [HIST_SUSPENDED] = "suspended",
        [HIST_IDLE_RELEASED] = "idle-released",
        [HIST_ACQUIRE_FAILED] = "acquire-failed",
        [HIST_LINK_ERROR] = "link-error",
        [HIST_STALL] = "stall",
        [HIST_BITPOOL_DOWN] = "bitpool-down",
};

void history_init(struct history *h)
{
        memset(h, 0, sizeof(*h));
}

const char *history_kind_name(enum history_kind kind)
{
        return (unsigned)kind < HIST_KIND_COUNT ? kind_names[kind] : "?";
}

const struct device_history *history_find(const struct history *h, const char *address)
{
        for (size_t i = 0; i < HISTORY_DEVICES; i++)
                if (h->dev[i].address[0] && strcasecmp(h->dev[i].address, address) == 0)
                        return &h->dev[i];
        return NULL;
}

/* The slot for address: its own, a free one, or the least recently
 * touched device's, emptied. */
static struct device_history *slot_for(struct history *h, const char *address)
{
        struct device_history *victim = &h->dev[0];

        for (size_t i = 0; i < HISTORY_DEVICES; i++) {
                struct device_history *dh = &h->dev[i];

                if (dh->address[0] && strcasecmp(dh->address, address) == 0)
                        return dh;
                if (!dh->address[0]) {
                        if (victim->address[0])
                                victim = dh;
                } else if (victim->address[0] && dh->touched < victim->touched) {
                        victim = dh;
                }
        }
        memset(victim, 0, sizeof(*victim));
        snprintf(victim->address, sizeof(victim->address), "%s", address);
        return victim;
}

void history_record(struct history *h, const char *address, enum history_kind kind,
                    uint64_t at_us, uint32_t silent_ms, const char *detail)
{
        struct device_history *dh;
        struct history_event *ev;

        if (!address || !address[0] || (unsigned)kind >= HIST_KIND_COUNT)
                return;
        dh = slot_for(h, address);
        dh->touched = ++h->clock;
        ev = &dh->ev[dh->head];
        dh->head = (dh->head + 1) % HISTORY_EVENTS;
        if (dh->count < HISTORY_EVENTS)
                dh->count++;
        ev->at_us = at_us;
        ev->silent_ms = silent_ms;
        ev->kind = kind;
        snprintf(ev->detail, sizeof(ev->detail), "%s", detail ? detail : "");
}

/* i < dh->count */
static const struct history_event *at(const struct device_history *dh, unsigned i)
{
        return &dh->ev[(dh->head + HISTORY_EVENTS - dh->count + i) % HISTORY_EVENTS];
}

void history_seen(struct history *h, const char *address, uint64_t at_us, int16_t rssi)
{
        for (size_t i = 0; i < HISTORY_DEVICES; i++) {
                struct device_history *dh = &h->dev[i];

                if (dh->address[0] && strcasecmp(dh->address, address) == 0) {
                        dh->seen = true;
                        dh->seen_rssi = rssi;
                        dh->seen_at_us = at_us;
                        return;
                }
        }
}

const struct history_event *history_event_at(const struct device_history *dh, unsigned i)
{
        if (!dh || i >= dh->count)
                return NULL;
        return at(dh, i);
}

unsigned history_count(const struct device_history *dh, enum history_kind kind, uint64_t since_us)
{
        unsigned n = 0;

        for (unsigned i = 0; dh && i < dh->count; i++) {
                const struct history_event *ev = at(dh, i);
                if (ev->kind == kind && ev->at_us >= since_us)
                        n++;
        }
        return n;
}

const struct history_event *history_last(const struct device_history *dh, enum history_kind kind)
{
        for (unsigned i = dh ? dh->count : 0; i-- > 0;) {
                const struct history_event *ev = at(dh, i);
                if (ev->kind == kind)
                        return ev;
        }
        return NULL;
}
