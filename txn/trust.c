/* SPDX-License-Identifier: MIT */
/*
 * trust.c: the StrictModes walk (see trust.h) over specs, copy sources and
 * executables named by the operator or the spec's author.
 *
 * Why a walk and not realpath() + stat(): a check by name answers for whatever the
 * name meant at that instant. Whoever can write an ancestor directory can rename the
 * checked tree away and put their own in its place before it is read. Here every
 * component is opened beneath the descriptor of the directory already judged and
 * judged on its own descriptor, and the file finally used is the one held at the end.
 * Once a directory passes, only trusted users can change what its names mean, so the
 * canonical path the walk records stays as good as the descriptors (that is what lets
 * an executable be run by that path).
 */
#include "trust.h"

#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

size_t txn_trust_next_component(const char *pending, size_t *pos, const char **ret_name)
{
	size_t i = *pos;
	while (pending[i] == '/')
		i++;
	size_t start = i;
	while (pending[i] && pending[i] != '/')
		i++;
	*ret_name = pending + start;
	*pos = i;
	return i - start;
}

int txn_trust_splice(char *pending, size_t size, size_t pos, const char *target,
		     size_t target_len)
{
	if (target_len == 0 || memchr(target, '\0', target_len))
		return -ENOENT;
	size_t rest_len = strlen(pending + pos);
	/* TARGET '/' REST NUL */
	if (target_len > size || rest_len + 2 > size - target_len)
		return -ENAMETOOLONG;
	memmove(pending + target_len + 1, pending + pos, rest_len + 1);
	memcpy(pending, target, target_len);
	pending[target_len] = '/';
	return target[0] == '/';
}

int txn_trust_canonical_step(char *canonical, size_t size, const char *name, size_t len)
{
	if (len == 0 || (len == 1 && name[0] == '.'))
		return 0;
	size_t have = strlen(canonical);
	if (len == 2 && name[0] == '.' && name[1] == '.') {
		char *slash = strrchr(canonical, '/');
		if (slash)
			slash[slash == canonical ? 1 : 0] = '\0';
		return 0;
	}
	bool at_root = have == 1;
	size_t need = have + (at_root ? 0 : 1) + len + 1;
	if (need > size)
		return -ENAMETOOLONG;
	if (!at_root)
		canonical[have++] = '/';
	memcpy(canonical + have, name, len);
	canonical[have + len] = '\0';
	return 0;
}

static bool uid_trusted(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Fills @ret with "'WHERE' WHY (StrictModes: ...)" and returns -EPERM. */
static int refuse(char *ret, size_t size, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(char *ret, size_t size, const char *where, const char *fmt, ...)
{
	char why[128], rule[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	uid_t self = geteuid();
	if (self == 0)
		snprintf(rule, sizeof(rule), "owned by root");
	else
		snprintf(rule, sizeof(rule), "owned by root or uid %u", (unsigned)self);
	if (ret && size)
		snprintf(ret, size, "'%s' %s (StrictModes: %s, writable by no one else)", where, why,
			 rule);
	return -EPERM;
}

/* The rule for one component, judged on its own descriptor's @st. */
static int check_component(const struct stat *st, const char *where, char *ret, size_t size)
{
	if (!uid_trusted(st->st_uid))
		return refuse(ret, size, where, "is owned by uid %u", (unsigned)st->st_uid);
	if (S_ISLNK(st->st_mode))
		return 0; /* a link has no mode of its own; its directory and owner count */
	/* In a sticky directory only an entry's owner (or root) can rename or remove
	 * it, and each entry the walk goes through is held to the owner rule. */
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return 0;
	if (st->st_mode & S_IWOTH)
		return refuse(ret, size, where, "is writable by others (mode %04o)",
			      (unsigned)(st->st_mode & 07777));
	if (st->st_mode & S_IWGRP)
		return refuse(ret, size, where, "is writable by group %u", (unsigned)st->st_gid);
	return 0;
}

static int open_root(int *ret_fd, char *canonical, char *ret, size_t size)
{
	_cleanup_close_ int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	int r = check_component(&st, "/", ret, size);
	if (r < 0)
		return r;
	strcpy(canonical, "/");
	close_fdp(ret_fd);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static bool is_last(const char *pending, size_t pos)
{
	const char *name;
	return txn_trust_next_component(pending, &pos, &name) == 0;
}

/* Opens the regular file @name beneath @dir_fd to read, and checks it is @st's inode. */
static int open_read_at(int dir_fd, const char *name, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	_cleanup_close_ int fd = openat(dir_fd, name,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat now;
	if (fstat(fd, &now) < 0)
		return -errno;
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return -EAGAIN;
	return TAKE_FD(fd);
}

static int trust_walk(const char *path, unsigned flags, int *ret_fd, char *ret_canonical,
		      char *ret_refusal, size_t refusal_size)
{
	char pending[PATH_MAX], canonical[PATH_MAX], link[PATH_MAX];
	if (!path[0])
		return -ENOENT;
	if (path[0] == '/') {
		if (strlen(path) >= sizeof(pending))
			return -ENAMETOOLONG;
		strcpy(pending, path);
	} else {
		/* Relative: the working directory's ancestors count as much as the file's. */
		if (!getcwd(pending, sizeof(pending)))
			return -errno;
		size_t have = strlen(pending);
		if (have + 1 + strlen(path) >= sizeof(pending))
			return -ENAMETOOLONG;
		pending[have] = '/';
		strcpy(pending + have + 1, path);
	}

	_cleanup_close_ int dir_fd = -EBADF, file_fd = -EBADF;
	int r = open_root(&dir_fd, canonical, ret_refusal, refusal_size);
	if (r < 0)
		return r;
	unsigned links = 0;
	size_t pos = 0;
	for (;;) {
		const char *component;
		size_t len = txn_trust_next_component(pending, &pos, &component);
		if (len == 0)
			break;
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		char name[NAME_MAX + 1];
		memcpy(name, component, len);
		name[len] = '\0';
		if (strcmp(name, ".") == 0)
			continue;
		bool last = is_last(pending, pos);
		char where[PATH_MAX];
		strcpy(where, canonical);
		r = txn_trust_canonical_step(where, sizeof(where), name, len);
		if (r < 0)
			return r;

		_cleanup_close_ int fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -errno;
		/* A device or fifo to read is refused for what it is, whatever its mode. */
		if (last && (flags & TXN_TRUST_READ) && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			return -EINVAL;
		r = check_component(&st, where, ret_refusal, refusal_size);
		if (r < 0)
			return r;

		if (S_ISLNK(st.st_mode)) {
			if (last && (flags & TXN_TRUST_NOFOLLOW_LAST))
				return -ELOOP;
			if (++links > TXN_TRUST_MAX_LINKS) {
				if (ret_refusal && refusal_size)
					snprintf(ret_refusal, refusal_size,
						 "more than %d symlinks on the way to '%s'",
						 TXN_TRUST_MAX_LINKS, path);
				return -ELOOP;
			}
			/* The link held, not the name: it cannot be swapped meanwhile. */
			ssize_t n = readlinkat(fd, "", link, sizeof(link));
			if (n < 0)
				return -errno;
			if ((size_t)n >= sizeof(link))
				return -ENAMETOOLONG;
			r = txn_trust_splice(pending, sizeof(pending), pos, link, (size_t)n);
			if (r < 0)
				return r;
			pos = 0;
			if (r == 1) {
				r = open_root(&dir_fd, canonical, ret_refusal, refusal_size);
				if (r < 0)
					return r;
			}
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			close_fdp(&dir_fd);
			dir_fd = TAKE_FD(fd);
			strcpy(canonical, where);
			continue;
		}
		if (!last)
			return -ENOTDIR;
		if (flags & TXN_TRUST_READ) {
			r = open_read_at(dir_fd, name, &st);
			if (r < 0)
				return r;
			file_fd = r;
		} else {
			file_fd = TAKE_FD(fd);
		}
		strcpy(canonical, where);
		break;
	}
	if (file_fd < 0) {
		/* The path names a directory (or '/'). */
		if (flags & TXN_TRUST_READ)
			return -EINVAL;
		file_fd = TAKE_FD(dir_fd);
	}
	if (ret_canonical)
		strcpy(ret_canonical, canonical);
	*ret_fd = TAKE_FD(file_fd);
	return 0;
}

/* The last refusal of this thread, for callers whose error path has no room for it. */
static __thread char last_refusal[PATH_MAX + 256];

const char *txn_trust_last_refusal(void)
{
	return last_refusal;
}

int txn_trust_open(const char *path, unsigned flags, int *ret_fd, char *ret_canonical,
		   char *ret_refusal, size_t refusal_size)
{
	last_refusal[0] = '\0';
	int r = trust_walk(path, flags, ret_fd, ret_canonical, last_refusal, sizeof(last_refusal));
	if (r < 0 && ret_refusal && refusal_size)
		snprintf(ret_refusal, refusal_size, "%s", last_refusal);
	return r;
}

int txn_trust_find_executable(const char *name, char *ret_canonical, char *ret_refusal,
			      size_t refusal_size)
{
	char found[PATH_MAX];
	if (!name[0])
		return -ENOENT;
	if (strchr(name, '/')) {
		if (strlen(name) >= sizeof(found))
			return -ENAMETOOLONG;
		strcpy(found, name);
	} else {
		/* The search execvp() does, only to find the candidate: the walk below is
		 * what judges it, and the judged file is what runs. */
		const char *search = getenv("PATH");
		if (!search || !search[0])
			search = "/bin:/usr/bin";
		bool hit = false;
		for (const char *p = search; !hit;) {
			const char *end = strchrnul(p, ':');
			size_t dir_len = (size_t)(end - p);
			if (dir_len + 1 + strlen(name) < sizeof(found)) {
				if (dir_len == 0)
					snprintf(found, sizeof(found), "%s", name);
				else
					snprintf(found, sizeof(found), "%.*s/%s", (int)dir_len, p, name);
				struct stat st;
				if (stat(found, &st) == 0 && S_ISREG(st.st_mode) &&
				    faccessat(AT_FDCWD, found, X_OK, AT_EACCESS) == 0)
					hit = true;
			}
			if (!*end)
				break;
			p = end + 1;
		}
		if (!hit)
			return -ENOENT;
	}
	_cleanup_close_ int fd = -EBADF;
	char canonical[PATH_MAX];
	int r = txn_trust_open(found, 0, &fd, canonical, ret_refusal, refusal_size);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	strcpy(ret_canonical, canonical);
	return 0;
}
