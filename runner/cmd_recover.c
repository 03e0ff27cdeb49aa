/* SPDX-License-Identifier: MIT */
/* cmd_recover.c: `recover TARGET`, finish or undo an interrupted transaction. */
#include "engine.h"

int cmd_recover(int argc, char **argv)
{
	const struct command *self = command_find("recover");
	struct txn_options options = { .command = "btrfs-txn recover" };
	const char *target;
	int code = parse_one_arg(argc, argv, self, NULL, NULL, NULL, &options, &target);
	if (code >= 0)
		return code;
	struct txn_recover_result result;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "recover", "target", target) : NULL;
	outcome_begin("recover", target);
	if (txn_recover(target, &options, &result, &error) < 0)
		return report_txn_error("recover", &error, doc);
	static const char *const actions[] = {
		[TXN_RECOVERY_NONE] = "none",
		[TXN_RECOVERY_ROLLED_FORWARD] = "rolled-forward",
		[TXN_RECOVERY_ROLLED_BACK] = "rolled-back",
	};
	if (doc) {
		json_object_set_new(doc, "action", json_string(actions[result.action]));
		json_object_set_new(doc, "txid", result.action ? json_string(result.txid) : json_null());
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "removed_staging", json_integer(result.removed));
		if (result.pinned)
			json_object_set_new(doc, "pinned_generation",
					    json_integer((json_int_t)result.pinned));
		json_print(doc);
	}
	if (result.action != TXN_RECOVERY_NONE)
		outcome_committed(actions[result.action], result.txid, result.generation,
				  result.generation, NULL);
	if (result.pinned)
		report_error("recover: %s: other processes wrote to the replaced tree of transaction "
			     "%s and the new tree does not hold it (%zu found); gen-%llu holds it and "
			     "is pinned until 'btrfs-txn gc %s --release %llu' ('btrfs-txn history' "
			     "names the paths)",
			     target, result.txid, result.concurrent_count,
			     (unsigned long long)result.pinned, target,
			     (unsigned long long)result.pinned);
	switch (result.action) {
	case TXN_RECOVERY_NONE:
		report_info("%s: nothing to recover%s", target,
			    result.removed ? " (removed leftover staging subvolumes)" : "");
		break;
	case TXN_RECOVERY_ROLLED_FORWARD:
		report_info("%s: transaction %s had committed; finished it (generation %llu)", target,
			    result.txid, (unsigned long long)result.generation);
		break;
	case TXN_RECOVERY_ROLLED_BACK:
		report_info("%s: transaction %s had not committed; undone, target unchanged "
			    "(generation %llu)",
			    target, result.txid, (unsigned long long)result.generation);
		break;
	}
	return EXIT_DONE;
}
