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

int radio_read(const char *adapter, const char *address, struct radio_figures *out)
{
        struct hci_conn_info_req *cr = NULL;
        bdaddr_t ba;
        uint16_t handle;
        int dev, dd, r = 0;

        memset(out, 0, sizeof(*out));
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
        /* libbluetooth: EIO when the controller answers with an error
         * status (a command it does not support), ETIMEDOUT when it does
         * not answer */
        if (hci_read_rssi(dd, handle, &out->rssi, RADIO_TIMEOUT_MS) == 0)
                out->has_rssi = true;
        else
                out->error = errno ? -errno : -EIO;
        if (hci_read_link_quality(dd, handle, &out->link_quality, RADIO_TIMEOUT_MS) == 0)
                out->has_link_quality = true;
        else
                out->error = errno ? -errno : -EIO;
        if (!out->has_rssi && !out->has_link_quality)
                r = out->error;
out:
        free(cr);
        hci_close_dev(dd);
        return r;
}
