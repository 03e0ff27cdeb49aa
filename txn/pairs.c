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

/* The posts met while reading the history newest first: which pre (by txid) each
 * closes, and the generation holding the post. */
struct posts_seen {
	struct {
		char pair[40];
		uint64_t post;
	} *items;
	size_t n, cap;
	int error;
};

/* Records a committed post line; reading backwards, an older post of the same pre
 * replaces a newer one (the first post closes a pre, as pairs_list() has it). */
static void posts_add(struct posts_seen *seen, json_t *line)
{
	const char *pair = json_string_value(json_object_get(line, "pair"));
	if (!pair)
		return;
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->items[i].pair, pair) == 0) {
			seen->items[i].post = line_u64(line, "previous");
			return;
		}
	if (seen->n == seen->cap) {
		size_t cap = seen->cap ? seen->cap * 2 : 8;
		void *grown = realloc(seen->items, cap * sizeof(*seen->items));
		if (!grown) {
			seen->error = -ENOMEM;
			return;
		}
		seen->items = grown;
		seen->cap = cap;
	}
	snprintf(seen->items[seen->n].pair, sizeof(seen->items[seen->n].pair), "%s", pair);
	seen->items[seen->n++].post = line_u64(line, "previous");
}

/* Records @line when it is a committed post; false for any other line. */
static bool posts_take(struct posts_seen *seen, json_t *line)
{
	if (!is_snapshot_line(line, "post"))
		return false;
	posts_add(seen, line);
	return true;
}

/* The post that closes the pre @txid among those seen; 0 when none. */
static uint64_t posts_find(const struct posts_seen *seen, const char *txid)
{
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->items[i].pair, txid) == 0)
			return seen->items[i].post;
	return 0;
}

struct find_post {
	uint64_t pre_generation;
	struct posts_seen seen;
	uint64_t post;
};

/* Newest first. The pre of gen-G is the snapshot line that made generation G+1
 * (previous G); committed generations never decrease along the history
 * (journal.c), so a committed line of generation G or less means there is none. */
static bool find_post_line(json_t *line, void *ctx)
{
	struct find_post *f = ctx;
	if (posts_take(&f->seen, line))
		return f->seen.error < 0;
	if (is_snapshot_line(line, "pre") && line_u64(line, "previous") == f->pre_generation) {
		const char *txid = json_string_value(json_object_get(line, "txid"));
		f->post = txid ? posts_find(&f->seen, txid) : 0;
		return true;
	}
	uint64_t generation;
	return history_line_generation(line, &generation) && generation > 0 &&
	       generation <= f->pre_generation;
}

bool tag_pair_post(int state_fd, uint64_t pre_generation, uint64_t *ret_post_generation)
{
	/* Read from the end and stopped at gen-G's own line: gc asks about the oldest
	 * generations kept, a few lines back, however long the history. */
	struct find_post f = { .pre_generation = pre_generation };
	history_each_reverse(state_fd, find_post_line, &f);
	free(f.seen.items);
	if (f.seen.error < 0 || f.post == 0)
		return false;
	if (ret_post_generation)
		*ret_post_generation = f.post;
	return true;
}

struct latest_unpaired {
	struct posts_seen seen;
	char txid[40];
	uint64_t pre;
	bool found;
};

/* Newest first: the first pre that no newer post closes. */
static bool latest_unpaired_line(json_t *line, void *ctx)
{
	struct latest_unpaired *l = ctx;
	if (posts_take(&l->seen, line))
		return l->seen.error < 0;
	if (!is_snapshot_line(line, "pre"))
		return false;
	const char *txid = json_string_value(json_object_get(line, "txid"));
	if (!txid || posts_find(&l->seen, txid))
		return false;
	snprintf(l->txid, sizeof(l->txid), "%s", txid);
	l->pre = line_u64(line, "previous");
	l->found = true;
	return true;
}

int pairs_latest_unpaired(int state_fd, char ret_txid[40], uint64_t *ret_generation)
{
	/* Only lines with a "tag" key are parsed; the newest pre is usually the last
	 * tagged line (apt runs pre, then post). */
	struct latest_unpaired l = { .found = false };
	history_each_reverse_with(state_fd, "\"tag\"", latest_unpaired_line, &l);
	free(l.seen.items);
	if (l.seen.error < 0)
		return l.seen.error;
	if (!l.found)
		return 0;
	snprintf(ret_txid, 40, "%s", l.txid);
	*ret_generation = l.pre;
	return 1;
}
