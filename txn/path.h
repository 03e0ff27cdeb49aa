/* SPDX-License-Identifier: MIT */
/*
 * path.h: the rules a path inside a target must follow, and resolution that never
 * leaves the tree it starts from.
 *
 * txn_path_check() is pure (no system calls), so `validate` can refuse a bad path
 * without touching anything; the engine checks again before it opens anything.
 */
#pragma once

#include <stddef.h>

enum txn_path_problem {
	TXN_PATH_OK,
	TXN_PATH_EMPTY,
	TXN_PATH_ABSOLUTE,
	TXN_PATH_NUL,
	TXN_PATH_TOO_LONG,
	TXN_PATH_COMPONENT_TOO_LONG,
	TXN_PATH_EMPTY_COMPONENT,
	TXN_PATH_DOT,
	TXN_PATH_DOTDOT,
	TXN_PATH_TOO_DEEP,
};

/* The deepest path btrfs-txn takes or makes, in components ("a/b" is 2 levels); a
 * recursive delete refuses a directory below it. One limit for every op, so that no
 * op can build a tree another refuses to walk. PATH_MAX alone would allow ~2048. */
#define TXN_PATH_MAX_DEPTH 1024

/**
 * txn_path_check() - Check a spec path against the rules of spec v1.
 * @path: The bytes of the path; need not be NUL-terminated.
 * @len: Its length in bytes (a NUL inside is an error).
 *
 * Return: TXN_PATH_OK, or the first problem found.
 */
enum txn_path_problem txn_path_check(const char *path, size_t len);

/* A short English description of @problem, e.g. "contains a '..' component". */
const char *txn_path_problem_str(enum txn_path_problem problem);
