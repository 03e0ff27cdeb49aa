/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c: `run [OPTIONS] TARGET -- COMMAND [ARGS...]`, the general form of apply:
 * COMMAND changes a writable snapshot of TARGET and its exit status decides whether
 * the snapshot is swapped in (txn_run() does the protocol; this file runs COMMAND).
 *
 * How COMMAND runs, and why:
 * - "{staging}" in its arguments and BTRFS_TXN_STAGING in its environment name the
 *   staging tree, as for the verify hook. Its working directory is ours: a package
 *   tool given `--root {staging}` expects to be run from where the user stands.
 * - Standard input is inherited, so an interactive package tool can ask questions.
 *   Standard output is inherited too, except with --json, where it goes to our
 *   standard error so that stdout stays one JSON document.
 * - It runs in its own process group, so an interrupt can stop it and everything it
 *   started. When our standard input is the controlling terminal and we are in its
 *   foreground, that group is made the terminal's foreground group while it runs:
 *   otherwise reading the terminal would stop it with SIGTTIN, and Ctrl-C at the
 *   terminal now reaches COMMAND, whose death by SIGINT then aborts the transaction.
 *   Ctrl-Z stops COMMAND's group, which the shell cannot see: we then take the
 *   terminal back and stop ourselves, and hand it over again on `fg`. A btrfs-txn
 *   started in the background keeps COMMAND in its own group instead, where the
 *   shell's job control reaches it.
 * - SIGINT, SIGTERM or SIGHUP sent to btrfs-txn itself are passed on to the group as
 *   SIGTERM; if it has not exited 10 s later it is killed. Either way: abort.
 * - If btrfs-txn dies anyway (SIGKILL), COMMAND dies with it (PR_SET_PDEATHSIG) and a
 *   guard process kills COMMAND's group: nothing goes on writing into a staging tree
 *   that recovery is about to delete.
 */
#include "engine.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { OPT_DESCRIPTION = OPT_COMMAND_BASE, OPT_KEEP };

#define RUN_GRACE_SECONDS 10

struct run_command {
	char **argv;  /* as given, "{staging}" not yet replaced */
	int exit_status; /* -1 until it exited; the signal number + 128 when killed */
};

/* Replaces every "{staging}" in @arg with @staging; NULL when out of memory. */
static char *substitute(const char *arg, const char *staging)
{
	static const char key[] = "{staging}";
	size_t count = 0;
	for (const char *p = arg; (p = strstr(p, key)); p += sizeof(key) - 1)
		count++;
	char *out = malloc(strlen(arg) + count * strlen(staging) + 1), *w = out;
	if (!out)
		return NULL;
	for (const char *p = arg;;) {
		const char *hit = strstr(p, key);
		if (!hit) {
			strcpy(w, p);
			return out;
		}
		memcpy(w, p, (size_t)(hit - p));
		w += hit - p;
		w = stpcpy(w, staging);
		p = hit + sizeof(key) - 1;
	}
}

/* Fills @error the way the engine does (the runner has no txn_fail). */
static void __attribute__((format(printf, 4, 5)))
stage_fail(struct txn_error *error, enum txn_status status, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
	error->status = status;
	error->errnum = errnum;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether we may hand the terminal on stdin to the child: it is our controlling
 * terminal and our process group is its foreground one. */
static bool own_terminal(void)
{
	if (!isatty(STDIN_FILENO))
		return false;
	pid_t fg = tcgetpgrp(STDIN_FILENO);
	return fg > 0 && fg == getpgrp();
}

static void give_terminal(pid_t pgid)
{
	/* tcsetpgrp from a group that is (about to be) in the background raises SIGTTOU. */
	struct sigaction ignore = { .sa_handler = SIG_IGN }, saved;
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGTTOU, &ignore, &saved);
	tcsetpgrp(STDIN_FILENO, pgid);
	sigaction(SIGTTOU, &saved, NULL);
}

/* Frees a NULL-terminated array of strings and the array. */
static void strv_freep(char ***strv)
{
	for (char **p = *strv; p && *p; p++)
		free(*p);
	free(*strv);
}

static int stage_command(const char *staging_path, void *ctx, struct txn_error *error)
{
	struct run_command *rc = ctx;
	size_t argc = 0;
	while (rc->argv[argc])
		argc++;
	_cleanup_(strv_freep) char **argv = calloc(argc + 1, sizeof(char *));
	for (size_t i = 0; argv && i < argc; i++)
		if (!(argv[i] = substitute(rc->argv[i], staging_path))) {
			stage_fail(error, TXN_ABORTED, ENOMEM, "run: cannot prepare the command");
			return -ENOMEM;
		}
	if (!argv) {
		stage_fail(error, TXN_ABORTED, ENOMEM, "cannot prepare the command");
		return -ENOMEM;
	}

	int r = 0;
	/* COMMAND runs as us (root): the file run and the way to it are judged by
	 * StrictModes (txn/trust.c), and the child runs the file judged, by its
	 * canonical path, which nobody but root (or the caller) can repoint. */
	char executable[PATH_MAX], refusal[PATH_MAX + 256] = "";
	r = txn_trust_find_executable(argv[0], executable, refusal, sizeof(refusal));
	if (r == -EPERM || (r == -ELOOP && refusal[0])) {
		stage_fail(error, TXN_ABORTED, 0, "refusing to run '%s': %s", argv[0], refusal);
		goto out;
	}
	if (r < 0) {
		stage_fail(error, TXN_ABORTED, -r, "cannot run '%s'", argv[0]);
		goto out;
	}
	int exec_pipe[2];
	bool terminal = own_terminal();
	/* A btrfs-txn started in the background of a shell keeps COMMAND in its own
	 * group: a group of its own could never be brought to the foreground by the
	 * shell, and would stop for good at its first read of the terminal. */
	bool own_group = terminal || !isatty(STDIN_FILENO);
	pid_t group;
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		if (own_group)
			setpgid(0, 0);
		txn_child_die_with_parent(parent);
		if (terminal)
			give_terminal(getpid());
		/* Undo our handlers: the command reacts to signals as it normally would. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (cli.json)
			dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("BTRFS_TXN_STAGING", staging_path, 1);
		txn_child_exec(executable, argv);
		int e = errno;
		(void)!write(exec_pipe[1], &e, sizeof(e));
		_exit(127);
	}
	int fork_errno = errno;
	close(exec_pipe[1]);
	if (pid < 0) {
		close(exec_pipe[0]);
		r = -fork_errno;
		goto out;
	}
	if (own_group)
		setpgid(pid, pid); /* here too, so kill(-pid) works whoever runs first */
	group = own_group ? -pid : pid;
	/* What COMMAND starts in its group dies with us even if we are SIGKILLed. In our
	 * own group (started in a shell's background) only COMMAND itself does. */
	int guard_fd = -EBADF;
	pid_t guard = own_group ? txn_child_guard_start(pid, &guard_fd) : -1;
	if (terminal)
		give_terminal(pid);
	int exec_errno = 0;
	while (read(exec_pipe[0], &exec_errno, sizeof(exec_errno)) < 0 && errno == EINTR)
		;
	close(exec_pipe[0]);

	int status = 0;
	double kill_at = 0;
	bool interrupted = false;
	for (;;) {
		pid_t w = waitpid(pid, &status, WUNTRACED);
		if (w == pid && WIFSTOPPED(status)) {
			/* Ctrl-Z stopped COMMAND's group, which the shell does not know: take
			 * the terminal back and stop ourselves so the shell sees the job
			 * stopped; on fg, hand the terminal over again and continue it. */
			if (terminal) {
				give_terminal(getpgrp());
				raise(SIGTSTP);
				give_terminal(pid);
				kill(group, SIGCONT);
			}
			continue;
		}
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		/* Our handlers do not restart waitpid: we get here on every signal. */
		if (txn_interrupted && !interrupted) {
			interrupted = true;
			kill(group, SIGTERM);
			kill(group, SIGCONT);
			kill_at = now_seconds() + RUN_GRACE_SECONDS;
			alarm(RUN_GRACE_SECONDS + 1);
		} else if (interrupted && now_seconds() >= kill_at) {
			kill(group, SIGKILL);
		}
	}
	alarm(0);
	if (terminal)
		give_terminal(getpgrp());
	/* Whatever it left running in its group would go on changing the staging tree. */
	if (own_group)
		kill(-pid, SIGKILL);
	txn_child_guard_end(guard, guard_fd);

	if (r < 0) {
		stage_fail(error, TXN_ABORTED, -r, "waiting for '%s'", argv[0]);
	} else if (exec_errno) {
		r = -exec_errno;
		stage_fail(error, TXN_ABORTED, exec_errno, "cannot run '%s'", argv[0]);
	} else if (interrupted) {
		r = -EINTR;
		stage_fail(error, TXN_ABORTED, EINTR,
			       "'%s' stopped because btrfs-txn got signal %d", argv[0],
			       (int)txn_interrupted);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		r = -ECANCELED;
		rc->exit_status = WEXITSTATUS(status);
		stage_fail(error, TXN_ABORTED, 0, "command '%s' failed with exit status %d",
			       argv[0], WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		r = -ECANCELED;
		rc->exit_status = 128 + WTERMSIG(status);
		stage_fail(error, TXN_ABORTED, 0, "command '%s' was killed by signal %d (%s)",
			       argv[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else {
		rc->exit_status = 0;
	}
out:
	if (r < 0 && !error->message[0])
		stage_fail(error, TXN_ABORTED, -r, "cannot start '%s'", argv[0]);
	return r;
}

static void on_alarm(int signo)
{
	(void)signo; /* only to interrupt waitpid after the grace period */
}

int cmd_run(int argc, char **argv)
{
	const struct command *self = command_find("run");
	static const struct option longopts[] = {
		{ "description", required_argument, NULL, OPT_DESCRIPTION },
		{ "keep", required_argument, NULL, OPT_KEEP },
		ENGINE_LONG_OPTIONS,
		CLI_COMMON_LONG,
		{ 0 },
	};
	struct txn_options options = { .lock_timeout = -1 };
	const char *description = NULL;
	int c, code;
	/* '+': stop at the first non-option, so COMMAND's own options are left alone. */
	while ((c = getopt_long(argc, argv, "+" CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		if (cli_common_option(self, c, &code) ||
		    engine_option(c, optarg, self->name, &options, &code)) {
			if (code >= 0)
				return code;
			continue;
		}
		unsigned long long v;
		if (c == OPT_DESCRIPTION) {
			description = optarg;
		} else if (c == OPT_KEEP) {
			if (!parse_unsigned(optarg, TXN_KEEP_MAX, &v) || v == 0) {
				report_error("run: --keep: expected a number from 1 to %u, got '%s'",
					     TXN_KEEP_MAX, optarg);
				return EXIT_USAGE;
			}
			options.keep = (unsigned)v;
		}
	}
	/* TARGET, then "--" (getopt may have eaten it when it came first), then COMMAND. */
	if (optind >= argc) {
		report_error("run: expected TARGET -- COMMAND [ARGS...]; see 'btrfs-txn help run'");
		return EXIT_USAGE;
	}
	const char *target = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc) {
		report_error("run: no COMMAND after '%s --'; see 'btrfs-txn help run'", target);
		return EXIT_USAGE;
	}
	struct run_command rc = { .argv = argv + optind, .exit_status = -1 };
	if ((code = config_keep_default("run", target, &options.keep)) >= 0)
		return code;

	char default_description[512];
	if (!description) {
		size_t len = (size_t)snprintf(default_description, sizeof(default_description), "run:");
		for (char **a = rc.argv; *a && len < sizeof(default_description); a++)
			len += (size_t)snprintf(default_description + len,
						sizeof(default_description) - len, " %s", *a);
		description = default_description;
	}
	char command_line[512];
	snprintf(command_line, sizeof(command_line), "btrfs-txn run %s -- %s", target, rc.argv[0]);
	options.command = command_line;
	options.description = description;
	install_interrupt_handlers();
	struct sigaction sa = { .sa_handler = on_alarm };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	progress_attach(&options);

	json_t *doc = NULL;
	if (cli.json) {
		json_t *command = json_array();
		for (char **a = rc.argv; *a; a++)
			json_array_append_new(command, json_string(*a));
		doc = json_pack("{s:s, s:s, s:o, s:s}", "command", "run", "target", target, "argv",
				command, "description", description);
	}
	_cleanup_result_ struct txn_result result = { 0 };
	struct txn_error error = { 0 };
	outcome_begin("run", target);
	if (txn_run(target, stage_command, &rc, &options, &result, &error) < 0) {
		if (doc)
			json_object_set_new(doc, "command_status",
					    rc.exit_status >= 0 ? json_integer(rc.exit_status) : json_null());
		return report_txn_error("run", &error, doc);
	}
	if (doc) {
		json_object_set_new(doc, "command_status", json_integer(0));
		json_object_set_new(doc, "result", json_string("committed"));
		json_object_set_new(doc, "txid", json_string(result.txid));
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "previous", json_integer((json_int_t)result.previous));
		json_object_set_new(doc, "recovered_first", json_boolean(result.recovered_first));
		json_object_set_new(doc, "dropped_generations", json_integer(result.dropped));
		json_object_set_new(doc, "timing", timing_json(&result.timing));
		report_concurrent("run", target, &result, doc);
		json_print(doc);
	}
	if (!doc)
		report_concurrent("run", target, &result, NULL);
	outcome_committed("committed", result.txid, result.generation, result.previous,
			  &result.timing);
	if (result.recovered_first)
		report_info("recovered an interrupted transaction first");
	report_info("'%s' succeeded; %s is now generation %llu (generation %llu kept as gen-%llu), %.3f s",
		    rc.argv[0], target, (unsigned long long)result.generation,
		    (unsigned long long)result.previous, (unsigned long long)result.previous,
		    result.timing.total);
	return EXIT_DONE;
}
