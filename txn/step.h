/* SPDX-License-Identifier: MIT */
/*
 * step.h: where this process's transaction is in its protocol, for a caller that
 * watches for stalls (the runner's watchdog). The engine marks the end of every
 * named step (txn_step() in util.c, the same names BTRFS_TXN_FAULT takes); a step
 * that has not ended long after the previous one is stuck, typically in the kernel
 * on a frozen filesystem or a stalled device.
 */
#pragma once

/**
 * txn_step_last() - The protocol step this process ended last.
 * @ret_seconds_ago: Set to the seconds since that step ended, or since
 * txn_step_reset() when no step has ended yet.
 *
 * Safe to call from another thread while the transaction runs.
 * Return: the step's name (static storage), or NULL when no step has ended since
 * the last txn_step_reset().
 */
const char *txn_step_last(double *ret_seconds_ago);

/* Forgets the last step and restarts the clock: a command is about to begin. */
void txn_step_reset(void);

/**
 * txn_step_next() - The step that comes after @last in @command's protocol, in the
 * order the engine marks them (one list, here, for the watchdog and the tests).
 * @command: "apply", "run" or "rollback" (any other: apply's order).
 * @last: The step that ended last, or NULL when none has.
 *
 * A recovery step (recover-*) is followed by recover-done.
 * Return: the step's name, "done" after the last, or NULL for an unknown @last.
 */
const char *txn_step_next(const char *command, const char *last);
