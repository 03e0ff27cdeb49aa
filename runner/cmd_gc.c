/* SPDX-License-Identifier: MIT */
/* cmd_gc.c: `gc TARGET [--keep N] [--release N]`, drop the oldest generations;
 * release the pin of a generation that holds concurrent writes. */
#include "engine.h"

#include <string.h>

enum { OPT_KEEP = OPT_COMMAND_BASE, OPT_RELEASE };

struct gc_args {
	unsigned keep;
	bool release;
	uint64_t release_generation;
};

static bool handle(int option, const char *arg, void *ctx, int *ret_exit)
{
	struct gc_args *args = ctx;
	unsigned long long v;
	*ret_exit = -1;
	switch (option) {
	case OPT_KEEP:
		if (!parse_unsigned(arg, TXN_KEEP_MAX, &v)) {
			report_error("gc: --keep: expected a number from 0 to %u, got '%s'", TXN_KEEP_MAX, arg);
			*ret_exit = EXIT_USAGE;
		} else {
			args->keep = (unsigned)v;
		}
		return true;
	case OPT_RELEASE:
		if (!parse_unsigned(arg, UINT64_MAX - 1, &v)) {
			report_error("gc: --release: expected a generation number, got '%s'", arg);
			*ret_exit = EXIT_USAGE;
		} else {
			args->release = true;
			args->release_generation = v;
		}
		return true;
	}
	return false;
}

struct notes_ctx {
	json_t *kept_back;
};

static void note(uint64_t generation, int errnum, const char *reason, void *ctx)
{
	struct notes_ctx *n = ctx;
	if (errnum)
		report_error("gc: gen-%llu: %s: %s", (unsigned long long)generation, reason,
			     strerror(errnum));
	else
		report_info("gc: gen-%llu kept: %s", (unsigned long long)generation, reason);
	if (n->kept_back)
		json_array_append_new(n->kept_back,
				      json_pack("{s:I, s:s, s:s?}", "generation", (json_int_t)generation,
						"reason", reason, "error",
						errnum ? strerror(errnum) : NULL));
}

int cmd_gc(int argc, char **argv)
{
	static const struct option extra[] = { { "keep", required_argument, NULL, OPT_KEEP },
					       { "release", required_argument, NULL, OPT_RELEASE },
					       { 0 } };
	const struct command *self = command_find("gc");
	struct txn_options options = { .command = "btrfs-txn gc" };
	/* No --keep: btrfs-txn.conf's keep for the target, else TXN_DEFAULT_KEEP. */
	struct gc_args args = { .keep = TXN_KEEP_MAX + 1 };
	const char *target;
	int code = parse_one_arg(argc, argv, self, extra, handle, &args, &options, &target);
	if (code >= 0)
		return code;
	if (args.keep > TXN_KEEP_MAX) {
		args.keep = 0;
		if ((code = config_keep_default("gc", target, &args.keep)) >= 0)
			return code;
		if (!args.keep)
			args.keep = TXN_DEFAULT_KEEP;
	}
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s, s:i}", "command", "gc", "target", target,
					   "keep", (int)args.keep)
			       : NULL;
	if (args.release) {
		if (txn_gc_release(target, args.release_generation, &options, &error) < 0)
			return report_txn_error("gc", &error, doc);
		report_info("%s: released gen-%llu; gc may now drop it", target,
			    (unsigned long long)args.release_generation);
		if (doc)
			json_object_set_new(doc, "released",
					    json_integer((json_int_t)args.release_generation));
	}
	unsigned removed = 0;
	struct notes_ctx n = { .kept_back = doc ? json_array() : NULL };
	struct txn_gc_notes notes = { .fn = note, .ctx = &n };
	int r = txn_gc(target, args.keep, &options, &notes, &removed, &error);
	if (doc && (r == 0 || removed > 0 || json_array_size(n.kept_back) > 0)) {
		json_object_set_new(doc, "removed", json_integer(removed));
		json_object_set_new(doc, "kept_back", n.kept_back);
	} else if (doc) {
		json_decref(n.kept_back);
	}
	if (r < 0)
		return report_txn_error("gc", &error, doc);
	if (doc)
		json_print(doc);
	report_info("%s: removed %u generation%s, keeping at most %u", target, removed,
		    removed == 1 ? "" : "s", args.keep);
	return EXIT_DONE;
}
