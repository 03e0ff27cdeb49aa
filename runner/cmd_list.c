/* SPDX-License-Identifier: MIT */
/*
 * cmd_list.c: `btrfs-txn list`: every managed target on this host, from
 * btrfs-txn.conf (config.c) and from the state directories on the mounted Btrfs
 * filesystems (txn_list_targets()), each with its generation and its last
 * transaction. One target seen through several mounts is listed once (by its
 * subvolume's device number), under the first mount point in /proc/self/mountinfo.
 */
#include "config.h"
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

struct listed {
	char *path;
	bool configured;
	bool mounted; /* found under a mounted Btrfs */
	dev_t dev;    /* of the subvolume, 0 when it cannot be stat'ed */
	ino_t ino;
};

struct list {
	struct listed *items;
	size_t n;
};

static int list_add(struct list *list, const char *path, bool configured)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	for (size_t i = 0; i < list->n; i++) {
		struct listed *l = &list->items[i];
		if ((exists && l->dev && l->dev == st.st_dev && l->ino == st.st_ino) ||
		    strcmp(l->path, path) == 0) {
			l->configured |= configured;
			l->mounted |= !configured;
			return 0;
		}
	}
	struct listed *grown = realloc(list->items, (list->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	list->items = grown;
	struct listed *l = &list->items[list->n];
	*l = (struct listed){ .configured = configured, .mounted = !configured,
			      .dev = exists ? st.st_dev : 0, .ino = exists ? st.st_ino : 0 };
	l->path = strdup(path);
	if (!l->path)
		return -ENOMEM;
	list->n++;
	return 0;
}

static int on_target(const char *target, void *ctx)
{
	return list_add(ctx, target, false);
}

/* Undoes the octal escapes of /proc/self/mountinfo (\040 for a space) in place. */
static void unescape_mount_path(char *s)
{
	char *out = s;
	for (char *in = s; *in; in++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/* Every Btrfs mount point of this mount namespace, each searched for targets. */
static int scan_mounts(struct list *list)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t size = 0;
	int r = 0;
	while (r >= 0 && getline(&line, &size, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE ... */
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "btrfs ", 6) != 0)
			continue;
		*sep = '\0';
		char *fields[5], *save = NULL, *p = line;
		int n = 0;
		for (; n < 5 && (fields[n] = strtok_r(p, " ", &save)); n++)
			p = NULL;
		if (n < 5)
			continue;
		unescape_mount_path(fields[4]);
		int e = txn_list_targets(fields[4], on_target, list);
		/* A bind mount of a plain directory (-ENOTDIR), a mount covered by another
		 * (-EMEDIUMTYPE), one this process may not search: the others still count. */
		if (e == -ENOMEM)
			r = e;
	}
	free(line);
	fclose(f);
	return r;
}

/* The last line of @state_dir/history.jsonl as JSON, or NULL. */
static json_t *last_transaction(const char *state_dir)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/history.jsonl", state_dir);
	/* A regular file only, opened without waiting: a FIFO of that name (on an
	 * image a user mounted) would hold list until something wrote to it. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	FILE *f = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* Only the tail: a long history is read from its last 64 KiB. */
	if (fseeko(f, 0, SEEK_END) == 0 && ftello(f) > 65536)
		fseeko(f, -65536, SEEK_END);
	else
		rewind(f);
	char *line = NULL, *last = NULL;
	size_t size = 0;
	while (getline(&line, &size, f) > 0) {
		if (line[strlen(line) - 1] != '\n')
			break; /* a torn last line is not a transaction */
		free(last);
		last = strdup(line);
	}
	free(line);
	fclose(f);
	json_t *entry = last ? json_loads(last, 0, NULL) : NULL;
	free(last);
	if (!json_is_object(entry)) {
		json_decref(entry);
		return NULL;
	}
	json_t *out = json_object();
	static const char *const keys[] = { "txid", "time", "kind", "result", "description" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(entry, keys[i]);
		json_object_set(out, keys[i], v && json_is_string(v) ? v : json_null());
	}
	json_decref(entry);
	return out;
}

static const char *string_or(json_t *object, const char *key, const char *fallback)
{
	const char *s = json_string_value(json_object_get(object, key));
	return s ? s : fallback;
}

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = { CLI_COMMON_LONG, { 0 } };
	const struct command *self = command_find("list");
	int c, code;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1)
		if (cli_common_option(self, c, &code) && code >= 0)
			return code;
	if (optind != argc) {
		report_error("list: unexpected argument '%s'; see 'btrfs-txn help list'", argv[optind]);
		return EXIT_USAGE;
	}
	struct config config;
	char message[PATH_MAX + 512];
	int r = config_load(NULL, &config, message, sizeof(message));
	if (r < 0) {
		int exit_code = r == -ENOMEM ? EXIT_ABORTED : EXIT_USAGE;
		report_error("list: %s", r == -ENOMEM ? "out of memory" : message);
		if (cli.json)
			json_print(json_pack("{s:s, s:s, s:i}", "command", "list", "error",
					     r == -ENOMEM ? "out of memory" : message, "exit", exit_code));
		return exit_code;
	}
	struct list list = { 0 };
	for (size_t i = 0; r >= 0 && i < config.n_targets; i++)
		r = list_add(&list, config.targets[i].path, true);
	config_free(&config);
	if (r >= 0)
		r = scan_mounts(&list);
	if (r < 0) {
		report_error("list: cannot read the mounts: %s", strerror(-r));
		if (cli.json)
			json_print(json_pack("{s:s, s:s, s:i}", "command", "list", "error", strerror(-r),
					     "exit", EXIT_ABORTED));
		return EXIT_ABORTED;
	}

	json_t *targets = json_array();
	if (!cli.json && !cli.quiet && list.n)
		printf("%-40s %5s %4s  %s\n", "TARGET", "GEN", "KEPT", "LAST TRANSACTION");
	for (size_t i = 0; i < list.n; i++) {
		struct listed *l = &list.items[i];
		struct txn_state s;
		struct txn_error error = { 0 };
		char text[2048] = "";
		bool have = txn_state_read(l->path, &s, &error) == 0;
		if (!have)
			txn_error_string(&error, text, sizeof(text));
		json_t *last = have ? last_transaction(s.state_dir) : NULL;
		json_t *sources = json_array();
		if (l->configured)
			json_array_append_new(sources, json_string("config"));
		if (l->mounted)
			json_array_append_new(sources, json_string("mounted"));
		bool escaped = false;
		json_t *item = json_pack("{s:o, s:o}", "target", txn_json_name(l->path, &escaped),
					 "sources", sources);
		if (escaped)
			json_object_set_new(item, "target_escaped", json_true());
		json_object_set_new(item, "generation",
				    have ? json_integer((json_int_t)s.generation) : json_null());
		json_object_set_new(item, "kept", have ? json_integer((json_int_t)s.n_kept) : json_null());
		json_object_set_new(item, "interrupted",
				    have ? json_boolean(s.journal_present && !s.running) : json_null());
		json_object_set_new(item, "last", last ? json_incref(last) : json_null());
		json_object_set_new(item, "error", have ? json_null() : json_string(text));
		json_array_append_new(targets, item);
		if (!cli.json && !cli.quiet) {
			char last_text[1024] = "none";
			if (last)
				snprintf(last_text, sizeof(last_text), "%s %s %s%s%s%s",
					 string_or(last, "time", "?"), string_or(last, "kind", "?"),
					 string_or(last, "result", "?"),
					 json_is_string(json_object_get(last, "description")) ? " \"" : "",
					 string_or(last, "description", ""),
					 json_is_string(json_object_get(last, "description")) ? "\"" : "");
			char *shown = txn_escape_text(l->path, strlen(l->path));
			if (have)
				printf("%-40s %5llu %4zu  %s%s\n", shown ? shown : l->path,
				       (unsigned long long)s.generation, s.n_kept, last_text,
				       s.journal_present && !s.running ? " (interrupted: run 'btrfs-txn recover')" : "");
			else
				printf("%-40s %5s %4s  (%s)\n", shown ? shown : l->path, "-", "-", text);
			free(shown);
		}
		json_decref(last);
		if (have)
			free(s.kept);
		free(l->path);
	}
	free(list.items);
	if (cli.json)
		json_print(json_pack("{s:s, s:o}", "command", "list", "targets", targets));
	else {
		if (!cli.quiet && json_array_size(targets) == 0)
			printf("no managed targets\n");
		json_decref(targets);
	}
	return EXIT_DONE;
}
