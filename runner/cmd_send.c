/* SPDX-License-Identifier: MIT */
/*
 * cmd_send.c: `send TARGET [--generation N] [--parent N | --no-parent] [-f FILE]`,
 * a Btrfs send stream of a generation to FILE or standard output (never a terminal).
 * The engine (txn/send.c) keeps the sent snapshot and makes the stream.
 *
 * The stream holds every file of the tree, secrets included, and the UUIDs a
 * receiver checks: FILE must be readable by root alone and be a file nobody else
 * could have prepared. Writing into an existing FILE would trust whoever made it
 * (another user's file in a shared directory keeps its owner and mode, a descriptor
 * opened on it earlier stays open, a FIFO hands the stream to its reader). So the
 * stream goes to a new file in FILE's directory (O_EXCL, mode 0600), renamed onto
 * FILE once it is complete: an existing regular FILE is replaced, never written
 * into, and is left as it was when the send fails. FILE that is something else (a
 * FIFO, a device, a directory, a symbolic link) is refused: a rename would replace
 * it, and `-f /dev/null` replacing /dev/null is not what anyone means.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPT_GENERATION = OPT_COMMAND_BASE, OPT_PARENT, OPT_NO_PARENT, OPT_FILE, OPT_KEEP };

struct send_args {
	struct txn_send_options send;
	bool parent_given, no_parent;
	const char *file;
	unsigned keep;
};

static bool handle(int option, const char *arg, void *ctx, int *ret_exit)
{
	struct send_args *a = ctx;
	unsigned long long v;
	*ret_exit = -1;
	switch (option) {
	case OPT_GENERATION:
	case OPT_PARENT:
		if (!parse_unsigned(arg, UINT64_MAX - 2, &v)) {
			report_error("send: --%s: expected a generation number, got '%s'",
				     option == OPT_GENERATION ? "generation" : "parent", arg);
			*ret_exit = EXIT_USAGE;
		} else if (option == OPT_GENERATION) {
			a->send.generation = v;
		} else {
			a->send.parent = v;
			a->parent_given = true;
		}
		return true;
	case OPT_NO_PARENT:
		a->no_parent = true;
		a->send.parent = TXN_SEND_NO_PARENT;
		return true;
	case 'f':
	case OPT_FILE:
		a->file = arg;
		return true;
	case OPT_KEEP:
		if (!parse_unsigned(arg, TXN_KEEP_MAX, &v) || v == 0) {
			report_error("send: --keep: expected a number from 1 to %u, got '%s'", TXN_KEEP_MAX, arg);
			*ret_exit = EXIT_USAGE;
		} else {
			a->keep = (unsigned)v;
		}
		return true;
	}
	return false;
}

/* -f FILE: the new file the stream is written to, and the name it then takes. */
struct stream_file {
	int dir_fd;                 /* FILE's directory */
	char name[NAME_MAX + 1];    /* FILE's last component */
	char temp[NAME_MAX + 1];    /* the file written, in the same directory */
};

/* Makes the file for @path's stream (see the top of this file); false, reported,
 * when @path cannot be written that way. */
static bool stream_file_create(const char *path, struct stream_file *ret, int *ret_fd)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	/* the directory: up to the last slash ("/" for "/FILE"), "." for a bare name */
	size_t dir_len = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
	char dir[PATH_MAX];
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > NAME_MAX ||
	    dir_len >= sizeof(dir)) {
		report_error("send: cannot write '%s': not a file name", path);
		return false;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)dir_len, slash ? path : ".");
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		report_error("send: cannot write '%s': %s: %s", path, dir, strerror(errno));
		return false;
	}
	struct stat st;
	const char *refused = NULL;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		refused = S_ISREG(st.st_mode) ? NULL : "it exists and is not a regular file";
	else if (errno != ENOENT)
		refused = strerror(errno);
	if (refused) {
		report_error("send: cannot write '%s': %s", path, refused);
		close(dir_fd);
		return false;
	}
	int fd = -1;
	for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
		uint32_t random = 0;
		if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random))
			random = (uint32_t)getpid() ^ (uint32_t)attempt << 20;
		snprintf(ret->temp, sizeof(ret->temp), ".%.200s.%08x", name, random);
		fd = openat(dir_fd, ret->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		report_error("send: cannot create a file in '%s' for '%s': %s", dir, path, strerror(errno));
		close(dir_fd);
		return false;
	}
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	ret->dir_fd = dir_fd;
	*ret_fd = fd;
	return true;
}

/* The whole stream is in @fd: durable, then named FILE. 0 or -errno. */
static int stream_file_commit(struct stream_file *sf, int fd)
{
	if (fsync(fd) < 0 || renameat(sf->dir_fd, sf->temp, sf->dir_fd, sf->name) < 0)
		return -errno;
	sf->temp[0] = '\0';
	return fsync(sf->dir_fd) < 0 ? -errno : 0;
}

/* Removes the file written unless it became FILE. */
static void stream_file_close(struct stream_file *sf)
{
	if (sf->temp[0])
		unlinkat(sf->dir_fd, sf->temp, 0);
	close(sf->dir_fd);
}

int cmd_send(int argc, char **argv)
{
	static const struct option extra[] = {
		{ "generation", required_argument, NULL, OPT_GENERATION },
		{ "parent", required_argument, NULL, OPT_PARENT },
		{ "no-parent", no_argument, NULL, OPT_NO_PARENT },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ 0 }
	};
	const struct command *self = command_find("send");
	struct txn_options options = { .command = "btrfs-txn send" };
	struct send_args a = { .send = { .generation = TXN_GENERATION_LIVE,
					 .parent = TXN_SEND_PARENT_AUTO } };
	/* -f FILE as well as --file FILE: rewrite the short form for parse_one_arg. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-f"))
			argv[i] = (char *)"--file";
	}
	const char *target;
	int code = parse_one_arg(argc, argv, self, extra, handle, &a, &options, &target);
	if (code >= 0)
		return code;
	if (a.parent_given && a.no_parent) {
		report_error("send: --parent and --no-parent exclude each other");
		return EXIT_USAGE;
	}
	options.keep = a.keep;
	int out_fd = STDOUT_FILENO;
	struct stream_file stream_file;
	if (a.file) {
		if (!stream_file_create(a.file, &stream_file, &out_fd))
			return EXIT_USAGE;
	} else if (isatty(STDOUT_FILENO)) {
		report_error("send: refusing to write a binary stream to a terminal: redirect standard "
			     "output, or give -f FILE");
		return EXIT_USAGE;
	} else if (cli.json) {
		report_error("send: --json needs -f FILE (standard output carries the stream)");
		return EXIT_USAGE;
	}
	/* A reader that went away (a broken pipe) is an error of the send, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	install_interrupt_handlers();
	struct txn_send_result result;
	struct txn_error error = { 0 };
	json_t *doc = cli.json ? json_pack("{s:s, s:s}", "command", "send", "target", target) : NULL;
	int r = txn_send(target, &a.send, out_fd, &options, &result, &error);
	if (a.file && r == 0 && (r = stream_file_commit(&stream_file, out_fd)) < 0) {
		error = (struct txn_error){ .status = TXN_ABORTED, .errnum = -r };
		snprintf(error.message, sizeof(error.message), "cannot write '%s'", a.file);
	}
	if (a.file) {
		close(out_fd);
		stream_file_close(&stream_file);
	}
	if (r < 0)
		return report_txn_error("send", &error, doc);
	if (doc) {
		json_object_set_new(doc, "generation", json_integer((json_int_t)result.generation));
		json_object_set_new(doc, "incremental", json_boolean(result.incremental));
		json_object_set_new(doc, "parent", result.incremental
							   ? json_integer((json_int_t)result.parent)
							   : json_null());
		json_object_set_new(doc, "snapshot", json_string(result.snapshot));
		json_object_set_new(doc, "uuid", json_string(result.uuid));
		json_object_set_new(doc, "lineage", json_string(result.lineage));
		json_object_set_new(doc, "file", json_string(a.file));
		json_print(doc);
		return EXIT_DONE;
	}
	/* Standard output may be the stream: notes go to standard error. */
	if (!cli.quiet) {
		if (result.incremental)
			fprintf(stderr, "btrfs-txn: send: %s: generation %llu, incremental against "
					"generation %llu\n", target, (unsigned long long)result.generation,
				(unsigned long long)result.parent);
		else
			fprintf(stderr, "btrfs-txn: send: %s: generation %llu, full stream\n", target,
				(unsigned long long)result.generation);
	}
	return EXIT_DONE;
}
