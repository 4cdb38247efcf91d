/* Is the board running on its battery? Read from the kernel's power supply
 * class (/sys/class/power_supply/<name>/{type,online,status,scope,present}).
 * The daemon polls power_read every few seconds; the decision itself is a
 * pure function over parsed supplies, so tests reach every case.
 *
 * The rule: the board is on battery when it has a battery of its own and
 * nothing shows external power. In detail:
 * - a battery counts unless its scope is Device (a mouse's or a
 *   headset's battery) or its present file says 0 (an empty slot); a
 *   battery without a scope file counts, as most system batteries have none;
 * - external power shows as any supply that is not a battery, not of Device
 *   scope, and whose online file is non-zero (Mains, USB and its USB_*
 *   variants, Wireless, UPS, and types we do not know: something online that
 *   is not a battery feeds the board);
 * - a counted battery reporting Charging is external power too: it cannot
 *   charge without it, and many boards have a fuel gauge but no charger node;
 * - when no supply has an online file at all, a counted battery reporting
 *   Full or Not charging is taken as external power as well (gauges report
 *   these while plugged in; unplugged they report Discharging);
 * - no counted battery: mains powered. */
#ifndef A2DPSRC_POWER_H
#define A2DPSRC_POWER_H

#include <stdbool.h>
#include <stddef.h>

#define POWER_MAX_SUPPLIES 64   /* more are ignored */

enum power_type {
        POWER_TYPE_UNKNOWN,     /* no type file, or one we cannot read */
        POWER_TYPE_BATTERY,
        POWER_TYPE_MAINS,
        POWER_TYPE_USB,         /* also USB_DCP, USB_C, USB_PD, ... */
        POWER_TYPE_UPS,
        POWER_TYPE_WIRELESS,
        POWER_TYPE_OTHER,       /* a type this code does not name */
};

enum power_status {
        POWER_STATUS_UNKNOWN,   /* also: no status file */
        POWER_STATUS_CHARGING,
        POWER_STATUS_DISCHARGING,
        POWER_STATUS_FULL,
        POWER_STATUS_NOT_CHARGING,
};

enum power_scope {
        POWER_SCOPE_UNKNOWN,    /* also: no scope file */
        POWER_SCOPE_SYSTEM,
        POWER_SCOPE_DEVICE,
};

struct power_supply_info {
        enum power_type type;
        bool online;            /* meaningful when has_online */
        bool has_online;
        enum power_status status;
        enum power_scope scope;
        bool absent;            /* present file says 0 */
};

/* The sysfs spellings ("Battery", "Not charging", "System"); trailing
 * white space is ignored. NULL or unknown text gives the UNKNOWN value
 * (POWER_TYPE_OTHER for a type that is there but not known). */
enum power_type power_type_from_name(const char *s);
enum power_status power_status_from_name(const char *s);
enum power_scope power_scope_from_name(const char *s);

bool power_on_battery(const struct power_supply_info *supplies, size_t n);

/* Scans dir (normally /sys/class/power_supply). A missing dir means no
 * supplies: not on battery, 0. Files that are missing, unreadable or hold
 * garbage count as absent. Other errors opening dir: a negative errno and
 * *on_battery false. */
int power_read(const char *dir, bool *on_battery);

#endif
