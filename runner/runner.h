/* SPDX-License-Identifier: MIT */
/*
 * runner.h: what the command files of btrfs-txn share: exit codes, the command
 * table, common options and reporting.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit status, as in the design contract (docs/btrfs-txn.8, EXIT STATUS). */
enum exit_code {
	EXIT_DONE = 0,         /* done, or nothing to do */
	EXIT_ABORTED = 1,      /* transaction aborted, target unchanged */
	EXIT_USAGE = 2,        /* invalid usage or spec, nothing touched */
	EXIT_LOCKED = 3,       /* target locked by another run */
	EXIT_UNSUPPORTED = 4,  /* not Btrfs, not a subvolume, no privilege, no TRANS ioctls */
	EXIT_NEEDS_PERSON = 5, /* recovery could not reach a consistent state */
};

struct command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *synopsis;              /* arguments after the name */
	const char *summary;               /* one line */
	const char *options;               /* option lines for `help COMMAND`, may be NULL */
};

/* Options every command takes. */
struct cli_options {
	bool json;
	bool quiet;
	int verbose;
};
extern struct cli_options cli;

const struct command *command_find(const char *name);
void command_usage(FILE *out, const struct command *command);

/*
 * Long option ids for the common options, and the table entries to put in every
 * command's getopt_long table. cli_common_option() handles one of them and returns
 * true, or returns false for an option the command must handle itself.
 */
enum {
	OPT_JSON = 0x100,
	OPT_HELP = 'h',
	OPT_QUIET = 'q',
	OPT_VERBOSE = 'v',
	OPT_VERSION = 'V',
	OPT_COMMAND_BASE = 0x200, /* commands number their own long options from here */
};
#define CLI_COMMON_SHORT "hqvV"
#define CLI_COMMON_LONG                                   \
	{ "json", no_argument, NULL, OPT_JSON },          \
	{ "help", no_argument, NULL, OPT_HELP },          \
	{ "quiet", no_argument, NULL, OPT_QUIET },        \
	{ "verbose", no_argument, NULL, OPT_VERBOSE },    \
	{ "version", no_argument, NULL, OPT_VERSION }

/*
 * Handles a common option. For --help it prints the command's usage and sets
 * *ret_exit to EXIT_DONE; for an unknown option ('?') it sets EXIT_USAGE.
 * Return: true when the option was handled (stop if *ret_exit >= 0).
 */
bool cli_common_option(const struct command *command, int option, int *ret_exit);

/* Reporting: errors always go to stderr, one line each, prefixed "btrfs-txn: ". */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress and notes: stderr when --json, stdout otherwise; silent with -q. */
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only with -v. */
void report_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Commands, one file each (cmd_NAME.c). */
int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_list(int argc, char **argv);

