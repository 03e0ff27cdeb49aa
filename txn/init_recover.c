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
		/* The staging name now holds the old plain directory: clear chattr +i/+a
		 * (which the copy carries) so it can go. */
		if (leftover) {
			struct init_tree old = { 0 };
			r = init_tree_scan(leftover_path, false, &old, error);
			if (r == 0)
				r = refuse_delete_in_use(st.st_dev, &old, leftover_path, error);
			init_tree_free(&old);
			if (r == 0)
				r = init_tree_unprotect(leftover_path, error);
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
