/* SPDX-License-Identifier: MIT */
/*
 * owner.c: who owns what the ops make, and what survives a change of owner.
 *
 * The tree an op changes may belong to someone else than the user running (a web
 * root owned by its site's account, deployed to by root). Nothing that account
 * planted may lend its owner, group, set-id bits or capabilities to what root writes,
 * and nothing root owns may change hands with its privileges:
 *   - "ours" means owned by the effective uid (root, or a non-root invoker who owns
 *     the target);
 *   - a file that replaces one of ours takes its owner, group and extended
 *     attributes (ACLs, security label, file capability), and then its mode;
 *   - anything else ops.c creates is ours, uid and gid the effective ones, set
 *     explicitly since a set-group-ID directory would hand its group down;
 *   - a chown clears set-id bits and security.capability of a non-directory.
 */
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

bool owned_by_us(const struct stat *st)
{
	return st->st_uid == geteuid();
}

/* Copies every extended attribute of @from_fd to @to_fd (both real fds): ACLs,
 * security labels, capabilities. Return: 0 or -errno. */
static int copy_xattrs(int from_fd, int to_fd)
{
	ssize_t size = flistxattr(from_fd, NULL, 0);
	if (size < 0)
		return errno == EOPNOTSUPP ? 0 : -errno;
	if (size == 0)
		return 0;
	_cleanup_free_ char *names = malloc((size_t)size);
	if (!names)
		return -ENOMEM;
	size = flistxattr(from_fd, names, (size_t)size);
	if (size < 0)
		return errno == ERANGE ? -EAGAIN : -errno;
	for (char *name = names; name < names + size; name += strlen(name) + 1) {
		ssize_t len = fgetxattr(from_fd, name, NULL, 0);
		if (len < 0 && errno == ENODATA)
			continue; /* removed meanwhile */
		if (len < 0)
			return -errno;
		_cleanup_free_ char *value = malloc(len ? (size_t)len : 1);
		if (!value)
			return -ENOMEM;
		len = fgetxattr(from_fd, name, value, (size_t)len);
		if (len < 0)
			return -errno;
		if (fsetxattr(to_fd, name, value, (size_t)len, 0) < 0)
			return -errno;
	}
	return 0;
}

int replacement_settle(int new_fd, int old_fd, mode_t mode)
{
	struct stat st;
	if (old_fd >= 0) {
		if (fstat(old_fd, &st) < 0)
			return -errno;
		/* Owner first: a chown would drop the capability copied next. */
		if (fchown(new_fd, st.st_uid, st.st_gid) < 0)
			return -errno;
		int r = copy_xattrs(old_fd, new_fd);
		if (r < 0)
			return r;
	} else {
		/* Explicitly: a set-group-ID directory would hand its group down. */
		if (fstat(new_fd, &st) < 0)
			return -errno;
		if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
		    fchown(new_fd, geteuid(), getegid()) < 0)
			return -errno;
	}
	/* Last: chown clears set-id bits, and an ACL copied above sets group bits. */
	return fchmod(new_fd, mode) < 0 ? -errno : 0;
}

/*
 * Clears the set-id bits and removes the file capability of the inode @fd holds
 * (O_PATH, not a symlink or directory), found as @name in @parent_fd with fstat @st
 * (taken before any change of owner). Return: 0 or -errno.
 */
int drop_privileges_held(int parent_fd, const char *name, int fd, const struct stat *st)
{
	struct stat now;
	if (fstat(fd, &now) < 0)
		return -errno;
	if (now.st_mode & (S_ISUID | S_ISGID)) {
		int r = chmod_held(parent_fd, name, fd, &now,
				   now.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
		if (r < 0)
			return r;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (removexattr(path, TXN_CAPABILITY_XATTR) == 0 || errno == ENODATA || errno == EOPNOTSUPP)
		return 0;
	if (errno != ENOENT || !S_ISREG(st->st_mode))
		return -errno;
	/* No /proc: the regular file itself, checked to be the same inode. */
	_cleanup_close_ int real_fd =
		openat(parent_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (real_fd < 0 || fstat(real_fd, &now) < 0)
		return -errno;
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return -EAGAIN;
	if (fremovexattr(real_fd, TXN_CAPABILITY_XATTR) < 0 && errno != ENODATA && errno != EOPNOTSUPP)
		return -errno;
	return 0;
}
