/* SPDX-License-Identifier: MIT */
/*
 * trans_stage.c: the trans method's staged files. Before the window, the new content
 * of every write and copy goes to a file in T's root (T/.btrfs-txn-trans.PID.N),
 * fsynced with T, since nothing may fsync inside the window; in the window, each
 * staged file is renamed into place with the owner and mode the snapshot method
 * would give it. Called by trans.c only.
 */
#include "trans_parts.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "path.h"

/* Removes staged files a crashed or killed run left in T's root. Best effort: a
 * leftover is only clutter, never part of the tree's content. */
void trans_stage_remove_stale(int root_fd)
{
	int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (strncmp(entry->d_name, TRANS_TEMP_PREFIX, strlen(TRANS_TEMP_PREFIX)) != 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode))
			unlinkat(dirfd(dir), entry->d_name, 0);
	}
	closedir(dir);
}

/* Writes one op's new content to a staged file in T's root and fsyncs it. */
static int stage_one(int root_fd, size_t index, const struct txn_op *op, struct staged_file *s,
		     struct txn_error *error)
{
	static unsigned counter;
	const char *kind = txn_op_kind_name(op->kind);
	_cleanup_close_ int src_fd = -EBADF;
	struct stat src;
	if (op->kind == TXN_OP_COPY) {
		/* The same rule as the snapshot method's copy (ops.c). */
		src_fd = copy_source_open(op->source, &src);
		const char *problem = copy_source_problem(src_fd);
		if (problem)
			return txn_fail(error, TXN_ABORTED, src_fd == -EAGAIN ? src_fd : 0,
					"op %zu (copy '%s'): source '%s' %s", index, op->path,
					op->source, problem);
		if (src_fd < 0)
			return txn_fail(error, TXN_ABORTED, src_fd, "op %zu (copy '%s'): cannot open source '%s'",
					index, op->path, op->source);
		s->source_mode = src.st_mode & 0777;
		int r = copy_check_size(op, &src, root_fd, error);
		if (r < 0)
			return r;
	}
	snprintf(s->name, sizeof(s->name), TRANS_TEMP_PREFIX "%d.%u", (int)getpid(), counter++);
	_cleanup_close_ int fd = openat(root_fd, s->name,
					O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "op %zu (%s '%s'): cannot create staged file '%s'",
				index, kind, op->path, s->name);
	s->present = true;
	struct stat staged_st;
	if (fstat(fd, &staged_st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "op %zu (%s '%s'): staged file '%s'", index,
				kind, op->path, s->name);
	s->dev = staged_st.st_dev;
	s->ino = staged_st.st_ino;
	int r = op->kind == TXN_OP_COPY ? copy_file_data(src_fd, fd, src.st_size, op->max_size)
					: write_all(fd, op->content, op->content_len);
	/* Durable now, outside the window, where an fsync is allowed. */
	if (r == 0)
		r = fsync_fd(fd);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "op %zu (%s '%s'): staging to '%s'", index, kind,
				op->path, s->name);
	return 0;
}

static int interrupted_before_window(struct txn_error *error)
{
	return txn_fail(error, TXN_ABORTED, EINTR,
			"interrupted by signal %d before the trans window; nothing was changed",
			(int)txn_interrupted);
}

int trans_stage_all(const struct target *t, const struct txn_batch *batch,
		    struct staged_file *staged, struct txn_error *error)
{
	for (size_t i = 0; i < batch->n_ops; i++) {
		const struct txn_op *op = &batch->ops[i];
		int r = 0;
		if (txn_interrupted)
			return interrupted_before_window(error);
		if (op->kind == TXN_OP_WRITE || op->kind == TXN_OP_COPY)
			r = stage_one(t->fd, i, op, &staged[i], error);
		if (r < 0)
			return r;
	}
	/* The staged names too, so that the in-place renames never meet a name the
	 * disk does not know. */
	int r = fsync_fd(t->fd);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot fsync '%s'", t->path);
	if (txn_interrupted)
		return interrupted_before_window(error);
	return 0;
}

/* Removes staged files still present: on every path out, success included (an op
 * that was not reached leaves its file behind). */
void trans_stage_discard(int root_fd, struct staged_file *staged, size_t n)
{
	for (size_t i = 0; staged && i < n; i++)
		if (staged[i].present && (unlinkat(root_fd, staged[i].name, 0) == 0 || errno == ENOENT))
			staged[i].present = false;
}

/* In the window: a staged file takes its op's path, with the owner and mode the
 * snapshot method would give it (see ops.c), judged against the tree as it is now. */
int trans_stage_place(int root_fd, const struct txn_op *op, struct staged_file *s,
		      struct txn_error *error)
{
	const char *kind = txn_op_kind_name(op->kind);
	/* The rule of owner.c, as ops.c applies it: only a regular file of ours lends its
	 * owner, mode and attributes; anything else becomes ours with the op's mode or the
	 * default. */
	struct op_replaced replaced;
	_cleanup_close_ int parent_fd = op_open_replaced(root_fd, op, &replaced, error);
	if (parent_fd < 0)
		return parent_fd;
	mode_t mode = op_replacement_mode(op, &replaced, s->source_mode);
	/* The staged name lies in T's root, which the tree's users may write: hold it by
	 * O_PATH and check it is still our file, so that a symlink swapped in cannot turn
	 * the chmod below into a chmod of whatever it points to (fchmodat follows). */
	_cleanup_close_ int staged_fd = openat(root_fd, s->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat now;
	if (staged_fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s': staged file '%s'", kind, op->path,
				s->name);
	if (fstat(staged_fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_dev != s->dev ||
	    now.st_ino != s->ino)
		return txn_fail(error, TXN_ABORTED, EAGAIN, "%s '%s': staged file '%s' was replaced",
				kind, op->path, s->name);
	/* Real fds of the staged file (the held inode, through /proc or a checked open)
	 * and of the old file of ours, for owner, attributes and mode. */
	_cleanup_close_ int real_fd = reopen_fd(staged_fd, O_RDONLY | O_NONBLOCK);
	if (real_fd == -ENOENT) {
		real_fd = openat(root_fd, s->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (real_fd < 0 || fstat(real_fd, &now) < 0 || now.st_dev != s->dev || now.st_ino != s->ino)
			return txn_fail(error, TXN_ABORTED, real_fd < 0 ? errno : EAGAIN,
					"%s '%s': staged file '%s' was replaced", kind, op->path, s->name);
	}
	if (real_fd < 0)
		return txn_fail(error, TXN_ABORTED, real_fd, "%s '%s': staged file '%s'", kind, op->path,
				s->name);
	_cleanup_close_ int old_fd = op_open_replaced_ours(parent_fd, op, &replaced, error);
	if (old_fd < 0 && old_fd != -EBADF)
		return old_fd;
	int r = replacement_settle(real_fd, old_fd, mode);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "%s '%s': owner and mode", kind, op->path);
	if (renameat(root_fd, s->name, parent_fd, replaced.name) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s': rename into place", kind,
				op->path);
	s->present = false;
	return 0;
}
