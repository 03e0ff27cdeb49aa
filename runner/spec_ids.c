/* SPDX-License-Identifier: MIT */
/*
 * spec_ids.c: owner and group names in chown ops to numbers, on the machine that
 * applies the spec. Kept out of loading so that `validate` gives the same answer
 * everywhere; apply calls spec_resolve_ids() before it touches anything, and an
 * unknown name is a spec error at the position of the name.
 */
#include "spec_internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* getpwnam_r/getgrnam_r with a buffer grown on ERANGE. Return: 0, -ENOENT, -errno. */
static int lookup(const char *name, bool group, uint32_t *ret_id)
{
	long hint = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 4096;

	for (;;) {
		_cleanup_free_ char *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		int r;
		uint32_t id = 0;
		bool found;
		if (group) {
			struct group entry, *result = NULL;
			r = getgrnam_r(name, &entry, buf, size, &result);
			found = result != NULL;
			if (found)
				id = (uint32_t)entry.gr_gid;
		} else {
			struct passwd entry, *result = NULL;
			r = getpwnam_r(name, &entry, buf, size, &result);
			found = result != NULL;
			if (found)
				id = (uint32_t)entry.pw_uid;
		}
		if (r == ERANGE && size < (1u << 24)) {
			size *= 2;
			continue;
		}
		if (found) {
			*ret_id = id;
			return 0;
		}
		/* not found is r == 0 (or ENOENT and friends on some NSS modules) */
		return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM ? -ENOENT
										     : -r;
	}
}

static int resolve_one(struct txn_id_ref *ref, bool group, size_t op_index, const char *file,
		       struct spec_error *ret_error)
{
	if (!ref->present || ref->resolved)
		return 0;
	uint32_t id;
	int r = lookup(ref->name, group, &id);
	if (r == 0) {
		ref->id = id;
		ref->resolved = true;
		return 0;
	}
	memset(ret_error, 0, sizeof(*ret_error));
	snprintf(ret_error->file, sizeof(ret_error->file), "%s", file);
	ret_error->line = ref->spec_line;
	ret_error->column = ref->spec_column;
	snprintf(ret_error->pointer, sizeof(ret_error->pointer), "/ops/%zu/%s", op_index,
		 group ? "group" : "owner");
	bool numeric = ref->name[strspn(ref->name, "0123456789")] == '\0';
	if (r == -ENOENT)
		snprintf(ret_error->message, sizeof(ret_error->message),
			 "unknown %s \"%s\" on this machine%s", group ? "group" : "user",
			 ref->name,
			 numeric ? " (write a numeric id as a number, without quotes)" : "");
	else
		snprintf(ret_error->message, sizeof(ret_error->message),
			 "cannot look up %s \"%s\": %s", group ? "group" : "user", ref->name,
			 strerror(-r));
	return r == -ENOENT ? -EINVAL : r;
}

int spec_resolve_ids(struct txn_batch *batch, const char *file, struct spec_error *ret_error)
{
	for (size_t i = 0; i < batch->n_ops; i++) {
		struct txn_op *op = &batch->ops[i];
		if (op->kind != TXN_OP_CHOWN)
			continue;
		int r = resolve_one(&op->owner, false, i, file, ret_error);
		if (r == 0)
			r = resolve_one(&op->group, true, i, file, ret_error);
		if (r < 0)
			return r;
	}
	return 0;
}
