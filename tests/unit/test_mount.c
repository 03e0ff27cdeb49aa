/* SPDX-License-Identifier: MIT */
/*
 * test_mount.c: the one mount-id helper (txn/mount.c), on the mounts every Linux
 * system has: / and /proc are different mounts, a directory and its own "." the same,
 * and a name that is not there an error, never a made-up id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

#define PROC_SUPER_MAGIC 0x9fa0

static void test_mount_ids(void **state)
{
	(void)state;
	struct statfs sfs;
	if (statfs("/proc", &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
		skip();
	int root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	uint64_t root_id = 0, proc_id = 0, again = 0;
	assert_int_equal(mount_id_at(root_fd, "", &root_id), 0);
	assert_int_equal(mount_id_at(root_fd, "proc", &proc_id), 0);
	assert_int_not_equal(root_id, proc_id);
	/* By name relative to a directory and by the directory's own fd: the same. */
	int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(proc_fd >= 0);
	assert_int_equal(mount_id_at(proc_fd, "", &again), 0);
	assert_int_equal(again, proc_id);
	assert_int_equal(mount_id_at(proc_fd, "self", &again), 0); /* a symlink: not followed */
	assert_int_equal(again, proc_id);

	/* The identity carries st_dev too, for a kernel that tells no mount id. */
	struct mount_identity id;
	struct stat st;
	assert_int_equal(mount_identity_at(proc_fd, "", &id), 0);
	assert_int_equal(fstat(proc_fd, &st), 0);
	assert_true(id.dev == st.st_dev);
	assert_true(id.has_mount_id && id.mount_id == proc_id);

	/* Nothing there: an error, and the out-parameter untouched. */
	uint64_t untouched = 4242;
	assert_int_equal(mount_id_at(root_fd, "no-such-name-here.btrfs-txn", &untouched), -ENOENT);
	assert_int_equal(untouched, 4242);
	close(proc_fd);
	close(root_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
