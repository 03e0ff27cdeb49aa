/* SPDX-License-Identifier: MIT */
/*
 * bench-util.c: the small, fast pieces of the benchmark that a shell would do with
 * one process per file: build a tree, change a batch of its files in place or by
 * per-file atomic replace, swap two directories with RENAME_EXCHANGE, syncfs, and
 * print btrfs-txn specs. bench/run.sh times each step from the outside, so this
 * helper never measures anything itself.
 *
 * Tree layout: N files of SIZE bytes named dNNNN/fNNNNNNN, 1000 per directory. A
 * batch of B changes touches every (N/B)-th file, so it spreads over the whole tree
 * the way a real deployment touches many directories.
 *
 * Usage:
 *   bench-util mktree DIR N SIZE             create the tree (no sync)
 *   bench-util inplace DIR N B TAG [nosync]  overwrite B files, then one syncfs
 *   bench-util replace DIR N B TAG           per file: temp, fsync, rename; then syncfs
 *   bench-util exchange A B                  renameat2(A, B, RENAME_EXCHANGE)
 *   bench-util syncfs PATH                   syncfs on PATH's filesystem
 *   bench-util settle MOUNT SECONDS          BTRFS_IOC_SYNC (which wakes the cleaner),
 *                                            wait until no deleted subvolume is left
 *                                            to clean (bounded), then syncfs
 *   bench-util spec TARGET N B TAG [SRCDIR]  spec of B writes (or copies from SRCDIR,
 *                                            files sNNNNN made by 'sources')
 *   bench-util sources DIR B SIZE TAG        B source files for a copy spec
 */
#include <btrfsutil.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES_PER_DIR 1000

static const char *prog = "bench-util";

static void die(const char *what, const char *path)
{
	fprintf(stderr, "%s: %s '%s': %s\n", prog, what, path, strerror(errno));
	exit(1);
}

static unsigned long number(const char *text, const char *what)
{
	char *end;
	errno = 0;
	unsigned long value = strtoul(text, &end, 10);
	if (errno || *text == '\0' || *end != '\0') {
		fprintf(stderr, "%s: %s: not a number: '%s'\n", prog, what, text);
		exit(2);
	}
	return value;
}

/* SIZE bytes of printable, JSON-safe content that differs with TAG. */
static char *content(size_t size, const char *tag, unsigned long index)
{
	char *buf = malloc(size + 1);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	int head = snprintf(buf, size + 1, "# %s %lu\n", tag, index);
	for (size_t i = head > 0 ? (size_t)head : 0; i < size; i++)
		buf[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i + index) % 26);
	buf[size] = '\0';
	return buf;
}

static void file_path(char *buf, size_t size, const char *dir, unsigned long index)
{
	if (dir)
		snprintf(buf, size, "%s/d%04lu/f%07lu", dir, index / FILES_PER_DIR, index);
	else
		snprintf(buf, size, "d%04lu/f%07lu", index / FILES_PER_DIR, index);
}

static void write_all(int fd, const char *data, size_t len, const char *path)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("cannot write", path);
		}
		data += n;
		len -= (size_t)n;
	}
}

static void write_file(const char *path, const char *data, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
	if (fd < 0)
		die("cannot open", path);
	write_all(fd, data, len, path);
	if (close(fd) < 0)
		die("cannot close", path);
}

static void do_syncfs(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open", path);
	if (syncfs(fd) < 0)
		die("syncfs failed on", path);
	close(fd);
}

/* `btrfs subvolume sync` polls once a second; this polls every 5 ms, so waiting for
 * the cleaner costs what the cleaner costs. */
static int cmd_settle(const char *mount, unsigned long seconds)
{
	struct timespec start, now, pause = { 0, 5 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (btrfs_util_sync(mount) != BTRFS_UTIL_OK)
		die("BTRFS_IOC_SYNC failed on", mount);
	for (;;) {
		uint64_t *ids = NULL;
		size_t n = 0;
		if (btrfs_util_deleted_subvolumes(mount, &ids, &n) != BTRFS_UTIL_OK)
			die("cannot list deleted subvolumes of", mount);
		free(ids);
		if (n == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long)(now.tv_sec - start.tv_sec) >= seconds) {
			fprintf(stderr, "%s: %zu deleted subvolume(s) still not cleaned after %lu s\n",
				prog, n, seconds);
			exit(1);
		}
		nanosleep(&pause, NULL);
	}
	do_syncfs(mount);
	return 0;
}

static int cmd_mktree(const char *dir, unsigned long n, size_t size)
{
	char path[4096];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("cannot create", dir);
	for (unsigned long i = 0; i < n; i++) {
		if (i % FILES_PER_DIR == 0) {
			snprintf(path, sizeof(path), "%s/d%04lu", dir, i / FILES_PER_DIR);
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				die("cannot create", path);
		}
		char *data = content(size, "base", i);
		file_path(path, sizeof(path), dir, i);
		write_file(path, data, size, O_TRUNC);
		free(data);
	}
	return 0;
}

/* The changed files: every stride-th one, B of them. */
static unsigned long stride_of(unsigned long n, unsigned long b)
{
	if (b == 0 || b > n) {
		fprintf(stderr, "%s: a batch of %lu does not fit a tree of %lu\n", prog, b, n);
		exit(2);
	}
	return n / b;
}

static size_t file_size(const char *dir)
{
	char path[4096];
	struct stat st;
	file_path(path, sizeof(path), dir, 0);
	if (stat(path, &st) < 0)
		die("cannot stat", path);
	return (size_t)st.st_size;
}

static int cmd_inplace(const char *dir, unsigned long n, unsigned long b, const char *tag,
		       int sync)
{
	unsigned long stride = stride_of(n, b);
	size_t size = file_size(dir);
	char path[4096];
	for (unsigned long k = 0; k < b; k++) {
		unsigned long i = k * stride;
		char *data = content(size, tag, i);
		file_path(path, sizeof(path), dir, i);
		write_file(path, data, size, O_TRUNC);
		free(data);
	}
	if (sync)
		do_syncfs(dir);
	return 0;
}

static int cmd_replace(const char *dir, unsigned long n, unsigned long b, const char *tag)
{
	unsigned long stride = stride_of(n, b);
	size_t size = file_size(dir);
	char path[4096], tmp[4200];
	for (unsigned long k = 0; k < b; k++) {
		unsigned long i = k * stride;
		char *data = content(size, tag, i);
		file_path(path, sizeof(path), dir, i);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("cannot open", tmp);
		write_all(fd, data, size, tmp);
		if (fsync(fd) < 0)
			die("cannot fsync", tmp);
		close(fd);
		if (rename(tmp, path) < 0)
			die("cannot rename", tmp);
		free(data);
	}
	do_syncfs(dir);
	return 0;
}

static int cmd_exchange(const char *a, const char *b)
{
	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0)
		die("cannot exchange", a);
	return 0;
}

/* The floor of `snapshot --tag`: one snapshot of SRC at DEST (read-only with "ro"),
 * which Btrfs commits by itself; nothing else. */
static int cmd_snapshot(const char *src, const char *dest, bool read_only)
{
	if (btrfs_util_create_snapshot(src, dest, read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0,
				       NULL, NULL) != BTRFS_UTIL_OK)
		die("cannot snapshot", src);
	return 0;
}

/* The floor of a rollback: a writable snapshot of SRC at STAGING, exchanged with
 * TARGET, then syncfs: the swap alone, without journal, checks or keeping the old
 * tree read-only. */
static int cmd_swapin(const char *src, const char *target, const char *staging)
{
	cmd_snapshot(src, staging, false);
	cmd_exchange(target, staging);
	do_syncfs(target);
	return 0;
}

static int cmd_sources(const char *dir, unsigned long b, size_t size, const char *tag)
{
	char path[4096];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("cannot create", dir);
	for (unsigned long k = 0; k < b; k++) {
		char *data = content(size, tag, k);
		snprintf(path, sizeof(path), "%s/s%05lu", dir, k);
		write_file(path, data, size, O_TRUNC);
		free(data);
	}
	return 0;
}

static int cmd_spec(const char *target, unsigned long n, unsigned long b, const char *tag,
		    const char *srcdir)
{
	unsigned long stride = stride_of(n, b);
	char path[4096];
	size_t size = 0;
	if (!srcdir)
		size = file_size(target);
	printf("{\"version\": 1, \"target\": \"%s\", \"description\": \"bench %s\", "
	       "\"keep\": 5, \"ops\": [\n", target, tag);
	for (unsigned long k = 0; k < b; k++) {
		unsigned long i = k * stride;
		file_path(path, sizeof(path), NULL, i);
		if (srcdir) {
			printf("{\"op\": \"copy\", \"path\": \"%s\", \"source\": \"%s/s%05lu\"}%s\n",
			       path, srcdir, k, k + 1 < b ? "," : "");
		} else {
			char *data = content(size, tag, i);
			fputs("{\"op\": \"write\", \"path\": \"", stdout);
			fputs(path, stdout);
			fputs("\", \"content\": \"", stdout);
			for (char *c = data; *c; c++) {
				if (*c == '\n')
					fputs("\\n", stdout);
				else
					putchar(*c);
			}
			printf("\"}%s\n", k + 1 < b ? "," : "");
			free(data);
		}
	}
	puts("]}");
	if (fflush(stdout) != 0 || ferror(stdout))
		die("cannot write", "stdout");
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: %s mktree DIR N SIZE | inplace DIR N B TAG [nosync] |\n"
			"       replace DIR N B TAG | exchange A B | syncfs PATH | settle MOUNT SECONDS |\n"
			"       spec TARGET N B TAG [SRCDIR] | sources DIR B SIZE TAG |\n"
			"       snapshot SRC DEST ro|rw | swapin SRC TARGET STAGING\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "mktree") == 0 && argc == 5)
		return cmd_mktree(argv[2], number(argv[3], "N"), number(argv[4], "SIZE"));
	if (strcmp(cmd, "inplace") == 0 && (argc == 6 || argc == 7))
		return cmd_inplace(argv[2], number(argv[3], "N"), number(argv[4], "B"), argv[5],
				   !(argc == 7 && strcmp(argv[6], "nosync") == 0));
	if (strcmp(cmd, "replace") == 0 && argc == 6)
		return cmd_replace(argv[2], number(argv[3], "N"), number(argv[4], "B"), argv[5]);
	if (strcmp(cmd, "exchange") == 0 && argc == 4)
		return cmd_exchange(argv[2], argv[3]);
	if (strcmp(cmd, "syncfs") == 0 && argc == 3) {
		do_syncfs(argv[2]);
		return 0;
	}
	if (strcmp(cmd, "settle") == 0 && argc == 4)
		return cmd_settle(argv[2], number(argv[3], "SECONDS"));
	if (strcmp(cmd, "spec") == 0 && (argc == 6 || argc == 7))
		return cmd_spec(argv[2], number(argv[3], "N"), number(argv[4], "B"), argv[5],
				argc == 7 ? argv[6] : NULL);
	if (strcmp(cmd, "snapshot") == 0 && argc == 5)
		return cmd_snapshot(argv[2], argv[3], strcmp(argv[4], "ro") == 0);
	if (strcmp(cmd, "swapin") == 0 && argc == 5)
		return cmd_swapin(argv[2], argv[3], argv[4]);
	if (strcmp(cmd, "sources") == 0 && argc == 6)
		return cmd_sources(argv[2], number(argv[3], "B"), number(argv[4], "SIZE"), argv[5]);
	usage();
	return 2;
}
