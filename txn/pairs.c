/* SPDX-License-Identifier: MIT */
/*
 * pairs.c: the pre/post pairs of tagged snapshots, read from history.jsonl. A post
 * pairs with the latest pre that has no post yet (the unpaired pres form a stack, see
 * tag.c); gc asks whether a pre's post is kept, tag.c which pre a new post closes.
 */
#include "internal.h"
#include "state.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

int pairs_latest_unpaired(int state_fd, char ret_txid[40], uint64_t *ret_generation)
{
	struct pre_stack stack = { 0 };
	history_each(state_fd, collect_unpaired, &stack);
	if (stack.failed) {
		free(stack.items);
		return -ENOMEM;
	}
	int found = stack.n > 0;
	if (found) {
		snprintf(ret_txid, 40, "%s", stack.items[stack.n - 1].txid);
		*ret_generation = stack.items[stack.n - 1].generation;
	}
	free(stack.items);
	return found;
}
