/* SPDX-License-Identifier: MIT */
/*
 * test_escape.c: txn_escape_text() (runner/escape.c), the one form in which the command
 * shows strings from an untrusted tree: each class of byte or character it escapes,
 * what it keeps, and that txn_unescape_text() gives the exact bytes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txn.h"

/* txn_escape_text() of @len bytes of @in equals @want, and unescapes back to @in. */
static void check(const char *in, size_t len, const char *want)
{
	char *out = txn_escape_text(in, len);
	assert_non_null(out);
	assert_string_equal(out, want);
	char *back = NULL;
	size_t back_len = 0;
	assert_int_equal(txn_unescape_text(out, &back, &back_len), 0);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, in, len);
	assert_true(txn_text_is_plain(out, strlen(out)));
	free(back);
	free(out);
}
#define CHECK(in, want) check(in, sizeof(in) - 1, want)

static void test_plain_kept(void **state)
{
	(void)state;
	CHECK("", "");
	CHECK("nginx.conf", "nginx.conf");
	CHECK("caf\xc3\xa9/\xe2\x9c\x93 \xf0\x9f\x98\x80", "caf\xc3\xa9/\xe2\x9c\x93 \xf0\x9f\x98\x80");
	assert_true(txn_text_is_plain("caf\xc3\xa9", 5));
	assert_true(txn_text_is_plain("a\\b", 3)); /* a backslash alone is plain */
}

static void test_c0_and_del(void **state)
{
	(void)state;
	CHECK("a\nb", "a\\nb");
	CHECK("a\tb", "a\\tb");
	CHECK("esc\x1b[31mred", "esc\\x1b[31mred");
	CHECK("\r\a\x7f", "\\x0d\\x07\\x7f");
	check("a\0b", 3, "a\\x00b");
	assert_false(txn_text_is_plain("\x1b", 1));
	assert_false(txn_text_is_plain("\x7f", 1));
}

static void test_backslash_doubled(void **state)
{
	(void)state;
	CHECK("a\\b", "a\\\\b");
	/* A name that looks like an escape is not confused with one. */
	CHECK("\\x1b", "\\\\x1b");
}

static void test_c1_and_bidi(void **state)
{
	(void)state;
	CHECK("\xc2\x9b" "2J", "\\u009b2J");        /* CSI as a C1 control */
	CHECK("\xc2\x80\xc2\x9f", "\\u0080\\u009f");
	CHECK("evil\xe2\x80\xaetxt.exe", "evil\\u202etxt.exe"); /* RLO */
	CHECK("\xe2\x80\xaa\xe2\x80\xad", "\\u202a\\u202d");
	CHECK("\xe2\x81\xa6\xe2\x81\xa9", "\\u2066\\u2069"); /* isolates */
	CHECK("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u200e\\u200f\\u061c");
	CHECK("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029");
	/* Neighbours stay: U+00A0, U+202F, U+2065, U+206A. */
	CHECK("\xc2\xa0\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", "\xc2\xa0\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");
	assert_false(txn_text_is_plain("\xe2\x80\xae", 3));
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	CHECK("bad\xff\xfename", "bad\\xff\\xfename");
	CHECK("\xc0\xaf", "\\xc0\\xaf");              /* overlong '/' */
	CHECK("\xe0\x80\xaf", "\\xe0\\x80\\xaf");     /* overlong, 3 bytes */
	CHECK("\xed\xa0\x80", "\\xed\\xa0\\x80");     /* a surrogate */
	CHECK("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* beyond U+10FFFF */
	CHECK("\x80x", "\\x80x");                     /* stray continuation */
	CHECK("\xc3", "\\xc3");                       /* cut short at the end */
	CHECK("\xe2\x80", "\\xe2\\x80");
	CHECK("\xc3(", "\\xc3(");
	assert_false(txn_text_is_plain("\xff", 1));
}

static void test_unescape_rejects(void **state)
{
	(void)state;
	char *out = NULL;
	size_t len = 0;
	assert_int_equal(txn_unescape_text("a\\", &out, &len), -EINVAL);
	assert_int_equal(txn_unescape_text("\\q", &out, &len), -EINVAL);
	assert_int_equal(txn_unescape_text("\\x1", &out, &len), -EINVAL);
	assert_int_equal(txn_unescape_text("\\u12", &out, &len), -EINVAL);
	assert_int_equal(txn_unescape_text("\\ud800", &out, &len), -EINVAL);
	assert_null(out);
	assert_int_equal(txn_unescape_text("\\X41", &out, &len), -EINVAL);
	assert_int_equal(txn_unescape_text("\\x41\\u00e9", &out, &len), 0);
	assert_string_equal(out, "A\xc3\xa9");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_kept),      cmocka_unit_test(test_c0_and_del),
		cmocka_unit_test(test_backslash_doubled), cmocka_unit_test(test_c1_and_bidi),
		cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_unescape_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
