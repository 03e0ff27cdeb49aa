/* SPDX-License-Identifier: MIT */
/* proc.c: the leaf every other vmtests file may use, and that uses none of them:
 * the monotonic clock, sleeping, the interrupt flag, mkdir -p, and the one bounded
 * wait for a child process group (QEMU, a helper, the host-side crash check).
 *
 * Every wait in the suite ends: proc_wait_bounded() reaps a child by a deadline and,
 * past it (or on SIGINT/SIGTERM, when asked), sends its process group SIGTERM, then
 * SIGKILL after a grace period, and reaps it.
 */
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

volatile sig_atomic_t vm_interrupted;

int64_t vm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vm_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int vm_make_dir(const char *path)
{
	char *copy = strdup(path);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			*p = saved;
			if (!saved)
				break;
		}
	}
	free(copy);
	return r;
}

/* The last resort after SIGKILL: a process in D state may take a while to go. */
#define KILL_REAP_MS 60000

int proc_poll(pid_t pid, int *ret_status)
{
	int status;
	pid_t r;

	do
		r = waitpid(pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == pid) {
		*ret_status = status;
		return 1;
	}
	if (r < 0)
		return -errno;
	return 0;
}

int proc_wait_bounded(pid_t pid, int64_t deadline_ms, int64_t grace_ms, bool on_interrupt,
		      int *ret_status, bool *ret_timed_out)
{
	enum { WAITING, TERMED, KILLED } stage = WAITING;
	int64_t deadline = deadline_ms;
	bool timed_out = false;
	int status = 0, r;

	for (;;) {
		r = proc_poll(pid, &status);
		if (r == 1)
			break;
		if (r < 0)
			return r;
		bool interrupted = on_interrupt && vm_interrupted && stage == WAITING;

		if (interrupted || vm_now_ms() >= deadline) {
			if (!interrupted)
				timed_out = true;
			if (stage == WAITING && grace_ms > 0) {
				kill(-pid, SIGTERM);
				stage = TERMED;
				deadline = vm_now_ms() + grace_ms;
			} else if (stage != KILLED) {
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				stage = KILLED;
				deadline = vm_now_ms() + KILL_REAP_MS;
			} else {
				return -ETIMEDOUT; /* unkillable: leave it, say so */
			}
		}
		vm_sleep_ms(stage == WAITING ? 20 : 50);
	}
	*ret_status = status;
	if (ret_timed_out)
		*ret_timed_out = timed_out;
	return 0;
}
