/* SPDX-License-Identifier: MIT */
/*
 * main.c: the btrfs-txn command table and dispatch. Each command lives in its own
 * file (cmd_NAME.c) and receives argv starting at its own name.
 */
#include "runner.h"

#include <string.h>

/* The running command's argv, for the one-line getopt errors (opterr is off). */
static char **command_argv;

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
	{ "gc", cmd_gc, "TARGET [--keep N] [--hourly N] [--daily N] [--weekly N] [--min-free PCT] [--release N]",
	  "drop old generations (default: keep 5); never a pinned or mounted one",
	  "  --keep N             generations to keep (0 to 100)\n"
	  "  --hourly N, --daily N, --weekly N\n"
	  "                       besides the newest N, keep the newest generation of each of\n"
	  "                       the last N hours, days, weeks (UTC) that have one\n"
	  "  --min-free PCT       then drop the oldest left while the filesystem has less than\n"
	  "                       PCT% free (never the newest; waits for Btrfs to free each)\n"
	  "  Unset, these come from btrfs-txn.conf; a pre/post pair is kept or dropped whole.\n"
	  "  --release N          first release the pin of generation N (it holds writes of\n"
	  "                       other processes, see CONCURRENT WRITERS in btrfs-txn(8))\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n" },
	{ "init", cmd_init, "PATH",
	  "make PATH a managed subvolume (a plain directory is converted atomically)", NULL },
	{ "probe", cmd_probe, "PATH",
	  "what this kernel and filesystem support (Btrfs, subvolume, RENAME_EXCHANGE, TRANS ioctls)",
	  NULL },
	{ "send", cmd_send, "TARGET [--generation N] [--parent N | --no-parent] [-f FILE]",
	  "write a Btrfs send stream of a generation (default: the live tree) to FILE or stdout",
	  "  --generation N       a kept generation instead of the live tree\n"
	  "  --parent N           incremental against sent generation N (default: the newest\n"
	  "                       sent one older than the one sent)\n"
	  "  --no-parent          a full stream\n"
	  "  -f, --file FILE      write to FILE (standard output must not be a terminal)\n"
	  "  --keep N             sent snapshots to keep (default 5; the newest always)\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n" },
	{ "receive", cmd_receive, "TARGET [-f FILE] [--force] [--verify -- ARGV...]",
	  "land a Btrfs send stream on TARGET atomically (created when absent)",
	  "  -f, --file FILE      read the stream from FILE (default: standard input)\n"
	  "  --force              replace a tree of another lineage, or one changed locally\n"
	  "                       since its last receive (what is discarded is listed)\n"
	  "  --verify -- ARGV...  run ARGV on the staging tree ({staging}); non-zero aborts\n"
	  "  --verify-timeout S   seconds the verify command may take (default 60)\n"
	  "  --keep N             generations and received subvolumes to keep (default 5)\n"
	  "  --timeout SECONDS    how long to wait for the lock (default 60)\n"
	  "  --no-wait            exit 3 at once when the target is locked\n" },
	{ "push", cmd_push, "TARGET DEST... [--parent auto|none] [--parallel N] [--verify -- ARGV...]",
	  "send TARGET to each DEST (a path or ssh://[user@]host[:port]/path) and swap it in there",
	  "  --parent auto|none   incremental against the newest generation both hold (auto,\n"
	  "                       the default), or always a full stream\n"
	  "  --parallel N         destinations at once (default 1)\n"
	  "  --force              passed to receive: replace another lineage or a drifted tree\n"
	  "  --verify -- ARGV...  passed to receive: run on each destination's staging tree\n"
	  "  --remote-command CMD btrfs-txn on ssh destinations (default: btrfs-txn)\n"
	  "  --ssh-option OPT     passed to ssh as -o OPT (repeatable); BatchMode=yes always\n"
	  "  --forget             only forget the DESTs: the sent snapshots kept as their\n"
	  "                       parents may then be dropped\n" },
	{ "config", cmd_config, "[--targets apt|pacman|recover] [--strict-hooks]",
	  "what btrfs-txn.conf (and the old list files) say, checked",
	  "  --targets HOOK       only the targets HOOK acts on (apt, pacman, recover; all: every\n"
	  "                       target the file names), one a line\n"
	  "  --strict-hooks       print yes or no: may a hook fail the package operation\n"
	  "  The file is $BTRFS_TXN_CONF_DIR/btrfs-txn.conf (default /etc/btrfs-txn);\n"
	  "  see btrfs-txn.conf(5).\n" },
	{ "list", cmd_list, "",
	  "every managed target on this host (btrfs-txn.conf and mounted Btrfs), its generation "
	  "and last transaction",
	  NULL },
	{ "help", cmd_help, "[COMMAND]", "show help for a command", NULL },
};

static const char common_options[] =
	"Common options:\n"
	"  --json          print one JSON document on stdout\n"
	"  -q, --quiet     print errors only\n"
	"  -v, --verbose   say more: apply, run and rollback print the time of each step,\n"
	"                  diff its counts; the other commands print nothing more\n"
	"  -h, --help      show this help\n"
	"  -V, --version   print the version and exit\n"
	"These may also come before COMMAND: btrfs-txn --json status TARGET.\n";

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
		"Usage: btrfs-txn [COMMON OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
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
	case OPT_VERSION:
		printf("btrfs-txn %s\n", BTRFS_TXN_VERSION);
		*ret_exit = EXIT_DONE;
		return true;
	case '?':
	case ':': {
		/* opterr is off (main): the option is named here, on the one line that
		 * starts "btrfs-txn: COMMAND:" like every other error. */
		const char *arg = command_argv && optind > 0 ? command_argv[optind - 1] : "";
		char what[256];
		if (optopt > 0 && optopt < 0x100 && strncmp(arg, "--", 2) != 0)
			snprintf(what, sizeof(what), "unknown option '-%c'", optopt);
		else if (optopt == 0)
			snprintf(what, sizeof(what), "unknown or ambiguous option '%s'", arg);
		else if (strchr(arg, '='))
			snprintf(what, sizeof(what), "option '%.*s' takes no value", (int)strcspn(arg, "="),
				 arg);
		else
			snprintf(what, sizeof(what), "option '%s' needs a value", arg);
		report_error("%s: %s; see 'btrfs-txn help %s'", command->name, what, command->name);
		*ret_exit = EXIT_USAGE;
		return true;
	}
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

/*
 * The common options may come before COMMAND (btrfs-txn --json status T), as
 * completion offers them; --help and --version there answer at once.
 * Return: the index of COMMAND in @argv, or -(exit status + 1) to stop now.
 */
static int parse_leading_options(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return -(EXIT_DONE + 1);
		}
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
			printf("btrfs-txn %s\n", BTRFS_TXN_VERSION);
			return -(EXIT_DONE + 1);
		}
		if (strcmp(arg, "--json") == 0)
			cli.json = true;
		else if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0)
			cli.quiet = true;
		else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0)
			cli.verbose++;
		else {
			report_error("unknown option '%s' before the command; see 'btrfs-txn --help'", arg);
			return -(EXIT_USAGE + 1);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return -(EXIT_USAGE + 1);
	}
	return i;
}

int main(int argc, char **argv)
{
	int first = parse_leading_options(argc, argv);
	if (first < 0)
		return -first - 1;
	const struct command *command = command_find(argv[first]);
	if (!command) {
		report_error("unknown command '%s'; see 'btrfs-txn --help'", argv[first]);
		return EXIT_USAGE;
	}
	opterr = 0;
	command_argv = argv + first;
	return command->run(argc - first, argv + first);
}
