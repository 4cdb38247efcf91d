/* a2dpsrcctl outputs and disconnect ADDRESS: GetOutputs' entries as lines,
 * and the optional address of disconnect. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl-format.h"

static DBusMessage *new_msg(void)
{
        DBusMessage *m = dbus_message_new_method_call("org.a2dpsrc", "/org/a2dpsrc", "x.y", "Z");

        ck_assert_ptr_nonnull(m);
        return m;
}

static void dict_add(DBusMessageIter *dict, const char *key, int type, const void *value)
{
        char sig[2] = { (char)type, '\0' };
        DBusMessageIter e, var;

        ck_assert(dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &e));
        ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, sig, &var));
        ck_assert(dbus_message_iter_append_basic(&var, type, value));
        ck_assert(dbus_message_iter_close_container(&e, &var));
        ck_assert(dbus_message_iter_close_container(dict, &e));
}

/* One GetOutputs entry; NULL strings and delay_source leave keys out. */
static int parse_one(const char *address, const char *name, const char *state, const char *codec,
                     const uint32_t *delay, const char *source, struct ctl_output *o)
{
        DBusMessage *m = new_msg();
        DBusMessageIter it, dict;
        dbus_int32_t wrong = -1;
        int r;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (address)
                dict_add(&dict, "Address", DBUS_TYPE_STRING, &address);
        if (name)
                dict_add(&dict, "Name", DBUS_TYPE_STRING, &name);
        if (state)
                dict_add(&dict, "State", DBUS_TYPE_STRING, &state);
        if (codec)
                dict_add(&dict, "Codec", DBUS_TYPE_STRING, &codec);
        if (delay)
                dict_add(&dict, "Delay", DBUS_TYPE_UINT32, delay);
        else
                dict_add(&dict, "Delay", DBUS_TYPE_INT32, &wrong);      /* mistyped: skipped */
        if (source)
                dict_add(&dict, "DelaySource", DBUS_TYPE_STRING, &source);
        if (codec) {
                dbus_uint16_t volume = 64;
                /* Kitchen's stream stalled twice */
                dbus_uint64_t stalls = name && strcmp(name, "Kitchen") == 0 ? 2 : 0, dropped = stalls * 60;
                /* and is heard 160 ms ahead of the other */
                dbus_uint32_t ahead = stalls ? 160400 : 0;

                dict_add(&dict, "Volume", DBUS_TYPE_UINT16, &volume);
                dict_add(&dict, "Stalls", DBUS_TYPE_UINT64, &stalls);
                dict_add(&dict, "DroppedMs", DBUS_TYPE_UINT64, &dropped);
                dict_add(&dict, "OutOfStepUs", DBUS_TYPE_UINT32, &ahead);
        }
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        ck_assert(dbus_message_iter_init(m, &it));
        r = ctl_output_parse(&it, o);
        dbus_message_unref(m);
        return r;
}

START_TEST(outputs_as_lines)
{
        struct ctl_output o;
        char line[320];
        uint32_t d40 = 40000, d125 = 125000;

        ck_assert_int_eq(parse_one("aa:bb:cc:dd:ee:0a", "Kitchen", "streaming", "SBC 48000 Hz joint-stereo",
                                   &d40, "reported", &o), 0);
        ctl_output_format(&o, line, sizeof(line));
        ck_assert_str_eq(line, "AA:BB:CC:DD:EE:0A  Kitchen  streaming  SBC 48000 Hz joint-stereo  volume 64  "
                               "delay 40.0 ms (reported)  2 stalls  120 ms dropped  heard 160 ms ahead");
        ck_assert_int_eq(parse_one("AA:BB:CC:DD:EE:0B", "Tab\there", "streaming", "aptX 48000 Hz", &d125,
                                   "assumed", &o), 0);
        ctl_output_format(&o, line, sizeof(line));
        ck_assert_str_eq(line, "AA:BB:CC:DD:EE:0B  Tab?here  streaming  aptX 48000 Hz  volume 64  "
                               "delay 125.0 ms (assumed)");
        /* being connected: no stream yet, so no codec or delay */
        ck_assert_int_eq(parse_one("AA:BB:CC:DD:EE:0C", NULL, "connecting", NULL, NULL, NULL, &o), 0);
        ctl_output_format(&o, line, sizeof(line));
        ck_assert_str_eq(line, "AA:BB:CC:DD:EE:0C  (no name)  connecting");
        /* cut to fit */
        ck_assert_int_eq(parse_one("AA:BB:CC:DD:EE:0A", "Kitchen", "streaming", "SBC", &d40, "set", &o), 0);
        ctl_output_format(&o, line, 12);
        ck_assert_uint_eq(strlen(line), 11);
        /* no address, or not one: not an output */
        ck_assert_int_eq(parse_one(NULL, "Kitchen", "streaming", NULL, &d40, NULL, &o), -EINVAL);
        ck_assert_int_eq(parse_one("kitchen", "Kitchen", "streaming", NULL, &d40, NULL, &o), -EINVAL);
}
END_TEST

START_TEST(volume_takes_an_optional_address)
{
        struct ctl_args a;
        char err[256];
        char *all[] = { "a2dpsrcctl", "volume", "64", NULL };
        char *one[] = { "a2dpsrcctl", "volume", "40", "aa:bb:cc:dd:ee:0b", NULL };
        char *bad[] = { "a2dpsrcctl", "volume", "40", "kitchen", NULL };
        FILE *devnull = fopen("/dev/null", "w");

        ck_assert_ptr_nonnull(devnull);
        ck_assert_int_eq(ctl_parse_args(3, all, &a, devnull, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.number, 64);
        ck_assert_str_eq(a.address, "");
        ck_assert_int_eq(ctl_parse_args(4, one, &a, devnull, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.number, 40);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:0B");
        ck_assert_int_eq(ctl_parse_args(4, bad, &a, devnull, err, sizeof(err)), -EINVAL);
        fclose(devnull);
}
END_TEST

START_TEST(codec_takes_an_optional_address)
{
        struct ctl_args a;
        char err[256];
        char *show[] = { "a2dpsrcctl", "codec", NULL };
        char *all[] = { "a2dpsrcctl", "codec", "aptx", NULL };
        char *one[] = { "a2dpsrcctl", "codec", "aptx", "aa:bb:cc:dd:ee:0b", NULL };
        char *bad[] = { "a2dpsrcctl", "codec", "aptx", "kitchen", NULL };
        FILE *devnull = fopen("/dev/null", "w");

        ck_assert_ptr_nonnull(devnull);
        ck_assert_int_eq(ctl_parse_args(2, show, &a, devnull, err, sizeof(err)), 0);
        ck_assert_ptr_null(a.text[0]);
        ck_assert_int_eq(ctl_parse_args(3, all, &a, devnull, err, sizeof(err)), 0);
        ck_assert_str_eq(a.text[0], "aptx");
        ck_assert_str_eq(a.address, "");
        ck_assert_int_eq(ctl_parse_args(4, one, &a, devnull, err, sizeof(err)), 0);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:0B");
        ck_assert_int_eq(ctl_parse_args(4, bad, &a, devnull, err, sizeof(err)), -EINVAL);
        fclose(devnull);
}
END_TEST

START_TEST(disconnect_takes_an_optional_address)
{
        struct ctl_args a;
        char err[256];
        char *all[] = { "a2dpsrcctl", "disconnect", NULL };
        char *one[] = { "a2dpsrcctl", "disconnect", "aa:bb:cc:dd:ee:0b", NULL };
        char *bad[] = { "a2dpsrcctl", "disconnect", "kitchen", NULL };
        char *two[] = { "a2dpsrcctl", "disconnect", "aa:bb:cc:dd:ee:0b", "aa:bb:cc:dd:ee:0a", NULL };
        FILE *devnull = fopen("/dev/null", "w");

        ck_assert_ptr_nonnull(devnull);
        ck_assert_int_eq(ctl_parse_args(2, all, &a, devnull, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_DISCONNECT);
        ck_assert_str_eq(a.address, "");
        ck_assert_int_eq(ctl_parse_args(3, one, &a, devnull, err, sizeof(err)), 0);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:0B");
        ck_assert_int_eq(ctl_parse_args(3, bad, &a, devnull, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not a Bluetooth address"));
        ck_assert_int_eq(ctl_parse_args(4, two, &a, devnull, err, sizeof(err)), -EINVAL);
        fclose(devnull);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("ctl-outputs");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, outputs_as_lines);
        tcase_add_test(tc, disconnect_takes_an_optional_address);
        tcase_add_test(tc, volume_takes_an_optional_address);
        tcase_add_test(tc, codec_takes_an_optional_address);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
