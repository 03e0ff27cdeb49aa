/* SPDX-License-Identifier: MIT */
/* engine.c: glue between the commands and libbtrfs-txn (see engine.h). */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int exit_for_status(enum txn_status status)
{
	switch (status) {
	case TXN_OK:
		return EXIT_DONE;
	case TXN_ABORTED:
		return EXIT_ABORTED;
	case TXN_INVALID:
		return EXIT_USAGE;
	case TXN_LOCKED:
		return EXIT_LOCKED;
	case TXN_UNSUPPORTED:
		return EXIT_UNSUPPORTED;
	case TXN_NEEDS_PERSON:
		return EXIT_NEEDS_PERSON;
	}
	return EXIT_NEEDS_PERSON;
}

int report_txn_error(const char *command, const struct txn_error *error, json_t *doc)
{
	char text[2048];
	txn_error_string(error, text, sizeof(text));
	progress_end();
	report_error("%s: %s", command, text);
	int code = exit_for_status(error->status);
	outcome_failed(code, text);
	if (cli.json && doc) {
		/* The same escaped line as on stderr: a name from T may not be UTF-8. */
		_cleanup_free_ char *shown = txn_escape_text(text, strlen(text));
		json_object_set_new(doc, "error", json_string(shown ? shown : text));
		json_object_set_new(doc, "exit", json_integer(code));
		json_print(doc);
	} else if (doc) {
		json_decref(doc);
	}
	return code;
}

static void on_interrupt(int signo)
{
	txn_interrupted = signo;
}

void install_interrupt_handlers(void)
{
	/* SA_RESTART: a signal must not turn a sync after the commit point into EINTR. */
	struct sigaction sa = { .sa_handler = on_interrupt, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

bool parse_unsigned(const char *text, unsigned long long max, unsigned long long *ret)
{
	char *end;
	if (!text || !*text || *text == '-' || *text == '+')
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end || v > max)
		return false;
	*ret = v;
	return true;
}

bool engine_option(int option, const char *arg, const char *command,
		   struct txn_options *options, int *ret_exit)
{
	*ret_exit = -1;
	switch (option) {
	case OPT_TIMEOUT: {
		char *end;
		errno = 0;
		double v = strtod(arg, &end);
		if (errno || *end || !*arg || !isfinite(v) || v < 0 || v > 86400) {
			report_error("%s: --timeout: expected seconds from 0 to 86400, got '%s'", command, arg);
			*ret_exit = EXIT_USAGE;
		} else {
			options->lock_timeout = v;
			/* --timeout 0: do not wait for the lock (the engine reads 0 as its
			 * default); lock_timeout 0 still turns the watchdog off. */
			if (v == 0)
				options->no_wait = true;
		}
		return true;
	}
	case OPT_NO_WAIT:
		options->no_wait = true;
		return true;
	case OPT_REMOUNT:
		/* Only the commands that switch a tree. */
		if (strcmp(command, "apply") && strcmp(command, "run") && strcmp(command, "rollback")) {
			report_error("%s: --remount: only apply, run and rollback switch a mounted target",
				     command);
			*ret_exit = EXIT_USAGE;
		}
		options->remount = true;
		return true;
	}
	return false;
}

void json_print(json_t *doc)
{
	/* "command" first, then the format version, then the command's own keys. */
	json_t *out = json_object();
	json_t *command = json_object_get(doc, "command");
	if (out && command)
		json_object_set(out, "command", command);
	if (out)
		json_object_set_new(out, "format_version", json_integer(JSON_FORMAT_VERSION));
	if (out && json_object_update(out, doc) == 0) {
		json_decref(doc);
		doc = out;
	} else {
		json_decref(out);
	}
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
}

json_t *json_time(int64_t sec, long nsec)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char text[64];
	if (!gmtime_r(&t, &tm))
		return json_null();
	size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	if (nsec >= 0)
		snprintf(text + n, sizeof(text) - n, ".%06ldZ", nsec / 1000);
	else
		snprintf(text + n, sizeof(text) - n, "Z");
	return json_string(text);
}

json_t *timing_json(const struct txn_timing *t)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
			 "lock", t->lock, "recover", t->recover, "preconditions", t->preconditions,
			 "journal", t->journal, "snapshot", t->snapshot, "ops", t->ops, "verify",
			 t->verify, "flush", t->flush, "check", t->check, "swap", t->swap, "sync",
			 t->sync, "archive", t->archive, "check_after", t->check_after, "total",
			 t->total);
}

int parse_one_arg(int argc, char **argv, const struct command *self, const struct option *extra,
		  bool (*handle)(int option, const char *arg, void *ctx, int *ret_exit), void *ctx,
		  struct txn_options *options, const char **ret_arg)
{
	struct option longopts[16] = { ENGINE_LONG_OPTIONS, CLI_COMMON_LONG };
	size_t n = 7; /* ENGINE_LONG_OPTIONS and CLI_COMMON_LONG */
	for (; extra && extra->name && n < 15; extra++)
		longopts[n++] = *extra;
	options->lock_timeout = -1;
	int c, code;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		if (cli_common_option(self, c, &code) ||
		    engine_option(c, optarg, self->name, options, &code) ||
		    (handle && handle(c, optarg, ctx, &code))) {
			if (code >= 0)
				return code;
			continue;
		}
	}
	if (optind != argc - 1) {
		report_error("%s: expected one argument, %s; see 'btrfs-txn help %s'", self->name,
			     self->synopsis, self->name);
		return EXIT_USAGE;
	}
	*ret_arg = argv[optind];
	return -1;
}

/* A mounted target (`/`, a subvol= mount): where its switch stands. */
static void report_switch(const char *command, const char *target, const struct txn_result *result,
			  json_t *doc)
{
	if (!result->switch_pending && !result->remounted && !result->remount_errno)
		return;
	if (doc)
		json_object_set_new(doc, "switch",
				    json_pack("{s:b, s:s, s:b, s:I}", "pending", result->switch_pending, "by",
					      result->default_moved ? "name and default subvolume" : "name",
					      "remounted", result->remounted, "running_generation",
					      (json_int_t)result->running_generation));
	if (result->remount_errno)
		report_error("%s: %s: --remount: the new tree cannot be mounted now: %s", command, target,
			     strerror(result->remount_errno));
	/* Never silenced by -q: the running system does not show the change yet. */
	if (result->switch_pending)
		report_error("%s: %s: switch pending until the next mount: the subvolume's name at the "
			     "top level%s now holds generation %llu; until then the mount shows the "
			     "tree kept as gen-%llu, and what is written there meanwhile stays there",
			     command, target, result->default_moved ? " and the default subvolume" : "",
			     (unsigned long long)result->generation,
			     (unsigned long long)result->running_generation);
	else if (result->remounted)
		report_info("%s: remounted: the mount shows generation %llu", target,
			    (unsigned long long)result->generation);
}

void report_concurrent(const char *command, const char *target, struct txn_result *result,
		       json_t *doc)
{
	report_switch(command, target, result, doc);
	const struct txn_concurrent *c = result->concurrent;
	if (doc) {
		json_t *paths = json_array();
		_cleanup_json_ json_t *writers = json_array();
		bool escaped = false;
		for (size_t i = 0; c && i < c->n_paths; i++)
			json_array_append_new(paths, txn_json_name(c->paths[i], &escaped));
		for (size_t i = 0; c && i < c->n_holders; i++) {
			json_array_append_new(paths, txn_json_name(c->holders[i].path, &escaped));
			json_array_append_new(writers,
					      json_pack("{s:i, s:o, s:s, s:o}", "pid", c->holders[i].pid,
							"command",
							txn_json_name(c->holders[i].command, NULL),
							"what", c->holders[i].what, "path",
							txn_json_name(c->holders[i].path, NULL)));
		}
		json_object_set_new(doc, "concurrent_writes", paths);
		if (escaped)
			json_object_set_new(doc, "concurrent_writes_escaped", json_true());
		json_object_set_new(doc, "concurrent_since",
				    json_time(result->concurrent_since.tv_sec,
					      result->concurrent_since.tv_nsec));
		if (c) {
			json_object_set_new(doc, "concurrent_writers", TAKE_PTR(writers));
			json_object_set_new(doc, "concurrent_count", json_integer((json_int_t)c->count));
			json_object_set_new(doc, "pinned_generation", json_integer((json_int_t)c->pinned));
		}
	}
	if (!c)
		return;
	/* One line, never silenced by -q: these writes are not in the live tree. */
	char paths[1024] = "";
	size_t used = 0;
	for (size_t i = 0; i < c->n_paths && used < sizeof(paths) - 1; i++)
		used += (size_t)snprintf(paths + used, sizeof(paths) - used, "%s'%s'", i ? ", " : "",
					 c->paths[i]);
	if (c->count > c->n_paths && used < sizeof(paths) - 1)
		snprintf(paths + used, sizeof(paths) - used, ", ...");
	char writers[1024] = "";
	used = 0;
	for (size_t i = 0; i < c->n_holders && used < sizeof(writers) - 1; i++)
		used += (size_t)snprintf(writers + used, sizeof(writers) - used,
					 "%s%s pid %d (%s) on '%s'", i ? ", " : "; still open for writing there: ",
					 c->holders[i].what, c->holders[i].pid, c->holders[i].command,
					 c->holders[i].path);
	report_error("%s: %s: other processes wrote during the transaction and the new tree does "
		     "not hold it: %zu changed file%s%s%s%s%s; gen-%llu holds them and is pinned until "
		     "'btrfs-txn gc %s --release %llu'",
		     command, target, c->count, c->count == 1 ? "" : "s", c->n_paths ? " (" : "",
		     paths, c->n_paths ? ")" : "", writers, (unsigned long long)c->pinned, target,
		     (unsigned long long)c->pinned);
}
