/* On battery or not, from fake /sys/class/power_supply trees. */
#include <check.h>

#include "check-main.h"
#include "tmptree.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "power.h"

static char root[64];

static void setup(void)
{
        tmptree_make(root, sizeof(root), "power");
}

static void teardown(void)
{
        if (root[0])
                tmptree_remove(root);
        root[0] = '\0';
}

/* attr NULL: just the supply's directory. */
static void put(const char *supply, const char *attr, const char *value)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, supply);
        mkdir(path, 0755);
        if (!attr)
                return;
        snprintf(path, sizeof(path), "%s/%s/%s", root, supply, attr);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(value, f);
        ck_assert_int_eq(fclose(f), 0);
}

static void battery(const char *name, const char *status)
{
        put(name, "type", "Battery\n");
        put(name, "status", status);
        put(name, "present", "1\n");
        put(name, "capacity", "57\n");
}

static bool on_battery(void)
{
        bool b = true;

        ck_assert_int_eq(power_read(root, &b), 0);
        return b;
}

START_TEST(no_supplies)
{
        char path[128];
        bool b = true;

        ck_assert(!on_battery());
        snprintf(path, sizeof(path), "%s/missing", root);
        ck_assert_int_eq(power_read(path, &b), 0);
        ck_assert(!b);
}
END_TEST

START_TEST(battery_discharging)
{
        battery("BAT0", "Discharging\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(battery_and_mains_online)
{
        battery("BAT0", "Discharging\n");       /* gauges lag behind */
        put("AC", "type", "Mains\n");
        put("AC", "online", "1\n");
        ck_assert(!on_battery());
}
END_TEST

START_TEST(battery_and_mains_offline)
{
        battery("BAT0", "Discharging\n");
        put("AC", "type", "Mains\n");
        put("AC", "online", "0\n");
        ck_assert(on_battery());
        /* an online file saying 0 outweighs a Full battery */
        battery("BAT0", "Full\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(battery_and_usb_online)
{
        battery("battery", "Discharging\n");
        put("AC", "type", "Mains\n");
        put("AC", "online", "0\n");
        put("usb", "type", "USB\n");
        put("usb", "online", "1\n");
        ck_assert(!on_battery());
        /* an older kernel's spelling, and "2" (online, programmable) */
        put("usb", "type", "USB_DCP\n");
        put("usb", "online", "2\n");
        ck_assert(!on_battery());
        put("usb", "online", "0\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(wireless_and_unknown_types)
{
        battery("BAT0", "Discharging\n");
        put("qi", "type", "Wireless\n");
        put("qi", "online", "1\n");
        ck_assert(!on_battery());
        put("qi", "type", "BrickID\n");         /* a type not named here */
        ck_assert(!on_battery());
}
END_TEST

START_TEST(device_scope_battery_only)
{
        put("hid-mouse-battery", "type", "Battery\n");
        put("hid-mouse-battery", "scope", "Device\n");
        put("hid-mouse-battery", "status", "Discharging\n");
        ck_assert(!on_battery());
        /* with the board's own battery beside it */
        battery("BAT0", "Discharging\n");
        put("BAT0", "scope", "System\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(device_scope_supply_is_not_board_power)
{
        battery("BAT0", "Discharging\n");
        put("headset-charger", "type", "USB\n");
        put("headset-charger", "scope", "Device\n");
        put("headset-charger", "online", "1\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(empty_battery_slot)
{
        battery("BAT1", "Unknown\n");
        put("BAT1", "present", "0\n");
        ck_assert(!on_battery());
}
END_TEST

START_TEST(charging_without_online_file)
{
        /* a fuel gauge and no charger node: charging means external power */
        battery("bq27500-0", "Charging\n");
        ck_assert(!on_battery());
        /* even when a charger node that exists says offline: another input
         * is feeding the battery */
        put("AC", "type", "Mains\n");
        put("AC", "online", "0\n");
        ck_assert(!on_battery());
}
END_TEST

START_TEST(full_or_not_charging_without_online_file)
{
        battery("bq27500-0", "Full\n");
        ck_assert(!on_battery());
        battery("bq27500-0", "Not charging\n");
        ck_assert(!on_battery());
        battery("bq27500-0", "Unknown\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(garbage)
{
        /* a directory without a type, a stray file, empty and junk values */
        put("weird", NULL, NULL);
        put(".", "stray", "x");
        put(".hidden", "type", "Mains\n");
        put(".hidden", "online", "1\n");
        put("AC", "type", "\n");
        put("AC", "online", "1\n");
        put("USB", "type", "USB\n");
        put("USB", "online", "yes\n");
        battery("BAT0", "\x01\xff garbage\n");
        put("BAT0", "scope", "Galaxy\n");
        put("BAT0", "present", "maybe\n");
        /* AC: no type; USB: online unreadable; BAT0 counts */
        ck_assert(on_battery());

        put("USB", "online", "-1\n");
        ck_assert(on_battery());
        put("USB", "online", "99999999999999999999\n");
        ck_assert(on_battery());
}
END_TEST

START_TEST(unreadable_files)
{
        char path[512];
        bool b = true;

        battery("BAT0", "Discharging\n");
        put("AC", "type", "Mains\n");
        /* online is a directory: read() fails with EISDIR */
        snprintf(path, sizeof(path), "%s/AC/online", root);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        ck_assert(on_battery());
        /* a FIFO must not block */
        snprintf(path, sizeof(path), "%s/BAT0/scope", root);
        ck_assert_int_eq(mkfifo(path, 0644), 0);
        ck_assert(on_battery());
        /* a file where the directory should be */
        snprintf(path, sizeof(path), "%s/file", root);
        put(".", "file", "x");
        ck_assert(on_battery());
        /* the dir itself is a file */
        ck_assert_int_eq(power_read(path, &b), -ENOTDIR);
        ck_assert(!b);
}
END_TEST

START_TEST(names)
{
        ck_assert_int_eq(power_type_from_name("Battery\n"), POWER_TYPE_BATTERY);
        ck_assert_int_eq(power_type_from_name("Mains"), POWER_TYPE_MAINS);
        ck_assert_int_eq(power_type_from_name("USB_PD_DRP\n"), POWER_TYPE_USB);
        ck_assert_int_eq(power_type_from_name("USB_"), POWER_TYPE_OTHER);
        ck_assert_int_eq(power_type_from_name("UPS\n"), POWER_TYPE_UPS);
        ck_assert_int_eq(power_type_from_name("Wireless\n"), POWER_TYPE_WIRELESS);
        ck_assert_int_eq(power_type_from_name("BrickID\n"), POWER_TYPE_OTHER);
        ck_assert_int_eq(power_type_from_name(""), POWER_TYPE_UNKNOWN);
        ck_assert_int_eq(power_type_from_name(NULL), POWER_TYPE_UNKNOWN);
        ck_assert_int_eq(power_status_from_name("Not charging\n"), POWER_STATUS_NOT_CHARGING);
        ck_assert_int_eq(power_status_from_name("Charging"), POWER_STATUS_CHARGING);
        ck_assert_int_eq(power_status_from_name("Discharging\n"), POWER_STATUS_DISCHARGING);
        ck_assert_int_eq(power_status_from_name("Full\n"), POWER_STATUS_FULL);
        ck_assert_int_eq(power_status_from_name("Fullish"), POWER_STATUS_UNKNOWN);
        ck_assert_int_eq(power_scope_from_name("Device\n"), POWER_SCOPE_DEVICE);
        ck_assert_int_eq(power_scope_from_name("System\n"), POWER_SCOPE_SYSTEM);
        ck_assert_int_eq(power_scope_from_name("Unknown\n"), POWER_SCOPE_UNKNOWN);
}
END_TEST

START_TEST(pure_rule)
{
        struct power_supply_info s[2];

        ck_assert(!power_on_battery(NULL, 0));
        memset(s, 0, sizeof(s));
        s[0].type = POWER_TYPE_BATTERY;
        ck_assert(power_on_battery(s, 1));
        s[1].type = POWER_TYPE_UPS;
        s[1].has_online = true;
        s[1].online = true;
        ck_assert(!power_on_battery(s, 2));
        s[1].online = false;
        ck_assert(power_on_battery(s, 2));
        s[1].has_online = false;
        s[0].status = POWER_STATUS_FULL;
        ck_assert(!power_on_battery(s, 2));
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("power");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, no_supplies);
        tcase_add_test(tc, battery_discharging);
        tcase_add_test(tc, battery_and_mains_online);
        tcase_add_test(tc, battery_and_mains_offline);
        tcase_add_test(tc, battery_and_usb_online);
        tcase_add_test(tc, wireless_and_unknown_types);
        tcase_add_test(tc, device_scope_battery_only);
        tcase_add_test(tc, device_scope_supply_is_not_board_power);
        tcase_add_test(tc, empty_battery_slot);
        tcase_add_test(tc, charging_without_online_file);
        tcase_add_test(tc, full_or_not_charging_without_online_file);
        tcase_add_test(tc, garbage);
        tcase_add_test(tc, unreadable_files);
        tcase_add_test(tc, names);
        tcase_add_test(tc, pure_rule);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
