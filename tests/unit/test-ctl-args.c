/* a2dpsrcctl: argument checks and how the daemon's values are shown. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-doctor.h"
#include "ctl-format.h"

#define ARGC(v) ((int)(sizeof(v) / sizeof((v)[0])) - 1)

static int parse(int argc, char **argv, struct ctl_args *a, char *err, size_t err_len)
{
        FILE *devnull = fopen("/dev/null", "w");
        int r;

        ck_assert_ptr_nonnull(devnull);
        r = ctl_parse_args(argc, argv, a, devnull, err, err_len);
        fclose(devnull);
        return r;
}

START_TEST(commands_parsed)
{
        struct ctl_args a;
        char err[256];
        char *status[] = { "a2dpsrcctl", "status", NULL };
        char *mode[] = { "a2dpsrcctl", "-v", "--timeout", "60000", "speaker-mode", "on", NULL };
        char *scan[] = { "a2dpsrcctl", "scan", NULL };
        char *scan5[] = { "a2dpsrcctl", "scan", "5", NULL };
        char *pair[] = { "a2dpsrcctl", "pair", "aa:bb:cc:dd:ee:0f", NULL };
        char *connect[] = { "a2dpsrcctl", "connect", "aa:bb:cc:dd:ee:0f", NULL };
        char *connect_t[] = { "a2dpsrcctl", "-t", "7000", "connect", "aa:bb:cc:dd:ee:0f", NULL };
        char *route[] = { "a2dpsrcctl", "route", "voice", "bluetooth", NULL };
        char *output[] = { "a2dpsrcctl", "default-output", "local", NULL };
        char *volume[] = { "a2dpsrcctl", "volume", "127", NULL };
        char *idle[] = { "a2dpsrcctl", "idle-suspend", "86400", NULL };
        char *autorc[] = { "a2dpsrcctl", "-t", "5", "auto-reconnect", "off", NULL };
        char *monitor[] = { "a2dpsrcctl", "monitor", NULL };

        ck_assert_int_eq(parse(ARGC(status), status, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_STATUS);
        ck_assert_int_eq(a.timeout_ms, CTL_DEFAULT_TIMEOUT_MS);
        ck_assert_int_eq(a.verbose, 0);

        ck_assert_int_eq(parse(ARGC(mode), mode, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_SPEAKER_MODE);
        ck_assert(a.flag);
        ck_assert_int_eq(a.verbose, 1);
        ck_assert_int_eq(a.timeout_ms, 60000);

        ck_assert_int_eq(parse(ARGC(scan), scan, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_SCAN);
        ck_assert_uint_eq(a.number, CTL_DEFAULT_SCAN_S);
        ck_assert_int_eq(parse(ARGC(scan5), scan5, &a, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.number, 5);

        ck_assert_int_eq(parse(ARGC(pair), pair, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_PAIR);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:0F");
        /* the daemon's Connect may pair first: 25 s would give up on it */
        ck_assert_int_eq(a.timeout_ms, CTL_PAIRING_TIMEOUT_MS);
        ck_assert_int_eq(parse(ARGC(connect), connect, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_CONNECT);
        ck_assert_int_eq(a.timeout_ms, CTL_PAIRING_TIMEOUT_MS);
        ck_assert_int_eq(parse(ARGC(connect_t), connect_t, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.timeout_ms, 7000);

        ck_assert_int_eq(parse(ARGC(route), route, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_ROUTE);
        ck_assert_str_eq(a.category, "voice");
        ck_assert_str_eq(a.target, "bluetooth");

        ck_assert_int_eq(parse(ARGC(output), output, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_DEFAULT_OUTPUT);
        ck_assert_str_eq(a.target, "local");

        ck_assert_int_eq(parse(ARGC(volume), volume, &a, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.number, 127);
        ck_assert_int_eq(parse(ARGC(idle), idle, &a, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.number, 86400u);
        ck_assert_int_eq(parse(ARGC(autorc), autorc, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_AUTO_RECONNECT);
        ck_assert(!a.flag);
        ck_assert_int_eq(a.timeout_ms, 5);
        ck_assert_int_eq(parse(ARGC(monitor), monitor, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_MONITOR);
}
END_TEST

START_TEST(doctor_arguments)
{
        struct ctl_args a;
        char err[256];
        char *board[] = { "a2dpsrcctl", "doctor", NULL };
        char *dev[] = { "a2dpsrcctl", "doctor", "aa:bb:cc:dd:ee:0f", NULL };
        char *json_after[] = { "a2dpsrcctl", "doctor", "aa:bb:cc:dd:ee:0f", "--json", NULL };
        char *json_before[] = { "a2dpsrcctl", "-j", "doctor", NULL };

        ck_assert_int_eq(parse(ARGC(board), board, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_DOCTOR);
        ck_assert_str_eq(a.address, "");
        ck_assert(!a.json);
        ck_assert_int_eq(parse(ARGC(dev), dev, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:0F");
        ck_assert_int_eq(parse(ARGC(json_after), json_after, &a, err, sizeof(err)), 0);
        ck_assert(a.json);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:0F");
        ck_assert_int_eq(parse(ARGC(json_before), json_before, &a, err, sizeof(err)), 0);
        ck_assert(a.json);
        ck_assert_str_eq(a.address, "");
}
END_TEST

START_TEST(codec_arguments)
{
        struct ctl_args a;
        char err[256];
        char *show[] = { "a2dpsrcctl", "codec", NULL };
        char *sw[] = { "a2dpsrcctl", "codec", "aptx-hd", NULL };
        char *list[] = { "a2dpsrcctl", "codecs", "aptx,sbc", NULL };
        char *empty[] = { "a2dpsrcctl", "codec", "", NULL };
        char *two[] = { "a2dpsrcctl", "codecs", "sbc", "aptx", NULL };

        ck_assert_int_eq(parse(ARGC(show), show, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_CODEC);
        ck_assert_ptr_null(a.text[0]);
        ck_assert_int_eq(parse(ARGC(sw), sw, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(a.text[0], "aptx-hd");
        ck_assert_int_eq(parse(ARGC(list), list, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_CODECS);
        ck_assert_str_eq(a.text[0], "aptx,sbc");
        ck_assert_int_lt(parse(ARGC(empty), empty, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "codec: give a codec name");
        ck_assert_int_lt(parse(ARGC(two), two, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "usage: a2dpsrcctl codecs [LIST|all]");
}
END_TEST

START_TEST(sbc_xq_arguments)
{
        struct ctl_args a;
        char err[256];
        char *off[] = { "a2dpsrcctl", "sbc-xq", "aa:bb:cc:dd:ee:ff", "off", NULL };
        char *on[] = { "a2dpsrcctl", "sbc-xq", "AA:BB:CC:DD:EE:FF", "on", NULL };
        char *bad_addr[] = { "a2dpsrcctl", "sbc-xq", "speaker", "off", NULL };
        char *bad_flag[] = { "a2dpsrcctl", "sbc-xq", "AA:BB:CC:DD:EE:FF", "maybe", NULL };
        char *one[] = { "a2dpsrcctl", "sbc-xq", "AA:BB:CC:DD:EE:FF", NULL };

        ck_assert_int_eq(parse(ARGC(off), off, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_SBC_XQ);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:FF");
        ck_assert(!a.flag);
        ck_assert_int_eq(parse(ARGC(on), on, &a, err, sizeof(err)), 0);
        ck_assert(a.flag);
        ck_assert_int_lt(parse(ARGC(bad_addr), bad_addr, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "sbc-xq: 'speaker' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)");
        ck_assert_int_lt(parse(ARGC(bad_flag), bad_flag, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "sbc-xq: 'maybe' is not on or off");
        ck_assert_int_lt(parse(ARGC(one), one, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "usage: a2dpsrcctl sbc-xq ADDRESS on|off");
}
END_TEST

START_TEST(speaker_delay_arguments)
{
        struct ctl_args a;
        char err[256];
        char *ms[] = { "a2dpsrcctl", "speaker-delay", "aa:bb:cc:dd:ee:ff", "180", NULL };
        char *autom[] = { "a2dpsrcctl", "speaker-delay", "AA:BB:CC:DD:EE:FF", "auto", NULL };
        char *zero[] = { "a2dpsrcctl", "speaker-delay", "AA:BB:CC:DD:EE:FF", "0", NULL };
        char *big[] = { "a2dpsrcctl", "speaker-delay", "AA:BB:CC:DD:EE:FF", "1001", NULL };
        char *bad_addr[] = { "a2dpsrcctl", "speaker-delay", "speaker", "100", NULL };

        char *multi[] = { "a2dpsrcctl", "multi-output", "on", NULL };
        char *outputs[] = { "a2dpsrcctl", "outputs", NULL };

        ck_assert_int_eq(parse(ARGC(multi), multi, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_MULTI_OUTPUT);
        ck_assert(a.flag);
        ck_assert_int_eq(parse(ARGC(outputs), outputs, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_OUTPUTS);
        ck_assert_int_eq(parse(ARGC(ms), ms, &a, err, sizeof(err)), 0);
        ck_assert_int_eq(a.command, CTL_SPEAKER_DELAY);
        ck_assert_str_eq(a.address, "AA:BB:CC:DD:EE:FF");
        ck_assert_uint_eq(a.number, 180);
        ck_assert_int_eq(parse(ARGC(autom), autom, &a, err, sizeof(err)), 0);
        ck_assert_uint_eq(a.number, 0);
        ck_assert_int_lt(parse(ARGC(zero), zero, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "speaker-delay: '0' is not 1-1000 ms or auto");
        ck_assert_int_lt(parse(ARGC(big), big, &a, err, sizeof(err)), 0);
        ck_assert_int_lt(parse(ARGC(bad_addr), bad_addr, &a, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "speaker-delay: 'speaker' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)");
}
END_TEST

START_TEST(doctor_output)
{
        DBusMessage *m = dbus_message_new_signal("/", "a.b", "c");
        DBusMessageIter it, arr, st;
        const char *rows[2][4] = {
                { "bond", "problem", "said \"no\"\x1b[31m\ttwice", "a2dpsrcctl forget X" },
                { "volume", "ok", "Volume 100/127", "" },
        };
        struct ctl_finding *fs;
        size_t n;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ssss)", &arr));
        for (int i = 0; i < 2; i++) {
                ck_assert(dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st));
                for (int k = 0; k < 4; k++)
                        ck_assert(dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &rows[i][k]));
                ck_assert(dbus_message_iter_close_container(&arr, &st));
        }
        ck_assert(dbus_message_iter_close_container(&it, &arr));
        dbus_message_iter_init(m, &it);
        ck_assert_int_eq(ctl_findings_parse(&it, &fs, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(fs[0].id, "bond");
        ck_assert(ctl_findings_problem(fs, n));
        ck_assert(!ctl_findings_problem(fs + 1, 1));

        f = open_memstream(&buf, &len);
        ctl_findings_json(f, "00:11:22:33:44:55", fs, n);
        fclose(f);
        ck_assert_str_eq(buf, "{\"address\": \"00:11:22:33:44:55\", \"verdict\": \"problem\", \"findings\": "
                              "[{\"id\": \"bond\", \"verdict\": \"problem\", \"seen\": "
                              "\"said \\\"no\\\"\\u001b[31m\\u0009twice\", \"fix\": \"a2dpsrcctl forget X\"}, "
                              "{\"id\": \"volume\", \"verdict\": \"ok\", \"seen\": \"Volume 100/127\", "
                              "\"fix\": \"\"}]}\n");
        free(buf);

        f = open_memstream(&buf, &len);
        ctl_findings_print(f, "", fs, n);
        fclose(f);
        ck_assert_ptr_nonnull(strstr(buf, "a2dpsrc doctor: the board\n"));
        ck_assert_ptr_nonnull(strstr(buf, "[FAIL] bond    said \"no\"?[31m?twice\n"));
        ck_assert_ptr_nonnull(strstr(buf, "-> a2dpsrcctl forget X\n"));
        ck_assert_ptr_nonnull(strstr(buf, "[ ok ] volume  Volume 100/127\n"));
        ck_assert_ptr_nonnull(strstr(buf, "1 problem, 0 warnings.\n"));
        ck_assert_ptr_null(strchr(buf, 0x1b));
        free(buf);
        free(fs);

        /* not an a(ssss): refused */
        dbus_message_iter_init(m, &it);
        dbus_message_unref(m);
        m = dbus_message_new_signal("/", "a.b", "c");
        {
                const char *s = "x";
                dbus_message_append_args(m, DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID);
        }
        dbus_message_iter_init(m, &it);
        ck_assert_int_eq(ctl_findings_parse(&it, &fs, &n), -EINVAL);
        dbus_message_unref(m);
}
END_TEST

START_TEST(bad_arguments)
{
        static const struct {
                const char *argv[6];
                const char *says;
        } cases[] = {
                { { "a2dpsrcctl", NULL }, "no command" },
                { { "a2dpsrcctl", "frob", NULL }, "unknown command 'frob'" },
                { { "a2dpsrcctl", "--frob", "status", NULL }, "unknown option '--frob'" },
                { { "a2dpsrcctl", "--timeout", NULL }, "needs a value" },
                { { "a2dpsrcctl", "--timeout", "0", "status", NULL }, "--timeout" },
                { { "a2dpsrcctl", "--timeout", "3600001", "status", NULL }, "--timeout" },
                { { "a2dpsrcctl", "--timeout", "1s", "status", NULL }, "--timeout" },
                { { "a2dpsrcctl", "status", "now", NULL }, "takes no arguments" },
                { { "a2dpsrcctl", "speaker-mode", NULL }, "usage: a2dpsrcctl speaker-mode on|off" },
                { { "a2dpsrcctl", "speaker-mode", "ON", NULL }, "'ON' is not on or off" },
                { { "a2dpsrcctl", "speaker-mode", "on", "off", NULL }, "usage" },
                { { "a2dpsrcctl", "scan", "0", NULL }, "scan: '0'" },
                { { "a2dpsrcctl", "scan", "3601", NULL }, "scan" },
                { { "a2dpsrcctl", "scan", "-1", NULL }, "scan" },
                { { "a2dpsrcctl", "pair", "AA:BB:CC:DD:EE", NULL }, "not a Bluetooth address" },
                { { "a2dpsrcctl", "connect", "AA:BB:CC:DD:EE:FF:", NULL }, "connect" },
                { { "a2dpsrcctl", "forget", "AABBCCDDEEFF", NULL }, "forget" },
                { { "a2dpsrcctl", "forget", NULL }, "usage: a2dpsrcctl forget ADDRESS" },
                { { "a2dpsrcctl", "route", "media", NULL }, "usage" },
                { { "a2dpsrcctl", "route", "music", "local", NULL }, "'music' is not media, alerts or voice" },
                { { "a2dpsrcctl", "route", "media", "usb", NULL }, "'usb' is not bluetooth or local" },
                { { "a2dpsrcctl", "default-output", "both", NULL }, "default-output" },
                { { "a2dpsrcctl", "volume", "128", NULL }, "volume: '128' is not 0-127" },
                { { "a2dpsrcctl", "volume", "-1", NULL }, "volume" },
                { { "a2dpsrcctl", "volume", "", NULL }, "volume" },
                { { "a2dpsrcctl", "volume", "5%", NULL }, "volume" },
                { { "a2dpsrcctl", "idle-suspend", "4294967296", NULL }, "idle-suspend" },
                { { "a2dpsrcctl", "idle-suspend", "86401", NULL }, "idle-suspend: '86401' is not 0-86400 seconds" },
                { { "a2dpsrcctl", "auto-reconnect", "maybe", NULL }, "auto-reconnect" },
                { { "a2dpsrcctl", "multi-output", "2", NULL }, "multi-output: '2' is not on or off" },
                { { "a2dpsrcctl", "outputs", "all", NULL }, "takes no arguments" },
                { { "a2dpsrcctl", "reset", "all", NULL }, "takes no arguments" },
                { { "a2dpsrcctl", "doctor", "speaker", NULL }, "'speaker' is not a Bluetooth address" },
                { { "a2dpsrcctl", "doctor", "AA:BB:CC:DD:EE:FF", "AA:BB:CC:DD:EE:FF", NULL }, "doctor" },
                { { "a2dpsrcctl", "doctor", "--json", "AA:BB:CC:DD:EE:FF", "x", NULL }, "usage" },
                { { "a2dpsrcctl", "--json", "status", NULL }, "--json is for doctor only" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct ctl_args a;
                char err[256] = "";
                char *argv[6];
                int argc = 0;

                while (cases[i].argv[argc]) {
                        argv[argc] = (char *)cases[i].argv[argc];
                        argc++;
                }
                argv[argc] = NULL;
                ck_assert_msg(parse(argc, argv, &a, err, sizeof(err)) == -EINVAL,
                              "case %zu accepted", i);
                ck_assert_msg(strstr(err, cases[i].says), "case %zu: '%s'", i, err);
        }
}
END_TEST

START_TEST(help_and_version)
{
        struct ctl_args a;
        char err[64], *text = NULL;
        size_t len = 0;
        char *help[] = { "a2dpsrcctl", "--help", NULL };
        char *version[] = { "a2dpsrcctl", "-V", "status", NULL };
        FILE *f = open_memstream(&text, &len);

        ck_assert_int_eq(ctl_parse_args(ARGC(help), help, &a, f, err, sizeof(err)), 1);
        ck_assert_int_eq(ctl_parse_args(ARGC(version), version, &a, f, err, sizeof(err)), 1);
        fclose(f);
        ck_assert_ptr_nonnull(strstr(text, "Usage: a2dpsrcctl"));
        ck_assert_ptr_nonnull(strstr(text, "monitor"));
        ck_assert_ptr_nonnull(strstr(text, "a2dpsrcctl " A2DPSRC_VERSION "\n"));
        free(text);
}
END_TEST

START_TEST(options_end_at_the_command)
{
        struct ctl_args a;
        char err[256];
        char *argv[] = { "a2dpsrcctl", "volume", "-5", NULL };

        ck_assert_int_eq(parse(ARGC(argv), argv, &a, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "volume: '-5'"));
}
END_TEST

START_TEST(small_parsers)
{
        char addr[18];
        uint32_t v;
        bool b;

        ck_assert_int_eq(ctl_parse_on_off("yes", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(ctl_parse_on_off("0", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(ctl_parse_on_off("", &b), -EINVAL);
        ck_assert_int_eq(ctl_parse_address("0a:1b:2c:3d:4e:5f", addr), 0);
        ck_assert_str_eq(addr, "0A:1B:2C:3D:4E:5F");
        ck_assert_int_eq(ctl_parse_address("0a:1b:2c:3d:4e:5g", addr), -EINVAL);
        ck_assert_int_eq(ctl_parse_address("", addr), -EINVAL);
        ck_assert_int_eq(ctl_parse_uint("0", 0, &v), 0);
        ck_assert_int_eq(ctl_parse_uint("99999999999999999999999", UINT32_MAX, &v), -EINVAL);
        ck_assert_int_eq(ctl_parse_uint(" 1", 10, &v), -EINVAL);
}
END_TEST

/* ---- values ------------------------------------------------------------- */

static DBusMessage *new_msg(void)
{
        DBusMessage *m = dbus_message_new_method_call("org.a2dpsrc", "/org/a2dpsrc", "x.y", "Z");

        ck_assert_ptr_nonnull(m);
        return m;
}

static void append_variant(DBusMessageIter *it, int type, const void *value)
{
        char sig[2] = { (char)type, '\0' };
        DBusMessageIter var;

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, sig, &var));
        ck_assert(dbus_message_iter_append_basic(&var, type, value));
        ck_assert(dbus_message_iter_close_container(it, &var));
}

static void dict_add(DBusMessageIter *dict, const char *key, int type, const void *value)
{
        DBusMessageIter e;

        ck_assert(dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &e));
        ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key));
        append_variant(&e, type, value);
        ck_assert(dbus_message_iter_close_container(dict, &e));
}

/* Text of one property, as status prints it. */
static char *property_text(const char *name, int type, const void *value)
{
        DBusMessage *m = new_msg();
        DBusMessageIter it;
        char *text = NULL;
        size_t len = 0;
        FILE *f;

        dbus_message_iter_init_append(m, &it);
        append_variant(&it, type, value);
        ck_assert(dbus_message_iter_init(m, &it));
        f = open_memstream(&text, &len);
        ctl_print_property(f, "", name, &it);
        fclose(f);
        dbus_message_unref(m);
        return text;
}

#define ASSERT_PROPERTY(name, type, value, expect)                     \
        do {                                                            \
                char *t_ = property_text(name, type, value);            \
                ck_assert_str_eq(t_, expect);                           \
                free(t_);                                               \
        } while (0)

START_TEST(known_properties)
{
        dbus_bool_t t = TRUE, f = FALSE;
        const char *empty = "", *streaming = "streaming", *codec = "SBC 48000 Hz";
        dbus_uint16_t vol = 64, vol_max = 127, vol0 = 0;
        dbus_uint32_t never = 0, idle = 300, latency = 152345;
        dbus_int32_t wrong = 5;

        ASSERT_PROPERTY("SpeakerMode", DBUS_TYPE_BOOLEAN, &t, "SpeakerMode: on\n");
        ASSERT_PROPERTY("AutoReconnect", DBUS_TYPE_BOOLEAN, &f, "AutoReconnect: off\n");
        ASSERT_PROPERTY("Discovering", DBUS_TYPE_BOOLEAN, &t, "Discovering: yes\n");
        ASSERT_PROPERTY("SpeakerModeBlocker", DBUS_TYPE_STRING, &empty, "SpeakerModeBlocker: none\n");
        ASSERT_PROPERTY("Output", DBUS_TYPE_STRING, &empty, "Output: none\n");
        ASSERT_PROPERTY("Codec", DBUS_TYPE_STRING, &codec, "Codec: SBC 48000 Hz\n");
        ASSERT_PROPERTY("State", DBUS_TYPE_STRING, &streaming, "State: streaming\n");
        ASSERT_PROPERTY("Volume", DBUS_TYPE_UINT16, &vol, "Volume: 64 (50%)\n");
        ASSERT_PROPERTY("Volume", DBUS_TYPE_UINT16, &vol_max, "Volume: 127 (100%)\n");
        ASSERT_PROPERTY("Volume", DBUS_TYPE_UINT16, &vol0, "Volume: 0 (0%)\n");
        ASSERT_PROPERTY("IdleSuspend", DBUS_TYPE_UINT32, &never, "IdleSuspend: never\n");
        ASSERT_PROPERTY("IdleSuspend", DBUS_TYPE_UINT32, &idle, "IdleSuspend: 300 s\n");
        ASSERT_PROPERTY("Latency", DBUS_TYPE_UINT32, &latency, "Latency: 152.3 ms\n");
        /* a type the client does not expect is shown as it is */
        ASSERT_PROPERTY("Volume", DBUS_TYPE_INT32, &wrong, "Volume: 5\n");
        ASSERT_PROPERTY("SomethingNew", DBUS_TYPE_UINT32, &idle, "SomethingNew: 300\n");
}
END_TEST

static DBusMessage *status_message(void)
{
        DBusMessage *m = new_msg();
        DBusMessageIter it, dict, e, var, routes, r, stats;
        const char *state = "connected", *key;
        const char *rk[] = { "media", "alerts" }, *rv[] = { "bluetooth", "local" };
        dbus_bool_t mode = TRUE;
        dbus_uint64_t packets = 12;
        dbus_uint32_t underruns = 1;
        const char *extra = "x";

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        dict_add(&dict, "Zeta", DBUS_TYPE_STRING, &extra);
        dict_add(&dict, "State", DBUS_TYPE_STRING, &state);

        ck_assert(dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e));
        key = "Statistics";
        ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "a{sv}", &var));
        ck_assert(dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "{sv}", &stats));
        dict_add(&stats, "Packets", DBUS_TYPE_UINT64, &packets);
        dict_add(&stats, "Underruns", DBUS_TYPE_UINT32, &underruns);
        ck_assert(dbus_message_iter_close_container(&var, &stats));
        ck_assert(dbus_message_iter_close_container(&e, &var));
        ck_assert(dbus_message_iter_close_container(&dict, &e));

        ck_assert(dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e));
        key = "Routes";
        ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "a{ss}", &var));
        ck_assert(dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "{ss}", &routes));
        for (int i = 0; i < 2; i++) {
                ck_assert(dbus_message_iter_open_container(&routes, DBUS_TYPE_DICT_ENTRY, NULL, &r));
                ck_assert(dbus_message_iter_append_basic(&r, DBUS_TYPE_STRING, &rk[i]));
                ck_assert(dbus_message_iter_append_basic(&r, DBUS_TYPE_STRING, &rv[i]));
                ck_assert(dbus_message_iter_close_container(&routes, &r));
        }
        ck_assert(dbus_message_iter_close_container(&var, &routes));
        ck_assert(dbus_message_iter_close_container(&e, &var));
        ck_assert(dbus_message_iter_close_container(&dict, &e));

        dict_add(&dict, "SpeakerMode", DBUS_TYPE_BOOLEAN, &mode);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        return m;
}

START_TEST(status_in_order)
{
        DBusMessage *m = status_message();
        DBusMessageIter it;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        ck_assert(dbus_message_iter_init(m, &it));
        ck_assert_int_eq(ctl_print_properties(f, &it), 0);
        fclose(f);
        ck_assert_str_eq(text, "SpeakerMode: on\n"
                               "State: connected\n"
                               "Routes: media=bluetooth alerts=local\n"
                               "Statistics:\n"
                               "    Packets: 12\n"
                               "    Underruns: 1\n"
                               "Zeta: x\n");
        free(text);

        /* monitor's prefix starts every line */
        ck_assert(dbus_message_iter_init(m, &it));
        text = NULL;
        f = open_memstream(&text, &len);
        {
                DBusMessageIter dict, e;
                const char *name;

                dbus_message_iter_recurse(&it, &dict);
                dbus_message_iter_next(&dict);
                dbus_message_iter_next(&dict);
                dbus_message_iter_recurse(&dict, &e);
                dbus_message_iter_get_basic(&e, &name);
                dbus_message_iter_next(&e);
                ctl_print_property(f, "12:00:00.000 ", name, &e);
        }
        fclose(f);
        ck_assert_str_eq(text, "12:00:00.000 Statistics:\n"
                               "12:00:00.000     Packets: 12\n"
                               "12:00:00.000     Underruns: 1\n");
        free(text);
        dbus_message_unref(m);

        /* not a dictionary */
        m = new_msg();
        dbus_message_iter_init_append(m, &it);
        {
                const char *s = "x";
                dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &s);
        }
        ck_assert(dbus_message_iter_init(m, &it));
        ck_assert_int_eq(ctl_print_properties(stdout, &it), -EINVAL);
        dbus_message_unref(m);
}
END_TEST

START_TEST(values_generic_and_clean)
{
        DBusMessage *m = new_msg();
        DBusMessageIter it, arr, st;
        const char *evil = "Speaker\x1b[31m\x07 \xc2\x9b" "2J caf\xc3\xa9";
        const char *path = "/org/a2dpsrc";
        dbus_int16_t rssi = -60;
        double d = 1.5;
        dbus_int32_t nums[] = { 1, 2, 3 };
        const dbus_int32_t *p = nums;
        char buf[128], tiny[8];

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &evil));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_INT16, &rssi));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_DOUBLE, &d));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "i", &arr));
        ck_assert(dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_INT32, &p, 3));
        ck_assert(dbus_message_iter_close_container(&it, &arr));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_STRUCT, NULL, &st));
        ck_assert(dbus_message_iter_append_basic(&st, DBUS_TYPE_OBJECT_PATH, &path));
        append_variant(&st, DBUS_TYPE_INT16, &rssi);
        ck_assert(dbus_message_iter_close_container(&it, &st));

        ck_assert(dbus_message_iter_init(m, &it));
        ctl_format_value(&it, buf, sizeof(buf));
        /* escapes, BEL and the C1 CSI gone; real UTF-8 kept */
        ck_assert_str_eq(buf, "Speaker?[31m? ?2J caf\xc3\xa9");
        ck_assert_uint_eq(ctl_format_value(&it, tiny, sizeof(tiny)), 7);
        ck_assert_str_eq(tiny, "Spea...");
        dbus_message_iter_next(&it);
        ctl_format_value(&it, buf, sizeof(buf));
        ck_assert_str_eq(buf, "-60");
        dbus_message_iter_next(&it);
        ctl_format_value(&it, buf, sizeof(buf));
        ck_assert_str_eq(buf, "1.5");
        dbus_message_iter_next(&it);
        ctl_format_value(&it, buf, sizeof(buf));
        ck_assert_str_eq(buf, "[1, 2, 3]");
        dbus_message_iter_next(&it);
        ctl_format_value(&it, buf, sizeof(buf));
        ck_assert_str_eq(buf, "(/org/a2dpsrc, -60)");
        ck_assert_uint_eq(ctl_format_value(&it, tiny, 0), 0);
        ck_assert_uint_eq(ctl_format_value(&it, tiny, 1), 0);
        ck_assert_str_eq(tiny, "");
        dbus_message_unref(m);
}
END_TEST

/* ---- devices ------------------------------------------------------------ */

static void add_device(DBusMessageIter *arr, const char *address, const char *name,
                       bool paired, bool connected, bool sink, int rssi)
{
        DBusMessageIter dict;
        dbus_bool_t p = paired, c = connected, s = sink, t = paired;
        dbus_int16_t r = (dbus_int16_t)rssi;
        dbus_uint32_t wrong = 7;

        ck_assert(dbus_message_iter_open_container(arr, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (address)
                dict_add(&dict, "Address", DBUS_TYPE_STRING, &address);
        if (name)
                dict_add(&dict, "Name", DBUS_TYPE_STRING, &name);
        dict_add(&dict, "Paired", DBUS_TYPE_BOOLEAN, &p);
        dict_add(&dict, "Trusted", DBUS_TYPE_BOOLEAN, &t);
        dict_add(&dict, "Connected", DBUS_TYPE_BOOLEAN, &c);
        dict_add(&dict, "AudioSink", DBUS_TYPE_BOOLEAN, &s);
        dict_add(&dict, "Icon", DBUS_TYPE_UINT32, &wrong);
        if (rssi)
                dict_add(&dict, "RSSI", DBUS_TYPE_INT16, &r);
        else
                dict_add(&dict, "RSSI", DBUS_TYPE_UINT32, &wrong);     /* mistyped: skipped */
        ck_assert(dbus_message_iter_close_container(arr, &dict));
}

START_TEST(devices)
{
        DBusMessage *m = new_msg();
        DBusMessageIter it, arr;
        struct ctl_device *devs;
        char line[256];
        size_t n;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &arr));
        add_device(&arr, "aa:bb:cc:dd:ee:01", "Kitchen", true, true, true, -61);
        add_device(&arr, NULL, "No address", false, false, true, 0);
        add_device(&arr, "not-an-address", "Bad", false, false, true, 0);
        add_device(&arr, "AA:BB:CC:DD:EE:02", NULL, false, false, false, 0);
        add_device(&arr, "AA:BB:CC:DD:EE:03", "Tab\there", false, false, true, 0);
        ck_assert(dbus_message_iter_close_container(&it, &arr));

        ck_assert(dbus_message_iter_init(m, &it));
        ck_assert_int_eq(ctl_devices_parse(&it, &devs, &n), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_str_eq(devs[0].address, "AA:BB:CC:DD:EE:01");
        ck_assert(devs[0].paired && devs[0].trusted && devs[0].connected && devs[0].audio_sink);
        ck_assert(devs[0].has_rssi);
        ck_assert_int_eq(devs[0].rssi, -61);
        ck_assert(!devs[1].has_rssi);

        ctl_device_format(&devs[0], line, sizeof(line));
        ck_assert_str_eq(line, "AA:BB:CC:DD:EE:01  Kitchen  [speaker, paired, trusted, connected, -61 dBm]");
        ctl_device_format(&devs[1], line, sizeof(line));
        ck_assert_str_eq(line, "AA:BB:CC:DD:EE:02  (no name)");
        ctl_device_format(&devs[2], line, sizeof(line));
        ck_assert_str_eq(line, "AA:BB:CC:DD:EE:03  Tab?here  [speaker]");
        ctl_device_format(&devs[0], line, 10);
        ck_assert_str_eq(line, "AA:BB:...");
        free(devs);

        /* a speaker's codecs, where the daemon lists them */
        {
                DBusMessage *c = new_msg();
                DBusMessageIter top, dev, e, v, names;
                const char *k1 = "Address", *addr = "AA:BB:CC:DD:EE:04", *k2 = "Codecs";
                const char *list[] = { "aptx", "sbc-xq", "s\tbc" };

                dbus_message_iter_init_append(c, &top);
                ck_assert(dbus_message_iter_open_container(&top, DBUS_TYPE_ARRAY, "a{sv}", &arr));
                ck_assert(dbus_message_iter_open_container(&arr, DBUS_TYPE_ARRAY, "{sv}", &dev));
                ck_assert(dbus_message_iter_open_container(&dev, DBUS_TYPE_DICT_ENTRY, NULL, &e));
                ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &k1));
                ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "s", &v));
                ck_assert(dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &addr));
                ck_assert(dbus_message_iter_close_container(&e, &v));
                ck_assert(dbus_message_iter_close_container(&dev, &e));
                ck_assert(dbus_message_iter_open_container(&dev, DBUS_TYPE_DICT_ENTRY, NULL, &e));
                ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &k2));
                ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "as", &v));
                ck_assert(dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "s", &names));
                for (int i = 0; i < 3; i++)
                        ck_assert(dbus_message_iter_append_basic(&names, DBUS_TYPE_STRING, &list[i]));
                ck_assert(dbus_message_iter_close_container(&v, &names));
                ck_assert(dbus_message_iter_close_container(&e, &v));
                ck_assert(dbus_message_iter_close_container(&dev, &e));
                ck_assert(dbus_message_iter_close_container(&arr, &dev));
                ck_assert(dbus_message_iter_close_container(&top, &arr));
                ck_assert(dbus_message_iter_init(c, &top));
                ck_assert_int_eq(ctl_devices_parse(&top, &devs, &n), 0);
                ck_assert_uint_eq(n, 1);
                ctl_device_format(&devs[0], line, sizeof(line));
                ck_assert_str_eq(line, "AA:BB:CC:DD:EE:04  (no name)  codecs: aptx, sbc-xq, s?bc");
                free(devs);
                dbus_message_unref(c);
        }

        /* not an array */
        {
                DBusMessageIter first;
                ck_assert(dbus_message_iter_init(m, &first));
                dbus_message_iter_recurse(&first, &arr);
                ck_assert_int_eq(ctl_devices_parse(&arr, &devs, &n), -EINVAL);
                ck_assert_uint_eq(n, 0);
        }
        dbus_message_unref(m);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(error_sentences)
{
        char buf[256];
        bool down;

        ctl_error_text("org.a2dpsrc.Error.OnBattery", "The board is on battery.", 25000,
                       buf, sizeof(buf), &down);
        ck_assert_str_eq(buf, "The board is on battery.");
        ck_assert(!down);
        ctl_error_text(DBUS_ERROR_SERVICE_UNKNOWN, "The name org.a2dpsrc was not provided", 25000,
                       buf, sizeof(buf), &down);
        ck_assert_str_eq(buf, "a2dpsrcd is not running (org.a2dpsrc not on the system bus)");
        ck_assert(down);
        ctl_error_text(DBUS_ERROR_NAME_HAS_NO_OWNER, "x", 1, buf, sizeof(buf), &down);
        ck_assert(down);
        ctl_error_text("org.freedesktop.DBus.Error.Spawn.ChildExited", "x", 1, buf, sizeof(buf), &down);
        ck_assert(down);
        ctl_error_text(DBUS_ERROR_NO_REPLY, "Did not receive a reply", 1500, buf, sizeof(buf), &down);
        ck_assert_ptr_nonnull(strstr(buf, "1500 ms"));
        ck_assert(!down);
        ctl_error_text(DBUS_ERROR_ACCESS_DENIED, "Rejected send message, 2 matched rules", 1,
                       buf, sizeof(buf), &down);
        ck_assert_ptr_nonnull(strstr(buf, "permission denied"));
        ctl_error_text(DBUS_ERROR_UNKNOWN_METHOD, "No method Reset", 1, buf, sizeof(buf), &down);
        ck_assert_ptr_nonnull(strstr(buf, "No method Reset"));
        /* no message, or one with escapes */
        ctl_error_text("org.a2dpsrc.Error.Failed", NULL, 1, buf, sizeof(buf), &down);
        ck_assert_str_eq(buf, "org.a2dpsrc.Error.Failed");
        ctl_error_text("org.a2dpsrc.Error.Failed", "bad\x1b[0m", 1, buf, sizeof(buf), &down);
        ck_assert_str_eq(buf, "bad?[0m");
        ctl_error_text(NULL, NULL, 1, buf, sizeof(buf), &down);
        ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("ctl");
        TCase *args = tcase_create("args");
        TCase *fmt = tcase_create("format");

        tcase_add_test(args, commands_parsed);
        tcase_add_test(args, doctor_arguments);
        tcase_add_test(args, codec_arguments);
        tcase_add_test(args, sbc_xq_arguments);
        tcase_add_test(args, speaker_delay_arguments);
        tcase_add_test(args, bad_arguments);
        tcase_add_test(args, help_and_version);
        tcase_add_test(args, options_end_at_the_command);
        tcase_add_test(args, small_parsers);
        suite_add_tcase(s, args);
        tcase_add_test(fmt, known_properties);
        tcase_add_test(fmt, status_in_order);
        tcase_add_test(fmt, values_generic_and_clean);
        tcase_add_test(fmt, devices);
        tcase_add_test(fmt, error_sentences);
        tcase_add_test(fmt, doctor_output);
        suite_add_tcase(s, fmt);
        return s;
}

CHECK_MAIN(suite)
