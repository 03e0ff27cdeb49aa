/* SPDX-License-Identifier: MIT */
/*
 * cmd_send.c: `send TARGET [--generation N] [--parent N | --no-parent] [-f FILE]`,
 * a Btrfs send stream of a generation to FILE or standard output (never a terminal).
 * The engine (txn/send.c) keeps the sent snapshot and makes the stream.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

enum { OPT_GENERATION = OPT_COMMAND_BASE, OPT_PARENT, OPT_NO_PARENT, OPT_FILE, OPT_KEEP };

struct send_args {
	struct txn_send_options send;
	bool parent_given, no_parent;
	const char *file;
	unsigned keep;
};

static bool handle(int option, const char *arg, void *ctx, int *ret_exit)
{
	struct send_args *a = ctx;
	unsigned long long v;
	*ret_exit = -1;
	switch (option) {
	case OPT_GENERATION:
	case OPT_PARENT:
		if (!parse_unsigned(arg, UINT64_MAX - 2, &v)) {
			report_error("send: --%s: expected a generation number, got '%s'",
				     option == OPT_GENERATION ? "generation" : "parent", arg);
			*ret_exit = EXIT_USAGE;
		} else if (option == OPT_GENERATION) {
			a->send.generation = v;
		} else {
			a->send.parent = v;
			a->parent_given = true;
		}
		return true;
	case OPT_NO_PARENT:
		a->no_parent = true;
		a->send.parent = TXN_SEND_NO_PARENT;
		return true;
	case 'f':
	case OPT_FILE:
		a->file = arg;
		return true;
	case OPT_KEEP:
		if (!parse_unsigned(arg, TXN_KEEP_MAX, &v) || v == 0) {
			report_error("send: --keep: expected a number from 1 to %u, got '%s'", TXN_KEEP_MAX, arg);
			*ret_exit = EXIT_USAGE;
		} else {
			a->keep = (unsigned)v;
		}
		return true;
	}
	return false;
}

int cmd_send(int argc, char **argv)
{
	static const struct option extra[] = {
		{ "generation", required_argument, NULL, OPT_GENERATION },
		{ "parent", required_argument, NULL, OPT_PARENT },
		{ "no-parent", no_argument, NULL, OPT_NO_PARENT },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ 0 }
	};
	const struct command *self = command_find("send");
	struct txn_options options = { .command = "btrfs-txn send" };
	struct send_args a = { .send = { .generation = TXN_GENERATION_LIVE,
					 .parent = TXN_SEND_PARENT_AUTO } };
	/* -f FILE as well as --file FILE: rewrite the short form for parse_one_arg. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-f"))
			argv[i] = (char *)"--file";
	}
	const char *target;
	int code = parse_one_arg(argc, argv, self, extra, handle, &a, &options, &target);
	if (code >= 0)
		return code;
	if (a.parent_given && a.no_parent) {
		report_error("send: --parent and --no-parent exclude each other");
		return EXIT_USAGE;
	}
	options.keep = a.keep;
	int out_fd = STDOUT_FILENO;
	if (a.file) {
		out_fd = open(a.file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out_fd < 0) {
			report_error("send: cannot open '%s' for writing: %s", a.file, strerror(errno));
			return EXIT_USAGE;
		}
	} else if (isatty(STDOUT_FILENO)) {
		report_error("send: refusing to write a binary stream to a terminal: redirect standard "
			     "output, or give -f FILE");
		return EXIT_USAGE;
	} else if (cli.json) {
		report_error("send: --json needs -f FILE (standard output carries the stream)");
		return EXIT_USAGE;
	}
	/* A reader that went away (a broken pipe) is an error of the send, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	install_interrupt_handlers();
	struct txn_send_result result;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "send", "target", target) : NULL;
	int r = txn_send(target, &a.send, out_fd, &options, &result, &error);
	if (a.file && r == 0 && fsync(out_fd) < 0) {
		error = (struct txn_error){ .status = TXN_ABORTED, .errnum = errno };
		snprintf(error.message, sizeof(error.message), "cannot write '%s'", a.file);
		r = -1;
	}
	if (a.file)
		close(out_fd);
	if (r < 0) {
		if (a.file)
			unlink(a.file);
		return report_txn_error("send", &error, doc);
	}
	if (doc) {
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "incremental", json_boolean(result.incremental));
		json_object_set_new(doc, "parent", result.incremental
							   ? json_integer((json_int_t)result.parent)
							   : json_null());
		json_object_set_new(doc, "snapshot", json_string(result.snapshot));
		json_object_set_new(doc, "uuid", json_string(result.uuid));
		json_object_set_new(doc, "lineage", json_string(result.lineage));
		json_object_set_new(doc, "file", json_string(a.file));
		json_print(doc);
		return EXIT_DONE;
	}
	/* Standard output may be the stream: notes go to standard error. */
	if (!cli.quiet) {
		if (result.incremental)
			fprintf(stderr, "btrfs-txn: send: %s: generation %llu, incremental against "
					"generation %llu\n", target, (unsigned long long)result.generation,
				(unsigned long long)result.parent);
		else
			fprintf(stderr, "btrfs-txn: send: %s: generation %llu, full stream\n", target,
				(unsigned long long)result.generation);
	}
	return EXIT_DONE;
}
