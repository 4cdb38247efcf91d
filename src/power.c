#include "power.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* sysfs values end with a newline; hand-made trees may add spaces */
static size_t trimmed_len(const char *s)
{
        size_t n = strlen(s);

        while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
                     s[n - 1] == '\r'))
                n--;
        return n;
}

static bool is(const char *s, size_t n, const char *name)
{
        return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

enum power_type power_type_from_name(const char *s)
{
        size_t n;

        if (!s)
                return POWER_TYPE_UNKNOWN;
        n = trimmed_len(s);
        if (n == 0)
                return POWER_TYPE_UNKNOWN;
        if (is(s, n, "Battery"))
                return POWER_TYPE_BATTERY;
        if (is(s, n, "Mains"))
                return POWER_TYPE_MAINS;
        /* USB, and the USB_DCP, USB_C, USB_PD... of older kernels */
        if (is(s, n, "USB") || (n > 4 && strncasecmp(s, "USB_", 4) == 0))
                return POWER_TYPE_USB;
        if (is(s, n, "UPS"))
                return POWER_TYPE_UPS;
        if (is(s, n, "Wireless"))
                return POWER_TYPE_WIRELESS;
        return POWER_TYPE_OTHER;
}

enum power_status power_status_from_name(const char *s)
{
        size_t n;

        if (!s)
                return POWER_STATUS_UNKNOWN;
        n = trimmed_len(s);
        if (is(s, n, "Charging"))
                return POWER_STATUS_CHARGING;
        if (is(s, n, "Discharging"))
                return POWER_STATUS_DISCHARGING;
        if (is(s, n, "Full"))
                return POWER_STATUS_FULL;
        if (is(s, n, "Not charging"))
                return POWER_STATUS_NOT_CHARGING;
        return POWER_STATUS_UNKNOWN;
}

enum power_scope power_scope_from_name(const char *s)
{
        size_t n;

        if (!s)
                return POWER_SCOPE_UNKNOWN;
        n = trimmed_len(s);
        if (is(s, n, "System"))
                return POWER_SCOPE_SYSTEM;
        if (is(s, n, "Device"))
                return POWER_SCOPE_DEVICE;
        return POWER_SCOPE_UNKNOWN;
}

bool power_on_battery(const struct power_supply_info *supplies, size_t n)
{
        bool battery = false, external = false, any_online_file = false, plugged_hint = false;

        for (size_t i = 0; i < n; i++) {
                const struct power_supply_info *s = &supplies[i];

                /* a peripheral's own supply says nothing about the board */
                if (s->scope == POWER_SCOPE_DEVICE)
                        continue;
                if (s->type == POWER_TYPE_BATTERY) {
                        if (s->absent)
                                continue;
                        battery = true;
                        if (s->status == POWER_STATUS_CHARGING)
                                external = true;
                        else if (s->status == POWER_STATUS_FULL ||
                                 s->status == POWER_STATUS_NOT_CHARGING)
                                plugged_hint = true;
                        continue;
                }
                /* a supply we could not identify could be anything */
                if (s->type == POWER_TYPE_UNKNOWN || !s->has_online)
                        continue;
                any_online_file = true;
                if (s->online)
                        external = true;
        }
        if (!battery || external)
                return false;
        /* an online file saying 0 outweighs the gauge's hint */
        return any_online_file || !plugged_hint;
}

/* Reads <entry>/<attr> into buf; false when missing or unreadable. */
static bool read_attr(int dfd, const char *entry, const char *attr, char *buf, size_t len)
{
        char path[512];
        ssize_t n;
        int fd;

        if ((size_t)snprintf(path, sizeof(path), "%s/%s", entry, attr) >= sizeof(path))
                return false;
        /* O_NONBLOCK: a FIFO in a test tree must not hang the daemon */
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return false;
        do
                n = read(fd, buf, len - 1);
        while (n < 0 && errno == EINTR);
        close(fd);
        if (n < 0)
                return false;
        buf[n] = '\0';
        /* a value with a NUL in it is not one the kernel wrote */
        return strlen(buf) == (size_t)n;
}

/* "0", "1", "2" (USB: online, programmable): anything else is garbage. */
static bool parse_flag(const char *s, bool *out)
{
        size_t n = trimmed_len(s);
        unsigned v = 0;

        if (n == 0 || n > 9)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        *out = v != 0;
        return true;
}

static void read_supply(int dfd, const char *name, struct power_supply_info *s)
{
        char buf[64];
        bool present;

        memset(s, 0, sizeof(*s));
        s->type = read_attr(dfd, name, "type", buf, sizeof(buf)) ?
                  power_type_from_name(buf) : POWER_TYPE_UNKNOWN;
        if (read_attr(dfd, name, "online", buf, sizeof(buf)) && parse_flag(buf, &s->online))
                s->has_online = true;
        if (read_attr(dfd, name, "status", buf, sizeof(buf)))
                s->status = power_status_from_name(buf);
        if (read_attr(dfd, name, "scope", buf, sizeof(buf)))
                s->scope = power_scope_from_name(buf);
        if (read_attr(dfd, name, "present", buf, sizeof(buf)) && parse_flag(buf, &present))
                s->absent = !present;
}

int power_read(const char *dir, bool *on_battery)
{
        struct power_supply_info supplies[POWER_MAX_SUPPLIES];
        struct dirent *e;
        size_t n = 0;
        DIR *d;

        *on_battery = false;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while (n < POWER_MAX_SUPPLIES && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                read_supply(dirfd(d), e->d_name, &supplies[n]);
                if (supplies[n].type != POWER_TYPE_UNKNOWN)
                        n++;
        }
        closedir(d);
        *on_battery = power_on_battery(supplies, n);
        return 0;
}
