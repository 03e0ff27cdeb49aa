/* SPDX-License-Identifier: MIT */
/*
 * trans_parts.h: the pieces of the trans method (trans.c), each in its own file and
 * called only by trans.c: the preflight (trans_preflight.c), the staged files
 * (trans_stage.c) and the window with its watchdog (trans_window.c). None of them
 * calls another or trans.c.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "internal.h"
#include "state.h"

/* Staged files live in T's root under this prefix; under the lock, any such name is
 * a leftover of a run that crashed, since only the lock holder makes them. */
#define TRANS_TEMP_PREFIX ".btrfs-txn-trans."

/* trans_preflight.c: refuses, before the window, an op that can be known to fail in
 * it. Return: 0, or the -errno of txn_fail() with @error filled. */
int trans_preflight(int root_fd, const struct txn_batch *batch, struct txn_error *error);

/* trans_stage.c */
struct staged_file {
	char name[64];      /* in T's root; "" for ops that stage nothing */
	bool present;       /* exists and is ours to remove */
	mode_t source_mode; /* copy: the source's permission bits */
	dev_t dev;          /* the staged file's identity: T's root is writable by the */
	ino_t ino;          /* tree's users, who may swap the name before it is placed */
};
/* Removes staged files a crashed or killed run left in T's root (best effort). */
void trans_stage_remove_stale(int root_fd);
/* Stages the content of every write and copy of @batch into @staged (one entry per
 * op), made durable with T's root; stops at a signal. Nothing is in place yet. */
int trans_stage_all(const struct target *t, const struct txn_batch *batch,
		    struct staged_file *staged, struct txn_error *error);
/* Removes the staged files still present (on every path out, success included). */
void trans_stage_discard(int root_fd, struct staged_file *staged, size_t n);
/* In the window: the staged file of @op takes its path, with the owner and mode the
 * snapshot method would give it. */
int trans_stage_place(int root_fd, const struct txn_op *op, struct staged_file *s,
		      struct txn_error *error);

/* trans_window.c: the TRANS_START..TRANS_END window and its watchdog thread. */
struct trans_window {
	int fd;                   /* the fd TRANS_START was issued on */
	struct timespec deadline; /* CLOCK_MONOTONIC */
	pthread_mutex_t mutex;
	pthread_cond_t wake;
	bool open;                /* the transaction is held on fd */
	bool finished;            /* the main thread is done with the window */
	bool expired;             /* the watchdog ended it */
	int watchdog_errno;       /* errno of the watchdog's TRANS_END, 0 when it worked */
	pthread_t thread;
};
/* Whether TRANS_START answers on T, asked before anything is written. */
int trans_probe(const struct target *t, struct txn_error *error);
/* TRANS_START on a fresh fd of T, then the watchdog. On failure nothing is open. */
int trans_window_open(struct trans_window *w, const struct target *t, double timeout,
		      struct txn_error *error);
bool trans_window_expired(struct trans_window *w);
/* Ends the window (unless the watchdog did), stops the watchdog, closes the fd.
 * Return: 0, or -errno of a failed TRANS_END issued by either thread. */
int trans_window_close(struct trans_window *w);
