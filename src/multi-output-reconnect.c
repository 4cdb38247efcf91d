/* Reconnecting a second speaker (MultiOutput) whose link was lost while
 * it played: the same backoff as the first's (speaker-reconnect.c), while
 * the mode, speaker mode and AutoReconnect are on, no other speaker took
 * its place and the user did not disconnect it; a try waits for the first
 * output to play. */
#include "daemon.h"
#include "log.h"
#include "policy.h"

void multi_output_reconnect_cancel(struct daemon *d)
{
        sd_event_source_disable_unref(d->reconnect2_timer);
        d->reconnect2_timer = NULL;
}

void multi_output_forget_lost(struct daemon *d)
{
        multi_output_reconnect_cancel(d);
        d->lost2[0] = '\0';
        d->reconnect2_attempt = 0;
        d->reconnect2_said[0] = '\0';
}

bool multi_output_reconnect_wanted(struct daemon *d)
{
        return d->lost2[0] && d->state.multi_output && d->state.speaker_mode && d->state.auto_reconnect &&
               !d->user_disconnected && !d->shutting_down && d->bluez_owner[0] && !d->output2[0];
}

static int on_reconnect2(sd_event_source *s, uint64_t usec, void *ud);

static void arm_reconnect2(struct daemon *d, unsigned delay_s)
{
        if (sd_event_add_time_relative(d->event, &d->reconnect2_timer, CLOCK_MONOTONIC,
                                       (uint64_t)delay_s * 1000000, 10000, on_reconnect2, d) < 0)
                log_err("cannot schedule a reconnect of the second speaker");
}

void multi_output_reconnect_backoff(struct daemon *d)
{
        unsigned delay = policy_reconnect_delay_s(d->reconnect2_attempt);

        multi_output_reconnect_cancel(d);
        if (!multi_output_reconnect_wanted(d)) {
                multi_output_forget_lost(d);
                return;
        }
        /* after the link loss and the first failure; the next ones are
         * the same news for as long as it stays away (speaker.c alike) */
        if (d->reconnect2_attempt < 2)
                log_info("reconnecting %s (the second output) in %u s", d->lost2, delay);
        else
                log_debug("reconnecting %s (the second output) in %u s", d->lost2, delay);
        if (d->reconnect2_attempt < 16)
                d->reconnect2_attempt++;
        arm_reconnect2(d, delay);
}

/* speaker_reconnect_soon's news, for a lost second speaker: tried
 * again afresh once the first has had its go */
void multi_output_reconnect_soon(struct daemon *d)
{
        if (!multi_output_reconnect_wanted(d))
                return;
        d->reconnect2_attempt = 0;
        multi_output_reconnect_cancel(d);
        arm_reconnect2(d, 1);
}

static int on_reconnect2(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        struct device *dev = d->lost2[0] ? bluez_device_by_address(d, d->lost2) : NULL;

        multi_output_reconnect_cancel(d);
        if (!multi_output_reconnect_wanted(d)) {
                multi_output_forget_lost(d);
                return 0;
        }
        if (dev && !dev->paired) {
                log_notice("%s (the second output) is no longer paired; not reconnecting it", dev->address);
                multi_output_forget_lost(d);
                return 0;
        }
        if (!dev && bluez_devices_listed(d)) {
                /* removed in BlueZ meanwhile: as the first (speaker.c), no
                 * more tries; kept, for its adapter or bluetoothd coming
                 * back to try again (multi_output_reconnect_soon) */
                log_notice("%s (the second output) is no longer known to BlueZ; not reconnecting it", d->lost2);
                return 0;
        }
        /* the first not playing (yet): try again later */
        if (!dev || !multi_output_connect(d, dev, NULL) || !d->connecting2[0])
                multi_output_reconnect_backoff(d);
        return 0;
}
