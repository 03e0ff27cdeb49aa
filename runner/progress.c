/* SPDX-License-Identifier: MIT */
/*
 * progress.c: progress of long work on a terminal, fed by the engine's optional
 * progress callback (struct txn_options, the engine itself never prints).
 *
 * Only when standard error is a terminal and -q was not given: a log or a pipe gets
 * nothing, so scripts and --json consumers see the same output as before. Ops are
 * shown in place on one line ("\r" and erase-to-end), at most ten times a second so
 * that a batch of a million tiny ops is not slowed down by the terminal. With
 * TERM=dumb (Emacs shell buffers, some CI consoles) nothing is redrawn: no "\r", no
 * escape sequence, just a line when the ops start and one when they are done.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL 0.1 /* seconds between two updates of the line */
/* Batches smaller than this finish before a person could read a count. */
#define PROGRESS_MIN_OPS 100

struct progress_state {
	double last;
	bool line_open; /* a "\r" line is on the terminal and needs its newline */
	bool dumb;      /* TERM=dumb: whole lines only */
	bool started;   /* dumb: the start line is out */
};

static struct progress_state state;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(const char *what, uint64_t done, uint64_t total, void *ctx)
{
	(void)ctx;
	if (strcmp(what, "copy") == 0) {
		/* cp gives no count as it goes: say what is starting and when it is done. */
		if (done == 0)
			fprintf(stderr, "copying %llu files and directories into a new subvolume...\n",
				(unsigned long long)total);
		else
			fprintf(stderr, "copied %llu files and directories\n", (unsigned long long)done);
		return;
	}
	if (total < PROGRESS_MIN_OPS)
		return;
	if (state.dumb) {
		if (!state.started)
			fprintf(stderr, "applying %llu ops...\n", (unsigned long long)total);
		state.started = true;
		if (done == total)
			fprintf(stderr, "applying ops: %llu/%llu (100%%)\n", (unsigned long long)done,
				(unsigned long long)total);
		return;
	}
	double t = now_seconds();
	bool last = done == total;
	if (!last && state.line_open && t - state.last < PROGRESS_INTERVAL)
		return;
	state.last = t;
	state.line_open = !last;
	fprintf(stderr, "\rapplying ops: %llu/%llu (%llu%%)\033[K%s", (unsigned long long)done,
		(unsigned long long)total, (unsigned long long)(done * 100 / total), last ? "\n" : "");
	fflush(stderr);
}

void progress_attach(struct txn_options *options)
{
	if (cli.quiet || !isatty(STDERR_FILENO))
		return;
	const char *term = getenv("TERM");
	state.dumb = term && strcmp(term, "dumb") == 0;
	options->progress = on_progress;
	options->progress_ctx = &state;
}

void progress_end(void)
{
	/* An abort in the middle leaves the line open: end it before the error line. */
	if (state.line_open)
		fputc('\n', stderr);
	state.line_open = false;
}
