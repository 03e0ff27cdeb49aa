/* SPDX-License-Identifier: MIT */
/*
 * cmd_validate.c: `btrfs-txn validate [--json] SPEC`: load and check a spec, touch
 * nothing else. Spec errors print as one `FILE:LINE:COLUMN: /pointer: message`
 * line without the "btrfs-txn: " prefix, so that editors and CI annotate them.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spec_load.h"

static int print_json(json_t *document)
{
	if (!document)
		return -ENOMEM;
	json_print(document);
	return ferror(stdout) ? -EIO : 0;
}

/* Shaped like every other command's failure: "error" is the line that went to
 * standard error, "exit" the exit status; "spec_error" keeps its parts. */
static json_t *error_json(const struct spec_error *error, const char *line)
{
	return json_pack("{s:s,s:b,s:s,s:i,s:{s:s,s:o,s:o,s:s,s:s}}", "command", "validate",
			 "valid", 0, "error", line, "exit", EXIT_USAGE, "spec_error",
			 "file", error->file,
			 "line", error->line ? json_integer(error->line) : json_null(),
			 "column", error->line ? json_integer(error->column) : json_null(),
			 "pointer", error->pointer, "message", error->message);
}

static json_t *valid_json(const char *file, const struct txn_batch *batch)
{
	return json_pack("{s:s,s:b,s:s,s:I,s:I,s:o,s:s,s:I,s:b}", "command", "validate",
			 "valid", 1, "file", file,
			 "ops", (json_int_t)batch->n_ops,
			 "preconditions", (json_int_t)batch->n_preconditions,
			 "target", batch->target ? json_string(batch->target) : json_null(),
			 "method", txn_method_name(batch->has_method ? batch->method
								     : TXN_METHOD_SNAPSHOT),
			 "keep", (json_int_t)(batch->has_keep ? batch->keep : TXN_DEFAULT_KEEP),
			 "verify", batch->verify.argv != NULL);
}

int cmd_validate(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_LONG, { 0 } };
	const struct command *self = command_find("validate");
	int option, exit_code;

	while ((option = getopt_long(argc, argv, CLI_COMMON_SHORT, options, NULL)) != -1) {
		if (cli_common_option(self, option, &exit_code)) {
			if (exit_code >= 0)
				return exit_code;
			continue;
		}
		report_error("validate: unexpected option; see 'btrfs-txn help validate'");
		return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		report_error("validate: %s; usage: btrfs-txn validate [--json] SPEC",
			     argc - optind == 0 ? "missing SPEC" : "expected exactly one SPEC");
		return EXIT_USAGE;
	}

	const char *path = argv[optind];
	_cleanup_batch_ struct txn_batch batch = { 0 };
	struct spec_error error;
	int r = spec_load_file(path, &batch, &error);
	if (r < 0) {
		char line[2048];
		spec_error_format(&error, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		if (cli.json)
			print_json(error_json(&error, line));
		return EXIT_USAGE;
	}

	if (cli.json)
		r = print_json(valid_json(strcmp(path, "-") == 0 ? "<stdin>" : path, &batch));
	else if (!cli.quiet)
		printf("%s: valid, %zu op%s\n", strcmp(path, "-") == 0 ? "<stdin>" : path, batch.n_ops, batch.n_ops == 1 ? "" : "s");
	if (r < 0) {
		report_error("validate: cannot write the JSON result: %s", strerror(-r));
		return EXIT_USAGE;
	}
	return EXIT_DONE;
}
