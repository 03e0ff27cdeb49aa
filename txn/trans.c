/* SPDX-License-Identifier: MIT */
/*
 * trans.c: the legacy trans method: a batch applied in place, inside one Btrfs
 * transaction held open with BTRFS_IOC_TRANS_START / BTRFS_IOC_TRANS_END.
 *
 * Those ioctls exist only in kernels before 4.17 (deprecated in 4.14); later kernels
 * answer ENOTTY. One apply:
 *   open T (statfs says Btrfs) -> probe TRANS_START/END on a fresh fd of T, before
 *   anything is written (ENOTTY, EPERM: exit 4, nothing touched) -> lock, recover a
 *   snapshot journal -> remove staged files a crashed run left -> preconditions and a
 *   preflight of the ops -> stage the content of every write/copy in
 *   T/.btrfs-txn-trans.PID.N, fsync each and T -> TRANS_START (the window opens, a
 *   watchdog thread starts) -> ops in place -> TRANS_END -> leftovers removed ->
 *   BTRFS_IOC_SYNC -> a history line.
 *
 * Nothing inside the window may fsync or sync: the kernel ends the transaction when
 * the file holding it is fsynced, and every commit (sync, syncfs, an fsync that falls
 * back to a commit, BTRFS_IOC_SYNC) waits for the handle this process holds, so it
 * would wait for itself. That is why all data is written and made durable before the
 * window, and why the window only renames, links, unlinks and changes attributes.
 *
 * The window is the commit point: a signal before it aborts with T unchanged; inside
 * it, signals are ignored and the ops run to the end (the watchdog bounds how long).
 * This method is not crash atomic and cannot undo an op: a crash, a failing op or the
 * watchdog inside the window leave part of the change (TXN_NEEDS_PERSON here), which
 * the preflight makes unlikely but not impossible. See docs/trans-method.md.
 */
#include "internal.h"
#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>

#include "path.h"

/* Staged files live in T's root under this prefix; under the lock, any such name is
 * a leftover of a run that crashed, since only the lock holder makes them. */
#define TRANS_TEMP_PREFIX ".btrfs-txn-trans."
#define DEFAULT_FILE_MODE 0644

struct staged_file {
	char name[64];      /* in T's root; "" for ops that stage nothing */
	bool present;       /* exists and is ours to remove */
	mode_t source_mode; /* copy: the source's permission bits */
	dev_t dev;          /* the staged file's identity: T's root is writable by the */
	ino_t ino;          /* tree's users, who may swap the name before it is placed */
};

/* Fills @error for a failed TRANS_START; the probe and the window share this. */
static int trans_start_failed(const struct target *t, int errnum, struct txn_error *error)
{
	if (errnum == ENOTTY) {
		struct utsname u;
		const char *release = uname(&u) == 0 ? u.release : "unknown";
		/* errnum 0: strerror(ENOTTY) would only repeat the sentence less clearly. */
		txn_fail(error, TXN_UNSUPPORTED, 0,
			 "--method trans: this kernel (Linux %s) has no BTRFS_IOC_TRANS_START "
			 "(ENOTTY): the TRANS ioctls were removed in Linux 4.17; use --method snapshot",
			 release);
		return -ENOTTY;
	}
	if (errnum == EPERM)
		return txn_fail(error, TXN_UNSUPPORTED, EPERM,
				"--method trans: BTRFS_IOC_TRANS_START on '%s' needs CAP_SYS_ADMIN "
				"(run as root, or use --method snapshot)", t->path);
	return txn_fail(error, TXN_ABORTED, errnum,
			"--method trans: cannot start a Btrfs transaction on '%s' "
			"(BTRFS_IOC_TRANS_START)", t->path);
}

/* A fresh fd of T for the TRANS ioctls: the kernel keeps the transaction in the
 * file's private data, so it must be a file nobody reads directories through or
 * fsyncs. Checked to be Btrfs itself, since other drivers reuse the ioctl numbers. */
static int open_trans_fd(const struct target *t, struct txn_error *error)
{
	_cleanup_close_ int fd = openat(t->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", t->path);
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot statfs '%s'", t->path);
	if (sfs.f_type != BTRFS_SUPER_MAGIC)
		return txn_fail(error, TXN_UNSUPPORTED, 0, "'%s' is not on a Btrfs filesystem", t->path);
	return TAKE_FD(fd);
}

/* Whether TRANS_START answers, asked before anything is written; the empty
 * transaction it opens is ended at once. */
static int trans_probe(const struct target *t, struct txn_error *error)
{
	_cleanup_close_ int fd = open_trans_fd(t, error);
	if (fd < 0)
		return fd;
	if (ioctl(fd, BTRFS_IOC_TRANS_START) < 0)
		return trans_start_failed(t, errno, error);
	if (ioctl(fd, BTRFS_IOC_TRANS_END) < 0)
		return txn_fail(error, TXN_ABORTED, errno,
				"--method trans: cannot end the probing transaction on '%s' "
				"(BTRFS_IOC_TRANS_END)", t->path);
	return 0;
}

/* Removes staged files a crashed or killed run left in T's root. Best effort: a
 * leftover is only clutter, never part of the tree's content. */
static void remove_stale_staged(int root_fd)
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

/* Whether @a equals @b or one lies below the other. */
static bool paths_related(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;
	return strncmp(a, b, n) == 0 && (la == lb || (la > lb ? a[n] : b[n]) == '/');
}

/* Whether an earlier op may change what @index finds: it touches the op's path, its
 * destination, or something in the op's directory (e.g. mkdir "parents" making it). */
static bool depends_on_earlier(const struct txn_batch *batch, size_t index)
{
	const struct txn_op *op = &batch->ops[index];
	const char *paths[2] = { op->path, op->to };
	for (size_t i = 0; i < index; i++) {
		const struct txn_op *e = &batch->ops[i];
		for (size_t k = 0; k < 2 && paths[k]; k++) {
			const char *slash = strrchr(paths[k], '/');
			char parent[PATH_MAX];
			snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - paths[k]) : 0,
				 paths[k]);
			if (paths_related(paths[k], e->path) || (e->to && paths_related(paths[k], e->to)))
				return true;
			if (parent[0] && (paths_related(parent, e->path) ||
					  (e->to && paths_related(parent, e->to))))
				return true;
		}
	}
	return false;
}

static int preflight_fail(struct txn_error *error, size_t index, const struct txn_op *op,
			  int errnum, const char *why)
{
	return txn_fail(error, TXN_ABORTED, errnum,
			"--method trans: op %zu (%s '%s') would fail inside the window, where it "
			"could not be undone (%s); nothing was changed",
			index, txn_op_kind_name(op->kind), op->path, why);
}

/*
 * The in-place ops cannot be undone, so what can be known to fail is refused before
 * the window: a path that cannot be resolved beneath T, a missing file, a directory
 * where a file goes, a staged file that could not be renamed into another subvolume.
 * Ops whose outcome depends on an earlier op of the batch are judged in the window.
 */
static int preflight(int root_fd, const struct txn_batch *batch, struct txn_error *error)
{
	struct stat root_st;
	if (fstat(root_fd, &root_st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "--method trans: cannot stat the target");
	for (size_t i = 0; i < batch->n_ops; i++) {
		const struct txn_op *op = &batch->ops[i];
		if (txn_path_check(op->path, strlen(op->path)) != TXN_PATH_OK ||
		    (op->kind == TXN_OP_RENAME && txn_path_check(op->to, strlen(op->to)) != TXN_PATH_OK))
			return txn_fail(error, TXN_INVALID, EINVAL, "op %zu (%s '%s'): invalid path", i,
					txn_op_kind_name(op->kind), op->path);
		if (op->kind == TXN_OP_CHOWN &&
		    ((op->owner.present && !op->owner.resolved) || (op->group.present && !op->group.resolved)))
			return txn_fail(error, TXN_INVALID, EINVAL,
					"op %zu (chown '%s'): owner or group not resolved", i, op->path);
		if (depends_on_earlier(batch, i))
			continue;

		const char *name;
		/* As the ops resolve (ops.c): no symlink on the way. */
		_cleanup_close_ int parent_fd = open_parent_no_symlinks(root_fd, op->path, &name);
		char link[PATH_MAX];
		if (parent_fd == -ELOOP && symlink_in_path(root_fd, op->path, link, sizeof(link)) > 0) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof(why), "'%s' is a symlink, and ops do not follow symlinks", link);
			return preflight_fail(error, i, op, 0, why);
		}
		if (parent_fd == -ENOENT) {
			if ((op->kind == TXN_OP_DELETE && op->missing_ok) ||
			    (op->kind == TXN_OP_MKDIR && op->parents))
				continue;
			return preflight_fail(error, i, op, ENOENT, "its directory is missing");
		}
		if (parent_fd < 0)
			return preflight_fail(error, i, op, parent_fd, "cannot open its directory beneath the target");
		struct stat st;
		bool exists = fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (!exists && errno != ENOENT)
			return preflight_fail(error, i, op, errno, "cannot stat it");

		switch (op->kind) {
		case TXN_OP_WRITE:
		case TXN_OP_COPY: {
			struct stat parent_st;
			if (exists && S_ISDIR(st.st_mode))
				return preflight_fail(error, i, op, EISDIR, "a directory stands there");
			if (fstat(parent_fd, &parent_st) < 0)
				return preflight_fail(error, i, op, errno, "cannot stat its directory");
			/* The content is staged in T's root and renamed into place. */
			if (parent_st.st_dev != root_st.st_dev)
				return preflight_fail(error, i, op, EXDEV,
						      "its directory is in another subvolume or mount");
			break;
		}
		case TXN_OP_MKDIR:
			if (exists && !S_ISDIR(st.st_mode))
				return preflight_fail(error, i, op, ENOTDIR, "exists and is not a directory");
			break;
		case TXN_OP_DELETE:
			if (!exists && !op->missing_ok)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			break;
		case TXN_OP_SYMLINK:
			if (exists && S_ISDIR(st.st_mode))
				return preflight_fail(error, i, op, EISDIR, "a directory stands there");
			break;
		case TXN_OP_RENAME: {
			if (!exists)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			const char *to_name;
			_cleanup_close_ int to_fd = open_parent_no_symlinks(root_fd, op->to, &to_name);
			if (to_fd < 0)
				return preflight_fail(error, i, op, to_fd,
						      "cannot open the destination's directory");
			break;
		}
		case TXN_OP_CHMOD:
			if (!exists)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			if (S_ISLNK(st.st_mode))
				return preflight_fail(error, i, op, ELOOP, "is a symlink");
			break;
		case TXN_OP_CHOWN:
			if (!exists)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			break;
		}
	}
	return 0;
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

/* Removes staged files still present: on every path out, success included (an op
 * that was not reached leaves its file behind). */
static void discard_staged(int root_fd, struct staged_file *staged, size_t n)
{
	for (size_t i = 0; staged && i < n; i++)
		if (staged[i].present && (unlinkat(root_fd, staged[i].name, 0) == 0 || errno == ENOENT))
			staged[i].present = false;
}

/* In the window: a staged file takes its op's path, with the owner and mode the
 * snapshot method would give it (see ops.c), judged against the tree as it is now. */
static int place_staged(int root_fd, const struct txn_op *op, struct staged_file *s,
			struct txn_error *error)
{
	const char *kind = txn_op_kind_name(op->kind);
	const char *name;
	_cleanup_close_ int parent_fd = op_open_parent(root_fd, op, op->path, false, &name, error);
	if (parent_fd < 0)
		return parent_fd;
	struct stat old;
	bool have_old = fstatat(parent_fd, name, &old, AT_SYMLINK_NOFOLLOW) == 0;
	if (!have_old && errno != ENOENT)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s': cannot stat", kind, op->path);
	if (have_old && S_ISDIR(old.st_mode))
		return txn_fail(error, TXN_ABORTED, EISDIR, "%s '%s'", kind, op->path);
	/* The rule of owner.c: only a regular file of ours lends its owner, mode and
	 * attributes; anything else becomes ours with the op's mode or the default. */
	bool ours = have_old && S_ISREG(old.st_mode) && owned_by_us(&old);
	mode_t mode = DEFAULT_FILE_MODE;
	if (op->has_mode)
		mode = op->mode;
	else if (ours)
		mode = old.st_mode & 07777;
	else if (op->kind == TXN_OP_COPY)
		mode = s->source_mode;
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
	_cleanup_close_ int old_fd = -EBADF;
	if (ours) {
		old_fd = openat(parent_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		struct stat old_now;
		if (old_fd < 0 || fstat(old_fd, &old_now) < 0 || old_now.st_dev != old.st_dev ||
		    old_now.st_ino != old.st_ino)
			return txn_fail(error, TXN_ABORTED, old_fd < 0 ? errno : EAGAIN,
					"%s '%s': cannot open the file it replaces", kind, op->path);
	}
	int r = replacement_settle(real_fd, old_fd, mode);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "%s '%s': owner and mode", kind, op->path);
	if (renameat(root_fd, s->name, parent_fd, name) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s': rename into place", kind,
				op->path);
	s->present = false;
	return 0;
}

/*
 * The window and its watchdog. The transaction belongs to the file, not to a thread,
 * so a second thread can end it: when the window outlives its timeout, the watchdog
 * issues TRANS_END itself. That unblocks every commit waiting for the handle (other
 * writers' fsync and sync, and an op of ours that waits for a commit); the main
 * thread sees `expired` before its next op and stops. The mutex makes sure exactly
 * one of the two threads issues TRANS_END.
 */
struct window {
	int fd;                  /* the fd TRANS_START was issued on */
	struct timespec deadline; /* CLOCK_MONOTONIC */
	pthread_mutex_t mutex;
	pthread_cond_t wake;
	bool open;               /* the transaction is held on fd */
	bool finished;           /* the main thread is done with the window */
	bool expired;            /* the watchdog ended it */
	int watchdog_errno;      /* errno of the watchdog's TRANS_END, 0 when it worked */
	pthread_t thread;
};

static void *watchdog_main(void *arg)
{
	struct window *w = arg;
	pthread_mutex_lock(&w->mutex);
	int r = 0;
	while (!w->finished && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&w->wake, &w->mutex, &w->deadline);
	if (!w->finished && w->open) {
		w->open = false;
		w->expired = true;
		w->watchdog_errno = ioctl(w->fd, BTRFS_IOC_TRANS_END) < 0 ? errno : 0;
	}
	pthread_mutex_unlock(&w->mutex);
	return NULL;
}

static bool window_expired(struct window *w)
{
	pthread_mutex_lock(&w->mutex);
	bool expired = w->expired;
	pthread_mutex_unlock(&w->mutex);
	return expired;
}

/* TRANS_START on a fresh fd of T, then the watchdog. On failure nothing is open. */
static int window_open(struct window *w, const struct target *t, double timeout,
		       struct txn_error *error)
{
	*w = (struct window){ .fd = -EBADF };
	_cleanup_close_ int fd = open_trans_fd(t, error);
	if (fd < 0)
		return fd;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&w->mutex, NULL);

	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	if (ioctl(fd, BTRFS_IOC_TRANS_START) < 0) {
		int r = trans_start_failed(t, errno, error);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->mutex);
		return r;
	}
	w->open = true;
	w->fd = TAKE_FD(fd);
	long long ns = (long long)(timeout * 1e9);
	w->deadline.tv_sec += (time_t)(ns / 1000000000LL);
	w->deadline.tv_nsec += (long)(ns % 1000000000LL);
	if (w->deadline.tv_nsec >= 1000000000L) {
		w->deadline.tv_sec++;
		w->deadline.tv_nsec -= 1000000000L;
	}
	/* Signals stay with the main thread, which the caller's handlers expect. */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	int r = pthread_create(&w->thread, NULL, watchdog_main, w);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r != 0) {
		/* No window without a watchdog: end it before any op ran. */
		ioctl(w->fd, BTRFS_IOC_TRANS_END);
		close(w->fd);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->mutex);
		return txn_fail(error, TXN_ABORTED, r, "--method trans: cannot start the watchdog thread");
	}
	return 0;
}

/* Ends the window (unless the watchdog did), stops the watchdog, closes the fd.
 * Return: 0, or -errno of a failed TRANS_END issued by either thread. */
static int window_close(struct window *w)
{
	int end_errno = 0;
	pthread_mutex_lock(&w->mutex);
	w->finished = true;
	if (w->open) {
		w->open = false;
		if (ioctl(w->fd, BTRFS_IOC_TRANS_END) < 0)
			end_errno = errno;
	} else if (w->expired) {
		end_errno = w->watchdog_errno;
	}
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mutex);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->mutex);
	/* Closing also ends a transaction the kernel still holds for this file. */
	close(w->fd);
	w->fd = -EBADF;
	return -end_errno;
}

/* The ops, in order, in place; stops when the watchdog ended the window.
 * *ret_applied counts the ops that took effect. */
static int apply_in_place(int root_fd, const struct txn_batch *batch, struct staged_file *staged,
			  struct window *w, size_t *ret_applied, struct txn_error *error)
{
	size_t i;
	int r = 0;
	for (i = 0; i < batch->n_ops && r == 0 && !window_expired(w); i++) {
		const struct txn_op *op = &batch->ops[i];
		if (op->kind == TXN_OP_WRITE || op->kind == TXN_OP_COPY)
			r = place_staged(root_fd, op, &staged[i], error);
		else
			r = txn_op_apply(root_fd, op, error);
		if (r < 0)
			break;
	}
	*ret_applied = i;
	return r;
}

static void record_history(const struct target *t, const struct txn_batch *batch,
			   const struct txn_result *result, const char *started, const char *outcome,
			   const char *reason)
{
	struct history_entry e = {
		.txid = result->txid, .kind = "trans", .description = batch->description,
		.result = outcome, .reason = reason, .generation = result->generation,
		.previous = result->previous, .n_ops = (unsigned)batch->n_ops, .started = started,
	};
	history_append(t->state_fd, &e); /* best effort: the tree is what matters */
}

/* "ops 0-2", "op 0", or "no op", into @buf. */
static const char *describe_ops(size_t first, size_t end, char *buf, size_t size)
{
	if (end <= first)
		snprintf(buf, size, "no op");
	else if (end - first == 1)
		snprintf(buf, size, "op %zu", first);
	else
		snprintf(buf, size, "ops %zu-%zu", first, end - 1);
	return buf;
}

/* Everything after the lock: check, stage, window, sync, history. */
static int transact_in_place(struct target *t, const struct txn_batch *batch, double timeout,
			     struct txn_result *result, struct txn_error *error)
{
	struct txn_timing *tm = &result->timing;
	char started[32];
	utc_now(started);
	make_txid(result->txid);
	result->generation = result->previous = generation_current(t->state_fd);

	remove_stale_staged(t->fd);
	double mark = txn_now();
	int r = txn_preconditions_check(t->fd, batch, error);
	if (r == 0)
		r = preflight(t->fd, batch, error);
	tm->preconditions = txn_now() - mark;
	if (r < 0)
		return r;
	txn_step("trans-checked");

	mark = txn_now();
	struct staged_file *staged = calloc(batch->n_ops ? batch->n_ops : 1, sizeof(*staged));
	if (!staged)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "--method trans: staging");
	for (size_t i = 0; r == 0 && i < batch->n_ops; i++) {
		const struct txn_op *op = &batch->ops[i];
		if (txn_interrupted)
			r = txn_fail(error, TXN_ABORTED, EINTR,
				     "interrupted by signal %d before the trans window; nothing was changed",
				     (int)txn_interrupted);
		else if (op->kind == TXN_OP_WRITE || op->kind == TXN_OP_COPY)
			r = stage_one(t->fd, i, op, &staged[i], error);
	}
	/* The staged names too, so that the in-place renames never meet a name the
	 * disk does not know. */
	if (r == 0 && (r = fsync_fd(t->fd)) < 0)
		r = txn_fail(error, TXN_ABORTED, r, "cannot fsync '%s'", t->path);
	if (r == 0 && txn_interrupted)
		r = txn_fail(error, TXN_ABORTED, EINTR,
			     "interrupted by signal %d before the trans window; nothing was changed",
			     (int)txn_interrupted);
	tm->flush = txn_now() - mark;
	struct window w;
	bool marked = false;
	if (r == 0) {
		txn_step("trans-staged");
		r = trans_marker_write(t, batch, result->txid, started);
		if (r < 0)
			r = txn_fail(error, TXN_ABORTED, r, "cannot write the trans marker '%s/%s'",
				     t->state_path, TRANS_MARKER_NAME);
		marked = r == 0;
	}
	if (r == 0)
		r = window_open(&w, t, timeout, error);
	if (r < 0) {
		if (marked)
			trans_marker_remove(t); /* no window was opened: nothing to warn about */
		discard_staged(t->fd, staged, batch->n_ops);
		free(staged);
		char reason[sizeof(error->message) + 128];
		record_history(t, batch, result, started, "aborted", txn_error_string(error, reason, sizeof(reason)));
		return r;
	}

	/* The window: from here on the target changes and signals no longer abort. */
	mark = txn_now();
	txn_step("trans-started");
	size_t applied = 0;
	struct txn_error op_error = { 0 };
	int op_r = apply_in_place(t->fd, batch, staged, &w, &applied, &op_error);
	if (op_r == 0)
		txn_step("trans-applied");
	int end_r = window_close(&w);
	tm->ops = txn_now() - mark;
	txn_step("trans-ended");

	mark = txn_now();
	discard_staged(t->fd, staged, batch->n_ops);
	free(staged);
	int sync_r = sync_fs(t->fd);
	/* This process lives to report what happened, so the marker has done its job;
	 * should removing it fail, status keeps warning, which errs on the safe side. */
	trans_marker_remove(t);
	tm->sync = txn_now() - mark;
	txn_step("trans-synced");

	char done_ops[48], rest_ops[48];
	size_t n = batch->n_ops;
	describe_ops(0, applied, done_ops, sizeof(done_ops));
	if (w.expired && applied == 0) {
		r = txn_fail(error, TXN_ABORTED, w.watchdog_errno,
			     "--method trans: the window ran past --trans-timeout (%g s) and the watchdog "
			     "ended the Btrfs transaction (TRANS_END) before any op took effect; "
			     "nothing was changed", timeout);
	} else if (w.expired) {
		describe_ops(applied, n, rest_ops, sizeof(rest_ops));
		r = txn_fail(error, TXN_NEEDS_PERSON, w.watchdog_errno,
			     "--method trans: the window ran past --trans-timeout (%g s) and the watchdog "
			     "ended the Btrfs transaction (TRANS_END); %s of %zu took effect, %s did not: "
			     "'%s' holds part of the change%s",
			     timeout, done_ops, n, rest_ops, t->path,
			     sync_r < 0 ? ", and the sync after it failed" : "");
	} else if (op_r < 0) {
		char op_text[sizeof(op_error.message) + 128];
		txn_error_string(&op_error, op_text, sizeof(op_text));
		describe_ops(applied + 1, n, rest_ops, sizeof(rest_ops));
		r = txn_fail(error, applied ? TXN_NEEDS_PERSON : TXN_ABORTED, 0,
			     "--method trans: op %zu failed inside the window: %s; %s took effect before it "
			     "and cannot be undone, %s did not run%s%s%s",
			     applied, op_text, done_ops, rest_ops,
			     applied ? ": '" : ": nothing was changed", applied ? t->path : "",
			     applied ? "' holds part of the change" : "");
		if (r == -EIO && op_error.errnum)
			r = -op_error.errnum;
	} else if (end_r < 0) {
		r = txn_fail(error, TXN_NEEDS_PERSON, end_r,
			     "--method trans: all %zu ops took effect in '%s', but TRANS_END failed, so "
			     "they may not have been committed as one transaction%s",
			     n, t->path, sync_r < 0 ? ", and the sync after it failed" : "");
	} else if (sync_r < 0) {
		r = txn_fail(error, TXN_NEEDS_PERSON, sync_r,
			     "--method trans: all %zu ops took effect in '%s', but the sync that makes "
			     "them durable failed; run 'sync' once the filesystem is healthy",
			     n, t->path);
	}
	if (r == 0) {
		record_history(t, batch, result, started, "committed", NULL);
		txn_step("trans-done");
		return 0;
	}
	char reason[sizeof(error->message) + 128];
	record_history(t, batch, result, started, applied ? "partial" : "aborted",
		       txn_error_string(error, reason, sizeof(reason)));
	return r;
}

int txn_apply_trans(const char *path, const struct txn_batch *batch,
		    const struct txn_options *options, struct txn_result *ret_result,
		    struct txn_error *error)
{
	struct txn_result result = { 0 };
	double start = txn_now();
	double timeout = options && options->trans_timeout > 0 ? options->trans_timeout
							       : TXN_DEFAULT_TRANS_TIMEOUT;
	/* A verify hook runs against a staged tree before the change is visible; here the
	 * change is made in place, so there is nothing to verify first. */
	if (batch->verify.argv)
		return txn_fail(error, TXN_INVALID, 0,
				"--method trans cannot run a verify hook: it changes the target in "
				"place, with no staged tree to verify first; use --method snapshot");

	/* First without creating the state directory: a kernel without the ioctls must
	 * leave no trace at all. The target need not be a subvolume: nothing is snapshot. */
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	r = trans_probe(&t, error);
	if (r == 0 && t.state_fd < 0) {
		target_close(&t);
		r = target_open(path, TARGET_ALLOW_PLAIN_DIR | TARGET_CREATE_STATE, &t, error);
		if (r < 0)
			return r;
	}
	double mark = txn_now();
	if (r == 0) {
		txn_step("trans-probed");
		r = target_lock(&t, options, error);
	}
	if (r == 0) {
		txn_step("locked");
		result.timing.lock = txn_now() - mark;
		mark = txn_now();
		unsigned keep = batch->has_keep ? batch->keep
			      : options && options->keep ? options->keep : TXN_DEFAULT_KEEP;
		struct txn_recover_result recovered;
		r = recover_locked(&t, keep, &recovered, error);
		result.recovered_first = r == 0 && recovered.action != TXN_RECOVERY_NONE;
		result.timing.recover = txn_now() - mark;
	}
	if (r == 0)
		r = transact_in_place(&t, batch, timeout, &result, error);
	target_close(&t);
	result.timing.total = txn_now() - start;
	if (r == 0 && ret_result)
		*ret_result = result;
	return r;
}
