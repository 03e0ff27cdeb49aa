/* SPDX-License-Identifier: MIT */
/*
 * mounted.c: targets that are mount points of a Btrfs subvolume (`/`, a subvol=
 * mount such as /home or /srv/app, the filesystem's default subvolume).
 *
 * Such a target cannot be exchanged by a rename in the directory it is mounted on,
 * and that directory is usually on another subvolume or filesystem. The subvolume
 * does have a parent, though: the directory that holds it in the filesystem's tree,
 * as seen from the top level (subvolid 5). target_open() hands it over to this file,
 * which reaches the top level through a private mount: fsopen("btrfs") with the
 * filesystem's device and subvolid=5, fsmount() to a detached mount that belongs to
 * no mount namespace, shows up at no path and goes with the last descriptor on it
 * (target_close()). Nothing is mounted anywhere a user or another process could see,
 * and nothing is left behind by a crash. The state directory is then the usual one,
 * `.btrfs-txn/NAME` in that parent directory (TOP/.btrfs-txn/@ for subvolume @).
 *
 * Messages name the top level "<top level of DEVICE>", since the detached mount has
 * no path; the target itself keeps the name the user gave.
 *
 * The switch (apply, run, rollback; docs/protocol.md, "Mounted targets"): the
 * exchange happens at the top level, so the next mount by name finds the new tree
 * while the running mount keeps the old one, kept as gen-N and left writable while
 * mounted. Here: the target's two trees (fd, the name's; running_fd, the mount's)
 * and whether a switch is pending, the refusal of subvolid= mounts, the default
 * subvolume following a switch, --remount, and sealing kept generations read-only
 * once nothing mounts them.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <mntent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <sys/vfs.h>

/* A device of the filesystem that @fd is on, as the kernel names it (the one the
 * private mount is made from: for a filesystem spread over several devices, any of
 * them finds the same filesystem). */
static int filesystem_device(int fd, char *ret_path, size_t size, uint8_t ret_fsid[16])
{
	struct btrfs_ioctl_fs_info_args fs = { 0 };
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fs) < 0)
		return -errno;
	memcpy(ret_fsid, fs.fsid, 16);
	for (uint64_t devid = 1; devid <= fs.max_id; devid++) {
		struct btrfs_ioctl_dev_info_args dev = { .devid = devid };
		if (ioctl(fd, BTRFS_IOC_DEV_INFO, &dev) < 0)
			continue; /* a gap left by a removed device */
		if (dev.path[0] != '/')
			continue;
		snprintf(ret_path, size, "%s", (const char *)dev.path);
		return 0;
	}
	return -ENODEV;
}

/* The private mount of the top level of the filesystem @fd is on: a detached
 * mount descriptor, or -errno. The fsid is compared, so a device node that now
 * names another filesystem is refused rather than trusted. */
static int top_level_mount(const char *device, const uint8_t fsid[16])
{
	_cleanup_close_ int fs_fd = fsopen("btrfs", FSOPEN_CLOEXEC);
	if (fs_fd < 0)
		return -errno;
	if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "source", device, 0) < 0 ||
	    fsconfig(fs_fd, FSCONFIG_SET_STRING, "subvolid", "5", 0) < 0 ||
	    fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	/* nosuid and nodev: nothing is run or opened as a device through this mount
	 * for its set-id bits or device nodes. */
	_cleanup_close_ int top = fsmount(fs_fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (top < 0)
		return -errno;
	/* The mount descriptor is an O_PATH one, which takes no ioctl. */
	_cleanup_close_ int root = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct btrfs_ioctl_fs_info_args fs = { 0 };
	if (root < 0 || ioctl(root, BTRFS_IOC_FS_INFO, &fs) < 0)
		return -errno;
	if (memcmp(fs.fsid, fsid, 16) != 0)
		return -EXDEV;
	return TAKE_FD(top);
}

/*
 * A mount does not remember the name it was mounted by: the kernel names a
 * subvolume by where it is now. After a switch, the tree a mount still shows has
 * moved into the state directory, as X/.btrfs-txn/NAME/gen-N (or staging-TXID
 * until the commit's tail renames it); by the layout rule, it belongs to target
 * X/NAME, whose name now holds the newer tree. Turns such a @path into X/NAME.
 */
static void kept_generation_owner(char *path)
{
	static const char marker[] = STATE_DIR_NAME "/";
	char *state = NULL;
	for (char *p = path; (p = strstr(p, marker)); p++)
		if (p == path || p[-1] == '/')
			state = p;
	if (!state)
		return;
	char *name = state + strlen(marker);
	char *slash = strchr(name, '/');
	if (!slash || strchr(slash + 1, '/') ||
	    (strncmp(slash + 1, "gen-", 4) != 0 && strncmp(slash + 1, "staging-", 8) != 0))
		return;
	*slash = '\0';
	memmove(state, name, strlen(name) + 1);
}

int mounted_pending(const struct target *t)
{
	if (!t->mounted)
		return 0;
	int r = same_inode_at(t->parent_fd, t->name, t->running_fd);
	if (r == 0)
		return 0;
	return r == -ESTALE ? 1 : r;
}

bool mounted_is_running(const struct target *t, int fd)
{
	struct stat a, b;
	return t->mounted && fstat(t->running_fd, &a) == 0 && fstat(fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int mounted_top_level_fd(const struct target *t)
{
	char device[PATH_MAX];
	uint8_t fsid[16];
	int r = filesystem_device(t->fd, device, sizeof(device), fsid);
	return r < 0 ? r : top_level_mount(device, fsid);
}

int mounted_attach_top(int top_fd)
{
	/* Private first: the tmpfs and the attached top level must not propagate to
	 * the peers of the namespace we came from. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("btrfs-txn", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=16k") < 0 ||
	    mkdir(MOUNTED_CHILD_TOP, 0700) < 0 ||
	    move_mount(top_fd, "", AT_FDCWD, MOUNTED_CHILD_TOP, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

void mounted_state_below_top(const struct target *t, char *buf, size_t size)
{
	const char *slash = strrchr(t->subvol, '/');
	snprintf(buf, size, "%.*s%s" STATE_DIR_NAME "/%s", slash ? (int)(slash - t->subvol) : 0,
		 t->subvol, slash ? "/" : "", t->name);
}

int mounted_open(struct target *t, struct txn_error *error)
{
	char *subvol = NULL;
	errno = 0;
	enum btrfs_util_error e = btrfs_util_subvolume_path_fd(t->fd, 0, &subvol);
	if (e != BTRFS_UTIL_OK) {
		int saved = errno ? errno : EIO;
		free(subvol);
		if (saved == EPERM)
			return txn_fail(error, TXN_UNSUPPORTED, saved,
					"'%s' is a mounted subvolume, whose state lives at the "
					"filesystem's top level, which only root can reach", t->path);
		return txn_fail(error, TXN_ABORTED, saved, "cannot find the subvolume mounted at '%s'",
				t->path);
	}
	snprintf(t->subvol, sizeof(t->subvol), "%s", subvol);
	free(subvol);
	kept_generation_owner(t->subvol);
	if (!t->subvol[0])
		/* The top level (subvolid 5) has no parent to be exchanged in. */
		return txn_fail(error, TXN_UNSUPPORTED, 0,
				"'%s' is the top level of a Btrfs filesystem, which cannot be swapped; "
				"keep the tree in a subvolume below it ('btrfs-txn init %s/NAME') and "
				"target that",
				t->path, strcmp(t->path, "/") ? t->path : "");

	char device[PATH_MAX];
	uint8_t fsid[16];
	int r = filesystem_device(t->fd, device, sizeof(device), fsid);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot find the device of the filesystem of '%s'",
				t->path);
	int top = top_level_mount(device, fsid);
	if (top < 0)
		return txn_fail(error, top == -EPERM ? TXN_UNSUPPORTED : TXN_ABORTED, -top,
				"cannot mount the top level of '%s' (subvolid=5 of %s) privately to reach "
				"the parent of subvolume '%s'",
				t->path, device, t->subvol);

	char *slash = strrchr(t->subvol, '/');
	const char *name = slash ? slash + 1 : t->subvol;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - t->subvol) : 1,
		 slash ? t->subvol : ".");
	char shown[PATH_MAX];
	if (snprintf(shown, sizeof(shown), "<top level of %s>%s%s", device, slash ? "/" : "",
		     slash ? parent : "") >= (int)sizeof(shown))
		shown[sizeof(shown) - 1] = '\0'; /* only a message gets shorter */
	/* The subvolume's path comes from the filesystem's own back references, but
	 * a directory on it may have been replaced by a symlink since: resolve it
	 * beneath the top level, refusing symlinks. */
	int parent_fd = slash ? open_beneath_no_symlinks(top, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
			      : openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!slash && parent_fd < 0)
		parent_fd = -errno;
	if (parent_fd < 0) {
		close(top);
		return txn_fail(error, TXN_ABORTED, -parent_fd, "cannot open '%s', the parent of '%s'",
				shown, t->path);
	}
	if (snprintf(t->state_path, sizeof(t->state_path), "%s/%s/%s", shown, STATE_DIR_NAME, name) >=
	    (int)sizeof(t->state_path)) {
		close(top);
		close(parent_fd);
		return txn_fail(error, TXN_INVALID, ENAMETOOLONG, "target '%s'", t->path);
	}
	if (t->parent_fd >= 0)
		close(t->parent_fd);
	t->parent_fd = parent_fd;
	t->top_fd = top;
	t->mounted = true;
	if (strlen(name) >= sizeof(t->name))
		return txn_fail(error, TXN_INVALID, ENAMETOOLONG, "target '%s'", t->path);
	memcpy(t->name, name, strlen(name) + 1);
	/* From here on, fd is the subvolume the name at the top level holds: what a
	 * transaction builds on and recovery judges; running_fd is the tree the mount
	 * shows. They differ while a switch is pending until the next mount. */
	int named = openat(t->parent_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (named < 0 && errno == ENOENT)
		return txn_fail(error, TXN_UNSUPPORTED, 0,
				"subvolume '%s' mounted at '%s' is no longer at that path in the "
				"filesystem (renamed since it was mounted)",
				t->subvol, t->path);
	if (named < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open subvolume '%s' of '%s'",
				t->subvol, t->path);
	t->running_fd = t->fd;
	t->fd = named;
	r = mounted_pending(t);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot open subvolume '%s' of '%s'", t->subvol,
				t->path);
	t->switch_pending = r == 1;
	return 0;
}

/* Kept generations that were a running tree stay writable while mounted; once
 * nothing mounts them, they become read-only like every other. Best effort. */
static void seal_unmounted(const struct target *t)
{
	struct txn_generation *list = NULL;
	size_t n = 0;
	if (generations_list(t->state_fd, &list, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char name[32], where[PATH_MAX];
		snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)list[i].number);
		_cleanup_close_ int fd = openat(t->state_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		bool read_only = true;
		if (fd < 0 || btrfs_util_get_subvolume_read_only_fd(fd, &read_only) != BTRFS_UTIL_OK ||
		    read_only || mounted_is_running(t, fd) || mount_of_subvolume(fd, where, sizeof(where)) != 0)
			continue;
		btrfs_util_set_subvolume_read_only_fd(fd, true);
	}
	free(list);
}

/* Whether the mount options @opts (comma-separated) hold subvolid= but no subvol=:
 * such a mount finds the same subvolume id at the next mount, not the name. */
static bool by_subvolid(const char *opts)
{
	bool id = false, name = false;
	for (const char *p = opts; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n > 9 && strncmp(p, "subvolid=", 9) == 0)
			id = true;
		else if (n > 7 && strncmp(p, "subvol=", 7) == 0)
			name = true;
		p += n;
		p += strspn(p, ",");
	}
	return id && !name;
}

int mounted_prepare_switch(const struct target *t, struct txn_error *error)
{
	/* The next mount is made from /etc/fstab, or for / from the kernel's
	 * rootflags: by name (subvol=), by the default subvolume (neither; it follows
	 * the switch, see mounted_follow_default), or by id, which would mount the
	 * replaced tree again. */
	const char *fstab = "/etc/fstab";
#ifdef BTRFS_TXN_TESTING
	/* Test build only: the host's fstab is no test fixture. */
	if (getenv("BTRFS_TXN_FSTAB"))
		fstab = getenv("BTRFS_TXN_FSTAB");
#endif
	FILE *f = setmntent(fstab, "re");
	struct mntent *m;
	while (f && (m = getmntent(f))) {
		if (strcmp(m->mnt_dir, t->path) == 0 && by_subvolid(m->mnt_opts)) {
			char opts[256];
			snprintf(opts, sizeof(opts), "%s", m->mnt_opts);
			endmntent(f);
			return txn_fail(error, TXN_UNSUPPORTED, 0,
					"'%s' is mounted by subvolume id in %s (%s): the next "
					"mount would find the replaced tree again, not the new one; "
					"mount it by name (subvol=%s) instead",
					t->path, fstab, opts, t->subvol);
		}
	}
	if (f)
		endmntent(f);
	if (strcmp(t->path, "/") == 0) {
		char cmdline[4096] = "";
		_cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;
		cmdline[n > 0 ? n : 0] = '\0';
		for (char *p = cmdline; (p = strstr(p, "rootflags=")); p += 10) {
			if (p != cmdline && p[-1] != ' ')
				continue;
			char flags[1024];
			snprintf(flags, sizeof(flags), "%.*s", (int)strcspn(p + 10, " \n"), p + 10);
			if (by_subvolid(flags))
				return txn_fail(error, TXN_UNSUPPORTED, 0,
						"'/' is mounted by subvolume id (kernel command line "
						"rootflags=%s): the next boot would find the replaced tree "
						"again; use rootflags=subvol=%s instead",
						flags, t->subvol);
		}
	}
	seal_unmounted(t);
	return 0;
}

int mounted_follow_default(const struct target *t, int old_fd)
{
	uint64_t default_id, old_id, new_id;
	_cleanup_close_ int named =
		openat(t->parent_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (named < 0)
		return -errno;
	errno = 0;
	int r = btrfs_error(btrfs_util_get_default_subvolume_fd(named, &default_id));
	if (r == 0)
		r = btrfs_error(btrfs_util_subvolume_id_fd(old_fd, &old_id));
	if (r == 0)
		r = btrfs_error(btrfs_util_subvolume_id_fd(named, &new_id));
	if (r < 0)
		return r;
	if (default_id != old_id || default_id == new_id)
		return 0;
	r = btrfs_error(btrfs_util_set_default_subvolume_fd(named, new_id));
	return r < 0 ? r : 1;
}

/* MOUNT_ATTR_* for what statvfs says of the mount at @fd. */
static unsigned mount_attrs_of(int fd)
{
	struct statvfs sv;
	unsigned attrs = 0;
	if (fstatvfs(fd, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_RDONLY)
		attrs |= MOUNT_ATTR_RDONLY;
	if (sv.f_flag & ST_NOSUID)
		attrs |= MOUNT_ATTR_NOSUID;
	if (sv.f_flag & ST_NODEV)
		attrs |= MOUNT_ATTR_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		attrs |= MOUNT_ATTR_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		attrs |= MOUNT_ATTR_NOATIME;
	else if (sv.f_flag & ST_RELATIME)
		attrs |= MOUNT_ATTR_RELATIME;
	if (sv.f_flag & ST_NODIRATIME)
		attrs |= MOUNT_ATTR_NODIRATIME;
	return attrs;
}

int mounted_remount(struct target *t, const char *new_uuid)
{
	/* / is always in use; only the next boot switches it. */
	if (strcmp(t->path, "/") == 0)
		return -EBUSY;
	char device[PATH_MAX];
	uint8_t fsid[16];
	int r = filesystem_device(t->fd, device, sizeof(device), fsid);
	if (r < 0)
		return r;
	/* The new mount is made first, detached, so that a failure leaves the old
	 * one in place; it is mounted by name, as the next mount would be. */
	_cleanup_close_ int fs_fd = fsopen("btrfs", FSOPEN_CLOEXEC);
	if (fs_fd < 0)
		return -errno;
	char subvol[PATH_MAX + 1];
	snprintf(subvol, sizeof(subvol), "/%s", t->subvol);
	if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "source", device, 0) < 0 ||
	    fsconfig(fs_fd, FSCONFIG_SET_STRING, "subvol", subvol, 0) < 0 ||
	    fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	_cleanup_close_ int new_mount = fsmount(fs_fd, FSMOUNT_CLOEXEC, mount_attrs_of(t->running_fd));
	if (new_mount < 0)
		return -errno;
	/* The name may have changed hands since the exchange: mount only the tree the
	 * transaction made. */
	_cleanup_close_ int new_root = openat(new_mount, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char uuid[37];
	if (new_root < 0)
		return -errno;
	r = subvolume_identity(new_root, uuid, NULL, NULL);
	if (r < 0)
		return r;
	if (strcmp(uuid, new_uuid) != 0)
		return -ESTALE;
	close(TAKE_FD(new_root));
	/* Our own descriptor on the old mount would keep it busy. */
	close(t->running_fd);
	t->running_fd = -1;
	if (umount2(t->path, UMOUNT_NOFOLLOW) < 0) {
		r = -errno;
		t->running_fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return r;
	}
	if (move_mount(new_mount, "", AT_FDCWD, t->path, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		r = -errno;
		return r == -EBUSY ? -EIO : r; /* EBUSY is kept for "in use" */
	}
	t->running_fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t->switch_pending = false;
	/* The tree the mount showed, mounted nowhere now, becomes read-only like
	 * every kept generation. */
	seal_unmounted(t);
	return 0;
}

int mounted_default_failed(const struct target *t, int r, struct txn_error *error)
{
	return txn_fail(error, TXN_NEEDS_PERSON, -r,
			"'%s' was switched by name at the top level, but the filesystem's default "
			"subvolume, which was its old tree, could not be moved to the new one; a "
			"mount of the default subvolume would find the old tree: run 'btrfs "
			"subvolume set-default' on subvolume '%s', or 'btrfs-txn recover %s'",
			t->path, t->subvol, t->path);
}

void mounted_finish(struct target *t, const struct journal *j, const struct txn_options *options,
		    bool default_moved, struct txn_result *result)
{
	result->default_moved = default_moved;
	if (options && options->remount && mounted_pending(t) == 1) {
		int r = mounted_remount(t, j->staging_uuid);
		result->remounted = r == 0;
		result->remount_errno = r < 0 ? -r : 0;
	}
	result->switch_pending = mounted_pending(t) == 1;
	/* Which kept generation the mount shows (the first switch's replaced tree,
	 * also after later ones). */
	struct txn_generation *list = NULL;
	size_t n = 0;
	if (result->switch_pending && generations_list(t->state_fd, &list, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char name[32];
			snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)list[i].number);
			_cleanup_close_ int fd =
				openat(t->state_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0 && mounted_is_running(t, fd))
				result->running_generation = list[i].number;
		}
		free(list);
	}
}


void mounted_staging_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/%d/fd/%d", (int)getpid(), fd);
}
