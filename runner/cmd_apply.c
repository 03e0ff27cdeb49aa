/* SPDX-License-Identifier: MIT */
/*
 * cmd_apply.c: `apply` and `plan` (`apply --dry-run`): load the spec, settle the
 * target and method, then hand the batch to the engine.
 */
#include "engine.h"
#include "spec_load.h"
#include "spec_trust.h"
#include "watchdog.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_TARGET = OPT_COMMAND_BASE, OPT_METHOD, OPT_DRY_RUN, OPT_KEEP, OPT_TRANS_TIMEOUT,
       OPT_ALLOW_INSECURE_SPEC };

struct apply_args {
	const char *spec_path;
	const char *target;
	const char *method;
	bool dry_run;
	bool allow_insecure_spec;
	bool has_keep;
	unsigned keep;
	bool has_trans_timeout;
	struct txn_options options;
};

static int parse_args(int argc, char **argv, const struct command *self, struct apply_args *a)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "trans-timeout", required_argument, NULL, OPT_TRANS_TIMEOUT },
		{ "allow-insecure-spec", no_argument, NULL, OPT_ALLOW_INSECURE_SPEC },
		ENGINE_LONG_OPTIONS,
		CLI_COMMON_LONG,
		{ 0 },
	};
	int c, code;
	a->options.lock_timeout = -1;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		if (cli_common_option(self, c, &code) || engine_option(c, optarg, self->name, &a->options, &code)) {
			if (code >= 0)
				return code;
			continue;
		}
		unsigned long long v;
		switch (c) {
		case OPT_TARGET:
			a->target = optarg;
			break;
		case OPT_METHOD:
			if (strcmp(optarg, "snapshot") && strcmp(optarg, "trans")) {
				report_error("%s: --method: expected 'snapshot' or 'trans', got '%s'",
					     self->name, optarg);
				return EXIT_USAGE;
			}
			a->method = optarg;
			break;
		case OPT_DRY_RUN:
			a->dry_run = true;
			break;
		case OPT_ALLOW_INSECURE_SPEC:
			a->allow_insecure_spec = true;
			break;
		case OPT_KEEP:
			if (!parse_unsigned(optarg, TXN_KEEP_MAX, &v) || v == 0) {
				report_error("%s: --keep: expected a number from 1 to %u, got '%s'",
					     self->name, TXN_KEEP_MAX, optarg);
				return EXIT_USAGE;
			}
			a->has_keep = true;
			a->keep = (unsigned)v;
			break;
		case OPT_TRANS_TIMEOUT: {
			/* The window blocks other writers' commits, so it is bounded; a
			 * zero window could not run a single op. */
			char *end;
			errno = 0;
			double seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(seconds > 0 && seconds <= 3600)) {
				report_error("%s: --trans-timeout: expected seconds above 0 and at most 3600, got '%s'",
					     self->name, optarg);
				return EXIT_USAGE;
			}
			a->has_trans_timeout = true;
			a->options.trans_timeout = seconds;
			break;
		}
		}
	}
	if (optind != argc - 1) {
		report_error("%s: expected one SPEC (a file, or '-' for standard input); see 'btrfs-txn help %s'",
			     self->name, self->name);
		return EXIT_USAGE;
	}
	a->spec_path = argv[optind];
	return -1;
}

static void print_plan_entry(const struct txn_plan_entry *e, void *ctx)
{
	json_t *ops = ctx;
	if (ops) {
		json_array_append_new(ops, json_pack("{s:I, s:s, s:s, s:s, s:s}", "index",
						     (json_int_t)e->index, "op",
						     txn_op_kind_name(e->op->kind), "path", e->op->path,
						     "action", e->action, "detail", e->detail));
		return;
	}
	report_info("  %3zu  %-8s %-40s %s%s%s", e->index, txn_op_kind_name(e->op->kind), e->op->path,
		    e->action, e->detail[0] ? ": " : "", e->detail);
}

static int run_plan(const char *target, const struct txn_batch *batch)
{
	struct txn_error error = { 0 }, precondition;
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "plan", "target", target) : NULL;
	_cleanup_json_ json_t *ops = cli.json ? json_array() : NULL;
	report_info("plan for %s (%zu ops), nothing is written:", target, batch->n_ops);
	int r = txn_plan(target, batch, print_plan_entry, ops, &precondition, &error);
	if (r < 0)
		return report_txn_error("plan", &error, doc);
	char text[2048] = "";
	if (precondition.status != TXN_OK)
		txn_error_string(&precondition, text, sizeof(text));
	if (doc) {
		json_object_set_new(doc, "ops", TAKE_PTR(ops));
		json_object_set_new(doc, "preconditions_hold", json_boolean(!text[0]));
		if (text[0])
			json_object_set_new(doc, "precondition_error", json_string(text));
		json_print(doc);
	}
	if (text[0]) {
		report_error("plan: apply would abort: %s", text);
		return EXIT_ABORTED;
	}
	report_info("preconditions hold");
	return EXIT_DONE;
}

/* --timeout bounds the lock wait and, after it, each step (watchdog.c). */
static double stall_timeout(const struct txn_options *options)
{
	return options->lock_timeout >= 0 ? options->lock_timeout : TXN_DEFAULT_LOCK_TIMEOUT;
}

/* The legacy trans method (txn/trans.c): in place, inside one Btrfs transaction. */
static int run_trans(const char *target, const char *spec_path, const struct txn_batch *batch,
		     struct txn_options *options)
{
	char command_line[512];
	snprintf(command_line, sizeof(command_line), "btrfs-txn apply --method trans %s", spec_path);
	options->command = command_line;
	install_interrupt_handlers();
	struct txn_result result;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s, s:s}", "command", "apply", "target", target,
					   "method", "trans")
			       : NULL;
	watchdog_start("apply", stall_timeout(options));
	outcome_begin("apply", target);
	int r = txn_apply_trans(target, batch, options, &result, &error);
	watchdog_stop();
	if (r < 0)
		return report_txn_error("apply", &error, doc);
	if (doc) {
		json_object_set_new(doc, "result", json_string("committed"));
		json_object_set_new(doc, "txid", json_string(result.txid));
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "ops", json_integer((json_int_t)batch->n_ops));
		json_object_set_new(doc, "recovered_first", json_boolean(result.recovered_first));
		json_object_set_new(doc, "timing", timing_json(&result.timing));
		json_print(doc);
	}
	outcome_committed("committed", result.txid, result.generation, result.generation,
			  &result.timing);
	if (result.recovered_first)
		report_info("recovered an interrupted transaction first");
	report_info("applied %zu ops to %s in place, in one Btrfs transaction (trans method, "
		    "no new generation), %.3f s",
		    batch->n_ops, target, result.timing.total);
	return EXIT_DONE;
}

static int run_apply(const struct command *self, int argc, char **argv, bool dry_run)
{
	struct apply_args a = { .dry_run = dry_run };
	int code = parse_args(argc, argv, self, &a);
	if (code >= 0)
		return code;

	/* A spec others could have changed must not run: it is judged by StrictModes
	 * and read from the very descriptor judged (standard input is the caller's). */
	_cleanup_batch_ struct txn_batch batch = { 0 };
	struct spec_error spec_error;
	int loaded;
	if (strcmp(a.spec_path, "-") == 0 || a.allow_insecure_spec) {
		loaded = spec_load_file(a.spec_path, &batch, &spec_error);
	} else {
		char untrusted[PATH_MAX + 512];
		_cleanup_close_ int spec_fd = -EBADF;
		if (spec_open_trusted(a.spec_path, &spec_fd, untrusted, sizeof(untrusted)) < 0) {
			fprintf(stderr, "%s\n", untrusted);
			return EXIT_USAGE;
		}
		loaded = spec_load_fd(spec_fd, a.spec_path, &batch, &spec_error);
	}
	if (loaded < 0) {
		char line[2048];
		spec_error_format(&spec_error, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		return EXIT_USAGE;
	}
	if (a.target && batch.target && strcmp(a.target, batch.target) != 0) {
		report_error("%s: --target '%s' contradicts the spec's target '%s'", self->name, a.target,
			     batch.target);
		return EXIT_USAGE;
	}
	const char *target = a.target ? a.target : batch.target;
	if (!target) {
		report_error("%s: no target: give --target PATH or \"target\" in the spec", self->name);
		return EXIT_USAGE;
	}
	const char *spec_method = batch.has_method ? txn_method_name(batch.method) : NULL;
	if (a.method && spec_method && strcmp(a.method, spec_method) != 0) {
		report_error("%s: --method %s contradicts the spec's method '%s'", self->name, a.method,
			     spec_method);
		return EXIT_USAGE;
	}
	if (spec_resolve_ids(&batch, strcmp(a.spec_path, "-") ? a.spec_path : "<stdin>", &spec_error) < 0) {
		char line[2048];
		spec_error_format(&spec_error, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		return EXIT_USAGE;
	}
	const char *method = a.method ? a.method : spec_method ? spec_method : "snapshot";

	if (a.dry_run)
		return run_plan(target, &batch);
	if (a.has_trans_timeout && strcmp(method, "trans") != 0) {
		report_error("%s: --trans-timeout applies to --method trans only (the method is %s)",
			     self->name, method);
		return EXIT_USAGE;
	}
	if (strcmp(method, "trans") == 0)
		return run_trans(target, a.spec_path, &batch, &a.options);

	if (!a.has_keep && !batch.has_keep &&
	    (code = config_keep_default("apply", target, &a.options.keep)) >= 0)
		return code;
	if (a.has_keep) {
		/* --keep overrides the spec's keep */
		batch.has_keep = true;
		batch.keep = a.keep;
	}
	char command_line[512];
	snprintf(command_line, sizeof(command_line), "btrfs-txn apply %s", a.spec_path);
	a.options.command = command_line;
	progress_attach(&a.options);
	install_interrupt_handlers();
	_cleanup_result_ struct txn_result result = { 0 };
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s, s:s}", "command", "apply", "target", target,
					   "method", method)
			       : NULL;
	watchdog_start("apply", stall_timeout(&a.options));
	outcome_begin("apply", target);
	int r = txn_apply(target, &batch, &a.options, &result, &error);
	watchdog_stop();
	if (r < 0)
		return report_txn_error("apply", &error, doc);
	if (doc) {
		json_object_set_new(doc, "result", json_string("committed"));
		json_object_set_new(doc, "txid", json_string(result.txid));
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "previous", json_integer((json_int_t)result.previous));
		json_object_set_new(doc, "ops", json_integer((json_int_t)batch.n_ops));
		json_object_set_new(doc, "recovered_first", json_boolean(result.recovered_first));
		json_object_set_new(doc, "dropped_generations", json_integer(result.dropped));
		json_object_set_new(doc, "timing", timing_json(&result.timing));
		report_concurrent("apply", target, &result, doc);
		json_print(doc);
	}
	if (!doc)
		report_concurrent("apply", target, &result, NULL);
	outcome_committed("committed", result.txid, result.generation, result.previous,
			  &result.timing);
	if (result.recovered_first)
		report_info("recovered an interrupted transaction first");
	report_info("applied %zu ops to %s: generation %llu (generation %llu kept as gen-%llu), %.3f s",
		    batch.n_ops, target, (unsigned long long)result.generation,
		    (unsigned long long)result.previous, (unsigned long long)result.previous,
		    result.timing.total);
	return EXIT_DONE;
}

int cmd_apply(int argc, char **argv)
{
	return run_apply(command_find("apply"), argc, argv, false);
}

int cmd_plan(int argc, char **argv)
{
	return run_apply(command_find("plan"), argc, argv, true);
}
