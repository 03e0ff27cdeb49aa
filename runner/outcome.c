/* SPDX-License-Identifier: MIT */
/*
 * outcome.c: the end of each transaction, for the people who run it and for the
 * host. One line per transaction goes to the system log (syslog(3), ident
 * "btrfs-txn"; where journald serves /dev/log, `journalctl -t btrfs-txn` shows the
 * history of the host), and with -v the time of each step goes to stderr.
 *
 * The engine never prints or logs: the commands that change a target call
 * outcome_begin() before they hand it to the engine, then outcome_committed() on
 * success; report_txn_error() calls outcome_failed(). Commands that change nothing
 * (status, plan, diff...) never begin one, so they never log.
 *
 * The line is key=value after a short verdict, so a person can read it and a script
 * can split it: "apply committed: target=/srv/conf txid=... generation=4 previous=3".
 * The target is printed escaped (txn_escape_text), as on stderr.
 */
#include "engine.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* A copy of the target: a command may free its spec (and the path in it) before it
 * reports the error. */
static struct {
	const char *command;
	char target[PATH_MAX];
} current;

static void log_line(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(int priority, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int len = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	char *shown = txn_escape_text(text, (size_t)len);
	/* LOG_NDELAY: connect now, so a failure to log is never a surprise later. */
	openlog("btrfs-txn", LOG_PID | LOG_NDELAY, LOG_USER);
	syslog(priority, "%s", shown ? shown : text);
	closelog();
	free(shown);
	free(text);
}

void outcome_begin(const char *command, const char *target)
{
	current.command = command;
	snprintf(current.target, sizeof(current.target), "%s", target);
}

void outcome_committed(const char *result, const char *txid, unsigned long long generation,
		       unsigned long long previous, const struct txn_timing *timing)
{
	if (current.command) {
		char previous_text[40] = "";
		if (previous != generation)
			snprintf(previous_text, sizeof(previous_text), " previous=%llu", previous);
		log_line(LOG_INFO, "%s %s: target=%s txid=%s generation=%llu%s", current.command,
			 result, current.target, txid && *txid ? txid : "-", generation,
			 previous_text);
		current.command = NULL;
	}
	if (!timing)
		return;
	report_verbose("time per step (s): lock %.3f, recover %.3f, preconditions %.3f, "
		       "journal %.3f, snapshot %.3f, ops %.3f, verify %.3f, flush %.3f, check %.3f, "
		       "swap %.3f, sync %.3f, archive %.3f, check after %.3f; total %.3f",
		       timing->lock, timing->recover, timing->preconditions, timing->journal,
		       timing->snapshot, timing->ops, timing->verify, timing->flush, timing->check,
		       timing->swap, timing->sync, timing->archive, timing->check_after,
		       timing->total);
}

void outcome_failed(int exit_code, const char *text)
{
	if (!current.command)
		return;
	log_line(exit_code == EXIT_ABORTED ? LOG_WARNING : LOG_ERR,
		 "%s %s: target=%s exit=%d: %s", current.command,
		 exit_code == EXIT_ABORTED ? "aborted, target unchanged" : "failed",
		 current.target, exit_code, text);
	current.command = NULL;
}
