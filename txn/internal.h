/* SPDX-License-Identifier: MIT */
/*
 * internal.h: helpers shared inside libbtrfs-txn, not part of its API: cleanup
 * attributes, error filling, small I/O helpers, and the modules' internal calls.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "batch.h"
#include "txn.h"

/* Cleanup in the systemd manner: the variable is released when it leaves scope. */
static inline void close_fdp(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_close_ __attribute__((cleanup(close_fdp)))
#define _cleanup_free_ __attribute__((cleanup(freep)))

static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -EBADF;
	return r;
}
#define TAKE_FD(fd) take_fd(&(fd))

/*
 * Fill @error (may be NULL) and return -@errnum, so that a failure reads
 * `return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", path);`.
 * @errnum may be given positive or negative.
 */
int txn_fail(struct txn_error *error, enum txn_status status, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Seconds on the monotonic clock. */
double txn_now(void);

/* Write all of @buf, retrying short writes and EINTR. Return 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* fsync(2) of a directory fd or path. Return 0 or -errno. */
int fsync_fd(int fd);

/*
 * Fault points for the test suites. BTRFS_TXN_FAULT=STEP[:ACTION] makes the process
 * stop at protocol step STEP: ACTION `kill` (default) sends itself SIGKILL, `stop`
 * SIGSTOP (so a harness can cut power), `exit` exits with status 99.
 * BTRFS_TXN_STEP_HOOK=COMMAND runs `sh -c COMMAND sh STEP` at every step (e.g. to
 * write a dm-log-writes mark). Both are for tests only and documented as such.
 */
void txn_step(const char *step);

/* path resolution beneath a root fd (resolve.c) */
#define TXN_RESOLVE_FLAGS_DEFAULT 0
int open_beneath(int root_fd, const char *path, int flags, mode_t mode);
/* Opens the directory holding @path's last component (O_PATH|O_DIRECTORY), and
 * points *ret_name at that component inside @path. */
int open_parent_beneath(int root_fd, const char *path, const char **ret_name);
/* Open again, with @flags, the very inode an O_PATH fd holds (through /proc/self/fd).
 * Return: the new fd, -ENOENT when /proc is not mounted, or another -errno. */
int reopen_fd(int path_fd, int flags);
/* chmod the inode an O_PATH fd holds (not a symlink: Linux would follow it). Return:
 * 0, -ENOENT when /proc is not mounted, or another -errno. */
int chmod_fd(int path_fd, mode_t mode);

/* ops.c */
int txn_op_apply(int root_fd, const struct txn_op *op, struct txn_error *error);
struct stat;
/* Opens a copy source for reading: not a symlink (-ELOOP), a regular file (-EINVAL),
 * the very inode looked at (-EAGAIN); fills @ret_st. Return: the fd or -errno. */
int copy_source_open(const char *source, struct stat *ret_st);
/* Copies @size bytes from @src_fd to the empty @dst_fd: a reflink where the
 * filesystem allows, else the data segments only (SEEK_DATA/SEEK_HOLE: holes stay
 * holes) by copy_file_range or pread/pwrite. A @size of 0 reads the source to its
 * end, at most @max_size bytes (0: TXN_COPY_DEFAULT_MAX_SIZE), else -EFBIG. -EIO when
 * the source shrank meanwhile. */
int copy_file_data(int src_fd, int dst_fd, off_t size, uint64_t max_size);
/* Refuses, before anything is written, a copy source larger than the op's max_size
 * or than the free space of the filesystem of @dst_dir_fd (one line naming the op,
 * the source and the sizes). Return: 0 or -errno. */
int copy_check_size(const struct txn_op *op, const struct stat *src, int dst_dir_fd,
		    struct txn_error *error);
/* The words for copy_source_open()'s own refusals ("is a symlink; ..."), else NULL. */
const char *copy_source_problem(int r);
/* chmod the inode @fd holds (O_PATH, not a symlink), found as @name in @parent_fd,
 * whose fstat is @st: through /proc, else by a checked open. Return: 0 or -errno,
 * -EOPNOTSUPP for a special file without /proc. */
int chmod_held(int parent_fd, const char *name, int fd, const struct stat *st, mode_t mode);
int remove_tree_at(int dir_fd, const char *name, struct txn_error *error,
		   const char *display_path);

/* precond.c */
/* The largest file a sha256 precondition reads (16 GiB): far above a config file or
 * a release archive, and a bound on how long a tree writer can make a precondition
 * (and so the lock) last by planting a huge sparse file. */
#define TXN_SHA256_MAX_SIZE (16ULL << 30)
/* The SHA-256 of what @fd reads to its end (at most TXN_SHA256_MAX_SIZE bytes).
 * Return: 0, -EFBIG past the bound, -EINTR when txn_interrupted, or -errno of read(2);
 * @ret_digest is written only on success. */
int sha256_fd(int fd, unsigned char ret_digest[32]);
/* The SHA-256 of @len bytes at @data. Cannot fail. */
void sha256_bytes(const void *data, size_t len, unsigned char ret_digest[32]);
int txn_preconditions_check(int root_fd, const struct txn_batch *batch,
			    struct txn_error *error);

/* modified.c: whether an inode of the subvolume at @fd changed (ctime at or after
 * @since) in tree blocks written after @generation. */
struct timespec;
int subvolume_changed_since(int fd, uint64_t generation, const struct timespec *since,
			    bool *ret_changed);

/* target.c: the locks this process holds, "DEV:INO DEV:INO" (of their lock files),
 * for the verify hook's environment variable LOCKED_TARGETS_ENV. */
#define LOCKED_TARGETS_ENV "BTRFS_TXN_LOCKED_TARGETS"
void target_locks_held(char *buf, size_t size);
/* target.c: when a transaction failed and the target's filesystem is now read-only,
 * say so in @error (Btrfs turns read-only after a write error). */
struct target;
void target_note_read_only(const struct target *t, struct txn_error *error);

/* verify.c */
int txn_verify_run(const struct txn_verify *verify, const char *staging_path,
		   struct txn_error *error);
