/* SPDX-License-Identifier: MIT */
/* cmd_gc.c: `gc TARGET [--keep N]`, drop the oldest generations. */
#include "engine.h"

enum { OPT_KEEP = OPT_COMMAND_BASE };

static bool handle(int option, const char *arg, void *ctx, int *ret_exit)
{
	unsigned long long v;
	if (option != OPT_KEEP)
		return false;
	if (!parse_unsigned(arg, TXN_KEEP_MAX, &v)) {
		report_error("gc: --keep: expected a number from 0 to %u, got '%s'", TXN_KEEP_MAX, arg);
		*ret_exit = EXIT_USAGE;
		return true;
	}
	*(unsigned *)ctx = (unsigned)v;
	*ret_exit = -1;
	return true;
}

int cmd_gc(int argc, char **argv)
{
	static const struct option extra[] = { { "keep", required_argument, NULL, OPT_KEEP }, { 0 } };
	const struct command *self = command_find("gc");
	struct txn_options options = { .command = "btrfs-txn gc" };
	unsigned keep = TXN_DEFAULT_KEEP;
	const char *target;
	int code = parse_one_arg(argc, argv, self, extra, handle, &keep, &options, &target);
	if (code >= 0)
		return code;
	unsigned removed = 0;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s, s:i}", "command", "gc", "target", target,
					   "keep", (int)keep)
			       : NULL;
	if (txn_gc(target, keep, &options, &removed, &error) < 0)
		return report_txn_error("gc", &error, doc);
	if (doc) {
		json_object_set_new(doc, "removed", json_integer(removed));
		json_print(doc);
	}
	report_info("%s: removed %u generation%s, keeping at most %u", target, removed,
		    removed == 1 ? "" : "s", keep);
	return EXIT_DONE;
}
