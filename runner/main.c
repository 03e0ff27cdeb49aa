/* SPDX-License-Identifier: MIT */
/*
 * main.c: the btrfs-txn command table and dispatch. Each command lives in its own
 * file (cmd_NAME.c) and receives argv starting at its own name.
 */
#include "runner.h"

#include <string.h>

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "validate", cmd_validate, "SPEC",
	  "check a spec (schema, paths, contradictions); no root, no target access",
	  "  SPEC may be '-' to read standard input.\n" },
	{ "plan", cmd_plan, "[OPTIONS] SPEC",
	  "show what apply would change against the live target; writes nothing",
	  "  --target PATH        the subvolume to change (instead of the spec's \"target\")\n"
	  "  --allow-insecure-spec\n"
	  "                       read the spec without its StrictModes check (btrfs-txn(8))\n" },
	{ "apply", cmd_apply, "[OPTIONS] SPEC", "apply a spec atomically (SPEC may be '-' for stdin)",
	  "  --target PATH        the subvolume to change (instead of the spec's \"target\")\n"
	  "  --method METHOD      snapshot (default) or trans (kernels before 4.17 only)\n"
	  "  --dry-run            only show the plan, as 'btrfs-txn plan'\n"
	  "  --keep N             generations to keep (default: the spec's, else 5)\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60), then how long\n"
	  "                       a step may stall before a warning names it (0: never)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n"
	  "  --remount            a mounted target: mount the new tree now (not for /)\n"
	  "  --trans-timeout SECONDS\n"
	  "                       trans method: how long the Btrfs transaction may stay open\n"
	  "                       before a watchdog ends it (default 30)\n"
	  "  --allow-insecure-spec\n"
	  "                       read the spec without its StrictModes check (btrfs-txn(8))\n" },
	{ "run", cmd_run, "[OPTIONS] TARGET -- COMMAND [ARGS...]",
	  "run COMMAND on a snapshot of TARGET and swap it in if COMMAND exits 0",
	  "  --description TEXT   for the history (default: 'run: COMMAND ARGS')\n"
	  "  --keep N             generations to keep (default 5)\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n"
	  "  --remount            a mounted target: mount the new tree now (not for /)\n"
	  "  COMMAND gets the staging path as {staging} in its arguments and as\n"
	  "  BTRFS_TXN_STAGING; it inherits standard input and runs in its own process group.\n" },
	{ "snapshot", cmd_snapshot, "TARGET --tag pre|post [--description TEXT]",
	  "keep the live tree as a read-only generation, paired pre/post around an upgrade",
	  "  --tag pre|post       which side of the change; a post pairs with the latest unpaired pre\n"
	  "  --description TEXT   for the history (e.g. the packages)\n"
	  "  --keep N             generations to keep (default 5; a pair is never split)\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n" },
	{ "diff", cmd_diff, "TARGET GEN1 [GEN2]",
	  "paths added, removed and modified between two generations ('current': the live tree)",
	  "  GEN is a kept generation's number or 'current' (the default for GEN2).\n"
	  "  --max-compare SIZE  bytes of a same-size file pair read at most when their\n"
	  "                      extents differ (default 64M; 0: no bound)\n" },
	{ "status", cmd_status, "TARGET",
	  "current generation, kept generations, interrupted transaction, lock holder", NULL },
	{ "history", cmd_history, "TARGET",
	  "every transaction: id, time, kind, result, generation, description", NULL },
	{ "rollback", cmd_rollback, "TARGET [--to GEN]",
	  "atomically swap back to a kept generation (default: the one the last transaction replaced)",
	  "  --to GEN             the generation to return to\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60), then how long\n"
	  "                       a step may stall before a warning names it (0: never)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n"
	  "  --remount            a mounted target: mount the new tree now (not for /)\n" },
	{ "recover", cmd_recover, "TARGET",
	  "finish or undo an interrupted transaction (apply does this first by itself)",
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n" },
	{ "gc", cmd_gc, "TARGET [--keep N] [--release N]",
	  "drop old generations (default: keep 5); never a pinned or mounted one",
	  "  --keep N             generations to keep (0 to 100)\n"
	  "  --release N          first release the pin of generation N (it holds writes of\n"
	  "                       other processes, see CONCURRENT WRITERS in btrfs-txn(8))\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n" },
	{ "init", cmd_init, "PATH",
	  "make PATH a managed subvolume (a plain directory is converted atomically)", NULL },
	{ "probe", cmd_probe, "PATH",
	  "what this kernel and filesystem support (Btrfs, subvolume, RENAME_EXCHANGE, TRANS ioctls)",
	  NULL },
	{ "help", cmd_help, "[COMMAND]", "show help for a command", NULL },
};

static const char common_options[] =
	"Common options:\n"
	"  --json          print one JSON document on stdout\n"
	"  -q, --quiet     print errors only\n"
	"  -v, --verbose   say more about each step\n"
	"  -h, --help      show this help\n";

const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void command_usage(FILE *out, const struct command *command)
{
	fprintf(out, "Usage: btrfs-txn %s %s\n%s.\n", command->name, command->synopsis,
		command->summary);
	if (command->options)
		fprintf(out, "\n%s", command->options);
	fprintf(out, "\n%s", common_options);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: btrfs-txn COMMAND [OPTIONS] [ARGS]\n"
		"Apply multi-file changes to a Btrfs subvolume atomically.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n%s\n'btrfs-txn help COMMAND' shows a command's options.\n"
		     "Exit status: 0 done, 1 aborted (target unchanged), 2 invalid usage or spec,\n"
		     "3 locked, 4 unsupported here, 5 recovery needs a person.\n",
		common_options);
}

bool cli_common_option(const struct command *command, int option, int *ret_exit)
{
	*ret_exit = -1;
	switch (option) {
	case OPT_JSON:
		cli.json = true;
		return true;
	case OPT_QUIET:
		cli.quiet = true;
		return true;
	case OPT_VERBOSE:
		cli.verbose++;
		return true;
	case OPT_HELP:
		command_usage(stdout, command);
		*ret_exit = EXIT_DONE;
		return true;
	case '?':
	case ':':
		/* getopt already named the option; say where to look. */
		report_error("%s: see 'btrfs-txn help %s'", command->name, command->name);
		*ret_exit = EXIT_USAGE;
		return true;
	}
	return false;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return EXIT_DONE;
	}
	const struct command *command = command_find(argv[1]);
	if (!command) {
		report_error("help: unknown command '%s'", argv[1]);
		return EXIT_USAGE;
	}
	command_usage(stdout, command);
	return EXIT_DONE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return EXIT_DONE;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("btrfs-txn %s\n", BTRFS_TXN_VERSION);
		return EXIT_DONE;
	}
	const struct command *command = command_find(argv[1]);
	if (!command) {
		report_error("unknown command '%s'; see 'btrfs-txn --help'", argv[1]);
		return EXIT_USAGE;
	}
	return command->run(argc - 1, argv + 1);
}
