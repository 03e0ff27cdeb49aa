/* SPDX-License-Identifier: MIT */
/* batch.c: names and lifetime of the in-memory batch (see batch.h). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

const char *txn_op_kind_name(enum txn_op_kind kind)
{
	static const char *const names[] = {
		[TXN_OP_WRITE] = "write",     [TXN_OP_COPY] = "copy",
		[TXN_OP_MKDIR] = "mkdir",     [TXN_OP_DELETE] = "delete",
		[TXN_OP_SYMLINK] = "symlink", [TXN_OP_RENAME] = "rename",
		[TXN_OP_CHMOD] = "chmod",     [TXN_OP_CHOWN] = "chown",
	};
	if ((size_t)kind >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[kind];
}

const char *txn_method_name(enum txn_method method)
{
	return method == TXN_METHOD_TRANS ? "trans" : "snapshot";
}

static void op_free(struct txn_op *op)
{
	free(op->path);
	free(op->content);
	free(op->source);
	free(op->link_target);
	free(op->to);
	free(op->owner.name);
	free(op->group.name);
}

void txn_batch_free(struct txn_batch *batch)
{
	if (!batch)
		return;
	free(batch->target);
	free(batch->description);
	for (size_t i = 0; i < batch->n_preconditions; i++)
		free(batch->preconditions[i].path);
	free(batch->preconditions);
	for (size_t i = 0; i < batch->n_ops; i++)
		op_free(&batch->ops[i]);
	free(batch->ops);
	if (batch->verify.argv) {
		for (size_t i = 0; i < batch->verify.argc; i++)
			free(batch->verify.argv[i]);
		free(batch->verify.argv);
	}
	memset(batch, 0, sizeof(*batch));
}
