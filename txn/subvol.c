/* SPDX-License-Identifier: MIT */
/*
 * subvol.c: the small Btrfs helpers every method and recovery shares: libbtrfsutil
 * errors as -errno, transaction ids, subvolume deletion and sync, and whether a name
 * is still the directory a descriptor holds. Calls nothing else of txn/.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
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

/* The subvolume btrfs receive will take as the parent of a stream against @uuid
 * (a received UUID): it asks the UUID tree and takes the first subvolume listed
 * there. Anyone who owns a subvolume on the filesystem can give it any received
 * UUID (BTRFS_IOC_SET_RECEIVED_SUBVOL asks only for ownership), and one listed
 * before ours would become the parent: its tree, owners and set-uid files included,
 * would land. The list only grows at its end, so ours, once first, stays first.
 * Return: the first subvolume id in *@ret_id, 0 when none is listed, or -errno. */
int received_uuid_first(int fd, const char *uuid, uint64_t *ret_id)
{
	uint8_t bytes[16];
	for (int i = 0, k = 0; i < 16; i++) {
		while (uuid[k] == '-')
			k++;
		unsigned int byte;
		if (sscanf(uuid + k, "%2x", &byte) != 1)
			return -EINVAL;
		bytes[i] = (uint8_t)byte;
		k += 2;
	}
	uint64_t objectid, offset;
	memcpy(&objectid, bytes, 8);
	memcpy(&offset, bytes + 8, 8);
	struct btrfs_ioctl_search_args args = { 0 };
	struct btrfs_ioctl_search_key *key = &args.key;
	key->tree_id = BTRFS_UUID_TREE_OBJECTID;
	key->min_objectid = key->max_objectid = le64toh(objectid);
	key->min_type = key->max_type = BTRFS_UUID_KEY_RECEIVED_SUBVOL;
	key->min_offset = key->max_offset = le64toh(offset);
	key->max_transid = UINT64_MAX;
	key->nr_items = 1;
	*ret_id = 0;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
		return -errno;
	if (key->nr_items < 1)
		return 0;
	const struct btrfs_ioctl_search_header *sh = (const void *)args.buf;
	if (sh->len < sizeof(uint64_t))
		return -EUCLEAN;
	uint64_t first;
	memcpy(&first, args.buf + sizeof(*sh), sizeof(first));
	*ret_id = le64toh(first);
	return 0;
}

int subvolume_root_trusted(int fd, uint64_t id, char ret_uuid[37])
{
	struct btrfs_util_subvolume_info info;
	errno = 0;
	int r = btrfs_error(btrfs_util_subvolume_info_fd(fd, id, &info));
	if (r < 0)
		return r;
	uuid_format(info.uuid, ret_uuid);
	struct btrfs_ioctl_search_args args = { 0 };
	struct btrfs_ioctl_search_key *key = &args.key;
	key->tree_id = id;
	key->min_objectid = key->max_objectid = BTRFS_FIRST_FREE_OBJECTID;
	key->min_type = key->max_type = BTRFS_INODE_ITEM_KEY;
	key->max_offset = UINT64_MAX;
	key->max_transid = UINT64_MAX;
	key->nr_items = 1;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
		return -errno;
	struct btrfs_ioctl_search_header sh;
	struct btrfs_inode_item item;
	memcpy(&sh, args.buf, sizeof(sh));
	if (key->nr_items < 1 || sh.len < sizeof(item))
		return -EUCLEAN;
	memcpy(&item, args.buf + sizeof(sh), sizeof(item));
	return (info.flags & BTRFS_ROOT_SUBVOL_RDONLY) && le32toh(item.uid) == 0;
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
