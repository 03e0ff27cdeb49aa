/* SPDX-License-Identifier: MIT */
/*
 * cmd_snapshot.c: `snapshot TARGET --tag pre|post [--description TEXT]`, a read-only
 * snapshot of the live tree kept as a generation, for package-manager hooks around an
 * upgrade done in place (the engine side and the pairing rules are in txn/tag.c).
 */
#include "engine.h"

#include <string.h>

enum { OPT_TAG = OPT_COMMAND_BASE, OPT_DESCRIPTION, OPT_KEEP };

struct snapshot_args {
	int tag; /* -1 until given */
	struct txn_options *options;
};

static bool handle(int option, const char *arg, void *ctx, int *ret_exit)
{
	struct snapshot_args *a = ctx;
	unsigned long long v;
	*ret_exit = -1;
	switch (option) {
	case OPT_TAG:
		if (strcmp(arg, "pre") == 0) {
			a->tag = TXN_TAG_PRE;
		} else if (strcmp(arg, "post") == 0) {
			a->tag = TXN_TAG_POST;
		} else {
			report_error("snapshot: --tag: expected 'pre' or 'post', got '%s'", arg);
			*ret_exit = EXIT_USAGE;
		}
		return true;
	case OPT_DESCRIPTION:
		a->options->description = arg;
		return true;
	case OPT_KEEP:
		if (!parse_unsigned(arg, TXN_KEEP_MAX, &v) || v == 0) {
			report_error("snapshot: --keep: expected a number from 1 to %u, got '%s'",
				     TXN_KEEP_MAX, arg);
			*ret_exit = EXIT_USAGE;
		} else {
			a->options->keep = (unsigned)v;
		}
		return true;
	}
	return false;
}

int cmd_snapshot(int argc, char **argv)
{
	static const struct option extra[] = {
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "description", required_argument, NULL, OPT_DESCRIPTION },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ 0 },
	};
	const struct command *self = command_find("snapshot");
	struct txn_options options = { .command = "btrfs-txn snapshot" };
	struct snapshot_args a = { .tag = -1, .options = &options };
	const char *target;
	int code = parse_one_arg(argc, argv, self, extra, handle, &a, &options, &target);
	if (code >= 0)
		return code;
	if (a.tag < 0) {
		report_error("snapshot: --tag pre or --tag post is required; see 'btrfs-txn help snapshot'");
		return EXIT_USAGE;
	}
	const char *tag = a.tag == TXN_TAG_PRE ? "pre" : "post";
	if ((code = config_keep_default("snapshot", target, &options.keep)) >= 0)
		return code;
	/* Between two calls nothing is in flight; a signal may simply end the process,
	 * but the lock and recovery are still taken care of like any changing command. */
	install_interrupt_handlers();
	struct txn_snapshot_result result;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s, s:s, s:s?}", "command", "snapshot", "target",
					   target, "tag", tag, "description", options.description)
			       : NULL;
	outcome_begin("snapshot", target);
	if (txn_snapshot_tag(target, (enum txn_tag)a.tag, &options, &result, &error) < 0)
		return report_txn_error("snapshot", &error, doc);
	if (doc) {
		json_object_set_new(doc, "result", json_string("committed"));
		json_object_set_new(doc, "txid", json_string(result.txid));
		json_object_set_new(doc, "snapshot", json_integer((json_int_t)result.snapshot));
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "pair", result.pair[0] ? json_string(result.pair) : json_null());
		json_object_set_new(doc, "pair_pre",
				    a.tag == TXN_TAG_POST && result.pair[0]
					    ? json_integer((json_int_t)result.pair_pre)
					    : json_null());
		json_object_set_new(doc, "recovered_first", json_boolean(result.recovered_first));
		json_object_set_new(doc, "dropped_generations", json_integer(result.dropped));
		json_print(doc);
	}
	outcome_committed(a.tag == TXN_TAG_PRE ? "pre committed" : "post committed", result.txid,
			  result.generation, result.snapshot, NULL);
	if (result.recovered_first)
		report_info("recovered an interrupted transaction first");
	if (a.tag == TXN_TAG_PRE)
		report_info("%s: pre snapshot kept as gen-%llu (pair %s); the live tree is now "
			    "generation %llu",
			    target, (unsigned long long)result.snapshot, result.pair,
			    (unsigned long long)result.generation);
	else if (result.pair[0])
		report_info("%s: post snapshot kept as gen-%llu, paired with the pre snapshot gen-%llu "
			    "('btrfs-txn diff %s %llu %llu' shows the change)",
			    target, (unsigned long long)result.snapshot,
			    (unsigned long long)result.pair_pre, target,
			    (unsigned long long)result.pair_pre, (unsigned long long)result.snapshot);
	else
		report_info("%s: post snapshot kept as gen-%llu; no pre snapshot was waiting for a "
			    "post, so it is unpaired",
			    target, (unsigned long long)result.snapshot);
	return EXIT_DONE;
}
