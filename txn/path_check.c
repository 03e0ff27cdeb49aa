/* SPDX-License-Identifier: MIT */
/* path_check.c: the static rules for paths in a spec (see path.h). */
#include "path.h"

#include "batch.h"

#include <limits.h>
#include <string.h>

/* txn_path_problem_str() spells the limit out. */
_Static_assert(TXN_PATH_MAX_DEPTH == 1024, "update the TXN_PATH_TOO_DEEP text");

enum txn_path_problem txn_path_check(const char *path, size_t len)
{
	if (len == 0)
		return TXN_PATH_EMPTY;
	if (memchr(path, '\0', len))
		return TXN_PATH_NUL;
	if (len >= PATH_MAX)
		return TXN_PATH_TOO_LONG;
	if (path[0] == '/')
		return TXN_PATH_ABSOLUTE;

	size_t start = 0, depth = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		size_t n = i - start;
		const char *component = path + start;
		if (n == 0)
			return TXN_PATH_EMPTY_COMPONENT;
		if (n > NAME_MAX)
			return TXN_PATH_COMPONENT_TOO_LONG;
		if (n == 1 && component[0] == '.')
			return TXN_PATH_DOT;
		if (n == 2 && component[0] == '.' && component[1] == '.')
			return TXN_PATH_DOTDOT;
		start = i + 1;
		depth++;
	}
	if (depth > TXN_PATH_MAX_DEPTH)
		return TXN_PATH_TOO_DEEP;
	return TXN_PATH_OK;
}

const char *txn_path_problem_str(enum txn_path_problem problem)
{
	switch (problem) {
	case TXN_PATH_OK:
		return "valid";
	case TXN_PATH_EMPTY:
		return "path is empty";
	case TXN_PATH_ABSOLUTE:
		return "path is absolute; paths are relative to the target";
	case TXN_PATH_NUL:
		return "path contains a NUL byte";
	case TXN_PATH_TOO_LONG:
		return "path is longer than PATH_MAX (4095 bytes)";
	case TXN_PATH_COMPONENT_TOO_LONG:
		return "path has a component longer than NAME_MAX (255 bytes)";
	case TXN_PATH_EMPTY_COMPONENT:
		return "path has an empty component ('//' or a trailing '/')";
	case TXN_PATH_DOT:
		return "path has a '.' component";
	case TXN_PATH_DOTDOT:
		return "path has a '..' component";
	case TXN_PATH_TOO_DEEP:
		return "path is deeper than 1024 levels (limit of btrfs-txn)";
	}
	return "unknown path problem";
}

bool txn_path_is_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

bool txn_path_related(const char *a, const char *b)
{
	return strcmp(a, b) == 0 || txn_path_is_inside(a, b) || txn_path_is_inside(b, a);
}

/* Whether @earlier, a mkdir with "parents", makes the directory @path is in. */
static bool makes_parent_of(const struct txn_op *earlier, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (earlier->kind != TXN_OP_MKDIR || !earlier->parents || !slash)
		return false;
	size_t n = (size_t)(slash - path);
	return strncmp(earlier->path, path, n) == 0 && earlier->path[n] == '/';
}

size_t txn_op_depends_on(const struct txn_batch *batch, size_t index)
{
	const struct txn_op *op = &batch->ops[index];
	const char *paths[2] = { op->path, op->to };
	for (size_t i = index; i-- > 0;) {
		const struct txn_op *e = &batch->ops[i];
		const char *earlier[2] = { e->path, e->to };
		for (size_t k = 0; k < 2 && paths[k]; k++) {
			if (makes_parent_of(e, paths[k]))
				return i + 1;
			for (size_t j = 0; j < 2 && earlier[j]; j++)
				if (txn_path_related(paths[k], earlier[j]))
					return i + 1;
		}
	}
	return 0;
}
