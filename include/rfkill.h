/* Is a Bluetooth controller blocked by rfkill (airplane mode, a radio
 * switch)? Read from the kernel's rfkill class
 * (/sys/class/rfkill/rfkillN/{type,name,soft,hard}): stock bluetoothd 5.66
 * shows a blocked controller only as Powered false (its PowerState, which
 * says off-blocked, needs bluetoothd -E). */
#ifndef A2DPSRC_RFKILL_H
#define A2DPSRC_RFKILL_H

#include <stdbool.h>

#define RFKILL_SYSFS "/sys/class/rfkill"

/* 0 and *blocked when dir has a bluetooth switch named hci (hci0);
 * -ENOENT when it has none (or dir is missing), *blocked false. */
int rfkill_blocked(const char *dir, const char *hci, bool *blocked);

#endif
