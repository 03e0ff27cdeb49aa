/* SPDX-License-Identifier: MIT */
/*
 * test_history.c: the questions every transaction asks history.jsonl (txn/journal.c,
 * txn/pairs.c) on a long history, where they read it from the end: the current
 * generation is the newest committed line's, whether a txid is there finds it
 * however old it is, a line torn by a crash is never read, a newest line longer than
 * the first window read is still found, a late `init` line does not reset the
 * count, and the tagged pairs are all found among thousands of untagged lines, read
 * from the start (history) or from the end (gc, snapshot --tag post).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "state.h"

#define LINES 6000 /* about 1.3 MB: many windows of the reverse read */

static char dir[64];
static int state_fd = -1;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-history-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return state_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	unlinkat(state_fd, HISTORY_NAME, 0);
	close(state_fd);
	rmdir(dir);
	return 0;
}

static void append(const char *txid, const char *result, uint64_t generation, const char *tag,
		   const char *pair, const char *description)
{
	struct history_entry e = {
		.txid = txid, .kind = tag ? "snapshot" : "apply", .result = result,
		.generation = generation, .previous = generation ? generation - 1 : 0,
		.started = "2026-12-01T00:00:00Z", .tag = tag, .pair = pair,
		.description = description,
	};
	assert_int_equal(history_append(state_fd, &e), 0);
}

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(generation_current(state_fd), 0);
	assert_false(history_has(state_fd, "t-0"));
}

static void test_long_history(void **state)
{
	(void)state;
	/* Committed generations 1..LINES, an aborted line after every tenth, a pre
	 * snapshot every 1000 lines and its post 10 lines later. */
	char txid[32], pre[32] = "";
	uint64_t generation = 0;
	for (int i = 0; i < LINES; i++) {
		snprintf(txid, sizeof(txid), "t-%d", i);
		const char *tag = i % 1000 == 0 ? "pre" : i % 1000 == 10 ? "post" : NULL;
		if (tag && strcmp(tag, "pre") == 0)
			snprintf(pre, sizeof(pre), "%s", txid);
		append(txid, "committed", ++generation, tag, tag && !strcmp(tag, "post") ? pre : NULL,
		       "a description that says \"tag\" without being one");
		if (i % 10 == 0) {
			snprintf(txid, sizeof(txid), "a-%d", i);
			append(txid, "aborted", 0, NULL, NULL, NULL);
		}
	}
	assert_int_equal(generation_current(state_fd), LINES);
	assert_true(history_has(state_fd, "t-0"));       /* the oldest: every window */
	assert_true(history_has(state_fd, "t-3000"));
	assert_true(history_has(state_fd, "a-5990"));    /* the newest line */
	assert_false(history_has(state_fd, "t-6000"));

	struct txn_pair *pairs = NULL;
	size_t n = 0;
	assert_int_equal(pairs_list(state_fd, &pairs, &n), 0);
	assert_int_equal(n, LINES / 1000);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(pairs[i].pre, i * 1000);      /* "previous" of line i*1000 */
		assert_int_equal(pairs[i].post, i * 1000 + 10);
	}
	txn_pairs_free(pairs, n);
	/* The same answers read from the end, as gc and snapshot --tag ask them. */
	for (uint64_t i = 0; i < LINES / 1000; i++) {
		uint64_t post = 0;
		assert_true(tag_pair_post(state_fd, i * 1000, &post));
		assert_int_equal(post, i * 1000 + 10);
		assert_false(tag_pair_post(state_fd, i * 1000 + 5, &post)); /* no pre there */
	}
	char unpaired[40];
	uint64_t unpaired_gen = 0;
	assert_int_equal(pairs_latest_unpaired(state_fd, unpaired, &unpaired_gen), 0);

	/* A crash tore the next line before its newline: it is not read (even though
	 * what was written parses), and the next append cuts it. */
	static const char torn[] = "{\"txid\":\"torn\",\"result\":\"committed\",\"generation\":99999}";
	int fd = openat(state_fd, HISTORY_NAME, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, torn, sizeof(torn) - 1), (ssize_t)sizeof(torn) - 1);
	close(fd);
	assert_int_equal(generation_current(state_fd), LINES);
	assert_false(history_has(state_fd, "torn"));

	/* A pre without its post yet: the one snapshot --tag post will close. */
	append("t-pre", "committed", ++generation, "pre", NULL, NULL);
	assert_int_equal(pairs_latest_unpaired(state_fd, unpaired, &unpaired_gen), 1);
	assert_string_equal(unpaired, "t-pre");
	assert_int_equal(unpaired_gen, LINES);
	assert_false(tag_pair_post(state_fd, LINES, NULL));

	/* A newest committed line longer than the first window (64 KiB). */
	size_t big = 200 * 1024;
	char *description = malloc(big + 1);
	assert_non_null(description);
	memset(description, 'd', big);
	description[big] = '\0';
	append("t-long", "committed", LINES + 2, NULL, NULL, description);
	free(description);
	assert_int_equal(generation_current(state_fd), LINES + 2);
	assert_true(history_has(state_fd, "t-long"));

	/* init of a plain directory where a deleted target's history is: its line
	 * makes no generation and must not reset the count. */
	struct history_entry init = { .txid = "t-init", .kind = "init", .result = "committed",
				      .started = "2026-12-01T00:00:00Z" };
	assert_int_equal(history_append(state_fd, &init), 0);
	assert_int_equal(generation_current(state_fd), LINES + 2);
	assert_true(history_has(state_fd, "t-5999"));
	assert_false(history_has(state_fd, "torn"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_long_history),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
