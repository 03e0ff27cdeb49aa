/* SPDX-License-Identifier: MIT */
/* cmd_gc.c: `gc TARGET [--keep N] [--release N]`, drop the oldest generations;
 * release the pin of a generation that holds concurrent writes. */
#include "config.h"
#include "engine.h"

#include <limits.h>
#include <string.h>

enum { OPT_KEEP = OPT_COMMAND_BASE, OPT_RELEASE, OPT_HOURLY, OPT_DAILY, OPT_WEEKLY, OPT_MIN_FREE };

struct gc_args {
	unsigned keep;
	bool release;
	uint64_t release_generation;
	/* --hourly, --daily, --weekly, --min-free (retention.c); unset ones come from
	 * btrfs-txn.conf. */
	struct config_retention retention;
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
	case OPT_HOURLY:
	case OPT_DAILY:
	case OPT_WEEKLY:
	case OPT_MIN_FREE: {
		struct config_retention *r = &args->retention;
		bool percent = option == OPT_MIN_FREE;
		unsigned max = percent ? 99 : 10000;
		size_t len = strlen(arg);
		char number[32];
		snprintf(number, sizeof(number), "%.*s", (int)(percent && len && arg[len - 1] == '%' ? len - 1 : len), arg);
		if (!parse_unsigned(number, max, &v)) {
			report_error("gc: --%s: expected %s from 0 to %u, got '%s'",
				     option == OPT_HOURLY ? "hourly" : option == OPT_DAILY ? "daily"
					     : option == OPT_WEEKLY ? "weekly" : "min-free",
				     percent ? "a percentage" : "a number", max, arg);
			*ret_exit = EXIT_USAGE;
		} else if (option == OPT_HOURLY) {
			r->hourly = (unsigned)v, r->has_hourly = true;
		} else if (option == OPT_DAILY) {
			r->daily = (unsigned)v, r->has_daily = true;
		} else if (option == OPT_WEEKLY) {
			r->weekly = (unsigned)v, r->has_weekly = true;
		} else {
			r->min_free = (unsigned)v, r->has_min_free = true;
		}
		return true;
	}
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
					       { "hourly", required_argument, NULL, OPT_HOURLY },
					       { "daily", required_argument, NULL, OPT_DAILY },
					       { "weekly", required_argument, NULL, OPT_WEEKLY },
					       { "min-free", required_argument, NULL, OPT_MIN_FREE },
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
	/* The retention options not given come from btrfs-txn.conf. */
	struct config config;
	char message[PATH_MAX + 512];
	if (config_load(NULL, &config, message, sizeof(message)) < 0) {
		report_error("gc: %s", message);
		return EXIT_USAGE;
	}
	struct config_retention from_file = config_retention_for(&config, target);
	config_free(&config);
	struct config_retention *own = &args.retention;
	if (!own->has_hourly)
		own->hourly = from_file.hourly;
	if (!own->has_daily)
		own->daily = from_file.daily;
	if (!own->has_weekly)
		own->weekly = from_file.weekly;
	if (!own->has_min_free)
		own->min_free = from_file.min_free;
	bool by_policy = own->hourly || own->daily || own->weekly || own->min_free;
	struct txn_retention policy = { .keep = args.keep, .hourly = own->hourly,
					.daily = own->daily, .weekly = own->weekly,
					.min_free_percent = own->min_free };
	unsigned free_percent = 100;
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
	_cleanup_json_ json_t *kept_back = doc ? json_array() : NULL;
	struct notes_ctx n = { .kept_back = kept_back };
	struct txn_gc_notes notes = { .fn = note, .ctx = &n };
	int r = by_policy ? txn_gc_retention(target, &policy, &options, &notes, &removed,
					     &free_percent, &error)
			  : txn_gc(target, args.keep, &options, &notes, &removed, &error);
	if (doc && by_policy && r == 0 && policy.min_free_percent)
		json_object_set_new(doc, "free_percent", json_integer(free_percent));
	if (doc && (r == 0 || removed > 0 || json_array_size(kept_back) > 0)) {
		json_object_set_new(doc, "removed", json_integer(removed));
		json_object_set_new(doc, "kept_back", TAKE_PTR(kept_back));
	}
	if (r < 0)
		return report_txn_error("gc", &error, doc);
	if (doc)
		json_print(doc);
	if (by_policy && policy.min_free_percent)
		report_info("%s: removed %u generation%s (keep %u, hourly %u, daily %u, weekly %u); "
			    "%u%% free (wanted %u%%)", target, removed, removed == 1 ? "" : "s",
			    args.keep, policy.hourly, policy.daily, policy.weekly, free_percent,
			    policy.min_free_percent);
	else if (by_policy)
		report_info("%s: removed %u generation%s (keep %u, hourly %u, daily %u, weekly %u)",
			    target, removed, removed == 1 ? "" : "s", args.keep, policy.hourly,
			    policy.daily, policy.weekly);
	else
		report_info("%s: removed %u generation%s, keeping at most %u", target, removed,
			    removed == 1 ? "" : "s", args.keep);
	return EXIT_DONE;
}
