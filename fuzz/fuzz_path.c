/* SPDX-License-Identifier: MIT */
/*
 * fuzz_path.c: libFuzzer target for txn_path_check(), the static rule that keeps a
 * spec path relative, free of '.', '..' and empty components, NUL and overlong names.
 *
 * Besides "no crash", the target checks the rule itself against a second, naive
 * reading of it (split on '/', look at each piece), so that an accepted path can
 * never name something outside the tree by its text alone.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

/* The rules of spec v1, written the slow and obvious way. */
static int naive_ok(const char *path, size_t len)
{
	if (len == 0 || len >= PATH_MAX || memchr(path, '\0', len) || path[0] == '/')
		return 0;
	size_t start = 0, levels = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		size_t n = i - start;
		if (n == 0 || n > NAME_MAX)
			return 0;
		if (n == 1 && path[start] == '.')
			return 0;
		if (n == 2 && path[start] == '.' && path[start + 1] == '.')
			return 0;
		start = i + 1;
		levels++;
	}
	return levels <= TXN_PATH_MAX_DEPTH;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes, so that ASan sees any read past the end. */
	char *path = malloc(size ? size : 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	enum txn_path_problem problem = txn_path_check(path, size);
	if ((problem == TXN_PATH_OK) != naive_ok(path, size))
		abort();
	const char *text = txn_path_problem_str(problem);
	if (!text || !text[0])
		abort();
	free(path);
	return 0;
}
