/* SPDX-License-Identifier: MIT */
/*
 * tag.c: tagged snapshots, the pre/post pairs that package-manager hooks take around
 * an upgrade of a tree changed in place (where nothing can be swapped: the package
 * manager writes to the live tree itself).
 *
 * A tagged snapshot is a generation like the ones transactions keep: with the lock
 * held and any interrupted transaction recovered, the live tree of T is snapshotted
 * read-only as gen-N (N, the current generation), and T's generation becomes N+1.
 * So `rollback --to N` returns to the tree before the upgrade, `diff N N+1` shows
 * what it did, and gc counts these generations like the others. The history line has
 * kind "snapshot", "tag" ("pre" or "post") and "pair": a pre's own txid, which its
 * post repeats. A post pairs with the latest pre that has no post yet (the unpaired
 * pres form a stack: an upgrade that crashed before its post leaves its pre unpaired
 * rather than stealing the next upgrade's post); a post with no such pre has pair
 * null.
 *
 * No journal: the only write before the history line is the snapshot itself. A crash
 * between the two leaves gen-N without its line: still a kept generation (N+1 is
 * current, by the "one past the newest kept gen-N" rule), only the tag is lost.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

static int tag_locked(struct target *t, enum txn_tag tag, const struct txn_options *options,
		      struct txn_snapshot_result *result, struct txn_error *error)
{
	char started[32];
	utc_now(started);
	make_txid(result->txid);
	if (tag == TXN_TAG_PRE) {
		snprintf(result->pair, sizeof(result->pair), "%s", result->txid);
	} else {
		int found = pairs_latest_unpaired(t->state_fd, result->pair, &result->pair_pre);
		if (found < 0)
			return txn_fail(error, TXN_ABORTED, -found, "cannot read '%s/%s'",
					t->state_path, HISTORY_NAME);
	}

	uint64_t current = generation_current(t->state_fd);
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)current);
	struct stat st;
	if (fstatat(t->state_fd, gen_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return txn_fail(error, TXN_NEEDS_PERSON, EEXIST,
				"'%s/%s' exists although generation %llu is the current one",
				t->state_path, gen_name, (unsigned long long)current);
	/* A mounted target: the tree the mount shows, which the package manager
	 * changes; with a switch pending, that tree is about to be left behind. */
	if (t->switch_pending)
		return txn_fail(error, TXN_UNSUPPORTED, 0,
				"'%s' has a switch pending until the next mount: the running tree "
				"is no longer the target's current generation, and changes to it "
				"will not be in the tree the next mount shows; remount (reboot, "
				"for /) first",
				t->path);
	errno = 0;
	int r = btrfs_error(btrfs_util_create_snapshot_fd2(t->mounted ? t->running_fd : t->fd,
							   t->state_fd, gen_name,
							   BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY,
							   NULL, NULL));
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot snapshot '%s' to '%s/%s'", t->path,
				t->state_path, gen_name);
	txn_step("tag-snapshotted");
	/* The snapshot is on disk before the history says it exists, with no sync
	 * of ours: BTRFS_IOC_SNAP_CREATE_V2 makes the snapshot in the commit of the
	 * running transaction and returns once that commit (super block included)
	 * is written, or fails. A BTRFS_IOC_SYNC here was a second commit carrying
	 * nothing the tag needs (the history line after it is not synced either: a
	 * crash that loses it loses only the tag, see above). */
	const char *tag_name = tag == TXN_TAG_PRE ? "pre" : "post";
	struct history_entry e = {
		.txid = result->txid, .kind = "snapshot",
		.description = options && options->description ? options->description : NULL,
		.result = "committed", .generation = current + 1, .previous = current,
		.started = started, .tag = tag_name, .pair = result->pair[0] ? result->pair : NULL,
	};
	r = history_append(t->state_fd, &e);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s/%s' was made but cannot be recorded in '%s/%s'", t->state_path,
				gen_name, t->state_path, HISTORY_NAME);
	txn_step("tag-history");
	result->snapshot = current;
	result->generation = current + 1;
	drop_generations(t->state_fd, generations_keep(options, NULL), &result->dropped, NULL);
	return 0;
}

int txn_snapshot_tag(const char *path, enum txn_tag tag, const struct txn_options *options,
		     struct txn_snapshot_result *ret_result, struct txn_error *error)
{
	if (tag != TXN_TAG_PRE && tag != TXN_TAG_POST)
		return txn_fail(error, TXN_INVALID, EINVAL, "unknown snapshot tag %d", (int)tag);
	struct txn_snapshot_result result = { 0 };
	struct target t;
	int r = target_open(path, TARGET_CREATE_STATE, &t, error);
	if (r < 0)
		return r;
	r = target_lock(&t, options, error);
	struct txn_recover_result recovered = { .action = TXN_RECOVERY_NONE };
	if (r == 0)
		r = recover_locked(&t, generations_keep(options, NULL), &recovered, error);
	if (r == 0) {
		result.recovered_first = recovered.action != TXN_RECOVERY_NONE;
		r = tag_locked(&t, tag, options, &result, error);
	}
	target_close(&t);
	if (r == 0 && ret_result)
		*ret_result = result;
	return r;
}
