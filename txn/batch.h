/* SPDX-License-Identifier: MIT */
/*
 * batch.h: the in-memory form of a spec, as the engine consumes it.
 *
 * The runner builds a batch from JSON (runner/spec_load.c); the engine never sees
 * JSON. Every string is owned by the batch and freed by txn_batch_free(). Content of
 * `write` ops is already decoded (base64 done at load time), so the engine deals
 * in bytes only. Owner and group names are resolved to numbers by the runner before
 * apply, because name lookup depends on the machine the spec runs on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#pragma GCC visibility push(default)

enum txn_method {
	TXN_METHOD_SNAPSHOT,
	TXN_METHOD_TRANS,
};

enum txn_op_kind {
	TXN_OP_WRITE,
	TXN_OP_COPY,
	TXN_OP_MKDIR,
	TXN_OP_DELETE,
	TXN_OP_SYMLINK,
	TXN_OP_RENAME,
	TXN_OP_CHMOD,
	TXN_OP_CHOWN,
};

/* An owner or group as written in the spec: a name, or a number. */
struct txn_id_ref {
	bool present;
	bool is_name;
	char *name;     /* when is_name */
	uint32_t id;    /* when !is_name, or after the runner resolved the name */
	bool resolved;  /* id is valid (numbers are resolved from the start) */
	unsigned spec_line, spec_column; /* where a name stands in the spec, so that
					    an unknown name is reported there */
};

struct txn_op {
	enum txn_op_kind kind;
	char *path;               /* relative, validated by txn_path_check() */

	/* write */
	unsigned char *content;   /* decoded bytes, may be NULL when content_len is 0 */
	size_t content_len;

	/* copy */
	char *source;             /* absolute path on the host */
	uint64_t max_size;        /* largest source copied, in bytes; 0: TXN_COPY_DEFAULT_MAX_SIZE */

	/* write, copy, mkdir, chmod */
	bool has_mode;
	mode_t mode;              /* permission bits only (07777) */

	bool parents;             /* mkdir */
	bool missing_ok;          /* delete */
	bool recursive;           /* delete */
	char *link_target;        /* symlink: the link's text, stored as is */
	char *to;                 /* rename: destination, validated like path */

	struct txn_id_ref owner;  /* chown */
	struct txn_id_ref group;  /* chown */
};

struct txn_precondition {
	char *path;
	bool has_sha256;
	unsigned char sha256[32];
	bool has_exists;
	bool exists;
};

struct txn_verify {
	char **argv;              /* NULL-terminated; NULL when no verify hook */
	size_t argc;
	unsigned timeout_seconds; /* 0 means the default */
};

struct txn_batch {
	char *target;             /* NULL when the spec gave none (use --target) */
	char *description;        /* may be NULL */
	bool has_method;
	enum txn_method method;
	bool has_keep;
	unsigned keep;

	struct txn_precondition *preconditions;
	size_t n_preconditions;

	struct txn_op *ops;
	size_t n_ops;

	struct txn_verify verify;
};

#define TXN_DEFAULT_KEEP 5
#define TXN_DEFAULT_VERIFY_TIMEOUT 60
/* A copy op refuses a larger source unless its "max_size" says otherwise (1 GiB). */
#define TXN_COPY_DEFAULT_MAX_SIZE (1ULL << 30)

/**
 * txn_op_kind_name() - The spec's name of an op kind ("write", "copy", ...).
 * @kind: The kind.
 *
 * Return: a static string.
 */
const char *txn_op_kind_name(enum txn_op_kind kind);
/**
 * txn_method_name() - The spec's name of a method ("snapshot" or "trans").
 * @method: The method.
 *
 * Return: a static string.
 */
const char *txn_method_name(enum txn_method method);

/**
 * txn_batch_free() - Free everything the batch owns and zero it.
 * @batch: The batch; may be NULL.
 *
 * Return: nothing.
 */
void txn_batch_free(struct txn_batch *batch);

#pragma GCC visibility pop
