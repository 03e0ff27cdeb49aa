/* SPDX-License-Identifier: MIT */
/*
 * tag.c: tagged snapshots, the pre/post pairs that package-manager hooks take around
 * an upgrade of a tree changed in place (where nothing can be swapped: the package
 * manager writes to the live tree itself).
 *
 * A tagged snapshot is a generation like the ones transactions keep: with the lock
 * held and any interrupted transaction recovered, the live tree of T is snapshotted
 * read-only as gen-N (N, the current generation), and T's generation becomes N+1.
 * So `rollback --to N` returns to the tree before the upgrade, `diff N N+1` shows
 * what it did, and gc counts these generations like the others. The history line has
 * kind "snapshot", "tag" ("pre" or "post") and "pair": a pre's own txid, which its
 * post repeats. A post pairs with the latest pre that has no post yet (the unpaired
 * pres form a stack: an upgrade that crashed before its post leaves its pre unpaired
 * rather than stealing the next upgrade's post); a post with no such pre has pair
 * null.
 *
 * No journal: the only write before the history line is the snapshot itself. A crash
 * between the two leaves gen-N without its line: still a kept generation (N+1 is
 * current, by the "one past the newest kept gen-N" rule), only the tag is lost.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

struct pre_stack {
	struct {
		char txid[40];
		uint64_t generation; /* the snapshot's gen-N */
	} *items;
	size_t n, cap;
	bool failed;
};

static bool is_snapshot_line(json_t *line, const char *tag)
{
	const char *kind = json_string_value(json_object_get(line, "kind"));
	const char *line_tag = json_string_value(json_object_get(line, "tag"));
	const char *result = json_string_value(json_object_get(line, "result"));
	return kind && strcmp(kind, "snapshot") == 0 && line_tag && strcmp(line_tag, tag) == 0 &&
	       result && strcmp(result, "committed") == 0;
}

static uint64_t line_u64(json_t *line, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(line, key));
	return v > 0 ? (uint64_t)v : 0;
}

/* Builds the stack of unpaired pre snapshots, in history order. */
static bool collect_unpaired(json_t *line, void *ctx)
{
	struct pre_stack *stack = ctx;
	if (is_snapshot_line(line, "pre")) {
		const char *txid = json_string_value(json_object_get(line, "txid"));
		if (!txid)
			return false;
		if (stack->n == stack->cap) {
			size_t cap = stack->cap ? stack->cap * 2 : 8;
			void *grown = realloc(stack->items, cap * sizeof(*stack->items));
			if (!grown) {
				stack->failed = true;
				return true;
			}
			stack->items = grown;
			stack->cap = cap;
		}
		snprintf(stack->items[stack->n].txid, sizeof(stack->items[0].txid), "%s", txid);
		stack->items[stack->n].generation = line_u64(line, "previous");
		stack->n++;
	} else if (is_snapshot_line(line, "post")) {
		const char *pair = json_string_value(json_object_get(line, "pair"));
		for (size_t i = stack->n; pair && i-- > 0;)
			if (strcmp(stack->items[i].txid, pair) == 0) {
				memmove(&stack->items[i], &stack->items[i + 1],
					(stack->n - i - 1) * sizeof(*stack->items));
				stack->n--;
				break;
			}
	}
	return false;
}

struct pair_query {
	uint64_t pre_generation;
	char pre_txid[40];
	bool found;
	uint64_t post_generation;
};

static bool find_pair(json_t *line, void *ctx)
{
	struct pair_query *q = ctx;
	if (!q->pre_txid[0]) {
		if (is_snapshot_line(line, "pre") && line_u64(line, "previous") == q->pre_generation) {
			const char *txid = json_string_value(json_object_get(line, "txid"));
			snprintf(q->pre_txid, sizeof(q->pre_txid), "%s", txid ? txid : "");
		}
		return false;
	}
	const char *pair = json_string_value(json_object_get(line, "pair"));
	if (is_snapshot_line(line, "post") && pair && strcmp(pair, q->pre_txid) == 0) {
		q->found = true;
		q->post_generation = line_u64(line, "previous");
		return true;
	}
	return false;
}

bool tag_pair_post(int state_fd, uint64_t pre_generation, uint64_t *ret_post_generation)
{
	struct pair_query q = { .pre_generation = pre_generation };
	history_each(state_fd, find_pair, &q);
	if (q.found && ret_post_generation)
		*ret_post_generation = q.post_generation;
	return q.found;
}

static unsigned keep_of(const struct txn_options *options)
{
	return options && options->keep ? options->keep : TXN_DEFAULT_KEEP;
}

static int tag_locked(struct target *t, enum txn_tag tag, const struct txn_options *options,
		      struct txn_snapshot_result *result, struct txn_error *error)
{
	char started[32];
	utc_now(started);
	make_txid(result->txid);
	if (tag == TXN_TAG_PRE) {
		snprintf(result->pair, sizeof(result->pair), "%s", result->txid);
	} else {
		struct pre_stack stack = { 0 };
		history_each(t->state_fd, collect_unpaired, &stack);
		if (stack.failed) {
			free(stack.items);
			return txn_fail(error, TXN_ABORTED, ENOMEM, "cannot read '%s/%s'",
					t->state_path, HISTORY_NAME);
		}
		if (stack.n > 0) {
			snprintf(result->pair, sizeof(result->pair), "%s", stack.items[stack.n - 1].txid);
			result->pair_pre = stack.items[stack.n - 1].generation;
		}
		free(stack.items);
	}

	uint64_t current = generation_current(t->state_fd);
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)current);
	struct stat st;
	if (fstatat(t->state_fd, gen_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return txn_fail(error, TXN_NEEDS_PERSON, EEXIST,
				"'%s/%s' exists although generation %llu is the current one",
				t->state_path, gen_name, (unsigned long long)current);
	errno = 0;
	int r = btrfs_error(btrfs_util_create_snapshot_fd2(t->fd, t->state_fd, gen_name,
							   BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY,
							   NULL, NULL));
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot snapshot '%s' to '%s/%s'", t->path,
				t->state_path, gen_name);
	txn_step("tag-snapshotted");
	/* The snapshot is on disk before the history says it exists. */
	r = sync_fs(t->state_fd);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s/%s' was made but the sync after it failed", t->state_path,
				gen_name);
	const char *tag_name = tag == TXN_TAG_PRE ? "pre" : "post";
	struct history_entry e = {
		.txid = result->txid, .kind = "snapshot",
		.description = options && options->description ? options->description : NULL,
		.result = "committed", .generation = current + 1, .previous = current,
		.started = started, .tag = tag_name, .pair = result->pair[0] ? result->pair : NULL,
	};
	r = history_append(t->state_fd, &e);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s/%s' was made but cannot be recorded in '%s/%s'", t->state_path,
				gen_name, t->state_path, HISTORY_NAME);
	txn_step("tag-history");
	result->snapshot = current;
	result->generation = current + 1;
	drop_generations(t->state_fd, keep_of(options), &result->dropped, NULL);
	return 0;
}

int txn_snapshot_tag(const char *path, enum txn_tag tag, const struct txn_options *options,
		     struct txn_snapshot_result *ret_result, struct txn_error *error)
{
	if (tag != TXN_TAG_PRE && tag != TXN_TAG_POST)
		return txn_fail(error, TXN_INVALID, EINVAL, "unknown snapshot tag %d", (int)tag);
	struct txn_snapshot_result result = { 0 };
	struct target t;
	int r = target_open(path, TARGET_CREATE_STATE, &t, error);
	if (r < 0)
		return r;
	r = target_lock(&t, options, error);
	struct txn_recover_result recovered = { .action = TXN_RECOVERY_NONE };
	if (r == 0)
		r = recover_locked(&t, keep_of(options), &recovered, error);
	if (r == 0) {
		result.recovered_first = recovered.action != TXN_RECOVERY_NONE;
		r = tag_locked(&t, tag, options, &result, error);
	}
	target_close(&t);
	if (r == 0 && ret_result)
		*ret_result = result;
	return r;
}
