/* SPDX-License-Identifier: MIT */
/*
 * spec_check.c: contradictions in a spec that are certain without looking at the
 * target, so that `validate` refuses a spec that apply could never complete.
 *
 * The set is deliberately small; each rule is one that always fails at apply:
 *  1. Two preconditions on the same path that cannot both hold: one requires it
 *     absent and the other present (exists: true, or a sha256), or two different
 *     sha256 values.
 *  2. A rename whose `to` lies inside `path` (the kernel refuses to move a
 *     directory into itself) or contains `path` (it would replace a non-empty
 *     directory). `to` equal to `path` is refused in spec_load.c.
 *  3. An op needing a path that is certainly absent at that point: chmod, chown,
 *     rename and delete (without missing_ok) need their path; every op except
 *     `mkdir` with parents and delete with missing_ok needs the parent directory of
 *     its path (and rename that of `to`). A path is certainly absent when it, or a
 *     directory above it, was deleted, renamed away, or required absent by a
 *     precondition, and nothing since has shown it present: an op on it or below
 *     it, or a rename or symlink onto it or above it (whose contents we cannot see).
 * Overwriting what an earlier op wrote is not a contradiction: later ops win.
 *
 * The model is a map from each path (and each of its parents) to the last event
 * that showed it present, removed it, or may have filled it from elsewhere, kept in
 * a jansson object as a hash table. Events are numbered 0 for the preconditions
 * and i + 1 for ops[i], so the cost grows with the spec, not with its square.
 */
#include "spec_internal.h"
#include "path.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEVER (-1L)

struct node {
	long present_at;  /* last event after which the path surely existed */
	long removed_at;  /* last event that removed it */
	long filled_at;   /* last event that put a tree of unknown content here */
	size_t removed_by_precondition; /* when removed_at == 0 */
};

/*
 * The paths seen, as a tree of components: a node is found by its parent's index and
 * its own name. A path of N components costs N lookups of one name each, and memory
 * grows with the number of distinct components. (Keyed by whole prefixes instead, a
 * 12 MB spec of deep paths took a minute and 12 GB: every prefix of every path was
 * hashed and stored in full.)
 */
struct model {
	json_t *map; /* "PARENT/NAME" -> index into nodes; PARENT 0 is the root */
	struct node *nodes;
	size_t n_nodes, capacity;
	const struct txn_batch *batch;
	struct spec_error *error;
};

#define NODE_MISSING (-1L)
#define NODE_NO_MEMORY (-2L)

/* The child @name (@len bytes) of node @parent (-1: the root), made when @create. */
static long node_child(struct model *m, long parent, const char *name, size_t len, bool create)
{
	char key[24 + NAME_MAX];
	if (len > NAME_MAX)
		len = NAME_MAX; /* txn_path_check() refused longer names already */
	int n = snprintf(key, 24, "%lx/", (unsigned long)(parent + 1));
	memcpy(key + n, name, len);
	json_t *index = json_object_getn(m->map, key, (size_t)n + len);
	if (index)
		return (long)json_integer_value(index);
	if (!create)
		return NODE_MISSING;
	if (m->n_nodes == m->capacity) {
		size_t capacity = m->capacity ? m->capacity * 2 : 64;
		struct node *bigger = realloc(m->nodes, capacity * sizeof(*bigger));
		if (!bigger)
			return NODE_NO_MEMORY;
		m->nodes = bigger;
		m->capacity = capacity;
	}
	if (json_object_setn_new_nocheck(m->map, key, (size_t)n + len,
					 json_integer((json_int_t)m->n_nodes)) < 0)
		return NODE_NO_MEMORY;
	m->nodes[m->n_nodes] = (struct node){ .present_at = NEVER, .removed_at = NEVER,
					      .filled_at = NEVER };
	return (long)m->n_nodes++;
}

/*
 * Walks the first @len bytes of @path from the top, one component at a time: on
 * return, @ret_indices[k] is the node of the k-th prefix and *@ret_depth how many
 * were found (all of them when @create). @ret_ends[k] is that prefix's length.
 * Return: 0 or -ENOMEM.
 */
static int node_walk(struct model *m, const char *path, size_t len, bool create, long *ret_indices,
		     size_t *ret_ends, size_t *ret_depth)
{
	long node = -1;
	size_t depth = 0;
	for (size_t start = 0; start < len;) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		node = node_child(m, node, path + start, end - start, create);
		if (node == NODE_NO_MEMORY)
			return -ENOMEM;
		if (node == NODE_MISSING)
			break;
		ret_indices[depth] = node;
		ret_ends[depth++] = end;
		start = end + 1;
	}
	*ret_depth = depth;
	return 0;
}

/* At most PATH_MAX / 2 components: every one but the last is followed by a '/'. */
#define MAX_DEPTH (PATH_MAX / 2 + 1)

/* The node of the first @len bytes of @path, made with its ancestors on first use;
 * NULL: ENOMEM. */
static struct node *node_get(struct model *m, const char *path, size_t len)
{
	long indices[MAX_DEPTH];
	size_t ends[MAX_DEPTH], depth;
	if (len == 0 || node_walk(m, path, len, true, indices, ends, &depth) < 0 || depth == 0)
		return NULL;
	return &m->nodes[indices[depth - 1]];
}

/* Length of the parent of the first @len bytes of @path; 0 for a top-level name. */
static size_t parent_len(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len > 0 ? len - 1 : 0;
}

/* @path (its first @len bytes) and every directory above it exist after @event. */
static int mark_present(struct model *m, const char *path, size_t len, long event)
{
	long indices[MAX_DEPTH];
	size_t ends[MAX_DEPTH], depth;
	if (node_walk(m, path, len, true, indices, ends, &depth) < 0)
		return -ENOMEM;
	for (size_t k = 0; k < depth; k++)
		m->nodes[indices[k]].present_at = event;
	return 0;
}

static int mark(struct model *m, const char *path, long event, bool removed, bool filled)
{
	struct node *node = node_get(m, path, strlen(path));
	if (!node)
		return -ENOMEM;
	if (removed)
		node->removed_at = event;
	if (filled)
		node->filled_at = event;
	return 0;
}

static void describe_removal(const struct model *m, long event, size_t precondition,
			     const char *what, char *buf, size_t size)
{
	if (event == 0) {
		snprintf(buf, size, "/preconditions/%zu requires \"%s\" to be absent",
			 precondition, what);
		return;
	}
	const struct txn_op *op = &m->batch->ops[event - 1];
	snprintf(buf, size, "/ops/%ld %s \"%s\"", event - 1,
		 op->kind == TXN_OP_RENAME ? "renamed away" : "deleted", what);
}

/*
 * Op @op_index needs the first @len bytes of @path to exist. Fail when a removal of
 * it or of a directory above it is later than anything that showed it present.
 */
static int require(struct model *m, const char *path, size_t len, size_t op_index,
		   const char *key, bool parent)
{
	if (len == 0)
		return 0; /* the target's root always exists */
	long removed = NEVER, present = NEVER;
	size_t removed_len = 0, removed_by_precondition = 0;
	long indices[MAX_DEPTH];
	size_t ends[MAX_DEPTH], depth;
	if (node_walk(m, path, len, false, indices, ends, &depth) < 0)
		return -ENOMEM;
	/* From the top down; on equal events the deepest removal is the one named. */
	for (size_t k = 0; k < depth; k++) {
		const struct node *node = &m->nodes[indices[k]];
		if (ends[k] == len && node->present_at > present)
			present = node->present_at;
		if (node->filled_at > present)
			present = node->filled_at;
		if (node->removed_at != NEVER && node->removed_at >= removed) {
			removed = node->removed_at;
			removed_len = ends[k];
			removed_by_precondition = node->removed_by_precondition;
		}
	}
	if (removed == NEVER || removed <= present)
		return 0;

	char what[4096 + 1], because[4096 + 128], pointer[64];
	snprintf(what, sizeof(what), "%.*s", (int)removed_len, path);
	describe_removal(m, removed, removed_by_precondition, what, because, sizeof(because));
	snprintf(pointer, sizeof(pointer), "/ops/%zu/%s", op_index, key);
	return spec_fail(m->error, pointer, "%s\"%.*s\" does not exist at this point: %s",
			 parent ? "parent directory " : "", (int)len, path, because);
}

static int check_preconditions(struct model *m)
{
	const struct txn_batch *batch = m->batch;
	_cleanup_json_ json_t *seen = json_object(); /* path -> index of the strictest precondition */
	int r = seen ? 0 : -ENOMEM;

	for (size_t i = 0; i < batch->n_preconditions && r == 0; i++) {
		const struct txn_precondition *pre = &batch->preconditions[i];
		bool absent = pre->has_exists && !pre->exists;
		json_t *earlier_index = json_object_get(seen, pre->path);
		if (earlier_index) {
			size_t j = (size_t)json_integer_value(earlier_index);
			const struct txn_precondition *earlier = &batch->preconditions[j];
			bool earlier_absent = earlier->has_exists && !earlier->exists;
			char pointer[64];
			if (absent != earlier_absent) {
				snprintf(pointer, sizeof(pointer), "/preconditions/%zu", i);
				r = spec_fail(m->error, pointer,
					      "contradicts /preconditions/%zu, which requires the "
					      "same path to %s", j,
					      earlier_absent ? "be absent" : "exist");
			} else if (pre->has_sha256 && earlier->has_sha256 &&
				   memcmp(pre->sha256, earlier->sha256, 32) != 0) {
				snprintf(pointer, sizeof(pointer), "/preconditions/%zu/sha256", i);
				r = spec_fail(m->error, pointer,
					      "contradicts /preconditions/%zu, which requires a "
					      "different sha256 for the same path", j);
			}
			if (r < 0 || !pre->has_sha256 || earlier->has_sha256)
				continue;
		}
		/* keep the one with a sha256, so that a third one is compared with it */
		if (json_object_set_new(seen, pre->path, json_integer((json_int_t)i)) < 0)
			r = -ENOMEM;
	}
	if (r < 0)
		return r;

	/* the preconditions are event 0 of the existence model */
	for (size_t i = 0; i < batch->n_preconditions; i++) {
		const struct txn_precondition *pre = &batch->preconditions[i];
		if (pre->has_exists && !pre->exists) {
			struct node *node = node_get(m, pre->path, strlen(pre->path));
			if (!node)
				return -ENOMEM;
			node->removed_at = 0;
			node->removed_by_precondition = i;
		} else if (mark_present(m, pre->path, strlen(pre->path), 0) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

static int check_op(struct model *m, size_t i)
{
	const struct txn_op *op = &m->batch->ops[i];
	const char *path = op->path;
	size_t len = strlen(path), parent = parent_len(path, len);
	long event = (long)i + 1;
	char pointer[64];
	int r = 0;

	switch (op->kind) {
	case TXN_OP_WRITE:
	case TXN_OP_COPY:
	case TXN_OP_SYMLINK:
		r = require(m, path, parent, i, "path", true);
		if (r == 0)
			r = mark_present(m, path, len, event);
		if (r == 0 && op->kind == TXN_OP_SYMLINK)
			r = mark(m, path, event, false, true);
		break;
	case TXN_OP_MKDIR:
		if (!op->parents)
			r = require(m, path, parent, i, "path", true);
		if (r == 0)
			r = mark_present(m, path, len, event);
		break;
	case TXN_OP_DELETE:
		if (!op->missing_ok) {
			r = require(m, path, len, i, "path", false);
			if (r == 0)
				r = mark_present(m, path, parent, event);
		}
		if (r == 0)
			r = mark(m, path, event, true, false);
		break;
	case TXN_OP_RENAME:
		snprintf(pointer, sizeof(pointer), "/ops/%zu/to", i);
		if (txn_path_is_inside(op->to, path))
			return spec_fail(m->error, pointer,
					 "\"to\" is inside \"path\": a directory cannot be "
					 "moved into itself");
		if (txn_path_is_inside(path, op->to))
			return spec_fail(m->error, pointer,
					 "\"to\" contains \"path\": the rename would replace a "
					 "non-empty directory");
		r = require(m, path, len, i, "path", false);
		if (r == 0)
			r = require(m, op->to, parent_len(op->to, strlen(op->to)), i, "to", true);
		if (r == 0)
			r = mark_present(m, path, parent, event);
		if (r == 0)
			r = mark(m, path, event, true, false);
		if (r == 0)
			r = mark_present(m, op->to, strlen(op->to), event);
		if (r == 0)
			r = mark(m, op->to, event, false, true);
		break;
	case TXN_OP_CHMOD:
	case TXN_OP_CHOWN:
		r = require(m, path, len, i, "path", false);
		if (r == 0)
			r = mark_present(m, path, len, event);
		break;
	}
	return r;
}

static void model_free(struct model *m)
{
	json_decref(m->map);
	free(m->nodes);
}

int spec_check_contradictions(const struct txn_batch *batch, struct spec_error *error)
{
	_cleanup_(model_free) struct model m = { .map = json_object(), .batch = batch, .error = error };
	int r = m.map ? 0 : -ENOMEM;

	if (r == 0)
		r = check_preconditions(&m);
	for (size_t i = 0; i < batch->n_ops && r == 0; i++)
		r = check_op(&m, i);
	return r;
}
