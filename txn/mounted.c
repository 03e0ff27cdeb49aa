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
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
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

int mounted_pending(const struct target *t)
{
	if (!t->mounted)
		return 0;
	int r = same_inode_at(t->parent_fd, t->name, t->fd);
	if (r == 0)
		return 0;
	return r == -ESTALE ? 1 : r;
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
	r = mounted_pending(t);
	if (r < 0 && r != -ENOENT)
		return txn_fail(error, TXN_ABORTED, r, "cannot open subvolume '%s' at the top level of '%s'",
				t->subvol, t->path);
	/* Missing by name: the subvolume was renamed at the top level since it was
	 * mounted; nothing here can be switched by name. */
	if (r == -ENOENT)
		return txn_fail(error, TXN_UNSUPPORTED, 0,
				"subvolume '%s' mounted at '%s' is no longer at that path in the "
				"filesystem (renamed since it was mounted)",
				t->subvol, t->path);
	t->switch_pending = r == 1;
	return 0;
}

int mounted_refuse_switch(const struct target *t, struct txn_error *error)
{
	return txn_fail(error, TXN_UNSUPPORTED, 0,
			"'%s' is the mount point of subvolume '%s': snapshot --tag, status, history, "
			"diff and gc work on it, but apply, run and rollback of a mounted target are "
			"not supported yet; mount the top level (subvolid=5) elsewhere and target "
			"'%s' below it while it is not mounted",
			t->path, t->subvol, t->subvol);
}
