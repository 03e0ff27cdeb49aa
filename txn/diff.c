/* SPDX-License-Identifier: MIT */
/*
 * diff.c: what changed between two generations of a target (`btrfs-txn diff`), most
 * often the pre and post snapshots around a package upgrade.
 *
 * Both trees are walked together, directory by directory, names sorted, so the
 * caller gets paths in a stable order with a directory before its content. Nothing
 * is followed: every entry is looked at with fstatat(AT_SYMLINK_NOFOLLOW) and every
 * directory opened with O_NOFOLLOW relative to its parent's fd, so a symlink in a
 * tree (even one pointing outside it) is compared as a link, never entered. A
 * directory on another device (a nested subvolume or a mount) is compared as an
 * entry but not walked, as snapshots do not include it either.
 *
 * The trees may be hostile (anyone who can write T chose what is in them), so the
 * work is bounded:
 * - The walk is iterative, on an explicit stack: a chain of 20,000 directories costs
 *   memory for 20,000 names, not 20,000 C stack frames. Only the deepest
 *   DIFF_OPEN_LEVELS levels hold their directory fds; a level whose fds were closed
 *   is opened again from its nearest open ancestor, name by name, each checked to be
 *   the same directory (device and inode) as before.
 * - Regular files of the same size are first compared by their extent lists
 *   (FIEMAP): two generations of one subvolume share extents, and the same physical
 *   extents at the same offsets hold the same bytes, whatever the file size (a 4 TiB
 *   sparse file costs one ioctl). Extents whose address says nothing about their
 *   bytes (delayed allocation, inline, compressed, encrypted) send the pair to the
 *   byte comparison, which reads at most max_compare bytes of each; a pair equal that
 *   far but longer is reported as TXN_DIFF_UNVERIFIED, never as unchanged.
 * - Only regular files are opened, and only after an O_PATH look has shown that the
 *   entry is still the regular file that was lstat'ed: a fifo or device swapped in
 *   is never opened (the open is O_NONBLOCK too).
 */
#include "internal.h"
#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

/* Directory levels that hold open fds at once (two each: one per tree). */
#define DIFF_OPEN_LEVELS 32
/* Bytes read per call when comparing content. */
#define DIFF_CHUNK (256 * 1024)

struct diff_side {
	bool present;     /* this directory exists in this tree */
	int fd;           /* -1 when closed for the fd bound (or not present) */
	dev_t dev;
	ino_t ino;
	char **names;     /* sorted entries */
	size_t count, next;
};

struct diff_frame {
	struct diff_side side[2]; /* 0: from, 1: to */
	char *name;               /* in the parent directory; NULL for the roots */
	size_t path_len;          /* length of this directory's path in diff_walk.path */
};

struct diff_walk {
	int (*each)(const struct txn_diff_entry *entry, void *ctx);
	void *ctx;
	dev_t dev[2];
	struct txn_error *error;
	const char *root[2];      /* for messages */
	uint64_t max_compare;
	bool extents_comparable;  /* both trees on one Btrfs filesystem */
	struct diff_frame *frames;
	size_t depth, frames_cap;
	char *path;               /* the current entry's path, relative to the roots */
	size_t path_cap;
	char *buf[2];
};

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The entries of the directory open at @fd, sorted. */
static int list_names(int fd, char ***ret_names, size_t *ret_count)
{
	*ret_names = NULL;
	*ret_count = 0;
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup_fd < 0)
		return -errno;
	DIR *dir = fdopendir(dup_fd);
	if (!dir) {
		close(dup_fd);
		return -ENOMEM;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *entry;
	int r = 0;
	while ((errno = 0, entry = readdir(dir))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			names = grown;
		}
		if (!(names[n] = strdup(entry->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(dir);
	if (r < 0) {
		free_names(names, n);
		return r;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), compare_names);
	*ret_names = names;
	*ret_count = n;
	return 0;
}

static char type_of(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	}
	return '?';
}

static int read_link(int dir_fd, const char *name, char **ret)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(dir_fd, name, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* Opens @name in @dir_fd for reading when it is still the regular file @seen; -ESTALE
 * when it is anything else now. Held with O_PATH first, so that a fifo or a device
 * swapped in is never opened at all. */
static int open_regular(int dir_fd, const char *name, const struct stat *seen)
{
	_cleanup_close_ int path_fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (path_fd < 0)
		return errno == ENOENT || errno == ELOOP ? -ESTALE : -errno;
	struct stat st;
	if (fstat(path_fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_dev != seen->st_dev || st.st_ino != seen->st_ino)
		return -ESTALE;
	int fd = reopen_fd(path_fd, O_RDONLY | O_NONBLOCK);
	if (fd == -ENOENT) {
		/* No /proc: by name again, still never following a link or blocking. */
		fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT || errno == ELOOP ? -ESTALE : -errno;
	}
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != seen->st_dev ||
	    st.st_ino != seen->st_ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* Extent flags whose physical address does not identify the bytes. */
#define EXTENT_OPAQUE                                                                      \
	(FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED |           \
	 FIEMAP_EXTENT_DATA_ENCRYPTED | FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE | \
	 FIEMAP_EXTENT_DATA_TAIL)

/* Whether @a and @b (of @size bytes each) map the same physical extents at the same
 * offsets: then they hold the same bytes. False also when it cannot be told. */
static bool same_extents(int a, int b, uint64_t size)
{
	enum { BATCH = 128 };
	size_t bytes = sizeof(struct fiemap) + BATCH * sizeof(struct fiemap_extent);
	_cleanup_free_ struct fiemap *map_a = malloc(bytes);
	_cleanup_free_ struct fiemap *map_b = malloc(bytes);
	if (!map_a || !map_b)
		return false;
	uint64_t start = 0;
	while (start < size) {
		struct fiemap *maps[2] = { map_a, map_b };
		int fds[2] = { a, b };
		for (int s = 0; s < 2; s++) {
			memset(maps[s], 0, bytes);
			maps[s]->fm_start = start;
			maps[s]->fm_length = size - start;
			/* Writes back dirty pages first, so what is mapped is what is read. */
			maps[s]->fm_flags = FIEMAP_FLAG_SYNC;
			maps[s]->fm_extent_count = BATCH;
			if (ioctl(fds[s], FS_IOC_FIEMAP, maps[s]) < 0)
				return false;
		}
		uint32_t n = map_a->fm_mapped_extents;
		if (n != map_b->fm_mapped_extents || n > BATCH)
			return false;
		if (n == 0)
			return true; /* holes to the end on both sides */
		for (uint32_t i = 0; i < n; i++) {
			const struct fiemap_extent *x = &map_a->fm_extents[i], *y = &map_b->fm_extents[i];
			if ((x->fe_flags | y->fe_flags) & EXTENT_OPAQUE)
				return false;
			if (x->fe_logical != y->fe_logical || x->fe_physical != y->fe_physical ||
			    x->fe_length != y->fe_length || x->fe_length == 0 ||
			    ((x->fe_flags ^ y->fe_flags) & ~(uint32_t)FIEMAP_EXTENT_SHARED))
				return false;
		}
		const struct fiemap_extent *last = &map_a->fm_extents[n - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST)
			return true;
		if (last->fe_logical + last->fe_length <= start)
			return false; /* no progress: do not trust it */
		start = last->fe_logical + last->fe_length;
	}
	return true;
}

/* Reads up to @len bytes at @offset, fewer only at end of file. */
static ssize_t read_at(int fd, char *buf, size_t len, uint64_t offset)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Compares the content of two regular files of equal size @size; sets
 * TXN_DIFF_CONTENT or TXN_DIFF_UNVERIFIED in @e when so. */
static int compare_content(struct diff_walk *w, int dir_a, int dir_b, const char *name,
			   const struct stat *st_a, const struct stat *st_b, uint64_t size,
			   struct txn_diff_entry *e)
{
	if (size == 0)
		return 0;
	_cleanup_close_ int a = open_regular(dir_a, name, st_a);
	if (a < 0)
		return a;
	_cleanup_close_ int b = open_regular(dir_b, name, st_b);
	if (b < 0)
		return b;
	if (w->extents_comparable && same_extents(a, b, size))
		return 0;
	uint64_t limit = size < w->max_compare ? size : w->max_compare;
	for (uint64_t done = 0; done < limit;) {
		size_t want = limit - done < DIFF_CHUNK ? (size_t)(limit - done) : DIFF_CHUNK;
		ssize_t n = read_at(a, w->buf[0], want, done);
		if (n < 0)
			return (int)n;
		ssize_t m = read_at(b, w->buf[1], want, done);
		if (m < 0)
			return (int)m;
		if (n != m || memcmp(w->buf[0], w->buf[1], (size_t)n) != 0) {
			e->changes |= TXN_DIFF_CONTENT;
			return 0;
		}
		if (n == 0)
			return 0; /* both shrank alike since the stat */
		done += (uint64_t)n;
	}
	if (limit < size) {
		e->changes |= TXN_DIFF_UNVERIFIED;
		e->compared_bytes = limit;
	}
	return 0;
}

static void fill_side(const struct stat *st, char *type, unsigned *mode, unsigned *uid,
		      unsigned *gid, uint64_t *size)
{
	*type = type_of(st->st_mode);
	*mode = st->st_mode & 07777;
	*uid = st->st_uid;
	*gid = st->st_gid;
	*size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? (uint64_t)st->st_size : 0;
}

/* Opens @name below @dir_fd for the walk when it is a directory on the tree's own
 * device and still the one looked at; -1 when it is not to be walked. */
static int open_child_dir(int dir_fd, const char *name, const struct stat *st, dev_t dev)
{
	if (dir_fd < 0 || !S_ISDIR(st->st_mode) || st->st_dev != dev)
		return -1;
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat now;
	if (fd >= 0 && (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Compares the entry @name of the current directory; a directory to walk next comes
 * back open in @ret_child (one fd per tree, -1 for none) with its stat. */
static int compare_entry(struct diff_walk *w, int fd_from, int fd_to, const char *name,
			 int ret_child[2], struct stat ret_child_st[2])
{
	const char *path = w->path;
	struct stat a, b;
	bool has_a = fd_from >= 0 && fstatat(fd_from, name, &a, AT_SYMLINK_NOFOLLOW) == 0;
	if (fd_from >= 0 && !has_a && errno != ENOENT)
		return txn_fail(w->error, TXN_ABORTED, errno, "cannot stat '%s/%s'", w->root[0], path);
	bool has_b = fd_to >= 0 && fstatat(fd_to, name, &b, AT_SYMLINK_NOFOLLOW) == 0;
	if (fd_to >= 0 && !has_b && errno != ENOENT)
		return txn_fail(w->error, TXN_ABORTED, errno, "cannot stat '%s/%s'", w->root[1], path);
	if (!has_a && !has_b)
		return 0;

	struct txn_diff_entry e = { .path = path };
	_cleanup_free_ char *link_a = NULL;
	_cleanup_free_ char *link_b = NULL;
	int r = 0;
	if (has_a) {
		fill_side(&a, &e.type_from, &e.mode_from, &e.uid_from, &e.gid_from, &e.size_from);
		if (S_ISLNK(a.st_mode) && (r = read_link(fd_from, name, &link_a)) < 0)
			return txn_fail(w->error, TXN_ABORTED, r, "cannot read link '%s/%s'",
					w->root[0], path);
		e.link_from = link_a;
	}
	if (has_b) {
		fill_side(&b, &e.type_to, &e.mode_to, &e.uid_to, &e.gid_to, &e.size_to);
		if (S_ISLNK(b.st_mode) && (r = read_link(fd_to, name, &link_b)) < 0)
			return txn_fail(w->error, TXN_ABORTED, r, "cannot read link '%s/%s'",
					w->root[1], path);
		e.link_to = link_b;
	}
	if (has_a && has_b) {
		e.kind = TXN_DIFF_MODIFIED;
		if (e.type_from != e.type_to) {
			e.changes |= TXN_DIFF_TYPE;
		} else if (S_ISLNK(a.st_mode)) {
			if (strcmp(link_a, link_b) != 0)
				e.changes |= TXN_DIFF_TARGET;
		} else if (S_ISREG(a.st_mode)) {
			if (a.st_size != b.st_size)
				e.changes |= TXN_DIFF_SIZE;
			else if ((r = compare_content(w, fd_from, fd_to, name, &a, &b,
						      (uint64_t)a.st_size, &e)) < 0)
				return txn_fail(w->error, TXN_ABORTED, r == -ESTALE ? EAGAIN : r,
						r == -ESTALE ? "'%s' changed while it was compared (in '%s' or '%s')"
							     : "cannot compare '%s' in '%s' and '%s'",
						path, w->root[0], w->root[1]);
		} else if ((S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) && a.st_rdev != b.st_rdev) {
			e.changes |= TXN_DIFF_CONTENT;
		}
		/* Across a change of type, the type says it all. */
		if (!(e.changes & TXN_DIFF_TYPE) && e.mode_from != e.mode_to && !S_ISLNK(a.st_mode))
			e.changes |= TXN_DIFF_MODE;
		if (!(e.changes & TXN_DIFF_TYPE) && (e.uid_from != e.uid_to || e.gid_from != e.gid_to))
			e.changes |= TXN_DIFF_OWNER;
	} else {
		e.kind = has_a ? TXN_DIFF_REMOVED : TXN_DIFF_ADDED;
	}
	if ((e.kind != TXN_DIFF_MODIFIED || e.changes) && (r = w->each(&e, w->ctx)) < 0)
		return txn_fail(w->error, TXN_ABORTED, r, "diff stopped at '%s'", path);

	/* Walk into directories: both sides, or the one side there is, so that a removed
	 * or added directory lists what it held. */
	if (has_a && (ret_child[0] = open_child_dir(fd_from, name, &a, w->dev[0])) >= 0)
		ret_child_st[0] = a;
	if (has_b && (ret_child[1] = open_child_dir(fd_to, name, &b, w->dev[1])) >= 0)
		ret_child_st[1] = b;
	return 0;
}

/* Makes room in the path buffer for @extra more bytes. */
static int path_reserve(struct diff_walk *w, size_t len, size_t extra)
{
	if (len + extra + 1 <= w->path_cap)
		return 0;
	size_t cap = w->path_cap ? w->path_cap : 256;
	while (cap < len + extra + 1)
		cap *= 2;
	char *grown = realloc(w->path, cap);
	if (!grown)
		return -ENOMEM;
	w->path = grown;
	w->path_cap = cap;
	return 0;
}

static void frame_close(struct diff_frame *f)
{
	for (int s = 0; s < 2; s++)
		if (f->side[s].fd >= 0) {
			close(f->side[s].fd);
			f->side[s].fd = -1;
		}
}

/* Pushes the directory @name (open in @fds, either may be -1) as the new top. Takes
 * the fds in every case. */
static int frame_push(struct diff_walk *w, const char *name, int fds[2], const struct stat st[2],
		      size_t path_len)
{
	if (w->depth == w->frames_cap) {
		size_t cap = w->frames_cap ? w->frames_cap * 2 : 64;
		struct diff_frame *grown = realloc(w->frames, cap * sizeof(*grown));
		if (!grown) {
			for (int s = 0; s < 2; s++)
				if (fds[s] >= 0)
					close(fds[s]);
			return txn_fail(w->error, TXN_ABORTED, ENOMEM, "diff");
		}
		w->frames = grown;
		w->frames_cap = cap;
	}
	struct diff_frame *f = &w->frames[w->depth++];
	memset(f, 0, sizeof(*f));
	f->path_len = path_len;
	for (int s = 0; s < 2; s++) {
		f->side[s].fd = fds[s];
		f->side[s].present = fds[s] >= 0;
		if (f->side[s].present) {
			f->side[s].dev = st[s].st_dev;
			f->side[s].ino = st[s].st_ino;
		}
	}
	if (name && !(f->name = strdup(name)))
		return txn_fail(w->error, TXN_ABORTED, ENOMEM, "diff");
	for (int s = 0; s < 2; s++) {
		if (!f->side[s].present)
			continue;
		int r = list_names(f->side[s].fd, &f->side[s].names, &f->side[s].count);
		if (r < 0)
			return txn_fail(w->error, TXN_ABORTED, r, "cannot list '%s/%.*s'", w->root[s],
					(int)path_len, w->path);
	}
	/* Bound the fds held: the level DIFF_OPEN_LEVELS above the new top lets go of
	 * its own (the roots keep theirs: they are the anchors to reopen from). */
	if (w->depth > DIFF_OPEN_LEVELS + 1)
		frame_close(&w->frames[w->depth - 1 - DIFF_OPEN_LEVELS]);
	return 0;
}

static void frame_pop(struct diff_walk *w)
{
	struct diff_frame *f = &w->frames[--w->depth];
	if (w->depth > 0)
		frame_close(f);
	for (int s = 0; s < 2; s++)
		free_names(f->side[s].names, f->side[s].count);
	free(f->name);
}

/* Opens again the fds of frame @k that the bound closed, walking down by name from
 * the nearest ancestor that still holds its fd; each level must be the very directory
 * it was (device and inode), or the tree changed under the walk. */
static int frame_reopen(struct diff_walk *w, size_t k)
{
	for (int s = 0; s < 2; s++) {
		if (!w->frames[k].side[s].present || w->frames[k].side[s].fd >= 0)
			continue;
		size_t j = k;
		while (w->frames[j].side[s].fd < 0)
			j--; /* the roots are always open */
		for (size_t m = j + 1; m <= k; m++) {
			struct diff_side *side = &w->frames[m].side[s];
			int fd = openat(w->frames[m - 1].side[s].fd, w->frames[m].name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat st;
			if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_dev != side->dev || st.st_ino != side->ino)) {
				close(fd);
				fd = -1;
				errno = EAGAIN;
			}
			if (fd < 0)
				return txn_fail(w->error, TXN_ABORTED, errno,
						"'%s/%.*s' changed during the diff", w->root[s],
						(int)w->frames[m].path_len, w->path);
			side->fd = fd;
			/* Levels above the fd bound let go again once their child is open. */
			if (m > j + 1 && m - 1 + DIFF_OPEN_LEVELS < k + 1 && m - 1 > 0)
				frame_close(&w->frames[m - 1]);
		}
	}
	return 0;
}

static int walk(struct diff_walk *w, int fd_from, int fd_to)
{
	struct stat st[2];
	if (fstat(fd_from, &st[0]) < 0 || fstat(fd_to, &st[1]) < 0)
		return txn_fail(w->error, TXN_ABORTED, errno, "cannot stat '%s'", w->root[0]);
	if (path_reserve(w, 0, 0) < 0)
		return txn_fail(w->error, TXN_ABORTED, ENOMEM, "diff");
	w->path[0] = '\0';
	int fds[2] = { fd_from, fd_to };
	int r = frame_push(w, NULL, fds, st, 0);
	while (r == 0 && w->depth > 0) {
		size_t top = w->depth - 1;
		struct diff_side *a = &w->frames[top].side[0], *b = &w->frames[top].side[1];
		bool more_a = a->next < a->count, more_b = b->next < b->count;
		if (!more_a && !more_b) {
			frame_pop(w);
			continue;
		}
		if ((r = frame_reopen(w, top)) < 0)
			break;
		int order = !more_a ? 1 : !more_b ? -1 : strcmp(a->names[a->next], b->names[b->next]);
		const char *name = order <= 0 ? a->names[a->next] : b->names[b->next];
		int from = order <= 0 ? a->fd : -1, to = order >= 0 ? b->fd : -1;
		if (order <= 0)
			a->next++;
		if (order >= 0)
			b->next++;
		size_t len = w->frames[top].path_len, name_len = strlen(name);
		if (path_reserve(w, len, name_len + 1) < 0) {
			r = txn_fail(w->error, TXN_ABORTED, ENOMEM, "diff");
			break;
		}
		size_t child_len = len;
		if (len)
			w->path[child_len++] = '/';
		memcpy(w->path + child_len, name, name_len + 1);
		child_len += name_len;

		int child[2] = { -1, -1 };
		struct stat child_st[2];
		r = compare_entry(w, from, to, name, child, child_st);
		if (r < 0) {
			for (int s = 0; s < 2; s++)
				if (child[s] >= 0)
					close(child[s]);
			break;
		}
		if (child[0] >= 0 || child[1] >= 0)
			r = frame_push(w, name, child, child_st, child_len);
	}
	/* The roots' fds belong to the caller. */
	if (w->depth > 0) {
		w->frames[0].side[0].fd = -1;
		w->frames[0].side[1].fd = -1;
	}
	while (w->depth > 0)
		frame_pop(w);
	return r;
}

/* Whether the trees open at @a and @b are on one Btrfs filesystem (same fsid), so
 * that equal extent addresses mean equal bytes. */
static bool one_btrfs(int a, int b)
{
	struct statfs sa, sb;
	if (fstatfs(a, &sa) < 0 || fstatfs(b, &sb) < 0 || sa.f_type != BTRFS_SUPER_MAGIC ||
	    sb.f_type != BTRFS_SUPER_MAGIC)
		return false;
	struct btrfs_ioctl_fs_info_args ia = { 0 }, ib = { 0 };
	if (ioctl(a, BTRFS_IOC_FS_INFO, &ia) < 0 || ioctl(b, BTRFS_IOC_FS_INFO, &ib) < 0)
		return false;
	return memcmp(ia.fsid, ib.fsid, sizeof(ia.fsid)) == 0;
}

/* Opens generation @number of @t (its live tree when TXN_GENERATION_LIVE or the
 * current generation's number). */
static int open_generation(struct target *t, uint64_t number, char *ret_name, size_t size,
			   struct txn_error *error)
{
	uint64_t current = t->state_fd >= 0 ? generation_current(t->state_fd) : 0;
	if (number == TXN_GENERATION_LIVE || number == current) {
		snprintf(ret_name, size, "%s", t->path);
		int fd = openat(t->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd >= 0 ? fd : txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", t->path);
	}
	snprintf(ret_name, size, "%s/gen-%llu", t->state_path, (unsigned long long)number);
	int fd = -1;
	if (t->state_fd >= 0) {
		char name[32];
		snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)number);
		fd = openat(t->state_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0 && (t->state_fd < 0 || errno == ENOENT))
		return txn_fail(error, TXN_INVALID, 0,
				"generation %llu of '%s' is not kept (current is %llu; "
				"'btrfs-txn status' lists those that are)",
				(unsigned long long)number, t->path, (unsigned long long)current);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", ret_name);
	return fd;
}

int txn_diff(const char *path, uint64_t from, uint64_t to,
	     int (*each)(const struct txn_diff_entry *entry, void *ctx), void *ctx,
	     const struct txn_diff_options *options, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, 0, &t, error);
	if (r < 0)
		return r;
	char name_from[PATH_MAX + 32], name_to[PATH_MAX + 32];
	_cleanup_close_ int fd_from = open_generation(&t, from, name_from, sizeof(name_from), error);
	_cleanup_close_ int fd_to = fd_from >= 0 ? open_generation(&t, to, name_to, sizeof(name_to), error)
						 : -1;
	struct stat st_from, st_to;
	if (fd_from < 0 || fd_to < 0) {
		r = fd_from < 0 ? fd_from : fd_to;
	} else if (fstat(fd_from, &st_from) < 0 || fstat(fd_to, &st_to) < 0) {
		r = txn_fail(error, TXN_ABORTED, errno, "cannot stat the generations of '%s'", t.path);
	} else {
		struct diff_walk w = {
			.each = each, .ctx = ctx, .dev = { st_from.st_dev, st_to.st_dev },
			.error = error, .root = { name_from, name_to },
			.max_compare = options && options->max_compare ? options->max_compare
								       : TXN_DIFF_DEFAULT_MAX_COMPARE,
			.extents_comparable = one_btrfs(fd_from, fd_to),
		};
		w.buf[0] = malloc(DIFF_CHUNK);
		w.buf[1] = malloc(DIFF_CHUNK);
		if (!w.buf[0] || !w.buf[1])
			r = txn_fail(error, TXN_ABORTED, ENOMEM, "diff");
		else
			r = walk(&w, fd_from, fd_to);
		free(w.buf[0]);
		free(w.buf[1]);
		free(w.frames);
		free(w.path);
	}
	target_close(&t);
	return r;
}
