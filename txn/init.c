/* SPDX-License-Identifier: MIT */
/*
 * init.c: make a path a managed subvolume.
 *
 * A missing path becomes an empty subvolume; a subvolume only gets its state
 * directory. A plain directory is converted atomically: a new subvolume is filled
 * with a reflink copy of the directory (`cp -a --reflink=always`, which keeps
 * owners, modes, times, xattrs and hard links), made durable, and exchanged with the
 * directory by renameat2(RENAME_EXCHANGE); the old directory is then removed. The
 * journal (kind "init") lets recovery finish or undo a conversion cut short.
 */
#define _XOPEN_SOURCE 700
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static dev_t walk_root_dev;
static char walk_offender[PATH_MAX];
static uint64_t walk_entries; /* counted for the caller's progress report */

static int refuse_boundary(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	if (ftw->level > 0)
		walk_entries++;
	/* A nested subvolume or mount would be copied as a plain tree and then removed
	 * from the original: refuse rather than flatten it. */
	if (ftw->level > 0 && (st->st_dev != walk_root_dev || (S_ISDIR(st->st_mode) && st->st_ino == 256))) {
		snprintf(walk_offender, sizeof(walk_offender), "%s", path);
		return 1;
	}
	return 0;
}

static int run_copy(const char *from, const char *to)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("cp", "cp", "-a", "--reflink=always", "--", from, to, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int init_recover(struct target *t, const struct journal *j, bool recovered,
		 struct txn_recover_result *ret, struct txn_error *error)
{
	char uuid[37] = "";
	bool committed = t->is_subvolume && subvolume_identity(t->fd, uuid, NULL, NULL) == 0 &&
			 strcmp(uuid, j->staging_uuid) == 0;
	struct stat st;
	bool leftover = fstatat(t->state_fd, j->staging, &st, AT_SYMLINK_NOFOLLOW) == 0;
	int r = 0;
	if (committed) {
		/* The staging name now holds the old plain directory. */
		if (leftover)
			r = remove_tree_at(t->state_fd, j->staging, error, j->staging);
		ret->action = TXN_RECOVERY_ROLLED_FORWARD;
	} else {
		if (leftover && st.st_ino == 256)
			r = delete_subvolume_at(t->state_fd, j->staging);
		if (r < 0)
			r = txn_fail(error, TXN_NEEDS_PERSON, r, "cannot delete '%s/%s'", t->state_path,
				     j->staging);
		ret->action = TXN_RECOVERY_ROLLED_BACK;
	}
	if (r == 0 && !history_has(t->state_fd, j->txid)) {
		struct history_entry e = { .txid = j->txid, .kind = "init",
					   .result = committed ? "committed" : "aborted",
					   .recovered = recovered, .started = j->started };
		history_append(t->state_fd, &e);
	}
	if (r == 0)
		r = journal_remove(t->state_fd);
	snprintf(ret->txid, sizeof(ret->txid), "%s", j->txid);
	return r < 0 && error->status == TXN_OK ? txn_fail(error, TXN_NEEDS_PERSON, r, "init recovery") : r;
}

static int convert(struct target *t, const struct txn_options *options, struct txn_error *error)
{
	walk_root_dev = 0;
	struct stat root;
	if (fstat(t->fd, &root) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot stat '%s'", t->path);
	walk_root_dev = root.st_dev;
	walk_offender[0] = '\0';
	walk_entries = 0;
	if (nftw(t->path, refuse_boundary, 64, FTW_PHYS) != 0)
		return txn_fail(error, TXN_UNSUPPORTED, walk_offender[0] ? 0 : errno,
				walk_offender[0] ? "'%s' contains another subvolume or mount at '%s'; "
						   "init cannot convert it"
						 : "cannot walk '%s'%s",
				t->path, walk_offender);

	_cleanup_close_ int staging_fd = -EBADF;
	struct journal j = { 0 };
	make_txid(j.txid);
	snprintf(j.kind, sizeof(j.kind), "init");
	snprintf(j.staging, sizeof(j.staging), "init-%s", j.txid);
	utc_now(j.started);
	int r = journal_write(t->state_fd, &j);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot write journal in '%s'", t->state_path);
	txn_step("init-journaled");

	errno = 0;
	r = btrfs_error(btrfs_util_create_subvolume_fd(t->state_fd, j.staging, 0, NULL, NULL));
	if (r < 0) {
		txn_fail(error, TXN_ABORTED, r, "cannot create subvolume '%s/%s'", t->state_path,
			 j.staging);
		goto undo;
	}
	staging_fd = openat(t->state_fd, j.staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (staging_fd < 0 || (r = subvolume_identity(staging_fd, j.staging_uuid, NULL, NULL)) < 0 ||
	    (r = journal_write(t->state_fd, &j)) < 0) {
		txn_fail(error, TXN_ABORTED, staging_fd < 0 ? errno : r, "cannot prepare '%s/%s'",
			 t->state_path, j.staging);
		goto undo;
	}
	char from[PATH_MAX + 8], to[PATH_MAX + 80];
	snprintf(from, sizeof(from), "%s/.", t->path);
	snprintf(to, sizeof(to), "%s/%s/", t->state_path, j.staging);
	if (options && options->progress)
		options->progress("copy", 0, walk_entries, options->progress_ctx);
	r = run_copy(from, to);
	if (r == 0 && options && options->progress)
		options->progress("copy", walk_entries, walk_entries, options->progress_ctx);
	if (r < 0) {
		txn_fail(error, TXN_ABORTED, r, "cannot copy '%s' into a new subvolume", t->path);
		goto undo;
	}
	txn_step("init-copied");
	r = sync_fs(staging_fd);
	if (r < 0) {
		txn_fail(error, TXN_ABORTED, r, "cannot flush '%s'", t->path);
		goto undo;
	}
	if (renameat2(t->parent_fd, t->name, t->state_fd, j.staging, RENAME_EXCHANGE) < 0) {
		txn_fail(error, TXN_ABORTED, errno, "cannot exchange '%s' with its new subvolume", t->path);
		goto undo;
	}
	txn_step("init-exchanged");
	r = sync_fs(t->parent_fd);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s' is now a subvolume but the sync failed; run 'btrfs-txn recover'",
				t->path);
	/* Reopen T: the fd we hold is the old directory. */
	close(t->fd);
	t->fd = openat(t->parent_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	t->is_subvolume = true;
	struct txn_recover_result ignored;
	return init_recover(t, &j, false, &ignored, error);

undo:;
	struct txn_error ignored_error;
	struct txn_recover_result ignored_result;
	t->is_subvolume = false;
	if (staging_fd >= 0)
		close(TAKE_FD(staging_fd));
	init_recover(t, &j, false, &ignored_result, &ignored_error);
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
		errno = 0;
		int r = btrfs_error(btrfs_util_create_subvolume(path, 0, NULL, NULL));
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
	journal_discard_partial(t.state_fd);
	if (r == 0 && journal_read(t.state_fd, &j) > 0) {
		struct txn_recover_result rec;
		r = strcmp(j.kind, "init") == 0 ? init_recover(&t, &j, true, &rec, error)
						: recover_locked(&t, TXN_DEFAULT_KEEP, &rec, error);
		if (r == 0 && strcmp(j.kind, "init") == 0) {
			close(t.fd);
			t.fd = openat(t.parent_fd, t.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			t.is_subvolume = t.fd >= 0 && btrfs_util_is_subvolume_fd(t.fd) == BTRFS_UTIL_OK;
		}
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
