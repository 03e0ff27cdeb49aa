/* SPDX-License-Identifier: MIT */
/* run.c: run one scenario: its boots, its markers, its timeout.
 *
 * For each scenario it creates fresh sparse data and log disks, boots the guest
 * image once per declared boot on those same disks, follows the serial console for
 * the guest init's @@VMTEST@@ markers and acts on them: "cut" is a power cut (QMP
 * quit, at once), "next" a clean reboot, "ok"/"fail"/"skip" the result. Every wait is
 * bounded by the scenario's timeout; a guest that overstays it is killed as a process
 * group and reported as a timeout with its last console lines.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUIT_GRACE_MS 5000      /* QEMU's own exit after quit or guest poweroff */
#define DISK_SIZE (1024LL * 1024 * 1024)

/* make_disk() - a fresh sparse raw image: every scenario starts from blank disks. */
static int make_disk(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, DISK_SIZE) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void set_result(struct result *res, enum outcome outcome, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void set_result(struct result *res, enum outcome outcome, const char *format, ...)
{
	va_list ap;

	res->outcome = outcome;
	va_start(ap, format);
	vsnprintf(res->reason, sizeof(res->reason), format, ap);
	va_end(ap);
}

#define VM_PATH_SIZE 4096

/* path_in() - DIR/NAME[NUMBER]SUFFIX into a VM_PATH_SIZE buffer; NUMBER 0 is left out. */
static int path_in(char *ret_path, const char *dir, const char *name, int number, const char *suffix)
{
	int n;

	if (number)
		n = snprintf(ret_path, VM_PATH_SIZE, "%s/%s%d%s", dir, name, number, suffix);
	else
		n = snprintf(ret_path, VM_PATH_SIZE, "%s/%s%s", dir, name, suffix);
	return n < 0 || n >= VM_PATH_SIZE ? -ENAMETOOLONG : 0;
}

enum boot_end { BOOT_CONTINUE, BOOT_DONE };

/* run_boot() - one boot of a scenario. Returns BOOT_CONTINUE when the next boot should
 * start (after a power cut or a clean "next"), BOOT_DONE when @res holds the result. */
static enum boot_end run_boot(const struct run_settings *o, const struct qemu_config *config,
			      const struct scenario *s, const char *dir, int boot,
			      int64_t deadline, struct result *res)
{
	char console_path[VM_PATH_SIZE], qmp_path[VM_PATH_SIZE], log_path[VM_PATH_SIZE];
	char data[VM_PATH_SIZE], log_disk[VM_PATH_SIZE];
	const char *disks[] = { data, log_disk, NULL };
	char *append = NULL, *marker = NULL;
	struct console console;
	struct qmp qmp = { .fd = -EBADF };
	struct qemu vm = { 0 };
	enum boot_end end = BOOT_DONE;
	bool connected = false;
	int r;

	if (path_in(console_path, dir, "console-boot", boot, ".log") < 0 ||
	    path_in(qmp_path, dir, "qmp.sock", 0, "") < 0 ||
	    path_in(log_path, dir, "qemu-boot", boot, ".log") < 0 ||
	    path_in(data, dir, "data.img", 0, "") < 0 ||
	    path_in(log_disk, dir, "log.img", 0, "") < 0) {
		set_result(res, OUTCOME_FAIL, "run directory path too long");
		return BOOT_DONE;
	}

	r = console_open(&console, console_path);
	if (r < 0) {
		set_result(res, OUTCOME_FAIL, "cannot create %s: %s", console_path, strerror(-r));
		return BOOT_DONE;
	}
	if (o->verbose)
		console.echo = stderr;
	if (asprintf(&append, "console=ttyS0 panic=-1 loglevel=4 mitigations=off "
		     "vmtest.scenario=%s vmtest.boot=%d vmtest.boots=%d",
		     s->guest_name, boot, s->boots) < 0) {
		append = NULL;
		set_result(res, OUTCOME_FAIL, "out of memory");
		goto out;
	}
	r = qemu_start(&vm, config, append, disks, console_path, qmp_path, log_path);
	if (r < 0) {
		set_result(res, OUTCOME_FAIL, "cannot start %s: %s", config->qemu, strerror(-r));
		goto out;
	}
	res->boots_run = boot;

	/* QMP is how we cut power; without it the scenario cannot be trusted. */
	r = qmp_connect(&qmp, qmp_path, deadline < vm_now_ms() + 10000 ? deadline : vm_now_ms() + 10000);
	if (r < 0) {
		if (vm_interrupted)
			set_result(res, OUTCOME_FAIL, "interrupted");
		else
			set_result(res, OUTCOME_FAIL, "boot %d: no QMP connection (%s); see %s",
				   boot, strerror(-r), log_path);
		goto out;
	}
	connected = true;
	{
		char status[64];

		r = qmp_status(&qmp, vm_now_ms() + 5000, status, sizeof(status));
		if (r < 0 || (strcmp(status, "running") && strcmp(status, "prelaunch"))) {
			set_result(res, OUTCOME_FAIL, "boot %d: QEMU is not running (%s)", boot,
				   r < 0 ? strerror(-r) : status);
			goto out;
		}
	}

	for (;;) {
		bool ended = qemu_poll(&vm);

		if (vm_interrupted) {
			set_result(res, OUTCOME_FAIL, "interrupted by signal %d", (int)vm_interrupted);
			goto out;
		}
		if (connected)
			qmp_drain_events(&qmp);
		while ((r = console_next_marker(&console, ended, &marker)) == 1) {
			if (!strncmp(marker, "boot ", 5) || !strcmp(marker, "ready")) {
				free(marker);
				marker = NULL;
				continue;
			}
			if (!strncmp(marker, "count ", 6)) {
				if (run_count_marker(marker, res) < 0)
					printf("# %s: ignored a malformed marker '%s'\n", s->name, marker);
				free(marker);
				marker = NULL;
				continue;
			}
			goto act;
		}
		if (r < 0) {
			set_result(res, OUTCOME_FAIL, "reading %s: %s", console_path, strerror(-r));
			goto out;
		}
		if (ended) {
			set_result(res, OUTCOME_FAIL, "boot %d: the guest stopped without a result (QEMU status %d)",
				   boot, vm.status);
			goto out;
		}
		if (vm_now_ms() >= deadline) {
			set_result(res, OUTCOME_FAIL, "timeout after %d s (boot %d)",
				   (int)(s->timeout_sec * o->timeout_scale), boot);
			goto out;
		}
		vm_sleep_ms(50);
	}

act:
	if (!strcmp(marker, "cut")) {
		/* Power cut: QMP quit ends QEMU without letting the guest flush anything. */
		r = qmp_execute(&qmp, "quit", vm_now_ms() + 2000, NULL);
		if (r < 0 && r != -ECONNRESET)
			qemu_kill(&vm);
		end = BOOT_CONTINUE;
	} else if (!strcmp(marker, "next")) {
		end = BOOT_CONTINUE; /* the guest powers itself off */
	} else if (!strcmp(marker, "ok")) {
		set_result(res, OUTCOME_PASS, "%s", "");
	} else if (!strncmp(marker, "skip", 4)) {
		set_result(res, OUTCOME_SKIP, "%s", marker[4] ? marker + 5 : "no reason given");
	} else if (!strncmp(marker, "fail", 4)) {
		set_result(res, OUTCOME_FAIL, "%s", marker[4] ? marker + 5 : "no reason given");
	} else {
		set_result(res, OUTCOME_FAIL, "unknown marker '%s'", marker);
	}
	if (end == BOOT_CONTINUE && boot >= s->boots) {
		set_result(res, OUTCOME_FAIL, "boot %d asked for another boot, but the scenario declares %d",
			   boot, s->boots);
		end = BOOT_DONE;
	}
	/* Poweroff or quit is under way; a QEMU that does not finish is killed. */
	if (qemu_wait(&vm, vm_now_ms() + QUIT_GRACE_MS) < 0 && end == BOOT_CONTINUE)
		fprintf(stdout, "# %s: QEMU did not exit after boot %d, killed\n", s->name, boot);

out:
	free(marker);
	if (!vm.exited && vm.pid > 0)
		qemu_kill(&vm);
	if (end == BOOT_DONE && res->outcome == OUTCOME_FAIL) {
		/* Whatever the guest printed last is the best clue a person gets. */
		char *tail_marker = NULL;

		while (console_next_marker(&console, true, &tail_marker) == 1) {
			free(tail_marker);
			tail_marker = NULL;
		}
		printf("# %s: last console lines of boot %d (%s):\n", s->name, boot, console_path);
		console_print_tail(&console, stdout, "#   ");
	}
	if (console.hung_task)
		res->hung_task = true;
	if (connected)
		qmp_close(&qmp);
	unlink(qmp_path);
	console_close(&console);
	free(append);
	return end;
}

int run_count_marker(const char *marker, struct result *res)
{
	char name[32];
	int value, end = 0;

	if (sscanf(marker, "count %31s %d%n", name, &value, &end) != 2 || marker[end] != '\0')
		return -EINVAL;
	if (!strcmp(name, "crash_states"))
		res->crash_states += value;
	else if (!strcmp(name, "violations"))
		res->violations += value;
	else if (!strcmp(name, "faults"))
		res->faults += value;
	else
		return -EINVAL;
	return 0;
}

void run_scenario(const struct run_settings *o, const struct qemu_config *config,
			 const struct scenario *s, struct result *res)
{
	int64_t start = vm_now_ms();
	int64_t deadline = start + (int64_t)(s->timeout_sec * o->timeout_scale * 1000);
	char dir[VM_PATH_SIZE], data[VM_PATH_SIZE], log_disk[VM_PATH_SIZE];
	int r;

	memset(res, 0, sizeof(*res));
	r = path_in(dir, o->run_dir, s->name, 0, "");
	if (r == 0)
		r = path_in(data, dir, "data.img", 0, "");
	if (r == 0)
		r = path_in(log_disk, dir, "log.img", 0, "");
	if (r == 0)
		r = vm_make_dir(dir);
	if (r == 0)
		r = make_disk(data);
	if (r == 0)
		r = make_disk(log_disk);
	if (r < 0) {
		set_result(res, OUTCOME_FAIL, "cannot prepare %s: %s", dir, strerror(-r));
		return;
	}
	for (int boot = 1; boot <= s->boots; boot++)
		if (run_boot(o, config, s, dir, boot, deadline, res) == BOOT_DONE)
			break;
	/* The guest only recorded a crash-* scenario's log; its states are checked here. */
	if (res->outcome == OUTCOME_PASS && crash_scenario(s) && !vm_interrupted)
		crash_check(s, dir, deadline, res);
	/* A violation counted by the guest fails the scenario even if it ended with ok. */
	if (res->outcome == OUTCOME_PASS && res->violations > 0)
		set_result(res, OUTCOME_FAIL, "%d violations counted", res->violations);
	res->seconds = (double)(vm_now_ms() - start) / 1000.0;
}
