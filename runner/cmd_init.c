/* SPDX-License-Identifier: MIT */
/* cmd_init.c: `init PATH`, make a directory (or a new path) a managed subvolume. */
#include "engine.h"

int cmd_init(int argc, char **argv)
{
	const struct command *self = command_find("init");
	struct txn_options options = { .command = "btrfs-txn init" };
	const char *path;
	int code = parse_one_arg(argc, argv, self, NULL, NULL, NULL, &options, &path);
	if (code >= 0)
		return code;
	/* SIGINT, SIGTERM, SIGHUP: before the exchange, stop cp and undo (exit 1);
	 * after it, finish. */
	install_interrupt_handlers();
	progress_attach(&options);
	enum txn_init_action action;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "init", "path", path) : NULL;
	outcome_begin("init", path);
	if (txn_init(path, &options, &action, &error) < 0)
		return report_txn_error("init", &error, doc);
	static const char *const actions[] = {
		[TXN_INIT_ALREADY] = "already",
		[TXN_INIT_CREATED] = "created",
		[TXN_INIT_CONVERTED] = "converted",
	};
	static const char *const says[] = {
		[TXN_INIT_ALREADY] = "is already a subvolume; its state directory is ready",
		[TXN_INIT_CREATED] = "did not exist: created an empty subvolume",
		[TXN_INIT_CONVERTED] = "was a plain directory: it is now a subvolume with the same content",
	};
	if (doc) {
		json_object_set_new(doc, "action", json_string(actions[action]));
		json_print(doc);
	}
	if (action != TXN_INIT_ALREADY)
		outcome_committed(actions[action], NULL, 0, 0, NULL);
	report_info("%s %s", path, says[action]);
	return EXIT_DONE;
}
