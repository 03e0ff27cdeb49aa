/* SPDX-License-Identifier: MIT */
/*
 * trans_preflight.c: what the trans method refuses before its window. The ops in
 * the window run in place and cannot be undone, so an op that can be known to fail
 * is refused while nothing has changed. Called by trans.c only.
 */
#include "trans_parts.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "path.h"

static int preflight_fail(struct txn_error *error, size_t index, const struct txn_op *op,
			  int errnum, const char *why)
{
	return txn_fail(error, TXN_ABORTED, errnum,
			"--method trans: op %zu (%s '%s') would fail inside the window, where it "
			"could not be undone (%s); nothing was changed",
			index, txn_op_kind_name(op->kind), op->path, why);
}

/*
 * The in-place ops cannot be undone, so what can be known to fail is refused before
 * the window: a path that cannot be resolved beneath T, a missing file, a directory
 * where a file goes, a staged file that could not be renamed into another subvolume.
 * Ops whose outcome depends on an earlier op of the batch are judged in the window.
 */
int trans_preflight(int root_fd, const struct txn_batch *batch, struct txn_error *error)
{
	struct stat root_st;
	if (fstat(root_fd, &root_st) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "--method trans: cannot stat the target");
	for (size_t i = 0; i < batch->n_ops; i++) {
		const struct txn_op *op = &batch->ops[i];
		if (txn_path_check(op->path, strlen(op->path)) != TXN_PATH_OK ||
		    (op->kind == TXN_OP_RENAME && txn_path_check(op->to, strlen(op->to)) != TXN_PATH_OK))
			return txn_fail(error, TXN_INVALID, EINVAL, "op %zu (%s '%s'): invalid path", i,
					txn_op_kind_name(op->kind), op->path);
		if (op->kind == TXN_OP_CHOWN &&
		    ((op->owner.present && !op->owner.resolved) || (op->group.present && !op->group.resolved)))
			return txn_fail(error, TXN_INVALID, EINVAL,
					"op %zu (chown '%s'): owner or group not resolved", i, op->path);
		if (txn_op_depends_on(batch, i))
			continue;

		const char *name;
		/* As the ops resolve (ops.c): no symlink on the way. */
		_cleanup_close_ int parent_fd = open_parent_no_symlinks(root_fd, op->path, &name);
		char link[PATH_MAX];
		if (parent_fd == -ELOOP && symlink_in_path(root_fd, op->path, link, sizeof(link)) > 0) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof(why), "'%s' is a symlink, and ops do not follow symlinks", link);
			return preflight_fail(error, i, op, 0, why);
		}
		if (parent_fd == -ENOENT) {
			if ((op->kind == TXN_OP_DELETE && op->missing_ok) ||
			    (op->kind == TXN_OP_MKDIR && op->parents))
				continue;
			return preflight_fail(error, i, op, ENOENT, "its directory is missing");
		}
		if (parent_fd < 0)
			return preflight_fail(error, i, op, parent_fd, "cannot open its directory beneath the target");
		struct stat st;
		bool exists = fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (!exists && errno != ENOENT)
			return preflight_fail(error, i, op, errno, "cannot stat it");

		switch (op->kind) {
		case TXN_OP_WRITE:
		case TXN_OP_COPY: {
			struct stat parent_st;
			if (exists && S_ISDIR(st.st_mode))
				return preflight_fail(error, i, op, EISDIR, "a directory stands there");
			if (fstat(parent_fd, &parent_st) < 0)
				return preflight_fail(error, i, op, errno, "cannot stat its directory");
			/* The content is staged in T's root and renamed into place. */
			if (parent_st.st_dev != root_st.st_dev)
				return preflight_fail(error, i, op, EXDEV,
						      "its directory is in another subvolume or mount");
			break;
		}
		case TXN_OP_MKDIR:
			if (exists && !S_ISDIR(st.st_mode))
				return preflight_fail(error, i, op, ENOTDIR, "exists and is not a directory");
			break;
		case TXN_OP_DELETE:
			if (!exists && !op->missing_ok)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			break;
		case TXN_OP_SYMLINK:
			if (exists && S_ISDIR(st.st_mode))
				return preflight_fail(error, i, op, EISDIR, "a directory stands there");
			break;
		case TXN_OP_RENAME: {
			if (!exists)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			const char *to_name;
			_cleanup_close_ int to_fd = open_parent_no_symlinks(root_fd, op->to, &to_name);
			if (to_fd < 0)
				return preflight_fail(error, i, op, to_fd,
						      "cannot open the destination's directory");
			break;
		}
		case TXN_OP_CHMOD:
			if (!exists)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			if (S_ISLNK(st.st_mode))
				return preflight_fail(error, i, op, ELOOP, "is a symlink");
			break;
		case TXN_OP_CHOWN:
			if (!exists)
				return preflight_fail(error, i, op, ENOENT, "does not exist");
			break;
		}
	}
	return 0;
}
