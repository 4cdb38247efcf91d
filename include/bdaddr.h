/* Bluetooth device addresses as text. Pure. */
#ifndef A2DPSRC_BDADDR_H
#define A2DPSRC_BDADDR_H

#include <stdbool.h>

/* "AA:BB:CC:DD:EE:FF", hex digits of either case. */
bool bdaddr_valid(const char *s);

#endif
