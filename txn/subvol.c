/* SPDX-License-Identifier: MIT */
/*
 * subvol.c: the small Btrfs helpers every method and recovery shares: libbtrfsutil
 * errors as -errno, transaction ids, subvolume deletion and sync, and whether a name
 * is still the directory a descriptor holds. Calls nothing else of txn/.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

int btrfs_error(int e)
{
	if (e == BTRFS_UTIL_OK)
		return 0;
	return errno ? -errno : -EIO;
}

void make_txid(char out[40])
{
	uint32_t random = 0;
	if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random))
		random = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char stamp[24];
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, 40, "%s-%06x", stamp, random & 0xffffff);
}

bool exists_at(int dir_fd, const char *name)
{
	struct stat st;
	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int delete_subvolume_at(int dir_fd, const char *name)
{
	errno = 0;
	return btrfs_error(btrfs_util_delete_subvolume_fd(dir_fd, name, 0));
}

int sync_fs(int fd)
{
	errno = 0;
	return btrfs_error(btrfs_util_sync_fd(fd));
}

/* 0 when @name in @dir_fd is the very directory @fd holds (not a symlink, same
 * device and inode), -ESTALE when it is something else, or -errno. */
int same_inode_at(int dir_fd, const char *name, int fd)
{
	struct stat at, held;
	if (fstatat(dir_fd, name, &at, AT_SYMLINK_NOFOLLOW) < 0 || fstat(fd, &held) < 0)
		return -errno;
	return at.st_dev == held.st_dev && at.st_ino == held.st_ino ? 0 : -ESTALE;
}

/* Moved here from target.c so that the modules below the methods (journal.c,
 * modified.c, mounted.c) need nothing from target.c: calls run one way. */
void uuid_format(const uint8_t uuid[16], char out[37])
{
	static const int dash_after[] = { 3, 5, 7, 9 };
	char *w = out;
	for (int i = 0, d = 0; i < 16; i++) {
		w += sprintf(w, "%02x", uuid[i]);
		if (d < 4 && i == dash_after[d]) {
			*w++ = '-';
			d++;
		}
	}
	*w = '\0';
}

int subvolume_identity(int fd, char ret_uuid[37], uint64_t *ret_generation,
		       char ret_parent_uuid[37])
{
	struct btrfs_util_subvolume_info info;
	enum btrfs_util_error e = btrfs_util_subvolume_info_fd(fd, 0, &info);
	if (e != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;
	if (ret_uuid)
		uuid_format(info.uuid, ret_uuid);
	if (ret_parent_uuid)
		uuid_format(info.parent_uuid, ret_parent_uuid);
	if (ret_generation)
		*ret_generation = info.generation;
	return 0;
}
