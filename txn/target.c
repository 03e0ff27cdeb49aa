/* SPDX-License-Identifier: MIT */
/*
 * target.c: opening a target and its state directory, and the lock.
 *
 * The checks here decide exit status 4: T must be on Btrfs (checked with statfs
 * before any btrfs ioctl, since other filesystems reuse the ioctl numbers), a
 * subvolume, and not a mount point of a directory inside one. A mount point of a
 * subvolume itself (`/`, a subvol= mount) is handed to mounted.c, which reaches its
 * parent at the filesystem's top level, since renameat2() cannot exchange a mount
 * point in the directory it is mounted on.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <time.h>

/*
 * The state directory holds the journal that recovery acts on and the generations
 * rollback swaps in, so whoever can write it can make a root apply or recover do
 * their bidding. Refuse it (and the lock file) unless it is what we would have made:
 * not a symlink, owned by root or by the user running, not writable by group or
 * others. @fd is open on it (O_NOFOLLOW); @what and @path name it in the message.
 */
static int check_state_entry(int fd, const char *what, const char *path, struct txn_error *error)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot stat %s '%s'", what, path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return txn_fail(error, TXN_ABORTED, EPERM,
				"%s '%s' is owned by uid %u, not by root or uid %u: refusing to trust it",
				what, path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return txn_fail(error, TXN_ABORTED, EPERM,
				"%s '%s' is writable by group or others (mode %04o): refusing to trust it",
				what, path, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* openat() with O_NOFOLLOW answers ELOOP (or ENOTDIR with O_DIRECTORY) for a symlink,
 * which reads as a loop; say what it is instead. */
static int state_open_error(int dir_fd, const char *name, const char *what, const char *path,
			    struct txn_error *error)
{
	int saved = errno;
	struct stat st;
	if ((saved == ELOOP || saved == ENOTDIR) && fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return txn_fail(error, TXN_ABORTED, ELOOP, "%s '%s' is a symlink: refusing to follow it",
				what, path);
	return txn_fail(error, TXN_ABORTED, saved, "cannot open %s '%s'", what, path);
}

static int open_state_dir(struct target *t, bool create, struct txn_error *error)
{
	char top_path[PATH_MAX];
	snprintf(top_path, sizeof(top_path), "%.*s", (int)(strlen(t->state_path) - strlen(t->name) - 1),
		 t->state_path);
	_cleanup_close_ int top = openat(t->parent_fd, STATE_DIR_NAME,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (top < 0 && errno == ENOENT && create) {
		if (mkdirat(t->parent_fd, STATE_DIR_NAME, 0700) < 0 && errno != EEXIST)
			return txn_fail(error, TXN_ABORTED, errno, "cannot create state directory in '%s'",
					t->path);
		top = openat(t->parent_fd, STATE_DIR_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (top < 0) {
		if (errno == ENOENT)
			return 0;
		return state_open_error(t->parent_fd, STATE_DIR_NAME, "state directory", top_path, error);
	}
	int r = check_state_entry(top, "state directory", top_path, error);
	if (r < 0)
		return r;
	int fd = openat(top, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(top, t->name, 0700) < 0 && errno != EEXIST)
			return txn_fail(error, TXN_ABORTED, errno, "cannot create state directory '%s'",
					t->state_path);
		fd = openat(top, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return state_open_error(top, t->name, "state directory", t->state_path, error);
	}
	r = check_state_entry(fd, "state directory", t->state_path, error);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* The staging snapshot and the exchange need the state directory on T's mount. */
	uint64_t state_mnt, parent_mnt;
	if (mount_id_at(fd, "", &state_mnt) == 0 && mount_id_at(t->parent_fd, "", &parent_mnt) == 0 &&
	    state_mnt != parent_mnt) {
		close(fd);
		return txn_fail(error, TXN_UNSUPPORTED, EXDEV,
				"state directory '%s' is on another mount than the target",
				t->state_path);
	}
	t->state_fd = fd;
	return 0;
}

int target_open(const char *path, unsigned flags, struct target *ret, struct txn_error *error)
{
	struct target t = { .parent_fd = -1, .fd = -1, .state_fd = -1, .lock_fd = -1, .top_fd = -1,
			   .running_fd = -1 };
	int r;

	/* A target named through a symlink is refused, not resolved: the exchange and the
	 * state directory act on the real subvolume and its parent, so the name the
	 * operator gave would silently mean another place, and whoever can rewrite the
	 * link could aim a root apply at any subvolume. Ancestors may be links (such as
	 * /srv -> /data/srv); they are resolved once, here. */
	struct stat link_st;
	char given[PATH_MAX];
	size_t given_len = strnlen(path, sizeof(given) - 1);
	memcpy(given, path, given_len);
	given[given_len] = '\0';
	while (given_len > 1 && given[given_len - 1] == '/')
		given[--given_len] = '\0';
	if (lstat(given, &link_st) == 0 && S_ISLNK(link_st.st_mode)) {
		char to[PATH_MAX];
		ssize_t n = readlink(given, to, sizeof(to) - 1);
		to[n > 0 ? n : 0] = '\0';
		return txn_fail(error, TXN_INVALID, 0,
				"target '%s' is a symlink (to '%s'); name the subvolume itself", path, to);
	}
	if (!realpath(path, t.path))
		return txn_fail(error, errno == ENOENT ? TXN_INVALID : TXN_ABORTED, errno,
				"target '%s'", path);
	/* '/' has no parent here: it is a mounted target (mounted.c) if anything. */
	bool is_root = strcmp(t.path, "/") == 0;
	char *slash = strrchr(t.path, '/');
	snprintf(t.name, sizeof(t.name), "%s", slash + 1);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", slash == t.path ? 1 : (int)(slash - t.path), t.path);
	if (snprintf(t.state_path, sizeof(t.state_path), "%s/%s/%s",
		     strcmp(parent, "/") ? parent : "", STATE_DIR_NAME, t.name) >= (int)sizeof(t.state_path))
		return txn_fail(error, TXN_INVALID, ENAMETOOLONG, "target '%s'", t.path);

	t.parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.parent_fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", parent);
	t.fd = is_root ? open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		       : openat(t.parent_fd, t.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t.fd < 0) {
		r = txn_fail(error, errno == ENOTDIR ? TXN_INVALID : TXN_ABORTED, errno,
			     "cannot open target '%s'", t.path);
		goto fail;
	}

	struct statfs sfs;
	if (fstatfs(t.fd, &sfs) < 0) {
		r = txn_fail(error, TXN_ABORTED, errno, "cannot statfs '%s'", t.path);
		goto fail;
	}
	if (sfs.f_type != BTRFS_SUPER_MAGIC) {
		r = txn_fail(error, TXN_UNSUPPORTED, 0, "'%s' is not on a Btrfs filesystem", t.path);
		goto fail;
	}
	/* A command that writes cannot run on a read-only mount; refusing here also
	 * means that read-only after a failure (target_note_read_only) is news. */
	if ((flags & TARGET_CREATE_STATE) && (sfs.f_flags & ST_RDONLY)) {
		r = txn_fail(error, TXN_ABORTED, EROFS, "'%s' is on a filesystem mounted read-only",
			     t.path);
		goto fail;
	}
	t.is_subvolume = btrfs_util_is_subvolume_fd(t.fd) == BTRFS_UTIL_OK;
	if (!t.is_subvolume && !(flags & TARGET_ALLOW_PLAIN_DIR)) {
		r = txn_fail(error, TXN_UNSUPPORTED, 0,
			     "'%s' is not a Btrfs subvolume; 'btrfs-txn init %s' makes it one",
			     t.path, t.path);
		goto fail;
	}

	/* A read-only subvolume (property ro=true) would take a whole transaction and then
	 * fail at the exchange (EROFS), or at the first write in place: refuse it before
	 * anything is done. Commands that only read (status, diff, plan) and recover,
	 * which must still be able to clean up, do not ask for the state directory. */
	bool read_only = false;
	if ((flags & TARGET_CREATE_STATE) &&
	    btrfs_util_get_subvolume_read_only_fd(t.fd, &read_only) == BTRFS_UTIL_OK && read_only) {
		r = txn_fail(error, TXN_UNSUPPORTED, 0,
			     "'%s' is a read-only subvolume (Btrfs property ro=true), which cannot "
			     "be changed or swapped; make it writable with 'btrfs property set %s ro "
			     "false'",
			     t.path, t.path);
		goto fail;
	}

	uint64_t target_mnt, parent_mnt;
	if (is_root || (mount_id_at(t.fd, "", &target_mnt) == 0 &&
			mount_id_at(t.parent_fd, "", &parent_mnt) == 0 && target_mnt != parent_mnt)) {
		/* A mount point of a subvolume is reached from the filesystem's top level;
		 * a mount of a directory inside one has nothing to exchange. */
		if (t.is_subvolume) {
			r = mounted_open(&t, error);
			if (r < 0)
				goto fail;
			goto state;
		}
		r = txn_fail(error, TXN_UNSUPPORTED, 0,
			     "'%s' is a mount point of a directory inside a subvolume, not of a "
			     "subvolume, and cannot be swapped; target the subvolume itself",
			     t.path);
		goto fail;
	}

state:
	r = open_state_dir(&t, flags & TARGET_CREATE_STATE, error);
	if (r < 0)
		goto fail;
	*ret = t;
	return 0;
fail:
	target_close(&t);
	return r;
}

/*
 * The locks this process holds, by the device and inode of their lock files. The
 * verify hook's environment lists them (BTRFS_TXN_LOCKED_TARGETS, see verify.c), so
 * that a btrfs-txn the hook runs on the same target refuses at once: otherwise it
 * would wait for a lock its own caller holds until one of the timeouts ends the
 * wait, a deadlock turned into a slow and unclear failure. Device and inode rather
 * than a path: symlinks and bind mounts cannot hide that two names are one lock.
 */
#define HELD_LOCKS_MAX 16
static struct held_lock {
	dev_t dev;
	ino_t ino;
} held_locks[HELD_LOCKS_MAX];
static size_t n_held_locks;

static void held_lock_forget(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	for (size_t i = 0; i < n_held_locks; i++)
		if (held_locks[i].dev == st.st_dev && held_locks[i].ino == st.st_ino) {
			held_locks[i] = held_locks[--n_held_locks];
			return;
		}
}

void target_locks_held(char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n_held_locks && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%llu:%llu", len ? " " : "",
				 (unsigned long long)held_locks[i].dev,
				 (unsigned long long)held_locks[i].ino);
		if (n < 0 || (size_t)n >= size - len) {
			buf[len] = '\0'; /* keep whole entries only */
			break;
		}
		len += (size_t)n;
	}
}

/* Whether the lock file open at @fd is one the environment says our caller holds. */
static bool lock_held_by_caller(int fd)
{
	const char *list = getenv(LOCKED_TARGETS_ENV);
	struct stat st;
	if (!list || !*list || fstat(fd, &st) < 0)
		return false;
	char want[48];
	snprintf(want, sizeof(want), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " ");
		if (n == strlen(want) && strncmp(p, want, n) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

void target_note_read_only(const struct target *t, struct txn_error *error)
{
	struct statvfs sv;
	if (!error || error->status == TXN_OK || t->fd < 0 || fstatvfs(t->fd, &sv) < 0 ||
	    !(sv.f_flag & ST_RDONLY))
		return;
	/* target_open() refused a read-only mount, so Btrfs turned read-only while we
	 * ran: it does that when a write fails (a transaction abort). Without this the
	 * user sees only EIO or EROFS on some step and not that the whole filesystem
	 * now refuses writes until it is mounted again.
	 * The reason (strerror) is folded into the text first, so it stays next to
	 * the failure it belongs to rather than after this note. */
	char reason[sizeof(error->message)];
	txn_error_string(error, reason, sizeof(reason));
	error->errnum = 0;
	/* Truncation only shortens an over-long message; the check keeps -Werror quiet. */
	if (snprintf(error->message, sizeof(error->message),
		     "%s; the filesystem went read-only after an I/O error: check the device "
		     "(dmesg), mount it again and run 'btrfs-txn recover %s'", reason,
		     t->path) >= (int)sizeof(error->message))
		error->message[sizeof(error->message) - 1] = '\0';
}

void target_close(struct target *t)
{
	if (t->lock_fd >= 0) {
		held_lock_forget(t->lock_fd);
		/* Forget the holder before the lock goes with the close. */
		if (ftruncate(t->lock_fd, 0) < 0) {
			/* nothing to do: the stale text is only informational */
		}
		close(t->lock_fd);
	}
	if (t->state_fd >= 0)
		close(t->state_fd);
	if (t->fd >= 0)
		close(t->fd);
	if (t->parent_fd >= 0)
		close(t->parent_fd);
	/* Last, so that the private mount goes with the last descriptor beneath it. */
	if (t->mounted && t->running_fd >= 0)
		close(t->running_fd);
	if (t->mounted && t->top_fd >= 0)
		close(t->top_fd);
	t->mounted = false;
	t->lock_fd = t->state_fd = t->fd = t->parent_fd = -1;
}

void target_lock_holder(int state_fd, char *buf, size_t size)
{
	buf[0] = '\0';
	_cleanup_close_ int fd = openat(state_fd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = pread(fd, buf, size - 1, 0);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int target_lock(struct target *t, const struct txn_options *options, struct txn_error *error)
{
	_cleanup_close_ int fd =
		openat(t->state_fd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	char lock_path[PATH_MAX + 8];
	snprintf(lock_path, sizeof(lock_path), "%s/%s", t->state_path, LOCK_NAME);
	if (fd < 0)
		return state_open_error(t->state_fd, LOCK_NAME, "lock", lock_path, error);
	int r = check_state_entry(fd, "lock", lock_path, error);
	if (r < 0)
		return r;
	if (lock_held_by_caller(fd))
		return txn_fail(error, TXN_LOCKED, 0,
				"'%s' is locked by the transaction that runs this command: called "
				"from the verify hook of a transaction holding this lock, it would "
				"wait for itself", t->path);
	/* 0 (a zero-initialised struct) means the default, as in every other field;
	 * not waiting is asked for with no_wait. */
	double timeout = options && options->lock_timeout > 0 ? options->lock_timeout
								: TXN_DEFAULT_LOCK_TIMEOUT;
	bool no_wait = options && options->no_wait;
	double deadline = txn_now() + timeout;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return txn_fail(error, TXN_ABORTED, errno, "cannot lock '%s/%s'", t->state_path,
					LOCK_NAME);
		if (txn_interrupted)
			return txn_fail(error, TXN_ABORTED, EINTR, "interrupted while waiting for the lock on '%s'",
					t->path);
		if (no_wait || txn_now() >= deadline) {
			char holder[256];
			target_lock_holder(t->state_fd, holder, sizeof(holder));
			if (no_wait)
				return txn_fail(error, TXN_LOCKED, 0, "'%s' is locked by %s", t->path,
						holder[0] ? holder : "another process");
			return txn_fail(error, TXN_LOCKED, 0, "'%s' is still locked by %s after %.0f s",
					t->path, holder[0] ? holder : "another process", timeout);
		}
		usleep(20000);
	}
	/* While we waited, the holder may have committed: its exchange moved the tree we
	 * opened to its staging name (soon gen-N). Working from that fd would snapshot the
	 * old tree and silently undo the holder's commit, so reopen T by name now that
	 * nobody can exchange it any more. */
	int fd_now = openat(t->parent_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd_now < 0)
		return txn_fail(error, errno == ENOENT ? TXN_INVALID : TXN_ABORTED, errno,
				"cannot reopen target '%s' after taking its lock", t->path);
	close(t->fd);
	t->fd = fd_now;
	t->is_subvolume = btrfs_util_is_subvolume_fd(t->fd) == BTRFS_UTIL_OK;
	int pending = mounted_pending(t);
	t->switch_pending = pending == 1;
	char since[32], text[512];
	utc_now(since);
	int len = snprintf(text, sizeof(text), "pid %d (%s) since %s\n", (int)getpid(),
			   options && options->command ? options->command : "btrfs-txn", since);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) < 0) {
		/* The holder's name is a courtesy; the flock is what excludes. */
	}
	struct stat st;
	if (n_held_locks < HELD_LOCKS_MAX && fstat(fd, &st) == 0)
		held_locks[n_held_locks++] = (struct held_lock){ st.st_dev, st.st_ino };
	t->lock_fd = TAKE_FD(fd);
	return 0;
}
