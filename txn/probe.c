/* SPDX-License-Identifier: MIT */
/*
 * probe.c: what this kernel and filesystem support for a path, without writing.
 *
 * RENAME_EXCHANGE is probed by exchanging the path with itself, which the kernel
 * accepts as a no-op where the flag exists and refuses with EINVAL where it does
 * not. A mount point is told by its mount id against its parent's (statx), never
 * by an error's words. TRANS_START is probed on a Btrfs fd only (other filesystems reuse ioctl
 * numbers); where it answers, the transaction it opened is ended at once.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>

/* Whether the directory open at @fd is a mount point: its mount differs from its
 * parent's (mount.c), or it is its own parent ('/'). */
static bool is_mount_point(int fd)
{
	uint64_t self_mount, parent_mount;
	if (mount_id_at(fd, "", &self_mount) == 0 && mount_id_at(fd, "..", &parent_mount) == 0 &&
	    self_mount != parent_mount)
		return true;
	struct stat self, parent;
	return fstat(fd, &self) == 0 && fstatat(fd, "..", &parent, AT_SYMLINK_NOFOLLOW) == 0 &&
	       self.st_ino == parent.st_ino && self.st_dev == parent.st_dev;
}

int txn_probe(const char *path, struct txn_probe *ret)
{
	struct txn_probe p = { .trans_ioctl = -1 };
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(p.kernel, sizeof(p.kernel), "%s", u.release);

	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*ret = p;
		return errno == ENOENT ? 0 : -errno;
	}
	p.exists = true;
	struct statfs sfs;
	p.is_btrfs = fstatfs(fd, &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC;
	if (p.is_btrfs) {
		p.is_subvolume = btrfs_util_is_subvolume_fd(fd) == BTRFS_UTIL_OK;
		p.is_mount_point = is_mount_point(fd);
		if (ioctl(fd, BTRFS_IOC_TRANS_START) == 0) {
			p.trans_ioctl = 1;
			ioctl(fd, BTRFS_IOC_TRANS_END);
		} else {
			p.trans_errno = errno;
			p.trans_ioctl = errno == ENOTTY ? 0 : -1;
		}
	}
	p.rename_exchange = renameat2(AT_FDCWD, path, AT_FDCWD, path, RENAME_EXCHANGE) == 0;
	*ret = p;
	return 0;
}
