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
 * Regular files of the same size are compared byte by byte: the trees share extents,
 * but a cheaper test (mtime, generation) would miss a same-second rewrite.
 */
#include "internal.h"
#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

struct diff_walk {
	int (*each)(const struct txn_diff_entry *entry, void *ctx);
	void *ctx;
	dev_t dev_from, dev_to;
	struct txn_error *error;
	const char *root_from, *root_to; /* for messages */
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

/* The entries of the directory open at @fd, sorted; none when @fd < 0. */
static int list_names(int fd, char ***ret_names, size_t *ret_count)
{
	*ret_names = NULL;
	*ret_count = 0;
	if (fd < 0)
		return 0;
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
	errno = 0;
	while ((entry = readdir(dir))) {
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

/* Whether two regular files hold the same bytes (their sizes are equal). */
static int same_content(int dir_a, int dir_b, const char *name, bool *ret_same)
{
	_cleanup_close_ int a = openat(dir_a, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (a < 0)
		return -errno;
	_cleanup_close_ int b = openat(dir_b, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (b < 0)
		return -errno;
	enum { CHUNK = 65536 };
	_cleanup_free_ char *buf_a = malloc(CHUNK);
	_cleanup_free_ char *buf_b = malloc(CHUNK);
	if (!buf_a || !buf_b)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(a, buf_a, CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t got = 0;
		while (got < (size_t)n) {
			ssize_t m = read(b, buf_b + got, (size_t)n - got);
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0)
				return -errno;
			if (m == 0)
				break;
			got += (size_t)m;
		}
		if (got != (size_t)n || memcmp(buf_a, buf_b, got) != 0) {
			*ret_same = false;
			return 0;
		}
		if (n == 0) {
			*ret_same = true;
			return 0;
		}
	}
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

static int walk(struct diff_walk *w, int fd_from, int fd_to, const char *prefix);

/* Opens @name below @dir_fd for the walk when it is a directory on the tree's own
 * device; -1 when it is not to be walked. */
static int open_child_dir(int dir_fd, const char *name, const struct stat *st, dev_t dev)
{
	if (dir_fd < 0 || !S_ISDIR(st->st_mode) || st->st_dev != dev)
		return -1;
	return openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int compare_entry(struct diff_walk *w, int fd_from, int fd_to, const char *name,
			 const char *path)
{
	struct stat a, b;
	bool has_a = fd_from >= 0 && fstatat(fd_from, name, &a, AT_SYMLINK_NOFOLLOW) == 0;
	if (fd_from >= 0 && !has_a && errno != ENOENT)
		return txn_fail(w->error, TXN_ABORTED, errno, "cannot stat '%s/%s'", w->root_from, path);
	bool has_b = fd_to >= 0 && fstatat(fd_to, name, &b, AT_SYMLINK_NOFOLLOW) == 0;
	if (fd_to >= 0 && !has_b && errno != ENOENT)
		return txn_fail(w->error, TXN_ABORTED, errno, "cannot stat '%s/%s'", w->root_to, path);
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
					w->root_from, path);
		e.link_from = link_a;
	}
	if (has_b) {
		fill_side(&b, &e.type_to, &e.mode_to, &e.uid_to, &e.gid_to, &e.size_to);
		if (S_ISLNK(b.st_mode) && (r = read_link(fd_to, name, &link_b)) < 0)
			return txn_fail(w->error, TXN_ABORTED, r, "cannot read link '%s/%s'",
					w->root_to, path);
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
			bool same = true;
			if (a.st_size != b.st_size)
				e.changes |= TXN_DIFF_SIZE;
			else if ((r = same_content(fd_from, fd_to, name, &same)) < 0)
				return txn_fail(w->error, TXN_ABORTED, r, "cannot compare '%s' in '%s' and '%s'",
						path, w->root_from, w->root_to);
			if (!same)
				e.changes |= TXN_DIFF_CONTENT;
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
	_cleanup_close_ int child_a = has_a ? open_child_dir(fd_from, name, &a, w->dev_from) : -1;
	_cleanup_close_ int child_b = has_b ? open_child_dir(fd_to, name, &b, w->dev_to) : -1;
	if (child_a < 0 && child_b < 0)
		return 0;
	return walk(w, child_a, child_b, path);
}

static int walk(struct diff_walk *w, int fd_from, int fd_to, const char *prefix)
{
	char **from = NULL, **to = NULL;
	size_t n_from = 0, n_to = 0;
	int r = list_names(fd_from, &from, &n_from);
	if (r < 0)
		return txn_fail(w->error, TXN_ABORTED, r, "cannot list '%s/%s'", w->root_from, prefix);
	r = list_names(fd_to, &to, &n_to);
	if (r < 0) {
		free_names(from, n_from);
		return txn_fail(w->error, TXN_ABORTED, r, "cannot list '%s/%s'", w->root_to, prefix);
	}
	size_t i = 0, k = 0;
	while (r == 0 && (i < n_from || k < n_to)) {
		int order = i >= n_from ? 1 : k >= n_to ? -1 : strcmp(from[i], to[k]);
		const char *name = order <= 0 ? from[i] : to[k];
		char *path = NULL;
		if (asprintf(&path, "%s%s%s", prefix, prefix[0] ? "/" : "", name) < 0)
			return txn_fail(w->error, TXN_ABORTED, ENOMEM, "diff");
		r = compare_entry(w, order <= 0 ? fd_from : -1, order >= 0 ? fd_to : -1, name, path);
		free(path);
		if (order <= 0)
			i++;
		if (order >= 0)
			k++;
	}
	free_names(from, n_from);
	free_names(to, n_to);
	return r;
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
	     struct txn_error *error)
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
			.each = each, .ctx = ctx, .dev_from = st_from.st_dev, .dev_to = st_to.st_dev,
			.error = error, .root_from = name_from, .root_to = name_to,
		};
		r = walk(&w, fd_from, fd_to, "");
	}
	target_close(&t);
	return r;
}
