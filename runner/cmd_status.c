/* SPDX-License-Identifier: MIT */
/* cmd_status.c: `status TARGET`, generation, kept generations, interrupted work (a
 * journal, or a trans window cut short), a transaction running now, lock. */
#include "engine.h"

#include <stdlib.h>
#include <time.h>

int cmd_status(int argc, char **argv)
{
	const struct command *self = command_find("status");
	struct txn_options options = { 0 };
	const char *target;
	int code = parse_one_arg(argc, argv, self, NULL, NULL, NULL, &options, &target);
	if (code >= 0)
		return code;
	_cleanup_state_ struct txn_state s = { 0 };
	struct txn_error error = { 0 };
	if (txn_state_read(target, &s, &error) < 0)
		return report_txn_error("status", &error,
					cli.json ? json_pack("{s:s}", "command", "status") : NULL);
	if (cli.json) {
		json_t *kept = json_array();
		for (size_t i = 0; i < s.n_kept; i++)
			json_array_append_new(kept, json_pack("{s:I, s:o, s:b, s:s?}", "generation",
							      (json_int_t)s.kept[i].number, "created",
							      s.kept[i].otime ? json_time((int64_t)s.kept[i].otime, -1) : json_null(), "pinned",
							      s.kept[i].pinned, "mounted",
							      s.kept[i].mounted_at[0] ? s.kept[i].mounted_at
										     : NULL));
		json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:I, s:o, s:b, s:b}", "command", "status",
					"target", s.target, "state_dir", s.state_dir, "uuid",
					s.uuid[0] ? s.uuid : NULL, "generation",
					(json_int_t)s.generation, "kept", kept, "interrupted",
					s.journal_present && !s.running, "locked", s.locked);
		/* Only when true, like "trans_interrupted": a healthy target's shape stays. */
		if (s.running)
			json_object_set_new(doc, "running", json_true());
		if (s.running && s.lock_pid > 0)
			json_object_set_new(doc, "running_pid", json_integer(s.lock_pid));
		if (s.journal_present)
			json_object_set_new(doc, "journal", json_pack("{s:s, s:s}", "txid", s.journal_txid,
								      "kind", s.journal_kind));
		/* Only when true, like "journal": the shape of a healthy target stays as it was. */
		if (s.trans_interrupted)
			json_object_set_new(doc, "trans_interrupted", json_true());
		if (s.locked)
			json_object_set_new(doc, "lock_holder", json_string(s.lock_holder));
		/* What was sent from here and received here (send, receive), only for a
		 * target that did either: the shape of the others stays as it was. */
		_cleanup_free_ char *transfers = NULL;
		struct txn_error transfers_error = { 0 };
		if (txn_transfers_json(target, &transfers, &transfers_error) == 0) {
			_cleanup_json_ json_t *t = json_loads(transfers, 0, NULL);
			if (t && (json_is_string(json_object_get(t, "lineage")) ||
				  json_array_size(json_object_get(t, "received")) > 0))
				json_object_set_new(doc, "transfers", TAKE_PTR(t));
		}
		/* Only for a mounted target, like "journal". */
		if (s.mounted)
			json_object_set_new(doc, "mounted", json_pack("{s:s, s:b}", "subvolume", s.subvolume,
								      "switch_pending", s.switch_pending));
		json_print(doc);
	} else {
		printf("target:      %s\n", s.target);
		printf("uuid:        %s\n", s.uuid[0] ? s.uuid : "(not a subvolume)");
		printf("generation:  %llu\n", (unsigned long long)s.generation);
		printf("kept:       ");
		if (!s.n_kept)
			printf(" none");
		for (size_t i = 0; i < s.n_kept; i++)
			printf(" gen-%llu%s%s%s%s", (unsigned long long)s.kept[i].number,
			       s.kept[i].pinned ? " (pinned: holds writes of other processes)" : "",
			       s.kept[i].mounted_at[0] ? " (mounted at " : "", s.kept[i].mounted_at,
			       s.kept[i].mounted_at[0] ? ")" : "");
		printf("\nstate:       %s\n", s.state_dir);
		if (s.mounted)
			printf("mounted:     subvolume '%s' at its own mount point; state at the top level\n",
			       s.subvolume);
		if (s.switch_pending)
			printf("switch:      pending until the next mount: '%s' at the top level holds a "
			       "newer tree than the mount shows\n", s.subvolume);
		if (s.running && s.lock_pid > 0)
			printf("running:     %s transaction %s (pid %d)\n", s.journal_kind,
			       s.journal_txid, s.lock_pid);
		else if (s.running)
			printf("running:     %s transaction %s\n", s.journal_kind, s.journal_txid);
		else if (s.journal_present)
			printf("interrupted: %s transaction %s; 'btrfs-txn recover %s' finishes or undoes it\n",
			       s.journal_kind, s.journal_txid, target);
		if (s.trans_interrupted)
			printf("interrupted: trans window cut short; ops may be partially applied: see "
			       "'%s/trans-inflight', check its paths, then delete it\n", s.state_dir);
		for (size_t i = 0; i < s.n_kept; i++)
			if (s.kept[i].pinned)
				printf("pinned:      gen-%llu holds writes other processes made during a "
				       "transaction ('btrfs-txn history' names them); 'btrfs-txn gc %s "
				       "--release %llu' lets gc drop it\n",
				       (unsigned long long)s.kept[i].number, target,
				       (unsigned long long)s.kept[i].number);
		if (s.locked)
			printf("locked:      by %s\n", s.lock_holder[0] ? s.lock_holder : "another process");
	}
	return EXIT_DONE;
}
