/* SPDX-License-Identifier: MIT */
/*
 * resolve.c: open paths strictly beneath a root directory fd.
 *
 * Every path an op touches goes through openat2(2) with RESOLVE_BENEATH (no `..` or
 * absolute symlink may climb out of the root), RESOLVE_NO_MAGICLINKS (no
 * /proc/self/root style jumps) and RESOLVE_NO_XDEV (no crossing into another mount).
 * Symlinks that stay inside the tree are followed, so `current/app.conf` works when
 * `current` links to `releases/42`. The last component of a path that an op creates,
 * replaces or removes is never resolved: the op opens its parent and works on the
 * name with the *at() calls, which do not follow a final symlink.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>

#include "path.h"

int open_beneath(int root_fd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	if (txn_path_check(path, strlen(path)) != TXN_PATH_OK)
		return -EINVAL;
	for (;;) {
		long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a rename raced with the lookup; the kernel asks us to retry. */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

int open_parent_beneath(int root_fd, const char *path, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		*ret_name = path;
		return fd;
	}
	size_t len = (size_t)(slash - path);
	char *parent = strndup(path, len);
	if (!parent)
		return -ENOMEM;
	int fd = open_beneath(root_fd, parent, O_PATH | O_DIRECTORY, 0);
	free(parent);
	if (fd >= 0)
		*ret_name = slash + 1;
	return fd;
}
