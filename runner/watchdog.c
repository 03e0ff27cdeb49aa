/* SPDX-License-Identifier: MIT */
/*
 * watchdog.c: `--timeout` after the lock is taken. A step of a transaction can stall
 * in the kernel: a frozen filesystem (fsfreeze, a backup tool's snapshot), a device
 * that stopped answering, a full write queue. The syscall then sleeps uninterruptibly
 * and nothing in this process can end it, so without a watchdog the command would
 * hang silently. A thread polls where the engine is (txn_step_last(), step.h) and,
 * once a step has not ended --timeout seconds after the previous one, prints one line
 * naming the step in progress and the likely cause, e.g.
 *   btrfs-txn: apply: stuck for 30 s in step 'flushed' (the one after 'verified'):
 *   filesystem frozen or device stalled? see the kernel log; still waiting
 * and prints it again only for another step that stalls.
 *
 * It does not exit: a thread stuck in D state keeps the process alive anyway (exit
 * would wait for it), so exiting would only hide the still-running transaction from
 * the caller; and once the filesystem thaws or the device answers, the transaction
 * ends by the ordinary rules (committed, or aborted with the target unchanged), with
 * the exit status telling which. A caller that wants to give up can send SIGTERM:
 * before the commit point it aborts as soon as the stuck step returns.
 */
#include "watchdog.h"
#include "runner.h"
#include "step.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One thread for the life of the process, made by the first watchdog_start() and
 * never joined: watchdog_stop() only tells it to rest, under the lock it prints
 * under, so that nothing is printed once stop has returned. Joining it cost a
 * wake-up of the CPU it slept on and a round trip, about 0.2 ms of a 5 ms apply
 * (40 applies with --timeout 60 against 40 with --timeout 0, which starts none);
 * the process's exit ends it. */
static struct {
	bool created;
	bool active;            /* between start and stop */
	unsigned long round;    /* counts starts: a new one forgets the last warning */
	const char *command;
	double seconds;
	/* The loop naps on this condition, so that stopping wakes it at once: a
	 * plain sleep made every command last until the next tick (+200 ms, found
	 * by make bench). */
	pthread_mutex_t lock;
	pthread_cond_t wake;
} watch = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* With the lock held: waits up to 200 ms, or until the watch is stopped or
 * started again. */
static void nap(void)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += 200 * 1000 * 1000;
	if (until.tv_nsec >= 1000 * 1000 * 1000) {
		until.tv_nsec -= 1000 * 1000 * 1000;
		until.tv_sec++;
	}
	unsigned long round = watch.round;
	while (watch.active && watch.round == round &&
	       pthread_cond_timedwait(&watch.wake, &watch.lock, &until) == 0)
		;
}

static void *watch_loop(void *arg)
{
	(void)arg;
	const char *warned_last = NULL;
	bool warned = false;
	unsigned long round = 0;
	pthread_mutex_lock(&watch.lock);
	for (;;) {
		while (!watch.active)
			pthread_cond_wait(&watch.wake, &watch.lock);
		if (watch.round != round) {
			round = watch.round;
			warned = false;
			warned_last = NULL;
		}
		nap();
		if (!watch.active || watch.round != round)
			continue;
		/* Before the first step the command is opening the target and waiting
		 * for its lock, a wait --timeout bounds by itself; allow that wait first. */
		const double grace_before_lock = watch.seconds + 5;
		double ago;
		const char *last = txn_step_last(&ago);
		if (warned && last == warned_last)
			continue;
		warned = false;
		if (ago < (last ? watch.seconds : grace_before_lock))
			continue;
		const char *stuck = txn_step_next(watch.command, last);
		char where[160];
		if (!last)
			snprintf(where, sizeof(where), "opening or locking the target");
		else if (stuck)
			snprintf(where, sizeof(where), "step '%s' (the one after '%s')", stuck, last);
		else
			snprintf(where, sizeof(where), "the step after '%s'", last);
		report_error("%s: stuck for %.0f s in %s: %s; still waiting", watch.command, ago,
			     where,
			     stuck && !strcmp(stuck, "verified")
				     ? "the verify hook is still running"
				     : "filesystem frozen or device stalled? see the kernel log");
		warned = true;
		warned_last = last;
	}
	return NULL;
}

void watchdog_start(const char *command, double seconds)
{
	if (!(seconds > 0))
		return;
	pthread_mutex_lock(&watch.lock);
	if (!watch.created) {
		pthread_condattr_t attr;
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&watch.wake, &attr);
		pthread_condattr_destroy(&attr);
		pthread_t thread;
		/* The thread takes no signal: a SIGINT or SIGTERM for the process must
		 * reach the main thread, whose blocking calls it interrupts. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		/* No watchdog is better than no command: a failure here is not fatal. */
		watch.created = pthread_create(&thread, NULL, watch_loop, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (watch.created)
			pthread_detach(thread);
	}
	watch.command = command;
	watch.seconds = seconds;
	watch.round++;
	txn_step_reset();
	watch.active = watch.created;
	pthread_cond_broadcast(&watch.wake);
	pthread_mutex_unlock(&watch.lock);
}

void watchdog_stop(void)
{
	pthread_mutex_lock(&watch.lock);
	watch.active = false;
	pthread_cond_broadcast(&watch.wake);
	pthread_mutex_unlock(&watch.lock);
}
