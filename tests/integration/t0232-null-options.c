/* SPDX-License-Identifier: MIT */
/*
 * t0232-null-options.c: calls the public entry points of libbtrfs-txn the way a
 * program linking the library would, with NULL options and NULL result pointers
 * (documented as accepted) or a zero-initialised struct txn_options, for
 * t0232-bugs-on-the-way.sh. Usage: MODE TARGET [ARG]; exit 0 on success, else
 * 10 + the txn_status, with the error on stderr.
 */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stage_write(const char *staging_path, void *ctx, struct txn_error *error)
{
	(void)ctx;
	(void)error;
	char path[4200];
	snprintf(path, sizeof(path), "%s/from-run", staging_path);
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fputs("run\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: MODE TARGET [ARG]\n");
		return 2;
	}
	const char *mode = argv[1], *target = argv[2];
	static unsigned char content[] = "written\n";
	struct txn_op op = { .kind = TXN_OP_WRITE, .path = argc > 3 ? argv[3] : "file",
			     .content = content, .content_len = sizeof(content) - 1 };
	struct txn_batch batch = { .ops = &op, .n_ops = 1 };
	struct txn_options zero;
	memset(&zero, 0, sizeof(zero));
	struct txn_error error = { 0 };
	int r;
	if (strcmp(mode, "apply-null") == 0) {
		r = txn_apply(target, &batch, NULL, NULL, &error);
	} else if (strcmp(mode, "apply-zero") == 0) {
		struct txn_result result;
		r = txn_apply(target, &batch, &zero, &result, &error);
		if (r == 0)
			free(result.concurrent);
	} else if (strcmp(mode, "rollback-null") == 0) {
		r = txn_rollback(target, TXN_ROLLBACK_PREVIOUS, NULL, NULL, &error);
	} else if (strcmp(mode, "run-null") == 0) {
		r = txn_run(target, stage_write, NULL, NULL, NULL, &error);
	} else if (strcmp(mode, "recover-null") == 0) {
		r = txn_recover(target, NULL, NULL, &error);
	} else if (strcmp(mode, "gc-null") == 0) {
		r = txn_gc(target, 2, NULL, NULL, NULL, &error);
	} else if (strcmp(mode, "snapshot-null") == 0) {
		r = txn_snapshot_tag(target, TXN_TAG_PRE, NULL, NULL, &error);
	} else if (strcmp(mode, "init-null") == 0) {
		r = txn_init(target, NULL, NULL, &error);
	} else if (strcmp(mode, "init-keep") == 0 && argc > 3) {
		struct txn_options keep = { .keep = (unsigned)atoi(argv[3]) };
		r = txn_init(target, &keep, NULL, &error);
	} else {
		fprintf(stderr, "unknown mode '%s'\n", mode);
		return 2;
	}
	if (r == 0)
		return 0;
	char text[1200];
	fprintf(stderr, "%s: %s\n", mode, txn_error_string(&error, text, sizeof(text)));
	return 10 + (int)error.status;
}
