/* SPDX-License-Identifier: MIT */
/*
 * test_plan.c: plan's verdicts (txn/plan.c, plan_ops_at) on a plain directory, so
 * that no Btrfs is needed: "unchanged" exactly when applying the op would change
 * nothing (bytes, mode, owner, link text, set-id bits), and an op on a path an
 * earlier op touches "after" only when one of those earlier ops changes something.
 * The same verdicts against a real target, and apply twice: t0106-plan-unchanged.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "txn.h"

static char base[64]; /* the test's temporary directory */
static int root_fd = -1;

#define MAX_OPS 8
static struct txn_op ops[MAX_OPS];
static const char *actions[MAX_OPS];
static char details[MAX_OPS][256];

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/test_plan.XXXXXX");
	assert_non_null(mkdtemp(base));
	root_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	memset(ops, 0, sizeof(ops));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(root_fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void put_file(const char *name, const char *text, mode_t mode)
{
	int fd = openat(root_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void collect(const struct txn_plan_entry *e, void *ctx)
{
	(void)ctx;
	actions[e->index] = e->action;
	snprintf(details[e->index], sizeof(details[e->index]), "%s", e->detail);
}

/* Plans the first @n ops of ops[] against the directory. */
static void plan(size_t n)
{
	struct txn_batch batch = { .ops = ops, .n_ops = n };
	memset(actions, 0, sizeof(actions));
	assert_int_equal(plan_ops_at(root_fd, &batch, collect, NULL), 0);
}

static struct txn_op write_op(const char *path, const char *text)
{
	return (struct txn_op){ .kind = TXN_OP_WRITE, .path = (char *)path,
				.content = (unsigned char *)text, .content_len = strlen(text) };
}

static void test_write(void **state)
{
	(void)state;
	put_file("a", "alpha\n", 0640);
	ops[0] = write_op("a", "alpha\n");
	plan(1);
	assert_string_equal(actions[0], "unchanged");
	ops[0].has_mode = true, ops[0].mode = 0640;
	plan(1);
	assert_string_equal(actions[0], "unchanged");
	ops[0].mode = 0644;
	plan(1);
	assert_string_equal(actions[0], "replace");
	ops[0] = write_op("a", "beta\n");
	plan(1);
	assert_string_equal(actions[0], "replace");
	assert_string_equal(details[0], "6 -> 5 bytes");
	if (geteuid() == 0) {
		/* Not ours: apply gives it a new owner. */
		assert_int_equal(fchownat(root_fd, "a", 1, 1, 0), 0);
		ops[0] = write_op("a", "alpha\n");
		plan(1);
		assert_string_equal(actions[0], "replace");
		assert_non_null(strstr(details[0], "owner 1 becomes"));
	}
}

static void test_symlink_chmod_chown(void **state)
{
	(void)state;
	put_file("f", "x", 04755);
	assert_int_equal(symlinkat("releases/1", root_fd, "current"), 0);
	ops[0] = (struct txn_op){ .kind = TXN_OP_SYMLINK, .path = "current", .link_target = "releases/1" };
	ops[1] = (struct txn_op){ .kind = TXN_OP_SYMLINK, .path = "current2", .link_target = "releases/1" };
	ops[2] = (struct txn_op){ .kind = TXN_OP_CHMOD, .path = "f", .mode = 04755 };
	ops[3] = (struct txn_op){ .kind = TXN_OP_CHOWN, .path = "f",
				  .owner = { .present = true, .resolved = true, .id = geteuid() } };
	ops[4] = (struct txn_op){ .kind = TXN_OP_CHMOD, .path = "current", .mode = 0644 };
	plan(5);
	assert_string_equal(actions[0], "unchanged");
	assert_string_equal(actions[1], "create");
	assert_string_equal(actions[2], "unchanged");
	assert_string_equal(actions[3], "change"); /* it would clear the set-uid bit */
	assert_string_equal(actions[4], "fails");  /* chmod of a symlink */
	assert_int_equal(fchmodat(root_fd, "f", 0755, 0), 0);
	ops[0].link_target = "releases/2";
	plan(4);
	assert_string_equal(actions[0], "replace");
	assert_string_equal(actions[2], "change");
	assert_string_equal(details[2], "0755 -> 4755");
	assert_string_equal(actions[3], "after");
	ops[2].mode = 0755;
	plan(4);
	assert_string_equal(actions[2], "unchanged");
	assert_string_equal(actions[3], "unchanged");
}

static void test_rename(void **state)
{
	(void)state;
	put_file("a", "x", 0644);
	ops[0] = (struct txn_op){ .kind = TXN_OP_RENAME, .path = "a", .to = "b" };
	plan(1);
	assert_string_equal(actions[0], "rename");
	assert_int_equal(linkat(root_fd, "a", root_fd, "b", 0), 0);
	plan(1);
	assert_string_equal(actions[0], "unchanged");
	assert_int_equal(unlinkat(root_fd, "a", 0), 0);
	plan(1);
	assert_string_equal(actions[0], "fails");
}

/* An op on a path earlier ops touch: judged when they are all unchanged, else "after"
 * naming the last one that changes something, past unchanged ones in between. */
static void test_after(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(root_fd, "d", 0755), 0);
	put_file("d/f", "f", 0644);
	put_file("a", "a", 0644);
	put_file("b", "b", 0644);
	ops[0] = (struct txn_op){ .kind = TXN_OP_MKDIR, .path = "d" };
	ops[1] = write_op("d/f", "f");
	ops[2] = write_op("a", "a");
	ops[3] = write_op("b", "b");
	ops[4] = (struct txn_op){ .kind = TXN_OP_RENAME, .path = "a", .to = "b" };
	plan(5);
	assert_string_equal(actions[0], "unchanged");
	assert_string_equal(actions[1], "unchanged");
	assert_string_equal(actions[4], "rename");
	ops[2] = write_op("a", "changed");
	plan(5);
	assert_string_equal(actions[2], "replace");
	assert_string_equal(actions[3], "unchanged");
	assert_string_equal(actions[4], "after");
	assert_string_equal(details[4], "depends on op 2");
	ops[0].path = "e";
	ops[1] = write_op("e/f", "f");
	plan(2);
	assert_string_equal(actions[0], "create");
	assert_string_equal(actions[1], "after");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_chmod_chown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
