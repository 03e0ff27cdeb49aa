/* SPDX-License-Identifier: MIT */
/*
 * concurrent.c: other processes' writes to a target during a transaction.
 *
 * The promise (docs/protocol.md, "Concurrent writers"): a write another process
 * completed before btrfs-txn exits is in the live tree, or btrfs-txn exited 1 with
 * the target unchanged, or btrfs-txn reported it and pinned the generation that
 * holds it. Three checks keep it, each cheap when nobody else writes:
 *
 * - Before the commit point (concurrent_check_before): after step 7, the inodes
 *   of T changed since the mark taken before the snapshot (modified.c), as far as
 *   the B-tree shows them (without a step-7 commit, a change to an existing inode
 *   may still wait in Btrfs's delayed items: the third check sees it). Any: abort,
 *   T unchanged. A nested subvolume made meanwhile: abort too.
 * - After the commit point, on the replaced tree, once it is read-only so that no
 *   new descriptor can write to it: every process still holding a writable
 *   descriptor or a shared writable mapping on it (/proc). Such a writer can still
 *   write there after we exit; it is reported and the generation pinned.
 * - After the step-10 commit, which carries every write made before it: the inodes
 *   of the replaced tree changed since the mark (modified.c), i.e. writes between
 *   the first check and the exchange, or through held descriptors. Reported and
 *   pinned. A write after that commit can only come through a descriptor the
 *   second check saw.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* ---- nested subvolumes ---- */

int nested_subvolume_find(int fd, char *ret_path, size_t size)
{
	struct btrfs_util_subvolume_iterator *it = NULL;
	errno = 0;
	enum btrfs_util_error e = btrfs_util_create_subvolume_iterator_fd(fd, 0, 0, &it);
	if (e != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;
	char *path = NULL;
	uint64_t id;
	e = btrfs_util_subvolume_iterator_next(it, &path, &id);
	btrfs_util_destroy_subvolume_iterator(it);
	if (e == BTRFS_UTIL_ERROR_STOP_ITERATION)
		return 0;
	if (e != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;
	snprintf(ret_path, size, "%s", path);
	free(path);
	return 1;
}

int refuse_nested(const struct target *t, enum txn_status status, struct txn_error *error)
{
	char nested[PATH_MAX];
	int r = nested_subvolume_find(t->fd, nested, sizeof(nested));
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot list the subvolumes below '%s'", t->path);
	if (r > 0)
		return txn_fail(error, status, 0,
				"'%s/%s' is a nested subvolume: a snapshot of '%s' would not include "
				"it and the exchange would hide its contents; move it out of the "
				"target (or manage it as a target of its own)",
				t->path, nested, t->path);
	return 0;
}

int concurrent_check_before(const struct target *t, const struct tree_mark *mark,
			    struct txn_error *error)
{
	struct tree_changes changes;
	int r = tree_changes_since(t->fd, mark, &changes);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r,
				"cannot search '%s' for writes by other processes", t->path);
	if (changes.count > 0) {
		char path[PATH_MAX];
		if (tree_inode_path(t->fd, changes.inodes[0], path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "inode %llu",
				 (unsigned long long)changes.inodes[0]);
		return txn_fail(error, TXN_ABORTED, 0,
				"'%s' was modified by another process during the transaction "
				"(%zu file%s, e.g. '%s'); nothing was changed",
				t->path, changes.count, changes.count == 1 ? "" : "s", path);
	}
	return refuse_nested(t, TXN_ABORTED, error);
}

/* ---- writable holders ---- */

int concurrent_holders(int fd, struct txn_concurrent *report)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct holder *list = NULL;
	size_t n = 0;
	int r = holders_find(st.st_dev, true, &list, &n);
	if (r < 0) {
		/* Without /proc nobody can say no process writes there: count that as a
		 * writer, so that the generation is pinned and the reason reported. */
		struct txn_concurrent_holder *h = &report->holders[report->n_holders++];
		h->pid = 0;
		snprintf(h->command, sizeof(h->command), "?");
		snprintf(h->what, sizeof(h->what), "unknown");
		snprintf(h->path, sizeof(h->path), "(cannot look in /proc: %s)", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		/* The tree is read-only: a directory (a working directory, a directory
		 * descriptor) can no longer make entries in it. Only what was opened for
		 * writing before can still write. */
		if (list[i].is_dir)
			continue;
		if (report->n_holders >= TXN_CONCURRENT_HOLDERS_MAX) {
			report->holders_more = true;
			break;
		}
		struct txn_concurrent_holder *h = &report->holders[report->n_holders++];
		h->pid = list[i].pid;
		snprintf(h->command, sizeof(h->command), "%s", list[i].comm);
		snprintf(h->what, sizeof(h->what), "%s",
			 strcmp(list[i].what, "map") == 0 ? "mapping" : "descriptor");
		snprintf(h->path, sizeof(h->path), "%s", list[i].path);
	}
	free(list);
	return 0;
}

/* ---- changed inodes ---- */

int concurrent_changes(int fd, const struct tree_mark *mark, struct txn_concurrent *report)
{
	struct tree_changes changes;
	int r = tree_changes_since(fd, mark, &changes);
	if (r < 0)
		return r;
	report->count = changes.count;
	report->n_paths = 0;
	for (size_t i = 0; i < changes.n_inodes && report->n_paths < TXN_CONCURRENT_PATHS_MAX; i++) {
		char *path = report->paths[report->n_paths];
		if (tree_inode_path(fd, changes.inodes[i], path, PATH_MAX) < 0)
			snprintf(path, PATH_MAX, "(inode %llu, since unlinked)",
				 (unsigned long long)changes.inodes[i]);
		report->n_paths++;
	}
	return 0;
}

/* ---- mounts ---- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *out = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

int mount_of_subvolume(int fd, char *ret_path, size_t size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		const char *dash = strstr(line, " - ");
		char mountpoint[PATH_MAX];
		if (!dash || strncmp(dash + 3, "btrfs ", 6) != 0 ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) != 1)
			continue;
		unescape_mountinfo(mountpoint);
		struct statx stx;
		if (statx(AT_FDCWD, mountpoint, AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW,
			  STATX_INO, &stx) < 0)
			continue;
		if (makedev(stx.stx_dev_major, stx.stx_dev_minor) == st.st_dev) {
			snprintf(ret_path, size, "%s", mountpoint);
			found = 1;
		}
	}
	free(line);
	fclose(f);
	return found;
}
