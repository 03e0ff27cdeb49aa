/* SPDX-License-Identifier: MIT */
/*
 * spec_load.h: JSON spec (version 1) to struct txn_batch, with strict validation.
 *
 * Errors carry the position of the offending value in the file and its JSON
 * pointer, and print as `FILE:LINE:COLUMN: /json/pointer: message`. The position
 * is that of the value the pointer names; for an unknown key, that of the key; for
 * a missing key, that of the object it is missing from (whose pointer is given).
 * Errors about the whole document have an empty pointer and print without it, and
 * errors with no position (unreadable file, too large) print as `FILE: message`.
 * The rules themselves are documented in docs/btrfs-txn-spec.5.
 */
#pragma once

#include <stddef.h>

#include "batch.h"

struct spec_error {
	char file[256];     /* as given by the caller; "<stdin>" for '-' */
	unsigned line;      /* 1-based; 0 when there is no position (e.g. unreadable file) */
	unsigned column;    /* 1-based */
	char pointer[512];  /* JSON pointer, "" for the document itself */
	char message[512];
};

/**
 * spec_load_buffer() - Parse and validate a spec held in memory.
 * @name: The file name used in error messages.
 * @data: The spec text (need not be NUL-terminated).
 * @len: Its length.
 * @ret_batch: Filled on success; untouched on failure.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, -EINVAL for an invalid spec, another negative errno for
 * other failures (e.g. -ENOMEM); @ret_error is filled in every failing case.
 */
int spec_load_buffer(const char *name, const char *data, size_t len,
		     struct txn_batch *ret_batch, struct spec_error *ret_error);

/* As spec_load_buffer(), reading @fd to its end (it is not closed); @name is the
 * file name used in error messages. */
int spec_load_fd(int fd, const char *name, struct txn_batch *ret_batch,
		 struct spec_error *ret_error);

/* As spec_load_buffer(), reading @path ("-" for standard input). */
int spec_load_file(const char *path, struct txn_batch *ret_batch,
		   struct spec_error *ret_error);

/**
 * spec_resolve_ids() - Resolve owner and group names of chown ops to numbers.
 * @batch: A batch from spec_load_*(); names get their id and `resolved` set.
 * @file: The spec's name, as in errors from loading.
 * @ret_error: Filled on failure, with the position of the name in the spec.
 *
 * Names are looked up with getpwnam_r()/getgrnam_r() on this machine, which is why
 * loading (and `validate`) leave them alone. Ops already resolved are skipped.
 *
 * Return: 0; -EINVAL for an unknown name; another negative errno when the lookup
 * itself failed (e.g. -ENOMEM, or an NSS error). Names resolved before a failure
 * stay resolved.
 */
int spec_resolve_ids(struct txn_batch *batch, const char *file, struct spec_error *ret_error);

/* Formats @error as one line (no newline) into @buf. */
void spec_error_format(const struct spec_error *error, char *buf, size_t size);
