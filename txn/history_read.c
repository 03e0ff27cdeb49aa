/* SPDX-License-Identifier: MIT */
/*
 * history_read.c: a target's history as callers of the library read it: its lines
 * (parsed by journal.c's history_each(), the one reader of history.jsonl) and its
 * pre/post pairs (pairs.c), read without the lock.
 */
#include "internal.h"
#include "state.h"

int txn_history_each(const char *path, bool (*fn)(struct json_t *line, void *ctx), void *ctx,
		     struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	if (t.state_fd >= 0)
		history_each(t.state_fd, fn, ctx);
	target_close(&t);
	return 0;
}

int txn_pairs_read(const char *path, struct txn_pair **ret_pairs, size_t *ret_n,
		   struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	struct txn_pair *pairs = NULL;
	size_t n = 0;
	if (t.state_fd >= 0 && (r = pairs_list(t.state_fd, &pairs, &n)) < 0)
		r = txn_fail(error, TXN_ABORTED, r, "cannot read '%s/%s'", t.state_path,
			     HISTORY_NAME);
	target_close(&t);
	if (r < 0)
		return r;
	*ret_pairs = pairs;
	*ret_n = n;
	return 0;
}
