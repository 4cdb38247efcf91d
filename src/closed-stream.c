/* A speaker that closes its stream while it stays connected (AVDTP CLOSE
 * or ABORT: it went to another source, a phone took it; or bluetoothd
 * aborted it) with AVRCP keeping the link up. Suspended or still starting,
 * we hold no socket to see an error on, and Connected does not change:
 * nothing else would set it up again, and it stayed listed, connected and
 * silent. Streaming, the socket's error set it up again a second later
 * (speaker_link_lost), each time: this hold-off replaces that retry. Checked a moment after a transport went (bluez.c's
 * transport_gone), so that a lost link's Connected=false comes first and
 * its own backoff takes over; set up again after a wait that doubles while
 * it keeps closing soon after (policy_close_holdoff_s). Our own
 * reconfiguration closes streams too: not one of these. */
#include <stdbool.h>

#include "daemon.h"
#include "log.h"
#include "policy.h"

#define CHECK_AFTER_US 500000ull

/* addr's speaker connected, with no stream and none being set up */
static struct device *closed(struct daemon *d, const char *addr, bool connecting)
{
        struct device *dev = addr[0] ? bluez_device_by_address(d, addr) : NULL;

        if (!dev || !dev->connected || connecting || transport_of_device(d, dev) ||
            remote_sep_busy_for(d, dev->path))
                return NULL;
        return dev;
}

static int on_check(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        struct device *dev;
        unsigned wait;

        sd_event_source_disable_unref(d->closed_check);
        d->closed_check = NULL;
        if (d->shutting_down || !d->bluez_owner[0] || !d->state.speaker_mode)
                return 0;
        dev = closed(d, d->output, d->connecting[0]);
        /* also after a socket error mid-stream (speaker_link_lost's quick
         * retry): the link stayed, so the speaker closed it, and one that
         * keeps doing so is not fought every second */
        if (dev && speaker_reconnect_wanted(d) &&
            (!speaker_reconnect_pending(d) || speaker_reconnect_after_socket_error(d))) {
                wait = policy_close_holdoff_s(&d->closes[0], dev->address, usec);
                log_warn("%s closed its stream while connected; setting it up again in %u s", dev->address,
                         wait);
                speaker_set_up_again(d, wait);
        }
        dev = closed(d, d->output2, d->connecting2[0]);
        if (dev) {
                policy_close_holdoff_s(&d->closes[1], dev->address, usec);
                /* the second's reconnect waits as the closes say */
                d->reconnect2_attempt = d->closes[1].attempt;
                multi_output_stream_lost(d, dev->path);
        }
        return 0;
}

void closed_stream_check_soon(struct daemon *d)
{
        if (d->shutting_down)
                return;
        /* from the last transport gone: each speaker's Connected=false
         * gets its half second */
        if (d->closed_check) {
                if (sd_event_source_set_time_relative(d->closed_check, CHECK_AFTER_US) < 0)
                        log_err("cannot move the look at the speakers' streams");
                return;
        }
        if (sd_event_add_time_relative(d->event, &d->closed_check, CLOCK_MONOTONIC, CHECK_AFTER_US, 10000,
                                       on_check, d) < 0)
                log_err("cannot schedule a look at the speakers' streams");
}

static void on_transport_gone(struct adapter *a, const char *device_path, void *ud)
{
        (void)a;
        (void)device_path;
        closed_stream_check_soon(ud);
}

void closed_stream_init(struct daemon *d)
{
        d->closed_listener.transport_gone = on_transport_gone;
        d->closed_listener.ud = d;
        bluez_add_listener(d, &d->closed_listener);
}

void closed_stream_shutdown(struct daemon *d)
{
        bluez_remove_listener(d, &d->closed_listener);
        sd_event_source_disable_unref(d->closed_check);
        d->closed_check = NULL;
}
