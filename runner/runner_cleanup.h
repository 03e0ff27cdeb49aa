/* SPDX-License-Identifier: MIT */
/*
 * runner_cleanup.h: the engine's cleanup habits (txn/cleanup.h: _cleanup_free_,
 * _cleanup_close_, TAKE_PTR, TAKE_FD) and the runner's own: a JSON value
 * (jansson's json_decrefp), a batch and a target's state, released when they leave
 * scope.
 */
#pragma once

#include <jansson.h>

#include "batch.h"
#include "cleanup.h"
#include "txn.h"

#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))
#define _cleanup_batch_ __attribute__((cleanup(txn_batch_free)))

/* What txn_state_read() leaves for its caller to free: the kept generations. */
static inline void txn_state_clearp(struct txn_state *state)
{
	free(state->kept);
	state->kept = NULL;
	state->n_kept = 0;
}
#define _cleanup_state_ __attribute__((cleanup(txn_state_clearp)))
