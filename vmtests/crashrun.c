/* SPDX-License-Identifier: MIT */
/* crashrun.c: after a crash-* scenario passed in the guest, check its recorded crash
 * states on the host by running vmtests/crashcheck.sh on its run directory, and fold
 * its counts into the scenario's result.
 *
 * The check runs in its own process group under the scenario's deadline (the guest's
 * boots and the replay share one timeout): past it, the group gets SIGTERM (the
 * script's trap unmounts and detaches its loop device) and, 10 s later, SIGKILL.
 * Its output goes to RUN_DIR/crashcheck.log; its last line carries the counts.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TERM_GRACE_MS 10000

bool crash_scenario(const struct scenario *s)
{
	return !strncmp(s->name, "crash-", 6);
}

void crash_check(const struct scenario *s, const char *run_dir, int64_t deadline,
		 struct result *res)
{
	char *script = NULL, *log_path = NULL, *path_copy = strdup(s->path);
	char line[1024], last[1024] = "";
	int status = 0, shown = 0;
	bool timed_out = false;
	FILE *log = NULL;
	pid_t pid;

	/* The script sits next to the scenario directories, DIR/../crashcheck.sh, unless
	 * VMTEST_CRASHCHECK names it (btrfs-txn-crashtest's scenario lives elsewhere). */
	if (getenv("VMTEST_CRASHCHECK"))
		script = strdup(getenv("VMTEST_CRASHCHECK"));
	else if (path_copy && asprintf(&script, "%s/../crashcheck.sh", dirname(path_copy)) < 0)
		script = NULL;
	if (!path_copy || !script ||
	    asprintf(&log_path, "%s/crashcheck.log", run_dir) < 0) {
		res->outcome = OUTCOME_FAIL;
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		goto out;
	}
	printf("# %s: checking the recorded crash states on the host\n", s->name);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		res->outcome = OUTCOME_FAIL;
		snprintf(res->reason, sizeof(res->reason), "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		setpgid(0, 0);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execl("/bin/bash", "bash", script, run_dir, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	if (proc_wait_bounded(pid, deadline, TERM_GRACE_MS, true, &status, &timed_out) < 0) {
		res->outcome = OUTCOME_FAIL;
		snprintf(res->reason, sizeof(res->reason), "waiting for the crash check: %s", strerror(errno));
		goto out;
	}

	/* Violations go to the KTAP output as diagnostics; the last line has the counts. */
	log = fopen(log_path, "re");
	while (log && fgets(line, sizeof(line), log)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "violation", 9) && shown++ < 20)
			printf("# %s: %s\n", s->name, line);
		if (!strncmp(line, "crashcheck: ", 12))
			snprintf(last, sizeof(last), "%s", line);
	}
	if (log)
		fclose(log);
	{
		int states = 0, violations = 0, workloads = 0, seconds = 0, reordered = 0, reorder_violations = 0;
		char per_second[32] = "";

		int n = sscanf(last, "crashcheck: states %d violations %d workloads %d seconds %d "
			       "reordered %d reorder_violations %d per_second %31s", &states, &violations,
			       &workloads, &seconds, &reordered, &reorder_violations, per_second);
		if (n >= 2) {
			res->crash_states += states;
			res->violations += violations;
			res->reordered += reordered;
			res->reorder_violations += reorder_violations;
			printf("# %s: %d crash states checked (%d reordered), %d violations (%d in reordered "
			       "states), %s states/s (%s)\n", s->name, states, reordered, violations,
			       reorder_violations, per_second[0] ? per_second : "?", log_path);
		}
	}
	if (timed_out) {
		res->outcome = OUTCOME_FAIL;
		snprintf(res->reason, sizeof(res->reason), "timeout in the crash check after %d s; see %s",
			 s->timeout_sec, log_path);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		res->outcome = OUTCOME_SKIP;
		snprintf(res->reason, sizeof(res->reason), "crash states not checked: %.200s",
			 last[0] ? last + 12 : "see the log");
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		res->outcome = OUTCOME_FAIL;
		snprintf(res->reason, sizeof(res->reason), "the crash check failed (%.200s); see %s",
			 last[0] ? last + 12 : "no message", log_path);
	} else if (res->violations > 0) {
		res->outcome = OUTCOME_FAIL;
		snprintf(res->reason, sizeof(res->reason), "%d violations in %d crash states",
			 res->violations, res->crash_states);
	}
out:
	free(path_copy);
	free(script);
	free(log_path);
}
