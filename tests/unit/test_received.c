/* SPDX-License-Identifier: MIT */
/*
 * test_received.c: the name of a sent snapshot carries the origin of a stream to the
 * receiver (received.c). It is read back from a name the sender chose, so anything
 * that is not exactly sent-N.LINEAGE.TXID must be refused, and what is accepted
 * must round-trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "received.h"

#define LINEAGE "1b9b7d13-c1e7-4fd7-8b36-67ceaffe0f15"

static void test_round_trip(void **state)
{
	(void)state;
	struct sent_name in = { .generation = 42 }, out;
	snprintf(in.lineage, sizeof(in.lineage), "%s", LINEAGE);
	snprintf(in.txid, sizeof(in.txid), "20261130T170244Z-abcdef");
	char name[256];
	sent_name_format(&in, name, sizeof(name));
	assert_string_equal(name, "sent-42." LINEAGE ".20261130T170244Z-abcdef");
	assert_true(sent_name_parse(name, &out));
	assert_int_equal(out.generation, 42);
	assert_string_equal(out.lineage, LINEAGE);
	assert_string_equal(out.txid, "20261130T170244Z-abcdef");
}

static void test_no_txid(void **state)
{
	(void)state;
	struct sent_name in = { .generation = 0 }, out;
	snprintf(in.lineage, sizeof(in.lineage), "%s", LINEAGE);
	char name[256];
	sent_name_format(&in, name, sizeof(name));
	assert_string_equal(name, "sent-0." LINEAGE ".0");
	assert_true(sent_name_parse(name, &out));
	assert_string_equal(out.txid, "");
}

static void test_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"sent-1",
		"sent-x." LINEAGE ".0",
		"sent-1." LINEAGE,
		"sent-1.1b9b7d13." "0",
		"sent-1." LINEAGE ".0/../x",
		"sent-1." LINEAGE ".0 ",
		"sent-1." LINEAGE ".a.b",
		"gen-1." LINEAGE ".0",
		"sent-1.1B9B7D13-C1E7-4FD7-8B36-67CEAFFE0F15.0",
		"",
	};
	struct sent_name out;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sent_name_parse(bad[i], &out))
			fail_msg("accepted '%s'", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_no_txid),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
