/* A speaker lost without our asking, and the user's Disconnect meanwhile.
 *
 * bluetoothd 5.66's policy plugin pages a device whose link was lost to a
 * supervision timeout 1, 2, 4 ... 64 s after (seven tries, main.conf
 * [Policy]). A Device1.Disconnect never reaches that timer
 * (device_request_disconnect cancels a connect under way, nothing else),
 * so a speaker the user disconnected while it was out of range came back
 * when in range again, and was played to as one that connected by itself.
 *
 * What ends it is the device's services going: device_block() removes
 * them all, and policy.c's service_cb drops the device's reconnect with
 * them (UNAVAILABLE -> reconnect_remove, its timer too). device_unblock()
 * probes them again; pairing, trust and ServicesResolved are untouched,
 * and nothing is tracked until a service connects again. So the speaker
 * is blocked and unblocked at once: refused for that instant only, it
 * connects as ever when switched on later. Not when someone else had it
 * blocked: it stays so, and a blocked device is not reconnected anyway.
 * Disconnect goes first: it empties dev->pending, which device_block
 * would leave pointing at the services it frees, and drops a link already
 * up. Removing the device would end it too, and lose the pairing. */
#include "lost-speaker.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define BLUEZ_SERVICE "org.bluez"
/* answered once the link is down: bluetoothd's DISCONNECT_TIMER is 2 s,
 * the controller's supervision a few more */
#define LET_GO_TIMEOUT_MS 10000

void lost_speaker_note(struct lost_speaker *l, const char *address)
{
        snprintf(l->address, sizeof(l->address), "%s", address);
}

void lost_speaker_back(struct lost_speaker *l, const char *address)
{
        if (strcasecmp(l->address, address) == 0)
                l->address[0] = '\0';
}

bool lost_speaker_going(const struct lost_speaker *l, const char *address)
{
        for (unsigned i = 0; i < 2; i++)
                if (l->going[i].call && (!address || strcasecmp(l->going[i].address, address) == 0))
                        return true;
        return false;
}

void lost_speaker_clear(struct lost_speaker *l)
{
        for (unsigned i = 0; i < 2; i++) {
                dbus_call_cancel(&l->going[i].call);
                l->going[i].address[0] = '\0';
        }
        l->address[0] = '\0';
}

static void on_gone(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct lost_going *g = ud;

        if (g->call)
                dbus_pending_call_unref(g->call);
        g->call = NULL;
        if (!reply)
                log_debug("disconnecting %s: %s", g->address, err->message ? err->message : err->name);
        g->address[0] = '\0';
        /* a Connect right after waited: a link going down would take its
         * connection with it */
        speaker_connect_when_free(g->d);
}

static void on_blocked(DBusMessage *reply, const DBusError *err, void *ud)
{
        (void)ud;
        if (!reply)
                log_warn("bluetoothd may still reconnect the speaker disconnected while away: "
                         "blocking it for a moment failed: %s", err->message ? err->message : err->name);
}

static int set_blocked(struct daemon *d, const struct device *dev, bool on)
{
        dbus_bool_t b = on;
        DBusMessage *m = dbus_new_set_property(BLUEZ_SERVICE, dev->path, "org.bluez.Device1", "Blocked",
                                               DBUS_TYPE_BOOLEAN, &b);

        if (!m)
                return -ENOMEM;
        return dbus_call_async(d->conn, m, LET_GO_TIMEOUT_MS, on_blocked, d, NULL);
}

static void let_go(struct daemon *d, struct lost_going *g, const char *addr)
{
        struct device *dev = bluez_device_by_address(d, addr);
        DBusMessage *m;

        if (!dev)
                return;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->path, "org.bluez.Device1", "Disconnect");
        dbus_call_cancel(&g->call);
        g->d = d;
        if (!m || dbus_call_async(d->conn, m, LET_GO_TIMEOUT_MS, on_gone, g, &g->call) < 0) {
                log_warn("cannot disconnect %s, which bluetoothd may be reconnecting", addr);
                return;
        }
        snprintf(g->address, sizeof(g->address), "%s", addr);
        if (dev->blocked) {
                log_info("disconnecting %s (lost; blocked, so bluetoothd does not reconnect it)", addr);
                return;
        }
        /* in order on the bus: bluetoothd handles them one after the other */
        if (set_blocked(d, dev, true) < 0 || set_blocked(d, dev, false) < 0) {
                log_warn("bluetoothd may still reconnect %s: cannot block it for a moment", addr);
                return;
        }
        log_info("disconnecting %s, lost while it played: blocked and unblocked at once to end "
                 "bluetoothd's own reconnect of it", addr);
}

void lost_speaker_let_go(struct daemon *d, const char *output, const char *lost2)
{
        struct lost_speaker *l = &d->lost;
        char addr[18];

        snprintf(addr, sizeof(addr), "%s", l->address);
        l->address[0] = '\0';
        if (addr[0] && strcasecmp(addr, output) != 0)
                let_go(d, &l->going[0], addr);
        if (lost2[0] && strcasecmp(lost2, output) != 0 && strcasecmp(lost2, addr) != 0)
                let_go(d, &l->going[1], lost2);
}
