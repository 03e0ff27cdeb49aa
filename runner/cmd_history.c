/* SPDX-License-Identifier: MIT */
/* cmd_history.c: `history TARGET`, every transaction from history.jsonl. */
#include "engine.h"

#include <errno.h>
#include <limits.h>
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
 * The pre/post pairs of tagged snapshots (txn/tag.c), oldest pre first: "pair" (the
 * pre's txid), "pre" and "post" (the kept generations gen-N holding each side; post
 * null while the upgrade has no post snapshot yet) and the pre's description.
 */
static json_t *pairs_of(json_t *entries)
{
	json_t *pairs = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *tag = json_string_value(json_object_get(e, "tag"));
		const char *pair = json_string_value(json_object_get(e, "pair"));
		if (!kind || strcmp(kind, "snapshot") != 0 || !tag || !pair)
			continue;
		json_t *snapshot = json_object_get(e, "previous");
		if (strcmp(tag, "pre") == 0) {
			json_t *description = json_object_get(e, "description");
			json_array_append_new(pairs, json_pack("{s:s, s:O, s:n, s:O}", "pair", pair, "pre",
							       snapshot, "post", "description",
							       description ? description : json_null()));
			continue;
		}
		size_t k;
		json_t *p;
		json_array_foreach(pairs, k, p)
			if (strcmp(json_string_value(json_object_get(p, "pair")), pair) == 0)
				json_object_set(p, "post", snapshot);
	}
	return pairs;
}

/* " [pair: pre gen-N, post gen-M] " for a tagged snapshot line, else "". */
static const char *pair_note(json_t *e, json_t *pairs)
{
	static char note[128];
	const char *pair = json_string_value(json_object_get(e, "pair"));
	const char *tag = json_string_value(json_object_get(e, "tag"));
	if (!tag)
		return "";
	if (!pair) {
		snprintf(note, sizeof(note), "[unpaired, gen-%lld] ",
			 (long long)json_integer_value(json_object_get(e, "previous")));
		return note;
	}
	size_t k;
	json_t *p;
	json_array_foreach(pairs, k, p) {
		if (strcmp(json_string_value(json_object_get(p, "pair")), pair) != 0)
			continue;
		json_t *post = json_object_get(p, "post");
		char post_text[32] = "none yet";
		if (json_is_integer(post))
			snprintf(post_text, sizeof(post_text), "gen-%lld", (long long)json_integer_value(post));
		snprintf(note, sizeof(note), "[pair: pre gen-%lld, post %s] ",
			 (long long)json_integer_value(json_object_get(p, "pre")), post_text);
		return note;
	}
	return "";
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
	/* Opened by the engine: a mounted target's state directory has no path. */
	int history_fd = -1;
	if (txn_history_open(target, &history_fd, &error) < 0)
		return report_txn_error("history", &error,
					cli.json ? json_pack("{s:s}", "command", "history") : NULL);
	FILE *f = history_fd >= 0 ? fdopen(history_fd, "re") : NULL;
	if (history_fd >= 0 && !f) {
		report_error("history: cannot read the history of '%s': %s", target, strerror(errno));
		close(history_fd);
		return EXIT_ABORTED;
	}
	json_t *entries = json_array();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while (f && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break; /* a line torn by a crash: not a transaction */
		json_t *entry = json_loadb(line, (size_t)n, 0, NULL);
		if (entry && json_is_object(entry))
			json_array_append_new(entries, entry);
		else
			json_decref(entry);
	}
	free(line);
	if (f)
		fclose(f);
	json_t *pairs = pairs_of(entries);
	if (cli.json) {
		json_print(json_pack("{s:s, s:s, s:o, s:o}", "command", "history", "target", target,
				     "transactions", entries, "pairs", pairs));
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
		char *description = one_line(json_string_value(json_object_get(e, "description")));
		char *reason = one_line(json_string_value(json_object_get(e, "reason")));
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
				char *name = one_line(json_string_value(w));
				used += (size_t)snprintf(concurrent + used, sizeof(concurrent) - used, " %s",
							 name ? name : "?");
				free(name);
			}
			if (used < sizeof(concurrent) - 1)
				snprintf(concurrent + used, sizeof(concurrent) - used, "]");
		}
		printf("%-24s %-21s %-13s %-10s %4s  %s%s%s%s%s%s\n",
		       json_string_value(json_object_get(e, "txid")),
		       json_string_value(json_object_get(e, "time")), kind_text,
		       result ? result : "?", gen, pair_note(e, pairs),
		       description ? description : "",
		       json_is_true(json_object_get(e, "recovered")) ? " [recovered]"
		       : json_object_get(e, "switch") ? " [mounted: switch at the next mount]" : "",
		       concurrent, reason ? " - " : "", reason ? reason : "");
		free(description);
		free(reason);
	}
	json_decref(entries);
	json_decref(pairs);
	return EXIT_DONE;
}
