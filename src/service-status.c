/* The service's state for systemd: READY=1 once the daemon is of use (or
 * clearly waiting for BlueZ), and a STATUS= line that systemctl status
 * shows, sent when it changes. */
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"

void service_status_update(struct daemon *d)
{
        char status[512];
        struct adapter *reg = NULL;
        bool pending = false;

        for (struct adapter *a = d->adapters; a; a = a->next) {
                if (a->reg == REG_DONE && !reg)
                        reg = a;
                if (a->reg == REG_PENDING)
                        pending = true;
        }
        if (d->streaming) {
                char desc[96];
                transport_describe(d->streaming, 0, desc, sizeof(desc));
                snprintf(status, sizeof(status), "Streaming to %s (%s)", d->streaming->device, desc);
        } else if (d->transports && d->stream_blocked[0]) {
                snprintf(status, sizeof(status), "Speaker connected, not streaming: %s",
                         d->stream_blocked);
        } else if (d->transports) {
                snprintf(status, sizeof(status), "Speaker connected, not streaming");
        } else if (!d->bluez_owner[0]) {
                snprintf(status, sizeof(status), "Waiting for bluetoothd");
        } else if (reg) {
                snprintf(status, sizeof(status), "Ready on %s; no speaker connected", reg->name);
        } else {
                snprintf(status, sizeof(status), "Waiting for a Bluetooth adapter");
        }
        /* READY once registered, or once it is clear we wait for BlueZ;
         * never before our name and objects are on the bus (the audio
         * engine, set up first, reports a capture not there yet) */
        if (!d->ready_sent && d->bus_up && !pending && !d->owner_call && !d->objects_call) {
                sd_notifyf(0, "READY=1\nSTATUS=%s", status);
                d->ready_sent = true;
        } else if (strcmp(status, d->status_sent) != 0) {
                sd_notifyf(0, "STATUS=%s", status);
        }
        snprintf(d->status_sent, sizeof(d->status_sent), "%s", status);
}
