/* SPDX-License-Identifier: MIT */
/*
 * engine.h: what the commands that call the engine share: exit status from an
 * engine error, signal handling, the lock options, and JSON output.
 */
#pragma once

#include <jansson.h>

#include "runner.h"
#include "runner_cleanup.h"
#include "txn.h"

/* A result's report of concurrent writers is the caller's to free: a result declared
 * _cleanup_result_ (and zeroed, which a failed call leaves it) frees it at the end. */
static inline void txn_result_freep(struct txn_result *result)
{
	free(result->concurrent);
	result->concurrent = NULL;
}
#define _cleanup_result_ __attribute__((cleanup(txn_result_freep)))

/* The exit status for an engine failure. */
int exit_for_status(enum txn_status status);

/* Reports @error once, "btrfs-txn: COMMAND: message: strerror", and returns its exit
 * status; with --json, @doc (may be NULL) gets "error" and "exit" and is printed. */
int report_txn_error(const char *command, const struct txn_error *error, json_t *doc);

/* SIGINT, SIGTERM and SIGHUP set txn_interrupted instead of killing the process,
 * so the engine can abort cleanly before the commit point and finish after it. */
void install_interrupt_handlers(void);

/* Options shared by the commands that take the lock. */
#define ENGINE_LONG_OPTIONS                                               \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },              \
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },                    \
	{ "remount", no_argument, NULL, OPT_REMOUNT }
enum { OPT_TIMEOUT = 0x180, OPT_NO_WAIT, OPT_REMOUNT };

/* Handles --timeout, --no-wait and --remount (apply, run, rollback only) into
 * @options; false for other options.
 * *ret_exit is set to EXIT_USAGE on a bad value. */
bool engine_option(int option, const char *arg, const char *command,
		   struct txn_options *options, int *ret_exit);

/* Parses a non-negative integer argument; false when it is not one. */
bool parse_unsigned(const char *text, unsigned long long max, unsigned long long *ret);

/* The version of the --json document format (docs/json.md): every document carries
 * it as "format_version", right after "command". */
#define JSON_FORMAT_VERSION 2

/* Prints @doc on stdout (indented, one document) and releases it. */
void json_print(json_t *doc);
/* A moment as ISO 8601 UTC, "2026-01-31T12:00:00Z"; with @nsec >= 0 the seconds
 * carry six decimals (microseconds). Returns a new JSON string (NULL on ENOMEM). */
json_t *json_time(int64_t sec, long nsec);
json_t *timing_json(const struct txn_timing *timing);
/* Writes by other processes that the new tree does not hold: "concurrent_writes"
 * (always, [] when none) and friends into @doc, one line on stderr when any. */
void report_concurrent(const char *command, const char *target, struct txn_result *result,
		       json_t *doc);

/*
 * Parses a command of the form `NAME [OPTIONS] ARG`: the common options, --timeout
 * and --no-wait, up to one command-specific option in @extra (handled by @handle),
 * and exactly one positional argument returned in *ret_arg.
 * Return: -1 to go on, or the exit status to return now.
 */
int parse_one_arg(int argc, char **argv, const struct command *self, const struct option *extra,
		  bool (*handle)(int option, const char *arg, void *ctx, int *ret_exit), void *ctx,
		  struct txn_options *options, const char **ret_arg);

/* The keep btrfs-txn.conf gives @target (its section's, else [defaults]) into *@keep
 * when it is 0 (no --keep, no spec keep); *@keep stays 0 when the file says nothing.
 * Return: -1 to go on, or the exit status after reporting a broken configuration. */
int config_keep_default(const char *command, const char *target, unsigned *keep);

/* One line per transaction to the system log, and -v's step times (outcome.c).
 * outcome_begin() before the engine changes @target (@command: a literal); then
 * outcome_committed() (@result e.g. "committed", "rolled-forward"; @timing may be
 * NULL), or report_txn_error() calls outcome_failed(). */
void outcome_begin(const char *command, const char *target);
void outcome_committed(const char *result, const char *txid, unsigned long long generation,
		       unsigned long long previous, const struct txn_timing *timing);
void outcome_failed(int exit_code, const char *text);

/* Progress on a terminal (progress.c): sets @options->progress when stderr is a TTY
 * and -q was not given; progress_end() closes a line left open by an abort. */
void progress_attach(struct txn_options *options);
void progress_end(void);
