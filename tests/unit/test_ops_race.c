/* SPDX-License-Identifier: MIT */
/*
 * test_ops_race.c: the ops of txn/ops.c against a tree that changes between their
 * look and their action, made deterministic: a wrapped fstatat() (and fstat())
 * performs the attacker's swap right after the real call returned, i.e. in the exact
 * window a racing user would aim at.
 *
 * - delete --recursive: a directory swapped for a symlink to the outside, or for
 *   another directory, after it was lstat'ed and before it is opened: the op fails
 *   and the outside is untouched.
 * - chmod and chown: the entry swapped for a symlink to an outside file after it was
 *   opened: the change lands on the entry held (now renamed), never on the outside
 *   file.
 *
 * wrap: fstatat fstat
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The attack armed for the next matching call: when the wrapped call is on @name,
 * run @swap once, after the real call. */
static struct {
	const char *name;      /* fstatat() of this name triggers the swap */
	bool on_fstat_of_file; /* or: the first fstat() that finds a regular file */
	void (*swap)(void);
	bool done;
} attack;

static char base[64];     /* the test's temporary directory */
static char tree[128];    /* the tree ops run beneath */
static char outside[128]; /* what the attacker points at */
static int root_fd = -1;

int __real_fstatat(int dir_fd, const char *name, struct stat *st, int flags);
int __wrap_fstatat(int dir_fd, const char *name, struct stat *st, int flags)
{
	int r = __real_fstatat(dir_fd, name, st, flags);
	if (r == 0 && attack.swap && !attack.done && attack.name && strcmp(name, attack.name) == 0) {
		attack.done = true;
		attack.swap();
	}
	return r;
}

int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st)
{
	int r = __real_fstat(fd, st);
	if (r == 0 && attack.swap && !attack.done && attack.on_fstat_of_file && S_ISREG(st->st_mode)) {
		attack.done = true;
		attack.swap();
	}
	return r;
}

static void path_of(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", tree, rel);
}

static void make_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/test_ops_race.XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(tree, sizeof(tree), "%s/tree", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	assert_int_equal(mkdir(tree, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	char p[256];
	snprintf(p, sizeof(p), "%s/canary", outside);
	make_file(p, "canary\n");
	assert_int_equal(chmod(p, 0640), 0);
	root_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	memset(&attack, 0, sizeof(attack));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(root_fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void assert_canary_intact(void)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/canary", outside);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_size, 7);
}

/* big/sub -> big/sub.real, and big/sub becomes a symlink to the outside. */
static void swap_sub_for_link(void)
{
	char from[256], to[256];
	path_of(from, sizeof(from), "big/sub");
	path_of(to, sizeof(to), "big/sub.real");
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(symlink(outside, from), 0);
}

/* big/sub replaced by another directory (which holds a link out). */
static void swap_sub_for_dir(void)
{
	char from[256], to[256], link[300];
	path_of(from, sizeof(from), "big/sub");
	path_of(to, sizeof(to), "big/sub.real");
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mkdir(from, 0755), 0);
	snprintf(link, sizeof(link), "%s/out", from);
	assert_int_equal(symlink(outside, link), 0);
}

static void make_big(void)
{
	char p[256];
	path_of(p, sizeof(p), "big");
	assert_int_equal(mkdir(p, 0755), 0);
	path_of(p, sizeof(p), "big/sub");
	assert_int_equal(mkdir(p, 0755), 0);
	path_of(p, sizeof(p), "big/sub/f");
	make_file(p, "f\n");
}

static void delete_big(int expect)
{
	struct txn_op op = { .kind = TXN_OP_DELETE, .path = "big", .recursive = true };
	struct txn_error error = { 0 };
	int r = txn_op_apply(root_fd, &op, &error);
	if (expect == 0)
		assert_int_equal(r, 0);
	else
		assert_true(r < 0);
}

static void test_delete_dir_swapped_for_symlink(void **state)
{
	(void)state;
	make_big();
	attack.name = "sub";
	attack.swap = swap_sub_for_link;
	struct txn_op op = { .kind = TXN_OP_DELETE, .path = "big", .recursive = true };
	struct txn_error error = { 0 };
	int r = txn_op_apply(root_fd, &op, &error);
	assert_true(attack.done);
	/* Either refused, or the link itself removed: never what it points to. */
	if (r < 0)
		assert_non_null(strstr(error.message, "delete 'big'"));
	assert_canary_intact();
}

static void test_delete_dir_swapped_for_other_dir(void **state)
{
	(void)state;
	make_big();
	attack.name = "sub";
	attack.swap = swap_sub_for_dir;
	struct txn_op op = { .kind = TXN_OP_DELETE, .path = "big", .recursive = true };
	struct txn_error error = { 0 };
	int r = txn_op_apply(root_fd, &op, &error);
	assert_true(attack.done);
	assert_int_equal(r, -EAGAIN);
	assert_non_null(strstr(error.message, "replaced or mounted over during the delete"));
	assert_canary_intact();
}

static void test_delete_without_attack(void **state)
{
	(void)state;
	make_big();
	char p[256];
	path_of(p, sizeof(p), "big/sub/out");
	assert_int_equal(symlink(outside, p), 0);
	delete_big(0);
	path_of(p, sizeof(p), "big");
	assert_int_equal(access(p, F_OK), -1);
	assert_canary_intact();
}

/* conf -> conf.real, and conf becomes a symlink to the outside canary. */
static void swap_conf_for_link(void)
{
	char from[256], to[256], canary[256];
	path_of(from, sizeof(from), "conf");
	path_of(to, sizeof(to), "conf.real");
	snprintf(canary, sizeof(canary), "%s/canary", outside);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(symlink(canary, from), 0);
}

static void test_chmod_entry_swapped_after_open(void **state)
{
	(void)state;
	char p[256];
	path_of(p, sizeof(p), "conf");
	make_file(p, "x\n");
	assert_int_equal(chmod(p, 0644), 0);
	/* The op holds "conf" (O_PATH|O_NOFOLLOW) and fstat()s it: the attacker swaps
	 * the name for a link out right then, before the chmod. */
	attack.on_fstat_of_file = true;
	attack.swap = swap_conf_for_link;
	struct txn_op op = { .kind = TXN_OP_CHMOD, .path = "conf", .mode = 0666, .has_mode = true };
	struct txn_error error = { 0 };
	assert_int_equal(txn_op_apply(root_fd, &op, &error), 0);
	assert_true(attack.done);
	assert_canary_intact();
	/* The chmod landed on the file that was held, now named conf.real. */
	struct stat st;
	path_of(p, sizeof(p), "conf.real");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
}

static void test_chown_entry_swapped_after_open(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char p[256];
	path_of(p, sizeof(p), "conf");
	make_file(p, "x\n");
	attack.on_fstat_of_file = true;
	attack.swap = swap_conf_for_link;
	struct txn_op op = { .kind = TXN_OP_CHOWN, .path = "conf",
			     .owner = { .present = true, .resolved = true, .id = 4242 } };
	struct txn_error error = { 0 };
	assert_int_equal(txn_op_apply(root_fd, &op, &error), 0);
	assert_true(attack.done);
	struct stat st;
	char c[256];
	snprintf(c, sizeof(c), "%s/canary", outside);
	assert_int_equal(stat(c, &st), 0);
	assert_int_equal(st.st_uid, 0);
	path_of(p, sizeof(p), "conf.real");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 4242);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delete_without_attack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_dir_swapped_for_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_dir_swapped_for_other_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chmod_entry_swapped_after_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chown_entry_swapped_after_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
