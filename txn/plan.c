/* SPDX-License-Identifier: MIT */
/*
 * plan.c: what an apply would change, judged against the live target without
 * writing anything (no lock, no state directory, no snapshot).
 *
 * "unchanged" is a promise that applying the op leaves the tree as it is (bytes,
 * mode, owner, link text), judged by the same rules ops.c and owner.c apply:
 *   - write, copy: a regular file of ours (its owner is kept) with one link, the
 *     same bytes and the mode the op would leave; a file of another owner is
 *     replaced by one of ours, and one with other names by a file of its own (the
 *     other names keep the old one), so both are a change;
 *   - symlink: a link with the same text and the owner a new link would get;
 *   - chmod: the mode is already that; chown: owner and group already are, and no
 *     set-id bit or file capability is there for the chown to clear;
 *   - rename: only when source and destination are already the same inode (rename(2)
 *     does nothing then). A rename whose source is gone is not a no-op: apply fails
 *     on it, so the plan says "fails" whatever the destination holds.
 * An op on a path an earlier op touches is "after" that op, unless every such earlier
 * op is unchanged: then it meets the live tree and is judged like the others.
 */
#include "internal.h"
#include "state.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "path.h"

#define PLAN_DETAIL(e, ...) snprintf((e)->detail, sizeof((e)->detail), __VA_ARGS__)

/* Whether the regular file @name in @parent_fd (looked at as @st) holds exactly the
 * bytes of @src_fd, or of @content when @src_fd < 0. */
static bool same_bytes(int parent_fd, const char *name, const struct stat *st, int src_fd,
		       const struct stat *src, const void *content, size_t content_len)
{
	size_t want_len = src_fd >= 0 ? (size_t)src->st_size : content_len;
	if ((size_t)st->st_size != want_len)
		return false;
	_cleanup_close_ int fd = openat(parent_fd, name,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat now;
	unsigned char have[32], want[32];
	if (fd < 0 || fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev ||
	    sha256_fd(fd, have) < 0)
		return false;
	if (src_fd >= 0) {
		if (sha256_fd(src_fd, want) < 0)
			return false;
	} else {
		sha256_bytes(content, content_len, want);
	}
	return memcmp(have, want, 32) == 0;
}

/* write and copy over an existing non-directory. */
static void describe_replace(int parent_fd, const char *name, const struct txn_op *op,
			     const struct stat *st, struct txn_plan_entry *e)
{
	_cleanup_close_ int src_fd = -EBADF;
	struct stat src = { 0 };
	if (op->kind == TXN_OP_COPY) {
		/* The source as apply opens it: the same refusals, before any judgement. */
		src_fd = copy_source_open(op->source, &src);
		if (src_fd < 0) {
			const char *problem = copy_source_problem(src_fd);
			e->action = "fails";
			PLAN_DETAIL(e, "source '%.180s' %s", op->source,
				    problem ? problem : strerror(-src_fd));
			return;
		}
		uint64_t max_size = op->max_size ? op->max_size : TXN_COPY_DEFAULT_MAX_SIZE;
		if ((uint64_t)src.st_size > max_size) {
			e->action = "fails";
			PLAN_DETAIL(e, "source is %lld bytes, more than max_size %llu",
				    (long long)src.st_size, (unsigned long long)max_size);
			return;
		}
	}
	struct op_replaced replaced = { .name = name, .old = *st, .have_old = true,
					.ours = S_ISREG(st->st_mode) && owned_by_us(st) };
	mode_t mode = op_replacement_mode(op, &replaced, src.st_mode);
	/* A file with other names is replaced by a file of its own (ops.c rewrites in
	 * place only a file with one link): the other names keep the old inode. */
	if (replaced.ours && st->st_nlink == 1 && (st->st_mode & 07777) == mode &&
	    same_bytes(parent_fd, name, st, src_fd, &src, op->content, op->content_len)) {
		e->action = "unchanged";
		return;
	}
	e->action = "replace";
	if (!S_ISREG(st->st_mode))
		PLAN_DETAIL(e, "not a regular file");
	else if (!replaced.ours)
		PLAN_DETAIL(e, "owner %u becomes %u", (unsigned)st->st_uid, (unsigned)geteuid());
	else if (st->st_nlink > 1)
		PLAN_DETAIL(e, "one of %lu hard links: becomes a file of its own",
			    (unsigned long)st->st_nlink);
	else if (op->kind == TXN_OP_WRITE)
		PLAN_DETAIL(e, "%lld -> %zu bytes", (long long)st->st_size, op->content_len);
	else
		PLAN_DETAIL(e, "%lld -> %lld bytes", (long long)st->st_size, (long long)src.st_size);
}

/* symlink over an existing entry: unchanged when it is the link a new one would be. */
static void describe_symlink(int parent_fd, const char *name, const struct txn_op *op,
			     const struct stat *st, struct txn_plan_entry *e)
{
	if (S_ISDIR(st->st_mode)) {
		e->action = "fails";
		PLAN_DETAIL(e, "is a directory");
		return;
	}
	e->action = "replace";
	PLAN_DETAIL(e, "-> %.240s", op->link_target);
	if (!S_ISLNK(st->st_mode) || st->st_uid != geteuid())
		return;
	/* A new link's group: the directory's when it is set-group-id, else ours. */
	struct stat dir;
	if (fstat(parent_fd, &dir) < 0)
		return;
	gid_t group = (dir.st_mode & S_ISGID) ? dir.st_gid : getegid();
	size_t len = strlen(op->link_target);
	_cleanup_free_ char *text = malloc(len + 2);
	if (!text || st->st_gid != group)
		return;
	ssize_t n = readlinkat(parent_fd, name, text, len + 1);
	if (n == (ssize_t)len && memcmp(text, op->link_target, len) == 0)
		e->action = "unchanged";
}

/* chown of an existing entry: unchanged when the ids are already those and there is
 * nothing for it to clear (set-id bits and capabilities of a non-directory). */
static bool chown_is_noop(int parent_fd, const char *name, const struct txn_op *op,
			  const struct stat *st)
{
	if ((op->owner.present && (!op->owner.resolved || st->st_uid != (uid_t)op->owner.id)) ||
	    (op->group.present && (!op->group.resolved || st->st_gid != (gid_t)op->group.id)))
		return false;
	if (S_ISLNK(st->st_mode) || S_ISDIR(st->st_mode))
		return true;
	if (st->st_mode & (S_ISUID | S_ISGID))
		return false;
	if (!S_ISREG(st->st_mode))
		return true;
	_cleanup_close_ int fd = openat(parent_fd, name,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	return fgetxattr(fd, TXN_CAPABILITY_XATTR, NULL, 0) < 0 &&
	       (errno == ENODATA || errno == EOPNOTSUPP);
}

/* rename of an existing source: rename(2) does nothing when the destination is
 * already a link to the same inode. */
static bool rename_is_noop(int root_fd, const struct txn_op *op, const struct stat *st)
{
	const char *to_name;
	_cleanup_close_ int to_parent = open_parent_no_symlinks(root_fd, op->to, &to_name);
	struct stat to;
	return to_parent >= 0 && fstatat(to_parent, to_name, &to, AT_SYMLINK_NOFOLLOW) == 0 &&
	       to.st_dev == st->st_dev && to.st_ino == st->st_ino;
}

static void describe_live(int root_fd, const struct txn_op *op, struct txn_plan_entry *e)
{
	const char *name;
	/* As the ops resolve it: a symlink anywhere on the path fails the op. */
	_cleanup_close_ int parent = open_parent_no_symlinks(root_fd, op->path, &name);
	struct stat st;
	bool exists = parent >= 0 && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	char link[PATH_MAX];
	if (parent == -ELOOP && symlink_in_path(root_fd, op->path, link, sizeof(link)) > 0) {
		e->action = "fails";
		PLAN_DETAIL(e, "'%.200s' is a symlink; ops do not follow symlinks", link);
		return;
	}
	if (parent < 0 && parent != -ENOENT) {
		e->action = "fails";
		PLAN_DETAIL(e, "cannot open the directory: %s", strerror(-parent));
		return;
	}
	switch (op->kind) {
	case TXN_OP_WRITE:
	case TXN_OP_COPY:
		if (!exists) {
			e->action = parent < 0 ? "fails" : "create";
			if (parent < 0)
				PLAN_DETAIL(e, "parent directory is missing");
			else if (op->kind == TXN_OP_WRITE)
				PLAN_DETAIL(e, "%zu bytes", op->content_len);
		} else if (S_ISDIR(st.st_mode)) {
			e->action = "fails";
			PLAN_DETAIL(e, "is a directory");
		} else {
			describe_replace(parent, name, op, &st, e);
		}
		break;
	case TXN_OP_MKDIR:
		e->action = exists ? (S_ISDIR(st.st_mode) ? "unchanged" : "fails") : "create";
		if (exists && !S_ISDIR(st.st_mode))
			PLAN_DETAIL(e, "exists and is not a directory");
		break;
	case TXN_OP_DELETE:
		e->action = exists ? "remove" : op->missing_ok ? "unchanged" : "fails";
		if (!exists && !op->missing_ok)
			PLAN_DETAIL(e, "does not exist");
		else if (exists && S_ISDIR(st.st_mode))
			PLAN_DETAIL(e, "directory%s", op->recursive ? ", recursively" : "");
		break;
	case TXN_OP_SYMLINK:
		if (exists) {
			describe_symlink(parent, name, op, &st, e);
		} else {
			e->action = parent < 0 ? "fails" : "create";
			if (parent < 0)
				PLAN_DETAIL(e, "parent directory is missing");
			else
				PLAN_DETAIL(e, "-> %.240s", op->link_target);
		}
		break;
	case TXN_OP_RENAME:
		if (!exists) {
			e->action = "fails";
			PLAN_DETAIL(e, "does not exist (a rename cannot be applied twice)");
		} else if (rename_is_noop(root_fd, op, &st)) {
			e->action = "unchanged";
			PLAN_DETAIL(e, "'%.200s' is the same file", op->to);
		} else {
			e->action = "rename";
			PLAN_DETAIL(e, "to %.240s", op->to);
		}
		break;
	case TXN_OP_CHMOD:
		if (!exists) {
			e->action = "fails";
			PLAN_DETAIL(e, "does not exist");
		} else if (S_ISLNK(st.st_mode)) {
			e->action = "fails";
			PLAN_DETAIL(e, "is a symlink");
		} else if ((st.st_mode & 07777) == op->mode) {
			e->action = "unchanged";
		} else {
			e->action = "change";
			PLAN_DETAIL(e, "%04o -> %04o", (unsigned)(st.st_mode & 07777), (unsigned)op->mode);
		}
		break;
	case TXN_OP_CHOWN:
		if (!exists) {
			e->action = "fails";
			PLAN_DETAIL(e, "does not exist");
		} else {
			e->action = chown_is_noop(parent, name, op, &st) ? "unchanged" : "change";
		}
		break;
	}
}

/*
 * The last earlier op (1-based) that op @index depends on and that changes something,
 * or 0 when every op it depends on is unchanged. txn_op_depends_on() names only the
 * nearest one, so it is asked again about the ops before that one: @scratch is a copy
 * of the ops in which op @index stands in, for one call, at the place of the first op
 * not to look at.
 */
static size_t depends_on_change(const struct txn_batch *batch, size_t index, const bool *unchanged,
				struct txn_op *scratch)
{
	struct txn_batch view = *batch;
	view.ops = scratch;
	for (size_t limit = index; limit > 0;) {
		scratch[limit] = batch->ops[index];
		size_t after = txn_op_depends_on(&view, limit);
		scratch[limit] = batch->ops[limit];
		if (!after || !unchanged[after - 1])
			return after;
		limit = after - 1;
	}
	return 0;
}

int plan_ops_at(int root_fd, const struct txn_batch *batch,
		void (*each)(const struct txn_plan_entry *entry, void *ctx), void *ctx)
{
	if (batch->n_ops == 0)
		return 0;
	_cleanup_free_ bool *unchanged = calloc(batch->n_ops, sizeof(*unchanged));
	_cleanup_free_ struct txn_op *scratch = calloc(batch->n_ops, sizeof(*scratch));
	if (!unchanged || !scratch)
		return -ENOMEM;
	memcpy(scratch, batch->ops, batch->n_ops * sizeof(*scratch));
	for (size_t i = 0; i < batch->n_ops; i++) {
		struct txn_plan_entry e = { .index = i, .op = &batch->ops[i] };
		size_t after = depends_on_change(batch, i, unchanged, scratch);
		if (after) {
			e.action = "after";
			PLAN_DETAIL(&e, "depends on op %zu", after - 1);
		} else {
			describe_live(root_fd, &batch->ops[i], &e);
		}
		unchanged[i] = strcmp(e.action, "unchanged") == 0;
		each(&e, ctx);
	}
	return 0;
}

int txn_plan(const char *path, const struct txn_batch *batch,
	     void (*each)(const struct txn_plan_entry *entry, void *ctx), void *ctx,
	     struct txn_error *ret_precondition, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, 0, &t, error);
	if (r < 0)
		return r;
	/* apply would refuse it: say so now, with the same words and exit. */
	r = refuse_nested(&t, TXN_UNSUPPORTED, error);
	if (r < 0) {
		target_close(&t);
		return r;
	}
	memset(ret_precondition, 0, sizeof(*ret_precondition));
	txn_preconditions_check(t.fd, batch, ret_precondition);
	r = plan_ops_at(t.fd, batch, each, ctx);
	if (r < 0)
		txn_fail(error, TXN_ABORTED, r, "plan for '%s'", path);
	target_close(&t);
	return r;
}
