/* The radio itself: RSSI and link quality of the ACL link to a device,
 * read from the controller with libbluetooth's HCI calls (the kernel lets an
 * unprivileged HCI socket send these two reads). */
#ifndef A2DPSRC_RADIO_H
#define A2DPSRC_RADIO_H

#include <stdint.h>

/* adapter: "hci0"; address: the device's. 0, or -ENODEV (no such HCI
 * device, no Bluetooth in the kernel), -ENOTCONN (no ACL link), another
 * -errno when the controller does not answer. Blocks for at most about
 * 2 * RADIO_TIMEOUT_MS on a controller that does not answer. */
#define RADIO_TIMEOUT_MS 200
int radio_read(const char *adapter, const char *address, int8_t *rssi, uint8_t *link_quality);

#endif
