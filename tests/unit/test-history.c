/* The per-device history: order, the ring per device, the device cap. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check-main.h"
#include "history.h"

static struct history h;

START_TEST(records_in_order_with_times)
{
        const struct device_history *dh;

        history_init(&h);
        ck_assert_ptr_null(history_find(&h, "00:11:22:33:44:55"));
        history_record(&h, "00:11:22:33:44:55", HIST_CONNECTED, 1000, 0, NULL);
        history_record(&h, "00:11:22:33:44:55", HIST_SUSPENDED, 2000, 90000, "x");
        dh = history_find(&h, "00:11:22:33:44:55");
        ck_assert_ptr_nonnull(dh);
        ck_assert_uint_eq(dh->count, 2);
        ck_assert_int_eq(history_event_at(dh, 0)->kind, HIST_CONNECTED);
        ck_assert_uint_eq(history_event_at(dh, 1)->at_us, 2000);
        ck_assert_uint_eq(history_event_at(dh, 1)->silent_ms, 90000);
        ck_assert_str_eq(history_event_at(dh, 1)->detail, "x");
        ck_assert_ptr_null(history_event_at(dh, 2));
        ck_assert_uint_eq(history_count(dh, HIST_SUSPENDED, 0), 1);
        ck_assert_uint_eq(history_count(dh, HIST_SUSPENDED, 2001), 0);
        ck_assert_ptr_eq(history_last(dh, HIST_CONNECTED), history_event_at(dh, 0));
        ck_assert_ptr_null(history_last(dh, HIST_STALL));
        /* any case is the same device */
        history_record(&h, "aa:bb:cc:dd:ee:ff", HIST_STALL, 3, 0, NULL);
        history_record(&h, "AA:BB:CC:DD:EE:FF", HIST_STALL, 4, 0, NULL);
        ck_assert_uint_eq(history_find(&h, "aa:bb:cc:dd:ee:ff")->count, 2);
}
END_TEST

START_TEST(events_per_device_are_capped)
{
        const struct device_history *dh;

        history_init(&h);
        for (unsigned i = 0; i < 3 * HISTORY_EVENTS + 1; i++)
                history_record(&h, "00:11:22:33:44:55", HIST_STALL, i, 0, NULL);
        dh = history_find(&h, "00:11:22:33:44:55");
        ck_assert_uint_eq(dh->count, HISTORY_EVENTS);
        /* the newest kept, oldest first */
        ck_assert_uint_eq(history_event_at(dh, 0)->at_us, 2 * HISTORY_EVENTS + 1);
        ck_assert_uint_eq(history_event_at(dh, HISTORY_EVENTS - 1)->at_us, 3 * HISTORY_EVENTS);
}
END_TEST

START_TEST(devices_are_capped_least_recent_goes)
{
        char addr[18];

        history_init(&h);
        for (unsigned i = 0; i < 100; i++) {
                snprintf(addr, sizeof(addr), "00:00:00:00:00:%02X", i);
                history_record(&h, addr, HIST_CONNECTED, i, 0, NULL);
                /* the speaker in use keeps its history among strangers */
                history_record(&h, "00:11:22:33:44:55", HIST_STALL, i, 0, NULL);
        }
        ck_assert_ptr_nonnull(history_find(&h, "00:11:22:33:44:55"));
        ck_assert_ptr_nonnull(history_find(&h, "00:00:00:00:00:63"));
        ck_assert_ptr_null(history_find(&h, "00:00:00:00:00:00"));
        unsigned used = 0;
        for (unsigned i = 0; i < HISTORY_DEVICES; i++)
                used += h.dev[i].address[0] != '\0';
        ck_assert_uint_eq(used, HISTORY_DEVICES);
        /* the memory is the struct: no more with many devices */
        ck_assert_uint_le(sizeof(struct history), 16384);
        /* the evicted device starts anew */
        history_record(&h, "00:00:00:00:00:00", HIST_SUSPENDED, 5, 0, NULL);
        ck_assert_uint_eq(history_find(&h, "00:00:00:00:00:00")->count, 1);
}
END_TEST

START_TEST(seen_by_a_scan)
{
        const struct device_history *dh;

        history_init(&h);
        /* a phone a scan finds makes no room for itself */
        history_seen(&h, "00:00:00:00:00:01", 5, -40);
        ck_assert_ptr_null(history_find(&h, "00:00:00:00:00:01"));
        history_record(&h, "00:11:22:33:44:55", HIST_CONNECT_FAILED, 10, 0, "x");
        dh = history_find(&h, "00:11:22:33:44:55");
        ck_assert(!dh->seen);
        history_seen(&h, "00:11:22:33:44:55", 20, -71);
        ck_assert(dh->seen);
        ck_assert_int_eq(dh->seen_rssi, -71);
        ck_assert_uint_eq(dh->seen_at_us, 20);
        ck_assert_uint_eq(dh->count, 1);        /* no event, no flood */
}
END_TEST

START_TEST(bad_input_is_ignored)
{
        char longer[HISTORY_DETAIL * 2];

        history_init(&h);
        history_record(&h, NULL, HIST_STALL, 1, 0, NULL);
        history_record(&h, "", HIST_STALL, 1, 0, NULL);
        history_record(&h, "00:11:22:33:44:55", HIST_KIND_COUNT, 1, 0, NULL);
        ck_assert_ptr_null(history_find(&h, "00:11:22:33:44:55"));
        memset(longer, 'x', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        history_record(&h, "00:11:22:33:44:55", HIST_CONNECT_FAILED, 1, 0, longer);
        ck_assert_uint_eq(strlen(history_event_at(history_find(&h, "00:11:22:33:44:55"), 0)->detail),
                          HISTORY_DETAIL - 1);
        ck_assert_str_eq(history_kind_name(HIST_SUSPENDED), "suspended");
        ck_assert_str_eq(history_kind_name(HIST_KIND_COUNT), "?");
}
END_TEST

static Suite *history_suite(void)
{
        Suite *s = suite_create("history");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, records_in_order_with_times);
        tcase_add_test(tc, events_per_device_are_capped);
        tcase_add_test(tc, devices_are_capped_least_recent_goes);
        tcase_add_test(tc, seen_by_a_scan);
        tcase_add_test(tc, bad_input_is_ignored);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(history_suite)
