/* SPDX-License-Identifier: MIT */
/*
 * cmd_config.c: `btrfs-txn config [--targets HOOK] [--strict-hooks]`: what
 * btrfs-txn.conf (and the old list files) say, checked. The shell hooks and the
 * boot unit ask this command instead of parsing the file themselves, so there is
 * one parser and one trust check (config.c).
 */
#include "config.h"
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

enum { OPT_TARGETS = OPT_COMMAND_BASE, OPT_STRICT_HOOKS };

static const char *const legacy_names[] = { "apt-targets", "pacman-targets", "recover-targets",
					    "hooks-strict" };

/* One note per old file read: they keep working for this release only. */
static void legacy_notes(const struct config *config)
{
	for (unsigned i = 0; i <= CONFIG_HOOK_COUNT; i++) {
		if (!(config->legacy_read & (1u << i)))
			continue;
		if (i == CONFIG_HOOK_COUNT)
			report_error("config: note: the file hooks-strict is read for one more release; "
				     "say 'strict-hooks = yes' under [defaults] in %s instead "
				     "(btrfs-txn.conf(5))", CONFIG_FILE_NAME);
		else
			report_error("config: note: the file %s is read for one more release; give each "
				     "target a [target PATH] section with '%s = yes' in %s instead "
				     "(btrfs-txn.conf(5))", legacy_names[i],
				     config_hook_name((enum config_hook)i), CONFIG_FILE_NAME);
	}
}

static json_t *config_json(const struct config *config, int only_hook)
{
	json_t *targets = json_array();
	for (size_t i = 0; i < config->n_targets; i++) {
		const struct config_target *t = &config->targets[i];
		if (only_hook >= 0 && only_hook < CONFIG_HOOK_COUNT && !t->hooks[only_hook])
			continue;
		json_array_append_new(targets,
				      json_pack("{s:s, s:b, s:b, s:b, s:o, s:b}", "path", t->path, "apt",
						t->hooks[CONFIG_HOOK_APT], "pacman",
						t->hooks[CONFIG_HOOK_PACMAN], "recover",
						t->hooks[CONFIG_HOOK_RECOVER], "keep",
						t->keep ? json_integer(t->keep) : json_null(), "legacy",
						t->legacy));
	}
	json_t *legacy = json_array();
	for (unsigned i = 0; i <= CONFIG_HOOK_COUNT; i++)
		if (config->legacy_read & (1u << i))
			json_array_append_new(legacy, json_string(legacy_names[i]));
	return json_pack("{s:s, s:o, s:i, s:b, s:o, s:o}", "command", "config", "file",
			 config->file ? json_string(config->file) : json_null(), "keep",
			 config->keep ? (int)config->keep : (int)TXN_DEFAULT_KEEP, "strict_hooks",
			 config->strict_hooks, "targets", targets, "legacy_files", legacy);
}

int config_keep_default(const char *command, const char *target, unsigned *keep)
{
	if (*keep)
		return -1;
	struct config config;
	char message[PATH_MAX + 512];
	int r = config_load(NULL, &config, message, sizeof(message));
	if (r < 0) {
		report_error("%s: %s", command, r == -ENOMEM ? "out of memory" : message);
		return r == -ENOMEM ? EXIT_ABORTED : EXIT_USAGE;
	}
	*keep = config_keep_for(&config, target);
	config_free(&config);
	return -1;
}

int cmd_config(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "targets", required_argument, NULL, OPT_TARGETS },
		{ "strict-hooks", no_argument, NULL, OPT_STRICT_HOOKS },
		CLI_COMMON_LONG,
		{ 0 },
	};
	const struct command *self = command_find("config");
	int c, code, only_hook = -1;
	bool strict_query = false;
	while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		if (cli_common_option(self, c, &code)) {
			if (code >= 0)
				return code;
			continue;
		}
		if (c == OPT_TARGETS) {
			/* "all": every target the file names (the gc timer's). */
			only_hook = strcmp(optarg, "all") == 0 ? CONFIG_HOOK_COUNT
							       : config_hook_from_name(optarg);
			if (only_hook < 0) {
				report_error("config: --targets: expected apt, pacman, recover or all, got '%s'",
					     optarg);
				return EXIT_USAGE;
			}
		} else if (c == OPT_STRICT_HOOKS) {
			strict_query = true;
		}
	}
	if (optind != argc) {
		report_error("config: unexpected argument '%s'; see 'btrfs-txn help config'",
			     argv[optind]);
		return EXIT_USAGE;
	}

	struct config config;
	char message[PATH_MAX + 512];
	int r = config_load(NULL, &config, message, sizeof(message));
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(message, sizeof(message), "out of memory reading the configuration");
		int exit_code = r == -EINVAL || r == -EPERM || r == -EFBIG ? EXIT_USAGE : EXIT_ABORTED;
		report_error("config: %s", message);
		if (cli.json)
			json_print(json_pack("{s:s, s:s, s:i}", "command", "config", "error", message,
					     "exit", exit_code));
		return exit_code;
	}
	legacy_notes(&config);
	if (cli.json) {
		json_print(config_json(&config, only_hook));
	} else if (strict_query) {
		printf("%s\n", config.strict_hooks ? "yes" : "no");
	} else if (only_hook >= 0) {
		for (size_t i = 0; i < config.n_targets; i++)
			if (only_hook == CONFIG_HOOK_COUNT || config.targets[i].hooks[only_hook])
				printf("%s\n", config.targets[i].path);
	} else {
		printf("file:         %s\n", config.file ? config.file : "none (defaults)");
		printf("keep:         %u\n", config.keep ? config.keep : TXN_DEFAULT_KEEP);
		printf("strict hooks: %s\n", config.strict_hooks ? "yes" : "no");
		for (size_t i = 0; i < config.n_targets; i++) {
			const struct config_target *t = &config.targets[i];
			printf("target:       %s:", t->path);
			for (int h = 0; h < CONFIG_HOOK_COUNT; h++)
				if (t->hooks[h])
					printf(" %s", config_hook_name((enum config_hook)h));
			if (t->keep)
				printf(" (keep %u)", t->keep);
			printf("%s\n", t->legacy ? " (from an old list file)" : "");
		}
	}
	config_free(&config);
	return EXIT_DONE;
}
