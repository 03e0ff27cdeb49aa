/* SPDX-License-Identifier: MIT */
/*
 * path.h: the rules a path inside a target must follow, and resolution that never
 * leaves the tree it starts from.
 *
 * txn_path_check() is pure (no system calls), so `validate` can refuse a bad path
 * without touching anything; the engine checks again before it opens anything.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct txn_batch;

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

/* Containment, by components: the one rule for "below" in the engine and the runner. */
/* Whether @path lies strictly below @dir: "a/b" is below "a", "ab" is not. */
bool txn_path_is_inside(const char *path, const char *dir);
/* Whether @a equals @b or one of them lies below the other. */
bool txn_path_related(const char *a, const char *b);

/**
 * txn_op_depends_on() - Whether an earlier op of @batch may change what op @index
 * finds, so that judging the op against the tree as it is now would be wrong.
 * @batch: The batch.
 * @index: The op.
 *
 * An earlier op counts when one of its paths (path, rename's to) and one of op
 * @index's are related (equal, or one below the other), or when it is a mkdir with
 * "parents" that makes the directory op @index is in.
 * Return: 1 + the index of the latest such op, or 0 when there is none.
 */
size_t txn_op_depends_on(const struct txn_batch *batch, size_t index);
