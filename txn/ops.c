/* SPDX-License-Identifier: MIT */
/*
 * ops.c: the eight ops of spec v1, applied beneath a root directory fd.
 *
 * The snapshot method runs them on a private staging snapshot, so they need not be
 * atomic one by one; what they must be is confined (resolve.c) and exact: a file
 * that is written or copied is created under a temporary name and renamed over the
 * old one, so it replaces whatever non-directory stood there (a symlink is replaced,
 * not written through).
 *
 * The tree may belong to someone else than the user running (a web root owned by its
 * site's account, deployed to by root), so owner.c's rules decide what a new file
 * inherits: a file that was ours (owned by the effective uid) keeps owner, group,
 * mode and extended attributes across write and copy; anything else is replaced by
 * a new file of ours with the op's mode or the default. chown clears set-id bits and
 * capabilities; a spec that wants them sets them after it. No op follows a symlink
 * anywhere on its path (resolve.c's _no_symlinks forms), so a link planted in the
 * tree cannot aim root's op at another file of it.
 *
 * The snapshot method commits nothing before its exchange: each file a write or copy
 * filled is kept open in a struct op_written and written back (FIEMAP_FLAG_SYNC)
 * before the exchange, so that the one commit after the
 * exchange carries its data (docs/protocol.md, step 7).
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <sys/statvfs.h>

#include "path.h"

#define DEFAULT_FILE_MODE 0644
#define DEFAULT_DIR_MODE 0755

/*
 * The directory holding @path's last component, for op @op, with no symlink on the
 * way: a symlink planted in the tree must not redirect root's op to another file of
 * it. The error names the link. With @missing_ok, -ENOENT is returned unreported.
 */
int op_open_parent(int root_fd, const struct txn_op *op, const char *path, bool missing_ok,
		   const char **ret_name, struct txn_error *error)
{
	int fd = open_parent_no_symlinks(root_fd, path, ret_name);
	if (fd >= 0 || (fd == -ENOENT && missing_ok))
		return fd;
	char what[2 * PATH_MAX + 32]; /* "write 'a/b'", "rename 'a' to 'b'" */
	snprintf(what, sizeof(what), "%s '%s'%s%s%s", txn_op_kind_name(op->kind), op->path,
		 op->kind == TXN_OP_RENAME ? " to '" : "", op->kind == TXN_OP_RENAME ? op->to : "",
		 op->kind == TXN_OP_RENAME ? "'" : "");
	char link[PATH_MAX];
	if (fd == -ELOOP && symlink_in_path(root_fd, path, link, sizeof(link)) > 0)
		return txn_fail(error, TXN_ABORTED, 0,
				"%s: '%s' is a symlink; ops do not follow symlinks inside the "
				"tree (name the real path)", what, link);
	if (strcmp(path, op->path) == 0)
		return txn_fail(error, TXN_ABORTED, fd, "%s: cannot open its directory", what);
	return txn_fail(error, TXN_ABORTED, fd, "%s: cannot open the directory of '%s'", what, path);
}

/* A temporary name in the target's directory; unique within this process. */
static void temp_name(char *buf, size_t size)
{
	static unsigned counter;
	snprintf(buf, size, ".btrfs-txn-tmp.%d.%u", (int)getpid(), counter++);
}

/* Copies @len bytes at @offset from @src_fd to the same offset of @dst_fd:
 * copy_file_range where the kernel can, else pread/pwrite. -EIO when the source
 * ends early (it shrank under us). */
static int copy_range(int src_fd, int dst_fd, off_t offset, off_t len)
{
	off_t in = offset, out = offset, end = offset + len;
	while (in < end) {
		ssize_t n = copy_file_range(src_fd, &in, dst_fd, &out, (size_t)(end - in), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
			      errno == EINVAL))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
	}
	if (in == end)
		return 0;
	enum { CHUNK = 256 * 1024 };
	_cleanup_free_ char *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	while (in < end) {
		size_t want = end - in < CHUNK ? (size_t)(end - in) : CHUNK;
		ssize_t n = pread(src_fd, buf, want, in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		for (ssize_t done = 0; done < n;) {
			ssize_t m = pwrite(dst_fd, buf + done, (size_t)(n - done), in + done);
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0)
				return -errno;
			done += m;
		}
		in += n;
	}
	return 0;
}

/* A source whose size says 0 may still have content (/proc, /sys): read it to its
 * end, but never more than @max_size bytes (-EFBIG then). */
static int copy_to_eof(int src_fd, int dst_fd, uint64_t max_size)
{
	enum { CHUNK = 64 * 1024 };
	_cleanup_free_ char *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(src_fd, buf, CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		total += (uint64_t)n;
		if (total > max_size)
			return -EFBIG;
		int r = write_all(dst_fd, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

int copy_file_data(int src_fd, int dst_fd, off_t size, uint64_t max_size)
{
	if (size == 0)
		return copy_to_eof(src_fd, dst_fd, max_size ? max_size : TXN_COPY_DEFAULT_MAX_SIZE);
	/* A reflink shares the extents: O(1) in the file size on the same filesystem. */
	if (ioctl(dst_fd, FICLONE, src_fd) == 0)
		return 0;
	/* Only the data segments are copied, so a hole stays a hole (a sparse image from
	 * another filesystem is not written dense); the size is set at the end. */
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(src_fd, pos, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0) {
			if (errno != EINVAL && errno != EOPNOTSUPP && errno != ESPIPE)
				return -errno;
			data = pos; /* no hole support: all of it is data */
			hole = size;
		} else {
			hole = lseek(src_fd, data, SEEK_HOLE);
			if (hole < 0 || hole > size)
				hole = size;
		}
		if (data >= size)
			break;
		int r = copy_range(src_fd, dst_fd, data, hole - data);
		if (r < 0)
			return r;
		pos = hole;
	}
	return ftruncate(dst_fd, size) < 0 ? -errno : 0;
}

int copy_check_size(const struct txn_op *op, const struct stat *src, int dst_dir_fd,
		    struct txn_error *error)
{
	uint64_t max_size = op->max_size ? op->max_size : TXN_COPY_DEFAULT_MAX_SIZE;
	uint64_t size = (uint64_t)src->st_size;
	if (size > max_size)
		return txn_fail(error, TXN_ABORTED, EFBIG,
				"copy '%s': source '%s' is %llu bytes, more than max_size %llu "
				"(raise \"max_size\" of the op to copy it)",
				op->path, op->source, (unsigned long long)size,
				(unsigned long long)max_size);
	/* Holes are kept, so what the copy needs is what the source has allocated. This
	 * is checked before anything is written, also where a reflink would need none. */
	uint64_t allocated = (uint64_t)src->st_blocks * 512;
	uint64_t needed = allocated < size ? allocated : size;
	struct statvfs vfs;
	if (needed > 0 && fstatvfs(dst_dir_fd, &vfs) == 0 &&
	    needed > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return txn_fail(error, TXN_ABORTED, ENOSPC,
				"copy '%s': source '%s' needs %llu bytes, the target filesystem has %llu free",
				op->path, op->source, (unsigned long long)needed,
				(unsigned long long)vfs.f_bavail * vfs.f_frsize);
	return 0;
}

/*
 * The source of a copy is a host path named by the spec's author, but the directory
 * it lies in may be writable by others (a CI workspace). So its last component must
 * not be a symlink (O_NOFOLLOW: a swapped-in link to /etc/shadow is refused, not
 * copied), and it must be a regular file before it is opened for reading: it is first
 * held with O_PATH, which opens nothing, so a fifo cannot block us and a device's
 * open has no side effect; only then is that same inode opened to read.
 */
int copy_source_open(const char *source, struct stat *ret_st)
{
	/* And the whole way to it is judged by StrictModes (trust.c): a source under a
	 * directory others can write (a workspace whose build/ became a link to /etc)
	 * is refused with -EPERM; the file read is the one the walk held. */
	_cleanup_close_ int fd = -EBADF;
	int r = txn_trust_open(source, TXN_TRUST_NOFOLLOW_LAST | TXN_TRUST_READ, &fd, NULL, NULL, 0);
	if (r < 0)
		return r;
	if (fstat(fd, ret_st) < 0)
		return -errno;
	return TAKE_FD(fd);
}

const char *copy_source_problem(int r)
{
	switch (r) {
	case -ELOOP:
		return "is a symlink; name the file itself";
	case -EINVAL:
		return "is not a regular file";
	case -EAGAIN:
		return "was replaced while being opened";
	case -EPERM: {
		/* The trust walk (trust.c) refused a component: name it. */
		static __thread char why[PATH_MAX + 300];
		snprintf(why, sizeof(why), "is not trusted: %s", txn_trust_last_refusal());
		return why;
	}
	}
	return NULL;
}

static int open_copy_source(const struct txn_op *op, struct stat *ret_st, struct txn_error *error)
{
	int fd = copy_source_open(op->source, ret_st);
	const char *problem = copy_source_problem(fd);
	if (problem)
		return txn_fail(error, TXN_ABORTED,
				fd == -ELOOP || fd == -EINVAL || fd == -EPERM ? 0 : fd,
				"copy '%s': source '%s' %s", op->path, op->source, problem);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, fd, "copy '%s': cannot open source '%s'", op->path,
				op->source);
	return fd;
}

/*
 * Writes back the data of the file @fd holds and waits until Btrfs has recorded it
 * (file extent items, size) in the running transaction, without committing it.
 * FIEMAP_FLAG_SYNC with no extent asked for: since Linux 6.1 ("btrfs: properly
 * flush delalloc when entering fiemap") Btrfs waits there for the ordered extents
 * of the whole file to complete, which is when those items are inserted. A write
 * back alone (fdatawrite, sync_file_range) waits for the pages only; the items come
 * later, possibly in the transaction after the next commit. The next commit then
 * carries them, and its flush before the super block covers the data written here.
 */
int writeback_fd(int fd)
{
	struct fiemap map = { .fm_start = 0, .fm_length = FIEMAP_MAX_OFFSET,
			      .fm_flags = FIEMAP_FLAG_SYNC, .fm_extent_count = 0 };
	return ioctl(fd, FS_IOC_FIEMAP, &map) < 0 ? -errno : 0;
}

int op_written_flush(struct op_written *written)
{
	int r = 0;
	/* Start every file's write-back first, so that they are written in parallel;
	 * writeback_fd() then waits for each. */
	for (size_t i = 0; i < written->n; i++)
		(void)sync_file_range(written->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < written->n; i++) {
		int q = writeback_fd(written->fds[i]);
		if (q < 0 && r == 0)
			r = q;
		close(written->fds[i]);
	}
	written->n = 0;
	return r;
}

void op_written_close(struct op_written *written)
{
	for (size_t i = 0; i < written->n; i++)
		close(written->fds[i]);
	written->n = 0;
}

/* Keeps a descriptor of the file @fd holds; at most OP_WRITTEN_MAX are held, a
 * full set is written back first. Nothing is written back here: the QEMU self-test
 * (BTRFS_TXN_UNSAFE_SKIP_FLUSH) must see what skipping step 7 does. Return: 0 or
 * -errno. */
static int op_written_add(struct op_written *written, int fd)
{
	if (!written)
		return 0;
	if (written->n == OP_WRITTEN_MAX) {
		int r = op_written_flush(written);
		if (r < 0)
			return r;
	}
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (copy < 0)
		return -errno;
	written->fds[written->n++] = copy;
	return 0;
}

/*
 * write and copy: create the new file under a temporary name next to the old one,
 * fill it, set mode and owner, and rename it over the old name.
 */
/*
 * The snapshot method's staging tree is private until the commit, so a regular file
 * with a single link is rewritten in place: it keeps its inode, owner, extended
 * attributes, ACLs and security label, and its directory is left alone, which on a
 * fresh snapshot spares copying the directory's shared tree blocks (measured with
 * make bench: the create-and-rename dominated the ops). Returns -EAGAIN when the
 * entry turned out not to be that file, for the caller to replace it instead.
 */
static int rewrite_in_place(int parent_fd, const char *name, const struct stat *old,
			    const struct txn_op *op, int src_fd, const struct stat *src, mode_t mode,
			    struct op_written *written)
{
	_cleanup_close_ int fd = openat(parent_fd, name,
					O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != old->st_dev ||
	    st.st_ino != old->st_ino || st.st_nlink != 1)
		return -EAGAIN;
	/* The kernel removes a file capability on every write and truncate, root's
	 * included; the rule is that a file of ours keeps it, so it is put back. */
	char capability[256];
	ssize_t capability_len = fgetxattr(fd, TXN_CAPABILITY_XATTR, capability, sizeof(capability));
	if (capability_len < 0 && errno != ENODATA && errno != EOPNOTSUPP)
		return -errno;
	if (ftruncate(fd, 0) < 0)
		return -errno;
	int r = op->kind == TXN_OP_COPY ? copy_file_data(src_fd, fd, src->st_size, op->max_size)
					: write_all(fd, op->content, op->content_len);
	/* Without CAP_FSETID, a write clears set-id bits too: judge the mode afresh. */
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && (st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && capability_len >= 0 &&
	    fsetxattr(fd, TXN_CAPABILITY_XATTR, capability, (size_t)capability_len, 0) < 0)
		r = -errno;
	if (r == 0)
		r = op_written_add(written, fd);
	return r;
}

/* A source whose size said 0 but that held more than max_size bytes when read. */
static int copy_too_big(const struct txn_op *op, struct txn_error *error)
{
	return txn_fail(error, TXN_ABORTED, EFBIG,
			"copy '%s': source '%s' holds more than max_size %llu bytes (its size said 0)",
			op->path, op->source,
			(unsigned long long)(op->max_size ? op->max_size : TXN_COPY_DEFAULT_MAX_SIZE));
}

int op_open_replaced(int root_fd, const struct txn_op *op, struct op_replaced *ret,
		     struct txn_error *error)
{
	const char *kind = txn_op_kind_name(op->kind);
	struct op_replaced r = { 0 };
	_cleanup_close_ int parent_fd = op_open_parent(root_fd, op, op->path, false, &r.name, error);
	if (parent_fd < 0)
		return parent_fd;
	r.have_old = fstatat(parent_fd, r.name, &r.old, AT_SYMLINK_NOFOLLOW) == 0;
	if (!r.have_old && errno != ENOENT)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s': cannot stat", kind, op->path);
	if (r.have_old && S_ISDIR(r.old.st_mode))
		return txn_fail(error, TXN_ABORTED, EISDIR, "%s '%s'", kind, op->path);
	/* Only a regular file of ours lends its owner, mode and attributes. */
	r.ours = r.have_old && S_ISREG(r.old.st_mode) && owned_by_us(&r.old);
	*ret = r;
	return TAKE_FD(parent_fd);
}

mode_t op_replacement_mode(const struct txn_op *op, const struct op_replaced *replaced,
			   mode_t source_mode)
{
	if (op->has_mode)
		return op->mode;
	if (replaced->ours)
		return replaced->old.st_mode & 07777;
	if (op->kind == TXN_OP_COPY)
		return source_mode & 0777;
	return DEFAULT_FILE_MODE;
}

int op_open_replaced_ours(int parent_fd, const struct txn_op *op,
			  const struct op_replaced *replaced, struct txn_error *error)
{
	if (!replaced->ours)
		return -EBADF;
	/* A regular file, so opening it has no side effect. */
	_cleanup_close_ int fd = openat(parent_fd, replaced->name,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0 || now.st_dev != replaced->old.st_dev ||
	    now.st_ino != replaced->old.st_ino)
		return txn_fail(error, TXN_ABORTED, fd < 0 ? errno : EAGAIN,
				"%s '%s': cannot open the file it replaces",
				txn_op_kind_name(op->kind), op->path);
	return TAKE_FD(fd);
}

static int replace_file(int root_fd, const struct txn_op *op, struct op_written *written,
			struct txn_error *error)
{
	struct op_replaced replaced;
	_cleanup_close_ int parent_fd = op_open_replaced(root_fd, op, &replaced, error);
	if (parent_fd < 0)
		return parent_fd;
	const char *name = replaced.name;
	const struct stat old = replaced.old;
	bool ours = replaced.ours;

	_cleanup_close_ int src_fd = -EBADF;
	struct stat src;
	if (op->kind == TXN_OP_COPY) {
		int r = open_copy_source(op, &src, error);
		if (r < 0)
			return r;
		src_fd = r;
		r = copy_check_size(op, &src, parent_fd, error);
		if (r < 0)
			return r;
	}

	mode_t mode = op_replacement_mode(op, &replaced, op->kind == TXN_OP_COPY ? src.st_mode : 0);

	int r;
	if (ours && old.st_nlink == 1) {
		r = rewrite_in_place(parent_fd, name, &old, op, src_fd, &src, mode, written);
		if (r != -EAGAIN) {
			if (r == -EFBIG)
				return copy_too_big(op, error);
			if (r < 0)
				return txn_fail(error, TXN_ABORTED, r, "%s '%s'",
						txn_op_kind_name(op->kind), op->path);
			return 0;
		}
	}

	/* The file of ours being replaced (another name links it), to take its owner and
	 * attributes from. */
	_cleanup_close_ int old_fd = op_open_replaced_ours(parent_fd, op, &replaced, error);
	if (old_fd < 0 && old_fd != -EBADF)
		return old_fd;

	char tmp[64];
	temp_name(tmp, sizeof(tmp));
	_cleanup_close_ int fd =
		openat(parent_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s': cannot create",
				txn_op_kind_name(op->kind), op->path);

	if (op->kind == TXN_OP_COPY)
		r = copy_file_data(src_fd, fd, src.st_size, op->max_size);
	else
		r = write_all(fd, op->content, op->content_len);
	if (r == 0)
		r = replacement_settle(fd, old_fd, mode);
	if (r == 0)
		r = op_written_add(written, fd);
	if (r == 0 && renameat(parent_fd, tmp, parent_fd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(parent_fd, tmp, 0);
		if (r == -EFBIG && op->kind == TXN_OP_COPY)
			return copy_too_big(op, error);
		return txn_fail(error, TXN_ABORTED, r, "%s '%s'", txn_op_kind_name(op->kind),
				op->path);
	}
	return 0;
}

/* mkdir: idempotent on an existing directory; `parents` makes missing ancestors. */
static int make_dir(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	mode_t mode = op->has_mode ? op->mode : DEFAULT_DIR_MODE;
	size_t len = strlen(op->path);
	_cleanup_free_ char *prefix = strdup(op->path);
	if (!prefix)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "mkdir '%s'", op->path);

	/* Walk the components; only the last one is required to be new or a directory
	 * with parents=false, ancestors are created only with parents=true. */
	for (size_t end = 0; end <= len; end++) {
		if (end < len && op->path[end] != '/')
			continue;
		bool last = end == len;
		prefix[end] = '\0';
		/* No symlink on the way, the last component included: a planted link
		 * must not turn the mode below into a chmod of another directory. */
		_cleanup_close_ int fd =
			open_beneath_no_symlinks(root_fd, prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (fd == -ELOOP || fd == -ENOTDIR) {
			char link[PATH_MAX];
			if (symlink_in_path(root_fd, prefix, link, sizeof(link)) > 0)
				return txn_fail(error, TXN_ABORTED, 0,
						"mkdir '%s': '%s' is a symlink; ops do not follow symlinks "
						"inside the tree (name the real path)", op->path, link);
		}
		if (fd >= 0) {
			if (last && op->has_mode && fchmod(fd, mode) < 0)
				return txn_fail(error, TXN_ABORTED, errno, "mkdir '%s': chmod", op->path);
			prefix[end] = '/';
			continue;
		}
		if (fd != -ENOENT)
			return txn_fail(error, TXN_ABORTED, fd, "mkdir '%s': cannot open '%s'",
					op->path, prefix);
		if (!last && !op->parents)
			return txn_fail(error, TXN_ABORTED, ENOENT,
					"mkdir '%s': parent '%s' is missing (set \"parents\": true)",
					op->path, prefix);
		const char *name;
		_cleanup_close_ int parent_fd = op_open_parent(root_fd, op, prefix, false, &name, error);
		if (parent_fd < 0)
			return parent_fd;
		mode_t this_mode = last ? mode : DEFAULT_DIR_MODE;
		if (mkdirat(parent_fd, name, 0700) < 0)
			return txn_fail(error, TXN_ABORTED, errno, "mkdir '%s'", prefix);
		/* Exact mode whatever the umask; set after creation. */
		_cleanup_close_ int new_fd =
			openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (new_fd < 0)
			return txn_fail(error, TXN_ABORTED, errno, "mkdir '%s': chmod", prefix);
		/* Ours, also in a set-group-ID directory of someone else's group. */
		int r = replacement_settle(new_fd, -EBADF, this_mode);
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "mkdir '%s': chown and chmod", prefix);
		prefix[end] = '/';
	}
	return 0;
}

/* Is @st the root of a subvolume or of a mount, seen from a parent on @parent_dev? */
static bool crosses_boundary(const struct stat *st, dev_t parent_dev)
{
	/* Btrfs gives each subvolume its own st_dev, and a subvolume's root is inode 256. */
	return st->st_dev != parent_dev || st->st_ino == 256;
}

/* The mount @fd is on, by mount id; 0 when the kernel does not say. A bind mount of
 * a directory of the same filesystem keeps st_dev, so only the mount id tells that a
 * walk would step into it. */
static uint64_t mount_id_of(int fd)
{
	uint64_t id = 0;
	mount_id_at(fd, "", &id);
	return id;
}

/*
 * A recursive delete holds one open directory per level, and names what it cannot
 * remove by its path relative to the target, so it keeps that path as it walks.
 */
struct tree_walk {
	char *path;          /* the entry at hand, relative to the target */
	size_t len, size;
	const char *op_path; /* the path the op names, shortened for messages */
	char op_shown[256];
	size_t top_len;      /* the length of the op's path, where @path starts */
	struct txn_error *error;
};

/* Appends "/@name" to the walk's path; *ret_len receives the length to go back to. */
static int tree_walk_push(struct tree_walk *w, const char *name, size_t *ret_len)
{
	size_t n = strlen(name);
	if (w->len + n + 2 > w->size) {
		size_t size = 2 * (w->len + n + 2);
		char *bigger = realloc(w->path, size);
		if (!bigger)
			return -ENOMEM;
		w->path = bigger;
		w->size = size;
	}
	*ret_len = w->len;
	w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, n + 1);
	w->len += n;
	return 0;
}

static void tree_walk_pop(struct tree_walk *w, size_t len)
{
	w->len = len;
	w->path[len] = '\0';
}

/* @path, or its head and tail around "/..." when it would not fit in a message. */
static const char *short_path(const char *path, char *buf, size_t size)
{
	size_t len = strlen(path);
	if (len < 240)
		return path;
	const char *tail = path + len - 120;
	const char *slash = strchr(tail, '/');
	snprintf(buf, size, "%.100s/...%s", path, slash ? slash : tail);
	return buf;
}

/* The inode flags (FS_IOC_GETFLAGS) of @name in @dir_fd ("" for @dir_fd itself);
 * only regular files and directories are opened for it, never a device or fifo. */
static int inode_flags_at(int dir_fd, const char *name, int *ret_flags)
{
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return -ENOTTY;
	_cleanup_close_ int fd = openat(dir_fd, name[0] ? name : ".",
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -errno;
	*ret_flags = flags;
	return 0;
}

/*
 * unlinkat(@name in @dir_fd) failed with @errnum. An immutable or append-only flag,
 * on the entry or on its directory, answers EPERM with no word of which one: name
 * the entry (or its directory, @dir_path) and the chattr that lifts it.
 */
static int remove_failed(struct tree_walk *w, int dir_fd, const char *name, const char *dir_path,
			 int errnum)
{
	char shown[256], shown_dir[256];
	const char *path = short_path(w->path, shown, sizeof(shown));
	int flags;
	if (errnum == EPERM && inode_flags_at(dir_fd, name, &flags) == 0 &&
	    (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)))
		return txn_fail(w->error, TXN_ABORTED, 0, "delete '%s': '%s' is %s: chattr %s it first",
				w->op_path, path, flags & FS_IMMUTABLE_FL ? "immutable" : "append-only",
				flags & FS_IMMUTABLE_FL ? "-i" : "-a");
	if (errnum == EPERM && inode_flags_at(dir_fd, "", &flags) == 0 &&
	    (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)))
		return txn_fail(w->error, TXN_ABORTED, 0,
				"delete '%s': cannot remove '%s': its directory '%s' is %s: chattr %s it first",
				w->op_path, path, short_path(dir_path, shown_dir, sizeof(shown_dir)),
				flags & FS_IMMUTABLE_FL ? "immutable" : "append-only",
				flags & FS_IMMUTABLE_FL ? "-i" : "-a");
	if (w->len == w->top_len) /* the op's own path: named once, not twice */
		return txn_fail(w->error, TXN_ABORTED, errnum, "delete '%s'", w->op_path);
	return txn_fail(w->error, TXN_ABORTED, errnum, "delete '%s': cannot remove '%s'", w->op_path,
			path);
}

/*
 * Removes @name in @dir_fd and, for a directory, all below it; @depth is the level
 * of @name below the target (TXN_PATH_MAX_DEPTH bounds it, as it bounds every op's
 * path) and @dir_path the path of @dir_fd. The walk is by file descriptor only: each
 * directory is opened with O_NOFOLLOW|O_DIRECTORY relative to its parent's fd, and
 * then fstat'ed to check that it is the very directory that was lstat'ed (same
 * device and inode) and on the same mount. So an attacker who swaps a directory for
 * a symlink (or for another directory, or mounts something) while we walk makes the
 * delete fail, never follow the swap out of the tree; unlinkat() never follows a
 * final symlink either.
 */
static int remove_tree_level(struct tree_walk *w, int dir_fd, const char *name,
			     const char *dir_path, const struct stat *parent_st, uint64_t parent_mnt,
			     size_t depth)
{
	char shown[256];
	struct stat st, opened;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return txn_fail(w->error, TXN_ABORTED, errno, "delete '%s': cannot stat '%s'",
				w->op_path, short_path(w->path, shown, sizeof(shown)));
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dir_fd, name, 0) < 0)
			return remove_failed(w, dir_fd, name, dir_path, errno);
		return 0;
	}
	if (crosses_boundary(&st, parent_st->st_dev))
		return txn_fail(w->error, TXN_ABORTED, EXDEV,
				"delete '%s': refusing to cross into another subvolume or mount at '%s'",
				w->op_path, short_path(w->path, shown, sizeof(shown)));
	if (depth > TXN_PATH_MAX_DEPTH)
		return txn_fail(w->error, TXN_ABORTED, 0,
				"delete '%s': '%s' is deeper than %d levels (limit of btrfs-txn)",
				w->op_path, short_path(w->path, shown, sizeof(shown)),
				TXN_PATH_MAX_DEPTH);

	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return txn_fail(w->error, TXN_ABORTED, errno == ELOOP ? EAGAIN : errno,
				errno == ELOOP ? "delete '%s': '%s', a directory, became a symlink during the delete"
					       : "delete '%s': cannot open '%s'",
				w->op_path, short_path(w->path, shown, sizeof(shown)));
	uint64_t mnt = mount_id_of(fd);
	if (fstat(fd, &opened) < 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino ||
	    (mnt && parent_mnt && mnt != parent_mnt)) {
		close(fd);
		return txn_fail(w->error, TXN_ABORTED, EAGAIN,
				"delete '%s': '%s', a directory, was replaced or mounted over during the delete",
				w->op_path, short_path(w->path, shown, sizeof(shown)));
	}
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return txn_fail(w->error, TXN_ABORTED, errno, "delete '%s'", w->op_path);
	}
	/* This directory's path, for its entries: a copy, since the walk's buffer moves. */
	_cleanup_free_ char *here = strdup(w->path);
	int r = here ? 0 : txn_fail(w->error, TXN_ABORTED, ENOMEM, "delete '%s'", w->op_path);
	struct dirent *entry;
	while (r == 0 && (errno = 0, entry = readdir(dir))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		size_t len;
		r = tree_walk_push(w, entry->d_name, &len);
		if (r < 0) {
			r = txn_fail(w->error, TXN_ABORTED, r, "delete '%s'", w->op_path);
			break;
		}
		r = remove_tree_level(w, dirfd(dir), entry->d_name, here, &opened, mnt, depth + 1);
		tree_walk_pop(w, len);
	}
	if (r == 0 && errno != 0)
		r = txn_fail(w->error, TXN_ABORTED, errno, "delete '%s': cannot read directory '%s'",
			     w->op_path, short_path(w->path, shown, sizeof(shown)));
	closedir(dir);
	if (r == 0 && unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
		r = remove_failed(w, dir_fd, name, dir_path, errno);
	return r;
}

/* The number of components of @path: its level below the target. */
static size_t path_depth(const char *path)
{
	size_t depth = 1;
	for (const char *p = path; (p = strchr(p, '/')); p++)
		depth++;
	return depth;
}

int remove_tree_at(int dir_fd, const char *name, struct txn_error *error,
		   const char *display_path)
{
	struct stat parent_st;
	if (fstat(dir_fd, &parent_st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "delete '%s': cannot stat", display_path);
	struct tree_walk w = { .path = strdup(display_path), .error = error };
	if (!w.path)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "delete '%s'", display_path);
	w.op_path = short_path(display_path, w.op_shown, sizeof(w.op_shown));
	w.len = w.top_len = strlen(w.path);
	w.size = w.len + 1;
	_cleanup_free_ char *dir_path = strndup(display_path, w.len - strlen(name));
	if (dir_path && dir_path[0])
		dir_path[strlen(dir_path) - 1] = '\0'; /* "a/b/" -> "a/b" */

	/* One descriptor per level: a tree as deep as the limit needs more than the usual
	 * soft limit of 1024, so raise it (within the hard limit) for the walk only. */
	struct rlimit saved;
	bool restore = false;
	if (getrlimit(RLIMIT_NOFILE, &saved) == 0 && saved.rlim_cur < TXN_PATH_MAX_DEPTH + 256) {
		struct rlimit raised = saved;
		raised.rlim_cur = saved.rlim_max < TXN_PATH_MAX_DEPTH + 256 ? saved.rlim_max
									    : TXN_PATH_MAX_DEPTH + 256;
		restore = setrlimit(RLIMIT_NOFILE, &raised) == 0;
	}
	int r = remove_tree_level(&w, dir_fd, name, dir_path && dir_path[0] ? dir_path : ".",
				  &parent_st, mount_id_of(dir_fd), path_depth(display_path));
	if (restore)
		setrlimit(RLIMIT_NOFILE, &saved);
	free(w.path);
	return r;
}

static int delete_path(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	const char *name;
	_cleanup_close_ int parent_fd =
		op_open_parent(root_fd, op, op->path, op->missing_ok, &name, error);
	if (parent_fd == -ENOENT && op->missing_ok)
		return 0;
	if (parent_fd < 0)
		return parent_fd;
	struct stat st, parent_st;
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT && op->missing_ok)
			return 0;
		return txn_fail(error, TXN_ABORTED, errno, "delete '%s'", op->path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent_fd, name, 0) < 0)
			return txn_fail(error, TXN_ABORTED, errno, "delete '%s'", op->path);
		return 0;
	}
	if (fstat(parent_fd, &parent_st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "delete '%s'", op->path);
	if (crosses_boundary(&st, parent_st.st_dev))
		return txn_fail(error, TXN_ABORTED, EXDEV,
				"delete '%s': is a subvolume or mount point, not removed", op->path);
	if (!op->recursive) {
		if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0)
			return txn_fail(error, TXN_ABORTED, errno,
					errno == ENOTEMPTY ? "delete '%s' (set \"recursive\": true)"
							   : "delete '%s'",
					op->path);
		return 0;
	}
	/* remove_tree_at needs a real directory fd for fstat; O_PATH serves for *at(). */
	return remove_tree_at(parent_fd, name, error, op->path);
}

/* symlink: made under a temporary name and renamed over the path, so an existing
 * link (the `current` switch of a release) is replaced in one step. */
static int make_symlink(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	const char *name;
	_cleanup_close_ int parent_fd = op_open_parent(root_fd, op, op->path, false, &name, error);
	if (parent_fd < 0)
		return parent_fd;
	char tmp[64];
	temp_name(tmp, sizeof(tmp));
	if (symlinkat(op->link_target, parent_fd, tmp) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "symlink '%s'", op->path);
	if (renameat(parent_fd, tmp, parent_fd, name) < 0) {
		int saved = errno;
		unlinkat(parent_fd, tmp, 0);
		return txn_fail(error, TXN_ABORTED, saved, "symlink '%s'", op->path);
	}
	return 0;
}

static int rename_path(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	const char *from_name, *to_name;
	_cleanup_close_ int from_fd = op_open_parent(root_fd, op, op->path, false, &from_name, error);
	if (from_fd < 0)
		return from_fd;
	_cleanup_close_ int to_fd = op_open_parent(root_fd, op, op->to, false, &to_name, error);
	if (to_fd < 0)
		return to_fd;
	if (renameat(from_fd, from_name, to_fd, to_name) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "rename '%s' to '%s'", op->path, op->to);
	return 0;
}

/* chmod and chown act on the entry itself, held open with O_PATH|O_NOFOLLOW from the
 * first look to the change: a symlink is refused for chmod (Linux has no link modes)
 * and changed itself, not its target, by chown. */
static int change_attrs(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	const char *kind = txn_op_kind_name(op->kind);
	const char *name;
	_cleanup_close_ int parent_fd = op_open_parent(root_fd, op, op->path, false, &name, error);
	if (parent_fd < 0)
		return parent_fd;
	_cleanup_close_ int fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s'", kind, op->path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "%s '%s'", kind, op->path);

	int r;
	if (op->kind == TXN_OP_CHMOD) {
		if (S_ISLNK(st.st_mode))
			return txn_fail(error, TXN_ABORTED, ELOOP, "chmod '%s': is a symlink", op->path);
		r = chmod_held(parent_fd, name, fd, &st, op->mode);
		if (r == -EOPNOTSUPP)
			return txn_fail(error, TXN_ABORTED, r,
					"chmod '%s': not a file or directory, and /proc is not mounted to change it safely",
					op->path);
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "chmod '%s'", op->path);
		return 0;
	}
	uid_t uid = op->owner.present ? (uid_t)op->owner.id : (uid_t)-1;
	gid_t gid = op->group.present ? (gid_t)op->group.id : (gid_t)-1;
	if ((op->owner.present && !op->owner.resolved) || (op->group.present && !op->group.resolved))
		return txn_fail(error, TXN_INVALID, EINVAL, "chown '%s': owner or group not resolved",
				op->path);
	/* AT_EMPTY_PATH on the O_PATH fd: the entry we hold, a symlink itself included. */
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "chown '%s'", op->path);
	/* Set-id bits and capabilities never survive a chown, whatever the kernel's
	 * version left: else a user's set-uid copy of a shell, chowned to root by a
	 * spec, would be a root shell. A directory keeps its bits (no privilege). */
	if (S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode))
		return 0;
	r = drop_privileges_held(parent_fd, name, fd, &st);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "chown '%s': clearing set-id bits and capabilities",
				op->path);
	return 0;
}

static int op_dispatch(int root_fd, const struct txn_op *op, struct op_written *written,
		       struct txn_error *error)
{
	if (txn_path_check(op->path, strlen(op->path)) != TXN_PATH_OK ||
	    (op->kind == TXN_OP_RENAME && txn_path_check(op->to, strlen(op->to)) != TXN_PATH_OK))
		return txn_fail(error, TXN_INVALID, EINVAL, "%s '%s': invalid path",
				txn_op_kind_name(op->kind), op->path);
	switch (op->kind) {
	case TXN_OP_WRITE:
	case TXN_OP_COPY:
		return replace_file(root_fd, op, written, error);
	case TXN_OP_MKDIR:
		return make_dir(root_fd, op, error);
	case TXN_OP_DELETE:
		return delete_path(root_fd, op, error);
	case TXN_OP_SYMLINK:
		return make_symlink(root_fd, op, error);
	case TXN_OP_RENAME:
		return rename_path(root_fd, op, error);
	case TXN_OP_CHMOD:
	case TXN_OP_CHOWN:
		return change_attrs(root_fd, op, error);
	}
	return txn_fail(error, TXN_INVALID, EINVAL, "unknown op");
}

/*
 * EXDEV reads "Invalid cross-device link", whether a symlink led out of the tree, a
 * mount was in the way, or a rename crossed into a nested subvolume: when an op
 * failed with it, say which, naming the component, in place of strerror.
 */
static void explain_exdev(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	char why[512];
	if (!error || error->errnum != EXDEV)
		return;
	/* Only mkdir resolves the last component of its path (to a directory). */
	bool found = resolve_explain(root_fd, op->path, op->kind == TXN_OP_MKDIR, why,
				     sizeof(why)) == 0 ||
		     (op->kind == TXN_OP_RENAME &&
		      resolve_explain(root_fd, op->to, false, why, sizeof(why)) == 0);
	if (!found)
		return;
	size_t len = strlen(error->message);
	if (len + 2 < sizeof(error->message))
		snprintf(error->message + len, sizeof(error->message) - len, ": %s", why);
	error->errnum = 0;
}

int txn_op_apply_written(int root_fd, const struct txn_op *op, struct op_written *written,
			 struct txn_error *error)
{
	int r = op_dispatch(root_fd, op, written, error);
	if (r == -EXDEV)
		explain_exdev(root_fd, op, error);
	return r;
}

int txn_op_apply(int root_fd, const struct txn_op *op, struct txn_error *error)
{
	return txn_op_apply_written(root_fd, op, NULL, error);
}
