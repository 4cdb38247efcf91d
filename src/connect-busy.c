/* Asking BlueZ again while someone else's connection of the speaker runs
 * (connect-busy.h). */
#include <stdio.h>
#include <strings.h>

#include "connect-busy.h"
#include "log.h"

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
        struct connect_busy *b = ud;
        char addr[18];

        sd_event_source_disable_unref(b->timer);
        b->timer = NULL;
        snprintf(addr, sizeof(addr), "%s", b->address);
        b->fn(b->ud, addr);
        return 0;
}

bool connect_busy_wait(struct connect_busy *b, sd_event *ev, const DBusError *err, const char *address,
                       connect_busy_fn fn, void *ud)
{
        uint64_t now;

        if (!err || !dbus_error_has_name(err, "org.bluez.Error.InProgress") ||
            sd_event_now(ev, CLOCK_MONOTONIC, &now) < 0)
                return false;
        if (!b->since || strcasecmp(b->address, address) != 0) {
                connect_busy_clear(b);
                b->since = now;
                snprintf(b->address, sizeof(b->address), "%s", address);
                log_info("BlueZ is connecting %s already (its own reconnect?); waiting for it", address);
        } else if (now - b->since > (uint64_t)CONNECT_BUSY_DEADLINE_MS * 1000) {
                connect_busy_clear(b);
                return false;
        }
        b->fn = fn;
        b->ud = ud;
        sd_event_source_disable_unref(b->timer);
        b->timer = NULL;
        if (sd_event_add_time_relative(ev, &b->timer, CLOCK_MONOTONIC, (uint64_t)CONNECT_BUSY_RETRY_MS * 1000,
                                       10000, on_retry, b) < 0) {
                connect_busy_clear(b);
                return false;
        }
        return true;
}

void connect_busy_clear(struct connect_busy *b)
{
        sd_event_source_disable_unref(b->timer);
        b->timer = NULL;
        b->since = 0;
        b->address[0] = '\0';
}
