/* SPDX-License-Identifier: MIT */
/*
 * test_trans_window.c: the trans method's window (txn/trans.c, trans_window.c) on a
 * kernel that has the TRANS ioctls, simulated (trans_fixture.h).
 *
 * What is proven: the order stage -> durable -> TRANS_START -> in place -> TRANS_END
 * -> sync; no fsync-family call inside the window; the watchdog ends a stuck window
 * from another thread; each TRANS_START error maps to its status, exit code and
 * message; staged files are gone on every path; the in-flight marker exists for the
 * whole window, is gone after it, and outlives a process that dies inside it.
 *
 * wrap: ioctl fsync fdatasync syncfs sync fstatfs renameat btrfs_util_sync_fd syscall
 */
#include "trans_fixture.h"

static void test_order_of_calls(void **state)
{
	(void)state;
	char source[400];
	snprintf(source, sizeof(source), "%s/source.bin", tmp_dir);
	FILE *f = fopen(source, "we");
	assert_non_null(f);
	fputs("copied bytes\n", f);
	fclose(f);

	struct txn_op ops[7];
	op_write(&ops[0], "a", "new a\n");
	ops[1] = (struct txn_op){ .kind = TXN_OP_COPY, .path = "c", .source = source };
	ops[2] = (struct txn_op){ .kind = TXN_OP_MKDIR, .path = "d", .has_mode = true, .mode = 0750 };
	op_write(&ops[3], "d/x", "in d\n");
	ops[4] = (struct txn_op){ .kind = TXN_OP_DELETE, .path = "b" };
	ops[5] = (struct txn_op){ .kind = TXN_OP_SYMLINK, .path = "cur", .link_target = "a" };
	ops[6] = (struct txn_op){ .kind = TXN_OP_CHMOD, .path = "a", .mode = 0600 };
	struct txn_batch batch = batch_of(ops, 7);
	struct txn_error error;
	int r = apply(&batch, 30, &error);
	assert_int_equal(r, 0);

	/* The probe (START, END) comes before anything is written. */
	int probe_start = event_index("START", 0), probe_end = event_index("END", 0);
	int start = event_index("START", 1), end = event_index("END", 1);
	int first_fsync = event_index("fsync:", 0), sync = event_index("btrfs_sync:", 0);
	assert_int_equal(probe_start, 0);
	assert_int_equal(probe_end, 1);
	assert_true(first_fsync > probe_end);
	/* Three staged files, each fsynced, then T itself, all before the window. */
	for (int i = 0; i < 3; i++) {
		int k = event_index("fsync:" STAGED_PREFIX, i);
		assert_true(k > probe_end && k < start);
	}
	assert_int_equal(event_index("fsync:" STAGED_PREFIX, 3), -1);
	int dir_fsync = event_index("fsync:T", 0);
	assert_true(dir_fsync > event_index("fsync:" STAGED_PREFIX, 2) && dir_fsync < start);
	/* Every staged file is renamed into place inside the window. */
	for (int i = 0; i < 3; i++) {
		int k = event_index("rename:" STAGED_PREFIX, i);
		assert_true(k > start && k < end);
	}
	/* Then TRANS_END, then the sync, and nothing fsync-like inside the window. */
	assert_true(start > dir_fsync && end > start && sync > end);
	assert_int_equal(event_index("btrfs_sync:", 1), -1);
	assert_int_equal(mock.fsync_in_window, 0);
	for (int i = start; i <= end; i++) {
		assert_null(strstr(mock.events[i], "sync"));
	}
	assert_int_equal(mock.start_calls, 2);
	assert_int_equal(mock.end_calls, 2);
	assert_int_equal(mock.end_without_transaction, 0);
	assert_int_equal(mock.end_tid, main_tid); /* ended by the engine, not the watchdog */

	/* What the window saw: everything staged, nothing changed yet; and at its end,
	 * the change done and the staged files consumed. */
	assert_int_equal(mock.staged_at_start, 3);
	assert_string_equal(mock.a_at_start, "old a\n");
	assert_int_equal(mock.staged_at_end, 0);
	assert_string_equal(mock.a_at_end, "new a\n");

	struct stat st;
	char path[600];
	assert_string_equal(content_of("a"), "new a\n");
	snprintf(path, sizeof(path), "%s/a", target);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_string_equal(content_of("c"), "copied bytes\n");
	assert_string_equal(content_of("d/x"), "in d\n");
	snprintf(path, sizeof(path), "%s/d", target);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_false(exists("b"));
	char link[16] = "";
	snprintf(path, sizeof(path), "%s/cur", target);
	assert_int_equal(readlink(path, link, sizeof(link) - 1), 1);
	assert_string_equal(link, "a");
	assert_int_equal(count_staged(), 0);
	assert_non_null(strstr(history_text(), "\"kind\":\"trans\""));
	assert_non_null(strstr(history_text(), "\"result\":\"committed\""));
}

static void test_not_btrfs_no_ioctl(void **state)
{
	(void)state;
	mock.claim_btrfs = false;
	struct txn_batch batch = batch_write_a("new a\n");
	struct txn_error error;
	assert_true(apply(&batch, 30, &error) < 0);
	assert_int_equal(error.status, TXN_UNSUPPORTED);
	assert_non_null(strstr(error.message, "is not on a Btrfs filesystem"));
	/* A btrfs ioctl number means something else to other drivers: never issued. */
	assert_int_equal(mock.start_calls, 0);
	assert_int_equal(mock.end_calls, 0);
	assert_false(state_dir_exists());
	assert_string_equal(content_of("a"), "old a\n");
}

/* Every failing TRANS_START, at the probe (call 1, before anything is written) and
 * at the window's own START (call 2, after staging): its status, errno and words;
 * nothing changed, nothing staged left, no marker. */
static const struct start_error_case {
	int call;
	int errnum;
	enum txn_status status;
	const char *says;
} start_error_cases[] = {
	{ 1, ENOTTY, TXN_UNSUPPORTED, "removed in Linux 4.17" },
	{ 2, ENOTTY, TXN_UNSUPPORTED, "removed in Linux 4.17" },
	{ 1, EPERM, TXN_UNSUPPORTED, "needs CAP_SYS_ADMIN" },
	{ 1, EROFS, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 2, EROFS, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 1, ENOMEM, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 2, ENOMEM, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 1, EIO, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 2, EIO, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 1, ENOSPC, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 2, ENOSPC, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 1, EINPROGRESS, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
	{ 2, EINPROGRESS, TXN_ABORTED, "BTRFS_IOC_TRANS_START" },
};

static void test_start_errors(void **state)
{
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	for (size_t i = 0; i < sizeof(start_error_cases) / sizeof(start_error_cases[0]); i++) {
		const struct start_error_case *c = &start_error_cases[i];
		/* A fresh P/T each time: the probe must leave no state directory. */
		assert_int_equal(teardown(state), 0);
		assert_int_equal(setup(state), 0);
		mock.fail_start_call = c->call;
		mock.fail_start_errno = c->errnum;
		struct txn_op ops[2];
		op_write(&ops[0], "a", "new a\n");
		ops[1] = (struct txn_op){ .kind = TXN_OP_DELETE, .path = "b" };
		struct txn_batch batch = batch_of(ops, 2);
		struct txn_error error;
		assert_int_equal(apply(&batch, 30, &error), -c->errnum);
		assert_int_equal(error.status, c->status);
		char text[2048];
		txn_error_string(&error, text, sizeof(text));
		assert_non_null(strstr(text, c->says));
		assert_null(strchr(text, '\n'));
		if (c->errnum == ENOTTY) {
			/* strerror(ENOTTY) would only repeat the sentence less clearly. */
			assert_non_null(strstr(text, u.release));
			assert_non_null(strstr(text, "--method snapshot"));
		} else {
			assert_int_equal(error.errnum, c->errnum);
		}
		if (c->status == TXN_ABORTED)
			assert_non_null(strstr(text, target));
		assert_int_equal(mock.start_calls, c->call);
		assert_int_equal(count_staged(), 0);
		assert_string_equal(content_of("a"), "old a\n");
		assert_true(exists("b"));
		assert_false(marker_exists(NULL, 0));
		/* Staging happened only when the probe passed; a refused probe leaves no
		 * trace at all, a refused window an "aborted" line. */
		assert_int_equal(event_index("fsync:" STAGED_PREFIX, 0) >= 0, c->call == 2);
		if (c->call == 1) {
			assert_int_equal(event_index("btrfs_sync:", 0), -1);
			assert_false(state_dir_exists());
		} else {
			assert_non_null(strstr(history_text(), "\"result\":\"aborted\""));
		}
	}
}

static void test_watchdog_ends_stuck_window(void **state)
{
	(void)state;
	struct txn_op ops[3];
	op_write(&ops[0], "a", "new a\n");
	op_write(&ops[1], "b", "new b\n");
	op_write(&ops[2], "c", "new c\n");
	struct txn_batch batch = batch_of(ops, 3);
	mock.stuck_rename = "b";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct txn_error error;
	int r = apply(&batch, 0.2, &error);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	assert_true(r < 0);
	assert_true(mock.stuck_released_by_end);  /* the stuck op was freed by a TRANS_END */
	assert_true(elapsed < 5.0);
	assert_int_not_equal(mock.end_tid, main_tid); /* issued by the watchdog thread */
	assert_int_equal(mock.end_calls, 2);          /* probe + watchdog: exactly once */
	assert_int_equal(mock.end_without_transaction, 0);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_non_null(strstr(error.message, "--trans-timeout (0.2 s)"));
	assert_non_null(strstr(error.message, "watchdog ended the Btrfs transaction"));
	assert_non_null(strstr(error.message, "ops 0-1 of 3 took effect, op 2 did not"));
	/* The op in flight finished; the next one never started; nothing staged is left;
	 * what took effect was synced after the window. */
	assert_string_equal(content_of("a"), "new a\n");
	assert_string_equal(content_of("b"), "new b\n");
	assert_string_equal(content_of("c"), "old c\n");
	assert_int_equal(count_staged(), 0);
	assert_true(event_index("btrfs_sync:", 0) > event_index("END", 1));
	assert_int_equal(mock.fsync_in_window, 0);
	assert_non_null(strstr(history_text(), "\"result\":\"partial\""));
}

static void test_watchdog_quiet_when_in_time(void **state)
{
	(void)state;
	struct txn_batch batch = batch_write_a("new a\n");
	struct txn_error error;
	assert_int_equal(apply(&batch, 5, &error), 0);
	assert_int_equal(mock.end_tid, main_tid);
	assert_int_equal(mock.end_calls, 2);
	assert_string_equal(content_of("a"), "new a\n");
}

static void test_end_and_sync_failures(void **state)
{
	(void)state;
	struct txn_batch batch = batch_write_a("new a\n");
	struct txn_error error;

	mock.fail_end_call = 2;
	mock.fail_end_errno = EIO;
	assert_int_equal(apply(&batch, 30, &error), -EIO);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_non_null(strstr(error.message, "TRANS_END failed"));
	assert_string_equal(content_of("a"), "new a\n");
	assert_int_equal(count_staged(), 0);

	mock_reset();
	mock.sync_error = EIO;
	batch = batch_write_a("newer a\n");
	assert_int_equal(apply(&batch, 30, &error), -EIO);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_non_null(strstr(error.message, "the sync that makes them durable failed"));
	assert_int_equal(count_staged(), 0);
}

static void test_verify_refused(void **state)
{
	(void)state;
	char *argv[] = { "true", NULL };
	struct txn_batch batch = batch_write_a("new a\n");
	batch.verify.argv = argv;
	batch.verify.argc = 1;
	struct txn_error error;
	assert_true(apply(&batch, 30, &error) < 0);
	assert_int_equal(error.status, TXN_INVALID);
	assert_non_null(strstr(error.message, "verify hook"));
	assert_int_equal(mock.start_calls, 0);
	assert_string_equal(content_of("a"), "old a\n");
}

static void test_marker_spans_window(void **state)
{
	(void)state;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	ops[1] = (struct txn_op){ .kind = TXN_OP_RENAME, .path = "b", .to = "b2" };
	struct txn_batch batch = batch_of(ops, 2);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), 0);
	assert_true(mock.marker_at_start);
	assert_true(mock.marker_at_end);
	assert_non_null(strstr(mock.marker_text, "\ntxid "));
	assert_non_null(strstr(mock.marker_text, "\nop 0 write a\n"));
	assert_non_null(strstr(mock.marker_text, "\nop 1 rename b -> b2\n"));
	/* Its fsync and its directory's come before the window, not inside it. */
	int start = event_index("START", 1);
	int marker_fsync = event_index("fsync:trans-inflight", 0);
	assert_true(marker_fsync >= 0 && marker_fsync < start);
	assert_int_equal(mock.fsync_in_window, 0);
	assert_false(marker_exists(NULL, 0));
	struct txn_state st;
	assert_int_equal(txn_state_read(target, &st, &error), 0);
	free(st.kept);
	assert_false(st.trans_interrupted);
}

static void test_marker_outlives_death_in_window(void **state)
{
	(void)state;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	op_write(&ops[1], "c", "new c\n");
	struct txn_batch batch = batch_of(ops, 2);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Dies at the first step inside the window, as a power cut would stop it. */
		setenv("BTRFS_TXN_FAULT", "trans-started:exit", 1);
		struct txn_error child_error;
		apply(&batch, 30, &child_error);
		_exit(1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 99);
	assert_true(marker_exists(NULL, 0));

	struct txn_state st;
	struct txn_error error = { 0 };
	assert_int_equal(txn_state_read(target, &st, &error), 0);
	free(st.kept);
	assert_true(st.trans_interrupted);

	struct txn_options options = { .lock_timeout = 1 };
	struct txn_recover_result rec;
	assert_int_equal(txn_recover(target, &options, &rec, &error), -EUCLEAN);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_non_null(strstr(error.message, "trans window"));
	assert_non_null(strstr(error.message, "cut short"));
	assert_non_null(strstr(error.message, "write a, write c"));
	assert_non_null(strstr(error.message, "/.btrfs-txn/T/trans-inflight"));
	assert_null(strchr(error.message, '\n'));
	/* A new apply recovers first, so it refuses too, before touching anything. */
	mock_reset();
	op_write(&ops[0], "a", "newer a\n");
	assert_int_equal(apply(&batch, 30, &error), -EUCLEAN);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_string_equal(content_of("a"), "old a\n");
	assert_int_equal(mock.start_calls, 1); /* the probe only */

	char path[400];
	snprintf(path, sizeof(path), "%s/.btrfs-txn/T/trans-inflight", tmp_dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(txn_recover(target, &options, &rec, &error), 0);
	assert_int_equal(txn_state_read(target, &st, &error), 0);
	free(st.kept);
	assert_false(st.trans_interrupted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_of_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_btrfs_no_ioctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_ends_stuck_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_quiet_when_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_and_sync_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marker_spans_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marker_outlives_death_in_window, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
