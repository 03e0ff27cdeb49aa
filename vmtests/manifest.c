/* SPDX-License-Identifier: MIT */
/* manifest.c: 'logreplay manifest DIR', the host-side twin of lw_manifest in
 * vmtests/guest-logwrites.sh. The guest lists a workload's old and new trees with
 * the shell function (busybox has no compiler); the host checks every crash state
 * against those listings, and there the shell function's dozen processes were a
 * third of a state's time (fork and exec cost 5-10 ms each on a slow host). The
 * output is byte for byte the shell function's: one line per entry below DIR,
 * sorted by path as 'LC_ALL=C sort' sorts,
 *
 *   TYPE MODE UID:GID SIZE WHAT ./PATH
 *
 * TYPE the first hex digit of the raw mode as a letter (f d l p c b s), MODE the
 * permission bits in octal (stat %a), SIZE '-' for a directory, WHAT the sha256 of
 * a file, '-> TARGET' for a link, '-' otherwise. A top-level '.lw-writer' and
 * everything below it are left out. tests/unit/t-crash-manifest.sh compares
 * the two on one tree of every kind.
 *
 * Only built with -DLOGREPLAY_MAIN, like logreplay_cmd.c.
 */
#ifdef LOGREPLAY_MAIN
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
	char *path; /* "./a/b" */
	struct stat st;
	char what[PATH_MAX + 4];
};

struct list {
	struct entry *v;
	size_t n, cap;
};

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "logreplay manifest: %s '%s': %s\n", what, path, strerror(errno));
	return -1;
}

static int sha256_fd(int fd, char hex[SHA256_DIGEST_SIZE * 2 + 1])
{
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	static uint8_t buf[1 << 16];
	ssize_t n;

	sha256_init(&ctx);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		sha256_update(&ctx, (size_t)n, buf);
	}
	sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

static int add(struct list *l, int dirfd, const char *name, const char *path)
{
	struct entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct entry *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return fail("out of memory at", path);
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n];
	if (fstatat(dirfd, name, &e->st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail("cannot stat", path);
	e->path = strdup(path);
	if (!e->path)
		return fail("out of memory at", path);
	strcpy(e->what, "-");
	if (S_ISREG(e->st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		int r = fd < 0 ? -1 : sha256_fd(fd, e->what);
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			free(e->path);
			return fail("cannot read", path);
		}
	} else if (S_ISLNK(e->st.st_mode)) {
		ssize_t n = readlinkat(dirfd, name, e->what + 3, PATH_MAX);
		if (n < 0) {
			free(e->path);
			return fail("cannot read the link", path);
		}
		memcpy(e->what, "-> ", 3);
		e->what[3 + n] = '\0';
	}
	l->n++;
	return 0;
}

/* walk: add every entry below the directory open at DIRFD, whose path is PREFIX. */
static int walk(struct list *l, int dirfd, const char *prefix)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dirfd);
		return fail("cannot list", prefix);
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		char path[PATH_MAX];
		size_t at;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strcmp(prefix, ".") && !strcmp(de->d_name, ".lw-writer"))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", prefix, de->d_name) >= sizeof(path)) {
			errno = ENAMETOOLONG;
			r = fail("path too long", prefix);
			break;
		}
		at = l->n;
		r = add(l, dirfd, de->d_name, path);
		if (r == 0 && S_ISDIR(l->v[at].st.st_mode)) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = sub < 0 ? fail("cannot open", path) : walk(l, sub, path);
		}
	}
	if (r == 0 && errno)
		r = fail("cannot list", prefix);
	closedir(d);
	return r;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static char type_letter(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFIFO: return 'p';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFSOCK: return 's';
	default: return '?';
	}
}

int manifest_print(const char *dir, FILE *out)
{
	struct list l = {0};
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return fail("cannot open", dir);
	r = walk(&l, fd, ".");
	if (r == 0) {
		qsort(l.v, l.n, sizeof(*l.v), by_path);
		for (size_t i = 0; i < l.n; i++) {
			const struct entry *e = &l.v[i];
			char size[32] = "-";

			if (!S_ISDIR(e->st.st_mode))
				snprintf(size, sizeof(size), "%lld", (long long)e->st.st_size);
			fprintf(out, "%c %o %u:%u %s %s %s\n", type_letter(e->st.st_mode),
				(unsigned)(e->st.st_mode & 07777), (unsigned)e->st.st_uid,
				(unsigned)e->st.st_gid, size, e->what, e->path);
		}
		if (fflush(out) != 0 || ferror(out))
			r = fail("cannot write the listing of", dir);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].path);
	free(l.v);
	return r;
}
#endif
