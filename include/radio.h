/* The radio itself: RSSI and link quality of the ACL link to a device,
 * read from the controller with libbluetooth's HCI calls (the kernel lets an
 * unprivileged HCI socket send these two reads). */
#ifndef A2DPSRC_RADIO_H
#define A2DPSRC_RADIO_H

#include <stdint.h>

#include <stdbool.h>

struct radio_figures {
        bool has_rssi, has_link_quality;
        int8_t rssi;                    /* dB from the golden receive range */
        uint8_t link_quality;           /* 0-255 */
        int error;                      /* -errno of a read that failed, else 0 */
};

/* adapter: "hci0"; address: the device's. 0 when at least one figure was
 * read (a controller may refuse the other: error says why), or -ENODEV (no
 * such HCI device, no Bluetooth in the kernel), -ENOTCONN (no ACL link),
 * another -errno when both reads fail (-EIO: the controller refused them).
 * Blocks for at most about 2 * RADIO_TIMEOUT_MS on a controller that does
 * not answer. */
#define RADIO_TIMEOUT_MS 200
int radio_read(const char *adapter, const char *address, struct radio_figures *out);

#endif
