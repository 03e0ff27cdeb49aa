/* SPDX-License-Identifier: MIT */
/*
 * cmd_diff.c: `diff TARGET GEN1 [GEN2]`, the paths added, removed and modified
 * between two generations (txn_diff() walks the trees). GEN is a kept generation's
 * number or "current" (the live tree), which GEN2 defaults to.
 */
#include "engine.h"

#include <limits.h>
#include <string.h>

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
		json_object_set_new(side, "target", json_string(link));
	return side;
}

static const struct {
	unsigned bit;
	const char *name;
} change_names[] = {
	{ TXN_DIFF_TYPE, "type" },   { TXN_DIFF_MODE, "mode" },       { TXN_DIFF_OWNER, "owner" },
	{ TXN_DIFF_SIZE, "size" },   { TXN_DIFF_CONTENT, "content" }, { TXN_DIFF_TARGET, "target" },
};

static const char *printable(const char *text, char *buf, size_t size);

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
		json_array_append_new(
			out->changes,
			json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "path", e->path, "change",
				  kinds[e->kind], "type", type_name(type), "what", what, "from",
				  side_json(e->type_from, e->mode_from, e->uid_from, e->gid_from,
					    e->size_from, e->link_from),
				  "to",
				  side_json(e->type_to, e->mode_to, e->uid_to, e->gid_to, e->size_to,
					    e->link_to)));
		return 0;
	}
	/* One line per path: the letter git uses, the type, the path, then what changed. */
	char detail[PATH_MAX * 8 + 256] = "";
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
	char from[PATH_MAX * 4 + 8], to[PATH_MAX * 4 + 8], path[PATH_MAX * 4 + 8];
	if (e->changes & TXN_DIFF_TARGET)
		DETAIL("  target %s -> %s", printable(e->link_from, from, sizeof(from)),
		       printable(e->link_to, to, sizeof(to)));
#undef DETAIL
	printf("%c %c %s%s\n", "ADM"[e->kind], type, printable(e->path, path, sizeof(path)), detail);
	return 0;
}

/* @text with control characters shown as \n, \t or \xNN (and backslash doubled), so a
 * file name holding a newline cannot forge a line of the listing. */
static const char *printable(const char *text, char *buf, size_t size)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p && w + 5 < size; p++) {
		if (*p == '\n')
			w += (size_t)snprintf(buf + w, size - w, "\\n");
		else if (*p == '\t')
			w += (size_t)snprintf(buf + w, size - w, "\\t");
		else if (*p == '\\')
			w += (size_t)snprintf(buf + w, size - w, "\\\\");
		else if (*p < 0x20 || *p == 0x7f)
			w += (size_t)snprintf(buf + w, size - w, "\\x%02x", *p);
		else
			buf[w++] = (char)*p;
	}
	buf[w] = '\0';
	return buf;
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
	static const struct option longopts[] = { CLI_COMMON_LONG, { 0 } };
	int c, code;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1)
		if (cli_common_option(self, c, &code) && code >= 0)
			return code;
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
	json_t *doc = cli.json ? json_pack("{s:s, s:s, s:o, s:o}", "command", "diff", "target", target,
					   "from", generation_json(from), "to", generation_json(to))
			       : NULL;
	struct txn_error error = { 0 };
	if (txn_diff(target, from, to, each_change, &out, &error) < 0) {
		json_decref(out.changes);
		return report_txn_error("diff", &error, doc);
	}
	if (doc) {
		json_object_set_new(doc, "changes", out.changes);
		json_object_set_new(doc, "added", json_integer(out.added));
		json_object_set_new(doc, "removed", json_integer(out.removed));
		json_object_set_new(doc, "modified", json_integer(out.modified));
		json_print(doc);
	}
	report_verbose("%u added, %u removed, %u modified", out.added, out.removed, out.modified);
	return EXIT_DONE;
}
