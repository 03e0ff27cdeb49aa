/* SPDX-License-Identifier: MIT */
/*
 * recover.c: the tail after the commit point and the undo before it, shared by a
 * running transaction (snapshot.c) and by recovery, which decides between them by
 * UUID (docs/protocol.md): if the subvolume at T is the journaled staging one, the
 * commit happened and the tail is finished (with the check for other writers the
 * interrupted run did not get to); otherwise the staging is deleted. Every step is
 * idempotent, so recovery may itself be interrupted.
 */
#include "internal.h"
#include "received.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

/* After the commit point, first half: staging (the old tree) becomes read-only
 * gen-N. Idempotent. Setting the flag commits a Btrfs transaction by itself. */
int archive_old_tree(struct target *t, const struct journal *j, bool recovered,
			    struct txn_error *error)
{
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)j->from_generation);
	if (exists_at(t->state_fd, j->staging)) {
		if (exists_at(t->state_fd, gen_name))
			return txn_fail(error, TXN_NEEDS_PERSON, EEXIST,
					"cannot keep the old tree of %s as '%s/%s'", j->txid,
					t->state_path, gen_name);
		if (renameat(t->state_fd, j->staging, t->state_fd, gen_name) < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, errno, "cannot rename '%s/%s' to '%s'",
					t->state_path, j->staging, gen_name);
	}
	txn_step(recovered ? "recover-renamed" : "renamed");
	_cleanup_close_ int gen_fd =
		openat(t->state_fd, gen_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gen_fd < 0)
		/* Never skip the flag silently: a kept tree others can still change is no
		 * generation. */
		return txn_fail(error, TXN_NEEDS_PERSON, errno, "cannot open '%s/%s' to make it read-only",
				t->state_path, gen_name);
	/* A mounted target's replaced tree may be the running one: read-only would
	 * break the running system; it is made so once nothing mounts it (mounted.c). */
	if (mounted_is_running(t, gen_fd))
		return 0;
	errno = 0;
	int r = btrfs_error(btrfs_util_set_subvolume_read_only_fd(gen_fd, true));
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot make '%s/%s' read-only",
				t->state_path, gen_name);
	return 0;
}

/* Second half: the history gets its line, the journal goes. Idempotent. */
int record_committed(struct target *t, const struct journal *j, bool recovered,
			    const struct txn_concurrent *concurrent, struct txn_error *error)
{
	/* Only a recovery can find the line already there (a crash after it was
	 * appended); a running transaction's txid is new. */
	if (!recovered || !history_has(t->state_fd, j->txid)) {
		struct history_entry e = {
			.txid = j->txid, .kind = j->kind,
			.description = j->description[0] ? j->description : NULL,
			.result = "committed", .generation = j->to_generation,
			.previous = j->from_generation, .rollback_to = j->rollback_to,
			.n_ops = j->n_ops, .recovered = recovered, .started = j->started,
			.concurrent = concurrent, .switch_pending = mounted_pending(t) == 1,
		};
		int r = history_append(t->state_fd, &e);
		if (r < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot append to '%s/%s'",
					t->state_path, HISTORY_NAME);
	}
	txn_step(recovered ? "recover-history" : "history");
	int r = journal_remove(t->state_fd);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot remove '%s/%s'", t->state_path,
				JOURNAL_NAME);
	return 0;
}

/* Refuses (TXN_NEEDS_PERSON, naming them) to delete the subvolume @name of the
 * state directory while live processes use it: a command of 'run' that outlived
 * us, a shell whose working directory is there. Deleting it would pull the tree
 * from under them; a person decides, and recovery retries once they are gone. */
static int refuse_if_used(const struct target *t, const char *name, struct txn_error *error)
{
	struct stat st;
	if (fstatat(t->state_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_ino != 256)
		return 0;
	struct holder *list = NULL;
	size_t n = 0;
	int r = holders_find(st.st_dev, false, &list, &n);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"cannot look in /proc for processes using '%s/%s'", t->state_path, name);
	char who[700];
	holders_describe(list, n, who, sizeof(who));
	free(list);
	if (n)
		return txn_fail(error, TXN_NEEDS_PERSON, EBUSY,
				"'%s/%s' is still used by %s; not deleted: stop it, then run "
				"'btrfs-txn recover %s'",
				t->state_path, name, who, t->path);
	return 0;
}

/* The tail as recovery finishes it, with the check for other writers that the
 * interrupted run did not get to (concurrent.c): the old tree, read-only once
 * archived, is searched with the mark of the staged record after a commit, and
 * what is found is pinned and recorded in the history line. Without a mark (a
 * staged record lost with the crash, or written by an older version), the tail is
 * finished without the check. */
static int finish_committed_checked(struct target *t, const struct journal *j,
				    struct txn_recover_result *result, struct txn_error *error)
{
	int r = archive_old_tree(t, j, true, error);
	if (r < 0)
		return r;
	_cleanup_free_ struct txn_concurrent *report = NULL;
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)j->from_generation);
	_cleanup_close_ int gen_fd =
		openat(t->state_fd, gen_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* A mounted target: the default subvolume follows the switch; the running
	 * tree's own writes are expected, not checked (mounted.c). */
	int moved = t->mounted && gen_fd >= 0 ? mounted_follow_default(t, gen_fd) : 0;
	if (moved < 0)
		return mounted_default_failed(t, moved, error);
	if (j->has_mark && gen_fd >= 0 && !history_has(t->state_fd, j->txid) &&
	    !mounted_is_running(t, gen_fd) &&
	    (report = calloc(1, sizeof(*report)))) {
		struct tree_mark mark = {
			.generation = j->mark_generation,
			.since = { .tv_sec = (time_t)j->mark_sec, .tv_nsec = j->mark_nsec },
			.root_mode = j->mark_mode, .root_uid = j->mark_uid, .root_gid = j->mark_gid,
			.after_transid = j->mark_transid,
		};
		concurrent_holders(gen_fd, report);
		r = sync_fs(gen_fd);
		if (r == 0)
			r = concurrent_changes(gen_fd, &mark, report);
		if (r < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r,
					"cannot check '%s/%s' for writes of other processes",
					t->state_path, gen_name);
		if (report->count > 0 || report->n_holders > 0) {
			report->pinned = j->from_generation;
			r = pin_write(t->state_fd, j->from_generation, j->txid, report);
			if (r < 0)
				return txn_fail(error, TXN_NEEDS_PERSON, r,
						"'%s/%s' holds writes of other processes but could "
						"not be pinned", t->state_path, gen_name);
			result->pinned = j->from_generation;
			result->concurrent_count = report->count + report->n_holders;
		} else {
			free(TAKE_PTR(report));
		}
	}
	return record_committed(t, j, true, report, error);
}

/* Undo before the commit point: the staging goes, then the journal. Never deletes
 * a subvolume that is the target's tree, nor one a live process uses. */
int undo_uncommitted(struct target *t, const struct journal *j, bool recovered,
			    const char *reason, struct txn_error *error)
{
	if (exists_at(t->state_fd, j->staging)) {
		_cleanup_close_ int fd = openat(t->state_fd, j->staging,
						O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char uuid[37] = "";
		if (fd >= 0 && strcmp(j->kind, "init") != 0)
			subvolume_identity(fd, uuid, NULL, NULL);
		if (uuid[0] && strcmp(uuid, j->target_uuid) == 0)
			return txn_fail(error, TXN_NEEDS_PERSON, 0,
					"'%s/%s' holds the target's own tree (uuid %s); not deleting it",
					t->state_path, j->staging, uuid);
		if (fd >= 0)
			close(TAKE_FD(fd));
		int r = refuse_if_used(t, j->staging, error);
		if (r < 0)
			return r;
		r = delete_subvolume_at(t->state_fd, j->staging);
		if (r < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot delete staging '%s/%s'",
					t->state_path, j->staging);
	}
	txn_step(recovered ? "recover-deleted" : "staging-deleted");
	if (!history_has(t->state_fd, j->txid)) {
		struct history_entry e = {
			.txid = j->txid, .kind = j->kind,
			.description = j->description[0] ? j->description : NULL,
			.result = "aborted", .reason = reason, .previous = j->from_generation,
			.rollback_to = j->rollback_to, .n_ops = j->n_ops, .recovered = recovered,
			.started = j->started,
		};
		history_append(t->state_fd, &e); /* best effort: the tree is what matters */
	}
	int r = journal_remove(t->state_fd);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot remove '%s/%s'", t->state_path,
				JOURNAL_NAME);
	return 0;
}

/* Staging subvolumes no journal speaks of, e.g. left by a crash in an older
 * version or by hand; removed unless they are the tree T was snapshotted from. */
static int remove_stray_staging(struct target *t, const char *keep_name, unsigned *ret_removed,
				struct txn_error *error)
{
	char t_parent[37] = "";
	subvolume_identity(t->fd, NULL, NULL, t_parent);
	int fd = openat(t->state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return txn_fail(error, TXN_NEEDS_PERSON, errno, "cannot list '%s'", t->state_path);
	}
	int r = 0;
	struct dirent *entry;
	while (r == 0 && (entry = readdir(dir))) {
		if (strncmp(entry->d_name, "staging-", 8) != 0 &&
		    strncmp(entry->d_name, "init-", 5) != 0)
			continue;
		if (keep_name && strcmp(entry->d_name, keep_name) == 0)
			continue;
		_cleanup_close_ int sub = openat(dirfd(dir), entry->d_name,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char uuid[37] = "";
		if (sub < 0 || subvolume_identity(sub, uuid, NULL, NULL) < 0)
			continue; /* not a subvolume: not ours to judge */
		if (strcmp(uuid, t_parent) == 0)
			continue;
		close(TAKE_FD(sub));
		r = refuse_if_used(t, entry->d_name, error);
		if (r < 0)
			break;
		r = delete_subvolume_at(dirfd(dir), entry->d_name);
		if (r < 0)
			r = txn_fail(error, TXN_NEEDS_PERSON, r, "cannot delete stray '%s/%s'",
				     t->state_path, entry->d_name);
		else
			(*ret_removed)++;
	}
	closedir(dir);
	return r;
}
/* A receive's record follows the commit decision (received.c), made while the
 * journal still names the receive: a crash right after leaves the journal, and
 * the next recover decides the same again (received_recover() is idempotent). */
static int receive_record_follows(struct target *t, const struct journal *j, bool committed,
				  struct txn_error *error)
{
	if (strcmp(j->kind, "receive") != 0)
		return 0;
	int r = received_recover(t->state_fd, j->txid, committed);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"cannot finish the record of receive %s in '%s'", j->txid,
				t->state_path);
	return 0;
}


/*
 * Whether the exchange of @j happened although its staged record (the staging
 * UUID) is missing: T's old tree (the journal's target UUID) sits at the staging
 * name, and the subvolume at T's name is a snapshot of the tree the transaction
 * started from (T's old tree for apply and run, gen-N for a rollback to N). Step
 * 7 writes the record back before the exchange, so a commit that carries the
 * exchange carries the record too; this is the decision without relying on it.
 */
static bool exchanged_without_record(const struct target *t, const struct journal *j)
{
	char staging_uuid[37] = "", t_uuid[37] = "", t_parent[37] = "", source_uuid[37] = "";
	bool from_target = strcmp(j->kind, "apply") == 0 || strcmp(j->kind, "run") == 0;
	if (j->staging_uuid[0] || (!from_target && strcmp(j->kind, "rollback") != 0))
		return false;
	_cleanup_close_ int fd = openat(t->state_fd, j->staging,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || subvolume_identity(fd, staging_uuid, NULL, NULL) < 0 ||
	    subvolume_identity(t->fd, t_uuid, NULL, t_parent) < 0)
		return false;
	if (strcmp(staging_uuid, j->target_uuid) != 0 || strcmp(t_uuid, j->target_uuid) == 0)
		return false;
	if (from_target)
		return strcmp(t_parent, j->target_uuid) == 0;
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)j->rollback_to);
	_cleanup_close_ int source_fd = openat(t->state_fd, gen_name,
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return source_fd >= 0 && subvolume_identity(source_fd, source_uuid, NULL, NULL) == 0 &&
	       strcmp(t_parent, source_uuid) == 0;
}

/* Recovery with the lock held. */
int recover_locked(struct target *t, unsigned keep, struct txn_recover_result *ret,
			  struct txn_error *error)
{
	struct txn_recover_result result = { .action = TXN_RECOVERY_NONE };
	struct journal j;
	/* A cut-short trans window left changes no journal describes: a person first. */
	int marker_r = trans_marker_check(t, error);
	if (marker_r < 0)
		return marker_r;
	journal_discard_partial(t->state_fd);
	int found = journal_read(t->state_fd, &j);
	if (found == -ENODATA) {
		/* A journal whose bytes no commit carried: its transaction stopped before
		 * step 7 wrote it back, so before the exchange. Its staging, if any, is a
		 * stray the removal below deletes (and counts); no txid is known. */
		int r = journal_remove(t->state_fd);
		if (r < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot remove the empty journal '%s/%s'",
					t->state_path, JOURNAL_NAME);
		found = 0;
	}
	if (found < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, found,
				"journal '%s/%s' is unreadable; inspect it and the staging subvolumes there",
				t->state_path, JOURNAL_NAME);
	txn_step("recover-start");
	if (found && strcmp(j.kind, "init") == 0) {
		int r = init_recover(t, &j, true, &result, error);
		if (r < 0)
			return r;
	} else if (found) {
		char uuid[37];
		int r = subvolume_identity(t->fd, uuid, NULL, NULL);
		if (r < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot read the UUID of '%s'", t->path);
		snprintf(result.txid, sizeof(result.txid), "%s", j.txid);
		/* No staged record: decided by where T's old tree is (the check for
		 * other writers is then skipped: its mark was in the record). */
		if (exchanged_without_record(t, &j))
			snprintf(j.staging_uuid, sizeof(j.staging_uuid), "%s", uuid);
		if (j.staging_uuid[0] && strcmp(uuid, j.staging_uuid) == 0) {
			/* The exchange happened: make it durable, then finish the tail. */
			r = sync_fs(t->fd);
			if (r < 0)
				return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot sync '%s'", t->path);
			r = receive_record_follows(t, &j, true, error);
			if (r < 0)
				return r;
			r = finish_committed_checked(t, &j, &result, error);
			if (r < 0)
				return r;
			result.action = TXN_RECOVERY_ROLLED_FORWARD;
		} else if (strcmp(uuid, j.target_uuid) == 0) {
			r = receive_record_follows(t, &j, false, error);
			if (r < 0)
				return r;
			r = undo_uncommitted(t, &j, true, "interrupted before the commit point", error);
			if (r < 0)
				return r;
			result.action = TXN_RECOVERY_ROLLED_BACK;
		} else {
			return txn_fail(error, TXN_NEEDS_PERSON, 0,
					"'%s' is neither the tree before transaction %s (uuid %s) nor "
					"its staging (uuid %s) but uuid %s; leaving '%s' as it is",
					t->path, j.txid, j.target_uuid,
					j.staging_uuid[0] ? j.staging_uuid : "none", uuid, t->state_path);
		}
	}
	int r = remove_stray_staging(t, NULL, &result.removed, error);
	if (r < 0)
		return r;
	/* What btrfs receive left half-written (receiving-*) goes in any case
	 * (received.c). */
	char partial[NAME_MAX + 1] = "";
	r = received_discard_partial(t->state_fd, &result.removed, partial, sizeof(partial));
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot delete the partial receive '%s/%s'",
				t->state_path, partial);
	if (result.action == TXN_RECOVERY_ROLLED_FORWARD)
		drop_generations(t->state_fd, keep, NULL, NULL);
	txn_step("recover-done");
	result.generation = generation_current(t->state_fd);
	if (ret)
		*ret = result;
	return 0;
}

int txn_recover(const char *path, const struct txn_options *options,
		struct txn_recover_result *ret_result, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	/* No state directory: nothing was ever in flight here, and recovery (run at
	 * boot over a list of targets) should not leave one behind. */
	if (t.state_fd < 0) {
		target_close(&t);
		if (ret_result)
			*ret_result = (struct txn_recover_result){ .action = TXN_RECOVERY_NONE };
		return 0;
	}
	r = target_lock(&t, options, error);
	if (r == 0) {
		struct txn_recover_result result;
		r = recover_locked(&t, generations_keep(options, NULL), &result, error);
		if (r == 0 && ret_result)
			*ret_result = result;
	}
	target_close(&t);
	return r;
}
