/* SPDX-License-Identifier: MIT */
/*
 * resolve.c: open paths strictly beneath a root directory fd.
 *
 * Every path an op touches goes through openat2(2) with RESOLVE_BENEATH (no `..` or
 * absolute symlink may climb out of the root), RESOLVE_NO_MAGICLINKS (no
 * /proc/self/root style jumps) and RESOLVE_NO_XDEV (no crossing into another mount).
 * open_beneath() follows symlinks that stay inside the tree (preconditions and plan
 * use it). The ops use the _no_symlinks forms, which add RESOLVE_NO_SYMLINKS: a
 * symlink anywhere in an op's path is refused (ELOOP), because whoever can write the
 * tree could otherwise aim root's chmod, write or delete at another file of the tree
 * (`htdocs -> private`, then `chmod htdocs/key`). The last component of a path that
 * an op creates, replaces or removes is never resolved either: the op opens its
 * parent and works on the name with the *at() calls, which do not follow it.
 *
 * openat2 arrived in Linux 5.6, but the trans method exists for kernels before 4.17.
 * When openat2 answers ENOSYS (asked once per process), walk_beneath() gives the same
 * guarantees by hand: one component at a time with O_PATH|O_NOFOLLOW, every symlink
 * read with readlinkat() and its text resolved by us, never by the kernel. So:
 *   - an absolute link target, or a `..` above the root, fails with EXDEV (what
 *     openat2 answers for a RESOLVE_BENEATH violation);
 *   - more than 40 links in one resolution fail with ELOOP (the kernel's MAXSYMLINKS);
 *   - `..` inside the tree pops a stack of directory fds, never asks the kernel;
 *   - a magic link cannot be followed: its text is an absolute path (EXDEV);
 *   - every component must be on the root's mount, else EXDEV. The mount is told by
 *     its mount id (statx STATX_MNT_ID, Linux 5.8; else name_to_handle_at, which
 *     reports it since 2.6.39), not by st_dev: a nested Btrfs subvolume has its own
 *     st_dev but is no mount, and openat2 lets it through. Only on a filesystem that
 *     answers neither is st_dev compared, which errs on the side of refusing.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "path.h"

#define RESOLVE_MAX_LINKS 40

/* 0 when @fd is on the same mount as @root, -EXDEV when not. */
static int same_mount(int fd, const struct mount_identity *root)
{
	struct mount_identity id;
	int r = mount_identity_at(fd, "", &id);
	if (r < 0)
		return r;
	if (root->has_mount_id && id.has_mount_id)
		return id.mount_id == root->mount_id ? 0 : -EXDEV;
	return id.dev == root->dev ? 0 : -EXDEV;
}

/* The directories walked so far; dirs[0] is the caller's root fd, not ours to close. */
struct dir_stack {
	int *dirs;
	size_t depth, size;
};

static int dir_push(struct dir_stack *s, int fd)
{
	if (s->depth + 1 == s->size) {
		int *bigger = realloc(s->dirs, 2 * s->size * sizeof(*bigger));
		if (!bigger)
			return -ENOMEM;
		s->dirs = bigger;
		s->size *= 2;
	}
	s->dirs[++s->depth] = fd;
	return 0;
}

/*
 * Replaces the unresolved rest of the path in @buf with @link_text + "/" + @rest.
 * A trailing slash in the text becomes "/." so that its last name must be a
 * directory, as the kernel insists for "dir/".
 */
static int splice_link(char *buf, size_t size, const char *link_text, const char *rest)
{
	size_t n = strlen(link_text);
	bool dir_slash = n > 0 && link_text[n - 1] == '/';
	char joined[PATH_MAX * 2];
	int len = snprintf(joined, sizeof(joined), "%s%s%s%s", link_text, dir_slash ? "." : "",
			   *rest ? "/" : "", rest);
	if (len < 0 || (size_t)len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, joined, (size_t)len + 1);
	return 0;
}

/* Reads the symlink @name in @dir_fd ("" for the O_PATH fd of the link itself). */
static int read_link(int dir_fd, const char *name, char *buf, size_t size)
{
	ssize_t n = readlinkat(dir_fd, name, buf, size);
	if (n < 0)
		return -errno;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	if (n == 0)
		return -ENOENT; /* what the kernel answers for an empty link */
	if (buf[0] == '/')
		return -EXDEV;  /* absolute: out of the root (magic links are absolute too) */
	return 0;
}

/* The next component of the path at @next (leading slashes skipped) into @name, and
 * in *ret_rest what follows it (its slashes skipped); *ret_last: nothing does.
 * Return: the component's length, 0 at the end of the path, or -ENAMETOOLONG. */
static int path_component(const char *next, char name[NAME_MAX + 1], const char **ret_rest,
			  bool *ret_last)
{
	while (*next == '/')
		next++;
	const char *end = strchrnul(next, '/');
	size_t len = (size_t)(end - next);
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(name, next, len);
	name[len] = '\0';
	while (*end == '/')
		end++;
	*ret_rest = end;
	*ret_last = *end == '\0';
	return (int)len;
}

static int walk_beneath(int root_fd, const char *path, int flags, mode_t mode, bool no_symlinks)
{
	struct mount_identity root_id;
	int r = mount_identity_at(root_fd, "", &root_id);
	if (r < 0)
		return r;
	struct dir_stack stack = { .dirs = malloc(16 * sizeof(int)), .size = 16 };
	if (!stack.dirs)
		return -ENOMEM;
	stack.dirs[0] = root_fd;
	char buf[PATH_MAX * 2], link_text[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	const char *next = buf;
	unsigned links = 0;
	int result = -ENOENT;

	for (;;) {
		char name[NAME_MAX + 1];
		const char *rest;
		bool last;
		int len = path_component(next, name, &rest, &last);
		if (len < 0) {
			result = len;
			break;
		}
		int dir = stack.dirs[stack.depth];

		if (len == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			if (len == 2) { /* ".." */
				if (stack.depth == 0) {
					result = -EXDEV;
					break;
				}
				close(stack.dirs[stack.depth--]);
				dir = stack.dirs[stack.depth];
			}
			if (!last) {
				next = rest;
				continue;
			}
			/* The path ends at a directory we hold: open it with the caller's flags. */
			int fd = openat(dir, ".", flags | O_CLOEXEC, mode);
			result = fd >= 0 ? fd : -errno;
			break;
		}

		if (last) {
			/* O_NOFOLLOW keeps openat's meaning; O_CREAT|O_EXCL never follows either.
			 * Otherwise a final symlink is followed here, by hand. */
			bool follow = !(flags & O_NOFOLLOW) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
			r = follow ? read_link(dir, name, link_text, sizeof(link_text)) : -EINVAL;
			if (r == -EINVAL || r == -ENOENT) {
				/* Not a symlink (or absent): open it, and should it have become one
				 * meanwhile, O_NOFOLLOW makes that fail instead of escape. */
				int fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
				if (fd < 0) {
					result = -errno;
					break;
				}
				r = same_mount(fd, &root_id);
				if (r < 0)
					close(fd);
				result = r < 0 ? r : fd;
				break;
			}
		} else {
			/* Not O_DIRECTORY: it would refuse a symlink, which must be seen. */
			int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				result = -errno;
				break;
			}
			struct stat st;
			r = fstat(fd, &st) < 0 ? -errno : 0;
			if (r == 0 && S_ISDIR(st.st_mode)) {
				r = same_mount(fd, &root_id);
				if (r == 0)
					r = dir_push(&stack, fd);
				if (r < 0) {
					close(fd);
					result = r;
					break;
				}
				next = rest;
				continue;
			}
			if (r == 0)
				r = S_ISLNK(st.st_mode) ? read_link(fd, "", link_text, sizeof(link_text))
							: -ENOTDIR;
			close(fd);
		}
		/* Here @name was a symlink whose text is in link_text (or r is an error). */
		if (r == 0 && no_symlinks)
			r = -ELOOP; /* what openat2 answers under RESOLVE_NO_SYMLINKS */
		if (r == 0 && ++links > RESOLVE_MAX_LINKS)
			r = -ELOOP;
		if (r == 0)
			r = splice_link(buf, sizeof(buf), link_text, rest);
		if (r < 0) {
			result = r;
			break;
		}
		next = buf; /* the link's text, resolved from the directory holding it */
	}
	while (stack.depth > 0)
		close(stack.dirs[stack.depth--]);
	free(stack.dirs);
	return result;
}

/*
 * Diagnosis only, after a resolution failed with EXDEV: openat2 answers the same
 * errno for a symlink that leaves the tree and for a mount crossed on the way (and
 * rename(2) for a move between subvolumes), and strerror(EXDEV) reads "Invalid
 * cross-device link" for all three. Walk @path again, by hand and opening nothing
 * but O_PATH, and name the component that is the reason. Nothing is acted on, so a
 * rename racing with this walk can only make the words wrong, never the outcome.
 */
int resolve_explain(int root_fd, const char *path, bool follow_last, char *buf, size_t size)
{
	struct mount_identity root_id;
	struct stat root_st;
	if (mount_identity_at(root_fd, "", &root_id) < 0 || fstat(root_fd, &root_st) < 0)
		return -ENOENT;
	struct dir_stack stack = { .dirs = malloc(16 * sizeof(int)), .size = 16 };
	if (!stack.dirs)
		return -ENOMEM;
	stack.dirs[0] = root_fd;
	/* The directory reached so far, as a path from the root, with the length it had
	 * at each level of the stack (so that ".." can go back). */
	_cleanup_free_ char *walked = calloc(PATH_MAX * 2, 1);
	_cleanup_free_ size_t *walked_len = malloc(16 * sizeof(size_t));
	size_t walked_size = 16;
	char rest_buf[PATH_MAX * 2], link_text[PATH_MAX], last_link[PATH_MAX * 2] = "",
		last_text[PATH_MAX] = "";
	int result = -ENOENT;
	if (!walked || !walked_len)
		goto done;
	walked_len[0] = 0;
	snprintf(rest_buf, sizeof(rest_buf), "%s", path);
	const char *next = rest_buf;
	unsigned links = 0;

	for (;;) {
		char name[NAME_MAX + 1];
		const char *rest;
		bool last;
		int len = path_component(next, name, &rest, &last);
		if (len <= 0) /* the end of the path, or a name too long */
			break;
		int dir = stack.dirs[stack.depth];
		char here[PATH_MAX * 2 + NAME_MAX + 2];
		snprintf(here, sizeof(here), "%s%s%s", walked, walked[0] ? "/" : "", name);

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			if (len == 2) {
				if (stack.depth == 0) {
					if (last_link[0])
						snprintf(buf, size,
							 "'%s' is a symlink to '%s', which climbs out of the tree",
							 last_link, last_text);
					else
						snprintf(buf, size, "the path climbs out of the tree");
					result = 0;
					break;
				}
				close(stack.dirs[stack.depth--]);
				walked[walked_len[stack.depth]] = '\0';
			}
			next = rest;
			continue;
		}
		struct stat st;
		if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			break;
		if (S_ISLNK(st.st_mode)) {
			if (last && !follow_last)
				break;
			int r = read_link(dir, name, link_text, sizeof(link_text));
			if (r == -EXDEV) {
				snprintf(buf, size,
					 "'%s' is a symlink to the absolute path '%s', which leaves the tree "
					 "(only relative links that stay inside it are followed)",
					 here, link_text);
				result = 0;
				break;
			}
			if (r < 0 || ++links > RESOLVE_MAX_LINKS)
				break;
			snprintf(last_link, sizeof(last_link), "%s", here);
			snprintf(last_text, sizeof(last_text), "%s", link_text);
			if (splice_link(rest_buf, sizeof(rest_buf), link_text, rest) < 0)
				break;
			next = rest_buf;
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			break;
		int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			break;
		if (same_mount(fd, &root_id) == -EXDEV) {
			snprintf(buf, size,
				 "'%s' is a mount point: another filesystem or mount inside the tree, "
				 "which resolution does not cross",
				 here);
			close(fd);
			result = 0;
			break;
		}
		if (st.st_dev != root_st.st_dev || st.st_ino == 256) {
			snprintf(buf, size,
				 "'%s' is another Btrfs subvolume nested in the tree; files cannot be "
				 "moved or linked across it",
				 here);
			close(fd);
			result = 0;
			break;
		}
		if (stack.depth + 1 == walked_size) {
			size_t *bigger = realloc(walked_len, 2 * walked_size * sizeof(*bigger));
			if (!bigger) {
				close(fd);
				break;
			}
			walked_len = bigger;
			walked_size *= 2;
		}
		if (dir_push(&stack, fd) < 0) {
			close(fd);
			break;
		}
		size_t here_len = strlen(here);
		if (here_len >= PATH_MAX * 2)
			break;
		walked_len[stack.depth] = here_len;
		memcpy(walked, here, here_len + 1);
		next = rest;
	}
done:
	while (stack.depth > 0)
		close(stack.dirs[stack.depth--]);
	free(stack.dirs);
	return result;
}

/* Set once openat2 answered ENOSYS: the kernel will not grow it, so every later call
 * walks by hand without asking again. */
static bool openat2_missing;

static int open_beneath_resolve(int root_fd, const char *path, int flags, mode_t mode,
				bool no_symlinks)
{
	/* O_TMPFILE includes O_DIRECTORY's bit: only the whole of it takes a mode. */
	bool takes_mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = takes_mode ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
			   (no_symlinks ? RESOLVE_NO_SYMLINKS : 0),
	};
	if (txn_path_check(path, strlen(path)) != TXN_PATH_OK)
		return -EINVAL;
	while (!openat2_missing) {
		long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == ENOSYS)
			openat2_missing = true;
		/* EAGAIN: a rename raced with the lookup; the kernel asks us to retry. */
		else if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return walk_beneath(root_fd, path, flags, takes_mode ? mode : 0, no_symlinks);
}

int open_beneath(int root_fd, const char *path, int flags, mode_t mode)
{
	return open_beneath_resolve(root_fd, path, flags, mode, false);
}

int open_beneath_no_symlinks(int root_fd, const char *path, int flags, mode_t mode)
{
	return open_beneath_resolve(root_fd, path, flags, mode, true);
}

static int open_parent_resolve(int root_fd, const char *path, const char **ret_name,
			       bool no_symlinks)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		*ret_name = path;
		return fd;
	}
	size_t len = (size_t)(slash - path);
	char *parent = strndup(path, len);
	if (!parent)
		return -ENOMEM;
	int fd = open_beneath_resolve(root_fd, parent, O_PATH | O_DIRECTORY, 0, no_symlinks);
	free(parent);
	if (fd >= 0)
		*ret_name = slash + 1;
	return fd;
}

int open_parent_beneath(int root_fd, const char *path, const char **ret_name)
{
	return open_parent_resolve(root_fd, path, ret_name, false);
}

int open_parent_no_symlinks(int root_fd, const char *path, const char **ret_name)
{
	return open_parent_resolve(root_fd, path, ret_name, true);
}

int symlink_in_path(int root_fd, const char *path, char *ret_prefix, size_t size)
{
	size_t len = strlen(path);
	_cleanup_close_ int dir = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	if (dir < 0)
		return -errno;
	for (size_t start = 0; start < len;) {
		size_t end = start;
		while (end < len && path[end] != '/')
			end++;
		char name[NAME_MAX + 1];
		if (end - start > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, path + start, end - start);
		name[end - start] = '\0';
		int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		struct stat st;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return -errno;
		}
		if (S_ISLNK(st.st_mode)) {
			close(fd);
			snprintf(ret_prefix, size, "%.*s", (int)end, path);
			return 1;
		}
		close(dir);
		dir = fd;
		if (!S_ISDIR(st.st_mode))
			return 0;
		start = end + 1;
	}
	return 0;
}

/*
 * An O_PATH fd can be stat'ed but not read or chmod'ed. Going through its
 * /proc/self/fd entry reaches exactly the inode the fd holds: the kernel follows
 * that magic link to the open file, never to whatever the name means by now, so
 * no rename or symlink swap between our check and our use can redirect it.
 */
static int proc_fd_path(int fd, char buf[64])
{
	snprintf(buf, 64, "/proc/self/fd/%d", fd);
	/* Without /proc (a minimal chroot) the link is missing: say so, callers choose
	 * a slower safe way or refuse. */
	return access("/proc/self/fd", F_OK) == 0 ? 0 : -ENOENT;
}

int reopen_fd(int path_fd, int flags)
{
	char path[64];
	int r = proc_fd_path(path_fd, path);
	if (r < 0)
		return r;
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	return fd >= 0 ? fd : -errno;
}

int chmod_fd(int path_fd, mode_t mode)
{
	char path[64];
	int r = proc_fd_path(path_fd, path);
	if (r < 0)
		return r;
	return chmod(path, mode) < 0 ? -errno : 0;
}

/*
 * chmod @fd (an O_PATH fd of a non-symlink). Through /proc/self/fd the kernel
 * reaches the inode we hold, so a swap of the name cannot redirect the chmod.
 * Without /proc, a regular file or directory is opened for real (no side effect:
 * O_NONBLOCK, and never a device) and checked to be the same inode; anything else
 * is refused rather than chmod'ed by name, where a racing swap for a symlink would
 * make fchmodat() follow it.
 */
int chmod_held(int parent_fd, const char *name, int fd, const struct stat *st, mode_t mode)
{
	int r = chmod_fd(fd, mode);
	if (r != -ENOENT)
		return r;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return -EOPNOTSUPP;
	_cleanup_close_ int real_fd =
		openat(parent_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat now;
	if (real_fd < 0)
		return -errno;
	if (fstat(real_fd, &now) < 0)
		return -errno;
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return -EAGAIN;
	return fchmod(real_fd, mode) < 0 ? -errno : 0;
}
