/* SPDX-License-Identifier: MIT */
/*
 * runner_cleanup.h: the engine's cleanup habits (txn/cleanup.h: _cleanup_free_,
 * _cleanup_close_, TAKE_PTR, TAKE_FD) and the runner's own two: a JSON value
 * (jansson's json_decrefp) and a batch, released when they leave scope.
 */
#pragma once

#include <jansson.h>

#include "batch.h"
#include "cleanup.h"

#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))
#define _cleanup_batch_ __attribute__((cleanup(txn_batch_free)))
