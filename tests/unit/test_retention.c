/* SPDX-License-Identifier: MIT */
/*
 * test_retention.c: which generations a retention policy keeps (txn/retention.c,
 * retention_select()), with made-up creation times: the newest N, the newest of each
 * of the last hours, days and weeks (UTC, weeks from Monday) that have one, the
 * newest always, and a generation of unknown time in no bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "internal.h"
#include "state.h"

/* Monday 2026-01-05 00:00:00 UTC. */
#define MONDAY 1767571200ull
#define HOUR 3600ull
#define DAY 86400ull

static size_t make(struct txn_generation *list, const uint64_t *times, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&list[i], 0, sizeof(list[i]));
		list[i].number = i;
		list[i].otime = times[i];
	}
	return n;
}

static void expect(const bool *want, const char *pattern)
{
	for (size_t i = 0; pattern[i]; i++)
		if (want[i] != (pattern[i] == 'k'))
			fail_msg("generation %zu: %s, expected %s (pattern %s)", i,
				 want[i] ? "kept" : "dropped", pattern[i] == 'k' ? "kept" : "dropped",
				 pattern);
}

static void test_newest(void **state)
{
	(void)state;
	struct txn_generation list[6];
	uint64_t times[6] = { MONDAY, MONDAY + 1, MONDAY + 2, MONDAY + 3, MONDAY + 4, MONDAY + 5 };
	bool want[6];
	make(list, times, 6);
	retention_select(list, 6, &(struct txn_retention){ .keep = 2 }, want);
	expect(want, "....kk");
	retention_select(list, 6, &(struct txn_retention){ .keep = 0 }, want);
	expect(want, ".....k"); /* the newest always */
	retention_select(list, 6, &(struct txn_retention){ .keep = 10 }, want);
	expect(want, "kkkkkk");
}

static void test_hourly(void **state)
{
	(void)state;
	/* Two in hour 0, three in hour 1, one in hour 3. */
	uint64_t times[6] = { MONDAY + 10,        MONDAY + 20,        MONDAY + HOUR + 1,
			      MONDAY + HOUR + 2,  MONDAY + HOUR + 3,  MONDAY + 3 * HOUR };
	struct txn_generation list[6];
	bool want[6];
	make(list, times, 6);
	retention_select(list, 6, &(struct txn_retention){ .keep = 1, .hourly = 2 }, want);
	expect(want, "....kk"); /* hour 3 (the newest) and hour 1's newest */
	retention_select(list, 6, &(struct txn_retention){ .keep = 1, .hourly = 24 }, want);
	expect(want, ".k..kk");
}

static void test_daily_weekly(void **state)
{
	(void)state;
	/* Sunday of the week before, Monday, Monday later, Tuesday, Wednesday x2. */
	uint64_t times[6] = { MONDAY - DAY + 5, MONDAY + 1,       MONDAY + 5 * HOUR,
			      MONDAY + DAY + 7, MONDAY + 2 * DAY, MONDAY + 2 * DAY + 9 };
	struct txn_generation list[6];
	bool want[6];
	make(list, times, 6);
	retention_select(list, 6, &(struct txn_retention){ .keep = 1, .daily = 3 }, want);
	expect(want, "..kk.k");
	retention_select(list, 6, &(struct txn_retention){ .keep = 1, .weekly = 4 }, want);
	expect(want, "k....k"); /* this week's newest, and the week before's */
	retention_select(list, 6, &(struct txn_retention){ .keep = 2, .daily = 1, .weekly = 2 }, want);
	expect(want, "k...kk");
}

static void test_unknown_time(void **state)
{
	(void)state;
	uint64_t times[3] = { 0, MONDAY, MONDAY + DAY };
	struct txn_generation list[3];
	bool want[3];
	make(list, times, 3);
	retention_select(list, 3, &(struct txn_retention){ .keep = 1, .daily = 5 }, want);
	expect(want, ".kk");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_newest),
		cmocka_unit_test(test_hourly),
		cmocka_unit_test(test_daily_weekly),
		cmocka_unit_test(test_unknown_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
