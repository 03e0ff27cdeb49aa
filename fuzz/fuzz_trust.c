/* SPDX-License-Identifier: MIT */
/*
 * fuzz_trust.c: libFuzzer target for the string work of the StrictModes walk
 * (txn/trust.c): splitting a path into components, splicing a symlink's target in
 * front of what remains, and keeping the canonical path walked so far.
 *
 * The input is a path, then link targets, one per line. The walk is played on text
 * alone: a component named "@" is a symlink whose target is the next target line
 * (taken in turn, round and round, so loops happen). Besides "no crash", every
 * canonical path must be absolute and clean ("/" or "/a/b": no empty, "." or ".."
 * component), and a walk the fixed-size buffers finish must end where a second,
 * naive walk over lists of components ends.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust.h"

#define MAX_TARGETS 64

struct targets {
	const char *text[MAX_TARGETS];
	size_t len[MAX_TARGETS];
	size_t count;
};

static int is_link(const char *name, size_t len, const struct targets *t)
{
	return t->count && len == 1 && name[0] == '@';
}

static void check_clean(const char *canonical)
{
	size_t len = strlen(canonical);
	if (canonical[0] != '/' || len >= PATH_MAX)
		abort();
	if (len == 1)
		return;
	if (canonical[len - 1] == '/')
		abort();
	size_t pos = 0;
	const char *name;
	size_t n;
	while ((n = txn_trust_next_component(canonical, &pos, &name))) {
		if (name[-1] != '/' || (name > canonical + 1 && name[-2] == '/'))
			abort(); /* an empty component */
		if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
			abort();
	}
}

/* The walk as trust.c does it, in fixed buffers. Return: 0, or -errno. */
static int fast_walk(const char *path, const struct targets *t, char *canonical)
{
	static char pending[PATH_MAX];
	strcpy(pending, path);
	strcpy(canonical, "/");
	size_t pos = 0, links = 0;
	for (;;) {
		const char *name;
		size_t len = txn_trust_next_component(pending, &pos, &name);
		if (len == 0)
			return 0;
		if (is_link(name, len, t)) {
			if (++links > TXN_TRUST_MAX_LINKS)
				return -ELOOP;
			size_t k = (links - 1) % t->count;
			int r = txn_trust_splice(pending, sizeof(pending), pos, t->text[k], t->len[k]);
			if (r < 0)
				return r;
			pos = 0;
			if (r == 1)
				strcpy(canonical, "/");
			continue;
		}
		int r = txn_trust_canonical_step(canonical, PATH_MAX, name, len);
		if (r < 0)
			return r;
		check_clean(canonical);
	}
}

/* The same walk on lists: pending components in a stack (next on top). */
struct list {
	const char **name;
	size_t *len;
	size_t count, capacity;
};

static void push(struct list *l, const char *name, size_t len)
{
	if (l->count == l->capacity) {
		l->capacity = l->capacity ? l->capacity * 2 : 64;
		l->name = realloc(l->name, l->capacity * sizeof(*l->name));
		l->len = realloc(l->len, l->capacity * sizeof(*l->len));
		if (!l->name || !l->len)
			abort();
	}
	l->name[l->count] = name;
	l->len[l->count++] = len;
}

/* Pushes the components of @text (@len bytes) so that the first is on top. */
static void push_path(struct list *stack, const char *text, size_t len)
{
	size_t end = len;
	while (end > 0) {
		while (end > 0 && text[end - 1] == '/')
			end--;
		size_t start = end;
		while (start > 0 && text[start - 1] != '/')
			start--;
		if (end > start)
			push(stack, text + start, end - start);
		end = start;
	}
}

static int naive_walk(const char *path, const struct targets *t, char **ret_canonical)
{
	struct list stack = { 0 }, done = { 0 };
	push_path(&stack, path, strlen(path));
	size_t links = 0;
	int r = 0;
	while (stack.count) {
		const char *name = stack.name[stack.count - 1];
		size_t len = stack.len[--stack.count];
		if (is_link(name, len, t)) {
			if (++links > TXN_TRUST_MAX_LINKS) {
				r = -ELOOP;
				break;
			}
			size_t k = (links - 1) % t->count;
			if (t->len[k] == 0 || memchr(t->text[k], '\0', t->len[k])) {
				r = -ENOENT;
				break;
			}
			if (t->text[k][0] == '/')
				done.count = 0;
			push_path(&stack, t->text[k], t->len[k]);
		} else if (len == 2 && name[0] == '.' && name[1] == '.') {
			if (done.count)
				done.count--;
		} else if (!(len == 1 && name[0] == '.')) {
			push(&done, name, len);
		}
	}
	if (r == 0) {
		size_t total = 2;
		for (size_t i = 0; i < done.count; i++)
			total += done.len[i] + 1;
		char *out = malloc(total), *w = out;
		if (!out)
			abort();
		*w++ = '/';
		for (size_t i = 0; i < done.count; i++) {
			if (i)
				*w++ = '/';
			memcpy(w, done.name[i], done.len[i]);
			w += done.len[i];
		}
		*w = '\0';
		*ret_canonical = out;
	}
	free(stack.name);
	free(stack.len);
	free(done.name);
	free(done.len);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes, so that ASan sees any read past the end. */
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *line_end = memchr(copy, '\n', size);
	size_t path_len = line_end ? (size_t)(line_end - copy) : size;
	struct targets t = { .count = 0 };
	for (char *p = line_end ? line_end + 1 : NULL; p && t.count < MAX_TARGETS;) {
		char *end = memchr(p, '\n', (size_t)(copy + size - p));
		t.text[t.count] = p;
		t.len[t.count++] = end ? (size_t)(end - p) : (size_t)(copy + size - p);
		p = end ? end + 1 : NULL;
	}
	char path[PATH_MAX];
	if (path_len >= sizeof(path)) {
		free(copy);
		return 0;
	}
	memcpy(path, copy, path_len);
	path[path_len] = '\0'; /* the walk's path is a C string: a NUL ends it */

	static char canonical[PATH_MAX];
	char *naive = NULL;
	int fast = fast_walk(path, &t, canonical);
	int slow = naive_walk(path, &t, &naive);
	if (fast == 0) {
		check_clean(canonical);
		if (slow != 0 || strcmp(canonical, naive) != 0)
			abort();
	} else if (fast != -ENAMETOOLONG && fast != slow) {
		abort(); /* only the fixed buffers may end a walk the lists finish */
	}
	free(naive);
	free(copy);
	return 0;
}
