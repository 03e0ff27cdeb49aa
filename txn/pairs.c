/* SPDX-License-Identifier: MIT */
/*
 * pairs.c: the pre/post pairs of tagged snapshots, read from history.jsonl: the one
 * place that pairs them. A post pairs with the pre whose txid its "pair" names (tag.c
 * gives it the latest pre that has no post yet). gc asks whether a pre's post is
 * kept, tag.c which pre a new post closes, `history` the whole list
 * (txn_pairs_read() in history_read.c).
 */
#include "internal.h"
#include "state.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct pair_list {
	struct txn_pair *items;
	size_t n, cap;
	int error;
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

/* Adds a pair for each committed pre; a committed post fills in its pre's pair. */
static bool collect_pair(json_t *line, void *ctx)
{
	struct pair_list *list = ctx;
	if (is_snapshot_line(line, "pre")) {
		const char *txid = json_string_value(json_object_get(line, "txid"));
		if (!txid)
			return false;
		if (list->n == list->cap) {
			size_t cap = list->cap ? list->cap * 2 : 8;
			void *grown = realloc(list->items, cap * sizeof(*list->items));
			if (!grown) {
				list->error = -ENOMEM;
				return true;
			}
			list->items = grown;
			list->cap = cap;
		}
		struct txn_pair *p = &list->items[list->n];
		*p = (struct txn_pair){ .pre = line_u64(line, "previous") };
		snprintf(p->pair, sizeof(p->pair), "%s", txid);
		const char *description = json_string_value(json_object_get(line, "description"));
		if (description && !(p->description = strdup(description))) {
			list->error = -ENOMEM;
			return true;
		}
		list->n++;
	} else if (is_snapshot_line(line, "post")) {
		const char *pair = json_string_value(json_object_get(line, "pair"));
		for (size_t i = list->n; pair && i-- > 0;)
			if (list->items[i].post == 0 && strcmp(list->items[i].pair, pair) == 0) {
				list->items[i].post = line_u64(line, "previous");
				break;
			}
	}
	return false;
}

static bool generation_gone(int state_fd, uint64_t number)
{
	char name[32];
	struct stat st;
	snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)number);
	return fstatat(state_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

int pairs_list(int state_fd, struct txn_pair **ret_pairs, size_t *ret_n)
{
	struct pair_list list = { 0 };
	/* Only snapshot --tag lines have a "tag" key; the rest are not parsed. */
	history_each_with(state_fd, "\"tag\"", collect_pair, &list);
	if (list.error < 0) {
		txn_pairs_free(list.items, list.n);
		return list.error;
	}
	for (size_t i = 0; i < list.n; i++) {
		struct txn_pair *p = &list.items[i];
		p->pre_dropped = generation_gone(state_fd, p->pre);
		p->post_dropped = p->post && generation_gone(state_fd, p->post);
	}
	*ret_pairs = list.items;
	*ret_n = list.n;
	return 0;
}

void txn_pairs_free(struct txn_pair *pairs, size_t n)
{
	for (size_t i = 0; pairs && i < n; i++)
		free(pairs[i].description);
	free(pairs);
}

bool tag_pair_post(int state_fd, uint64_t pre_generation, uint64_t *ret_post_generation)
{
	struct txn_pair *pairs = NULL;
	size_t n = 0;
	bool found = false;
	if (pairs_list(state_fd, &pairs, &n) < 0)
		return false;
	for (size_t i = 0; i < n && !found; i++)
		if (pairs[i].pre == pre_generation && pairs[i].post) {
			found = true;
			if (ret_post_generation)
				*ret_post_generation = pairs[i].post;
		}
	txn_pairs_free(pairs, n);
	return found;
}

int pairs_latest_unpaired(int state_fd, char ret_txid[40], uint64_t *ret_generation)
{
	struct txn_pair *pairs = NULL;
	size_t n = 0;
	int r = pairs_list(state_fd, &pairs, &n);
	if (r < 0)
		return r;
	int found = 0;
	for (size_t i = n; i-- > 0 && !found;)
		if (pairs[i].post == 0) {
			found = 1;
			snprintf(ret_txid, 40, "%s", pairs[i].pair);
			*ret_generation = pairs[i].pre;
		}
	txn_pairs_free(pairs, n);
	return found;
}
