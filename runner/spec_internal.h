/* SPDX-License-Identifier: MIT */
/*
 * spec_internal.h: what the parts of the spec loader share (spec_load.c,
 * spec_pos.c, spec_check.c); not used outside runner/spec_*.c and their tests.
 *
 * The loader reports an error by JSON pointer only; the position in the text is
 * looked up once, at the end, by spec_pos_find(). That keeps the checks free of
 * position bookkeeping, which jansson cannot give us for values anyway.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "spec_load.h"

/* Largest spec accepted, in bytes: far above any real deployment, and a bound on
 * the memory a mistaken `validate /dev/zero` can take. */
#define SPEC_MAX_SIZE (64u * 1024 * 1024)

/* Largest `keep`: every kept generation is a Btrfs snapshot, and hundreds of them
 * slow down balance and quota accounting; nobody rolls back 100 deployments. */
#define SPEC_KEEP_MAX 100

/* Largest verify.timeout in seconds (one day): a hook that needs longer is not a check. */
#define SPEC_VERIFY_TIMEOUT_MAX 86400

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
