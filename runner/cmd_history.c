/* SPDX-License-Identifier: MIT */
/* cmd_history.c: `history TARGET`, every transaction from history.jsonl. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A copy of @text fit for one line of the table: control characters (a newline in
 * a description could forge a whole history line) are shown as \n, \t or \xNN. */
static char *one_line(const char *text)
{
	if (!text)
		return NULL;
	size_t len = strlen(text);
	char *out = malloc(len * 4 + 1), *w = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '\n')
			w += sprintf(w, "\\n");
		else if (*p == '\t')
			w += sprintf(w, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			w += sprintf(w, "\\x%02x", *p);
		else
			*w++ = (char)*p;
	}
	*w = '\0';
	return out;
}

/*
 * The pre/post pairs of tagged snapshots, as the engine pairs them (txn_pairs_read),
 * oldest pre first: "pair" (the pre's txid), "pre" and "post" (the generations gen-N
 * holding each side; post null while the upgrade has no post snapshot yet),
 * "pre_dropped" and "post_dropped" (that generation is gone, dropped by gc), and the
 * pre's description.
 */
static json_t *pairs_json(const struct txn_pair *pairs, size_t n)
{
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct txn_pair *p = &pairs[i];
		json_array_append_new(list, json_pack("{s:s, s:I, s:o, s:b, s:b, s:o}", "pair", p->pair,
						      "pre", (json_int_t)p->pre, "post",
						      p->post ? json_integer((json_int_t)p->post) : json_null(),
						      "pre_dropped", p->pre_dropped, "post_dropped",
						      p->post_dropped, "description",
						      p->description ? json_string(p->description) : json_null()));
	}
	return list;
}

/* " [pair: pre gen-N, post gen-M] " for a tagged snapshot line, else "". A side
 * whose generation is gone says "(dropped)". */
static const char *pair_note(json_t *e, const struct txn_pair *pairs, size_t n)
{
	static char note[160];
	const char *pair = json_string_value(json_object_get(e, "pair"));
	const char *tag = json_string_value(json_object_get(e, "tag"));
	if (!tag)
		return "";
	if (!pair) {
		snprintf(note, sizeof(note), "[unpaired, gen-%lld] ",
			 (long long)json_integer_value(json_object_get(e, "previous")));
		return note;
	}
	for (size_t i = 0; i < n; i++) {
		const struct txn_pair *p = &pairs[i];
		if (strcmp(p->pair, pair) != 0)
			continue;
		char post_text[48] = "none yet";
		if (p->post)
			snprintf(post_text, sizeof(post_text), "gen-%llu%s", (unsigned long long)p->post,
				 p->post_dropped ? " (dropped)" : "");
		snprintf(note, sizeof(note), "[pair: pre gen-%llu%s, post %s] ",
			 (unsigned long long)p->pre, p->pre_dropped ? " (dropped)" : "", post_text);
		return note;
	}
	return "";
}

struct pair_list {
	struct txn_pair *items;
	size_t n;
};

static void pairs_freep(struct pair_list *pairs)
{
	txn_pairs_free(pairs->items, pairs->n);
}

static bool collect_line(json_t *line, void *ctx)
{
	json_array_append(ctx, line);
	return false;
}

int cmd_history(int argc, char **argv)
{
	const struct command *self = command_find("history");
	struct txn_options options = { 0 };
	const char *target;
	int code = parse_one_arg(argc, argv, self, NULL, NULL, NULL, &options, &target);
	if (code >= 0)
		return code;
	struct txn_error error = { 0 };
	_cleanup_json_ json_t *entries = json_array();
	_cleanup_(pairs_freep) struct pair_list pairs = { 0 };
	if (txn_history_each(target, collect_line, entries, &error) < 0 ||
	    txn_pairs_read(target, &pairs.items, &pairs.n, &error) < 0)
		return report_txn_error("history", &error,
					cli.json ? json_pack("{s:s}", "command", "history") : NULL);
	if (cli.json) {
		json_print(json_pack("{s:s, s:s, s:o, s:o}", "command", "history", "target", target,
				     "transactions", TAKE_PTR(entries), "pairs",
				     pairs_json(pairs.items, pairs.n)));
		return EXIT_DONE;
	}
	if (json_array_size(entries) == 0)
		printf("%s: no transactions yet\n", target);
	else
		printf("%-24s %-21s %-13s %-10s %4s  %s\n", "TXID", "TIME", "KIND", "RESULT", "GEN",
		       "DESCRIPTION");
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		const char *result = json_string_value(json_object_get(e, "result"));
		bool committed = result && strcmp(result, "committed") == 0;
		char gen[24] = "-";
		if (committed)
			snprintf(gen, sizeof(gen), "%lld",
				 (long long)json_integer_value(json_object_get(e, "generation")));
		_cleanup_free_ char *description =
			one_line(json_string_value(json_object_get(e, "description")));
		_cleanup_free_ char *reason = one_line(json_string_value(json_object_get(e, "reason")));
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *tag = json_string_value(json_object_get(e, "tag"));
		char kind_text[32];
		snprintf(kind_text, sizeof(kind_text), "%s%s%s", kind ? kind : "?", tag ? ":" : "",
			 tag ? tag : "");
		/* Writes of other processes the new tree does not hold (CONCURRENT WRITERS). */
		char concurrent[512] = "";
		json_t *writes = json_object_get(e, "concurrent_writes");
		if (json_is_array(writes) && json_array_size(writes) > 0) {
			size_t used = (size_t)snprintf(concurrent, sizeof(concurrent),
						       " [writes of other processes kept in gen-%lld, pinned:",
						       (long long)json_integer_value(json_object_get(e, "pinned")));
			size_t k;
			json_t *w;
			json_array_foreach(writes, k, w) {
				if (used >= sizeof(concurrent) - 8)
					break;
				_cleanup_free_ char *name = one_line(json_string_value(w));
				used += (size_t)snprintf(concurrent + used, sizeof(concurrent) - used, " %s",
							 name ? name : "?");
			}
			if (used < sizeof(concurrent) - 1)
				snprintf(concurrent + used, sizeof(concurrent) - used, "]");
		}
		printf("%-24s %-21s %-13s %-10s %4s  %s%s%s%s%s%s\n",
		       json_string_value(json_object_get(e, "txid")),
		       json_string_value(json_object_get(e, "time")), kind_text,
		       result ? result : "?", gen, pair_note(e, pairs.items, pairs.n),
		       description ? description : "",
		       json_is_true(json_object_get(e, "recovered")) ? " [recovered]"
		       : json_object_get(e, "switch") ? " [mounted: switch at the next mount]" : "",
		       concurrent, reason ? " - " : "", reason ? reason : "");
	}
	return EXIT_DONE;
}
