/* SPDX-License-Identifier: MIT */
/*
 * list.c: the managed targets beneath a mounted Btrfs filesystem, for `btrfs-txn
 * list`. A target P/NAME is managed when P/.btrfs-txn/NAME is a directory; every
 * target is a subvolume, so the subvolumes below the mount (libbtrfsutil's
 * iterator, one tree search) are the candidates, and one fstatat each decides. The
 * generations and staging subvolumes inside a state directory are skipped. Reads
 * only; no lock is taken.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

/* Is @path (relative to the mount) inside a state directory? */
static bool inside_state_dir(const char *path)
{
	size_t n = strlen(STATE_DIR_NAME);
	for (const char *p = path; (p = strstr(p, STATE_DIR_NAME)); p += n)
		if ((p == path || p[-1] == '/') && (p[n] == '/' || p[n] == '\0'))
			return true;
	return false;
}

/* Does @path, relative to @mount_fd, have a state directory beside it? */
static bool has_state_dir(int mount_fd, const char *path)
{
	char state[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n = slash ? snprintf(state, sizeof(state), "%.*s/%s/%s", (int)(slash - path), path,
				 STATE_DIR_NAME, slash + 1)
		      : snprintf(state, sizeof(state), "%s/%s", STATE_DIR_NAME, path);
	if (n < 0 || (size_t)n >= sizeof(state))
		return false;
	struct stat st;
	return fstatat(mount_fd, state, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

int txn_list_targets(const char *mount_point, txn_list_fn fn, void *ctx)
{
	_cleanup_close_ int fd = open(mount_point, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	/* Btrfs ioctl numbers are reused by other drivers: never ask another filesystem. */
	if (sfs.f_type != BTRFS_SUPER_MAGIC)
		return -EMEDIUMTYPE;
	/* The iterator's paths are relative to the subvolume holding @fd: only a mount
	 * of a subvolume's root gives paths that are relative to the mount point. */
	if (btrfs_util_is_subvolume_fd(fd) != BTRFS_UTIL_OK)
		return -ENOTDIR;
	struct btrfs_util_subvolume_iterator *it = NULL;
	errno = 0;
	if (btrfs_util_create_subvolume_iterator_fd(fd, 0, 0, &it) != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;
	int r = 0;
	for (;;) {
		char *path = NULL;
		uint64_t id;
		errno = 0;
		enum btrfs_util_error e = btrfs_util_subvolume_iterator_next(it, &path, &id);
		if (e == BTRFS_UTIL_ERROR_STOP_ITERATION)
			break;
		if (e != BTRFS_UTIL_OK) {
			r = errno ? -errno : -EIO;
			break;
		}
		if (!inside_state_dir(path) && has_state_dir(fd, path)) {
			char target[PATH_MAX];
			int n = snprintf(target, sizeof(target), "%s%s%s", mount_point,
					 mount_point[strlen(mount_point) - 1] == '/' ? "" : "/", path);
			if (n > 0 && (size_t)n < sizeof(target))
				r = fn(target, ctx);
		}
		free(path);
		if (r < 0)
			break;
	}
	btrfs_util_destroy_subvolume_iterator(it);
	return r;
}
