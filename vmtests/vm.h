/* SPDX-License-Identifier: MIT */
/* vm.h: the pieces of the vmtests host orchestrator (build/vmtest).
 *
 * scenario.c finds and parses scenario files, qemu.c starts and stops one QEMU guest
 * (process group, bounded waits), qmp.c speaks QMP over its unix socket with jansson,
 * console.c follows the serial console log and picks out marker lines, run.c runs
 * one scenario's boots, crashrun.c checks a crash-* scenario's states on the host,
 * report.c writes the report files, proc.c holds the clock and the one bounded wait,
 * and orchestrator.c ties them together and reports KTAP.
 *
 * Calls run one way, down this list: orchestrator.c -> run.c, report.c -> crashrun.c,
 * qemu.c, qmp.c, console.c, scenario.c -> proc.c (logreplay.c and reorder.c stand
 * alone, under the command logreplay_cmd.c). No two files call each other. Every function that can fail
 * returns 0 or a negative errno; out-parameters are named ret_* and are untouched on
 * failure.
 */
#ifndef VMTESTS_VM_H
#define VMTESTS_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* ---- proc.c: the leaf; every file below may call it, it calls none of them ------ */

/* Milliseconds on CLOCK_MONOTONIC: every deadline in the orchestrator is one of these. */
int64_t vm_now_ms(void);
void vm_sleep_ms(int64_t ms);

/* Set by SIGINT/SIGTERM/SIGHUP (the orchestrator's handler): loops stop at their next turn. */
extern volatile sig_atomic_t vm_interrupted;

/* vm_make_dir() - mkdir -p. Return: 0 or -errno. */
int vm_make_dir(const char *path);

/* proc_poll() - reap @pid if it has exited. Return: 1 with @ret_status, 0 if it still
 * runs, -errno (-ECHILD if it is not our child). */
int proc_poll(pid_t pid, int *ret_status);

/**
 * proc_wait_bounded() - the one bounded wait of the suite: reap @pid, the leader of its
 * own process group, by @deadline_ms. Past it, SIGTERM to the group and @grace_ms later
 * SIGKILL (at once if @grace_ms is 0); with @on_interrupt, vm_interrupted starts the
 * same sequence. @ret_timed_out (may be NULL) says whether the deadline passed.
 * Return: 0 with @ret_status, -ETIMEDOUT if even SIGKILL did not end it within 60 s,
 * or -errno.
 */
int proc_wait_bounded(pid_t pid, int64_t deadline_ms, int64_t grace_ms, bool on_interrupt,
		      int *ret_status, bool *ret_timed_out);

/* ---- scenario.c ---------------------------------------------------------------- */

struct scenario {
	char *name;        /* file name without .sh: what filters match */
	char *guest_name;  /* DIR/NAME as the guest finds it under /vmtest */
	char *path;        /* the file on the host */
	char *description; /* the "# vmtest:" line */
	int timeout_sec;   /* for all boots together */
	int boots;         /* boots the scenario runs: power cuts + 1, typically */
};

/**
 * scenario_load() - parse the header of one scenario file.
 * @path: the file, NAME.sh
 * @dir_name: the basename of its directory, which is its directory inside the guest
 * @ret: filled on success; free with scenario_clear()
 *
 * Return: 0, -EINVAL with a message on stderr if the header is malformed, or -errno.
 */
int scenario_load(const char *path, const char *dir_name, struct scenario *ret);
void scenario_clear(struct scenario *s);

/**
 * scenario_discover() - load every *.sh in @dir, sorted by name, appended to *@list.
 * Return: 0 or a negative errno (a malformed file fails the whole discovery).
 */
int scenario_discover(const char *dir, struct scenario **list, size_t *count);

/* ---- console.c ----------------------------------------------------------------- */

#define CONSOLE_TAIL_LINES 25
#define VM_MARKER "@@VMTEST@@ "

struct console {
	int fd;                 /* the log QEMU writes, opened for reading */
	char partial[4096];     /* an incomplete last line */
	size_t partial_len;
	char *tail[CONSOLE_TAIL_LINES]; /* ring of the last lines, for failure reports */
	size_t tail_next;
	bool hung_task;         /* the kernel reported a hung task */
	size_t bytes_seen;      /* everything read so far: has the guest said anything? */
	FILE *echo;             /* if set, every line is copied here (-v) */
};

/**
 * console_open() - create (truncate) the log file at @path and follow it.
 * Return: 0 or -errno.
 */
int console_open(struct console *c, const char *path);
void console_close(struct console *c);

/**
 * console_next_marker() - read what QEMU appended and return the next marker line.
 * @at_end: QEMU has exited, so an unterminated last line is complete
 * @ret_marker: on 1, a malloc'd copy of the text after "@@VMTEST@@ " (caller frees)
 *
 * Markers may appear anywhere in a line: the first line carries the firmware's
 * terminal escape sequences. Return: 1 with a marker, 0 if none is there yet, -errno.
 */
int console_next_marker(struct console *c, bool at_end, char **ret_marker);

/* console_print_tail() - the last lines, each prefixed with @prefix, to @out. */
void console_print_tail(const struct console *c, FILE *out, const char *prefix);

/* ---- qmp.c --------------------------------------------------------------------- */

struct qmp {
	int fd;
	char buf[65536];
	size_t len;
	bool shutdown_seen; /* a SHUTDOWN event went by */
};

/**
 * qmp_connect() - connect to QEMU's QMP socket, read the greeting and leave command
 * negotiation mode (qmp_capabilities). Retries until the socket exists or @deadline_ms.
 * Return: 0, -ETIMEDOUT, or -errno.
 */
int qmp_connect(struct qmp *q, const char *socket_path, int64_t deadline_ms);
void qmp_close(struct qmp *q);

/**
 * qmp_execute() - run one command and wait for its answer, skipping events.
 * @ret_return: if not NULL, the "return" member (caller owns the reference)
 * Return: 0, -EPROTO if QEMU answered with an error, -ETIMEDOUT, -ECONNRESET, -errno.
 */
int qmp_execute(struct qmp *q, const char *command, int64_t deadline_ms, json_t **ret_return);

/* qmp_status() - query-status: the run state ("running", "paused", ...) in @ret_status. */
int qmp_status(struct qmp *q, int64_t deadline_ms, char *ret_status, size_t size);

/* qmp_drain_events() - read whatever events are pending without blocking. */
int qmp_drain_events(struct qmp *q);

/* ---- qemu.c -------------------------------------------------------------------- */

struct qemu_config {
	const char *qemu;        /* the binary */
	const char *kernel;
	const char *initrd;
	const char *accel;       /* "kvm" or "tcg" */
	int memory_mb;
	int cpus;
};

struct qemu {
	pid_t pid;               /* also its process group */
	bool exited;
	int status;              /* from waitpid, when exited */
};

/**
 * qemu_start() - start a guest in its own process group.
 * @append: the kernel command line
 * @disks: raw images attached as virtio disks vda, vdb, ... (NULL-terminated)
 * @console_path: file receiving the serial console
 * @qmp_path: unix socket QEMU listens on for QMP
 * @log_path: QEMU's own stdout and stderr
 * Return: 0 or -errno (exec failures show up as an early exit, in @log_path).
 */
int qemu_start(struct qemu *vm, const struct qemu_config *config, const char *append,
	       const char *const *disks, const char *console_path, const char *qmp_path,
	       const char *log_path);

/* qemu_poll() - true once the guest's QEMU has exited (reaps it). */
bool qemu_poll(struct qemu *vm);

/**
 * qemu_wait() - wait for QEMU to exit until @deadline_ms; after that, kill its process
 * group and reap it. Return: 0 if it exited by itself, -ETIMEDOUT if it had to be killed.
 */
int qemu_wait(struct qemu *vm, int64_t deadline_ms);

/* qemu_kill() - SIGKILL the whole process group and reap QEMU. */
void qemu_kill(struct qemu *vm);

/* ---- run.c ---------------------------------------------------------------------- */

enum outcome { OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_SKIP };

struct result {
	enum outcome outcome;
	char reason[512];
	double seconds;
	int boots_run;
	bool hung_task;   /* the guest kernel reported a hung task meanwhile */
	/* Counters for the report: from "count NAME N" markers of the guest, and the
	 * crash states the host replayed (crashrun.c). */
	int crash_states;
	int violations;
	int faults;
	int reordered;          /* of crash_states, the reordered ones (crashrun.c) */
	int reorder_violations; /* of violations, those in reordered states */
};

struct run_settings {
	const char *run_dir;   /* each scenario gets RUN_DIR/NAME */
	double timeout_scale;
	bool verbose;          /* copy the console to stderr */
};

/**
 * run_scenario() - run all boots of @s on fresh disks and fill @res. Failures, with
 * the last console lines, are printed as KTAP diagnostics on stdout.
 */
void run_scenario(const struct run_settings *settings, const struct qemu_config *config,
		  const struct scenario *s, struct result *res);

/* run_count_marker() - apply a "count NAME N" marker to @res: NAME is crash_states,
 * violations or faults, N is added. Return: 0, or -EINVAL for another NAME or no N. */
int run_count_marker(const char *marker, struct result *res);

/* ---- crashrun.c ----------------------------------------------------------------- */

/* crash_scenario() - a crash-* scenario: its dm-log-writes log is replayed on the host. */
bool crash_scenario(const struct scenario *s);

/**
 * crash_check() - run vmtests/crashcheck.sh on @run_dir (the scenario's disks) until
 * @deadline_ms and add its counts to @res; a violation, a failed or timed-out check
 * turns @res into a failure, a check that cannot run here (no root) into a skip.
 */
void crash_check(const struct scenario *s, const char *run_dir, int64_t deadline_ms,
		 struct result *res);

/* ---- report.c ------------------------------------------------------------------- */

/**
 * report_write() - DIR/report.json and DIR/report.md: per scenario that ran (@ran),
 * result, time, crash_states, violations, faults, reason; and the totals.
 * Return: 0 or -errno.
 */
int report_write(const char *dir, const struct scenario *scenarios, const struct result *results,
		 const bool *ran, size_t count, const char *accel);

#endif
