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
 * parent's (statx STATX_MNT_ID), or it is its own parent ('/'). */
static bool is_mount_point(int fd)
{
	struct statx self, parent;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID | STATX_INO, &self) < 0 ||
	    statx(fd, "..", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID | STATX_INO, &parent) < 0)
		return false;
	if ((self.stx_mask & STATX_MNT_ID) && (parent.stx_mask & STATX_MNT_ID) &&
	    self.stx_mnt_id != parent.stx_mnt_id)
		return true;
	return self.stx_ino == parent.stx_ino && self.stx_dev_major == parent.stx_dev_major &&
	       self.stx_dev_minor == parent.stx_dev_minor;
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
