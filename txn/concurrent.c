/* SPDX-License-Identifier: MIT */
/*
 * concurrent.c: other processes' writes to a target during a transaction.
 *
 * The promise (docs/protocol.md, "Concurrent writers"): a write another process
 * completed before btrfs-txn exits is in the live tree, or btrfs-txn exited 1 with
 * the target unchanged, or btrfs-txn reported it and pinned the generation that
 * holds it. Three checks keep it, each cheap when nobody else writes:
 *
 * - Before the commit point (concurrent_check_before): after the step-7 commit,
 *   the inodes of T changed since the mark taken before the snapshot (modified.c).
 *   Any: abort, T unchanged. A nested subvolume made meanwhile: abort too.
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
#include <jansson.h>
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

static bool fd_writable(int pid_dir, const char *fd_name)
{
	char name[NAME_MAX + 16];
	snprintf(name, sizeof(name), "fdinfo/%s", fd_name);
	_cleanup_close_ int fd = openat(pid_dir, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[512];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *flags = strstr(buf, "flags:");
	if (!flags)
		return false;
	unsigned long value = strtoul(flags + 6, NULL, 8);
	return (value & O_ACCMODE) != O_RDONLY;
}

static void holder_add(struct txn_concurrent *report, int pid, const char *comm,
		       const char *what, const char *path)
{
	if (report->n_holders >= TXN_CONCURRENT_HOLDERS_MAX) {
		report->holders_more = true;
		return;
	}
	struct txn_concurrent_holder *h = &report->holders[report->n_holders++];
	h->pid = pid;
	snprintf(h->command, sizeof(h->command), "%s", comm);
	snprintf(h->what, sizeof(h->what), "%s", what);
	snprintf(h->path, sizeof(h->path), "%s", path);
}

/* A process's descriptors and shared writable mappings on device @dev. Processes
 * that exit meanwhile are skipped. */
static void scan_process(int proc_fd, const char *pid_name, dev_t dev,
			 struct txn_concurrent *report)
{
	_cleanup_close_ int pid_dir = openat(proc_fd, pid_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_dir < 0)
		return;
	char comm[32] = "?";
	_cleanup_close_ int comm_fd = openat(pid_dir, "comm", O_RDONLY | O_CLOEXEC);
	if (comm_fd >= 0) {
		ssize_t n = read(comm_fd, comm, sizeof(comm) - 1);
		comm[n > 0 ? n : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
	}
	int pid = atoi(pid_name);
	int fd_dir = openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd_dir >= 0 ? fdopendir(fd_dir) : NULL;
	if (!dir && fd_dir >= 0)
		close(fd_dir);
	struct dirent *entry;
	while (dir && (entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		struct statx stx;
		/* DONT_SYNC: a descriptor on a stuck network filesystem must not hang us. */
		if (statx(dirfd(dir), entry->d_name, AT_STATX_DONT_SYNC, STATX_TYPE, &stx) < 0)
			continue;
		if (makedev(stx.stx_dev_major, stx.stx_dev_minor) != dev)
			continue;
		if (!fd_writable(pid_dir, entry->d_name))
			continue;
		char link[PATH_MAX] = "";
		ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		holder_add(report, pid, comm, "descriptor", link);
	}
	if (dir)
		closedir(dir);
	_cleanup_close_ int maps_fd = openat(pid_dir, "maps", O_RDONLY | O_CLOEXEC);
	FILE *maps = maps_fd >= 0 ? fdopen(maps_fd, "r") : NULL;
	if (maps)
		TAKE_FD(maps_fd);
	char line[PATH_MAX + 128];
	while (maps && fgets(line, sizeof(line), maps)) {
		char perms[8];
		unsigned major, minor;
		unsigned long long inode;
		int path_at = 0;
		if (sscanf(line, "%*s %7s %*s %x:%x %llu %n", perms, &major, &minor, &inode,
			   &path_at) < 4)
			continue;
		if (perms[1] != 'w' || perms[3] != 's' || makedev(major, minor) != dev)
			continue;
		char *path = line + path_at;
		path[strcspn(path, "\n")] = '\0';
		holder_add(report, pid, comm, "mapping", path);
	}
	if (maps)
		fclose(maps);
}

int concurrent_holders(int fd, struct txn_concurrent *report)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = proc_fd >= 0 ? fdopendir(proc_fd) : NULL;
	if (!dir) {
		if (proc_fd >= 0)
			close(proc_fd);
		return -errno;
	}
	char self[16];
	snprintf(self, sizeof(self), "%d", (int)getpid());
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] < '0' || entry->d_name[0] > '9' || !strcmp(entry->d_name, self))
			continue;
		scan_process(dirfd(dir), entry->d_name, st.st_dev, report);
	}
	closedir(dir);
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

/* ---- pins ---- */

static void pin_name(uint64_t generation, char out[40])
{
	snprintf(out, 40, "pin-%llu", (unsigned long long)generation);
}

bool pin_exists(int state_fd, uint64_t generation)
{
	char name[40];
	struct stat st;
	pin_name(generation, name);
	return fstatat(state_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int pin_write(int state_fd, uint64_t generation, const char *txid,
	      const struct txn_concurrent *report)
{
	json_t *paths = json_array();
	for (size_t i = 0; i < report->n_paths; i++)
		json_array_append_new(paths, json_string(report->paths[i]));
	json_t *writers = json_array();
	for (size_t i = 0; i < report->n_holders; i++)
		json_array_append_new(writers, json_pack("{s:i, s:s, s:s, s:s}", "pid",
							 report->holders[i].pid, "command",
							 report->holders[i].command, "what",
							 report->holders[i].what, "path",
							 report->holders[i].path));
	json_t *obj = json_pack("{s:s, s:I, s:I, s:o, s:o}", "txid", txid, "generation",
				(json_int_t)generation, "changed", (json_int_t)report->count,
				"paths", paths, "writers", writers);
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text)
		return -ENOMEM;
	char name[40], temp[48];
	pin_name(generation, name);
	snprintf(temp, sizeof(temp), "%s.tmp", name);
	int r = 0;
	_cleanup_close_ int fd = openat(state_fd, temp,
					O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	free(text);
	if (r == 0 && renameat(state_fd, temp, state_fd, name) < 0)
		r = -errno;
	if (r == 0 && fsync(state_fd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(state_fd, temp, 0);
	return r;
}

int pin_release(int state_fd, uint64_t generation)
{
	char name[40];
	pin_name(generation, name);
	if (unlinkat(state_fd, name, 0) < 0)
		return -errno;
	return fsync(state_fd) < 0 ? -errno : 0;
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
