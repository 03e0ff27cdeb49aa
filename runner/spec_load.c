/* SPDX-License-Identifier: MIT */
/*
 * spec_load.c: spec version 1 (JSON) to struct txn_batch, checking every field.
 *
 * jansson parses (rejecting duplicate keys and keeping its own positions for syntax
 * errors); this file then walks the tree once, in a fixed order, and stops at the
 * first problem, which it names by JSON pointer. spec_pos.c turns that pointer
 * into LINE:COLUMN at the end. Cross-field contradictions live in spec_check.c.
 * The rules are documented for users in docs/btrfs-txn-spec.5; keep both in step.
 */
#include "spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

#define PTR_MAX sizeof(((struct spec_error *)0)->pointer)

struct loader {
	struct spec_error *error;
	bool at_key; /* the error names a key (unknown key), not a value */
};

static const char *type_name(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

static int expect_type(struct loader *l, const json_t *value, json_type type,
		       const char *pointer)
{
	static const char *const wanted[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
		[JSON_TRUE] = "a boolean",
	};
	bool ok = json_typeof(value) == type ||
		  (type == JSON_TRUE && json_is_boolean(value));
	if (ok)
		return 0;
	return spec_fail(l->error, pointer, "expected %s, got %s", wanted[type],
			 type_name(value));
}

static void member_pointer(char *out, const char *base, const char *key)
{
	memmove(out, base, strnlen(base, PTR_MAX - 1));
	out[strnlen(base, PTR_MAX - 1)] = '\0';
	spec_pointer_append(out, PTR_MAX, key);
}

/*
 * Refuse any key of @object not in @allowed (NULL-terminated), naming the ones
 * that are allowed, since a typo is the usual cause.
 */
static int check_keys(struct loader *l, json_t *object, const char *pointer,
		      const char *what, const char *const *allowed)
{
	const char *key;
	json_t *value = NULL;
	json_object_foreach(object, key, value) {
		bool known = false;
		for (size_t i = 0; allowed[i] && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (known)
			continue;
		char list[256] = "";
		for (size_t i = 0; allowed[i]; i++) {
			strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, allowed[i], sizeof(list) - strlen(list) - 1);
		}
		char key_pointer[PTR_MAX];
		snprintf(key_pointer, sizeof(key_pointer), "%s", pointer);
		spec_pointer_append(key_pointer, sizeof(key_pointer), key);
		l->at_key = true;
		return spec_fail(l->error, key_pointer, "unknown key; %s takes %s", what, list);
	}
	return 0;
}

/* @ret_value is NULL when an optional member is absent. */
static int get_member(struct loader *l, json_t *object, const char *pointer,
		      const char *key, bool required, json_t **ret_value)
{
	json_t *value = json_object_get(object, key);
	if (!value && required)
		return spec_fail(l->error, pointer, "missing required key \"%s\"", key);
	*ret_value = value;
	return 0;
}

static int copy_bytes(const char *data, size_t len, char **ret)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	copy[len] = '\0';
	*ret = copy;
	return 0;
}

/* A string without NUL bytes (jansson is told to accept \u0000, so that it is
 * reported here, with the position of the value). */
static int get_text(struct loader *l, json_t *value, const char *pointer, bool allow_empty,
		    char **ret)
{
	int r = expect_type(l, value, JSON_STRING, pointer);
	if (r < 0)
		return r;
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	if (strlen(text) != len)
		return spec_fail(l->error, pointer, "must not contain a NUL byte (\\u0000)");
	if (!allow_empty && len == 0)
		return spec_fail(l->error, pointer, "must not be empty");
	return copy_bytes(text, len, ret);
}

/* A path inside the target: the rules of txn_path_check(). */
static int get_path(struct loader *l, json_t *value, const char *pointer, char **ret)
{
	int r = expect_type(l, value, JSON_STRING, pointer);
	if (r < 0)
		return r;
	enum txn_path_problem problem =
		txn_path_check(json_string_value(value), json_string_length(value));
	if (problem != TXN_PATH_OK)
		return spec_fail(l->error, pointer, "%s", txn_path_problem_str(problem));
	return copy_bytes(json_string_value(value), json_string_length(value), ret);
}

/* A path on the host (target, copy source): absolute, no NUL, shorter than PATH_MAX. */
static int get_host_path(struct loader *l, json_t *value, const char *pointer, char **ret)
{
	char *path = NULL;
	int r = get_text(l, value, pointer, true, &path);
	if (r < 0)
		return r;
	if (path[0] != '/')
		r = spec_fail(l->error, pointer, "expected an absolute path (starting with '/')");
	else if (strlen(path) >= PATH_MAX)
		r = spec_fail(l->error, pointer, "path is longer than PATH_MAX (4095 bytes)");
	if (r < 0) {
		free(path);
		return r;
	}
	*ret = path;
	return 0;
}

static int get_bool(struct loader *l, json_t *object, const char *pointer, const char *key,
		    bool *ret)
{
	char member[PTR_MAX];
	json_t *value = json_object_get(object, key);
	if (!value)
		return 0; /* every boolean in v1 is optional and false by default */
	member_pointer(member, pointer, key);
	int r = expect_type(l, value, JSON_TRUE, member);
	if (r < 0)
		return r;
	*ret = json_is_true(value);
	return 0;
}

/* An integer in [min, max]; @what says what it is for the message. */
static int get_integer(struct loader *l, json_t *value, const char *pointer,
		       json_int_t min, json_int_t max, const char *what, json_int_t *ret)
{
	if (!json_is_integer(value))
		return spec_fail(l->error, pointer, "expected %s, got %s", what,
				 type_name(value));
	json_int_t n = json_integer_value(value);
	if (n < min || n > max)
		return spec_fail(l->error, pointer, "expected %s, got %" JSON_INTEGER_FORMAT,
				 what, n);
	*ret = n;
	return 0;
}

/* An octal string of 1 to 4 digits: "0644", "755", "01777". */
static int get_mode(struct loader *l, json_t *value, const char *pointer, mode_t *ret)
{
	const char *text = json_is_string(value) ? json_string_value(value) : NULL;
	size_t len = text ? json_string_length(value) : 0;
	bool octal = text && len > 0 && strspn(text, "01234567") == len;
	if (!octal)
		return spec_fail(l->error, pointer, "expected an octal string such as \"0644\"");
	if (len > 4)
		return spec_fail(l->error, pointer,
				 "expected at most 4 octal digits (07777 at most)");
	*ret = (mode_t)strtoul(text, NULL, 8);
	return 0;
}

static int get_sha256(struct loader *l, json_t *value, const char *pointer,
		      unsigned char ret[32])
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";
	const char *text = json_is_string(value) ? json_string_value(value) : NULL;
	if (!text || json_string_length(value) != 64 || strspn(text, hex) != 64)
		return spec_fail(l->error, pointer,
				 "expected a SHA-256 as 64 hexadecimal digits");
	for (size_t i = 0; i < 32; i++) {
		unsigned hi = (unsigned)(strchr(hex, text[2 * i]) - hex) % 16;
		unsigned lo = (unsigned)(strchr(hex, text[2 * i + 1]) - hex) % 16;
		ret[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Standard base64 (RFC 4648 section 4) with padding and no line breaks. The
 * alphabet and the padding are checked here because EVP_DecodeBlock() skips
 * whitespace and returns the length without subtracting padding; the decoding
 * itself is OpenSSL's.
 */
static int get_base64(struct loader *l, json_t *value, const char *pointer,
		      unsigned char **ret, size_t *ret_len)
{
	int r = expect_type(l, value, JSON_STRING, pointer);
	if (r < 0)
		return r;
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	if (len % 4 != 0)
		return spec_fail(l->error, pointer,
				 "invalid base64: length %zu is not a multiple of 4", len);
	size_t padding = 0;
	while (padding < 2 && padding < len && text[len - 1 - padding] == '=')
		padding++;
	for (size_t i = 0; i < len - padding; i++) {
		char c = text[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/';
		if (!ok)
			return spec_fail(l->error, pointer,
					 "invalid base64: unexpected character at offset %zu", i);
	}
	*ret = NULL;
	*ret_len = 0;
	if (len == 0)
		return 0;
	unsigned char *bytes = malloc(len / 4 * 3 + 1);
	if (!bytes)
		return -ENOMEM;
	int n = EVP_DecodeBlock(bytes, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n < padding) {
		free(bytes);
		return spec_fail(l->error, pointer, "invalid base64");
	}
	*ret = bytes;
	*ret_len = (size_t)n - padding;
	return 0;
}

/* An owner or group: a number (not the -1 that chown(2) reads as "no change") or a
 * name, resolved later on the machine that applies the spec. */
static int get_id(struct loader *l, json_t *value, const char *pointer, struct txn_id_ref *ret)
{
	if (json_is_integer(value)) {
		json_int_t id = json_integer_value(value);
		if (id < 0 || id >= (json_int_t)UINT32_MAX)
			return spec_fail(l->error, pointer,
					 "expected a name or a number from 0 to 4294967294");
		*ret = (struct txn_id_ref){ .present = true, .id = (uint32_t)id, .resolved = true };
		return 0;
	}
	if (!json_is_string(value))
		return spec_fail(l->error, pointer, "expected a name or a number, got %s",
				 type_name(value));
	char *name = NULL;
	int r = get_text(l, value, pointer, false, &name);
	if (r < 0)
		return r;
	if (strlen(name) > SPEC_ID_NAME_MAX) {
		free(name);
		return spec_fail(l->error, pointer, "name is longer than %d bytes",
				 SPEC_ID_NAME_MAX);
	}
	*ret = (struct txn_id_ref){ .present = true, .is_name = true, .name = name };
	return 0;
}

static const char *const op_names[] = {
	[TXN_OP_WRITE] = "write",     [TXN_OP_COPY] = "copy",     [TXN_OP_MKDIR] = "mkdir",
	[TXN_OP_DELETE] = "delete",   [TXN_OP_SYMLINK] = "symlink", [TXN_OP_RENAME] = "rename",
	[TXN_OP_CHMOD] = "chmod",     [TXN_OP_CHOWN] = "chown",
};

static const char *const *const op_keys[] = {
	[TXN_OP_WRITE] = (const char *const[]){ "op", "path", "content", "content_base64", "mode", NULL },
	[TXN_OP_COPY] = (const char *const[]){ "op", "path", "source", "mode", NULL },
	[TXN_OP_MKDIR] = (const char *const[]){ "op", "path", "mode", "parents", NULL },
	[TXN_OP_DELETE] = (const char *const[]){ "op", "path", "missing_ok", "recursive", NULL },
	[TXN_OP_SYMLINK] = (const char *const[]){ "op", "path", "target", NULL },
	[TXN_OP_RENAME] = (const char *const[]){ "op", "path", "to", NULL },
	[TXN_OP_CHMOD] = (const char *const[]){ "op", "path", "mode", NULL },
	[TXN_OP_CHOWN] = (const char *const[]){ "op", "path", "owner", "group", NULL },
};

#define N_OP_KINDS (sizeof(op_names) / sizeof(op_names[0]))

static int load_op_kind(struct loader *l, json_t *object, const char *pointer,
			enum txn_op_kind *ret)
{
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = get_member(l, object, pointer, "op", true, &value);
	if (r < 0)
		return r;
	member_pointer(member, pointer, "op");
	r = expect_type(l, value, JSON_STRING, member);
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
static int load_op_fields(struct loader *l, json_t *object, const char *pointer,
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
			member_pointer(member, pointer, "content_base64");
			return spec_fail(l->error, member,
					 "give \"content\" or \"content_base64\", not both");
		}
		if (!value && !other)
			return spec_fail(l->error, pointer,
					 "missing required key \"content\" or \"content_base64\"");
		if (value) {
			member_pointer(member, pointer, "content");
			r = expect_type(l, value, JSON_STRING, member);
			if (r < 0)
				return r;
			/* content may hold any bytes, NUL included */
			op->content_len = json_string_length(value);
			if (op->content_len > 0) {
				char *bytes;
				r = copy_bytes(json_string_value(value), op->content_len, &bytes);
				if (r < 0)
					return r;
				op->content = (unsigned char *)bytes;
			}
		} else {
			member_pointer(member, pointer, "content_base64");
			r = get_base64(l, other, member, &op->content, &op->content_len);
			if (r < 0)
				return r;
		}
		break;
	case TXN_OP_COPY:
		r = get_member(l, object, pointer, "source", true, &value);
		if (r < 0)
			return r;
		member_pointer(member, pointer, "source");
		r = get_host_path(l, value, member, &op->source);
		break;
	case TXN_OP_MKDIR:
		r = get_bool(l, object, pointer, "parents", &op->parents);
		break;
	case TXN_OP_DELETE:
		r = get_bool(l, object, pointer, "missing_ok", &op->missing_ok);
		if (r == 0)
			r = get_bool(l, object, pointer, "recursive", &op->recursive);
		break;
	case TXN_OP_SYMLINK:
		r = get_member(l, object, pointer, "target", true, &value);
		if (r < 0)
			return r;
		member_pointer(member, pointer, "target");
		r = get_text(l, value, member, false, &op->link_target);
		if (r == 0 && strlen(op->link_target) >= PATH_MAX)
			r = spec_fail(l->error, member,
				      "symlink target is longer than PATH_MAX (4095 bytes)");
		break;
	case TXN_OP_RENAME:
		r = get_member(l, object, pointer, "to", true, &value);
		if (r < 0)
			return r;
		member_pointer(member, pointer, "to");
		r = get_path(l, value, member, &op->to);
		if (r == 0 && strcmp(op->to, op->path) == 0)
			r = spec_fail(l->error, member, "\"to\" is the same path as \"path\"");
		break;
	case TXN_OP_CHMOD:
		r = get_member(l, object, pointer, "mode", true, &value);
		break;
	case TXN_OP_CHOWN:
		value = json_object_get(object, "owner");
		other = json_object_get(object, "group");
		if (!value && !other)
			return spec_fail(l->error, pointer,
					 "missing required key \"owner\" or \"group\"");
		if (value) {
			member_pointer(member, pointer, "owner");
			r = get_id(l, value, member, &op->owner);
		}
		if (r == 0 && other) {
			member_pointer(member, pointer, "group");
			r = get_id(l, other, member, &op->group);
		}
		break;
	}
	if (r < 0)
		return r;

	/* mode: optional for write, copy and mkdir; required (checked above) for chmod */
	value = json_object_get(object, "mode");
	if (value) {
		member_pointer(member, pointer, "mode");
		r = get_mode(l, value, member, &op->mode);
		if (r < 0)
			return r;
		op->has_mode = true;
	}
	return 0;
}

static int load_op(struct loader *l, json_t *object, const char *pointer, struct txn_op *op)
{
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = expect_type(l, object, JSON_OBJECT, pointer);
	if (r < 0)
		return r;
	r = load_op_kind(l, object, pointer, &op->kind);
	if (r < 0)
		return r;
	r = check_keys(l, object, pointer, op_names[op->kind], op_keys[op->kind]);
	if (r < 0)
		return r;
	r = get_member(l, object, pointer, "path", true, &value);
	if (r < 0)
		return r;
	member_pointer(member, pointer, "path");
	r = get_path(l, value, member, &op->path);
	if (r < 0)
		return r;
	return load_op_fields(l, object, pointer, op);
}

static int load_precondition(struct loader *l, json_t *object, const char *pointer,
			     struct txn_precondition *pre)
{
	static const char *const keys[] = { "path", "sha256", "exists", NULL };
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = expect_type(l, object, JSON_OBJECT, pointer);
	if (r == 0)
		r = check_keys(l, object, pointer, "a precondition", keys);
	if (r == 0)
		r = get_member(l, object, pointer, "path", true, &value);
	if (r < 0)
		return r;
	member_pointer(member, pointer, "path");
	r = get_path(l, value, member, &pre->path);
	if (r < 0)
		return r;

	value = json_object_get(object, "exists");
	if (value) {
		member_pointer(member, pointer, "exists");
		r = expect_type(l, value, JSON_TRUE, member);
		if (r < 0)
			return r;
		pre->has_exists = true;
		pre->exists = json_is_true(value);
	}
	value = json_object_get(object, "sha256");
	if (value) {
		member_pointer(member, pointer, "sha256");
		r = get_sha256(l, value, member, pre->sha256);
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

static int load_verify(struct loader *l, json_t *object, struct txn_verify *verify)
{
	static const char *const keys[] = { "argv", "timeout", NULL };
	char member[PTR_MAX];
	json_t *value = NULL;
	int r = expect_type(l, object, JSON_OBJECT, "/verify");
	if (r == 0)
		r = check_keys(l, object, "/verify", "verify", keys);
	if (r == 0)
		r = get_member(l, object, "/verify", "argv", true, &value);
	if (r == 0)
		r = expect_type(l, value, JSON_ARRAY, "/verify/argv");
	if (r < 0)
		return r;
	if (json_array_size(value) == 0)
		return spec_fail(l->error, "/verify/argv",
				 "argv is empty; give the command and its arguments");

	verify->argv = calloc(json_array_size(value) + 1, sizeof(char *));
	if (!verify->argv)
		return -ENOMEM;
	size_t i;
	json_t *arg;
	json_array_foreach(value, i, arg) {
		snprintf(member, sizeof(member), "/verify/argv/%zu", i);
		/* the program name must not be empty; arguments may be */
		r = get_text(l, arg, member, i > 0, &verify->argv[i]);
		if (r < 0)
			return r;
		verify->argc++;
	}

	value = json_object_get(object, "timeout");
	if (value) {
		json_int_t seconds;
		r = get_integer(l, value, "/verify/timeout", 1, SPEC_VERIFY_TIMEOUT_MAX,
				"a positive number of seconds no larger than 86400", &seconds);
		if (r < 0)
			return r;
		verify->timeout_seconds = (unsigned)seconds;
	}
	return 0;
}

static int load_version(struct loader *l, json_t *root)
{
	json_t *value = NULL;
	int r = get_member(l, root, "", "version", true, &value);
	if (r < 0)
		return r;
	if (!json_is_integer(value))
		return spec_fail(l->error, "/version", "expected the integer 1, got %s",
				 type_name(value));
	if (json_integer_value(value) != 1)
		return spec_fail(l->error, "/version",
				 "unsupported version %" JSON_INTEGER_FORMAT
				 "; this btrfs-txn reads version 1",
				 json_integer_value(value));
	return 0;
}

static int load_top(struct loader *l, json_t *root, struct txn_batch *batch)
{
	static const char *const keys[] = { "version", "target", "description", "method",
					     "keep", "preconditions", "ops", "verify", NULL };
	json_t *value = NULL;
	int r;

	if (!json_is_object(root))
		return spec_fail(l->error, "", "expected an object (the spec), got %s",
				 type_name(root));
	/* version first: an unknown key may be legal in a later version */
	r = load_version(l, root);
	if (r == 0)
		r = check_keys(l, root, "", "a spec", keys);
	if (r < 0)
		return r;

	if ((value = json_object_get(root, "target"))) {
		r = get_host_path(l, value, "/target", &batch->target);
		if (r < 0)
			return r;
	}
	if ((value = json_object_get(root, "description"))) {
		r = get_text(l, value, "/description", true, &batch->description);
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
		r = get_integer(l, value, "/keep", 1, SPEC_KEEP_MAX,
				"a positive integer no larger than 100", &keep);
		if (r < 0)
			return r;
		batch->keep = (unsigned)keep;
		batch->has_keep = true;
	}

	if ((value = json_object_get(root, "preconditions"))) {
		r = expect_type(l, value, JSON_ARRAY, "/preconditions");
		if (r < 0)
			return r;
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

	r = get_member(l, root, "", "ops", true, &value);
	if (r == 0)
		r = expect_type(l, value, JSON_ARRAY, "/ops");
	if (r < 0)
		return r;
	if (json_array_size(value) == 0)
		return spec_fail(l->error, "/ops", "ops is empty; a spec must change something");
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
	struct loader l = { .error = &error };
	struct txn_batch batch = { 0 };
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
	json_t *root = json_loadb(data, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
				  &json_error);
	if (!root) {
		error.line = json_error.line > 0 ? (unsigned)json_error.line : 1;
		error.column = json_error.column > 0 ? (unsigned)json_error.column : 1;
		snprintf(error.message, sizeof(error.message), "invalid JSON: %s",
			 json_error.text);
		*ret_error = error;
		return -EINVAL;
	}

	int r = load_top(&l, root, &batch);
	json_decref(root);
	if (r == -ENOMEM) {
		snprintf(error.message, sizeof(error.message), "out of memory");
		error.pointer[0] = '\0';
	} else if (r < 0) {
		spec_pos_find(data, len, error.pointer, l.at_key, &error.line, &error.column);
	} else {
		spec_pos_record_ids(data, len, &batch);
		*ret_batch = batch;
		return 0;
	}
	txn_batch_free(&batch);
	*ret_error = error;
	return r;
}

int spec_load_file(const char *path, struct txn_batch *ret_batch,
		   struct spec_error *ret_error)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r = 0;

	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	/* Read at most one byte beyond the limit, so that a pipe or /dev/zero is
	 * refused with a clear message rather than read without end. */
	size_t size = 0, capacity = 0;
	char *data = NULL;
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
	if (!is_stdin)
		close(fd);
	if (r == 0) {
		r = spec_load_buffer(name, data ? data : "", size, ret_batch, ret_error);
		free(data);
		return r;
	}
	free(data);
fail:
	error_init(ret_error, name);
	snprintf(ret_error->message, sizeof(ret_error->message), "cannot read: %s",
		 strerror(-r));
	return r;
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
