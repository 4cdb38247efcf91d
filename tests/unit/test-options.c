/* Command line and configuration file parsing. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "a2dp-codec.h"
#include "options.h"

START_TEST(defaults)
{
        struct options o;

        options_defaults(&o);
        ck_assert_str_eq(o.capture[CAT_MEDIA], "hw:Loopback,1,0");
        ck_assert_str_eq(o.capture[CAT_ALERTS], "");
        ck_assert_uint_eq(o.rate, 48000);
        ck_assert_int_eq(o.rt_priority, 0);
        ck_assert_uint_eq(o.scan_timeout, 120);
        ck_assert_str_eq(o.config, DEFAULT_CONFIG);
}
END_TEST

START_TEST(args)
{
        struct options o;
        char err[256];
        char *argv[] = { "a2dpsrcd", "--capture", "plug:x", "-c", "voice=hw:1", "--adapter", "hci1",
                         "--rt-priority", "40", "-r", "44100", "-v", "-v", "--scan-timeout", "30",
                         NULL };

        options_defaults(&o);
        ck_assert_int_eq(options_parse_args(&o, 15, argv, 0, err, sizeof(err)), 0);
        ck_assert_uint_eq(o.scan_timeout, 30);
        ck_assert_str_eq(o.capture[CAT_MEDIA], "plug:x");
        ck_assert_str_eq(o.capture[CAT_VOICE], "hw:1");
        ck_assert_str_eq(o.adapter, "hci1");
        ck_assert_int_eq(o.rt_priority, 40);
        ck_assert_uint_eq(o.rate, 44100);
        ck_assert_int_eq(o.verbose, 2);
}
END_TEST

START_TEST(bad_args)
{
        struct options o;
        char err[256];
        char *a1[] = { "a2dpsrcd", "--nope", NULL };
        char *a2[] = { "a2dpsrcd", "--rt-priority", "100", NULL };
        char *a3[] = { "a2dpsrcd", "--adapter", "wlan0", NULL };
        char *a4[] = { "a2dpsrcd", "--capture", NULL };
        char *a5[] = { "a2dpsrcd", "stray", NULL };
        char *a6[] = { "a2dpsrcd", "--rate", "48000x", NULL };
        char *a7[] = { "a2dpsrcd", "--scan-timeout", "4", NULL };

        options_defaults(&o);
        ck_assert_int_eq(options_parse_args(&o, 2, a1, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "--nope"));
        ck_assert_int_eq(options_parse_args(&o, 3, a2, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "rt-priority"));
        ck_assert_int_eq(options_parse_args(&o, 3, a3, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "hciN"));
        ck_assert_int_eq(options_parse_args(&o, 2, a4, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "needs a value"));
        ck_assert_int_eq(options_parse_args(&o, 2, a5, 0, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_args(&o, 3, a6, 0, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_args(&o, 3, a7, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "5-3600"));
        ck_assert_uint_eq(o.scan_timeout, 120);
        /* nothing half-applied */
        ck_assert_int_eq(o.rt_priority, 0);
        ck_assert_str_eq(o.adapter, "");
}
END_TEST

/* --codecs / codecs: a filter of the codecs built in, SBC always kept */
START_TEST(codecs_list)
{
        struct options o;
        char err[256];
        char *ok[] = { "a2dpsrcd", "--codecs", "sbc", NULL };
        char *no_sbc[] = { "a2dpsrcd", "--codecs", "sbc-xq", NULL };
        char *unknown[] = { "a2dpsrcd", "--codecs", "sbc,mp3", NULL };

        options_defaults(&o);
        ck_assert(o.codecs & (1u << CODEC_SBC));
        ck_assert(o.codecs & (1u << CODEC_SBC_XQ));
        ck_assert_int_eq(options_parse_args(&o, 3, ok, 0, err, sizeof(err)), 0);
        ck_assert_uint_eq(o.codecs, 1u << CODEC_SBC);
        ck_assert_int_eq(options_set(&o, "codecs", "sbc-xq, sbc", err, sizeof(err)), 0);
        ck_assert_uint_eq(o.codecs, (1u << CODEC_SBC) | (1u << CODEC_SBC_XQ));
        ck_assert_int_eq(options_parse_args(&o, 3, no_sbc, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "must name sbc"));
        ck_assert_int_eq(options_parse_args(&o, 3, unknown, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "'mp3' is not a codec built in (sbc, sbc-xq"));
        ck_assert_int_eq(options_set(&o, "codecs", "", err, sizeof(err)), -EINVAL);
        /* nothing half-applied */
        ck_assert_uint_eq(o.codecs, (1u << CODEC_SBC) | (1u << CODEC_SBC_XQ));
        ck_assert_int_eq(options_parse_config(&o, "codecs = sbc\n", err, sizeof(err)), 0);
        ck_assert_uint_eq(o.codecs, 1u << CODEC_SBC);
}
END_TEST

START_TEST(config_file)
{
        struct options o;
        char err[256];
        const char *text = "# board config\n"
                           "capture = hw:Loopback,1,0\n"
                           "  capture=alerts=hw:Loopback,1,1  \n"
                           "\n"
                           "rt-priority=20\n"
                           "rate = 44100\n";

        options_defaults(&o);
        ck_assert_int_eq(options_parse_config(&o, text, err, sizeof(err)), 0);
        ck_assert_str_eq(o.capture[CAT_ALERTS], "hw:Loopback,1,1");
        ck_assert_int_eq(o.rt_priority, 20);
        ck_assert_uint_eq(o.rate, 44100);
}
END_TEST

START_TEST(config_errors_name_the_line)
{
        struct options o;
        char err[256];

        options_defaults(&o);
        ck_assert_int_eq(options_parse_config(&o, "rate = 44100\nbogus\n", err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 2"));
        ck_assert_int_eq(options_parse_config(&o, "\n\ncolour = blue", err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 3"));
        ck_assert_ptr_nonnull(strstr(err, "colour"));
        ck_assert_int_eq(options_parse_config(&o, "capture =\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_config(&o, "capture = a\tb\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_config(&o, "capture = a\x01" "b\n", err, sizeof(err)), -EINVAL);
}
END_TEST

/* a capture or output name reaches D-Bus (StreamBlocked), where a string
 * that is not UTF-8 made libdbus abort the daemon at start */
START_TEST(config_values_must_be_utf8)
{
        struct options o;
        char err[256];
        char *argv[] = { "a2dpsrcd", "--capture", "hw:Lo\xffop", NULL };

        options_defaults(&o);
        ck_assert_int_eq(options_parse_config(&o, "capture = hw:Lo\xffop\n", err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 1"));
        ck_assert_ptr_nonnull(strstr(err, "not UTF-8"));
        ck_assert_str_eq(o.capture[CAT_MEDIA], "hw:Loopback,1,0");
        /* truncated, overlong, a surrogate, past U+10FFFF */
        ck_assert_int_eq(options_parse_config(&o, "local-output = K\xc3\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_config(&o, "local-output = \xc0\xaf\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_config(&o, "local-output = \xed\xa0\x80\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_config(&o, "local-output = \xf4\x90\x80\x80\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_config(&o, "capture = alerts=plug:\xe2\x82\n", err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(options_parse_args(&o, 3, argv, 0, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not UTF-8"));
        /* UTF-8 is fine: a card named by its user */
        ck_assert_int_eq(options_parse_config(&o, "local-output = plug:K\xc3\xbc" "che \xf0\x9f\x8e\xb5\n",
                                              err, sizeof(err)), 0);
        ck_assert_str_eq(o.local_output, "plug:K\xc3\xbc" "che \xf0\x9f\x8e\xb5");
}
END_TEST

START_TEST(config_long_line)
{
        struct options o;
        char err[256];
        char *text = malloc(5000);

        memset(text, 'a', 4999);
        text[4999] = '\0';
        options_defaults(&o);
        ck_assert_int_eq(options_parse_config(&o, text, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "too long"));
        free(text);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("options");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, defaults);
        tcase_add_test(tc, args);
        tcase_add_test(tc, bad_args);
        tcase_add_test(tc, codecs_list);
        tcase_add_test(tc, config_file);
        tcase_add_test(tc, config_errors_name_the_line);
        tcase_add_test(tc, config_long_line);
        tcase_add_test(tc, config_values_must_be_utf8);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
