/* SPDX-License-Identifier: MIT */
/*
 * test_path_check.c: the static path rules of spec v1 (txn/path_check.c), each rule
 * on its own and at the edges of PATH_MAX and NAME_MAX; containment by components and
 * the one rule for an op that depends on an earlier op of its batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "path.h"

static enum txn_path_problem check(const char *path)
{
	return txn_path_check(path, strlen(path));
}

static void test_valid(void **state)
{
	(void)state;
	assert_int_equal(check("a"), TXN_PATH_OK);
	assert_int_equal(check("nginx.conf"), TXN_PATH_OK);
	assert_int_equal(check("conf.d/site.conf"), TXN_PATH_OK);
	assert_int_equal(check(".hidden"), TXN_PATH_OK);
	assert_int_equal(check("..."), TXN_PATH_OK);
	assert_int_equal(check("a/..b/c.."), TXN_PATH_OK);
	assert_int_equal(check("caf\xc3\xa9/\xe2\x9c\x93"), TXN_PATH_OK);
}

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(check(""), TXN_PATH_EMPTY);
	assert_int_equal(txn_path_check("abc", 0), TXN_PATH_EMPTY);
}

static void test_absolute(void **state)
{
	(void)state;
	assert_int_equal(check("/etc/passwd"), TXN_PATH_ABSOLUTE);
	assert_int_equal(check("/"), TXN_PATH_ABSOLUTE);
}

static void test_nul(void **state)
{
	(void)state;
	assert_int_equal(txn_path_check("a\0b", 3), TXN_PATH_NUL);
	assert_int_equal(txn_path_check("ab\0", 3), TXN_PATH_NUL);
	/* the length decides, not a terminating NUL: "a" of "a\0b" is fine */
	assert_int_equal(txn_path_check("a\0b", 1), TXN_PATH_OK);
}

static void test_empty_component(void **state)
{
	(void)state;
	assert_int_equal(check("a//b"), TXN_PATH_EMPTY_COMPONENT);
	assert_int_equal(check("a/"), TXN_PATH_EMPTY_COMPONENT);
	assert_int_equal(check("a/b/"), TXN_PATH_EMPTY_COMPONENT);
}

static void test_dot(void **state)
{
	(void)state;
	assert_int_equal(check("."), TXN_PATH_DOT);
	assert_int_equal(check("./a"), TXN_PATH_DOT);
	assert_int_equal(check("a/./b"), TXN_PATH_DOT);
	assert_int_equal(check("a/."), TXN_PATH_DOT);
}

static void test_dotdot(void **state)
{
	(void)state;
	assert_int_equal(check(".."), TXN_PATH_DOTDOT);
	assert_int_equal(check("../etc"), TXN_PATH_DOTDOT);
	assert_int_equal(check("a/../../etc"), TXN_PATH_DOTDOT);
	assert_int_equal(check("a/.."), TXN_PATH_DOTDOT);
}

/* A path of @len bytes made of components of at most 255 bytes. */
static char *long_path(size_t len)
{
	char *path = malloc(len + 1);
	assert_non_null(path);
	memset(path, 'p', len);
	for (size_t i = 255; i < len; i += 256)
		path[i] = '/';
	path[len] = '\0';
	return path;
}

static void test_path_length_edges(void **state)
{
	(void)state;
	assert_int_equal(PATH_MAX, 4096);
	char *path = long_path(4095);
	assert_int_equal(path[4094], 'p'); /* the last byte is not a separator */
	assert_int_equal(check(path), TXN_PATH_OK);
	free(path);
	path = long_path(4096);
	assert_int_equal(check(path), TXN_PATH_TOO_LONG);
	free(path);
}

static void test_component_length_edges(void **state)
{
	(void)state;
	char name[300];
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	assert_int_equal(check(name), TXN_PATH_OK);
	name[255] = 'n';
	name[256] = '\0';
	assert_int_equal(check(name), TXN_PATH_COMPONENT_TOO_LONG);

	char nested[600];
	snprintf(nested, sizeof(nested), "dir/%s/file", name);
	assert_int_equal(check(nested), TXN_PATH_COMPONENT_TOO_LONG);
	name[255] = '\0';
	snprintf(nested, sizeof(nested), "dir/%s/file", name);
	assert_int_equal(check(nested), TXN_PATH_OK);
}

/* "a/a/.../a" with @levels components. */
static char *deep_path(size_t levels)
{
	char *path = malloc(2 * levels);
	assert_non_null(path);
	for (size_t i = 0; i < levels; i++) {
		path[2 * i] = 'a';
		path[2 * i + 1] = '/';
	}
	path[2 * levels - 1] = '\0';
	return path;
}

static void test_depth_edges(void **state)
{
	(void)state;
	assert_int_equal(TXN_PATH_MAX_DEPTH, 1024);
	char *path = deep_path(1024);
	assert_int_equal(check(path), TXN_PATH_OK);
	free(path);
	path = deep_path(1025);
	assert_int_equal(check(path), TXN_PATH_TOO_DEEP);
	free(path);
	/* 2047 levels fit in PATH_MAX: the depth limit is what refuses them. */
	path = deep_path(2047);
	assert_int_equal(check(path), TXN_PATH_TOO_DEEP);
	free(path);
	assert_string_equal(txn_path_problem_str(TXN_PATH_TOO_DEEP),
			    "path is deeper than 1024 levels (limit of btrfs-txn)");
}

/* The first problem wins, in the documented order. */
static void test_order(void **state)
{
	(void)state;
	assert_int_equal(txn_path_check("/a\0", 3), TXN_PATH_NUL);
	assert_int_equal(check("/../x"), TXN_PATH_ABSOLUTE);
	assert_int_equal(check("a//.."), TXN_PATH_EMPTY_COMPONENT);
}

static void test_problem_strings(void **state)
{
	(void)state;
	assert_string_equal(txn_path_problem_str(TXN_PATH_DOTDOT), "path has a '..' component");
	for (int p = TXN_PATH_OK; p <= TXN_PATH_TOO_DEEP; p++) {
		const char *text = txn_path_problem_str((enum txn_path_problem)p);
		assert_non_null(text);
		assert_string_not_equal(text, "unknown path problem");
	}
	assert_string_equal(txn_path_problem_str((enum txn_path_problem)99),
			    "unknown path problem");
}

/* Containment goes by components: a shared prefix of bytes is not enough. */
static void test_containment(void **state)
{
	(void)state;
	static const struct {
		const char *path, *dir;
		bool inside, related;
	} cases[] = {
		{ "a/b", "a", true, true },       { "a/b/c", "a", true, true },
		{ "a", "a/b", false, true },      { "a", "a", false, true },
		{ "ab", "a", false, false },      { "a.b/c", "a", false, false },
		{ "a", "ab", false, false },      { "b/a", "a", false, false },
		{ "conf.d/x", "conf.d", true, true }, { "conf.dx", "conf.d", false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(txn_path_is_inside(cases[i].path, cases[i].dir), cases[i].inside);
		assert_int_equal(txn_path_related(cases[i].path, cases[i].dir), cases[i].related);
		assert_int_equal(txn_path_related(cases[i].dir, cases[i].path), cases[i].related);
	}
}

/* Which earlier op an op waits for: plan shows it as "after op N", the trans method
 * judges it in the window instead of the preflight. */
static void test_depends_on(void **state)
{
	(void)state;
	static const struct {
		struct txn_op earlier, op;
		size_t expected; /* 1 + index of the earlier op, 0: independent */
	} cases[] = {
		/* the same path, or one below the other */
		{ { .kind = TXN_OP_WRITE, .path = "a" }, { .kind = TXN_OP_CHMOD, .path = "a" }, 1 },
		{ { .kind = TXN_OP_MKDIR, .path = "d" }, { .kind = TXN_OP_WRITE, .path = "d/x" }, 1 },
		{ { .kind = TXN_OP_DELETE, .path = "d/x" }, { .kind = TXN_OP_DELETE, .path = "d" }, 1 },
		/* rename's destination, on either side */
		{ { .kind = TXN_OP_RENAME, .path = "a", .to = "d/b" }, { .kind = TXN_OP_WRITE, .path = "d/b" }, 1 },
		{ { .kind = TXN_OP_WRITE, .path = "n/b" }, { .kind = TXN_OP_RENAME, .path = "c", .to = "n" }, 1 },
		/* mkdir "parents" makes the op's directory without touching its path */
		{ { .kind = TXN_OP_MKDIR, .path = "a/b/c", .parents = true }, { .kind = TXN_OP_WRITE, .path = "a/b/x" }, 1 },
		{ { .kind = TXN_OP_MKDIR, .path = "a/b/c", .parents = true }, { .kind = TXN_OP_WRITE, .path = "a/x" }, 1 },
		/* ... which a mkdir without it does not, nor a sibling write */
		{ { .kind = TXN_OP_MKDIR, .path = "a/b/c" }, { .kind = TXN_OP_WRITE, .path = "a/b/x" }, 0 },
		{ { .kind = TXN_OP_WRITE, .path = "conf.d/a" }, { .kind = TXN_OP_WRITE, .path = "conf.d/b" }, 0 },
		/* a shared byte prefix is not containment */
		{ { .kind = TXN_OP_WRITE, .path = "ab" }, { .kind = TXN_OP_WRITE, .path = "a" }, 0 },
		{ { .kind = TXN_OP_MKDIR, .path = "ab/c", .parents = true }, { .kind = TXN_OP_WRITE, .path = "a/x" }, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct txn_op ops[3] = { { .kind = TXN_OP_WRITE, .path = "elsewhere" }, cases[i].earlier,
					 cases[i].op };
		struct txn_batch batch = { .ops = ops, .n_ops = 3 };
		size_t want = cases[i].expected ? 2 : 0; /* the earlier op is ops[1] */
		if (txn_op_depends_on(&batch, 2) != want)
			fail_msg("case %zu: %s '%s' after %s '%s': got %zu, want %zu", i,
				 txn_op_kind_name(cases[i].op.kind), cases[i].op.path,
				 txn_op_kind_name(cases[i].earlier.kind), cases[i].earlier.path,
				 txn_op_depends_on(&batch, 2), want);
	}
	/* The latest earlier op is the one named; the first op depends on nothing. */
	struct txn_op ops[3] = { { .kind = TXN_OP_WRITE, .path = "a" }, { .kind = TXN_OP_CHMOD, .path = "a" },
				 { .kind = TXN_OP_DELETE, .path = "a" } };
	struct txn_batch batch = { .ops = ops, .n_ops = 3 };
	assert_int_equal(txn_op_depends_on(&batch, 2), 2);
	assert_int_equal(txn_op_depends_on(&batch, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_absolute),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_empty_component),
		cmocka_unit_test(test_dot),
		cmocka_unit_test(test_dotdot),
		cmocka_unit_test(test_path_length_edges),
		cmocka_unit_test(test_component_length_edges),
		cmocka_unit_test(test_depth_edges),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_problem_strings),
		cmocka_unit_test(test_containment),
		cmocka_unit_test(test_depends_on),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
