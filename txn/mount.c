/* SPDX-License-Identifier: MIT */
/*
 * mount.c: which mount a file is on, the one helper for it. A bind mount of a
 * directory of the same filesystem keeps st_dev, so only the mount id tells that a
 * walk would step into another mount; the kernel gives it through statx
 * (STATX_MNT_ID, Linux 5.8) or, before that, name_to_handle_at. Calls nothing else
 * of txn/.
 */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

int mount_identity_at(int dir_fd, const char *name, struct mount_identity *ret)
{
	int at_flags = AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH);
	struct statx stx;
	if (statx(dir_fd, name, at_flags, STATX_TYPE | STATX_MNT_ID, &stx) < 0)
		return -errno;
	struct mount_identity id = { .dev = makedev(stx.stx_dev_major, stx.stx_dev_minor) };
	if (stx.stx_mask & STATX_MNT_ID) {
		id.has_mount_id = true;
		id.mount_id = stx.stx_mnt_id;
	} else {
		/* MAX_HANDLE_SZ bytes: the handle itself is not wanted, only the mount id. */
		union {
			struct file_handle handle;
			char space[sizeof(struct file_handle) + 128];
		} fh = { .handle.handle_bytes = 128 };
		int mount_id;
		if (name_to_handle_at(dir_fd, name, &fh.handle, &mount_id,
				      name[0] ? 0 : AT_EMPTY_PATH) == 0) {
			id.has_mount_id = true;
			id.mount_id = (uint64_t)mount_id;
		}
	}
	*ret = id;
	return 0;
}

int mount_id_at(int dir_fd, const char *name, uint64_t *ret_mount_id)
{
	struct mount_identity id;
	int r = mount_identity_at(dir_fd, name, &id);
	if (r < 0)
		return r;
	if (!id.has_mount_id)
		return -EOPNOTSUPP;
	*ret_mount_id = id.mount_id;
	return 0;
}
