/* Codec names and identities (codec-names.c): the names users type, the
 * checks of a Codecs list (unknown, not built, twice, sbc missing), and
 * which codec a speaker's SEP offers from its codec type and vendor
 * header. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <string.h>

#include "codec-names.h"

#define ALL ((1u << CODEC_COUNT) - 1)

START_TEST(names_and_indexes)
{
        char buf[96];

        for (int i = 0; i < CODEC_COUNT; i++)
                ck_assert_int_eq(codec_index_by_name(codec_names[i]), i);
        ck_assert_int_eq(codec_index_by_name("aptx-hd"), CODEC_APTX_HD);
        ck_assert_int_eq(codec_index_by_name("APTX"), -1);
        ck_assert_int_eq(codec_index_by_name(""), -1);
        ck_assert_int_eq(codec_index_by_name(NULL), -1);
        codec_known_names(buf, sizeof(buf));
        ck_assert_str_eq(buf, "sbc, sbc-xq, aptx, aptx-hd, aac, ldac");
        /* registration order, best first */
        codec_mask_names(ALL, buf, sizeof(buf));
        ck_assert_str_eq(buf, "ldac, aptx-hd, aptx, aac, sbc-xq, sbc");
        codec_mask_names(1u << CODEC_SBC | 1u << CODEC_APTX, buf, sizeof(buf));
        ck_assert_str_eq(buf, "aptx, sbc");
        codec_mask_names(0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "");
        /* a short buffer is cut, never overrun */
        codec_mask_names(ALL, buf, 8);
        ck_assert_uint_lt(strlen(buf), 8);
}
END_TEST

START_TEST(parse_lists)
{
        const char *ok[] = { "sbc", "aptx" }, *order[] = { "aptx", "sbc" };
        const char *none[] = { "aptx" }, *bad[] = { "sbc", "mp3" }, *twice[] = { "sbc", "sbc" };
        const char *missing[] = { "sbc", "ldac" };
        char err[160];
        unsigned mask = 0;

        ck_assert_int_eq(codec_parse_names(ok, 2, ALL, &mask, err, sizeof(err)), 0);
        ck_assert_uint_eq(mask, 1u << CODEC_SBC | 1u << CODEC_APTX);
        /* the order given does not matter: registration order is fixed */
        ck_assert_int_eq(codec_parse_names(order, 2, ALL, &mask, err, sizeof(err)), 0);
        ck_assert_uint_eq(mask, 1u << CODEC_SBC | 1u << CODEC_APTX);
        ck_assert_int_eq(codec_parse_names(none, 1, ALL, &mask, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "must name sbc"));
        ck_assert_int_eq(codec_parse_names(none, 0, ALL, &mask, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(codec_parse_names(bad, 2, ALL, &mask, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, "'mp3' is not a codec (the codecs: sbc, sbc-xq, aptx, aptx-hd, aac, ldac)");
        ck_assert_int_eq(codec_parse_names(twice, 2, ALL, &mask, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "named twice"));
        ck_assert_int_eq(codec_parse_names(missing, 2, 1u << CODEC_SBC, &mask, err, sizeof(err)),
                         -ENOTSUP);
        ck_assert_ptr_nonnull(strstr(err, "LDAC is not built"));
}
END_TEST

START_TEST(identify_seps)
{
        static const uint8_t aptx[] = { 0x4f, 0, 0, 0, 0x01, 0x00, 0x32 };
        static const uint8_t aptx_hd[] = { 0xd7, 0, 0, 0, 0x24, 0x00, 0x32, 0, 0, 0, 0 };
        static const uint8_t ldac[] = { 0x2d, 0x01, 0, 0, 0xaa, 0x00, 0x3c, 0x07 };
        static const uint8_t other[] = { 0x0a, 0, 0, 0, 0x01, 0x00, 0x32 };
        static const uint8_t sbc[] = { 0xff, 0xff, 2, 53 };

        ck_assert_int_eq(codec_identify(0x00, sbc, sizeof(sbc)), CODEC_SBC);
        ck_assert_int_eq(codec_identify(0x02, NULL, 0), CODEC_AAC);
        ck_assert_int_eq(codec_identify(0xff, aptx, sizeof(aptx)), CODEC_APTX);
        ck_assert_int_eq(codec_identify(0xff, aptx_hd, sizeof(aptx_hd)), CODEC_APTX_HD);
        ck_assert_int_eq(codec_identify(0xff, ldac, sizeof(ldac)), CODEC_LDAC);
        ck_assert_int_eq(codec_identify(0xff, other, sizeof(other)), -1);
        /* a vendor header cut short is nobody's */
        ck_assert_int_eq(codec_identify(0xff, aptx, 5), -1);
        ck_assert_int_eq(codec_identify(0xff, NULL, 0), -1);
        ck_assert_int_eq(codec_identify(0x01, sbc, sizeof(sbc)), -1);     /* MPEG-1,2 audio */
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("codec-names");
        TCase *tc = tcase_create("names");

        tcase_add_test(tc, names_and_indexes);
        tcase_add_test(tc, parse_lists);
        tcase_add_test(tc, identify_seps);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
