/* SPDX-License-Identifier: MIT */
/*
 * test_mark.c: the moment of a mark (txn/modified.c, tree_mark_stamp()) against the
 * ctimes the kernel stamps on other files: a file changed just before the stamp
 * carries an earlier ctime (strictly: an equal one would count as changed after the
 * mark), a file changed just after carries the stamp's or a later one. On a kernel
 * and filesystem with multigrain timestamps (Linux 6.13+), where the first property
 * is the hard one; skipped elsewhere. Runs in a directory under /tmp; needs no root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define ROUNDS 2000

static char dir[64];
static int dir_fd = -1;

static int64_t ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-mark-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dir_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	unlinkat(dir_fd, "f", 0);
	close(dir_fd);
	rmdir(dir);
	return 0;
}

/* Writes a byte to f and returns its new ctime; with @look, its ctime is looked at
 * first, so that the kernel stamps a fine-grained one where it can. */
static struct timespec change(bool look)
{
	int fd = openat(dir_fd, "f", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	struct stat st;
	if (look)
		assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	return st.st_ctim;
}

/* Two changes in a row with distinct ctimes: the clock ctime comes from is finer
 * than a tick here. */
static bool multigrain(void)
{
	struct timespec a = change(true), b = change(true);
	return ns(a) != ns(b);
}

static void test_earlier_change_before_mark(void **state)
{
	(void)state;
	if (!multigrain())
		skip();
	int not_before = 0;
	for (int i = 0; i < ROUNDS; i++) {
		struct timespec f = change(true), s;
		assert_int_equal(tree_mark_stamp(dir_fd, &s), 0);
		not_before += ns(f) >= ns(s);
	}
	assert_int_equal(not_before, 0);
}

static void test_later_change_at_or_after_mark(void **state)
{
	(void)state;
	int before = 0;
	for (int i = 0; i < ROUNDS; i++) {
		struct timespec s;
		assert_int_equal(tree_mark_stamp(dir_fd, &s), 0);
		struct timespec f = change(i % 2 == 0); /* fine-grained and coarse stamps */
		before += ns(f) < ns(s);
	}
	assert_int_equal(before, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_earlier_change_before_mark),
		cmocka_unit_test(test_later_change_at_or_after_mark),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
