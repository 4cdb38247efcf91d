/* RSSI and link quality through libbluetooth (see radio.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>

#include "radio.h"

int radio_read(const char *adapter, const char *address, int8_t *rssi, uint8_t *link_quality)
{
        struct hci_conn_info_req *cr = NULL;
        bdaddr_t ba;
        uint16_t handle;
        int dev, dd, r = 0;

        if (str2ba(address, &ba) < 0)
                return -EINVAL;
        dev = hci_devid(adapter);
        if (dev < 0)
                return -ENODEV;         /* also: no Bluetooth in the kernel */
        dd = hci_open_dev(dev);
        if (dd < 0)
                return errno == EAFNOSUPPORT ? -ENODEV : -errno;
        cr = calloc(1, sizeof(*cr) + sizeof(struct hci_conn_info));
        if (!cr) {
                r = -ENOMEM;
                goto out;
        }
        bacpy(&cr->bdaddr, &ba);
        cr->type = ACL_LINK;
        if (ioctl(dd, HCIGETCONNINFO, (unsigned long)cr) < 0) {
                r = errno == ENOENT ? -ENOTCONN : -errno;
                goto out;
        }
        handle = htobs(cr->conn_info->handle);
        if (hci_read_rssi(dd, handle, rssi, RADIO_TIMEOUT_MS) < 0 ||
            hci_read_link_quality(dd, handle, link_quality, RADIO_TIMEOUT_MS) < 0)
                r = errno ? -errno : -EIO;
out:
        free(cr);
        hci_close_dev(dd);
        return r;
}
