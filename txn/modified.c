/* SPDX-License-Identifier: MIT */
/*
 * modified.c: did anyone really change a subvolume since a snapshot of it?
 *
 * The root generation of the target moves whenever any of its tree blocks is
 * written, and a reader alone does that: with relatime (the default) reading a
 * file whose atime is older than its mtime updates the atime. So a moved generation
 * only says "look closer". Looking closer: a tree search over the blocks written
 * after the snapshot's generation (the kernel skips older blocks, so the cost follows
 * the amount changed, not the tree), reading every inode item found there. A real
 * change (data written, mode, owner, links, names: a directory entry changes its
 * directory's inode) moves the inode's ctime; an atime update does not. An inode
 * whose ctime is at or after the moment just before the snapshot counts as changed.
 * Writes that landed just before the snapshot can be counted too; that errs towards
 * aborting, never towards losing a write.
 */
#include "internal.h"

#include <btrfsutil.h>
#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <string.h>
#include <sys/ioctl.h>

static bool at_or_after(const struct btrfs_timespec *ts, const struct timespec *since)
{
	int64_t sec = (int64_t)le64toh(ts->sec);
	long nsec = (long)le32toh(ts->nsec);
	return sec > since->tv_sec || (sec == since->tv_sec && nsec >= since->tv_nsec);
}

int subvolume_changed_since(int fd, uint64_t generation, const struct timespec *since,
			    bool *ret_changed)
{
	uint64_t subvol_id;
	errno = 0;
	if (btrfs_util_subvolume_id_fd(fd, &subvol_id) != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;

	struct btrfs_ioctl_search_args args;
	memset(&args, 0, sizeof(args));
	struct btrfs_ioctl_search_key *key = &args.key;
	key->tree_id = subvol_id;
	key->min_objectid = 0;
	key->max_objectid = UINT64_MAX;
	key->min_type = BTRFS_INODE_ITEM_KEY;
	key->max_type = BTRFS_INODE_ITEM_KEY;
	key->min_offset = 0;
	key->max_offset = UINT64_MAX;
	key->min_transid = generation + 1;
	key->max_transid = UINT64_MAX;

	for (;;) {
		key->nr_items = 4096;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
			return -errno;
		if (key->nr_items == 0)
			break;
		size_t off = 0;
		struct btrfs_ioctl_search_header header;
		for (uint32_t i = 0; i < key->nr_items; i++) {
			memcpy(&header, args.buf + off, sizeof(header));
			off += sizeof(header);
			if (header.type == BTRFS_INODE_ITEM_KEY &&
			    header.len >= sizeof(struct btrfs_inode_item)) {
				struct btrfs_inode_item item;
				memcpy(&item, args.buf + off, sizeof(item));
				if (at_or_after(&item.ctime, since)) {
					*ret_changed = true;
					return 0;
				}
			}
			off += header.len;
		}
		/* Continue just after the last key returned. */
		key->min_objectid = header.objectid;
		key->min_type = header.type;
		key->min_offset = header.offset + 1;
		if (header.offset == UINT64_MAX) {
			key->min_offset = 0;
			if (header.type == UINT8_MAX) {
				if (header.objectid == UINT64_MAX)
					break;
				key->min_objectid++;
			}
			key->min_type = header.type + 1;
		}
		if (key->min_type > BTRFS_INODE_ITEM_KEY) {
			if (key->min_objectid == UINT64_MAX)
				break;
			key->min_objectid++;
			key->min_type = BTRFS_INODE_ITEM_KEY;
			key->min_offset = 0;
		}
	}
	*ret_changed = false;
	return 0;
}
