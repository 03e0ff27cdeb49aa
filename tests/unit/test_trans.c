/* SPDX-License-Identifier: MIT */
/*
 * test_trans.c: the trans method (txn/trans.c) on a kernel that has the TRANS
 * ioctls, simulated. The host kernel answers ENOTTY, so the Btrfs-specific calls are
 * mocked and everything else is real: a temporary directory on whatever filesystem
 * TMPDIR is, with fstatfs claiming Btrfs, TRANS_START/TRANS_END emulated per fd as
 * the kernel kept them (EINPROGRESS, EINVAL), and btrfs_util_sync_fd recorded.
 * Every wrapper falls through to the real call unless the mock is on.
 *
 * What is proven: the order stage -> durable -> TRANS_START -> in place -> TRANS_END
 * -> sync; no fsync-family call inside the window; the watchdog ends a stuck window
 * from another thread; each TRANS_START error maps to its status, exit code and
 * message; staged files are gone on every path; the in-flight marker exists for
 * the whole window, is gone after it, and outlives a process that dies inside it;
 * without openat2 the method runs, paths still confined by resolve.c's fallback.
 *
 * wrap: ioctl fsync fdatasync syncfs sync fstatfs renameat btrfs_util_sync_fd syscall
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <btrfsutil.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "txn.h"

#define STAGED_PREFIX ".btrfs-txn-trans."
#define MAX_EVENTS 256
#define MAX_FDS 4096

/* ---- the mock ------------------------------------------------------------------ */

static struct {
	bool on;                  /* emulate TRANS ioctls and record calls */
	bool claim_btrfs;         /* fstatfs reports BTRFS_SUPER_MAGIC */
	int fail_start_call;      /* 1-based TRANS_START call that fails (1 = the probe) */
	int fail_start_errno;
	int fail_end_call;        /* 1-based TRANS_END call that fails */
	int fail_end_errno;
	int sync_error;           /* btrfs_util_sync_fd fails with this errno */
	const char *stuck_rename; /* a rename to this name hangs until a TRANS_END */
	bool interrupt_at_first_fsync;
	bool interrupt_at_window_start;
	const char *swap_staged_for_link; /* at the window's start, staged files become
					   * symlinks to this path (a tree user's race) */
	bool no_openat2;          /* openat2 answers ENOSYS, as before Linux 5.6 */

	pthread_mutex_t lock;
	int start_calls, end_calls, end_without_transaction;
	bool held[MAX_FDS];       /* a transaction is held on this fd */
	int held_count;
	int fsync_in_window;      /* fsync-family calls while a transaction was held */
	pid_t end_tid;            /* thread of the last successful TRANS_END */
	bool stuck_released_by_end;
	char events[MAX_EVENTS][96];
	int n_events;
	/* the tree as TRANS_START (window) and TRANS_END (window) saw it */
	int staged_at_start, staged_at_end;
	char a_at_start[32], a_at_end[32];
	/* the in-flight marker as TRANS_START and TRANS_END (window) saw it */
	bool marker_at_start, marker_at_end;
	char marker_text[1024];
} mock = { .lock = PTHREAD_MUTEX_INITIALIZER };

static char tmp_dir[256];   /* P */
static char target[300];    /* P/T */
static pid_t main_tid;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	pthread_mutex_lock(&mock.lock);
	if (mock.n_events < MAX_EVENTS) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(mock.events[mock.n_events++], sizeof(mock.events[0]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&mock.lock);
}

static const char *fd_name(int fd, char *buf, size_t size)
{
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	const char *slash = strrchr(path, '/');
	snprintf(buf, size, "%s", slash ? slash + 1 : path);
	return buf;
}

static int count_staged(void);
static void swap_staged(const char *link_to);
static void read_small(const char *name, char *buf, size_t size);
static bool marker_exists(char *text, size_t size);

static bool in_window(void)
{
	return __atomic_load_n(&mock.held_count, __ATOMIC_SEQ_CST) > 0;
}

static void note_flush(const char *call, int fd)
{
	char name[600];
	if (in_window())
		__atomic_add_fetch(&mock.fsync_in_window, 1, __ATOMIC_SEQ_CST);
	record("%s:%s", call, fd >= 0 ? fd_name(fd, name, sizeof(name)) : "-");
}

int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!mock.on || (request != BTRFS_IOC_TRANS_START && request != BTRFS_IOC_TRANS_END))
		return __real_ioctl(fd, request, arg);
	assert_true(fd >= 0 && fd < MAX_FDS);

	if (request == BTRFS_IOC_TRANS_START) {
		pthread_mutex_lock(&mock.lock);
		int call = ++mock.start_calls;
		pthread_mutex_unlock(&mock.lock);
		record("START");
		if (call == mock.fail_start_call) {
			errno = mock.fail_start_errno;
			return -1;
		}
		if (mock.held[fd]) {
			errno = EINPROGRESS;
			return -1;
		}
		if (call == 2) {
			mock.staged_at_start = count_staged();
			read_small("a", mock.a_at_start, sizeof(mock.a_at_start));
			mock.marker_at_start = marker_exists(mock.marker_text, sizeof(mock.marker_text));
			if (mock.interrupt_at_window_start)
				txn_interrupted = SIGINT;
			if (mock.swap_staged_for_link)
				swap_staged(mock.swap_staged_for_link);
		}
		mock.held[fd] = true;
		__atomic_add_fetch(&mock.held_count, 1, __ATOMIC_SEQ_CST);
		return 0;
	}

	pthread_mutex_lock(&mock.lock);
	int call = ++mock.end_calls;
	pthread_mutex_unlock(&mock.lock);
	record("END");
	if (!mock.held[fd]) {
		mock.end_without_transaction++;
		errno = EINVAL; /* what the kernel said when no transaction was held */
		return -1;
	}
	if (call == 2) {
		mock.staged_at_end = count_staged();
		read_small("a", mock.a_at_end, sizeof(mock.a_at_end));
		mock.marker_at_end = marker_exists(NULL, 0);
	}
	mock.held[fd] = false;
	__atomic_sub_fetch(&mock.held_count, 1, __ATOMIC_SEQ_CST);
	mock.end_tid = gettid_();
	if (call == mock.fail_end_call) {
		errno = mock.fail_end_errno;
		return -1;
	}
	return 0;
}

int __real_fstatfs(int fd, struct statfs *buf);
int __wrap_fstatfs(int fd, struct statfs *buf)
{
	int r = __real_fstatfs(fd, buf);
	if (r == 0 && mock.on && mock.claim_btrfs)
		buf->f_type = BTRFS_SUPER_MAGIC;
	return r;
}

int __real_fsync(int fd);
int __wrap_fsync(int fd)
{
	if (!mock.on)
		return __real_fsync(fd);
	note_flush("fsync", fd);
	if (mock.interrupt_at_first_fsync) {
		mock.interrupt_at_first_fsync = false;
		txn_interrupted = SIGINT;
	}
	return __real_fsync(fd);
}

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
	if (mock.on)
		note_flush("fdatasync", fd);
	return __real_fdatasync(fd);
}

int __real_syncfs(int fd);
int __wrap_syncfs(int fd)
{
	if (mock.on)
		note_flush("syncfs", fd);
	return __real_syncfs(fd);
}

void __real_sync(void);
void __wrap_sync(void)
{
	if (mock.on) {
		note_flush("sync", -1);
		return; /* the host's whole page cache is not this test's business */
	}
	__real_sync();
}

enum btrfs_util_error __real_btrfs_util_sync_fd(int fd);
enum btrfs_util_error __wrap_btrfs_util_sync_fd(int fd)
{
	if (!mock.on)
		return __real_btrfs_util_sync_fd(fd);
	note_flush("btrfs_sync", fd);
	if (mock.sync_error) {
		errno = mock.sync_error;
		return BTRFS_UTIL_ERROR_SYNC_FAILED;
	}
	return BTRFS_UTIL_OK;
}

int __real_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int __wrap_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (mock.on) {
		record("rename:%s->%s", oldpath, newpath);
		if (mock.stuck_rename && strcmp(newpath, mock.stuck_rename) == 0 && in_window()) {
			/* A stuck op: it returns only once someone ended the transaction
			 * (bounded, so a broken watchdog fails the test instead of hanging). */
			for (int i = 0; i < 10000 && in_window(); i++)
				usleep(1000);
			mock.stuck_released_by_end = !in_window();
		}
	}
	return __real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

long __real_syscall(long number, ...);
long __wrap_syscall(long number, ...)
{
	va_list ap;
	va_start(ap, number);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (mock.on && mock.no_openat2 && number == SYS_openat2) {
		errno = ENOSYS;
		return -1;
	}
	return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- fixture ------------------------------------------------------------------- */

static void write_file(const char *name, const char *content)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", target, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void read_small(const char *name, char *buf, size_t size)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", target, name);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

static const char *content_of(const char *name)
{
	static char buf[256];
	read_small(name, buf, sizeof(buf));
	return buf;
}

static bool exists(const char *name)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", target, name);
	return lstat(path, &st) == 0;
}

static int count_staged(void)
{
	DIR *dir = opendir(target);
	int n = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir)))
		n += strncmp(e->d_name, STAGED_PREFIX, strlen(STAGED_PREFIX)) == 0;
	if (dir)
		closedir(dir);
	return n;
}

/* Each staged file in T's root renamed to NAME.real, NAME made a symlink to @link_to. */
static void swap_staged(const char *link_to)
{
	DIR *dir = opendir(target);
	struct dirent *e;
	char names[16][256];
	int n = 0;
	while (dir && (e = readdir(dir)) && n < 16)
		if (strncmp(e->d_name, STAGED_PREFIX, strlen(STAGED_PREFIX)) == 0 && !strstr(e->d_name, ".real"))
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	if (dir)
		closedir(dir);
	for (int i = 0; i < n; i++) {
		char from[600], to[608];
		snprintf(from, sizeof(from), "%.299s/%.255s", target, names[i]);
		snprintf(to, sizeof(to), "%.555s.real", from);
		assert_int_equal(rename(from, to), 0);
		assert_int_equal(symlink(link_to, from), 0);
	}
}

static bool state_dir_exists(void)
{
	char path[400];
	struct stat st;
	snprintf(path, sizeof(path), "%s/.btrfs-txn", tmp_dir);
	return stat(path, &st) == 0;
}

/* Whether P/.btrfs-txn/T/trans-inflight exists; its text into @text when given. */
static bool marker_exists(char *text, size_t size)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/.btrfs-txn/T/trans-inflight", tmp_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (text) {
		ssize_t n = read(fd, text, size - 1);
		text[n > 0 ? n : 0] = '\0';
	}
	close(fd);
	return true;
}

static const char *history_text(void)
{
	static char buf[8192];
	char path[400];
	snprintf(path, sizeof(path), "%s/.btrfs-txn/T/history.jsonl", tmp_dir);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	return buf;
}

/* Index of the @nth (0-based) event starting with @prefix, or -1. */
static int event_index(const char *prefix, int nth)
{
	for (int i = 0; i < mock.n_events; i++)
		if (strncmp(mock.events[i], prefix, strlen(prefix)) == 0 && nth-- == 0)
			return i;
	return -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void mock_reset(void)
{
	pthread_mutex_lock(&mock.lock);
	bool *held = mock.held;
	memset(held, 0, sizeof(mock.held));
	mock.on = true;
	mock.claim_btrfs = true;
	mock.fail_start_call = mock.fail_start_errno = 0;
	mock.fail_end_call = mock.fail_end_errno = 0;
	mock.sync_error = 0;
	mock.stuck_rename = NULL;
	mock.interrupt_at_first_fsync = mock.interrupt_at_window_start = false;
	mock.swap_staged_for_link = NULL;
	mock.no_openat2 = false;
	mock.start_calls = mock.end_calls = mock.end_without_transaction = 0;
	mock.held_count = 0;
	mock.fsync_in_window = 0;
	mock.end_tid = 0;
	mock.stuck_released_by_end = false;
	mock.n_events = 0;
	mock.staged_at_start = mock.staged_at_end = -1;
	mock.a_at_start[0] = mock.a_at_end[0] = '\0';
	mock.marker_at_start = mock.marker_at_end = false;
	mock.marker_text[0] = '\0';
	pthread_mutex_unlock(&mock.lock);
	txn_interrupted = 0;
}

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/test_trans.XXXXXX", base);
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(target, sizeof(target), "%s/T", tmp_dir);
	if (mkdir(target, 0755) < 0)
		return -1;
	write_file("a", "old a\n");
	write_file("b", "old b\n");
	write_file("c", "old c\n");
	main_tid = gettid_();
	mock_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* The engine ended every transaction it started itself, on every path. */
	int held = mock.held_count;
	mock.on = false;
	txn_interrupted = 0;
	nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return held == 0 ? 0 : -1;
}

/* ---- batches ------------------------------------------------------------------- */

static void op_write(struct txn_op *op, const char *path, const char *content)
{
	*op = (struct txn_op){ .kind = TXN_OP_WRITE, .path = (char *)path,
			       .content = (unsigned char *)content, .content_len = strlen(content) };
}

static struct txn_batch batch_of(struct txn_op *ops, size_t n)
{
	return (struct txn_batch){ .ops = ops, .n_ops = n, .description = "unit test" };
}

static int apply(const struct txn_batch *batch, double timeout, struct txn_error *error)
{
	struct txn_options options = { .lock_timeout = 1, .trans_timeout = timeout };
	struct txn_result result;
	memset(error, 0, sizeof(*error));
	return txn_apply_trans(target, batch, &options, &result, error);
}

/* ---- tests --------------------------------------------------------------------- */

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
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
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

static void test_enotty(void **state)
{
	(void)state;
	mock.fail_start_call = 1;
	mock.fail_start_errno = ENOTTY;
	struct txn_op ops[2];
	op_write(&ops[0], "a", "new a\n");
	ops[1] = (struct txn_op){ .kind = TXN_OP_DELETE, .path = "b" };
	struct txn_batch batch = batch_of(ops, 2);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -ENOTTY);
	assert_int_equal(error.status, TXN_UNSUPPORTED);
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	char text[2048];
	txn_error_string(&error, text, sizeof(text));
	assert_non_null(strstr(text, u.release));
	assert_non_null(strstr(text, "removed in Linux 4.17"));
	assert_non_null(strstr(text, "--method snapshot"));
	assert_null(strchr(text, '\n'));
	/* Nothing touched: no staging, no flush, no state directory, same tree. */
	assert_int_equal(mock.start_calls, 1);
	assert_int_equal(event_index("fsync:", 0), -1);
	assert_int_equal(event_index("btrfs_sync:", 0), -1);
	assert_int_equal(count_staged(), 0);
	assert_false(state_dir_exists());
	assert_string_equal(content_of("a"), "old a\n");
	assert_true(exists("b"));
}

static void test_eperm(void **state)
{
	(void)state;
	mock.fail_start_call = 1;
	mock.fail_start_errno = EPERM;
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -EPERM);
	assert_int_equal(error.status, TXN_UNSUPPORTED);
	assert_int_equal(error.errnum, EPERM);
	assert_non_null(strstr(error.message, "needs CAP_SYS_ADMIN"));
	assert_int_equal(count_staged(), 0);
	assert_false(state_dir_exists());
	assert_string_equal(content_of("a"), "old a\n");
}

/* Other errors abort with exit 1, at the probe and at the window's own START (after
 * staging: the staged files must go). */
static void test_other_start_errors(void **state)
{
	(void)state;
	static const int errors[] = { EROFS, ENOMEM, EIO, ENOSPC, EINPROGRESS };
	for (int call = 1; call <= 2; call++) {
		for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
			mock_reset();
			mock.fail_start_call = call;
			mock.fail_start_errno = errors[i];
			struct txn_op ops[2];
			op_write(&ops[0], "a", "new a\n");
			op_write(&ops[1], "b", "new b\n");
			struct txn_batch batch = batch_of(ops, 2);
			struct txn_error error;
			assert_int_equal(apply(&batch, 30, &error), -errors[i]);
			assert_int_equal(error.status, TXN_ABORTED);
			assert_int_equal(error.errnum, errors[i]);
			assert_non_null(strstr(error.message, "BTRFS_IOC_TRANS_START"));
			assert_non_null(strstr(error.message, target));
			assert_int_equal(mock.start_calls, call);
			assert_int_equal(count_staged(), 0);
			assert_string_equal(content_of("a"), "old a\n");
			assert_string_equal(content_of("b"), "old b\n");
			/* Staging happened only when the probe passed. */
			assert_int_equal(event_index("fsync:" STAGED_PREFIX, 0) >= 0, call == 2);
		}
	}
}

/* ENOTTY at the window's START (the probe passed): same message, staged files gone. */
static void test_enotty_at_window(void **state)
{
	(void)state;
	mock.fail_start_call = 2;
	mock.fail_start_errno = ENOTTY;
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -ENOTTY);
	assert_int_equal(error.status, TXN_UNSUPPORTED);
	assert_non_null(strstr(error.message, "4.17"));
	assert_int_equal(count_staged(), 0);
	assert_string_equal(content_of("a"), "old a\n");
	assert_non_null(strstr(history_text(), "\"result\":\"aborted\""));
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

/* A window that is not stuck is not touched by the watchdog, however short. */
static void test_watchdog_quiet_when_in_time(void **state)
{
	(void)state;
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
	struct txn_error error;
	assert_int_equal(apply(&batch, 5, &error), 0);
	assert_int_equal(mock.end_tid, main_tid);
	assert_int_equal(mock.end_calls, 2);
	assert_string_equal(content_of("a"), "new a\n");
}

/* An op that fails inside the window (its outcome depended on an earlier op, so the
 * preflight could not judge it): earlier ops stay, later ones do not run. */
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

/* T's root is writable by the tree's users, and staged files wait there until the
 * window: one swapped for a symlink to a file outside must not have that file
 * chmod'ed (fchmodat follows links) or moved into place. */
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

/* The owner rules of ops.c, in place: a write over a set-id file someone else owns
 * makes it ours with the default mode; a chown clears set-id bits; a symlink on an
 * op's path is refused before the window, naming it. Needs root for the chowns. */
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

/* What can be known to fail is refused before the window, with nothing staged. */
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

/* Inside the window a signal does not cut the change short: it is finished. */
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

static void test_end_and_sync_failures(void **state)
{
	(void)state;
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
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
	op_write(&ops[0], "a", "newer a\n");
	assert_int_equal(apply(&batch, 30, &error), -EIO);
	assert_int_equal(error.status, TXN_NEEDS_PERSON);
	assert_non_null(strstr(error.message, "the sync that makes them durable failed"));
	assert_int_equal(count_staged(), 0);
}

static void test_stale_staged_removed(void **state)
{
	(void)state;
	write_file(STAGED_PREFIX "99999.7", "left by a crash\n");
	assert_int_equal(count_staged(), 1);
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), 0);
	assert_int_equal(count_staged(), 0);
	assert_string_equal(content_of("a"), "new a\n");
}

/* The in-flight marker is durable before TRANS_START, there for the whole window,
 * names the ops, and is gone once the run has synced and reported. */
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

/* A window that never opened (TRANS_START failed) leaves no marker behind. */
static void test_marker_gone_when_window_fails(void **state)
{
	(void)state;
	mock.fail_start_call = 2;
	mock.fail_start_errno = EIO;
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
	struct txn_error error;
	assert_int_equal(apply(&batch, 30, &error), -EIO);
	assert_false(marker_exists(NULL, 0));
}

/* A process that dies inside the window leaves the marker: status reports it,
 * recover and a new apply refuse with TXN_NEEDS_PERSON naming the ops and the file,
 * and once a person deleted it, recover is clean again. */
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

/* Kernels with the TRANS ioctls predate openat2 (5.6): the method runs there, with
 * resolve.c walking paths by hand, and a path out of the target is still refused.
 * Last in the list: once openat2 answered ENOSYS, the process never asks again. */
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

static void test_verify_refused(void **state)
{
	(void)state;
	char *argv[] = { "true", NULL };
	struct txn_op ops[1];
	op_write(&ops[0], "a", "new a\n");
	struct txn_batch batch = batch_of(ops, 1);
	batch.verify.argv = argv;
	batch.verify.argc = 1;
	struct txn_error error;
	assert_true(apply(&batch, 30, &error) < 0);
	assert_int_equal(error.status, TXN_INVALID);
	assert_non_null(strstr(error.message, "verify hook"));
	assert_int_equal(mock.start_calls, 0);
	assert_string_equal(content_of("a"), "old a\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_of_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_btrfs_no_ioctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enotty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eperm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_start_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enotty_at_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_ends_stuck_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_quiet_when_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_fails_in_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staged_file_swapped_for_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_and_setid_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_before_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_inside_window_finishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_source_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_and_sync_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_staged_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marker_spans_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marker_gone_when_window_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marker_outlives_death_in_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_openat2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
