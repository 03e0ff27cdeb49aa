/* SPDX-License-Identifier: MIT */
/*
 * spec_load.c: spec version 1 (JSON) to struct txn_batch, checking every field.
 *
 * jansson parses (rejecting duplicate keys and keeping its own positions for syntax
 * errors); this file then walks the tree once, in a fixed order, and stops at the
 * first problem, which it names by JSON pointer. spec_pos.c turns that pointer
 * into LINE:COLUMN at the end. Single values are checked in spec_values.c,
 * contradictions between entries in spec_check.c.
 * The rules are documented for users in docs/btrfs-txn-spec.5; keep both in step.
 */
#include "spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const op_names[] = {
	[TXN_OP_WRITE] = "write",     [TXN_OP_COPY] = "copy",     [TXN_OP_MKDIR] = "mkdir",
	[TXN_OP_DELETE] = "delete",   [TXN_OP_SYMLINK] = "symlink", [TXN_OP_RENAME] = "rename",
	[TXN_OP_CHMOD] = "chmod",     [TXN_OP_CHOWN] = "chown",
};

static const char *const *const op_keys[] = {
	[TXN_OP_WRITE] = (const char *const[]){ "op", "path", "content", "content_base64", "mode", NULL },
	[TXN_OP_COPY] = (const char *const[]){ "op", "path", "source", "mode", "max_size", NULL },
	[TXN_OP_MKDIR] = (const char *const[]){ "op", "path", "mode", "parents", NULL },
	[TXN_OP_DELETE] = (const char *const[]){ "op", "path", "missing_ok", "recursive", NULL },
	[TXN_OP_SYMLINK] = (const char *const[]){ "op", "path", "target", NULL },
	[TXN_OP_RENAME] = (const char *const[]){ "op", "path", "to", NULL },
	[TXN_OP_CHMOD] = (const char *const[]){ "op", "path", "mode", NULL },
	[TXN_OP_CHOWN] = (const char *const[]){ "op", "path", "owner", "group", NULL },
};

#define N_OP_KINDS (sizeof(op_names) / sizeof(op_names[0]))

static int load_op_kind(struct spec_loader *l, json_t *object, const char *pointer,
			enum txn_op_kind *ret)
{
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = spec_get_member(l, object, pointer, "op", true, &value);
	if (r < 0)
		return r;
	spec_member_pointer(member, pointer, "op");
	r = spec_expect_type(l, value, JSON_STRING, member);
	if (r < 0)
		return r;
	for (size_t i = 0; i < N_OP_KINDS; i++)
		if (strcmp(json_string_value(value), op_names[i]) == 0 &&
		    strlen(op_names[i]) == json_string_length(value)) {
			*ret = (enum txn_op_kind)i;
			return 0;
		}
	return spec_fail(l->error, member,
			 "unknown op; expected write, copy, mkdir, delete, symlink, rename, "
			 "chmod or chown");
}

/* The members after "op" and "path", by kind. */
static int load_op_fields(struct spec_loader *l, json_t *object, const char *pointer,
			  struct txn_op *op)
{
	char member[PTR_MAX];
	json_t *value = NULL, *other = NULL;
	int r = 0;

	switch (op->kind) {
	case TXN_OP_WRITE:
		value = json_object_get(object, "content");
		other = json_object_get(object, "content_base64");
		if (value && other) {
			spec_member_pointer(member, pointer, "content_base64");
			return spec_fail(l->error, member,
					 "give \"content\" or \"content_base64\", not both");
		}
		if (!value && !other)
			return spec_fail(l->error, pointer,
					 "missing required key \"content\" or \"content_base64\"");
		if (value) {
			spec_member_pointer(member, pointer, "content");
			r = spec_expect_type(l, value, JSON_STRING, member);
			if (r < 0)
				return r;
			/* content may hold any bytes, NUL included */
			op->content_len = json_string_length(value);
			if (op->content_len > 0) {
				char *bytes;
				r = spec_copy_bytes(json_string_value(value), op->content_len, &bytes);
				if (r < 0)
					return r;
				op->content = (unsigned char *)bytes;
			}
		} else {
			spec_member_pointer(member, pointer, "content_base64");
			r = spec_get_base64(l, other, member, &op->content, &op->content_len);
			if (r < 0)
				return r;
		}
		break;
	case TXN_OP_COPY:
		r = spec_get_member(l, object, pointer, "source", true, &value);
		if (r < 0)
			return r;
		spec_member_pointer(member, pointer, "source");
		r = spec_get_host_path(l, value, member, &op->source);
		if (r == 0 && (value = json_object_get(object, "max_size"))) {
			json_int_t max_size;
			spec_member_pointer(member, pointer, "max_size");
			r = spec_get_integer(l, value, member, 1, INT64_MAX,
					     "a positive number of bytes", &max_size);
			op->max_size = (uint64_t)max_size;
		}
		break;
	case TXN_OP_MKDIR:
		r = spec_get_bool(l, object, pointer, "parents", &op->parents);
		break;
	case TXN_OP_DELETE:
		r = spec_get_bool(l, object, pointer, "missing_ok", &op->missing_ok);
		if (r == 0)
			r = spec_get_bool(l, object, pointer, "recursive", &op->recursive);
		break;
	case TXN_OP_SYMLINK:
		r = spec_get_member(l, object, pointer, "target", true, &value);
		if (r < 0)
			return r;
		spec_member_pointer(member, pointer, "target");
		r = spec_get_text(l, value, member, false, &op->link_target);
		if (r == 0 && strlen(op->link_target) >= PATH_MAX)
			r = spec_fail(l->error, member,
				      "symlink target is longer than PATH_MAX (4095 bytes)");
		break;
	case TXN_OP_RENAME:
		r = spec_get_member(l, object, pointer, "to", true, &value);
		if (r < 0)
			return r;
		spec_member_pointer(member, pointer, "to");
		r = spec_get_path(l, value, member, &op->to);
		if (r == 0 && strcmp(op->to, op->path) == 0)
			r = spec_fail(l->error, member, "\"to\" is the same path as \"path\"");
		break;
	case TXN_OP_CHMOD:
		r = spec_get_member(l, object, pointer, "mode", true, &value);
		break;
	case TXN_OP_CHOWN:
		value = json_object_get(object, "owner");
		other = json_object_get(object, "group");
		if (!value && !other)
			return spec_fail(l->error, pointer,
					 "missing required key \"owner\" or \"group\"");
		if (value) {
			spec_member_pointer(member, pointer, "owner");
			r = spec_get_id(l, value, member, &op->owner);
		}
		if (r == 0 && other) {
			spec_member_pointer(member, pointer, "group");
			r = spec_get_id(l, other, member, &op->group);
		}
		break;
	}
	if (r < 0)
		return r;

	/* mode: optional for write, copy and mkdir; required (checked above) for chmod */
	value = json_object_get(object, "mode");
	if (value) {
		spec_member_pointer(member, pointer, "mode");
		r = spec_get_mode(l, value, member, &op->mode);
		if (r < 0)
			return r;
		op->has_mode = true;
	}
	return 0;
}

static int load_op(struct spec_loader *l, json_t *object, const char *pointer, struct txn_op *op)
{
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = spec_expect_type(l, object, JSON_OBJECT, pointer);
	if (r < 0)
		return r;
	r = load_op_kind(l, object, pointer, &op->kind);
	if (r < 0)
		return r;
	r = spec_check_keys(l, object, pointer, op_names[op->kind], op_keys[op->kind]);
	if (r < 0)
		return r;
	r = spec_get_member(l, object, pointer, "path", true, &value);
	if (r < 0)
		return r;
	spec_member_pointer(member, pointer, "path");
	r = spec_get_path(l, value, member, &op->path);
	if (r < 0)
		return r;
	return load_op_fields(l, object, pointer, op);
}

static int load_precondition(struct spec_loader *l, json_t *object, const char *pointer,
			     struct txn_precondition *pre)
{
	static const char *const keys[] = { "path", "sha256", "exists", NULL };
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = spec_expect_type(l, object, JSON_OBJECT, pointer);
	if (r == 0)
		r = spec_check_keys(l, object, pointer, "a precondition", keys);
	if (r == 0)
		r = spec_get_member(l, object, pointer, "path", true, &value);
	if (r < 0)
		return r;
	spec_member_pointer(member, pointer, "path");
	r = spec_get_path(l, value, member, &pre->path);
	if (r < 0)
		return r;

	value = json_object_get(object, "exists");
	if (value) {
		spec_member_pointer(member, pointer, "exists");
		r = spec_expect_type(l, value, JSON_TRUE, member);
		if (r < 0)
			return r;
		pre->has_exists = true;
		pre->exists = json_is_true(value);
	}
	value = json_object_get(object, "sha256");
	if (value) {
		spec_member_pointer(member, pointer, "sha256");
		r = spec_get_sha256(l, value, member, pre->sha256);
		if (r < 0)
			return r;
		if (pre->has_exists && !pre->exists)
			return spec_fail(l->error, member,
					 "contradicts \"exists\": false (a file that must be "
					 "absent has no checksum)");
		pre->has_sha256 = true;
	}
	if (!pre->has_sha256 && !pre->has_exists)
		return spec_fail(l->error, pointer,
				 "missing required key \"sha256\" or \"exists\"");
	return 0;
}

static int load_verify(struct spec_loader *l, json_t *object, struct txn_verify *verify)
{
	static const char *const keys[] = { "argv", "timeout", NULL };
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = spec_expect_type(l, object, JSON_OBJECT, "/verify");
	if (r == 0)
		r = spec_check_keys(l, object, "/verify", "verify", keys);
	if (r == 0)
		r = spec_get_member(l, object, "/verify", "argv", true, &value);
	if (r == 0)
		r = spec_expect_type(l, value, JSON_ARRAY, "/verify/argv");
	if (r < 0)
		return r;
	if (json_array_size(value) == 0)
		return spec_fail(l->error, "/verify/argv",
				 "argv is empty; give the command and its arguments");
	if (json_array_size(value) > SPEC_VERIFY_ARGV_MAX)
		return spec_fail(l->error, "/verify/argv",
				 "argv has %zu entries, more than the limit of %d",
				 json_array_size(value), SPEC_VERIFY_ARGV_MAX);
	size_t argv_bytes = 0;

	verify->argv = calloc(json_array_size(value) + 1, sizeof(char *));
	if (!verify->argv)
		return -ENOMEM;
	size_t i;
	json_t *arg;
	json_array_foreach(value, i, arg) {
		snprintf(member, sizeof(member), "/verify/argv/%zu", i);
		/* the program name must not be empty; arguments may be */
		r = spec_get_text(l, arg, member, i > 0, &verify->argv[i]);
		if (r < 0)
			return r;
		verify->argc++;
		argv_bytes += strlen(verify->argv[i]) + 1;
		if (argv_bytes > SPEC_VERIFY_ARGV_BYTES_MAX)
			return spec_fail(l->error, member,
					 "argv is longer than the limit of %u KiB in total",
					 SPEC_VERIFY_ARGV_BYTES_MAX >> 10);
	}

	value = json_object_get(object, "timeout");
	if (value) {
		json_int_t seconds;
		r = spec_get_integer(l, value, "/verify/timeout", 1, SPEC_VERIFY_TIMEOUT_MAX,
				"a positive number of seconds no larger than 86400", &seconds);
		if (r < 0)
			return r;
		verify->timeout_seconds = (unsigned)seconds;
	}
	return 0;
}

static int load_version(struct spec_loader *l, json_t *root)
{
	json_t *value = NULL;
	int r = spec_get_member(l, root, "", "version", true, &value);
	if (r < 0)
		return r;
	if (!json_is_integer(value))
		return spec_fail(l->error, "/version", "expected the integer 1, got %s",
				 spec_type_name(value));
	if (json_integer_value(value) != 1)
		return spec_fail(l->error, "/version",
				 "unsupported version %" JSON_INTEGER_FORMAT
				 "; this btrfs-txn reads version 1",
				 json_integer_value(value));
	return 0;
}

static int load_top(struct spec_loader *l, json_t *root, struct txn_batch *batch)
{
	static const char *const keys[] = { "version", "target", "description", "method",
					     "keep", "preconditions", "ops", "verify", NULL };
	json_t *value = NULL;
	int r;

	if (!json_is_object(root))
		return spec_fail(l->error, "", "expected an object (the spec), got %s",
				 spec_type_name(root));
	/* version first: an unknown key may be legal in a later version */
	r = load_version(l, root);
	if (r == 0)
		r = spec_check_keys(l, root, "", "a spec", keys);
	if (r < 0)
		return r;

	if ((value = json_object_get(root, "target"))) {
		r = spec_get_host_path(l, value, "/target", &batch->target);
		if (r < 0)
			return r;
	}
	if ((value = json_object_get(root, "description"))) {
		r = spec_get_text(l, value, "/description", true, &batch->description);
		if (r < 0)
			return r;
	}
	if ((value = json_object_get(root, "method"))) {
		const char *name = json_is_string(value) ? json_string_value(value) : "";
		if (strcmp(name, "snapshot") == 0)
			batch->method = TXN_METHOD_SNAPSHOT;
		else if (strcmp(name, "trans") == 0)
			batch->method = TXN_METHOD_TRANS;
		else
			return spec_fail(l->error, "/method",
					 "expected \"snapshot\" or \"trans\"");
		batch->has_method = true;
	}
	if ((value = json_object_get(root, "keep"))) {
		json_int_t keep;
		r = spec_get_integer(l, value, "/keep", 1, SPEC_KEEP_MAX,
				"a positive integer no larger than 100", &keep);
		if (r < 0)
			return r;
		batch->keep = (unsigned)keep;
		batch->has_keep = true;
	}

	if ((value = json_object_get(root, "preconditions"))) {
		r = spec_expect_type(l, value, JSON_ARRAY, "/preconditions");
		if (r < 0)
			return r;
		if (json_array_size(value) > SPEC_PRECONDITIONS_MAX)
			return spec_fail(l->error, "/preconditions",
					 "%zu preconditions, more than the limit of %d",
					 json_array_size(value), SPEC_PRECONDITIONS_MAX);
		batch->preconditions = calloc(json_array_size(value) + 1,
					      sizeof(*batch->preconditions));
		if (!batch->preconditions)
			return -ENOMEM;
		size_t i;
		json_t *item;
		json_array_foreach(value, i, item) {
			char pointer[PTR_MAX];
			snprintf(pointer, sizeof(pointer), "/preconditions/%zu", i);
			batch->n_preconditions++;
			r = load_precondition(l, item, pointer, &batch->preconditions[i]);
			if (r < 0)
				return r;
		}
	}

	r = spec_get_member(l, root, "", "ops", true, &value);
	if (r == 0)
		r = spec_expect_type(l, value, JSON_ARRAY, "/ops");
	if (r < 0)
		return r;
	if (json_array_size(value) == 0)
		return spec_fail(l->error, "/ops", "ops is empty; a spec must change something");
	if (json_array_size(value) > SPEC_OPS_MAX)
		return spec_fail(l->error, "/ops", "%zu ops, more than the limit of %d; split the change",
				 json_array_size(value), SPEC_OPS_MAX);
	batch->ops = calloc(json_array_size(value), sizeof(*batch->ops));
	if (!batch->ops)
		return -ENOMEM;
	size_t i;
	json_t *item;
	json_array_foreach(value, i, item) {
		char pointer[PTR_MAX];
		snprintf(pointer, sizeof(pointer), "/ops/%zu", i);
		batch->n_ops++;
		r = load_op(l, item, pointer, &batch->ops[i]);
		if (r < 0)
			return r;
	}

	if ((value = json_object_get(root, "verify"))) {
		r = load_verify(l, value, &batch->verify);
		if (r < 0)
			return r;
	}
	return spec_check_contradictions(batch, l->error);
}

static void error_init(struct spec_error *error, const char *name)
{
	memset(error, 0, sizeof(*error));
	snprintf(error->file, sizeof(error->file), "%s", name);
}

int spec_load_buffer(const char *name, const char *data, size_t len,
		     struct txn_batch *ret_batch, struct spec_error *ret_error)
{
	struct spec_error error;
	struct spec_loader l = { .error = &error };
	_cleanup_batch_ struct txn_batch batch = { 0 };
	json_error_t json_error;

	error_init(&error, name);
	if (len > SPEC_MAX_SIZE) {
		snprintf(error.message, sizeof(error.message),
			 "spec is larger than the limit of %u MiB", SPEC_MAX_SIZE >> 20);
		*ret_error = error;
		return -EFBIG;
	}
	/* JSON_DECODE_ANY so that `42` gets our "expected an object" with a position;
	 * JSON_ALLOW_NUL so that a NUL in a path is reported by pointer, not as a
	 * syntax error (write content may legitimately hold NUL bytes). */
	_cleanup_json_ json_t *root = json_loadb(data, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
				  &json_error);
	if (!root) {
		error.line = json_error.line > 0 ? (unsigned)json_error.line : 1;
		error.column = json_error.column > 0 ? (unsigned)json_error.column : 1;
		/* jansson stops at JSON_PARSER_MAX_DEPTH levels of nesting (2048); a spec
		 * needs 4, so name the limit rather than leave "maximum parsing depth". */
		if (strstr(json_error.text, "maximum parsing depth"))
			snprintf(error.message, sizeof(error.message),
				 "invalid JSON: nested deeper than the limit of %d levels",
				 JSON_PARSER_MAX_DEPTH);
		else
			snprintf(error.message, sizeof(error.message), "invalid JSON: %s",
				 json_error.text);
		*ret_error = error;
		return -EINVAL;
	}

	int r = load_top(&l, root, &batch);
	if (r == -ENOMEM) {
		snprintf(error.message, sizeof(error.message), "out of memory");
		error.pointer[0] = '\0';
	} else if (r < 0) {
		spec_pos_find(data, len, error.pointer, l.at_key, &error.line, &error.column);
	} else {
		spec_pos_record_ids(data, len, &batch);
		*ret_batch = batch;
		batch = (struct txn_batch){ 0 }; /* the caller's now */
		return 0;
	}
	*ret_error = error;
	return r;
}

int spec_load_fd(int fd, const char *name, struct txn_batch *ret_batch,
		 struct spec_error *ret_error)
{
	int r = 0;
	/* Read at most one byte beyond the limit, so that a pipe or /dev/zero is
	 * refused with a clear message rather than read without end. */
	size_t size = 0, capacity = 0;
	_cleanup_free_ char *data = NULL;
	for (;;) {
		if (size == capacity) {
			capacity = capacity ? capacity * 2 : 65536;
			if (capacity > (size_t)SPEC_MAX_SIZE + 1)
				capacity = (size_t)SPEC_MAX_SIZE + 1;
			char *bigger = realloc(data, capacity);
			if (!bigger) {
				r = -ENOMEM;
				break;
			}
			data = bigger;
		}
		ssize_t n = read(fd, data + size, capacity - size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > SPEC_MAX_SIZE)
			break;
	}
	if (r == 0)
		return spec_load_buffer(name, data ? data : "", size, ret_batch, ret_error);
	error_init(ret_error, name);
	snprintf(ret_error->message, sizeof(ret_error->message), "cannot read: %s",
		 strerror(-r));
	return r;
}

int spec_load_file(const char *path, struct txn_batch *ret_batch,
		   struct spec_error *ret_error)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	_cleanup_close_ int owned_fd = is_stdin ? -EBADF : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int fd = is_stdin ? STDIN_FILENO : owned_fd;
	if (fd < 0) {
		int r = -errno;
		error_init(ret_error, name);
		snprintf(ret_error->message, sizeof(ret_error->message), "cannot read: %s",
			 strerror(-r));
		return r;
	}
	return spec_load_fd(fd, name, ret_batch, ret_error);
}

void spec_error_format(const struct spec_error *error, char *buf, size_t size)
{
	if (error->line == 0)
		snprintf(buf, size, "%s: %s", error->file, error->message);
	else if (error->pointer[0] == '\0')
		snprintf(buf, size, "%s:%u:%u: %s", error->file, error->line, error->column,
			 error->message);
	else
		snprintf(buf, size, "%s:%u:%u: %s: %s", error->file, error->line,
			 error->column, error->pointer, error->message);
}
