/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: the snapshot-then-swap method: apply, rollback and run as
 * transactions, and gc. The tail after the commit point and the undo before it are
 * recover.c's, shared with recovery.
 *
 * One transaction (docs/protocol.md), in phases create, fill, commit, finish:
 *   lock -> recover -> preconditions -> journal -> snapshot to staging-TXID ->
 *   record the staging UUID -> ops -> verify -> write-back of the files the ops
 *   wrote, the journal and the record, no commit (BTRFS_IOC_SYNC instead when the
 *   written files are not known: run, a verify hook) -> T unchanged? ->
 *   renameat2(RENAME_EXCHANGE) (the commit point) -> staging (now the old tree)
 *   becomes read-only gen-N, which commits, carrying data, record and exchange
 *   together -> BTRFS_IOC_SYNC -> history -> journal removed -> gc.
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

/* What a transaction makes its staging from. */
struct source {
	const struct txn_batch *batch; /* apply: ops and verify run on the staging */
	bool rollback;                 /* rollback: staging is a snapshot of gen-N */
	uint64_t rollback_to;
	txn_stage_fn stage;            /* run: the caller changes the staging */
	void *stage_ctx;
};

/* The one step clock of the phases (and of a method's own steps, internal.h). */
void staged_step(struct staged_txn *s, const char *step, double *slot)
{
	double now = txn_now();
	if (step)
		txn_step(step);
	if (slot)
		*slot += now - s->mark;
	s->mark = now;
}

/* TXN_ABORTED when a signal asked to stop; 0 otherwise. Only before the commit
 * point: after it, signals no longer abort. */
int staged_interrupted(struct txn_error *error)
{
	if (!txn_interrupted)
		return 0;
	return txn_fail(error, TXN_ABORTED, EINTR, "interrupted by signal %d before the commit point",
			(int)txn_interrupted);
}

/* BTRFS_TXN_UNSAFE_SKIP_FLUSH exists only to prove that the QEMU crash suite
 * catches a broken protocol (make vmcheck-selftest, vmtests/README.md): "1" skips
 * the step-7 flush (the write-back, or the commit), "2" also the step-12 sync.
 * Never set it anywhere else. Built only into the test build (-DBTRFS_TXN_TESTING),
 * never installed. */
static void unsafe_skips(bool *ret_skip_flush, bool *ret_skip_sync)
{
	*ret_skip_flush = *ret_skip_sync = false;
#ifdef BTRFS_TXN_TESTING
	const char *unsafe_skip = getenv("BTRFS_TXN_UNSAFE_SKIP_FLUSH");
	*ret_skip_flush = unsafe_skip && (!strcmp(unsafe_skip, "1") || !strcmp(unsafe_skip, "2"));
	*ret_skip_sync = unsafe_skip && !strcmp(unsafe_skip, "2");
#endif
}

void staged_init(struct staged_txn *s, struct target *t, const char *kind,
		 struct txn_result *result)
{
	*s = (struct staged_txn){ .target = t, .staging_fd = -EBADF, .mark = txn_now(),
				  .timing = &result->timing };
	struct journal *j = &s->journal;
	make_txid(j->txid);
	snprintf(j->kind, sizeof(j->kind), "%s", kind);
	snprintf(j->staging, sizeof(j->staging), "staging-%s", j->txid);
	utc_now(j->started);
	j->from_generation = generation_current(t->state_fd);
	j->to_generation = j->from_generation + 1;
	snprintf(result->txid, sizeof(result->txid), "%s", j->txid);
	snprintf(s->staging_path, sizeof(s->staging_path), "%s/%s", t->state_path, j->staging);
}

void staged_close(struct staged_txn *s)
{
	if (s->staging_fd >= 0)
		close(TAKE_FD(s->staging_fd));
	op_written_close(&s->written);
	free(TAKE_PTR(s->report));
}

int staged_mark(struct staged_txn *s, struct txn_error *error)
{
	struct target *t = s->target;
	int r = tree_mark_take(t->fd, t->state_fd, &s->before);
	if (r == 0)
		r = root_print_take(t->fd, &s->before.root_print);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s'", t->path);
	s->before.has_root_print = true;
	s->marked = true;
	return 0;
}

int staged_begin(struct staged_txn *s, bool mark_now, struct txn_error *error)
{
	struct target *t = s->target;
	/* A mounted target (mounted.c) switches by name at the top level; while its
	 * name holds the running tree, the system's own writes to it after the
	 * snapshot are expected: they stay in that tree, kept as gen-N. */
	s->live = t->mounted && !t->switch_pending;
	int r = t->mounted ? mounted_prepare_switch(t, error) : 0;
	if (r < 0)
		return r;
	r = subvolume_identity(t->fd, s->journal.target_uuid, NULL, NULL);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read the UUID of '%s'", t->path);
	r = refuse_nested(t, TXN_UNSUPPORTED, error);
	if (r < 0)
		return r;
	/* What T looked like before: the checks before and after the exchange count
	 * the inodes changed since (modified.c). Apply and run take it just before
	 * the snapshot, which carries every earlier write into the new tree. A tree
	 * made from something else than T (a rollback's older generation) replaces
	 * T, so the writes that count as concurrent are those since it holds the
	 * lock: it takes the mark now, unless the method took it already. */
	if (mark_now && !s->marked) {
		r = staged_mark(s, error);
		if (r < 0)
			return r;
	}
	r = journal_write_intent(t->state_fd, &s->journal);
	if (r == 0 && s->journal_early)
		r = journal_writeback(t->state_fd);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot write journal '%s/%s'", t->state_path,
				JOURNAL_NAME);
	s->journaled = true;
	staged_step(s, "journaled", &s->timing->journal);
	return 0;
}

int staged_record(struct staged_txn *s, struct txn_error *error)
{
	struct target *t = s->target;
	struct journal *j = &s->journal;
	s->staging_fd = openat(t->state_fd, j->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->staging_fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open staging '%s/%s'", t->state_path,
				j->staging);
	if (t->mounted) /* its state directory has no path: name it through our descriptor */
		mounted_staging_path(s->staging_fd, s->staging_path, sizeof(s->staging_path));
	int r = subvolume_identity(s->staging_fd, j->staging_uuid, NULL, NULL);
	if (r == 0 && !s->marked) {
		/* A snapshot of T itself: whatever its transaction wrote is in it. */
		struct btrfs_util_subvolume_info staging_info;
		errno = 0;
		r = btrfs_error(btrfs_util_subvolume_info_fd(s->staging_fd, 0, &staging_info));
		if (r == 0)
			s->before.after_transid = staging_info.otransid;
		/* The staging's root directory, before any op: T's as the snapshot saw it. */
		if (r == 0)
			r = root_print_take(s->staging_fd, &s->before.root_print);
		s->before.has_root_print = r == 0;
	}
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s'", t->path);
	j->has_mark = true;
	j->mark_generation = s->before.generation;
	j->mark_sec = s->before.since.tv_sec;
	j->mark_nsec = s->before.since.tv_nsec;
	j->mark_mode = s->before.root_mode;
	j->mark_uid = s->before.root_uid;
	j->mark_gid = s->before.root_gid;
	j->mark_transid = s->before.after_transid;
	r = journal_write_staged(t->state_fd, j);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot write '%s/%s'", t->state_path,
				STAGED_NAME);
	staged_step(s, "staged", &s->timing->snapshot);
	return 0;
}

int staged_create(struct staged_txn *s, const char *source_name, struct txn_error *error)
{
	struct target *t = s->target;
	int r = staged_begin(s, source_name != NULL, error);
	if (r < 0)
		return r;
	_cleanup_close_ int source_fd = -EBADF;
	if (source_name) {
		source_fd = openat(t->state_fd, source_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (source_fd < 0)
			return txn_fail(error, TXN_ABORTED, errno, "cannot open generation '%s/%s'",
					t->state_path, source_name);
	} else {
		r = tree_mark_take(t->fd, t->state_fd, &s->before);
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s'",
					t->path);
	}
	return staged_snapshot(s, source_name ? source_fd : t->fd, t->path, error);
}

int staged_snapshot(struct staged_txn *s, int source_fd, const char *source_path,
		    struct txn_error *error)
{
	struct target *t = s->target;
	struct journal *j = &s->journal;
	errno = 0;
	int r = btrfs_error(btrfs_util_create_snapshot_fd2(source_fd, t->state_fd, j->staging, 0,
							   NULL, NULL));
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot snapshot '%s' to '%s/%s'", source_path,
				t->state_path, j->staging);
	s->staging_made = true;
	staged_step(s, "snapshotted", &s->timing->snapshot);
	return staged_record(s, error);
}

/* Fill for apply: preconditions again, the ops, the verify hook. */
static int staged_fill_batch(struct staged_txn *s, const struct txn_batch *batch,
			     const struct txn_options *options, struct txn_error *error)
{
	/* The preconditions were checked on the live T before anything was written;
	 * a change to T after that check and before the snapshot is in the staging
	 * but invisible to step 8, which only watches T from the snapshot on. Check
	 * again on the staging, the exact tree this transaction replaces. */
	int r = txn_preconditions_check(s->staging_fd, batch, error);
	if (r < 0)
		return r;
	bool skip_flush, skip_sync;
	unsafe_skips(&skip_flush, &skip_sync);
	/* With step 7 skipped for the self-test, no write-back of the ops' files at all
	 * (not even when OP_WRITTEN_MAX of them fill the set). */
	struct op_written *written = skip_flush ? NULL : &s->written;
	for (size_t i = 0; i < batch->n_ops; i++) {
		r = staged_interrupted(error);
		if (r < 0)
			return r;
		if (options && options->progress)
			options->progress("ops", i, batch->n_ops, options->progress_ctx);
		r = txn_op_apply_written(s->staging_fd, &batch->ops[i], written, error);
		if (r < 0) {
			if (error->status == TXN_OK)
				error->status = TXN_ABORTED;
			return r;
		}
	}
	if (options && options->progress)
		options->progress("ops", batch->n_ops, batch->n_ops, options->progress_ctx);
	staged_step(s, "applied", &s->timing->ops);
	r = staged_interrupted(error);
	if (r < 0)
		return r;
	r = txn_verify_run(&batch->verify, s->staging_path, error);
	if (r < 0)
		return r;
	/* The ops' files are all in s->written; a verify hook may write others. */
	s->writes_known = !batch->verify.argv;
	staged_step(s, "verified", &s->timing->verify);
	return 0;
}

/* Fill for run: the caller's function changes the staging. */
static int staged_fill_run(struct staged_txn *s, txn_stage_fn stage, void *ctx,
			   struct txn_error *error)
{
	int r = staged_interrupted(error);
	if (r < 0)
		return r;
	r = stage(s->staging_path, ctx, error);
	if (r < 0) {
		if (error->status == TXN_OK)
			error->status = TXN_ABORTED;
		return r;
	}
	staged_step(s, "applied", &s->timing->ops);
	return 0;
}

int staged_commit(struct staged_txn *s, struct txn_error *error)
{
	struct target *t = s->target;
	struct journal *j = &s->journal;
	bool skip_flush, skip_sync;
	unsafe_skips(&skip_flush, &skip_sync);
	int r = staged_interrupted(error);
	if (r < 0)
		return r;

	/* Step 7: no commit may expose the exchange below without the staged data and
	 * the records recovery decides by. When the fill's written files are known,
	 * they, the journal and the staged record are written back and recorded in the
	 * running transaction, without a commit: any commit that carries the exchange
	 * (the read-only flag's at step 10, or anyone's earlier) carries them too, and
	 * one before the exchange exposes nothing. A receive's staging is a snapshot of
	 * the received subvolume, whose files the snapshot's own commit carried (Btrfs
	 * writes a snapshot's source back, and waits for it, before snapshotting it).
	 * Otherwise (run's command or a verify hook wrote unknown files),
	 * BTRFS_IOC_SYNC: write-back of everything, then a commit. */
	if (skip_flush)
		r = 0;
	else if (s->writes_known) {
		r = op_written_flush(&s->written);
		if (r == 0)
			r = journal_writeback(t->state_fd);
	} else {
		op_written_close(&s->written); /* BTRFS_IOC_SYNC writes them back too */
		r = sync_fs(s->staging_fd);
	}
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot flush '%s'", t->path);
	staged_step(s, "flushed", &s->timing->flush);

	/* Step 8: a write to T since the snapshot would be lost by the exchange. This
	 * search sees what is in T's B-tree: every change made before the snapshot's
	 * commit (or the step-7 commit, when there is one), not necessarily a later
	 * one still held in Btrfs's delayed items. Those are caught by the checks
	 * after the exchange and reported and pinned instead (docs/protocol.md). */
	r = s->live ? 0 : concurrent_check_before(t, &s->before, error);
	if (r < 0)
		return r;
	staged_step(s, "checked", &s->timing->check);
	r = staged_interrupted(error);
	if (r < 0)
		return r;
	r = s->method_record ? s->method_record(s, false, error) : 0;
	if (r < 0)
		return r;

	/* Step 9, the commit point. From here on, signals no longer abort. The exchange
	 * acts on names: whoever can write P could have put something else at T's name.
	 * What the exchange moved out must be the subvolume we opened as T; if not, it
	 * is swapped back at once and the transaction aborts, T's name unchanged. */
	r = same_inode_at(t->parent_fd, t->name, t->fd);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r == -ESTALE ? 0 : r,
				"'%s' is no longer the subvolume this transaction started on "
				"(renamed or replaced meanwhile); nothing was changed", t->path);
	if (renameat2(t->parent_fd, t->name, t->state_fd, j->staging, RENAME_EXCHANGE) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot exchange '%s' with '%s'", t->path,
				s->staging_path);
	if (same_inode_at(t->state_fd, j->staging, t->fd) < 0) {
		int back = renameat2(t->parent_fd, t->name, t->state_fd, j->staging, RENAME_EXCHANGE);
		/* Exchanged back: an abort like any other. Not: the names stay swapped
		 * and a person decides. */
		s->exchanged = back < 0;
		return txn_fail(error, back < 0 ? TXN_NEEDS_PERSON : TXN_ABORTED, 0,
				"'%s' was replaced by something else at the moment of the exchange; %s",
				t->path,
				back < 0 ? "exchanging back failed: inspect it and the state directory"
					 : "exchanged back, nothing was changed");
	}
	s->exchanged = true;
	staged_step(s, "exchanged", &s->timing->swap);
	return 0;
}

int staged_finish(struct staged_txn *s, unsigned keep, struct txn_result *result,
		  struct txn_error *error)
{
	struct target *t = s->target;
	struct journal *j = &s->journal;
	struct txn_timing *tm = s->timing;
	bool skip_flush, skip_sync;
	unsafe_skips(&skip_flush, &skip_sync);

	/* The old tree becomes read-only gen-N before step 12, not after it as DESIGN.md
	 * lists them: setting the flag commits a Btrfs transaction by itself, and that
	 * commit carries the exchange too, so step 12 below finds (nearly) nothing left
	 * to commit. In DESIGN.md's order these were two commits back to back. Both
	 * orders leave the same states to recovery, which finishes the tail either way. */
	if (s->staging_fd >= 0)
		close(TAKE_FD(s->staging_fd));
	struct txn_error archive_error = { 0 };
	int archive_r = archive_old_tree(t, j, false, &archive_error);
	/* The old tree is read-only now: only descriptors opened before can still
	 * write to it. Look for them before the step-12 commit, so that a write
	 * through one closed since is in that commit. */
	staged_step(s, NULL, &tm->archive);
	s->report = calloc(1, sizeof(*s->report));
	if (s->report && !s->live)
		concurrent_holders(t->fd, s->report);
	int moved = t->mounted ? mounted_follow_default(t, t->fd) : 0;
	staged_step(s, NULL, &tm->check_after);

	/* Step 12: the exchange itself must be on disk before we say it is done. This
	 * does not rely on the commit of the read-only flag (which a failed archive
	 * would skip); when that commit happened, this one is cheap. */
	int r = skip_sync ? 0 : sync_fs(t->parent_fd);
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s' may have been switched to the new tree, but the sync that makes "
				"the switch durable failed, so either tree may be there after a "
				"remount; run 'btrfs-txn recover %s' once the filesystem is healthy",
				t->path, t->path);
	staged_step(s, "synced", &tm->sync);

	/* The last check: every write to the old tree before the step-12 commit is
	 * in the tree now. Anything found is reported and its generation pinned. */
	r = !s->report ? -ENOMEM : s->live ? 0 : concurrent_changes(t->fd, &s->before, s->report);
	staged_step(s, NULL, &tm->check_after);
	if (r < 0 && archive_r == 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r,
				"'%s' was switched to the new tree, but the check for writes by other "
				"processes to the replaced tree (gen-%llu) failed; compare it with the "
				"live tree before dropping it",
				t->path, (unsigned long long)j->from_generation);
	bool concurrent = s->report && (s->report->count > 0 || s->report->n_holders > 0);
	if (concurrent) {
		s->report->pinned = j->from_generation;
		r = pin_write(t->state_fd, j->from_generation, j->txid, s->report);
		if (r < 0 && archive_r == 0)
			return txn_fail(error, TXN_NEEDS_PERSON, r,
					"other processes wrote to '%s' during the transaction and "
					"gen-%llu holds their writes, but it could not be pinned",
					t->path, (unsigned long long)j->from_generation);
	}
	if (archive_r < 0) {
		*error = archive_error;
		return archive_r;
	}
	if (moved < 0)
		return mounted_default_failed(t, moved, error);
	if (t->mounted) /* --remount, before the history says whether it is pending */
		mounted_finish(t, j, s->options, moved > 0, result);
	/* The method's record of the commit, while the journal still tells recovery
	 * to redo it. */
	r = s->method_record ? s->method_record(s, true, error) : 0;
	if (r < 0)
		return r;

	r = record_committed(t, j, false, concurrent ? s->report : NULL, error);
	if (r < 0)
		return r;
	drop_generations(t->state_fd, keep, &result->dropped, NULL);
	txn_step("done");
	staged_step(s, NULL, &tm->archive);
	result->generation = j->to_generation;
	result->previous = j->from_generation;
	if (concurrent)
		result->concurrent = TAKE_PTR(s->report);
	result->concurrent_since = s->before.since;
	return 0;
}

int staged_abort(struct staged_txn *s, int r, struct txn_error *error)
{
	/* The error is already filled; undo what exists and keep that error. */
	struct txn_error undo_error;
	if (s->staging_fd >= 0)
		close(TAKE_FD(s->staging_fd));
	if (!s->journaled)
		return r;
	if (!s->staging_made)
		s->journal.staging_uuid[0] = '\0';
	char reason[sizeof(error->message) + 128];
	txn_error_string(error, reason, sizeof(reason));
	if (undo_uncommitted(s->target, &s->journal, false, reason, &undo_error) < 0) {
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

/* One transaction of the snapshot method: create, fill, commit, finish; an error
 * before the exchange undoes what was made. */
static int transact(struct target *t, const char *kind, const struct source *src,
		    const struct txn_options *options, struct txn_result *result,
		    struct txn_error *error)
{
	const struct txn_batch *batch = src->batch;
	struct staged_txn s;
	staged_init(&s, t, kind, result);
	s.options = options;
	struct journal *j = &s.journal;
	const char *description = batch && batch->description ? batch->description
								 : options ? options->description : NULL;
	if (description)
		snprintf(j->description, sizeof(j->description), "%s", description);
	else if (src->rollback)
		snprintf(j->description, sizeof(j->description), "rollback to generation %llu",
			 (unsigned long long)src->rollback_to);
	j->rollback_to = src->rollback_to;
	j->n_ops = batch ? (unsigned)batch->n_ops : 0;

	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)src->rollback_to);
	/* A rollback writes no file data: its staging is a snapshot as it stands. */
	s.writes_known = src->rollback;
	int r = staged_create(&s, src->rollback ? gen_name : NULL, error);
	if (r == 0 && batch)
		r = staged_fill_batch(&s, batch, options, error);
	if (r == 0 && src->stage)
		r = staged_fill_run(&s, src->stage, src->stage_ctx, error);
	if (r == 0)
		r = staged_commit(&s, error);
	if (r < 0 && !s.exchanged)
		r = staged_abort(&s, r, error);
	else if (r == 0)
		r = staged_finish(&s, generations_keep(options, batch), result, error);
	staged_close(&s);
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
	return with_lock(path, generations_keep(options, batch), apply_locked, batch, options, ret_result,
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
	return with_lock(path, generations_keep(options, NULL), rollback_locked, &to, options, ret_result,
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
	return with_lock(path, generations_keep(options, NULL), run_locked, &run, options, ret_result, error);
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

int txn_gc_retention(const char *path, const struct txn_retention *policy,
		     const struct txn_options *options, const struct txn_gc_notes *notes,
		     unsigned *ret_removed, unsigned *ret_free_percent, struct txn_error *error)
{
	struct target t;
	/* A recovery first drops nothing beyond what the policy is about to judge. */
	int r = begin(path, 0, options, TXN_KEEP_MAX, &t, NULL, NULL, error);
	if (r < 0)
		return r;
	unsigned removed = 0;
	r = drop_by_retention(t.state_fd, policy, &removed, ret_free_percent, notes);
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
