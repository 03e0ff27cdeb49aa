/* SPDX-License-Identifier: MIT */
/*
 * init_tree.c: what init needs to know about the plain directory it converts.
 *
 * A scan records every inode below the directory (number, type, links, size, ctime,
 * mtime, and its path), so that init can tell whether anyone changed the directory
 * while it was copied and exchanged: any change of data, metadata or names moves
 * the ctime of an inode in the tree (a new or removed name moves its directory's),
 * and a new or vanished inode changes the set. The first scan also refuses what
 * cannot be converted (a nested subvolume or mount, a nodatacow file with several
 * names) and collects what `cp -a` does not carry: inode flags (chattr +i, +a, +C
 * and the like) and file capabilities, which init then sets on the copy itself.
 */
#define _XOPEN_SOURCE 700
#include "internal.h"
#include "init_tree.h"

#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CAPABILITY_XATTR "security.capability"

/* nftw() has no context argument: the scan in progress. */
static struct init_tree *scan_tree;
static size_t scan_root_len;
static dev_t scan_root_dev;
static bool scan_special;
static int scan_errno;
static int scan_root_fd = -1;    /* the directory scanned, for openat2 beneath it */

static int pool_add(struct init_tree *tree, const char *text, size_t *ret_offset)
{
	size_t len = strlen(text) + 1;
	if (tree->pool_len + len > tree->pool_size) {
		size_t size = tree->pool_size ? tree->pool_size * 2 : 4096;
		while (size < tree->pool_len + len)
			size *= 2;
		char *pool = realloc(tree->pool, size);
		if (!pool)
			return -ENOMEM;
		tree->pool = pool;
		tree->pool_size = size;
	}
	memcpy(tree->pool + tree->pool_len, text, len);
	*ret_offset = tree->pool_len;
	tree->pool_len += len;
	return 0;
}

const char *init_tree_path(const struct init_tree *tree, const struct init_entry *e)
{
	return tree->pool + e->path;
}

static int special_add(struct init_tree *tree, const char *rel, const struct stat *st,
		       unsigned flags, const void *cap, size_t cap_len)
{
	if (tree->n_special == tree->allocated_special) {
		size_t allocated = tree->allocated_special ? tree->allocated_special * 2 : 8;
		struct init_special *special = realloc(tree->special, allocated * sizeof(*special));
		if (!special)
			return -ENOMEM;
		tree->special = special;
		tree->allocated_special = allocated;
	}
	struct init_special *s = &tree->special[tree->n_special];
	memset(s, 0, sizeof(*s));
	if (!(s->path = strdup(rel)))
		return -ENOMEM;
	if (cap_len) {
		if (!(s->capability = malloc(cap_len))) {
			free(s->path);
			return -ENOMEM;
		}
		memcpy(s->capability, cap, cap_len);
		s->capability_len = cap_len;
	}
	s->flags = flags;
	s->is_dir = S_ISDIR(st->st_mode);
	tree->n_special++;
	return 0;
}

static void refuse(const char *path, const char *problem)
{
	snprintf(scan_tree->offender, sizeof(scan_tree->offender), "%s", path);
	scan_tree->problem = problem;
}

/* The flags and the capability of one entry of the first scan, kept when set. */
static int collect_special(const char *path, const char *rel, const struct stat *st)
{
	unsigned flags = 0;
	_cleanup_close_ int fd = -EBADF;
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		/* Opened beneath the directory scanned, never through a symlink, and only
		 * when it is the very inode nftw saw: its owner could have swapped a
		 * directory on the way for a symlink since, and root would open (and
		 * send an ioctl to) a file or device elsewhere. */
		fd = open_beneath_no_symlinks(scan_root_fd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
						  O_NOATIME | O_CLOEXEC, 0);
		struct stat now;
		if (fd < 0)
			errno = -fd;
		if (fd >= 0 && (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
			refuse(path, "was replaced while it was scanned:");
			return 1;
		}
		if (fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
			scan_errno = errno;
			refuse(path, "cannot read the inode flags of");
			return 1;
		}
		flags &= INIT_CARRIED_FLAGS;
	}
	char cap[256];
	ssize_t cap_len = 0;
	if (S_ISREG(st->st_mode)) {
		cap_len = fgetxattr(fd, CAPABILITY_XATTR, cap, sizeof(cap));
		if (cap_len < 0 && errno != ENODATA && errno != ENOTSUP) {
			scan_errno = errno;
			refuse(path, "cannot read the file capability of");
			return 1;
		}
		if (cap_len < 0)
			cap_len = 0;
	}
	if ((flags & FS_NOCOW_FL) && S_ISREG(st->st_mode) && st->st_nlink > 1) {
		refuse(path, "is nodatacow (chattr +C) and has several hard links; init can carry "
			     "+C only on a file with one name:");
		return 1;
	}
	/* The old directory's +i/+a are cleared before it is deleted: on an inode with
	 * another name, maybe outside the directory (a log root made append-only), that
	 * would lift the flag there too. */
	if ((flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) && !S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		refuse(path, "is immutable or append-only (chattr +i/+a) and has several hard links; "
			     "init would clear the flag for every name of it:");
		return 1;
	}
	if (!flags && !cap_len)
		return 0;
	int r = special_add(scan_tree, rel, st, flags, cap, (size_t)cap_len);
	if (r < 0) {
		scan_errno = -r;
		return 1;
	}
	return 0;
}

static int scan_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DNR || type == FTW_NS) {
		scan_errno = errno ? errno : EACCES;
		refuse(path, "cannot read");
		return 1;
	}
	struct init_tree *tree = scan_tree;
	/* A nested subvolume or mount would be copied as a plain tree and then removed
	 * from the original: refuse rather than flatten it. */
	if (ftw->level > 0 && (st->st_dev != scan_root_dev || (S_ISDIR(st->st_mode) && st->st_ino == 256))) {
		refuse(path, "holds another subvolume or mount at");
		return 1;
	}
	const char *rel = ftw->level > 0 ? path + scan_root_len + 1 : ".";
	if (tree->n == tree->allocated) {
		size_t allocated = tree->allocated ? tree->allocated * 2 : 256;
		struct init_entry *entries = realloc(tree->entries, allocated * sizeof(*entries));
		if (!entries) {
			scan_errno = ENOMEM;
			return 1;
		}
		tree->entries = entries;
		tree->allocated = allocated;
	}
	struct init_entry *e = &tree->entries[tree->n];
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->mode = st->st_mode;
	e->nlink = st->st_nlink;
	e->size = st->st_size;
	e->ctime = st->st_ctim;
	e->mtime = st->st_mtim;
	e->is_root = ftw->level == 0;
	if (pool_add(tree, rel, &e->path) < 0) {
		scan_errno = ENOMEM;
		return 1;
	}
	tree->n++;
	if (scan_special && ftw->level > 0 && collect_special(path, rel, st))
		return 1;
	return 0;
}

static int entry_order(const void *a, const void *b)
{
	const struct init_entry *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->path < y->path ? -1 : x->path > y->path;
}

int init_tree_scan(const char *path, bool collect, struct init_tree *ret, struct txn_error *error)
{
	struct stat root;
	if (lstat(path, &root) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot stat '%s'", path);
	struct init_tree tree = { 0 };
	scan_tree = &tree;
	scan_root_len = strlen(path);
	scan_root_dev = root.st_dev;
	scan_special = collect;
	scan_errno = 0;
	scan_root_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat opened;
	if (scan_root_fd < 0 || fstat(scan_root_fd, &opened) < 0 || opened.st_dev != root.st_dev ||
	    opened.st_ino != root.st_ino) {
		int e = scan_root_fd < 0 ? errno : ESTALE;
		if (scan_root_fd >= 0)
			close(scan_root_fd);
		scan_root_fd = -1;
		scan_tree = NULL;
		return txn_fail(error, TXN_ABORTED, e, "cannot open '%s'", path);
	}
	int r = nftw(path, scan_entry, 64, FTW_PHYS);
	close(scan_root_fd);
	scan_root_fd = -1;
	scan_tree = NULL;
	if (r != 0) {
		int e = scan_errno ? scan_errno : errno;
		if (tree.problem && strstr(tree.problem, "subvolume"))
			r = txn_fail(error, TXN_UNSUPPORTED, 0,
				     "'%s' %s '%s'; init cannot convert it", path, tree.problem,
				     tree.offender);
		else if (tree.problem && strstr(tree.problem, "nodatacow"))
			r = txn_fail(error, TXN_UNSUPPORTED, 0,
				     "'%s' %s give '%s' a single name (or drop +C) and run init again",
				     tree.offender, tree.problem, tree.offender);
		else if (tree.problem && strstr(tree.problem, "append-only"))
			r = txn_fail(error, TXN_UNSUPPORTED, 0,
				     "'%s' %s give '%s' a single name (or drop the flag) and run init "
				     "again", tree.offender, tree.problem, tree.offender);
		else if (tree.problem)
			r = txn_fail(error, TXN_ABORTED, e, "%s '%s'", tree.problem, tree.offender);
		else
			r = txn_fail(error, TXN_ABORTED, e, "cannot walk '%s'", path);
		init_tree_free(&tree);
		return r;
	}
	/* Sorted by inode, so two scans compare entry by entry and holders look up
	 * inodes by bisection. */
	qsort(tree.entries, tree.n, sizeof(*tree.entries), entry_order);
	*ret = tree;
	return 0;
}

void init_tree_free(struct init_tree *tree)
{
	for (size_t i = 0; i < tree->n_special; i++) {
		free(tree->special[i].path);
		free(tree->special[i].capability);
	}
	free(tree->special);
	free(tree->entries);
	free(tree->pool);
	memset(tree, 0, sizeof(*tree));
}

bool init_tree_has(const struct init_tree *tree, ino_t ino)
{
	size_t lo = 0, hi = tree->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tree->entries[mid].ino == ino)
			return true;
		if (tree->entries[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool same_entry(const struct init_tree *a, const struct init_entry *x,
		       const struct init_tree *b, const struct init_entry *y)
{
	/* The exchange itself moves the root directory's ctime; its mtime, size and
	 * the entries below still show any change of its names. */
	return x->ino == y->ino && x->mode == y->mode && x->nlink == y->nlink && x->size == y->size &&
	       same_time(&x->mtime, &y->mtime) && x->is_root == y->is_root &&
	       (x->is_root || same_time(&x->ctime, &y->ctime)) &&
	       strcmp(init_tree_path(a, x), init_tree_path(b, y)) == 0;
}

bool init_tree_same(const struct init_tree *before, const struct init_tree *after, char *what,
		    size_t size)
{
	size_t i = 0, k = 0;
	while (i < before->n && k < after->n && same_entry(before, &before->entries[i], after,
							    &after->entries[k])) {
		i++;
		k++;
	}
	if (i == before->n && k == after->n)
		return true;
	const struct init_entry *x = i < before->n ? &before->entries[i] : NULL;
	const struct init_entry *y = k < after->n ? &after->entries[k] : NULL;
	if (x && (!y || x->ino < y->ino))
		snprintf(what, size, "'%s' was removed or renamed", init_tree_path(before, x));
	else if (y && (!x || y->ino < x->ino))
		snprintf(what, size, "'%s' was created", init_tree_path(after, y));
	else
		snprintf(what, size, "'%s' was modified", init_tree_path(after, y));
	return false;
}

/* mkdir -p of the directories above @rel beneath @root_fd. */
static int make_parents(int root_fd, const char *rel)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", rel);
	for (char *slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdirat(root_fd, buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*slash = '/';
	}
	return 0;
}

int init_tree_precreate(const struct init_tree *tree, int root_fd, const char *display,
			struct txn_error *error)
{
	/* Btrfs takes +C only on an empty file, and refuses to reflink between a
	 * nodatacow file and a datacow one: so each nodatacow file is made empty, with
	 * +C, before cp runs; cp then opens and fills it (and sets owner, mode, times). */
	for (size_t i = 0; i < tree->n_special; i++) {
		const struct init_special *s = &tree->special[i];
		if (s->is_dir || !(s->flags & FS_NOCOW_FL))
			continue;
		int r = make_parents(root_fd, s->path);
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "cannot prepare '%s/%s'", display, s->path);
		_cleanup_close_ int fd = openat(root_fd, s->path,
						O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		unsigned flags = 0;
		if (fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ||
		    (flags |= FS_NOCOW_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0))
			return txn_fail(error, TXN_ABORTED, errno, "cannot make '%s/%s' nodatacow",
					display, s->path);
	}
	return 0;
}

int init_tree_carry(const struct init_tree *tree, int root_fd, const char *display,
		    struct txn_error *error)
{
	for (size_t i = 0; i < tree->n_special; i++) {
		const struct init_special *s = &tree->special[i];
		_cleanup_close_ int fd = open_beneath(root_fd, s->path,
						      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
		if (fd < 0)
			return txn_fail(error, TXN_ABORTED, fd, "cannot open the copy '%s/%s'", display,
					s->path);
		/* cp -a normally keeps the capability; set it again in case an owner change
		 * after the copy of the xattrs dropped it. */
		if (s->capability_len &&
		    fsetxattr(fd, CAPABILITY_XATTR, s->capability, s->capability_len, 0) < 0)
			return txn_fail(error, TXN_ABORTED, errno,
					"cannot set the file capability of '%s/%s'", display, s->path);
		unsigned flags = 0;
		if (s->flags && (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ||
				 (flags |= s->flags, ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)))
			return txn_fail(error, TXN_ABORTED, errno,
					"cannot set the inode flags (chattr) of '%s/%s'", display,
					s->path);
	}
	return 0;
}

/* nftw() context of init_tree_unprotect(). */
static struct txn_error *unprotect_error;

static int unprotect_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	unsigned flags = 0;
	if (fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
		txn_fail(unprotect_error, TXN_NEEDS_PERSON, errno, "cannot read the inode flags of '%s'",
			 path);
		return 1;
	}
	if (!(flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)))
		return 0;
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		/* Another name may be outside (the first scan refuses such a file; this
		 * one got a link since): the flag stays, a person decides. */
		txn_fail(unprotect_error, TXN_NEEDS_PERSON, 0,
			 "'%s' is immutable or append-only and has another name; not clearing the "
			 "flag for every name of it: remove its other names or run 'chattr -i -a' "
			 "on it, then 'btrfs-txn recover'", path);
		return 1;
	}
	flags &= ~(unsigned)(FS_IMMUTABLE_FL | FS_APPEND_FL);
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) {
		txn_fail(unprotect_error, TXN_NEEDS_PERSON, errno,
			 "cannot clear chattr +i/+a on '%s' (run 'chattr -i -a' on it, then "
			 "'btrfs-txn recover')", path);
		return 1;
	}
	return 0;
}

int init_tree_unprotect(const char *path, struct txn_error *error)
{
	unprotect_error = error;
	int r = nftw(path, unprotect_entry, 64, FTW_PHYS | FTW_MOUNT);
	unprotect_error = NULL;
	if (r == 0)
		return 0;
	if (error && error->status != TXN_OK)
		return -(error->errnum ? error->errnum : EIO);
	return txn_fail(error, TXN_NEEDS_PERSON, errno, "cannot walk '%s'", path);
}
