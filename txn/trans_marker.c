/* SPDX-License-Identifier: MIT */
/*
 * trans_marker.c: the trans method's in-flight marker, written and removed by
 * trans.c, read by status and checked first by recovery (recover.c).
 */
#include "internal.h"
#include "state.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The in-flight marker, STATE/trans-inflight. This method keeps no journal, so a crash
 * inside the window would otherwise leave no trace. The marker is written and made
 * durable before TRANS_START and removed once this process has synced and reported
 * the outcome itself (a history line, and exit 5 when part of the change took
 * effect). Found by anyone else, it means the window was cut short and the listed
 * paths may hold part of the change. Nothing can undo in-place ops, so recovery only
 * says so (TXN_NEEDS_PERSON) until a person has checked them and deleted the file.
 */
#define TRANS_MARKER_TEMP TRANS_MARKER_NAME ".tmp"

/* A path for a one-line text: control characters (a newline) become '?'. */
static void put_path(FILE *f, const char *path)
{
	for (const unsigned char *c = (const unsigned char *)path; *c; c++)
		fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, f);
}

int trans_marker_write(const struct target *t, const struct txn_batch *batch, const char *txid,
			const char *started)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -errno;
	fprintf(f, "# btrfs-txn: a trans window on %s was opened here and not closed.\n"
		   "# The ops below may be partially applied: check their paths, then delete this file.\n"
		   "txid %s\nstarted %s\npid %d\nops %zu\n",
		t->path, txid, started, (int)getpid(), batch->n_ops);
	for (size_t i = 0; i < batch->n_ops; i++) {
		const struct txn_op *op = &batch->ops[i];
		fprintf(f, "op %zu %s ", i, txn_op_kind_name(op->kind));
		put_path(f, op->path);
		if (op->kind == TXN_OP_RENAME) {
			fputs(" -> ", f);
			put_path(f, op->to);
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	unlinkat(t->state_fd, TRANS_MARKER_TEMP, 0); /* a crash in here left one */
	_cleanup_close_ int fd = openat(t->state_fd, TRANS_MARKER_TEMP,
					O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	int r = fd < 0 ? -errno : write_all(fd, text, len);
	free(text);
	if (r == 0)
		r = fsync_fd(fd);
	if (r == 0 && renameat(t->state_fd, TRANS_MARKER_TEMP, t->state_fd, TRANS_MARKER_NAME) < 0)
		r = -errno;
	/* The name must be on disk before the window, where no fsync is allowed. */
	if (r == 0)
		r = fsync_fd(t->state_fd);
	if (r < 0)
		unlinkat(t->state_fd, TRANS_MARKER_TEMP, 0);
	return r;
}

/* After the final sync (allowed again): gone, and durably so, or the next status
 * would report a window that was in fact closed. */
int trans_marker_remove(const struct target *t)
{
	if (unlinkat(t->state_fd, TRANS_MARKER_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	return fsync_fd(t->state_fd);
}

int trans_marker_read(int state_fd, char *ret_summary, size_t size)
{
	if (state_fd < 0)
		return 0;
	_cleanup_close_ int fd = openat(state_fd, TRANS_MARKER_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	FILE *f = fdopen(fd, "r");
	if (!f)
		return -errno;
	fd = -EBADF; /* the stream owns it now */
	char txid[64] = "?", started[64] = "?", ops[8192] = "";
	long pid = 0;
	size_t n_ops = 0, used = 0;
	char line[PATH_MAX * 2 + 64];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		size_t index;
		int at = 0;
		if (sscanf(line, "txid %63s", txid) == 1 || sscanf(line, "started %63s", started) == 1 ||
		    sscanf(line, "pid %ld", &pid) == 1 || sscanf(line, "ops %zu", &n_ops) == 1)
			continue;
		if (sscanf(line, "op %zu %n", &index, &at) == 1 && at > 0 && used < sizeof(ops)) {
			int w = snprintf(ops + used, sizeof(ops) - used, "%s%s", used ? ", " : "", line + at);
			used = w < 0 ? sizeof(ops) : used + (size_t)w;
		}
	}
	fclose(f);
	if (ret_summary && size) {
		int w = snprintf(ret_summary, size, "transaction %s started %s by pid %ld, %zu ops: %s",
				 txid, started, pid, n_ops, ops[0] ? ops : "none listed");
		if (w >= 0 && (size_t)w >= size && size > 4)
			memcpy(ret_summary + size - 4, "...", 4);
	}
	return 1;
}

int trans_marker_check(const struct target *t, struct txn_error *error)
{
	char summary[640];
	int r = trans_marker_read(t->state_fd, summary, sizeof(summary));
	if (r < 0)
		return txn_fail(error, TXN_NEEDS_PERSON, r, "cannot read the trans marker '%s/%s'",
				t->state_path, TRANS_MARKER_NAME);
	if (r == 0)
		return 0;
	txn_fail(error, TXN_NEEDS_PERSON, 0,
		 "a trans window on '%s' was cut short (%s); these ops may be partially applied and "
		 "cannot be undone: check those paths, then delete '%s/%s'",
		 t->path, summary, t->state_path, TRANS_MARKER_NAME);
	return -EUCLEAN;
}

