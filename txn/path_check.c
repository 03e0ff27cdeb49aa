/* SPDX-License-Identifier: MIT */
/* path_check.c: the static rules for paths in a spec (see path.h). */
#include "path.h"

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
