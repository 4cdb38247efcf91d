/* rfkill: the Bluetooth switch of a controller, soft or hard. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "check-main.h"
#include "rfkill.h"
#include "tmptree.h"

static char root[64];

static void setup(void)
{
        tmptree_make(root, sizeof(root), "rfkill");
}

static void teardown(void)
{
        tmptree_remove(root);
}

static void sw(const char *entry, const char *type, const char *name, int soft, int hard)
{
        char path[256];
        const char *files[4][2] = { { "type", type }, { "name", name }, { NULL, NULL }, { NULL, NULL } };
        char s[4], h[4];
        FILE *f;

        snprintf(s, sizeof(s), "%d", soft);
        snprintf(h, sizeof(h), "%d", hard);
        files[2][0] = "soft";
        files[2][1] = s;
        files[3][0] = "hard";
        files[3][1] = h;
        snprintf(path, sizeof(path), "%s/%s", root, entry);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        for (int i = 0; i < 4; i++) {
                snprintf(path, sizeof(path), "%s/%s/%s", root, entry, files[i][0]);
                f = fopen(path, "w");
                ck_assert_ptr_nonnull(f);
                fprintf(f, "%s\n", files[i][1]);
                fclose(f);
        }
}

START_TEST(finds_the_controllers_switch)
{
        bool b = true;

        ck_assert_int_eq(rfkill_blocked(root, "hci0", &b), -ENOENT);
        ck_assert(!b);
        sw("rfkill0", "wlan", "phy0", 1, 0);             /* Wi-Fi blocked: not ours */
        sw("rfkill1", "bluetooth", "hci1", 1, 0);        /* another controller */
        sw("rfkill2", "bluetooth", "hci0", 0, 0);
        ck_assert_int_eq(rfkill_blocked(root, "hci0", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(rfkill_blocked(root, "hci1", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(rfkill_blocked(root, "hci2", &b), -ENOENT);
}
END_TEST

START_TEST(soft_or_hard)
{
        bool b;

        sw("rfkill3", "bluetooth", "hci0", 0, 1);        /* the radio switch */
        ck_assert_int_eq(rfkill_blocked(root, "hci0", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(rfkill_blocked("/nonexistent/rfkill", "hci0", &b), -ENOENT);
        ck_assert(!b);
}
END_TEST

static Suite *rfkill_suite(void)
{
        Suite *s = suite_create("rfkill");
        TCase *tc = tcase_create("sysfs");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, finds_the_controllers_switch);
        tcase_add_test(tc, soft_or_hard);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(rfkill_suite)
