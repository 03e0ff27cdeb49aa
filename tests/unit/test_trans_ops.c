/* SPDX-License-Identifier: MIT */
/*
 * test_trans_ops.c: the trans method's ops (txn/trans.c, trans_preflight.c,
 * trans_stage.c) on a kernel that has the TRANS ioctls, simulated (trans_fixture.h).
 *
 * What is proven: what can be known to fail is refused before the window; an op
 * that fails inside it stops the rest; the owner and set-id rules of the snapshot
 * method hold in place; a staged file swapped for a symlink is never followed;
 * signals abort before the window and not inside it; without openat2 the method
 * runs, paths still confined by resolve.c's fallback.
 *
 * wrap: ioctl fsync fdatasync syncfs sync fstatfs renameat btrfs_util_sync_fd syscall
 */
#include "trans_fixture.h"

static void test_op_fails_in_window(void **state)
{
	(void)state;
	struct txn_op ops[3];
	op_write(&ops[0], "a", "new a\n");
	ops[1] = (struct txn_op){ .kind = TXN_OP_RENAME, .path = "a", .to = "missing/a" };
	op_write(&ops[2], "c", "new c\n");
	struct txn_batch batch = batch_of(ops, 3);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -ENOENT);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_non_null(strstr(error.message, "op 1 failed inside the window: rename 'a' to 'missing/a'"));
	assert_non_null(strstr(error.message, "op 0 took effect"));
	assert_non_null(strstr(error.message, "op 2 did not run"));
	assert_string_equal(content_of("a"), "new a\n");
	assert_string_equal(content_of("c"), "old c\n");
	assert_int_equal(count_staged(), 0); /* c's staged file too */
	assert_int_equal(mock.end_calls, 2);
	assert_true(event_index("btrfs_sync:", 0) > event_index("END", 1));
}

static void test_staged_file_swapped_for_link(void **state)
{
	(void)state;
	char outside[320];
	snprintf(outside, sizeof(outside), "%s/outside", tmp_dir);
	FILE *f = fopen(outside, "w");
	assert_non_null(f);
	fputs("secret\n", f);
	fclose(f);
	assert_int_equal(chmod(outside, 0600), 0);
	mock.swap_staged_for_link = outside;
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	ops[0].has_mode = true;
	ops[0].mode = 0644;
	struct txn_batch batch = batch_of(ops, 1);
	struct txn_error error;
	assert_true(apply(&batch, 30, &error) < 0);
	assert_non_null(strstr(error.message, "was replaced"));
	struct stat st;
	assert_int_equal(stat(outside, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_string_equal(content_of("a"), "old a\n");
}

static void test_preflight_refuses(void **state)
{
	(void)state;
	char outside[400], link[600];
	snprintf(outside, sizeof(outside), "%s/outside", tmp_dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(link, sizeof(link), "%s/out", target);
	assert_int_equal(symlink(outside, link), 0);

	struct txn_op missing[2], escape[2];
	op_write(&missing[0], "a", "new a\n");
	missing[1] = (struct txn_op){ .kind = TXN_OP_DELETE, .path = "nothing-here" };
	op_write(&escape[0], "a", "new a\n");
	op_write(&escape[1], "out/x", "escaped\n");
	struct txn_batch batches[2] = { batch_of(missing, 2), batch_of(escape, 2) };
	for (int i = 0; i < 2; i++) {
		mock_reset();
		struct txn_error error;
		assert_true(apply(&batches[i], 30, &error) < 0);
		assert_int_equal(error.status, TXN_ABORTED);
		assert_non_null(strstr(error.message, "op 1"));
		assert_non_null(strstr(error.message, "would fail inside the window"));
		assert_int_equal(mock.start_calls, 1); /* the probe only */
		assert_int_equal(event_index("fsync:", 0), -1);
		assert_int_equal(count_staged(), 0);
		assert_string_equal(content_of("a"), "old a\n");
	}
	char escaped[500];
	struct stat st;
	snprintf(escaped, sizeof(escaped), "%s/x", outside);
	assert_int_equal(lstat(escaped, &st), -1);
}

static void test_owner_and_setid_rules(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char path[600];
	write_file("planted", "planted\n");
	snprintf(path, sizeof(path), "%s/planted", target);
	assert_int_equal(chown(path, 4242, 4242), 0);
	assert_int_equal(chmod(path, 06755), 0);
	write_file("tool", "tool\n");
	snprintf(path, sizeof(path), "%s/tool", target);
	assert_int_equal(chmod(path, 04755), 0);

	struct txn_op ops[2];
	op_write(&ops[0], "planted", "new\n");
	ops[1] = (struct txn_op){ .kind = TXN_OP_CHOWN, .path = "tool",
				  .owner = { .present = true, .id = 4242, .resolved = true } };
	struct txn_batch batch = batch_of(ops, 2);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), 0);
	struct stat st;
	snprintf(path, sizeof(path), "%s/planted", target);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, getegid());
	assert_string_equal(content_of("planted"), "new\n");
	snprintf(path, sizeof(path), "%s/tool", target);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 4242);

	snprintf(path, sizeof(path), "%s/sub", target);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/link", target);
	assert_int_equal(symlink("sub", path), 0);
	op_write(&ops[0], "link/x", "x\n");
	batch = batch_of(ops, 1);
	assert_true(apply(&batch, 30, &error) < 0);
	assert_non_null(strstr(error.message, "'link' is a symlink"));
	assert_false(exists("sub/x"));
}

static void test_interrupt_before_window(void **state)
{
	(void)state;
	mock.interrupt_at_first_fsync = true;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	op_write(&ops[1], "b", "new b\n");
	struct txn_batch batch = batch_of(ops, 2);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -EINTR);
	assert_int_equal(error.status, TXN_ABORTED);
	assert_non_null(strstr(error.message, "interrupted by signal"));
	assert_int_equal(mock.start_calls, 1);
	assert_int_equal(count_staged(), 0);
	assert_string_equal(content_of("a"), "old a\n");
	assert_string_equal(content_of("b"), "old b\n");
}

static void test_interrupt_inside_window_finishes(void **state)
{
	(void)state;
	mock.interrupt_at_window_start = true;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	op_write(&ops[1], "b", "new b\n");
	struct txn_batch batch = batch_of(ops, 2);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), 0);
	assert_int_equal(txn_interrupted, SIGINT);
	assert_string_equal(content_of("a"), "new a\n");
	assert_string_equal(content_of("b"), "new b\n");
	assert_int_equal(count_staged(), 0);
}

static void test_copy_source_missing(void **state)
{
	(void)state;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	ops[1] = (struct txn_op){ .kind = TXN_OP_COPY, .path = "b", .source = "/nonexistent/file" };
	struct txn_batch batch = batch_of(ops, 2);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -ENOENT);
	assert_int_equal(error.status, TXN_ABORTED);
	assert_non_null(strstr(error.message, "cannot open source '/nonexistent/file'"));
	assert_int_equal(mock.start_calls, 1);
	assert_int_equal(count_staged(), 0); /* a's staged file was removed */
	assert_string_equal(content_of("a"), "old a\n");
}

static void test_stale_staged_removed(void **state)
{
	(void)state;
	write_file(STAGED_PREFIX "99999.7", "left by a crash\n");
	assert_int_equal(count_staged(), 1);
	struct txn_batch batch = batch_write_a("new a\n");
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), 0);
	assert_int_equal(count_staged(), 0);
	assert_string_equal(content_of("a"), "new a\n");
}

static void test_no_openat2(void **state)
{
	(void)state;
	mock.no_openat2 = true;
	char outside[400], link[600];
	snprintf(outside, sizeof(outside), "%s/outside", tmp_dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(link, sizeof(link), "%s/out", target);
	assert_int_equal(symlink("../outside", link), 0);
	assert_int_equal(mkdir(strcat(strcpy(link, target), "/d"), 0755), 0);
	assert_int_equal(symlink("d", strcat(strcpy(link, target), "/cur")), 0);

	struct txn_op escape[1];
	op_write(&escape[0], "out/x", "escaped\n");
	struct txn_batch bad = batch_of(escape, 1);
	struct txn_error error;
	/* Ops follow no symlink at all (ops.c), the hand walk included. */
	assert_true(apply(&bad, 30, &error) < 0);
	assert_int_equal(error.status, TXN_ABORTED);
	assert_non_null(strstr(error.message, "would fail inside the window"));
	assert_non_null(strstr(error.message, "'out' is a symlink"));

	mock_reset();
	mock.no_openat2 = true;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	op_write(&ops[1], "cur/x", "through the link\n");
	struct txn_batch batch = batch_of(ops, 2);
	assert_true(apply(&batch, 30, &error) < 0);
	assert_non_null(strstr(error.message, "'cur' is a symlink"));
	assert_false(exists("d/x"));

	mock_reset();
	mock.no_openat2 = true;
	op_write(&ops[1], "d/x", "by its real path\n");
	assert_int_equal(apply(&batch, 30, &error), 0);
	assert_int_equal(mock.start_calls, 2);
	assert_string_equal(content_of("a"), "new a\n");
	assert_string_equal(content_of("d/x"), "by its real path\n");
	char escaped[500];
	struct stat st;
	snprintf(escaped, sizeof(escaped), "%s/x", outside);
	assert_int_equal(lstat(escaped, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_op_fails_in_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staged_file_swapped_for_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_and_setid_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_before_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_inside_window_finishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_source_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_staged_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_openat2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
