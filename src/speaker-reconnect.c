/* Reconnecting the (first) output when its link drops, and at start-up:
 * 1 s, then doubling up to 60 s (policy_reconnect_delay_s), while speaker
 * mode and AutoReconnect are on and the user did not disconnect it. A try
 * waits for what would make it fail (our endpoints being registered, an
 * adapter off) rather than spend a backoff step on it. */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

static int on_reconnect(sd_event_source *s, uint64_t usec, void *ud);

void speaker_reconnect_cancel(struct daemon *d)
{
        sd_event_source_disable_unref(d->reconnect_timer);
        d->reconnect_timer = NULL;
        d->reconnect_after_socket_error = false;
}

bool speaker_reconnect_wanted(struct daemon *d)
{
        return d->state.speaker_mode && d->state.auto_reconnect && !d->user_disconnected &&
               d->state.last_output[0] && !d->shutting_down && d->bluez_owner[0];
}

void speaker_reconnect_in(struct daemon *d, unsigned delay_ms)
{
        speaker_reconnect_cancel(d);
        if (!speaker_reconnect_wanted(d))
                return;
        if (sd_event_add_time_relative(d->event, &d->reconnect_timer, CLOCK_MONOTONIC,
                                       (uint64_t)delay_ms * 1000, 10000, on_reconnect, d) < 0)
                log_err("cannot schedule a reconnect");
}

void speaker_reconnect_backoff(struct daemon *d)
{
        unsigned s = policy_reconnect_delay_s(d->reconnect_attempt);

        /* with AutoReconnect off (or after Disconnect) nothing will come:
         * the log must not promise it */
        if (!speaker_reconnect_wanted(d)) {
                speaker_reconnect_cancel(d);
                return;
        }
        /* after the link loss and the first failure; the next ones are
         * the same news, 60 s apart in the end for as long as it is off */
        if (d->reconnect_attempt < 2)
                log_info("reconnecting %s in %u s", d->state.last_output, s);
        else
                log_debug("reconnecting %s in %u s", d->state.last_output, s);
        if (d->reconnect_attempt < 16)
                d->reconnect_attempt++;
        speaker_reconnect_in(d, s * 1000);
}

/* News that a reconnect may work now (an adapter powered or plugged in,
 * our endpoints registered, bluetoothd back, speaker mode or
 * AutoReconnect on): tried at once, and the backoff starts afresh. A
 * backoff grown while the adapter was away (a minute after an unplug)
 * kept the speaker away that long after it came back. */
void speaker_reconnect_soon(struct daemon *d)
{
        if (speaker_reconnect_wanted(d)) {
                d->reconnect_attempt = 0;
                speaker_reconnect_in(d, 100);
        }
        multi_output_reconnect_soon(d);
}

/* Our endpoints on dev's adapter are being registered: bluetoothd has no
 * local SEP to set up A2DP with until it has read them, so a connection now
 * would fail (br-connection-profile-unavailable, read as a speaker without
 * an A2DP sink) and cost a backoff. speaker_endpoints_registered() takes
 * the reconnection up again. */
static bool registration_pending(struct daemon *d, const struct device *dev)
{
        const struct adapter *a = bluez_adapter_by_path(d, dev->adapter);

        return a && a->reg == REG_PENDING;
}

static bool adapter_powered(struct daemon *d, const struct device *dev)
{
        const struct adapter *a = bluez_adapter_by_path(d, dev->adapter);

        return !a || a->powered;
}

void speaker_endpoints_registered(struct daemon *d)
{
        if (!d->output[0])
                speaker_reconnect_soon(d);
        else    /* one left with no stream (it closed it meanwhile)? */
                closed_stream_check_soon(d);
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        struct device *dev;
        struct transport *t;

        speaker_reconnect_cancel(d);
        if (!speaker_reconnect_wanted(d) || d->connecting[0])
                return 0;
        dev = bluez_device_by_address(d, d->state.last_output);
        if (!dev && bluez_devices_listed(d)) {
                /* removed in BlueZ (bluetoothctl remove, another app) while
                 * it ran: no try can find it, and only pairing brings it
                 * back. Its adapter or bluetoothd coming back tries again
                 * by itself (speaker_endpoints_registered) */
                log_notice("%s is no longer known to BlueZ; not reconnecting it", d->state.last_output);
                return 0;
        }
        if (!dev) {
                speaker_reconnect_backoff(d);    /* BlueZ may not know it again yet */
                return 0;
        }
        if (registration_pending(d, dev)) {
                log_debug("connecting %s once our endpoints are registered", dev->address);
                return 0;
        }
        if (!dev->paired) {
                /* removed in BlueZ (bluetoothctl remove, another app):
                 * a connection would bond implicitly, untrusted, a bond
                 * nobody asked for; Connect pairs it again */
                log_notice("%s is no longer paired; not reconnecting it", dev->address);
                return 0;
        }
        if (!adapter_powered(d, dev)) {
                /* bluetoothd refuses at once (NotReady): no try, no
                 * backoff; its power-on takes the reconnection up */
                log_debug("connecting %s once its adapter is powered", dev->address);
                return 0;
        }
        t = transport_of_device(d, dev);
        if (t && t == d->streaming)
                return 0;       /* it plays already (news of another adapter) */
        if (t) {
                /* still configured: just take the stream again */
                snprintf(d->output, sizeof(d->output), "%s", dev->address);
                lost_speaker_back(&d->lost, dev->address);
                output_transport_added(d, t);
                return 0;
        }
        speaker_connect(d, dev, NULL);
        return 0;
}

bool speaker_reconnect_pending(const struct daemon *d)
{
        return d->reconnect_timer != NULL;
}

void speaker_set_up_again(struct daemon *d, unsigned delay_s)
{
        speaker_reconnect_in(d, delay_s * 1000);
}
