/* SPDX-License-Identifier: MIT */
/* cmd_rollback.c: `rollback TARGET [--to GEN]`, a transaction back to a kept generation. */
#include "engine.h"
#include "watchdog.h"

enum { OPT_TO = OPT_COMMAND_BASE };

static bool handle(int option, const char *arg, void *ctx, int *ret_exit)
{
	unsigned long long v;
	if (option != OPT_TO)
		return false;
	if (!parse_unsigned(arg, UINT64_MAX - 1, &v)) {
		report_error("rollback: --to: expected a generation number, got '%s'", arg);
		*ret_exit = EXIT_USAGE;
		return true;
	}
	*(uint64_t *)ctx = v;
	*ret_exit = -1;
	return true;
}

int cmd_rollback(int argc, char **argv)
{
	static const struct option extra[] = { { "to", required_argument, NULL, OPT_TO }, { 0 } };
	const struct command *self = command_find("rollback");
	struct txn_options options = { .command = "btrfs-txn rollback" };
	uint64_t to = TXN_ROLLBACK_PREVIOUS;
	const char *target;
	int code = parse_one_arg(argc, argv, self, extra, handle, &to, &options, &target);
	if (code >= 0)
		return code;
	install_interrupt_handlers();
	_cleanup_result_ struct txn_result result = { 0 };
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "rollback", "target", target) : NULL;
	/* --timeout bounds the lock wait and, after it, each step (watchdog.c). */
	watchdog_start("rollback", options.lock_timeout >= 0 ? options.lock_timeout
							     : TXN_DEFAULT_LOCK_TIMEOUT);
	outcome_begin("rollback", target);
	int r = txn_rollback(target, to, &options, &result, &error);
	watchdog_stop();
	if (r < 0)
		return report_txn_error("rollback", &error, doc);
	if (doc) {
		json_object_set_new(doc, "result", json_string("committed"));
		json_object_set_new(doc, "txid", json_string(result.txid));
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "previous", json_integer((json_int_t)result.previous));
		json_object_set_new(doc, "timing", timing_json(&result.timing));
		report_concurrent("rollback", target, &result, doc);
		json_print(doc);
	}
	if (!doc)
		report_concurrent("rollback", target, &result, NULL);
	outcome_committed("committed", result.txid, result.generation, result.previous,
			  &result.timing);
	report_info("rolled %s back: generation %llu now holds the tree of gen-%llu "
		    "(generation %llu kept as gen-%llu)",
		    target, (unsigned long long)result.generation,
		    (unsigned long long)(to != TXN_ROLLBACK_PREVIOUS ? to : result.previous - 1),
		    (unsigned long long)result.previous, (unsigned long long)result.previous);
	return EXIT_DONE;
}
