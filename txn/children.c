/* SPDX-License-Identifier: MIT */
/*
 * children.c: the processes btrfs-txn starts (init's cp, run's COMMAND, verify
 * hooks) must not outlive it. A child that kept writing into a staging tree after
 * we died would race recovery, which deletes that tree.
 *
 * Two layers. Each direct child asks the kernel for SIGKILL when we die
 * (PR_SET_PDEATHSIG), then checks getppid(): we may have died between fork() and
 * prctl(). That covers the child itself, not what it starts; for a child that runs
 * its own process group, a guard process waits on a pipe only we hold for writing:
 * when we die, by any signal, the pipe reads end-of-file and the guard kills the
 * group with SIGKILL.
 */
#include "internal.h"

#include <poll.h>
#include <string.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

void txn_child_die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
}

static void close_all_but(int keep)
{
	if (keep > 0 && syscall(SYS_close_range, 0U, (unsigned)keep - 1, 0U) < 0)
		for (int fd = 0; fd < keep; fd++)
			close(fd);
	if (syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U) < 0)
		for (int fd = keep + 1; fd < 1024; fd++)
			close(fd);
}

pid_t txn_child_guard_start(pid_t pgid, int *ret_pipe_fd)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		close(fds[0]);
		close(fds[1]);
		return -saved;
	}
	if (pid == 0) {
		/* Interrupts and job control are ours to handle; the guard only waits.
		 * It holds no descriptor but the pipe: not our lock, not our stdout. */
		static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN,
					       SIGTTOU, SIGPIPE };
		for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
			signal(ignored[i], SIG_IGN);
		close_all_but(fds[0]);
		char c;
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		kill(-pgid, SIGKILL);
		_exit(0);
	}
	close(fds[0]);
	*ret_pipe_fd = fds[1];
	return pid;
}

void txn_child_guard_end(pid_t guard, int pipe_fd)
{
	if (guard <= 0)
		return;
	kill(guard, SIGKILL);
	while (waitpid(guard, NULL, 0) < 0 && errno == EINTR)
		;
	if (pipe_fd >= 0)
		close(pipe_fd);
}

void txn_child_exec(const char *executable, char *const argv[])
{
	execv(executable, argv);
	if (errno != ENOEXEC)
		return;
	size_t n = 0;
	while (argv[n])
		n++;
	char *sh_argv[n + 2];
	sh_argv[0] = (char *)"/bin/sh";
	sh_argv[1] = (char *)executable;
	memcpy(sh_argv + 2, argv + 1, n * sizeof(char *));
	execv("/bin/sh", sh_argv);
}

void child_wait_tick(int pidfd)
{
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		poll(&pfd, 1, 100);
	} else {
		usleep(10000);
	}
}
