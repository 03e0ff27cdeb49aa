/* SPDX-License-Identifier: MIT */
/*
 * init.c: make a path a managed subvolume.
 *
 * A missing path becomes an empty subvolume; a subvolume only gets its state
 * directory. A plain directory is converted atomically: a new subvolume is filled
 * with a reflink copy of the directory (`cp -a --reflink=always`, which keeps
 * owners, modes, times, xattrs and hard links; init_tree.c carries the inode flags
 * and file capabilities cp does not), made durable, and exchanged with the
 * directory by renameat2(RENAME_EXCHANGE); the old directory is then removed. The
 * journal (kind "init") lets recovery finish or undo a conversion cut short.
 *
 * No write of a concurrent process may be lost. Before the copy, init refuses while
 * a process holds the directory (cwd, root, a directory fd, a file open for writing,
 * a shared writable mapping: holders.c). The tree is scanned before the copy, after
 * it, and twice after the exchange (with a new look at /proc each time); any change
 * (an inode's ctime, size, links, a name) aborts: before the exchange with the
 * directory untouched, after it by exchanging back, which is safe as long as no one
 * wrote into the new subvolume meanwhile (modified.c); if someone did, both trees
 * hold writes, the old one is kept as saved-TXID and init says so (exit 5).
 */
#define _XOPEN_SOURCE 700
#include "init_tree.h"
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

/* cp by absolute path, never through PATH: init runs as root, and a PATH that names
 * a directory someone else can write would hand them the copy. */
static const char *const cp_paths[] = { "/usr/bin/cp", "/bin/cp" };

static int run_copy(const char *from, const char *to, const char *display, struct txn_error *error)
{
	const char *cp = NULL;
#ifdef BTRFS_TXN_TESTING
	/* The test build only: a stand-in cp, for tests of a copy that hangs. */
	cp = getenv("BTRFS_TXN_CP");
	if (cp && !*cp)
		cp = NULL;
#endif
	for (size_t i = 0; i < sizeof(cp_paths) / sizeof(cp_paths[0]) && !cp; i++)
		if (access(cp_paths[i], X_OK) == 0)
			cp = cp_paths[i];
	if (!cp)
		return txn_fail(error, TXN_ABORTED, ENOENT,
				"cannot copy '%s': no cp at /usr/bin/cp or /bin/cp", display);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot start cp to copy '%s'", display);
	if (pid == 0) {
		/* Its own group, so that a Ctrl-C is ours to handle; and it dies with us. */
		setpgid(0, 0);
		txn_child_die_with_parent(parent);
		execl(cp, "cp", "-a", "--reflink=always", "--", from, to, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int status = 0;
	bool interrupted = false;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			int saved = errno;
			kill(pid, SIGKILL);
			if (pidfd >= 0)
				close(pidfd);
			return txn_fail(error, TXN_ABORTED, saved, "cannot wait for cp copying '%s'",
					display);
		}
		if (txn_interrupted && !interrupted) {
			interrupted = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			continue;
		}
		child_wait_tick(pidfd);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (interrupted)
		return txn_fail(error, TXN_ABORTED, EINTR,
				"interrupted by signal %d while copying '%s'; it is unchanged",
				(int)txn_interrupted, display);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return txn_fail(error, TXN_ABORTED, ENOENT, "cannot run cp to copy '%s'", display);
	if (WIFEXITED(status))
		return txn_fail(error, TXN_ABORTED, 0,
				"cannot copy '%s' into a new subvolume: cp failed with exit status %d "
				"(its message is above)", display, WEXITSTATUS(status));
	return txn_fail(error, TXN_ABORTED, 0, "cannot copy '%s': cp was killed by signal %d",
			display, WTERMSIG(status));
}

/*
 * After the exchange: did anyone change the old directory while it was copied, or
 * may still? Looked at twice, 0.1 s apart, so that a write already under way at the
 * exchange has landed by the second look.
 */
static int check_after_exchange(struct target *t, dev_t dev, struct init_tree *before,
				const char *old_path, struct txn_error *error)
{
	for (int pass = 0; pass < 2; pass++) {
		int r = init_refuse_holders(dev, before, t->path, TXN_ABORTED, error);
		if (r < 0)
			return r;
		struct init_tree after = { 0 };
		r = init_tree_scan(old_path, false, &after, error);
		if (r < 0)
			return r;
		char what[PATH_MAX + 64];
		bool same = init_tree_same(before, &after, what, sizeof(what));
		init_tree_free(&after);
		if (!same)
			return txn_fail(error, TXN_ABORTED, 0,
					"'%s' was changed during init (%s), the copy would miss it",
					t->path, what);
		if (pass == 0)
			usleep(100000);
	}
	return 0;
}

/*
 * Opens T by name again after an exchange (ours, or the one a recovery finished)
 * and checks what it is now: on Btrfs (statfs, before any btrfs ioctl) and, when
 * @want_uuid is given, the very subvolume made for it. Nothing is acted on
 * otherwise: someone else swapped the name, and a person has to look.
 */
static int reopen_target(struct target *t, const char *want_uuid, struct txn_error *error)
{
	if (t->fd >= 0)
		close(t->fd);
	t->is_subvolume = false;
	t->fd = openat(t->parent_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->fd < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, errno,
				"cannot open '%s' again after the exchange", t->path);
	struct statfs sfs;
	if (fstatfs(t->fd, &sfs) < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, errno, "cannot statfs '%s'", t->path);
	if (sfs.f_type != BTRFS_SUPER_MAGIC)
		return txn_fail(error, TXN_NEEDS_PERSON, 0,
				"'%s' is no longer on Btrfs after the exchange: something else was "
				"mounted or moved there", t->path);
	t->is_subvolume = btrfs_util_is_subvolume_fd(t->fd) == BTRFS_UTIL_OK;
	if (!want_uuid)
		return 0;
	char uuid[37] = "";
	if (!t->is_subvolume || subvolume_identity(t->fd, uuid, NULL, NULL) < 0 ||
	    strcmp(uuid, want_uuid) != 0)
		return txn_fail(error, TXN_NEEDS_PERSON, 0,
				"'%s' is not the subvolume init made (UUID %s, found %s) after the "
				"exchange: something else was moved there; the journal stays, inspect "
				"it, then run 'btrfs-txn recover %s'",
				t->path, want_uuid, uuid[0] ? uuid : "no subvolume", t->path);
	return 0;
}

/* Checks, before the first btrfs ioctl on @path's parent, that it is on Btrfs:
 * other filesystems reuse the ioctl numbers. */
static int parent_is_btrfs(const char *path, struct txn_error *error)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", path);
	size_t len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	char *slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	struct statfs sfs;
	if (statfs(parent, &sfs) < 0)
		return txn_fail(error, errno == ENOENT ? TXN_INVALID : TXN_ABORTED, errno,
				"cannot create subvolume '%s': its parent '%s'", path, parent);
	if (sfs.f_type != BTRFS_SUPER_MAGIC)
		return txn_fail(error, TXN_UNSUPPORTED, 0,
				"cannot create subvolume '%s': its parent '%s' is not on a Btrfs "
				"filesystem", path, parent);
	return 0;
}

static int convert(struct target *t, const struct txn_options *options, struct txn_error *error)
{
	struct stat root;
	if (fstat(t->fd, &root) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot stat '%s'", t->path);
	struct init_tree before = { 0 };
	int r = init_tree_scan(t->path, true, &before, error);
	if (r < 0)
		return r;
	uint64_t entries = before.n ? before.n - 1 : 0;
	/* Nothing is written while a process could go on changing the directory. */
	r = init_refuse_holders(root.st_dev, &before, t->path, TXN_ABORTED, error);
	if (r < 0) {
		init_tree_free(&before);
		return r;
	}

	_cleanup_close_ int staging_fd = -EBADF;
	struct journal j = { 0 };
	make_txid(j.txid);
	snprintf(j.kind, sizeof(j.kind), "init");
	snprintf(j.staging, sizeof(j.staging), "init-%s", j.txid);
	utc_now(j.started);
	char staging_path[PATH_MAX + 80];
	snprintf(staging_path, sizeof(staging_path), "%s/%s", t->state_path, j.staging);
	r = journal_write(t->state_fd, &j);
	if (r < 0) {
		init_tree_free(&before);
		return txn_fail(error, TXN_ABORTED, r, "cannot write journal in '%s'", t->state_path);
	}
	txn_step("init-journaled");

	errno = 0;
	r = btrfs_error(btrfs_util_create_subvolume_fd(t->state_fd, j.staging, 0, NULL, NULL));
	if (r < 0) {
		txn_fail(error, TXN_ABORTED, r, "cannot create subvolume '%s'", staging_path);
		goto undo;
	}
	staging_fd = openat(t->state_fd, j.staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* The moment before the copy, as the kernel stamps ctime, kept beside the
	 * journal: a recovery that finishes an init cut short after its exchange (the
	 * check after it never ran) keeps the old directory when anything in it
	 * changed from this moment on, or its top differs from the print taken here
	 * (init_recover.c). Where the kernel stamps
	 * coarse ctimes, a file written in the same tick before the stamp would carry
	 * it too; the subvolume's creation, a commit, lies between. */
	struct timespec before_copy = { 0 };
	if (staging_fd >= 0 && (r = subvolume_identity(staging_fd, j.staging_uuid, NULL, NULL)) == 0 &&
	    (r = tree_mark_stamp(t->state_fd, &before_copy)) == 0 &&
	    (r = root_print_take(t->fd, &j.top_print)) == 0) {
		j.has_mark = true;
		j.has_top_print = true;
		j.mark_sec = before_copy.tv_sec;
		j.mark_nsec = before_copy.tv_nsec;
		if ((r = journal_write(t->state_fd, &j)) == 0)
			r = journal_write_staged(t->state_fd, &j);
	}
	if (staging_fd < 0 || r < 0) {
		txn_fail(error, TXN_ABORTED, staging_fd < 0 ? errno : r, "cannot prepare '%s'",
			 staging_path);
		goto undo;
	}
	if ((r = init_tree_precreate(&before, staging_fd, staging_path, error)) < 0)
		goto undo;
	char from[PATH_MAX + 8], to[PATH_MAX + 88];
	snprintf(from, sizeof(from), "%s/.", t->path);
	snprintf(to, sizeof(to), "%s/", staging_path);
	if (options && options->progress)
		options->progress("copy", 0, entries, options->progress_ctx);
	r = run_copy(from, to, t->path, error);
	if (r == 0 && options && options->progress)
		options->progress("copy", entries, entries, options->progress_ctx);
	if (r < 0 || (r = init_tree_carry(&before, staging_fd, staging_path, error)) < 0)
		goto undo;
	txn_step("init-copied");

	/* Did a writer change the directory while cp read it? Then the copy may hold
	 * half of it: stop here, with the directory untouched. */
	struct init_tree copied = { 0 };
	r = init_tree_scan(t->path, false, &copied, error);
	if (r < 0)
		goto undo;
	char what[PATH_MAX + 64];
	bool same = init_tree_same(&before, &copied, what, sizeof(what));
	init_tree_free(&copied);
	if (!same) {
		r = txn_fail(error, TXN_ABORTED, 0,
			     "'%s' was changed while it was copied (%s); stop its writers and run "
			     "init again", t->path, what);
		goto undo;
	}
	r = sync_fs(staging_fd);
	if (r < 0) {
		txn_fail(error, TXN_ABORTED, r, "cannot flush '%s'", t->path);
		goto undo;
	}
	/* Writes into the new subvolume from here on are found after the exchange. */
	struct tree_mark mark;
	if ((r = tree_mark_take(staging_fd, t->state_fd, &mark)) < 0) {
		txn_fail(error, TXN_ABORTED, r, "cannot read the generation of '%s'", staging_path);
		goto undo;
	}
	if (txn_interrupted) {
		r = txn_fail(error, TXN_ABORTED, EINTR,
			     "interrupted by signal %d before the exchange; '%s' is unchanged",
			     (int)txn_interrupted, t->path);
		goto undo;
	}
	if (renameat2(t->parent_fd, t->name, t->state_fd, j.staging, RENAME_EXCHANGE) < 0) {
		txn_fail(error, TXN_ABORTED, errno, "cannot exchange '%s' with its new subvolume", t->path);
		goto undo;
	}
	txn_step("init-exchanged");
	r = sync_fs(t->parent_fd);
	if (r < 0) {
		init_tree_free(&before);
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s' is now a subvolume but the sync failed; run 'btrfs-txn recover'",
				t->path);
	}
	r = check_after_exchange(t, root.st_dev, &before, staging_path, error);
	init_tree_free(&before);
	if (r < 0) {
		/* Exchange back, unless someone already wrote into the new subvolume: then
		 * either way a write would be lost, and a person has to merge. */
		struct tree_changes changes = { .count = 1 };
		if (sync_fs(t->parent_fd) == 0 && tree_changes_since(staging_fd, &mark, &changes) == 0 &&
		    changes.count == 0 &&
		    renameat2(t->state_fd, j.staging, t->parent_fd, t->name, RENAME_EXCHANGE) == 0) {
			sync_fs(t->parent_fd);
			size_t len = strlen(error->message);
			snprintf(error->message + len, sizeof(error->message) - len,
				 "; exchanged back: '%s' is as it was", t->path);
			goto undo;
		}
		char saved[128];
		snprintf(saved, sizeof(saved), "saved-%s", j.txid);
		if (renameat(t->state_fd, j.staging, t->state_fd, saved) == 0 &&
		    journal_remove(t->state_fd) == 0) {
			struct history_entry e = { .txid = j.txid, .kind = "init", .result = "committed",
						   .started = j.started };
			history_append(t->state_fd, &e);
		}
		size_t len = strlen(error->message);
		snprintf(error->message + len, sizeof(error->message) - len,
			 "; '%s' is a subvolume now and was written to as well: the old directory is "
			 "kept as '%s/%s', merge what is missing by hand",
			 t->path, t->state_path, saved);
		error->status = TXN_NEEDS_PERSON;
		return -(error->errnum ? error->errnum : EIO);
	}
	/* Reopen T: the fd we hold is the old directory. What is there now must be the
	 * subvolume made above, or recovery would judge (and delete) by a stranger. */
	r = reopen_target(t, j.staging_uuid, error);
	if (r < 0)
		return r;
	struct txn_recover_result ignored;
	return init_recover(t, &j, false, &ignored, error);

undo:;
	init_tree_free(&before);
	struct txn_error undo_error = { 0 };
	struct txn_recover_result ignored_result;
	t->is_subvolume = false;
	if (staging_fd >= 0)
		close(TAKE_FD(staging_fd));
	if (init_recover(t, &j, false, &ignored_result, &undo_error) < 0) {
		/* The directory is unchanged, but the undo left work for recover. */
		size_t len = strlen(error->message);
		char text[sizeof(undo_error.message) + 64];
		txn_error_string(&undo_error, text, sizeof(text));
		snprintf(error->message + len, sizeof(error->message) - len, "; then %s", text);
		error->status = TXN_NEEDS_PERSON;
	}
	return -(error->errnum ? error->errnum : EIO);
}

int txn_init(const char *path, const struct txn_options *options,
	     enum txn_init_action *ret_action, struct txn_error *error)
{
	enum txn_init_action action = TXN_INIT_ALREADY;
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return txn_fail(error, TXN_ABORTED, errno, "cannot stat '%s'", path);
		int r = parent_is_btrfs(path, error);
		if (r < 0)
			return r;
		errno = 0;
		r = btrfs_error(btrfs_util_create_subvolume(path, 0, NULL, NULL));
		if (r < 0)
			return txn_fail(error, r == -ENOTTY || r == -EINVAL ? TXN_UNSUPPORTED : TXN_ABORTED, r,
					"cannot create subvolume '%s' (is its parent on Btrfs?)", path);
		action = TXN_INIT_CREATED;
	} else if (S_ISLNK(st.st_mode)) {
		return txn_fail(error, TXN_INVALID, 0, "'%s' is a symlink; give the real path", path);
	}
	struct target t;
	int r = target_open(path, TARGET_CREATE_STATE | TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	r = target_lock(&t, options, error);
	struct journal j;
	/* Only under the lock: a journal.tmp seen without it is the holder's write. */
	if (r == 0)
		journal_discard_partial(t.state_fd);
	int found = r == 0 ? journal_read(t.state_fd, &j) : 0;
	if (found < 0)
		/* Never write over a journal we cannot read: it may describe a tree. */
		r = txn_fail(error, TXN_NEEDS_PERSON, found,
			     "journal '%s/%s' is unreadable; inspect it and the subvolumes there",
			     t.state_path, JOURNAL_NAME);
	if (r == 0 && found > 0) {
		struct txn_recover_result rec;
		unsigned keep = options && options->keep ? options->keep : TXN_DEFAULT_KEEP;
		r = strcmp(j.kind, "init") == 0 ? init_recover(&t, &j, true, &rec, error)
						: recover_locked(&t, keep, &rec, error);
		if (r == 0 && strcmp(j.kind, "init") == 0)
			r = reopen_target(&t, NULL, error);
	}
	if (r == 0 && !t.is_subvolume) {
		r = convert(&t, options, error);
		action = TXN_INIT_CONVERTED;
	}
	target_close(&t);
	if (r == 0 && ret_action)
		*ret_action = action;
	return r;
}
