/* A ConnectProfile that bluetoothd answers InProgress: someone else is
 * connecting that speaker. In the field that is mostly bluetoothd itself:
 * 5.66's policy plugin reconnects a device lost to a supervision timeout
 * (1, 2, 4 ... 64 s, seven tries, on by default), and while its connect
 * runs (device.c dev->pending) every Connect and ConnectProfile of the
 * device is refused InProgress "br-connection-busy". That is no failure:
 * the connection under way is awaited and ours asked again, which then
 * finds A2DP up (answered at once) or pages the speaker itself; only when
 * BlueZ stays busy past a deadline is InProgress the answer. */
#ifndef A2DPSRC_CONNECT_BUSY_H
#define A2DPSRC_CONNECT_BUSY_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* how often BlueZ is asked again, and for how long in all: 5.66's own
 * connect takes a page (5.12 s) and the A2DP set-up (AVDTP requests
 * allowed 6 s each) at the most */
#define CONNECT_BUSY_RETRY_MS 250
#define CONNECT_BUSY_DEADLINE_MS 20000

/* asks address again, if it is still wanted */
typedef void (*connect_busy_fn)(void *ud, const char *address);

struct connect_busy {
        sd_event_source *timer;
        uint64_t since;                 /* CLOCK_MONOTONIC us of the first InProgress; 0: none */
        char address[18];               /* whose connection is awaited */
        connect_busy_fn fn;
        void *ud;
};

/* err answered our ConnectProfile to address: when it is InProgress and
 * address has not been busy past the deadline, fn(ud, address) runs
 * CONNECT_BUSY_RETRY_MS later and true is returned (the first time is
 * logged). False: err is the answer. */
bool connect_busy_wait(struct connect_busy *b, sd_event *ev, const DBusError *err, const char *address,
                       connect_busy_fn fn, void *ud);
/* The wait is over (answered otherwise, called off, shutdown). */
void connect_busy_clear(struct connect_busy *b);

#endif
