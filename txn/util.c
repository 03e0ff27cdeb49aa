/* SPDX-License-Identifier: MIT */
/* util.c: error filling, clocks, I/O helpers and the test-only fault points. */
#include "internal.h"
#include "state.h"
#include "step.h"

#include <stdatomic.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

volatile sig_atomic_t txn_interrupted;

int txn_fail(struct txn_error *error, enum txn_status status, int errnum, const char *fmt, ...)
{
	if (errnum < 0)
		errnum = -errnum;
	if (error) {
		va_list ap;
		error->status = status;
		error->errnum = errnum;
		va_start(ap, fmt);
		vsnprintf(error->message, sizeof(error->message), fmt, ap);
		va_end(ap);
	}
	return errnum ? -errnum : -EIO;
}

const char *txn_error_string(const struct txn_error *error, char *buf, size_t size)
{
	if (error->errnum)
		snprintf(buf, size, "%s: %s", error->message, strerror(error->errnum));
	else
		snprintf(buf, size, "%s", error->message);
	return buf;
}

double txn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsync_fd(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

#ifdef BTRFS_TXN_TESTING
static void run_step_hook(const char *hook, const char *step)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", hook, "sh", step, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}
#endif

/* The last step ended and when (monotonic nanoseconds), read by the runner's
 * watchdog thread: atomics, since it reads while this thread writes. The name is
 * always a string literal, so the pointer alone is enough. */
static _Atomic(const char *) last_step;
static _Atomic long long last_step_ns;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void txn_step_reset(void)
{
	atomic_store(&last_step, NULL);
	atomic_store(&last_step_ns, now_ns());
}

const char *txn_step_last(double *ret_seconds_ago)
{
	const char *step;
	long long at;
	/* Re-read if a step ended in between, so name and time belong together. */
	do {
		at = atomic_load(&last_step_ns);
		step = atomic_load(&last_step);
	} while (at != atomic_load(&last_step_ns));
	if (ret_seconds_ago)
		*ret_seconds_ago = (double)(now_ns() - at) / 1e9;
	return step;
}

void txn_step(const char *step)
{
	atomic_store(&last_step_ns, now_ns());
	atomic_store(&last_step, step);
#ifdef BTRFS_TXN_TESTING
	/* Only the test build (make check, make vmcheck) has these switches: in the
	 * command and library that get installed, no environment variable can run a
	 * command or stop a process at a protocol step. */
	const char *hook = getenv("BTRFS_TXN_STEP_HOOK");
	if (hook && *hook)
		run_step_hook(hook, step);

	const char *fault = getenv("BTRFS_TXN_FAULT");
	if (!fault || !*fault)
		return;
	size_t n = strcspn(fault, ":");
	if (strlen(step) != n || strncmp(fault, step, n) != 0)
		return;
	const char *action = fault[n] == ':' ? fault + n + 1 : "kill";
	if (strcmp(action, "stop") == 0)
		raise(SIGSTOP);
	else if (strcmp(action, "exit") == 0)
		_exit(99);
	else
		raise(SIGKILL);
#endif
}

/* The order in which transact() and its callers mark the steps (snapshot.c,
 * recover.c): the old tree is renamed to gen-N (and made read-only) right after the
 * exchange, before the sync. Rollback has no preconditions, applied or verified. */
static const char *const apply_order[] = {
	"locked", "recover-start", "recover-done", "preconditions", "journaled",
	"snapshotted", "staged", "applied", "verified", "flushed", "checked",
	"exchanged", "renamed", "synced", "history", "done", NULL,
};
static const char *const rollback_order[] = {
	"locked", "recover-start", "recover-done", "journaled", "snapshotted", "staged",
	"flushed", "checked", "exchanged", "renamed", "synced", "history", "done", NULL,
};

const char *txn_step_next(const char *command, const char *last)
{
	if (!last)
		return "locked";
	if (!strncmp(last, "recover-", 8) && strcmp(last, "recover-done") != 0)
		return "recover-done";
	const char *const *order = command && !strcmp(command, "rollback") ? rollback_order
									   : apply_order;
	for (size_t i = 0; order[i]; i++)
		if (!strcmp(order[i], last))
			return order[i + 1] ? order[i + 1] : "done";
	return NULL;
}

/* The time now as ISO 8601 UTC, for the journal and the history. */
void utc_now(char out[32])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
