/* SPDX-License-Identifier: MIT */
/*
 * cmd_receive.c: `receive TARGET [-f FILE] [--keep N] [--verify -- ARGV...] [--force]
 * [--timeout S] [--no-wait]`, a Btrfs send stream landed with the commit protocol of
 * apply (txn/receive.c). Refusals (a parent not held here, another lineage, a tree
 * changed since its last receive) exit 1 with the target unchanged; for drift the
 * changes that --force would discard are listed first, one per line.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

enum { OPT_FILE = OPT_COMMAND_BASE, OPT_KEEP, OPT_VERIFY, OPT_FORCE, OPT_VERIFY_TIMEOUT };

static void discarded(const char *what, void *ctx)
{
	json_t *list = ctx;
	if (list)
		json_array_append_new(list, json_string(what));
	else
		fprintf(stderr, "btrfs-txn: receive: would discard: %s\n", what);
}

int cmd_receive(int argc, char **argv)
{
	const struct command *self = command_find("receive");
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, OPT_FILE },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "verify-timeout", required_argument, NULL, OPT_VERIFY_TIMEOUT },
		{ "force", no_argument, NULL, OPT_FORCE },
		ENGINE_LONG_OPTIONS,
		CLI_COMMON_LONG,
		{ 0 },
	};
	struct txn_options options = { .lock_timeout = -1, .command = "btrfs-txn receive" };
	struct txn_receive_options ro = { .in_fd = STDIN_FILENO };
	const char *file = NULL, *target = NULL;
	bool verify = false;
	unsigned long long v;
	int c, code;
	for (;;) {
		c = getopt_long(argc, argv, "+f:" CLI_COMMON_SHORT, longopts, NULL);
		if (c == -1) {
			/* A non-option: TARGET, then options may follow it. */
			if (optind < argc && strcmp(argv[optind - 1], "--") != 0 && !target) {
				target = argv[optind++];
				continue;
			}
			break;
		}
		if (cli_common_option(self, c, &code) ||
		    engine_option(c, optarg, self->name, &options, &code)) {
			if (code >= 0)
				return code;
			continue;
		}
		switch (c) {
		case 'f':
		case OPT_FILE:
			file = optarg;
			break;
		case OPT_KEEP:
			if (!parse_unsigned(optarg, TXN_KEEP_MAX, &v) || v == 0) {
				report_error("receive: --keep: expected a number from 1 to %u, got '%s'",
					     TXN_KEEP_MAX, optarg);
				return EXIT_USAGE;
			}
			options.keep = (unsigned)v;
			break;
		case OPT_VERIFY_TIMEOUT:
			if (!parse_unsigned(optarg, 86400, &v) || v == 0) {
				report_error("receive: --verify-timeout: expected seconds from 1 to 86400, "
					     "got '%s'", optarg);
				return EXIT_USAGE;
			}
			ro.verify.timeout_seconds = (unsigned)v;
			break;
		case OPT_VERIFY:
			verify = true;
			break;
		case OPT_FORCE:
			ro.force = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (!target) {
		report_error("receive: expected TARGET; see 'btrfs-txn help receive'");
		return EXIT_USAGE;
	}
	if (optind < argc && !verify) {
		report_error("receive: unexpected '%s' (a verify command goes after --verify --); see "
			     "'btrfs-txn help receive'", argv[optind]);
		return EXIT_USAGE;
	}
	if (verify) {
		if (optind >= argc) {
			report_error("receive: --verify needs a command after '--'; see 'btrfs-txn help "
				     "receive'");
			return EXIT_USAGE;
		}
		ro.verify.argv = argv + optind;
		ro.verify.argc = (size_t)(argc - optind);
	}
	int in_fd = -1;
	if (file) {
		in_fd = open(file, O_RDONLY | O_CLOEXEC);
		if (in_fd < 0) {
			report_error("receive: cannot open '%s': %s", file, strerror(errno));
			return EXIT_USAGE;
		}
		ro.in_fd = in_fd;
	} else if (isatty(STDIN_FILENO)) {
		report_error("receive: refusing to read a stream from a terminal: redirect standard "
			     "input, or give -f FILE");
		return EXIT_USAGE;
	}
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "receive", "target", target) : NULL;
	json_t *lost = doc ? json_array() : NULL;
	ro.discarded = discarded;
	ro.discarded_ctx = lost;
	install_interrupt_handlers();
	struct txn_receive_result result;
	struct txn_error error = { 0 };
	int r = txn_receive(target, &ro, &options, &result, &error);
	if (in_fd >= 0)
		close(in_fd);
	if (doc && json_array_size(lost))
		json_object_set(doc, "would_discard", lost);
	json_decref(lost);
	if (r < 0)
		return report_txn_error("receive", &error, doc);
	if (doc) {
		json_object_set_new(doc, "txid", json_string(result.txn.txid));
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.txn.generation));
		json_object_set_new(doc, "previous", json_integer((json_int_t)result.txn.previous));
		json_object_set_new(doc, "created", json_boolean(result.created));
		json_object_set_new(doc, "incremental", json_boolean(result.incremental));
		json_object_set_new(doc, "received", json_string(result.received));
		json_object_set_new(doc, "origin",
				    result.origin_lineage[0]
					    ? json_pack("{s:s, s:I, s:s?}", "lineage", result.origin_lineage,
							"generation", (json_int_t)result.origin_generation,
							"txid", result.origin_txid[0] ? result.origin_txid : NULL)
					    : json_null());
		json_object_set_new(doc, "discarded_changes", json_integer((json_int_t)result.drift));
		json_object_set_new(doc, "timing", timing_json(&result.txn.timing));
	}
	report_concurrent("receive", target, &result.txn, doc);
	free(result.txn.concurrent);
	if (doc) {
		json_print(doc);
		return EXIT_DONE;
	}
	if (result.origin_lineage[0])
		report_info("%s: received generation %llu (%s stream) as generation %llu (transaction %s)",
			    target, (unsigned long long)result.origin_generation,
			    result.incremental ? "incremental" : "full",
			    (unsigned long long)result.txn.generation, result.txn.txid);
	else
		report_info("%s: received a %s stream as generation %llu (transaction %s)", target,
			    result.incremental ? "incremental" : "full",
			    (unsigned long long)result.txn.generation, result.txn.txid);
	return EXIT_DONE;
}
