/* SPDX-License-Identifier: MIT */
/* qemu.c: start one QEMU guest and make sure it always ends.
 *
 * QEMU runs in its own process group with PR_SET_PDEATHSIG, so a stuck guest (or a
 * helper it forked) is killed as a group and an orchestrator that dies takes its guest
 * along. Disks get cache=unsafe: the guest then sees a volatile write cache and issues
 * FLUSH and FUA, which dm-log-writes records, while the host never fsyncs the images.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_ARGS 64

int qemu_start(struct qemu *vm, const struct qemu_config *config, const char *append,
	       const char *const *disks, const char *console_path, const char *qmp_path,
	       const char *log_path)
{
	char *owned[MAX_ARGS];
	const char *argv[MAX_ARGS];
	size_t argc = 0, owned_count = 0;
	char memory[32], cpus[32];
	pid_t pid;
	int log_fd, r = 0;

#define ARG(x) do { if (argc + 1 >= MAX_ARGS) { r = -E2BIG; goto out; } argv[argc++] = (x); } while (0)
#define ARGF(...) do { char *s_; if (asprintf(&s_, __VA_ARGS__) < 0) { r = -ENOMEM; goto out; } \
	owned[owned_count++] = s_; ARG(s_); } while (0)

	snprintf(memory, sizeof(memory), "%d", config->memory_mb);
	snprintf(cpus, sizeof(cpus), "%d", config->cpus);
	ARG(config->qemu);
	/* No default devices and no NIC: nothing to probe, no option ROM to wait for. */
	ARG("-nodefaults");
	ARG("-no-user-config");
	ARG("-accel");
	ARG(config->accel);
	if (!strcmp(config->accel, "tcg")) {
		/* "max" has RDRAND, so the guest's getrandom() does not wait seconds for
		 * entropy (mkfs.btrfs asks for UUIDs). Under KVM "host" is what would give
		 * that, and it aborts on this kind of machine: keep the default there. */
		ARG("-cpu");
		ARG("max");
	}
	ARG("-m");
	ARG(memory);
	ARG("-smp");
	ARG(cpus);
	ARG("-display");
	ARG("none");
	ARG("-no-reboot"); /* a guest panic (panic=-1) ends QEMU instead of looping */
	ARG("-net");
	ARG("none");
	ARG("-kernel");
	ARG(config->kernel);
	ARG("-initrd");
	ARG(config->initrd);
	ARG("-append");
	ARG(append);
	ARG("-chardev");
	ARGF("file,id=console,path=%s", console_path);
	ARG("-serial");
	ARG("chardev:console");
	ARG("-qmp");
	ARGF("unix:%s,server=on,wait=off", qmp_path);
	for (size_t i = 0; disks && disks[i]; i++) {
		ARG("-drive");
		ARGF("file=%s,if=virtio,format=raw,cache=unsafe", disks[i]);
	}
	argv[argc] = NULL;

	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		r = -errno;
		goto out;
	}
	unlink(qmp_path);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(log_fd);
		goto out;
	}
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
		    dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		dprintf(STDERR_FILENO, "vmtest: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Also here, so a kill right after fork cannot miss the group. */
	setpgid(pid, pid);
	close(log_fd);
	vm->pid = pid;
	vm->exited = false;
	vm->status = 0;
out:
	for (size_t i = 0; i < owned_count; i++)
		free(owned[i]);
	return r;
#undef ARG
#undef ARGF
}

bool qemu_poll(struct qemu *vm)
{
	int status = 0, r;

	if (vm->exited)
		return true;
	r = proc_poll(vm->pid, &status);
	if (r == 1 || r == -ECHILD) {
		vm->exited = true;
		vm->status = status;
		/* Helpers QEMU may have left in its group go with it. */
		kill(-vm->pid, SIGKILL);
	}
	return vm->exited;
}

void qemu_kill(struct qemu *vm)
{
	if (vm->exited)
		return;
	qemu_wait(vm, 0);
}

/* QEMU gets no SIGTERM grace: a guest is powered off or cut, never asked to finish. */
int qemu_wait(struct qemu *vm, int64_t deadline_ms)
{
	bool timed_out = false;
	int status = 0, r;

	if (vm->exited)
		return 0;
	r = proc_wait_bounded(vm->pid, deadline_ms, 0, false, &status, &timed_out);
	vm->exited = true;
	vm->status = status;
	/* Helpers QEMU may have left in its group go with it. */
	kill(-vm->pid, SIGKILL);
	return r < 0 || timed_out ? -ETIMEDOUT : 0;
}
