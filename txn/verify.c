/* SPDX-License-Identifier: MIT */
/*
 * verify.c: the verify hook, run against the staged tree before the commit point.
 *
 * The hook runs in its own process group, so a timeout or an interrupt kills it and
 * everything it started. Its standard output goes to our standard error, so that
 * `--json` keeps one document on stdout. A failure to exec is reported through a
 * close-on-exec pipe, so "cannot run X" is told apart from "X failed".
 * The hook's environment lists the locks this process holds (BTRFS_TXN_LOCKED_TARGETS,
 * added to what our own caller listed), so a btrfs-txn the hook runs on the same
 * target fails at once with exit 3 instead of waiting for its own caller.
 * The hook and its group die with us, even when we are killed (children.c).
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Replaces every "{staging}" in @arg with @staging. */
static char *substitute(const char *arg, const char *staging)
{
	static const char key[] = "{staging}";
	size_t count = 0;
	for (const char *p = arg; (p = strstr(p, key)); p += sizeof(key) - 1)
		count++;
	size_t len = strlen(arg) + count * strlen(staging) + 1;
	char *out = malloc(len), *w = out;
	if (!out)
		return NULL;
	for (const char *p = arg;;) {
		const char *hit = strstr(p, key);
		if (!hit) {
			strcpy(w, p);
			break;
		}
		memcpy(w, p, (size_t)(hit - p));
		w += hit - p;
		strcpy(w, staging);
		w += strlen(staging);
		p = hit + sizeof(key) - 1;
	}
	return out;
}

static void free_argv(char **argv, size_t argc)
{
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

int txn_verify_run(const struct txn_verify *verify, const char *staging_path,
		   struct txn_error *error)
{
	if (!verify->argv || verify->argc == 0)
		return 0;
	unsigned timeout = verify->timeout_seconds ? verify->timeout_seconds
						   : TXN_DEFAULT_VERIFY_TIMEOUT;
	char **argv = calloc(verify->argc + 1, sizeof(char *));
	if (!argv)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "verify hook");
	for (size_t i = 0; i < verify->argc; i++)
		if (!(argv[i] = substitute(verify->argv[i], staging_path))) {
			free_argv(argv, verify->argc);
			return txn_fail(error, TXN_ABORTED, ENOMEM, "verify hook");
		}

	/* The hook runs as us (root): the file run and the way to it are judged by
	 * StrictModes (trust.c), and the child runs the file judged, by its canonical
	 * path, which nobody but root (or the caller) can make name another file. */
	char executable[PATH_MAX], refusal[PATH_MAX + 256] = "";
	int found = txn_trust_find_executable(argv[0], executable, refusal, sizeof(refusal));
	if (found < 0) {
		int r = found == -EPERM || (found == -ELOOP && refusal[0])
				? txn_fail(error, TXN_ABORTED, 0, "verify hook: refusing to run '%s': %s",
					   argv[0], refusal)
				: txn_fail(error, TXN_ABORTED, found, "verify hook: cannot run '%s'", argv[0]);
		free_argv(argv, verify->argc);
		return r;
	}

	/* Built before fork(): the child only calls setenv() with it. */
	char held[512], locked_targets[1024];
	target_locks_held(held, sizeof(held));
	const char *inherited = getenv(LOCKED_TARGETS_ENV);
	snprintf(locked_targets, sizeof(locked_targets), "%s%s%s", inherited ? inherited : "",
		 inherited && *inherited && held[0] ? " " : "", held);

	int exec_pipe[2];
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		free_argv(argv, verify->argc);
		return txn_fail(error, TXN_ABORTED, errno, "verify hook: pipe");
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		txn_child_die_with_parent(parent);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		int null_fd = open("/dev/null", O_RDONLY);
		if (null_fd >= 0)
			dup2(null_fd, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("BTRFS_TXN_STAGING", staging_path, 1);
		setenv(LOCKED_TARGETS_ENV, locked_targets, 1);
		txn_child_exec(executable, argv);
		int e = errno;
		(void)!write(exec_pipe[1], &e, sizeof(e));
		_exit(127);
	}
	int fork_errno = errno;
	close(exec_pipe[1]);
	if (pid < 0) {
		close(exec_pipe[0]);
		free_argv(argv, verify->argc);
		return txn_fail(error, TXN_ABORTED, fork_errno, "verify hook: fork");
	}
	setpgid(pid, pid); /* also here, so kill(-pid) works whoever runs first */
	/* Whatever the hook starts dies with us too, even if we are SIGKILLed. */
	int guard_fd = -EBADF;
	pid_t guard = txn_child_guard_start(pid, &guard_fd);

	int exec_errno = 0;
	while (read(exec_pipe[0], &exec_errno, sizeof(exec_errno)) < 0 && errno == EINTR)
		;
	close(exec_pipe[0]);

	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	double deadline = txn_now() + timeout;
	int status = 0, r = 0;
	bool timed_out = false, interrupted = false;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			r = txn_fail(error, TXN_ABORTED, errno, "verify hook: waitpid");
			break;
		}
		if (txn_interrupted || txn_now() >= deadline) {
			interrupted = txn_interrupted;
			timed_out = !interrupted;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		child_wait_tick(pidfd);
	}
	if (pidfd >= 0)
		close(pidfd);
	/* Whatever the hook left running in its group goes too. */
	kill(-pid, SIGKILL);
	txn_child_guard_end(guard, guard_fd);

	if (r == 0) {
		if (exec_errno)
			r = txn_fail(error, TXN_ABORTED, exec_errno, "verify hook: cannot run '%s'",
				     argv[0]);
		else if (interrupted)
			r = txn_fail(error, TXN_ABORTED, EINTR, "verify hook '%s' stopped by a signal",
				     argv[0]);
		else if (timed_out)
			/* No errno: strerror(ETIMEDOUT) reads "Connection timed out". */
			r = txn_fail(error, TXN_ABORTED, 0,
				     "verify hook '%s' timed out after %u s and was killed", argv[0],
				     timeout);
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			r = txn_fail(error, TXN_ABORTED, 0, "verify hook '%s' failed with exit status %d",
				     argv[0], WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			r = txn_fail(error, TXN_ABORTED, 0, "verify hook '%s' was killed by signal %d",
				     argv[0], WTERMSIG(status));
	}
	free_argv(argv, verify->argc);
	return r;
}
