/* SPDX-License-Identifier: MIT */
/*
 * plan.c: what an apply would change, judged against the live target without
 * writing anything (no lock, no state directory, no snapshot).
 */
#include "internal.h"
#include "state.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "path.h"

static bool same_content(int root_fd, const struct txn_op *op, const struct stat *st)
{
	if (op->kind != TXN_OP_WRITE || !S_ISREG(st->st_mode) || (size_t)st->st_size != op->content_len)
		return false;
	_cleanup_close_ int fd = open_beneath(root_fd, op->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	unsigned char have[32], want[32];
	if (fd < 0 || sha256_fd(fd, have) < 0)
		return false;
	sha256_bytes(op->content, op->content_len, want);
	return memcmp(have, want, 32) == 0 && (!op->has_mode || (st->st_mode & 07777) == op->mode);
}

static void describe(int root_fd, const struct txn_batch *batch, size_t index,
		     struct txn_plan_entry *e)
{
	const struct txn_op *op = &batch->ops[index];
	e->detail[0] = '\0';
	size_t after = txn_op_depends_on(batch, index);
	if (after) {
		e->action = "after";
		snprintf(e->detail, sizeof(e->detail), "depends on op %zu", after - 1);
		return;
	}
	const char *name;
	/* As the ops resolve it: a symlink anywhere on the path fails the op. */
	_cleanup_close_ int parent = open_parent_no_symlinks(root_fd, op->path, &name);
	struct stat st;
	bool exists = parent >= 0 && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	char link[PATH_MAX];
	if (parent == -ELOOP && symlink_in_path(root_fd, op->path, link, sizeof(link)) > 0) {
		e->action = "fails";
		snprintf(e->detail, sizeof(e->detail), "'%.200s' is a symlink; ops do not follow symlinks",
			 link);
		return;
	}
	if (parent < 0 && parent != -ENOENT) {
		e->action = "fails";
		snprintf(e->detail, sizeof(e->detail), "cannot open the directory: %s", strerror(-parent));
		return;
	}
	switch (op->kind) {
	case TXN_OP_WRITE:
	case TXN_OP_COPY:
		if (!exists) {
			e->action = parent < 0 ? "fails" : "create";
			if (parent < 0)
				snprintf(e->detail, sizeof(e->detail), "parent directory is missing");
			else if (op->kind == TXN_OP_WRITE)
				snprintf(e->detail, sizeof(e->detail), "%zu bytes", op->content_len);
		} else if (S_ISDIR(st.st_mode)) {
			e->action = "fails";
			snprintf(e->detail, sizeof(e->detail), "is a directory");
		} else if (same_content(root_fd, op, &st)) {
			e->action = "unchanged";
		} else {
			e->action = "replace";
			if (op->kind == TXN_OP_WRITE)
				snprintf(e->detail, sizeof(e->detail), "%lld -> %zu bytes",
					 (long long)st.st_size, op->content_len);
		}
		break;
	case TXN_OP_MKDIR:
		e->action = exists ? (S_ISDIR(st.st_mode) ? "unchanged" : "fails") : "create";
		if (exists && !S_ISDIR(st.st_mode))
			snprintf(e->detail, sizeof(e->detail), "exists and is not a directory");
		break;
	case TXN_OP_DELETE:
		e->action = exists ? "remove" : op->missing_ok ? "unchanged" : "fails";
		if (!exists && !op->missing_ok)
			snprintf(e->detail, sizeof(e->detail), "does not exist");
		else if (exists && S_ISDIR(st.st_mode))
			snprintf(e->detail, sizeof(e->detail), "directory%s", op->recursive ? ", recursively" : "");
		break;
	case TXN_OP_SYMLINK:
		e->action = exists ? "replace" : "create";
		snprintf(e->detail, sizeof(e->detail), "-> %s", op->link_target);
		break;
	case TXN_OP_RENAME:
		e->action = exists ? "rename" : "fails";
		snprintf(e->detail, sizeof(e->detail), exists ? "to %s" : "does not exist", op->to);
		break;
	case TXN_OP_CHMOD:
	case TXN_OP_CHOWN:
		e->action = exists ? "change" : "fails";
		if (!exists)
			snprintf(e->detail, sizeof(e->detail), "does not exist");
		break;
	}
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
	for (size_t i = 0; i < batch->n_ops; i++) {
		struct txn_plan_entry e = { .index = i, .op = &batch->ops[i] };
		describe(t.fd, batch, i, &e);
		each(&e, ctx);
	}
	target_close(&t);
	return 0;
}
