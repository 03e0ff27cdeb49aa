/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spec.c: libFuzzer target for the spec loader (runner/spec_load.c and the
 * value, position and contradiction checks behind it).
 *
 * A spec may come from a CI pipeline the operator does not fully control, and it is
 * parsed as root, so loading must never crash, leak, read out of bounds or hang,
 * whatever the bytes. Every input is loaded; an error must be formatted into one
 * line with a file, a position and a message, and a success must give a batch
 * whose every path passes txn_path_check() again (what the engine relies on).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "spec_load.h"

static void check_path(const char *path)
{
	if (path && txn_path_check(path, strlen(path)) != TXN_PATH_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txn_batch batch;
	struct spec_error error;
	memset(&batch, 0, sizeof(batch));
	int r = spec_load_buffer("fuzz.json", (const char *)data, size, &batch, &error);
	if (r < 0) {
		char line[2048];
		spec_error_format(&error, line, sizeof(line));
		/* Every error names something: an empty message would be a useless report. */
		if (error.message[0] == '\0')
			abort();
		return 0;
	}
	if (batch.n_ops == 0)
		abort(); /* "ops is empty" must have been refused */
	for (size_t i = 0; i < batch.n_ops; i++) {
		check_path(batch.ops[i].path);
		if (batch.ops[i].kind == TXN_OP_RENAME)
			check_path(batch.ops[i].to);
	}
	for (size_t i = 0; i < batch.n_preconditions; i++)
		check_path(batch.preconditions[i].path);
	txn_batch_free(&batch);
	return 0;
}
