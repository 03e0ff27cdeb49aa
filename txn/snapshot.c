/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: the snapshot-then-swap method: apply and rollback as transactions,
 * and their recovery.
 *
 * One transaction (DESIGN.md, "The snapshot method"):
 *   lock -> recover -> preconditions -> journal -> snapshot to staging-TXID ->
 *   record the staging UUID (made durable by the flush) -> ops -> verify ->
 *   BTRFS_IOC_SYNC -> T unchanged? -> renameat2(RENAME_EXCHANGE) (the commit point)
 *   -> staging (now the old tree) becomes read-only gen-N, which commits ->
 *   BTRFS_IOC_SYNC -> history -> journal removed -> gc.
 * Recovery decides by UUID: if the subvolume at T is the journaled staging one, the
 * commit happened and the tail is finished; otherwise the staging is deleted.
 * Every step of the tail is idempotent, so recovery may itself be interrupted.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

int btrfs_error(int e)
{
	if (e == BTRFS_UTIL_OK)
		return 0;
	return errno ? -errno : -EIO;
}

void make_txid(char out[40])
{
	uint32_t random = 0;
	if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random))
		random = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char stamp[24];
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, 40, "%s-%06x", stamp, random & 0xffffff);
}

static bool exists_at(int dir_fd, const char *name)
{
	struct stat st;
	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int delete_subvolume_at(int dir_fd, const char *name)
{
	errno = 0;
	return btrfs_error(btrfs_util_delete_subvolume_fd(dir_fd, name, 0));
}

int sync_fs(int fd)
{
	errno = 0;
	return btrfs_error(btrfs_util_sync_fd(fd));
}

static unsigned keep_of(const struct txn_options *options, const struct txn_batch *batch)
{
	if (batch && batch->has_keep)
		return batch->keep;
	if (options && options->keep)
		return options->keep;
	return TXN_DEFAULT_KEEP;
}

/* Deletes gen-N beyond the newest @keep, going on past one it cannot delete, so
 * that a stuck generation never keeps all the others. Never deleted: a pinned one
 * (it holds concurrent writes), one mounted somewhere, and a pre snapshot whose
 * post stays (half a pair cannot be diffed or rolled back to as a pair; it costs
 * one more than @keep). Each kept or failed one beyond @keep is passed to
 * @skipped (may be NULL) with the reason; the first error is returned, after
 * trying them all. */
int drop_generations(int state_fd, unsigned keep, unsigned *ret_removed,
		     const struct txn_gc_notes *skipped)
{
	struct txn_generation *list = NULL;
	size_t n = 0;
	unsigned removed = 0;
	int first_error = 0;
	int r = generations_list(state_fd, &list, &n);
	if (r < 0)
		first_error = r;
	for (size_t i = 0; r == 0 && i + keep < n; i++) {
		uint64_t post;
		uint64_t number = list[i].number;
		if (keep > 0 && tag_pair_post(state_fd, number, &post) &&
		    post >= list[n - keep].number)
			continue;
		if (pin_exists(state_fd, number)) {
			if (skipped)
				skipped->fn(number, 0, "pinned: it holds writes of other processes "
						       "('gc --release N' releases it)", skipped->ctx);
			continue;
		}
		char name[32];
		snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)number);
		char mount[PATH_MAX];
		_cleanup_close_ int gen_fd =
			openat(state_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (gen_fd >= 0 && mount_of_subvolume(gen_fd, mount, sizeof(mount)) > 0) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof(why), "mounted at '%s' (unmount it first)", mount);
			if (skipped)
				skipped->fn(number, 0, why, skipped->ctx);
			continue;
		}
		if (gen_fd >= 0)
			close(TAKE_FD(gen_fd));
		int d = delete_subvolume_at(state_fd, name);
		if (d == 0) {
			removed++;
			continue;
		}
		if (!first_error)
			first_error = d;
		if (skipped)
			skipped->fn(number, -d, "cannot delete it", skipped->ctx);
	}
	free(list);
	if (ret_removed)
		*ret_removed = removed;
	return first_error;
}

/* After the commit point, first half: staging (the old tree) becomes read-only
 * gen-N. Idempotent. Setting the flag commits a Btrfs transaction by itself. */
static int archive_old_tree(struct target *t, const struct journal *j, bool recovered,
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
	if (gen_fd >= 0) {
		errno = 0;
		int r = btrfs_error(btrfs_util_set_subvolume_read_only_fd(gen_fd, true));
		if (r < 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot make '%s/%s' read-only",
					t->state_path, gen_name);
	}
	return 0;
}

/* Second half: the history gets its line, the journal goes. Idempotent. */
static int record_committed(struct target *t, const struct journal *j, bool recovered,
			    const struct txn_concurrent *concurrent, struct txn_error *error)
{
	if (!history_has(t->state_fd, j->txid)) {
		struct history_entry e = {
			.txid = j->txid, .kind = j->kind,
			.description = j->description[0] ? j->description : NULL,
			.result = "committed", .generation = j->to_generation,
			.previous = j->from_generation, .rollback_to = j->rollback_to,
			.n_ops = j->n_ops, .recovered = recovered, .started = j->started,
			.concurrent = concurrent,
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
	if (j->has_mark && gen_fd >= 0 && !history_has(t->state_fd, j->txid) &&
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
static int undo_uncommitted(struct target *t, const struct journal *j, bool recovered,
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
		if (j.staging_uuid[0] && strcmp(uuid, j.staging_uuid) == 0) {
			/* The exchange happened: make it durable, then finish the tail. */
			r = sync_fs(t->fd);
			if (r < 0)
				return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot sync '%s'", t->path);
			r = finish_committed_checked(t, &j, &result, error);
			if (r < 0)
				return r;
			result.action = TXN_RECOVERY_ROLLED_FORWARD;
		} else if (strcmp(uuid, j.target_uuid) == 0) {
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
	if (result.action == TXN_RECOVERY_ROLLED_FORWARD)
		drop_generations(t->state_fd, keep, NULL, NULL);
	txn_step("recover-done");
	result.generation = generation_current(t->state_fd);
	if (ret)
		*ret = result;
	return 0;
}

/* What a transaction makes its staging from. */
struct source {
	const struct txn_batch *batch; /* apply: ops and verify run on the staging */
	bool rollback;                 /* rollback: staging is a snapshot of gen-N */
	uint64_t rollback_to;
	txn_stage_fn stage;            /* run: the caller changes the staging */
	void *stage_ctx;
};

#define CHECK_INTERRUPT(t_label)                                                          \
	do {                                                                              \
		if (txn_interrupted) {                                                     \
			r = txn_fail(error, TXN_ABORTED, EINTR,                           \
				     "interrupted by signal %d before the commit point",  \
				     (int)txn_interrupted);                               \
			goto t_label;                                                     \
		}                                                                         \
	} while (0)

static int transact(struct target *t, const char *kind, const struct source *src,
		    const struct txn_options *options, struct txn_result *result,
		    struct txn_error *error)
{
	struct txn_timing *tm = &result->timing;
	const struct txn_batch *batch = src->batch;
	double mark = txn_now();
	int r;

	struct journal j = { 0 };
	make_txid(j.txid);
	snprintf(j.kind, sizeof(j.kind), "%s", kind);
	snprintf(j.staging, sizeof(j.staging), "staging-%s", j.txid);
	const char *description = batch && batch->description ? batch->description
								 : options ? options->description : NULL;
	if (description)
		snprintf(j.description, sizeof(j.description), "%s", description);
	else if (src->rollback)
		snprintf(j.description, sizeof(j.description), "rollback to generation %llu",
			 (unsigned long long)src->rollback_to);
	utc_now(j.started);
	j.from_generation = generation_current(t->state_fd);
	j.to_generation = j.from_generation + 1;
	j.rollback_to = src->rollback_to;
	j.n_ops = batch ? (unsigned)batch->n_ops : 0;
	snprintf(result->txid, sizeof(result->txid), "%s", j.txid);

	r = subvolume_identity(t->fd, j.target_uuid, NULL, NULL);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read the UUID of '%s'", t->path);
	r = refuse_nested(t, TXN_UNSUPPORTED, error);
	if (r < 0)
		return r;
	/* What T looked like before: the checks before and after the exchange count
	 * the inodes changed since (modified.c). Apply and run take it just before
	 * the snapshot, which carries every earlier write into the new tree. A
	 * rollback replaces T with an older tree, so the writes that count as
	 * concurrent are those since it holds the lock: it takes the mark now. */
	struct tree_mark before;
	if (src->rollback) {
		r = tree_mark_take(t->fd, &before);
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s'",
					t->path);
	}

	r = journal_write(t->state_fd, &j);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot write journal '%s/%s'", t->state_path,
				JOURNAL_NAME);
	txn_step("journaled");
	tm->journal = txn_now() - mark;
	mark = txn_now();

	bool staging_made = false;
	_cleanup_free_ struct txn_concurrent *report = NULL;
	_cleanup_close_ int source_fd = -EBADF;
	_cleanup_close_ int staging_fd = -EBADF;
	if (src->rollback) {
		char gen_name[32];
		snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)src->rollback_to);
		source_fd = openat(t->state_fd, gen_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (source_fd < 0) {
			r = txn_fail(error, TXN_ABORTED, errno, "cannot open generation '%s/%s'",
				     t->state_path, gen_name);
			goto abort;
		}
	}
	r = src->rollback ? 0 : tree_mark_take(t->fd, &before);
	if (r < 0) {
		r = txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s'", t->path);
		goto abort;
	}
	errno = 0;
	r = btrfs_error(btrfs_util_create_snapshot_fd2(src->rollback ? source_fd : t->fd,
						       t->state_fd, j.staging, 0, NULL, NULL));
	if (r < 0) {
		r = txn_fail(error, TXN_ABORTED, r, "cannot snapshot '%s' to '%s/%s'", t->path,
			     t->state_path, j.staging);
		goto abort;
	}
	staging_made = true;
	txn_step("snapshotted");
	staging_fd = openat(t->state_fd, j.staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (staging_fd < 0) {
		r = txn_fail(error, TXN_ABORTED, errno, "cannot open staging '%s/%s'", t->state_path,
			     j.staging);
		goto abort;
	}
	r = subvolume_identity(staging_fd, j.staging_uuid, NULL, NULL);
	struct btrfs_util_subvolume_info staging_info;
	errno = 0;
	if (r == 0 && !src->rollback) {
		/* A snapshot of T itself: whatever its transaction wrote is in it. */
		r = btrfs_error(btrfs_util_subvolume_info_fd(staging_fd, 0, &staging_info));
		if (r == 0)
			before.after_transid = staging_info.otransid;
	}
	if (r < 0) {
		r = txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s'", t->path);
		goto abort;
	}
	j.has_mark = true;
	j.mark_generation = before.generation;
	j.mark_sec = before.since.tv_sec;
	j.mark_nsec = before.since.tv_nsec;
	j.mark_mode = before.root_mode;
	j.mark_uid = before.root_uid;
	j.mark_gid = before.root_gid;
	j.mark_transid = before.after_transid;
	r = journal_write_staged(t->state_fd, &j);
	if (r < 0) {
		r = txn_fail(error, TXN_ABORTED, r, "cannot write '%s/%s'", t->state_path,
			     STAGED_NAME);
		goto abort;
	}
	txn_step("staged");
	tm->snapshot = txn_now() - mark;
	mark = txn_now();

	char staging_path[PATH_MAX + 80];
	snprintf(staging_path, sizeof(staging_path), "%s/%s", t->state_path, j.staging);
	if (batch) {
		/* The preconditions were checked on the live T before anything was written;
		 * a change to T after that check and before the snapshot is in the staging
		 * but invisible to step 8, which only watches T from the snapshot on. Check
		 * again on the staging, the exact tree this transaction replaces. */
		r = txn_preconditions_check(staging_fd, batch, error);
		if (r < 0)
			goto abort;
		for (size_t i = 0; i < batch->n_ops; i++) {
			CHECK_INTERRUPT(abort);
			if (options && options->progress)
				options->progress("ops", i, batch->n_ops, options->progress_ctx);
			r = txn_op_apply(staging_fd, &batch->ops[i], error);
			if (r < 0) {
				if (error->status == TXN_OK)
					error->status = TXN_ABORTED;
				goto abort;
			}
		}
		if (options && options->progress)
			options->progress("ops", batch->n_ops, batch->n_ops, options->progress_ctx);
		txn_step("applied");
		tm->ops = txn_now() - mark;
		mark = txn_now();
		CHECK_INTERRUPT(abort);
		r = txn_verify_run(&batch->verify, staging_path, error);
		if (r < 0)
			goto abort;
		txn_step("verified");
		tm->verify = txn_now() - mark;
		mark = txn_now();
	}
	if (src->stage) {
		CHECK_INTERRUPT(abort);
		r = src->stage(staging_path, src->stage_ctx, error);
		if (r < 0) {
			if (error->status == TXN_OK)
				error->status = TXN_ABORTED;
			goto abort;
		}
		txn_step("applied");
		tm->ops = txn_now() - mark;
		mark = txn_now();
	}
	CHECK_INTERRUPT(abort);

	/* Step 7: write back the staged data and commit, so the exchange below can only
	 * expose a tree whose bytes are on disk.
	 * BTRFS_TXN_UNSAFE_SKIP_FLUSH exists only to prove that the QEMU crash suite
	 * catches a broken protocol (make vmcheck-selftest, vmtests/README.md): "1" skips
	 * this flush, "2" also the step-10 sync. Never set it anywhere else. */
#ifdef BTRFS_TXN_TESTING
	const char *unsafe_skip = getenv("BTRFS_TXN_UNSAFE_SKIP_FLUSH");
	bool skip_flush = unsafe_skip && (!strcmp(unsafe_skip, "1") || !strcmp(unsafe_skip, "2"));
	bool skip_sync = unsafe_skip && !strcmp(unsafe_skip, "2");
#else
	/* Built only into the test build (-DBTRFS_TXN_TESTING), never installed. */
	const bool skip_flush = false, skip_sync = false;
#endif
	r = skip_flush ? 0 : sync_fs(staging_fd);
	if (r < 0) {
		r = txn_fail(error, TXN_ABORTED, r, "cannot flush '%s'", t->path);
		goto abort;
	}
	txn_step("flushed");
	tm->flush = txn_now() - mark;
	mark = txn_now();

	/* Step 8: a write to T since the snapshot would be lost by the exchange. The
	 * step-7 commit put every change made before it into the tree this searches;
	 * one made after it is caught by the check after the exchange. */
	r = concurrent_check_before(t, &before, error);
	if (r < 0)
		goto abort;
	txn_step("checked");
	tm->check = txn_now() - mark;
	CHECK_INTERRUPT(abort);
	mark = txn_now();

	/* Step 9, the commit point. From here on, signals no longer abort. */
	if (renameat2(t->parent_fd, t->name, t->state_fd, j.staging, RENAME_EXCHANGE) < 0) {
		r = txn_fail(error, TXN_ABORTED, errno, "cannot exchange '%s' with '%s'", t->path,
			     staging_path);
		goto abort;
	}
	txn_step("exchanged");
	tm->swap = txn_now() - mark;
	mark = txn_now();

	/* The old tree becomes read-only gen-N before step 10, not after it as DESIGN.md
	 * lists them: setting the flag commits a Btrfs transaction by itself, and that
	 * commit carries the exchange too, so step 10 below finds (nearly) nothing left
	 * to commit. In DESIGN.md's order these were two commits back to back. Both
	 * orders leave the same states to recovery, which finishes the tail either way. */
	close(TAKE_FD(staging_fd));
	struct txn_error archive_error = { 0 };
	int archive_r = archive_old_tree(t, &j, false, &archive_error);
	/* The old tree is read-only now: only descriptors opened before can still
	 * write to it. Look for them before the step-10 commit, so that a write
	 * through one closed since is in that commit. */
	tm->archive = txn_now() - mark;
	mark = txn_now();
	report = calloc(1, sizeof(*report));
	if (report)
		concurrent_holders(t->fd, report);
	tm->check_after = txn_now() - mark;
	mark = txn_now();

	/* Step 10: the exchange itself must be on disk before we say it is done. This
	 * does not rely on the commit of the read-only flag (which a failed archive
	 * would skip); when that commit happened, this one is cheap. */
	r = skip_sync ? 0 : sync_fs(t->parent_fd);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s' may have been switched to the new tree, but the sync that makes "
				"the switch durable failed, so either tree may be there after a "
				"remount; run 'btrfs-txn recover %s' once the filesystem is healthy",
				t->path, t->path);
	txn_step("synced");
	tm->sync = txn_now() - mark;
	mark = txn_now();

	/* The last check: every write to the old tree before the step-10 commit is
	 * in the tree now. Anything found is reported and its generation pinned. */
	r = report ? concurrent_changes(t->fd, &before, report) : -ENOMEM;
	tm->check_after += txn_now() - mark;
	mark = txn_now();
	if (r < 0 && archive_r == 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s' was switched to the new tree, but the check for writes by other "
				"processes to the replaced tree (gen-%llu) failed; compare it with the "
				"live tree before dropping it",
				t->path, (unsigned long long)j.from_generation);
	bool concurrent = report && (report->count > 0 || report->n_holders > 0);
	if (concurrent) {
		report->pinned = j.from_generation;
		r = pin_write(t->state_fd, j.from_generation, j.txid, report);
		if (r < 0 && archive_r == 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r,
					"other processes wrote to '%s' during the transaction and "
					"gen-%llu holds their writes, but it could not be pinned",
					t->path, (unsigned long long)j.from_generation);
	}
	if (archive_r < 0) {
		*error = archive_error;
		return archive_r;
	}

	r = record_committed(t, &j, false, concurrent ? report : NULL, error);
	if (r < 0)
		return r;
	drop_generations(t->state_fd, keep_of(options, batch), &result->dropped, NULL);
	txn_step("done");
	tm->archive += txn_now() - mark;
	result->generation = j.to_generation;
	result->previous = j.from_generation;
	if (concurrent)
		result->concurrent = TAKE_PTR(report);
	result->concurrent_since = before.since;
	return 0;

abort:;
	/* The error is already filled; undo what exists and keep that error. */
	struct txn_error undo_error;
	if (staging_fd >= 0)
		close(TAKE_FD(staging_fd));
	if (!staging_made)
		j.staging_uuid[0] = '\0';
	char reason[sizeof(error->message) + 128];
	txn_error_string(error, reason, sizeof(reason));
	if (undo_uncommitted(t, &j, false, reason, &undo_error) < 0) {
		/* The journal stays; the next run's recovery finishes the undo. */
		char why[sizeof(undo_error.message) + 128];
		txn_error_string(&undo_error, why, sizeof(why));
		/* The reason of the failure goes next to it, before the note on the
		 * cleanup: appended after the note, it read as the cleanup's reason. */
		error->errnum = 0;
		if (snprintf(error->message, sizeof(error->message),
			     "%s (cleanup failed: %s; 'btrfs-txn recover' will retry)", reason,
			     why) >= (int)sizeof(error->message))
			error->message[sizeof(error->message) - 1] = '\0';
	}
	return r;
}

/* Opens, locks and recovers: the start every changing command shares. */
static int begin(const char *path, unsigned flags, const struct txn_options *options,
		 unsigned keep, struct target *ret_target, bool *ret_recovered,
		 struct txn_timing *timing, struct txn_error *error)
{
	double mark = txn_now();
	int r = target_open(path, flags | TARGET_CREATE_STATE, ret_target, error);
	if (r < 0)
		return r;
	r = target_lock(ret_target, options, error);
	if (r < 0)
		goto fail;
	txn_step("locked");
	if (timing)
		timing->lock = txn_now() - mark;
	mark = txn_now();
	struct txn_recover_result rec;
	r = recover_locked(ret_target, keep, &rec, error);
	if (r < 0)
		goto fail;
	if (ret_recovered)
		*ret_recovered = rec.action != TXN_RECOVERY_NONE;
	if (timing)
		timing->recover = txn_now() - mark;
	return 0;
fail:
	target_close(ret_target);
	return r;
}

/* What apply, rollback and run do once the target is locked and recovered. */
typedef int (*locked_body_fn)(struct target *t, const void *ctx, const struct txn_options *options,
			      struct txn_result *result, struct txn_error *error);

/* The frame the three share: begin, the body, a note when the filesystem went
 * read-only, timing, and the result handed out only on success. */
static int with_lock(const char *path, unsigned keep, locked_body_fn body, const void *ctx,
		     const struct txn_options *options, struct txn_result *ret_result,
		     struct txn_error *error)
{
	struct txn_result result = { 0 };
	struct target t;
	double start = txn_now();
	int r = begin(path, 0, options, keep, &t, &result.recovered_first, &result.timing, error);
	if (r < 0)
		return r;
	r = body(&t, ctx, options, &result, error);
	if (r < 0)
		target_note_read_only(&t, error);
	target_close(&t);
	result.timing.total = txn_now() - start;
	if (r == 0 && ret_result)
		*ret_result = result;
	return r;
}

static int apply_locked(struct target *t, const void *ctx, const struct txn_options *options,
			struct txn_result *result, struct txn_error *error)
{
	const struct txn_batch *batch = ctx;
	double mark = txn_now();
	int r = txn_preconditions_check(t->fd, batch, error);
	result->timing.preconditions = txn_now() - mark;
	txn_step("preconditions");
	if (r < 0)
		return r;
	struct source src = { .batch = batch };
	return transact(t, "apply", &src, options, result, error);
}

int txn_apply(const char *path, const struct txn_batch *batch, const struct txn_options *options,
	      struct txn_result *ret_result, struct txn_error *error)
{
	return with_lock(path, keep_of(options, batch), apply_locked, batch, options, ret_result,
			 error);
}

static int rollback_locked(struct target *t, const void *ctx, const struct txn_options *options,
			   struct txn_result *result, struct txn_error *error)
{
	uint64_t to = *(const uint64_t *)ctx;
	uint64_t current = generation_current(t->state_fd);
	if (to == TXN_ROLLBACK_PREVIOUS)
		to = current ? current - 1 : 0;
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)to);
	if (current == 0)
		return txn_fail(error, TXN_INVALID, 0, "'%s' has no earlier generation to roll back to",
				t->path);
	if (to >= current)
		return txn_fail(error, TXN_INVALID, 0,
				"generation %llu is not an earlier one ('%s' is at generation %llu)",
				(unsigned long long)to, t->path, (unsigned long long)current);
	if (!exists_at(t->state_fd, gen_name))
		return txn_fail(error, TXN_INVALID, 0,
				"generation %llu of '%s' is not kept ('btrfs-txn status' lists those that are)",
				(unsigned long long)to, t->path);
	struct source src = { .rollback = true, .rollback_to = to };
	return transact(t, "rollback", &src, options, result, error);
}

int txn_rollback(const char *path, uint64_t to, const struct txn_options *options,
		 struct txn_result *ret_result, struct txn_error *error)
{
	return with_lock(path, keep_of(options, NULL), rollback_locked, &to, options, ret_result,
			 error);
}

struct run_ctx {
	txn_stage_fn stage;
	void *ctx;
};

static int run_locked(struct target *t, const void *ctx, const struct txn_options *options,
		      struct txn_result *result, struct txn_error *error)
{
	const struct run_ctx *run = ctx;
	struct source src = { .stage = run->stage, .stage_ctx = run->ctx };
	return transact(t, "run", &src, options, result, error);
}

int txn_run(const char *path, txn_stage_fn stage, void *ctx, const struct txn_options *options,
	    struct txn_result *ret_result, struct txn_error *error)
{
	struct run_ctx run = { .stage = stage, .ctx = ctx };
	return with_lock(path, keep_of(options, NULL), run_locked, &run, options, ret_result, error);
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
		r = recover_locked(&t, keep_of(options, NULL), &result, error);
		if (r == 0 && ret_result)
			*ret_result = result;
	}
	target_close(&t);
	return r;
}

int txn_gc(const char *path, unsigned keep, const struct txn_options *options,
	   const struct txn_gc_notes *notes, unsigned *ret_removed, struct txn_error *error)
{
	struct target t;
	int r = begin(path, 0, options, keep, &t, NULL, NULL, error);
	if (r < 0)
		return r;
	unsigned removed = 0;
	r = drop_generations(t.state_fd, keep, &removed, notes);
	if (r < 0)
		r = txn_fail(error, TXN_ABORTED, r,
			     "some old generations in '%s' could not be deleted (each is named above); "
			     "the others were", t.state_path);
	if (ret_removed)
		*ret_removed = removed;
	target_close(&t);
	return r;
}

int txn_gc_release(const char *path, uint64_t generation, const struct txn_options *options,
		   struct txn_error *error)
{
	struct target t;
	int r = begin(path, 0, options, 0, &t, NULL, NULL, error);
	if (r < 0)
		return r;
	r = pin_release(t.state_fd, generation);
	if (r == -ENOENT)
		r = txn_fail(error, TXN_INVALID, 0, "generation %llu of '%s' is not pinned",
			     (unsigned long long)generation, t.path);
	else if (r < 0)
		r = txn_fail(error, TXN_ABORTED, r, "cannot release the pin of gen-%llu in '%s'",
			     (unsigned long long)generation, t.state_path);
	target_close(&t);
	return r;
}

int txn_state_read(const char *path, struct txn_state *ret, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	struct txn_state s = { 0 };
	snprintf(s.target, sizeof(s.target), "%s", t.path);
	snprintf(s.state_dir, sizeof(s.state_dir), "%s", t.state_path);
	if (t.is_subvolume)
		subvolume_identity(t.fd, s.uuid, NULL, NULL);
	if (t.state_fd >= 0) {
		s.generation = generation_current(t.state_fd);
		r = generations_list(t.state_fd, &s.kept, &s.n_kept);
		if (r < 0) {
			target_close(&t);
			return txn_fail(error, TXN_ABORTED, r, "cannot list '%s'", t.state_path);
		}
		for (size_t i = 0; i < s.n_kept; i++) {
			char name[32];
			snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)s.kept[i].number);
			_cleanup_close_ int gen_fd = openat(t.state_fd, name, O_RDONLY | O_DIRECTORY |
								      O_NOFOLLOW | O_CLOEXEC);
			if (gen_fd < 0 || mount_of_subvolume(gen_fd, s.kept[i].mounted_at,
							      sizeof(s.kept[i].mounted_at)) <= 0)
				s.kept[i].mounted_at[0] = '\0';
		}
		struct journal j = { 0 };
		if (journal_read(t.state_fd, &j) != 0) {
			s.journal_present = true;
			snprintf(s.journal_txid, sizeof(s.journal_txid), "%s", j.txid);
			snprintf(s.journal_kind, sizeof(s.journal_kind), "%s", j.kind);
		}
		s.trans_interrupted = trans_marker_read(t.state_fd, NULL, 0) != 0;
		_cleanup_close_ int lock_fd =
			openat(t.state_fd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (lock_fd >= 0 && flock(lock_fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
			s.locked = true;
			target_lock_holder(t.state_fd, s.lock_holder, sizeof(s.lock_holder));
		}
	}
	target_close(&t);
	*ret = s;
	return 0;
}

int txn_state_dir_path(const char *path, char *ret_path, size_t size, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	snprintf(ret_path, size, "%s", t.state_path);
	target_close(&t);
	return 0;
}
