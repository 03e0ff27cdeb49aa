/* SPDX-License-Identifier: MIT */
/*
 * modified.c: which inodes of a subvolume did anyone change since a moment?
 *
 * A transaction remembers the subvolume's root generation G and a moment S, both
 * read before its snapshot. Any tree block written after that carries a generation
 * above G, so a tree search with min_transid G+1 visits only blocks written since
 * (the kernel skips older subtrees: the cost follows the amount changed, not the
 * tree). Such a block also holds neighbours that did not change, and a reader alone
 * rewrites an inode item (relatime), so each inode item found is judged by its
 * ctime: a real change (data, mode, owner, links, names: a directory entry changes
 * its directory's inode) moves ctime to at least S; an atime update does not.
 *
 * S is a ctime the kernel stamps itself (tree_mark_stamp(): the state directory's,
 * by chmods to its own mode), not a clock read by us. Since Linux 6.13
 * (multigrain timestamps) the kernel stamps a fine-grained ctime on an inode whose
 * ctime was looked at, and keeps a floor, the latest such stamp, below which no
 * later stamp goes; the coarse clock user space can read lags behind both (here by
 * up to 8 ms). So S, fine-grained and the new floor, lies after every ctime stamped
 * before it and at or before every one stamped after it. (Read from
 * CLOCK_REALTIME_COARSE, S could lie before a fine-grained stamp made before it: a
 * file written just before the mark, then only read, which rewrites its inode item
 * for atime, counted as changed; 11 of 40 immediate rollbacks refused so.)
 *
 * Older kernels stamp ctime from the coarse clock, S included: a change in S's tick
 * but before the snapshot counts too, which errs towards reporting. Once the
 * snapshot exists, its transaction X tells them apart: an inode item
 * records the transaction that last wrote it, and every change made before the
 * snapshot was written in X or earlier (a snapshot is taken inside its commit, with
 * the running transaction's delayed inode items flushed first), every change after
 * it in a later one. So with X known (mark->after_transid), an inode item from X or
 * earlier is not a change. A rollback, whose snapshot is of an older generation,
 * has no such X and relies on S alone.
 *
 * ctime is stamped once per write(2), when it starts: a long write (or one stalled
 * on a page fault) that began before S can copy its later bytes after the snapshot,
 * into T, with its inode's ctime still before S. So, with X known, an inode is also
 * changed when one of its file extent items was written after X (an extent item
 * records the transaction that wrote it; readers write none). A rollback, without
 * X, still has that hole: a write spanning its mark counts by its ctime alone.
 *
 * The subvolume's own root directory (inode 256) is the exception: renaming the
 * subvolume, which every commit does, moves its ctime (in memory; the item is not
 * even rewritten). When the mark holds a print of it (mode, owner, flags, size and
 * link count, mtime, extended attributes: struct root_print, read from the inode in
 * memory, where no commit lags), the print taken now decides; without one (a mark
 * restored by recovery), mtime and its mode and owner as seen before the snapshot.
 *
 * The search sees only what is in the B-tree: a change still held in memory
 * (delayed inode items, dirty pages) reaches it with the next commit, so callers
 * search after a commit (BTRFS_IOC_SYNC) that follows every change they must see.
 * The root item's generation alone is no gate: it moves only when a commit writes
 * the root, and was seen unchanged across a sync while a file grew.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static bool at_or_after(const struct btrfs_timespec *ts, const struct timespec *since)
{
	int64_t sec = (int64_t)le64toh(ts->sec);
	long nsec = (long)le32toh(ts->nsec);
	return sec > since->tv_sec || (sec == since->tv_sec && nsec >= since->tv_nsec);
}

static bool inode_changed(uint64_t ino, const struct btrfs_inode_item *item,
			  const struct tree_mark *mark)
{
	if (ino == BTRFS_FIRST_FREE_OBJECTID && mark->has_root_print)
		return false; /* judged by its print, see tree_changes_since() */
	if (mark->after_transid && le64toh(item->transid) <= mark->after_transid)
		return false;
	if (ino != BTRFS_FIRST_FREE_OBJECTID)
		return at_or_after(&item->ctime, &mark->since);
	return at_or_after(&item->mtime, &mark->since) ||
	       le32toh(item->mode) != (uint32_t)mark->root_mode ||
	       le32toh(item->uid) != (uint32_t)mark->root_uid ||
	       le32toh(item->gid) != (uint32_t)mark->root_gid;
}

int tree_mark_take(int fd, int stamp_fd, struct tree_mark *ret_mark)
{
	struct tree_mark mark;
	struct stat st;
	int r = subvolume_identity(fd, NULL, &mark.generation, NULL);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	mark.root_mode = st.st_mode;
	mark.root_uid = st.st_uid;
	mark.root_gid = st.st_gid;
	mark.after_transid = 0;
	mark.has_root_print = false;
	/* Stamped after the generation: a change between the two lies in a block
	 * above G with a ctime before S, so it is skipped, rightly: the snapshot, taken
	 * later, holds it (a rollback's: the kept replaced tree does). */
	r = tree_mark_stamp(stamp_fd, &mark.since);
	if (r < 0)
		return r;
	*ret_mark = mark;
	return 0;
}

int tree_mark_stamp(int stamp_fd, struct timespec *ret)
{
	/* The kernel stamps a fine-grained ctime only on an inode whose ctime was
	 * looked at and whose ctime is not older than the coarse clock (with its
	 * floor); otherwise it stamps that coarse value, which equals the floor, i.e.
	 * the latest fine stamp handed out, when the floor is later: a file written
	 * just before would then carry exactly S and count as changed (1,192 of 2,000
	 * rounds of write, stamp here). So the first change brings the ctime up to the
	 * coarse clock, the look makes the second fine-grained: later than every
	 * earlier stamp, and the new floor. (If the clock ticked in between, the second
	 * is the new coarse value, later than the floor too.) */
	struct stat st;
	for (int i = 0; i < 2; i++)
		if (fstat(stamp_fd, &st) < 0 || fchmod(stamp_fd, st.st_mode & 07777) < 0)
			return -errno;
	if (fstat(stamp_fd, &st) < 0)
		return -errno;
	*ret = st.st_ctim;
	return 0;
}

int tree_changes_since(int fd, const struct tree_mark *mark, struct tree_changes *ret)
{
	uint64_t subvol_id;
	errno = 0;
	if (btrfs_util_subvolume_id_fd(fd, &subvol_id) != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;

	struct tree_changes found = { 0 };
	struct btrfs_ioctl_search_args args;
	memset(&args, 0, sizeof(args));
	struct btrfs_ioctl_search_key *key = &args.key;
	key->tree_id = subvol_id;
	key->min_objectid = 0;
	key->max_objectid = UINT64_MAX;
	/* With the snapshot's transaction known, an inode's file extent items are
	 * judged too, each by the transaction that wrote it: one write(2) stamps ctime
	 * once, when it starts, and can go on copying data after the snapshot was
	 * taken (a long write, or one stalled on a page fault): its inode keeps a
	 * ctime before the mark while later bytes land in T. Readers write no extent. */
	const uint8_t last_type = mark->after_transid ? BTRFS_EXTENT_DATA_KEY : BTRFS_INODE_ITEM_KEY;
	key->min_type = BTRFS_INODE_ITEM_KEY;
	key->max_type = last_type;
	key->min_offset = 0;
	key->max_offset = UINT64_MAX;
	key->min_transid = mark->generation + 1;
	key->max_transid = UINT64_MAX;
	uint64_t counted = 0; /* the inode counted last: items come sorted by inode */

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
			bool changed = false;
			if (header.type == BTRFS_INODE_ITEM_KEY &&
			    header.len >= sizeof(struct btrfs_inode_item)) {
				struct btrfs_inode_item item;
				memcpy(&item, args.buf + off, sizeof(item));
				changed = inode_changed(header.objectid, &item, mark);
			} else if (header.type == BTRFS_EXTENT_DATA_KEY && mark->after_transid &&
				   header.len >= sizeof(__le64)) {
				__le64 generation; /* btrfs_file_extent_item's first field */
				memcpy(&generation, args.buf + off, sizeof(generation));
				changed = le64toh(generation) > mark->after_transid;
			}
			if (changed && header.objectid != counted) {
				counted = header.objectid;
				if (found.n_inodes < TREE_CHANGES_MAX)
					found.inodes[found.n_inodes++] = header.objectid;
				found.count++;
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
		if (key->min_type > last_type) {
			if (key->min_objectid == UINT64_MAX)
				break;
			key->min_objectid++;
			key->min_type = BTRFS_INODE_ITEM_KEY;
			key->min_offset = 0;
		}
	}
	if (mark->has_root_print) {
		struct root_print now;
		int r = root_print_take(fd, &now);
		if (r < 0)
			return r;
		if (memcmp(&now, &mark->root_print, sizeof(now)) != 0) {
			if (found.n_inodes < TREE_CHANGES_MAX)
				found.inodes[found.n_inodes++] = BTRFS_FIRST_FREE_OBJECTID;
			found.count++;
		}
	}
	*ret = found;
	return 0;
}

/* FNV-1a over @len bytes, continuing from @hash. */
static uint64_t fnv(uint64_t hash, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		hash = (hash ^ p[i]) * 0x100000001b3ULL;
	return hash;
}

/* The value of @fd's extended attribute @name (with @name NULL: the list of names)
 * in a buffer of its size, asked first, and asked again when it grew between asking
 * and reading. Return: its length (0: empty or none, *@ret NULL), or -errno. */
static ssize_t xattr_whole(int fd, const char *name, char **ret)
{
	*ret = NULL;
	for (int tries = 0;; tries++) {
		ssize_t n = name ? fgetxattr(fd, name, NULL, 0) : flistxattr(fd, NULL, 0);
		if (n <= 0)
			return n < 0 ? -errno : 0;
		char *buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		n = name ? fgetxattr(fd, name, buf, (size_t)n) : flistxattr(fd, buf, (size_t)n);
		if (n >= 0) {
			*ret = buf;
			return n;
		}
		int e = errno;
		free(buf);
		if (e != ERANGE || tries == 8)
			return -e;
	}
}

int root_print_take(int fd, struct root_print *ret)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct root_print p;
	memset(&p, 0, sizeof(p)); /* compared with memcmp: no stray padding */
	p.mode = st.st_mode;
	p.uid = st.st_uid;
	p.gid = st.st_gid;
	p.size = (uint64_t)st.st_size;
	p.nlink = (uint64_t)st.st_nlink;
	p.mtime_sec = st.st_mtim.tv_sec;
	p.mtime_nsec = st.st_mtim.tv_nsec;
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0)
		p.flags = (unsigned)flags;
	/* Names and values of every extended attribute, in the order listed, every
	 * byte of them (a value of any size: a hash of its first 4 KiB let a change
	 * past them go unseen). */
	uint64_t hash = 0xcbf29ce484222325ULL;
	_cleanup_free_ char *names = NULL;
	ssize_t n = xattr_whole(fd, NULL, &names);
	if (n == -ENOTSUP)
		n = 0;
	if (n < 0)
		return (int)n;
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
		hash = fnv(hash, names + off, strlen(names + off) + 1);
		_cleanup_free_ char *value = NULL;
		ssize_t len = xattr_whole(fd, names + off, &value);
		if (len < 0 && len != -ENODATA) /* ENODATA: removed since listed */
			return (int)len;
		if (len > 0)
			hash = fnv(hash, value, (size_t)len);
	}
	p.xattrs = hash;
	*ret = p;
	return 0;
}

int tree_inode_path(int fd, uint64_t ino, char *buf, size_t size)
{
	if (ino == BTRFS_FIRST_FREE_OBJECTID) {
		snprintf(buf, size, ".");
		return 0;
	}
	/* BTRFS_IOC_INO_PATHS fills a struct btrfs_data_container: counts, then
	 * offsets (relative to val[]) of NUL-terminated paths, relative to the
	 * subvolume's root. One path is enough to name the file. */
	union {
		struct btrfs_data_container container;
		char bytes[8192];
	} out;
	memset(&out, 0, sizeof(out.container));
	struct btrfs_ioctl_ino_path_args args = {
		.inum = ino,
		.size = sizeof(out),
		.fspath = (uintptr_t)&out,
	};
	if (ioctl(fd, BTRFS_IOC_INO_PATHS, &args) < 0)
		return -errno;
	if (out.container.elem_cnt == 0)
		return -ENOENT;
	uint64_t offset = out.container.val[0];
	const char *base = (const char *)out.container.val;
	if (offset >= sizeof(out) - offsetof(struct btrfs_data_container, val))
		return -EOVERFLOW;
	size_t room = sizeof(out) - offsetof(struct btrfs_data_container, val) - offset;
	snprintf(buf, size, "%.*s", (int)strnlen(base + offset, room), base + offset);
	return 0;
}
