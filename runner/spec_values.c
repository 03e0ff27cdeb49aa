/* SPDX-License-Identifier: MIT */
/*
 * spec_values.c: the rules for single values of a spec (types, paths, modes,
 * base64, sha256, ids, unknown keys), shared by the parts of spec_load.c that walk
 * the document. Each getter checks one value, reports by JSON pointer through
 * spec_fail(), and hands out owned copies only on success.
 */
#include "spec_internal.h"

#include <errno.h>
#include <limits.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

const char *spec_type_name(const json_t *value)
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

int spec_expect_type(struct spec_loader *l, const json_t *value, json_type type,
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
			 spec_type_name(value));
}

void spec_member_pointer(char *out, const char *base, const char *key)
{
	memmove(out, base, strnlen(base, PTR_MAX - 1));
	out[strnlen(base, PTR_MAX - 1)] = '\0';
	spec_pointer_append(out, PTR_MAX, key);
}

/*
 * Refuse any key of @object not in @allowed (NULL-terminated), naming the ones
 * that are allowed, since a typo is the usual cause.
 */
int spec_check_keys(struct spec_loader *l, json_t *object, const char *pointer,
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
int spec_get_member(struct spec_loader *l, json_t *object, const char *pointer,
		      const char *key, bool required, json_t **ret_value)
{
	json_t *value = json_object_get(object, key);
	if (!value && required)
		return spec_fail(l->error, pointer, "missing required key \"%s\"", key);
	*ret_value = value;
	return 0;
}

int spec_copy_bytes(const char *data, size_t len, char **ret)
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
int spec_get_text(struct spec_loader *l, json_t *value, const char *pointer, bool allow_empty,
		    char **ret)
{
	int r = spec_expect_type(l, value, JSON_STRING, pointer);
	if (r < 0)
		return r;
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	if (strlen(text) != len)
		return spec_fail(l->error, pointer, "must not contain a NUL byte (\\u0000)");
	if (!allow_empty && len == 0)
		return spec_fail(l->error, pointer, "must not be empty");
	return spec_copy_bytes(text, len, ret);
}

/* A path inside the target: the rules of txn_path_check(). */
int spec_get_path(struct spec_loader *l, json_t *value, const char *pointer, char **ret)
{
	int r = spec_expect_type(l, value, JSON_STRING, pointer);
	if (r < 0)
		return r;
	enum txn_path_problem problem =
		txn_path_check(json_string_value(value), json_string_length(value));
	if (problem != TXN_PATH_OK)
		return spec_fail(l->error, pointer, "%s", txn_path_problem_str(problem));
	/* The contradiction checks keep a node per distinct component: bound them all. */
	const char *text = json_string_value(value);
	size_t components = 1;
	for (const char *slash = text; (slash = strchr(slash, '/')); slash++)
		components++;
	l->path_components += components;
	if (l->path_components > SPEC_PATH_COMPONENTS_MAX)
		return spec_fail(l->error, pointer,
				 "the spec's paths have more than %d components in all; split the change",
				 SPEC_PATH_COMPONENTS_MAX);
	return spec_copy_bytes(text, json_string_length(value), ret);
}

/* A path on the host (target, copy source): absolute, no NUL, shorter than PATH_MAX. */
int spec_get_host_path(struct spec_loader *l, json_t *value, const char *pointer, char **ret)
{
	_cleanup_free_ char *path = NULL;
	int r = spec_get_text(l, value, pointer, true, &path);
	if (r < 0)
		return r;
	if (path[0] != '/')
		return spec_fail(l->error, pointer, "expected an absolute path (starting with '/')");
	if (strlen(path) >= PATH_MAX)
		return spec_fail(l->error, pointer, "path is longer than PATH_MAX (4095 bytes)");
	*ret = TAKE_PTR(path);
	return 0;
}

int spec_get_bool(struct spec_loader *l, json_t *object, const char *pointer, const char *key,
		    bool *ret)
{
	char member[PTR_MAX];
	json_t *value = json_object_get(object, key);
	if (!value)
		return 0; /* every boolean in v1 is optional and false by default */
	spec_member_pointer(member, pointer, key);
	int r = spec_expect_type(l, value, JSON_TRUE, member);
	if (r < 0)
		return r;
	*ret = json_is_true(value);
	return 0;
}

/* An integer in [min, max]; @what says what it is for the message. */
int spec_get_integer(struct spec_loader *l, json_t *value, const char *pointer,
		       json_int_t min, json_int_t max, const char *what, json_int_t *ret)
{
	if (!json_is_integer(value))
		return spec_fail(l->error, pointer, "expected %s, got %s", what,
				 spec_type_name(value));
	json_int_t n = json_integer_value(value);
	if (n < min || n > max)
		return spec_fail(l->error, pointer, "expected %s, got %" JSON_INTEGER_FORMAT,
				 what, n);
	*ret = n;
	return 0;
}

/* An octal string of 1 to 4 digits: "0644", "755", "01777". */
int spec_get_mode(struct spec_loader *l, json_t *value, const char *pointer, mode_t *ret)
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

int spec_get_sha256(struct spec_loader *l, json_t *value, const char *pointer,
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
 * alphabet and the padding are checked here because Nettle's decoder skips
 * whitespace; the decoding itself is Nettle's. It is given the text without its
 * padding, so that the bits below the last whole byte are not checked: "QR==" is
 * "A", as specs/schema.json's pattern accepts it (RFC 4648 section 3.5 lets a
 * decoder take either side).
 */
int spec_get_base64(struct spec_loader *l, json_t *value, const char *pointer,
		      unsigned char **ret, size_t *ret_len)
{
	int r = spec_expect_type(l, value, JSON_STRING, pointer);
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
	_cleanup_free_ unsigned char *bytes = malloc(BASE64_DECODE_LENGTH(len - padding));
	if (!bytes)
		return -ENOMEM;
	struct base64_decode_ctx ctx;
	size_t n = 0;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &n, bytes, len - padding, text))
		return spec_fail(l->error, pointer, "invalid base64");
	*ret = TAKE_PTR(bytes);
	*ret_len = n;
	return 0;
}

/* An owner or group: a number (not the -1 that chown(2) reads as "no change") or a
 * name, resolved later on the machine that applies the spec. */
int spec_get_id(struct spec_loader *l, json_t *value, const char *pointer, struct txn_id_ref *ret)
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
				 spec_type_name(value));
	_cleanup_free_ char *name = NULL;
	int r = spec_get_text(l, value, pointer, false, &name);
	if (r < 0)
		return r;
	if (strlen(name) > SPEC_ID_NAME_MAX)
		return spec_fail(l->error, pointer, "name is longer than %d bytes",
				 SPEC_ID_NAME_MAX);
	*ret = (struct txn_id_ref){ .present = true, .is_name = true, .name = TAKE_PTR(name) };
	return 0;
}
