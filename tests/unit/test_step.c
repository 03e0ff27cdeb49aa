/* SPDX-License-Identifier: MIT */
/*
 * test_step.c: one list of protocol steps (txn_step_next(), util.c) for the stall
 * watchdog, the same order as the man page's BTRFS_TXN_FAULT entry (which the
 * integration tests check against the steps an apply really marks, t0232). The
 * watchdog's own copy of the list once drifted and named 'history' for a stall in
 * the final sync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "step.h"

/* The man page's "Steps of apply, in order: ..." sentence, as one comma-separated
 * string without "(the commit point)" and the roff escapes. */
static char *man_apply_steps(void)
{
	FILE *f = fopen("docs/btrfs-txn.8", "r");
	assert_non_null(f);
	char line[512], text[2048] = "";
	bool in = false;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "Steps of apply, in order:"))
			in = true;
		if (in)
			strncat(text, line, sizeof(text) - strlen(text) - 1);
		if (in && strstr(line, "done;"))
			break;
	}
	fclose(f);
	char *start = strstr(text, "in order:");
	assert_non_null(start);
	start += strlen("in order:");
	char *end = strstr(start, "done;");
	assert_non_null(end);
	end[4] = '\0';
	char *out = calloc(1, strlen(start) + 1), *o = out;
	for (const char *p = start; *p; p++) {
		if (*p == '\\' || *p == '\n' || *p == ' ')
			continue;
		if (*p == '(') { /* "(the commit point)" */
			p = strchr(p, ')');
			continue;
		}
		*o++ = *p;
	}
	return out;
}

static void test_apply_order_matches_the_man_page(void **state)
{
	(void)state;
	char *want = man_apply_steps();
	char got[1024] = "";
	for (const char *s = txn_step_next("apply", NULL); s; s = txn_step_next("apply", s)) {
		if (got[0])
			strcat(got, ",");
		strcat(got, s);
		if (!strcmp(s, "done"))
			break;
	}
	assert_string_equal(got, want);
	free(want);
}

static void test_the_sync_follows_the_rename(void **state)
{
	(void)state;
	assert_string_equal(txn_step_next("apply", "renamed"), "synced");
	assert_string_equal(txn_step_next("rollback", "renamed"), "synced");
	assert_string_equal(txn_step_next("apply", "synced"), "history");
	assert_string_equal(txn_step_next("rollback", "staged"), "flushed");
	assert_string_equal(txn_step_next("apply", "recover-renamed"), "recover-done");
	assert_string_equal(txn_step_next("apply", "done"), "done");
	assert_null(txn_step_next("apply", "no-such-step"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_order_matches_the_man_page),
		cmocka_unit_test(test_the_sync_follows_the_rename),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
