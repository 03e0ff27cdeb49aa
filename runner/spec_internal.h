/* SPDX-License-Identifier: MIT */
/*
 * spec_internal.h: what the parts of the spec loader share (spec_load.c,
 * spec_pos.c, spec_check.c); not used outside runner/spec_*.c and their tests.
 *
 * spec_load.c walks the document, spec_values.c checks single values, spec_check.c
 * finds contradictions between entries, spec_pos.c maps pointers to positions and
 * spec_ids.c resolves owner and group names.
 *
 * The loader reports an error by JSON pointer only; the position in the text is
 * looked up once, at the end, by spec_pos_find(). That keeps the checks free of
 * position bookkeeping, which jansson cannot give us for values anyway.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <sys/types.h>

#include "runner_cleanup.h"
#include "spec_load.h"
#include "txn.h"

/* Largest spec accepted, in bytes: far above any real deployment, and a bound on
 * the memory a mistaken `validate /dev/zero` can take. */
#define SPEC_MAX_SIZE (64u * 1024 * 1024)

/* Largest `keep`: the same bound as `--keep` (see txn.h). */
#define SPEC_KEEP_MAX TXN_KEEP_MAX

/* Largest verify.timeout in seconds (one day): a hook that needs longer is not a check. */
#define SPEC_VERIFY_TIMEOUT_MAX 86400

/* Most ops in one spec. A real deployment has tens or thousands; a million keeps a
 * generated spec possible while bounding the memory a hostile one can make us take
 * (each op costs a few hundred bytes once loaded, besides its content). */
#define SPEC_OPS_MAX 1000000

/* Most path components in all the paths of a spec (a million ops five deep). The
 * contradiction checks model every distinct component; without a bound, 64 MiB of
 * "a/a/a/..." paths would cost them several GB. */
#define SPEC_PATH_COMPONENTS_MAX 5000000

/* Most preconditions: each may hash a file, with the lock held. */
#define SPEC_PRECONDITIONS_MAX 100000

/* Most verify.argv entries, and their total length in bytes: the kernel refuses an
 * argument list much above this (ARG_MAX, 2 MiB with the environment) anyway, and a
 * clear error here beats an E2BIG from execve after the ops ran. */
#define SPEC_VERIFY_ARGV_MAX 4096
#define SPEC_VERIFY_ARGV_BYTES_MAX (1024u * 1024)

/* Longest owner or group name (LOGIN_NAME_MAX on Linux, with room to spare). */
#define SPEC_ID_NAME_MAX 256

/*
 * Fill @error with @pointer and a printf-style message; the position stays 0 until
 * spec_pos_find() resolves it at the end of loading. Return: -EINVAL.
 */
int spec_fail(struct spec_error *error, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append @token to the JSON pointer in @buf, escaping '~' and '/' (RFC 6901). */
void spec_pointer_append(char *buf, size_t size, const char *token);

/**
 * spec_pos_find() - Position of the value (or key) a JSON pointer names.
 * @text: A JSON text that jansson has already accepted.
 * @len: Its length.
 * @pointer: An RFC 6901 pointer, "" for the whole document.
 * @at_key: Return the position of the member's key instead of its value; only
 *          meaningful when the last token names an object member.
 * @ret_line: 1-based line.
 * @ret_column: 1-based column, counted in characters like jansson does.
 *
 * When the pointer names something that is not in the text (a missing member), the
 * position is that of the deepest value that was found.
 *
 * Return: 0 when the whole pointer was found, -ENOENT when only a prefix was.
 */
int spec_pos_find(const char *text, size_t len, const char *pointer, bool at_key,
		  unsigned *ret_line, unsigned *ret_column);

/*
 * Record in every chown op of @batch (loaded from @text) the line and column of an
 * owner or group given by name, for spec_resolve_ids() to report an unknown name
 * there. One pass over the text, however many ops there are.
 */
void spec_pos_record_ids(const char *text, size_t len, struct txn_batch *batch);

/*
 * The static contradiction checks (spec_check.c), run after every field of @batch
 * was checked on its own. Return: 0, -EINVAL with @error filled, or -ENOMEM.
 */
int spec_check_contradictions(const struct txn_batch *batch, struct spec_error *error);

/* The size of a JSON pointer buffer (that of struct spec_error). */
#define PTR_MAX sizeof(((struct spec_error *)0)->pointer)

/* The state of one load: where the error goes, and how to position it. */
struct spec_loader {
	struct spec_error *error;
	bool at_key; /* the error names a key (unknown key), not a value */
	size_t path_components; /* in every path loaded so far (SPEC_PATH_COMPONENTS_MAX) */
};

/*
 * The value getters (spec_values.c). Each checks the value at @pointer and
 * returns 0, -EINVAL with the loader's error filled, or -ENOMEM; what they hand
 * out through ret_* is owned by the caller, and only set on success.
 */

/* "an object", "a string", ... for messages. */
const char *spec_type_name(const json_t *value);
/* JSON_TRUE stands for either boolean. */
int spec_expect_type(struct spec_loader *l, const json_t *value, json_type type,
		     const char *pointer);
/* @base + "/" + @key (escaped) into @out, of PTR_MAX bytes. */
void spec_member_pointer(char *out, const char *base, const char *key);
/* Refuse a key of @object not in @allowed (NULL-terminated); @what names the object. */
int spec_check_keys(struct spec_loader *l, json_t *object, const char *pointer,
		    const char *what, const char *const *allowed);
/* @ret_value is NULL for an absent optional member. */
int spec_get_member(struct spec_loader *l, json_t *object, const char *pointer,
		    const char *key, bool required, json_t **ret_value);
/* A NUL-terminated copy of @len bytes. Return: 0 or -ENOMEM. */
int spec_copy_bytes(const char *data, size_t len, char **ret);
/* A string without NUL bytes, empty only when @allow_empty. */
int spec_get_text(struct spec_loader *l, json_t *value, const char *pointer, bool allow_empty,
		  char **ret);
/* A path inside the target, by txn_path_check(). */
int spec_get_path(struct spec_loader *l, json_t *value, const char *pointer, char **ret);
/* An absolute path on the host, shorter than PATH_MAX. */
int spec_get_host_path(struct spec_loader *l, json_t *value, const char *pointer, char **ret);
/* The optional boolean @key of @object; *@ret untouched when absent. */
int spec_get_bool(struct spec_loader *l, json_t *object, const char *pointer, const char *key,
		  bool *ret);
/* An integer in [@min, @max]; @what describes it for the message. */
int spec_get_integer(struct spec_loader *l, json_t *value, const char *pointer,
		     json_int_t min, json_int_t max, const char *what, json_int_t *ret);
/* An octal string of 1 to 4 digits. */
int spec_get_mode(struct spec_loader *l, json_t *value, const char *pointer, mode_t *ret);
/* 64 hexadecimal digits, into 32 bytes. */
int spec_get_sha256(struct spec_loader *l, json_t *value, const char *pointer,
		    unsigned char ret[32]);
/* Standard padded base64, decoded; *@ret is NULL for empty content. */
int spec_get_base64(struct spec_loader *l, json_t *value, const char *pointer,
		    unsigned char **ret, size_t *ret_len);
/* An owner or group: a number or a name. */
int spec_get_id(struct spec_loader *l, json_t *value, const char *pointer,
		struct txn_id_ref *ret);
