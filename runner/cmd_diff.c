/* SPDX-License-Identifier: MIT */
/*
 * cmd_diff.c: `diff TARGET GEN1 [GEN2]`, the paths added, removed and modified
 * between two generations (txn_diff() walks the trees). GEN is a kept generation's
 * number or "current" (the live tree), which GEN2 defaults to.
 *
 * Names and link targets come from the trees, which anyone who can write T filled:
 * the text output shows them through txn_escape_text(); the JSON output carries them as
 * they are when they are plain UTF-8, else in the escaped form with a "*_escaped"
 * flag beside them (docs/json.md), so no name is ever dropped.
 */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_MAX_COMPARE = OPT_COMMAND_BASE };

struct diff_output {
	json_t *changes;        /* --json */
	unsigned added, removed, modified;
};

static const char *type_name(char type)
{
	switch (type) {
	case 'f': return "file";
	case 'd': return "directory";
	case 'l': return "symlink";
	case 'c': return "char-device";
	case 'b': return "block-device";
	case 'p': return "fifo";
	case 's': return "socket";
	}
	return "unknown";
}

/* Sets @key of @object to @text from the tree: as is when plain, else escaped and
 * with KEY_escaped: true beside it. */
static void set_name(json_t *object, const char *key, const char *text)
{
	size_t len = strlen(text);
	if (txn_text_is_plain(text, len)) {
		json_object_set_new(object, key, json_string(text));
		return;
	}
	_cleanup_free_ char *shown = txn_escape_text(text, len);
	char flag[64];
	snprintf(flag, sizeof(flag), "%s_escaped", key);
	/* Out of memory: null, flagged, rather than a silently missing key. */
	json_object_set_new(object, key, shown ? json_string(shown) : json_null());
	json_object_set_new(object, flag, json_true());
}

static json_t *side_json(char type, unsigned mode, unsigned uid, unsigned gid, uint64_t size,
			 const char *link)
{
	if (!type)
		return json_null();
	char octal[8];
	snprintf(octal, sizeof(octal), "%04o", mode);
	json_t *side = json_pack("{s:s, s:s, s:I, s:I, s:I}", "type", type_name(type), "mode", octal,
				 "uid", (json_int_t)uid, "gid", (json_int_t)gid, "size",
				 (json_int_t)size);
	if (link)
		set_name(side, "target", link);
	return side;
}

static const struct {
	unsigned bit;
	const char *name;
} change_names[] = {
	{ TXN_DIFF_TYPE, "type" },   { TXN_DIFF_MODE, "mode" },       { TXN_DIFF_OWNER, "owner" },
	{ TXN_DIFF_SIZE, "size" },   { TXN_DIFF_CONTENT, "content" }, { TXN_DIFF_TARGET, "target" },
	{ TXN_DIFF_UNVERIFIED, "unverified" },
};

static int each_change(const struct txn_diff_entry *e, void *ctx)
{
	struct diff_output *out = ctx;
	static const char *const kinds[] = { "added", "removed", "modified" };
	if (e->kind == TXN_DIFF_ADDED)
		out->added++;
	else if (e->kind == TXN_DIFF_REMOVED)
		out->removed++;
	else
		out->modified++;
	char type = e->kind == TXN_DIFF_REMOVED ? e->type_from : e->type_to;
	if (out->changes) {
		json_t *what = json_array();
		for (size_t i = 0; i < sizeof(change_names) / sizeof(change_names[0]); i++)
			if (e->changes & change_names[i].bit)
				json_array_append_new(what, json_string(change_names[i].name));
		/* "path" first, as a reader expects it. */
		json_t *change = json_object();
		if (!change)
			return -ENOMEM;
		set_name(change, "path", e->path);
		json_object_set_new(change, "change", json_string(kinds[e->kind]));
		json_object_set_new(change, "type", json_string(type_name(type)));
		json_object_set_new(change, "what", what);
		json_object_set_new(change, "from",
				    side_json(e->type_from, e->mode_from, e->uid_from, e->gid_from,
					      e->size_from, e->link_from));
		json_object_set_new(change, "to",
				    side_json(e->type_to, e->mode_to, e->uid_to, e->gid_to,
					      e->size_to, e->link_to));
		if (e->changes & TXN_DIFF_UNVERIFIED)
			json_object_set_new(change, "compared_bytes",
					    json_integer((json_int_t)e->compared_bytes));
		json_array_append_new(out->changes, change);
		return 0;
	}
	/* One line per path: the letter git uses, the type, the path, then what changed. */
	char detail[256] = "";
	size_t len = 0;
#define DETAIL(...) \
	(len += (size_t)snprintf(detail + len, len < sizeof(detail) ? sizeof(detail) - len : 0, __VA_ARGS__))
	if (e->changes & TXN_DIFF_TYPE)
		DETAIL("  type %s -> %s", type_name(e->type_from), type_name(e->type_to));
	if (e->changes & TXN_DIFF_MODE)
		DETAIL("  mode %04o -> %04o", e->mode_from, e->mode_to);
	if (e->changes & TXN_DIFF_OWNER)
		DETAIL("  owner %u:%u -> %u:%u", e->uid_from, e->gid_from, e->uid_to, e->gid_to);
	if (e->changes & TXN_DIFF_SIZE)
		DETAIL("  size %llu -> %llu", (unsigned long long)e->size_from,
		       (unsigned long long)e->size_to);
	if (e->changes & TXN_DIFF_CONTENT)
		DETAIL("  content");
	if (e->changes & TXN_DIFF_UNVERIFIED)
		DETAIL("  content unverified (compared first %llu bytes only)",
		       (unsigned long long)e->compared_bytes);
#undef DETAIL
	_cleanup_free_ char *path = txn_escape_text(e->path, strlen(e->path));
	_cleanup_free_ char *from = e->link_from ? txn_escape_text(e->link_from, strlen(e->link_from)) : NULL;
	_cleanup_free_ char *to = e->link_to ? txn_escape_text(e->link_to, strlen(e->link_to)) : NULL;
	if (!path || (e->link_from && !from) || (e->link_to && !to))
		return -ENOMEM;
	if (e->changes & TXN_DIFF_TARGET)
		printf("%c %c %s%s  target %s -> %s\n", "ADM"[e->kind], type, path, detail, from, to);
	else
		printf("%c %c %s%s\n", "ADM"[e->kind], type, path, detail);
	return 0;
}

/* A byte count: digits, optionally followed by K, M, G or T (powers of 1024). */
static bool parse_size(const char *text, uint64_t *ret)
{
	char *end;
	if (!text || *text < '0' || *text > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	unsigned shift = 0;
	if (*end && end[1] == '\0') {
		const char *units = "KMGT";
		const char *unit = strchr(units, *end);
		if (!unit)
			return false;
		shift = 10 * (unsigned)(unit - units + 1);
		end++;
	}
	if (errno || *end || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*ret = (uint64_t)v << shift;
	return true;
}

/* "current" names the live tree; otherwise a generation number. */
static bool parse_generation(const char *text, uint64_t *ret)
{
	unsigned long long v;
	if (strcmp(text, "current") == 0) {
		*ret = TXN_GENERATION_LIVE;
		return true;
	}
	if (!parse_unsigned(text, UINT64_MAX - 1, &v))
		return false;
	*ret = v;
	return true;
}

static json_t *generation_json(uint64_t g)
{
	return g == TXN_GENERATION_LIVE ? json_string("current") : json_integer((json_int_t)g);
}

int cmd_diff(int argc, char **argv)
{
	const struct command *self = command_find("diff");
	static const struct option longopts[] = {
		CLI_COMMON_LONG,
		{ "max-compare", required_argument, NULL, OPT_MAX_COMPARE },
		{ 0 },
	};
	struct txn_diff_options options = { .max_compare = TXN_DIFF_DEFAULT_MAX_COMPARE };
	int c, code;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		if (c == OPT_MAX_COMPARE) {
			if (!parse_size(optarg, &options.max_compare)) {
				report_error("diff: --max-compare: expected a byte count such as 65536 or 64M, got '%s'",
					     optarg);
				return EXIT_USAGE;
			}
			/* 0: no bound. */
			if (options.max_compare == 0)
				options.max_compare = UINT64_MAX;
			continue;
		}
		if (cli_common_option(self, c, &code) && code >= 0)
			return code;
	}
	int n = argc - optind;
	if (n < 2 || n > 3) {
		report_error("diff: expected TARGET GEN1 [GEN2]; see 'btrfs-txn help diff'");
		return EXIT_USAGE;
	}
	const char *target = argv[optind];
	uint64_t from, to = TXN_GENERATION_LIVE;
	for (int i = 1; i < n; i++)
		if (!parse_generation(argv[optind + i], i == 1 ? &from : &to)) {
			report_error("diff: expected a generation number or 'current', got '%s'",
				     argv[optind + i]);
			return EXIT_USAGE;
		}
	struct diff_output out = { .changes = cli.json ? json_array() : NULL };
	json_t *doc = cli.json ? json_pack("{s:s}", "command", "diff") : NULL;
	if (doc) {
		set_name(doc, "target", target); /* a path that may lie in a hostile tree */
		json_object_set_new(doc, "from", generation_json(from));
		json_object_set_new(doc, "to", generation_json(to));
	}
	struct txn_error error = { 0 };
	_cleanup_json_ json_t *changes = out.changes; /* the diff only appends to it */
	if (txn_diff(target, from, to, each_change, &out, &options, &error) < 0)
		return report_txn_error("diff", &error, doc);
	if (doc) {
		json_object_set_new(doc, "changes", json_incref(changes));
		json_object_set_new(doc, "added", json_integer(out.added));
		json_object_set_new(doc, "removed", json_integer(out.removed));
		json_object_set_new(doc, "modified", json_integer(out.modified));
		json_print(doc);
	}
	report_verbose("%u added, %u removed, %u modified", out.added, out.removed, out.modified);
	return EXIT_DONE;
}
