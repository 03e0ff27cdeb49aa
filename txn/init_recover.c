/* SPDX-License-Identifier: MIT */
/*
 * init_recover.c: finishing or undoing an interrupted init (called by init.c and by
 * recovery, recover.c), and the check that no live process uses the trees it would
 * delete or the directory it converts.
 */
#include "init_tree.h"
#include "internal.h"
#include "state.h"
#include <btrfsutil.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

static bool in_tree(ino_t ino, void *ctx)
{
	return init_tree_has(ctx, ino);
}

/* Fails with @status when a live process could still change the inodes of @tree
 * (on @dev): a working or root directory or a directory descriptor in it, a file
 * open for writing, a shared writable mapping. Its writes would not be in the copy. */
int init_refuse_holders(dev_t dev, struct init_tree *tree, const char *display,
			enum txn_status status, struct txn_error *error)
{
	struct holder *holders;
	size_t n;
	int r = holders_scan(dev, true, in_tree, tree, &holders, &n);
	if (r < 0)
		return txn_fail(error, status, r, "cannot look in /proc for processes using '%s'",
				display);
	char who[700];
	holders_describe(holders, n, who, sizeof(who));
	free(holders);
	if (n == 0)
		return 0;
	return txn_fail(error, status, EBUSY,
			"'%s' is in use by %s: what it writes there would be lost; stop it and "
			"run init again", display, who);
}

/* A process that still uses the tree to be deleted is named, never killed. For
 * the old directory (@tree given), only what could write into it counts: a reader
 * keeps reading the files it holds, as with any replaced file. */
static int refuse_delete_in_use(dev_t dev, struct init_tree *tree, const char *display,
				struct txn_error *error)
{
	struct holder *holders;
	size_t n;
	int r = holders_scan(dev, tree != NULL, tree ? in_tree : NULL, tree, &holders, &n);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"cannot look in /proc for processes using '%s'", display);
	char who[700];
	holders_describe(holders, n, who, sizeof(who));
	free(holders);
	if (n == 0)
		return 0;
	return txn_fail(error, TXN_NEEDS_PERSON, EBUSY,
			"'%s' is still used by %s; not deleted: stop it, then run 'btrfs-txn "
			"recover'", display, who);
}

/* The old directory and the moment to judge it by, for old_tree_written() (nftw
 * has no context argument). */
static struct {
	const struct timespec *since;
	bool after_check; /* the mark is recovery's own (see old_tree_check()) */
	size_t prefix;   /* length of the old directory's path */
	char *what;      /* the first change found */
	size_t size;
} written;

static bool at_or_after(const struct timespec *a, const struct timespec *since)
{
	return a->tv_sec > since->tv_sec || (a->tv_sec == since->tv_sec && a->tv_nsec >= since->tv_nsec);
}

static int written_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = path[written.prefix] ? path + written.prefix + 1 : ".";
	if (type == FTW_NS || type == FTW_DNR) {
		snprintf(written.what, written.size, "'%s' cannot be read", rel);
		return 1;
	}
	/* Every entry by its ctime, which every write, truncate, chmod, chown, link,
	 * rename and xattr change stamps; but the top, whose ctime the exchange
	 * stamped, by its print (old_tree_check()) until recovery's own mark, which
	 * lies after the exchange. */
	if (ftw->level == 0 && !written.after_check)
		return 0;
	bool changed = at_or_after(&st->st_ctim, written.since);
	if (changed && written.after_check && S_ISDIR(st->st_mode) &&
	    st->st_ctim.tv_sec == st->st_mtim.tv_sec && st->st_ctim.tv_nsec == st->st_mtim.tv_nsec) {
		/* Stamped by the deletion (an unlink stamps its directory's ctime and
		 * mtime alike) unless made after the mark: a chmod, chown, xattr change
		 * or rename stamps the ctime alone. */
		struct statx stx;
		changed = statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) < 0 ||
			  !(stx.stx_mask & STATX_BTIME) ||
			  at_or_after(&(struct timespec){ .tv_sec = stx.stx_btime.tv_sec,
							  .tv_nsec = stx.stx_btime.tv_nsec },
				      written.since);
	}
	if (changed) {
		snprintf(written.what, written.size, "'%s' changed after init copied it", rel);
		return 1;
	}
	return 0;
}

/* Whether anything below the old directory at @old_path changed at or after
 * @since. Return 1 with @what naming the first change, 0, or -errno. */
static int old_tree_written(const char *old_path, const struct timespec *since, bool after_check,
			    char *what, size_t size)
{
	written.since = since;
	written.after_check = after_check;
	written.prefix = strlen(old_path);
	written.what = what;
	written.size = size;
	int r = nftw(old_path, written_entry, 32, FTW_PHYS);
	return r < 0 ? -errno : r != 0;
}

static void kept_message(struct target *t, const struct journal *j, const char *saved,
			 const char *what, struct txn_error *error, int errnum)
{
	if (!what)
		txn_fail(error, TXN_NEEDS_PERSON, errnum,
			 "'%s' is its new subvolume; the directory it replaced was written to "
			 "after init copied it and is kept as '%s/%s' (by a recovery cut short): "
			 "merge what is missing by hand", t->path, t->state_path, saved);
	else if (j->mark_checked)
		txn_fail(error, TXN_NEEDS_PERSON, errnum,
			 "'%s' is its new subvolume; the directory it replaced changed while it "
			 "was being deleted by a run that was cut short (%s): what is left of it is "
			 "kept as '%s/%s', merge what is missing by hand", t->path, what,
			 t->state_path, saved);
	else
		txn_fail(error, TXN_NEEDS_PERSON, errnum,
			 "'%s' is its new subvolume, but init was cut short before it could check "
			 "the directory it replaced for writes by other processes, and it was "
			 "written to (%s): it is kept as '%s/%s', merge what is missing by hand",
			 t->path, what, t->state_path, saved);
}

/* The init in the history, once: its old directory was kept (saved-TXID). */
static void history_kept(struct target *t, const struct journal *j)
{
	if (!history_has(t->state_fd, j->txid)) {
		struct history_entry e = { .txid = j->txid, .kind = "init", .result = "committed",
					   .recovered = true, .started = j->started };
		history_append(t->state_fd, &e);
	}
}

/* Keeps the written old directory as saved-TXID (as init does when its own check
 * finds a write, init.c), records the init and ends its journal: exit 5. A
 * recovery cut short between the rename and the journal's end finds saved-TXID and
 * says the same again (init_recover()). */
static int keep_old_tree(struct target *t, const struct journal *j, const char *old_path,
			 const char *what, struct txn_error *error)
{
	char saved[128];
	snprintf(saved, sizeof(saved), "saved-%s", j->txid);
	if (renameat(t->state_fd, j->staging, t->state_fd, saved) < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, errno,
				"'%s' is its new subvolume, but the directory it replaced, at '%s', "
				"was written to (%s) and cannot be renamed to '%s'", t->path,
				old_path, what, saved);
	txn_step("init-old-kept");
	history_kept(t, j);
	int r = journal_remove(t->state_fd);
	kept_message(t, j, saved, what, error, r < 0 ? -r : 0);
	return -(error->errnum ? error->errnum : EIO);
}

/*
 * Before recovery deletes the old directory of an init cut short after its
 * exchange (init never ran its own check): did anything change in it from the
 * moment init stamped before its copy (init.c)? Entries below the top by ctime,
 * the top by the print init took of it then (mode, owner, flags, size, mtime,
 * xattrs). A mark that recovery stamped itself (@j->mark_checked, see
 * restamp_old_tree()) follows its own check, and its deletion may since have
 * stamped directories (ctime and mtime alike: those count only when made after
 * the mark, by their birth time) and hard-linked files (a file that lost one of
 * its links counts as written: a person looks, nothing is lost). Return 0 to go
 * on deleting, or -errno with @error set (exit 5).
 */
static int old_tree_check(struct target *t, const struct journal *j, const char *old_path,
			  struct txn_error *error)
{
	struct timespec since = { .tv_sec = j->mark_sec, .tv_nsec = j->mark_nsec };
	char what[PATH_MAX + 64];
	int d = old_tree_written(old_path, &since, j->mark_checked, what, sizeof(what));
	if (d == 0 && !j->mark_checked && j->has_top_print) {
		_cleanup_close_ int fd = openat(t->state_fd, j->staging,
						O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct root_print now;
		d = fd < 0 ? -errno : root_print_take(fd, &now);
		if (d == 0 && memcmp(&now, &j->top_print, sizeof(now)) != 0) {
			snprintf(what, sizeof(what), "'.' changed after init copied it");
			d = 1;
		}
	}
	if (d < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, -d,
				"cannot look through '%s', the directory '%s' was before init; "
				"nothing is deleted", old_path, t->path);
	return d ? keep_old_tree(t, j, old_path, what, error) : 0;
}

/* After the check (init's own or old_tree_check()) and after clearing chattr +i/+a,
 * both of which stamp ctimes, and before deleting anything: a new mark, fsynced,
 * so that a recovery of a deletion cut short judges the old directory from here
 * on and not by what the check and the clearing did. */
static int restamp_old_tree(struct target *t, const struct journal *j, struct txn_error *error)
{
	struct journal next = *j;
	struct timespec now;
	int r = tree_mark_stamp(t->state_fd, &now);
	if (r == 0) {
		next.mark_sec = now.tv_sec;
		next.mark_nsec = now.tv_nsec;
		next.mark_checked = true;
		next.has_top_print = false;
		r = journal_write_staged_durable(t->state_fd, &next);
	}
	return r < 0 ? txn_fail(error, TXN_NEEDS_PERSON, -r, "cannot write in '%s'", t->state_path) : 0;
}

int init_recover(struct target *t, const struct journal *j, bool recovered,
		 struct txn_recover_result *ret, struct txn_error *error)
{
	char uuid[37] = "";
	bool committed = t->is_subvolume && subvolume_identity(t->fd, uuid, NULL, NULL) == 0 &&
			 strcmp(uuid, j->staging_uuid) == 0;
	struct stat st;
	bool leftover = fstatat(t->state_fd, j->staging, &st, AT_SYMLINK_NOFOLLOW) == 0;
	char leftover_path[PATH_MAX + 80];
	snprintf(leftover_path, sizeof(leftover_path), "%s/%s", t->state_path, j->staging);
	int r = 0;
	if (committed) {
		char saved[128];
		snprintf(saved, sizeof(saved), "saved-%s", j->txid);
		if (!leftover && recovered && fstatat(t->state_fd, saved, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			/* Kept by a recovery cut short before it ended the journal. */
			history_kept(t, j);
			int e = journal_remove(t->state_fd);
			kept_message(t, j, saved, NULL, error, e < 0 ? -e : 0);
			r = -(error->errnum ? error->errnum : EIO);
		}
		/* The staging name now holds the old plain directory: looked at (when
		 * init could not), then cleared of chattr +i/+a (which the copy carries)
		 * so it can go. */
		if (leftover) {
			struct init_tree old = { 0 };
			r = init_tree_scan(leftover_path, false, &old, error);
			if (r == 0)
				r = refuse_delete_in_use(st.st_dev, &old, leftover_path, error);
			init_tree_free(&old);
			if (r == 0 && recovered && j->has_mark)
				r = old_tree_check(t, j, leftover_path, error);
			if (r == 0)
				r = init_tree_unprotect(leftover_path, error);
			if (r == 0 && j->has_mark)
				r = restamp_old_tree(t, j, error);
			if (r == 0)
				txn_step("init-old-unprotected");
			if (r == 0)
				r = remove_tree_at(t->state_fd, j->staging, error, leftover_path);
		}
		ret->action = TXN_RECOVERY_ROLLED_FORWARD;
	} else {
		if (leftover && st.st_ino == 256) {
			r = refuse_delete_in_use(st.st_dev, NULL, leftover_path, error);
			if (r == 0 && (r = delete_subvolume_at(t->state_fd, j->staging)) < 0)
				r = txn_fail(error, TXN_NEEDS_PERSON, r, "cannot delete '%s'", leftover_path);
		}
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
	if (r < 0 && error->status != TXN_NEEDS_PERSON)
		error->status = TXN_NEEDS_PERSON; /* the journal stays: recovery has to finish */
	return r < 0 && error->status == TXN_OK ? txn_fail(error, TXN_NEEDS_PERSON, r, "init recovery") : r;
}
