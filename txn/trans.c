/* SPDX-License-Identifier: MIT */
/*
 * trans.c: the legacy trans method: a batch applied in place, inside one Btrfs
 * transaction held open with BTRFS_IOC_TRANS_START / BTRFS_IOC_TRANS_END.
 *
 * Those ioctls exist only in kernels before 4.17 (deprecated in 4.14); later kernels
 * answer ENOTTY. One apply:
 *   open T (statfs says Btrfs) -> probe TRANS_START/END on a fresh fd of T, before
 *   anything is written (ENOTTY, EPERM: exit 4, nothing touched) -> lock, recover a
 *   snapshot journal -> remove staged files a crashed run left -> preconditions and a
 *   preflight of the ops -> stage the content of every write/copy in
 *   T/.btrfs-txn-trans.PID.N, fsync each and T -> TRANS_START (the window opens, a
 *   watchdog thread starts) -> ops in place -> TRANS_END -> leftovers removed ->
 *   BTRFS_IOC_SYNC -> a history line.
 *
 * Nothing inside the window may fsync or sync: the kernel ends the transaction when
 * the file holding it is fsynced, and every commit (sync, syncfs, an fsync that falls
 * back to a commit, BTRFS_IOC_SYNC) waits for the handle this process holds, so it
 * would wait for itself. That is why all data is written and made durable before the
 * window, and why the window only renames, links, unlinks and changes attributes.
 *
 * The window is the commit point: a signal before it aborts with T unchanged; inside
 * it, signals are ignored and the ops run to the end (the watchdog bounds how long).
 * This method is not crash atomic and cannot undo an op: a crash, a failing op or the
 * watchdog inside the window leave part of the change (TXN_NEEDS_PERSON here), which
 * the preflight makes unlikely but not impossible. See docs/trans-method.md.
 *
 * This file holds the sequence; its parts are trans_preflight.c (what is refused
 * before the window), trans_stage.c (the staged files) and trans_window.c (the
 * window and its watchdog), which only this file calls (trans_parts.h).
 */
#include "trans_parts.h"

#include <string.h>

/* The ops, in order, in place; stops when the watchdog ended the window.
 * *ret_applied counts the ops that took effect. */
static int apply_in_place(int root_fd, const struct txn_batch *batch, struct staged_file *staged,
			  struct trans_window *w, size_t *ret_applied, struct txn_error *error)
{
	size_t i;
	int r = 0;
	for (i = 0; i < batch->n_ops && r == 0 && !trans_window_expired(w); i++) {
		const struct txn_op *op = &batch->ops[i];
		if (op->kind == TXN_OP_WRITE || op->kind == TXN_OP_COPY)
			r = trans_stage_place(root_fd, op, &staged[i], error);
		else
			r = txn_op_apply(root_fd, op, error);
		if (r < 0)
			break;
	}
	*ret_applied = i;
	return r;
}

static void record_history(const struct target *t, const struct txn_batch *batch,
			   const struct txn_result *result, const char *started, const char *outcome,
			   const char *reason)
{
	struct history_entry e = {
		.txid = result->txid, .kind = "trans", .description = batch->description,
		.result = outcome, .reason = reason, .generation = result->generation,
		.previous = result->previous, .n_ops = (unsigned)batch->n_ops, .started = started,
	};
	history_append(t->state_fd, &e); /* best effort: the tree is what matters */
}

/* "ops 0-2", "op 0", or "no op", into @buf. */
static const char *describe_ops(size_t first, size_t end, char *buf, size_t size)
{
	if (end <= first)
		snprintf(buf, size, "no op");
	else if (end - first == 1)
		snprintf(buf, size, "op %zu", first);
	else
		snprintf(buf, size, "ops %zu-%zu", first, end - 1);
	return buf;
}

/* Before the window, with the lock held: leftovers of a crashed run go, then the
 * preconditions and the preflight; nothing is written. */
static int trans_check(struct target *t, const struct txn_batch *batch, struct txn_timing *tm,
		       struct txn_error *error)
{
	trans_stage_remove_stale(t->fd);
	double mark = txn_now();
	int r = txn_preconditions_check(t->fd, batch, error);
	if (r == 0)
		r = trans_preflight(t->fd, batch, error);
	tm->preconditions = txn_now() - mark;
	if (r == 0)
		txn_step("trans-checked");
	return r;
}

/* Stages the content, writes the in-flight marker and opens the window. On failure
 * the marker and the staged files are gone again and the abort is in the history. */
static int trans_open(struct target *t, const struct txn_batch *batch, double timeout,
		      struct txn_result *result, const char *started, struct staged_file *staged,
		      struct trans_window *w, struct txn_error *error)
{
	double mark = txn_now();
	int r = trans_stage_all(t, batch, staged, error);
	result->timing.flush = txn_now() - mark;
	bool marked = false;
	if (r == 0) {
		txn_step("trans-staged");
		r = trans_marker_write(t, batch, result->txid, started);
		if (r < 0)
			r = txn_fail(error, TXN_ABORTED, r, "cannot write the trans marker '%s/%s'",
				     t->state_path, TRANS_MARKER_NAME);
		marked = r == 0;
	}
	if (r == 0)
		r = trans_window_open(w, t, timeout, error);
	if (r == 0)
		return 0;
	if (marked)
		trans_marker_remove(t); /* no window was opened: nothing to warn about */
	trans_stage_discard(t->fd, staged, batch->n_ops);
	char reason[sizeof(error->message) + 128];
	record_history(t, batch, result, started, "aborted",
		       txn_error_string(error, reason, sizeof(reason)));
	return r;
}

/* What happened in the window, once it is over: 0 when every op took effect and is
 * durable; otherwise @error says what took effect and what did not. */
static int trans_outcome(const struct target *t, const struct txn_batch *batch, double timeout,
			 const struct trans_window *w, size_t applied, int op_r,
			 const struct txn_error *op_error, int end_r, int sync_r,
			 struct txn_error *error)
{
	char done_ops[48], rest_ops[48];
	size_t n = batch->n_ops;
	describe_ops(0, applied, done_ops, sizeof(done_ops));
	if (w->expired && applied == 0)
		return txn_fail(error, TXN_ABORTED, w->watchdog_errno,
				"--method trans: the window ran past --trans-timeout (%g s) and the "
				"watchdog ended the Btrfs transaction (TRANS_END) before any op took "
				"effect; nothing was changed", timeout);
	if (w->expired) {
		describe_ops(applied, n, rest_ops, sizeof(rest_ops));
		return txn_fail(error, TXN_NEEDS_PERSON, w->watchdog_errno,
				"--method trans: the window ran past --trans-timeout (%g s) and the "
				"watchdog ended the Btrfs transaction (TRANS_END); %s of %zu took effect, "
				"%s did not: '%s' holds part of the change%s",
				timeout, done_ops, n, rest_ops, t->path,
				sync_r < 0 ? ", and the sync after it failed" : "");
	}
	if (op_r < 0) {
		char op_text[sizeof(op_error->message) + 128];
		txn_error_string(op_error, op_text, sizeof(op_text));
		describe_ops(applied + 1, n, rest_ops, sizeof(rest_ops));
		int r = txn_fail(error, applied ? TXN_NEEDS_PERSON : TXN_ABORTED, 0,
				 "--method trans: op %zu failed inside the window: %s; %s took effect "
				 "before it and cannot be undone, %s did not run%s%s%s",
				 applied, op_text, done_ops, rest_ops,
				 applied ? ": '" : ": nothing was changed", applied ? t->path : "",
				 applied ? "' holds part of the change" : "");
		return r == -EIO && op_error->errnum ? -op_error->errnum : r;
	}
	if (end_r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, end_r,
				"--method trans: all %zu ops took effect in '%s', but TRANS_END failed, "
				"so they may not have been committed as one transaction%s",
				n, t->path, sync_r < 0 ? ", and the sync after it failed" : "");
	if (sync_r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, sync_r,
				"--method trans: all %zu ops took effect in '%s', but the sync that "
				"makes them durable failed; run 'sync' once the filesystem is healthy",
				n, t->path);
	return 0;
}

/* Everything after the lock: check, stage, window, sync, history. */
static int transact_in_place(struct target *t, const struct txn_batch *batch, double timeout,
			     struct txn_result *result, struct txn_error *error)
{
	struct txn_timing *tm = &result->timing;
	char started[32];
	utc_now(started);
	make_txid(result->txid);
	result->generation = result->previous = generation_current(t->state_fd);

	int r = trans_check(t, batch, tm, error);
	if (r < 0)
		return r;
	_cleanup_free_ struct staged_file *staged = calloc(batch->n_ops ? batch->n_ops : 1,
							   sizeof(*staged));
	if (!staged)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "--method trans: staging");
	struct trans_window w;
	r = trans_open(t, batch, timeout, result, started, staged, &w, error);
	if (r < 0)
		return r;

	/* The window: from here on the target changes and signals no longer abort. */
	double mark = txn_now();
	txn_step("trans-started");
	size_t applied = 0;
	struct txn_error op_error = { 0 };
	int op_r = apply_in_place(t->fd, batch, staged, &w, &applied, &op_error);
	if (op_r == 0)
		txn_step("trans-applied");
	int end_r = trans_window_close(&w);
	tm->ops = txn_now() - mark;
	txn_step("trans-ended");

	mark = txn_now();
	trans_stage_discard(t->fd, staged, batch->n_ops);
	int sync_r = sync_fs(t->fd);
	/* This process lives to report what happened, so the marker has done its job;
	 * should removing it fail, status keeps warning, which errs on the safe side. */
	trans_marker_remove(t);
	tm->sync = txn_now() - mark;
	txn_step("trans-synced");

	r = trans_outcome(t, batch, timeout, &w, applied, op_r, &op_error, end_r, sync_r, error);
	if (r == 0) {
		record_history(t, batch, result, started, "committed", NULL);
		txn_step("trans-done");
		return 0;
	}
	char reason[sizeof(error->message) + 128];
	record_history(t, batch, result, started, applied ? "partial" : "aborted",
		       txn_error_string(error, reason, sizeof(reason)));
	return r;
}

int txn_apply_trans(const char *path, const struct txn_batch *batch,
		    const struct txn_options *options, struct txn_result *ret_result,
		    struct txn_error *error)
{
	struct txn_result result = { 0 };
	double start = txn_now();
	double timeout = options && options->trans_timeout > 0 ? options->trans_timeout
							       : TXN_DEFAULT_TRANS_TIMEOUT;
	/* A verify hook runs against a staged tree before the change is visible; here the
	 * change is made in place, so there is nothing to verify first. */
	if (batch->verify.argv)
		return txn_fail(error, TXN_INVALID, 0,
				"--method trans cannot run a verify hook: it changes the target in "
				"place, with no staged tree to verify first; use --method snapshot");

	/* First without creating the state directory: a kernel without the ioctls must
	 * leave no trace at all. The target need not be a subvolume: nothing is snapshot. */
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	r = trans_probe(&t, error);
	if (r == 0 && t.state_fd < 0) {
		target_close(&t);
		r = target_open(path, TARGET_ALLOW_PLAIN_DIR | TARGET_CREATE_STATE, &t, error);
		if (r < 0)
			return r;
	}
	double mark = txn_now();
	if (r == 0) {
		txn_step("trans-probed");
		r = target_lock(&t, options, error);
	}
	if (r == 0) {
		txn_step("locked");
		result.timing.lock = txn_now() - mark;
		mark = txn_now();
		unsigned keep = batch->has_keep ? batch->keep
			      : options && options->keep ? options->keep : TXN_DEFAULT_KEEP;
		struct txn_recover_result recovered;
		r = recover_locked(&t, keep, &recovered, error);
		result.recovered_first = r == 0 && recovered.action != TXN_RECOVERY_NONE;
		result.timing.recover = txn_now() - mark;
	}
	if (r == 0)
		r = transact_in_place(&t, batch, timeout, &result, error);
	target_close(&t);
	result.timing.total = txn_now() - start;
	if (r == 0 && ret_result)
		*ret_result = result;
	return r;
}
