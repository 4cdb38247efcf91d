/* UTF-8 as D-Bus takes it (utf8.c): which sequences are characters, and
 * copies cut to fit that end between characters. */
#include <check.h>

#include "check-main.h"
#include <string.h>

#include "utf8.h"

#define U(s) ((const unsigned char *)(s))

START_TEST(sequences)
{
        ck_assert_uint_eq(utf8_seq(U("a")), 1);
        ck_assert_uint_eq(utf8_seq(U("\xc3\xa9")), 2);                  /* é */
        ck_assert_uint_eq(utf8_seq(U("\xe9\x9f\xb3")), 3);              /* 音 */
        ck_assert_uint_eq(utf8_seq(U("\xf0\x9f\x94\x8a")), 4);          /* 🔊 */
        ck_assert_uint_eq(utf8_seq(U("\xc0\x80")), 0);                  /* overlong NUL */
        ck_assert_uint_eq(utf8_seq(U("\xe0\x80\xaf")), 0);              /* overlong '/' */
        ck_assert_uint_eq(utf8_seq(U("\xed\xa0\x80")), 0);              /* a surrogate */
        ck_assert_uint_eq(utf8_seq(U("\xf4\x90\x80\x80")), 0);          /* past U+10FFFF */
        ck_assert_uint_eq(utf8_seq(U("\xef\xbf\xbe")), 0);              /* U+FFFE */
        ck_assert_uint_eq(utf8_seq(U("\x80")), 0);                      /* no lead */
        ck_assert_uint_eq(utf8_seq(U("\xe9\x9f")), 0);                  /* cut short by the NUL */
        ck_assert_uint_eq(utf8_seq(U("\xff")), 0);
}
END_TEST

START_TEST(copies_end_between_characters)
{
        char out[8];

        /* 音 is three bytes: two fit in 7 bytes and a NUL, not a third */
        utf8_copy(out, sizeof(out), "\xe9\x9f\xb3\xe9\x9f\xb3\xe9\x9f\xb3");
        ck_assert_str_eq(out, "\xe9\x9f\xb3\xe9\x9f\xb3");
        utf8_copy(out, sizeof(out), "abcdefgh");
        ck_assert_str_eq(out, "abcdefg");
        utf8_copy(out, sizeof(out), "abcd\xf0\x9f\x94\x8a");
        ck_assert_str_eq(out, "abcd");
        utf8_copy(out, 1, "abc");
        ck_assert_str_eq(out, "");
        memset(out, 'x', sizeof(out));
        utf8_copy(out, 0, "abc");               /* nothing written */
        ck_assert_int_eq(out[0], 'x');
}
END_TEST

START_TEST(bytes_that_are_no_character_are_shown_as_such)
{
        char out[32];

        utf8_copy(out, sizeof(out), "a\xff" "b\x80" "c\xc0\x80");
        ck_assert_str_eq(out, "a?b?c??");
        /* a character an earlier cut split at the very end is dropped */
        utf8_copy(out, sizeof(out), "ok \xe9\x9f");
        ck_assert_str_eq(out, "ok ");
        utf8_copy(out, sizeof(out), "ok \xf0\x9f\x94");
        ck_assert_str_eq(out, "ok ");
        /* but not one that goes on with something else */
        utf8_copy(out, sizeof(out), "\xe9\x9f" "x");
        ck_assert_str_eq(out, "??x");
}
END_TEST

START_TEST(in_place)
{
        char text[16] = "bad \xff name \xe9\x9f";

        utf8_copy(text, sizeof(text), text);
        ck_assert_str_eq(text, "bad ? name ");
        strcpy(text, "\xe9\x9f\xb3\xe9\x9f\xb3");
        utf8_copy(text, 5, text);
        ck_assert_str_eq(text, "\xe9\x9f\xb3");
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("utf8");
        TCase *tc = tcase_create("utf8");

        tcase_add_test(tc, sequences);
        tcase_add_test(tc, copies_end_between_characters);
        tcase_add_test(tc, bytes_that_are_no_character_are_shown_as_such);
        tcase_add_test(tc, in_place);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(suite)
