/* SPDX-License-Identifier: MIT */
/*
 * trans_fixture.h: the shared fixture of the trans method's unit tests
 * (test_trans_window.c, test_trans_ops.c). The host kernel answers ENOTTY, so the
 * Btrfs-specific calls are mocked and everything else is real: a temporary directory
 * P/T on whatever filesystem TMPDIR is, with fstatfs claiming Btrfs, TRANS_START and
 * TRANS_END emulated per fd as the kernel kept them (EINPROGRESS, EINVAL), and
 * btrfs_util_sync_fd recorded. Every wrapper falls through to the real call unless
 * the mock is on. A test file that includes this links with
 * " * wrap: ioctl fsync fdatasync syncfs sync fstatfs renameat btrfs_util_sync_fd syscall"
 * in its header comment.
 */
#pragma once

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

static inline pid_t gettid_(void)
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

static inline const char *fd_name(int fd, char *buf, size_t size)
{
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	const char *slash = strrchr(path, '/');
	snprintf(buf, size, "%s", slash ? slash + 1 : path);
	return buf;
}

static inline int count_staged(void);
static inline void swap_staged(const char *link_to);
static inline void read_small(const char *name, char *buf, size_t size);
static inline bool marker_exists(char *text, size_t size);

static inline bool in_window(void)
{
	return __atomic_load_n(&mock.held_count, __ATOMIC_SEQ_CST) > 0;
}

static inline void note_flush(const char *call, int fd)
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

static inline void write_file(const char *name, const char *content)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", target, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static inline void read_small(const char *name, char *buf, size_t size)
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

static inline const char *content_of(const char *name)
{
	static char buf[256];
	read_small(name, buf, sizeof(buf));
	return buf;
}

static inline bool exists(const char *name)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", target, name);
	return lstat(path, &st) == 0;
}

static inline int count_staged(void)
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
static inline void swap_staged(const char *link_to)
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

static inline bool state_dir_exists(void)
{
	char path[400];
	struct stat st;
	snprintf(path, sizeof(path), "%s/.btrfs-txn", tmp_dir);
	return stat(path, &st) == 0;
}

/* Whether P/.btrfs-txn/T/trans-inflight exists; its text into @text when given. */
static inline bool marker_exists(char *text, size_t size)
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

static inline const char *history_text(void)
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
static inline int event_index(const char *prefix, int nth)
{
	for (int i = 0; i < mock.n_events; i++)
		if (strncmp(mock.events[i], prefix, strlen(prefix)) == 0 && nth-- == 0)
			return i;
	return -1;
}

static inline int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static inline void mock_reset(void)
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

static inline int setup(void **state)
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

static inline int teardown(void **state)
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

static inline void op_write(struct txn_op *op, const char *path, const char *content)
{
	*op = (struct txn_op){ .kind = TXN_OP_WRITE, .path = (char *)path,
			       .content = (unsigned char *)content, .content_len = strlen(content) };
}

static inline struct txn_batch batch_of(struct txn_op *ops, size_t n)
{
	return (struct txn_batch){ .ops = ops, .n_ops = n, .description = "unit test" };
}

/* The batch most tests need: one write of @content to "a". */
static struct txn_op write_a_op[1];
static inline struct txn_batch batch_write_a(const char *content)
{
	op_write(&write_a_op[0], "a", content);
	return batch_of(write_a_op, 1);
}

static inline int apply(const struct txn_batch *batch, double timeout, struct txn_error *error)
{
	struct txn_options options = { .lock_timeout = 1, .trans_timeout = timeout };
	struct txn_result result;
	memset(error, 0, sizeof(*error));
	return txn_apply_trans(target, batch, &options, &result, error);
}
