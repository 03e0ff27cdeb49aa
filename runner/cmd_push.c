/* SPDX-License-Identifier: MIT */
/*
 * cmd_push.c: `push TARGET DEST... [--parent auto|none] [--parallel N]
 * [--verify -- ARGV...]`, send TARGET to each DEST and land it there with receive.
 *
 * A DEST is a local path (on another Btrfs filesystem, or this one) or
 * ssh://[user@]host[:port]/path. For each, push asks what it holds (`btrfs-txn
 * status --json` there), picks the newest generation sent from here that it
 * received (its received UUID is the UUID of our sent snapshot), and pipes
 * `btrfs-txn send --parent N` (or --no-parent) into `btrfs-txn receive` there. Both
 * ends are processes: this binary itself (/proc/self/exe) locally, OpenSSH's ssh
 * (BatchMode, so it never asks for a password) with the remote btrfs-txn for ssh.
 * A destination already holds the tree only when its live tree is the one it
 * received last and that one is our live tree as sent (unchanged since); else it
 * gets a stream, and its receive decides (it refuses a tree changed there).
 * Exit 0 only when every destination committed (or already held the tree).
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SSH_PROGRAM "/usr/bin/ssh"
#define PUSH_MAX_DESTINATIONS 256
#define PUSH_OUTPUT_MAX 65536

enum { OPT_PARENT = OPT_COMMAND_BASE, OPT_PARALLEL, OPT_VERIFY, OPT_REMOTE_COMMAND, OPT_SSH_OPTION,
       OPT_FORCE, OPT_FORGET };

struct dest {
	const char *spec;          /* as given */
	bool ssh;
	char host[600];            /* [user@]host */
	char port[24];
	char path[PATH_MAX];
	/* outcome */
	const char *result;        /* "committed", "up-to-date", "failed" */
	int exit_code;
	long long parent;          /* -1: full stream */
	long long generation;      /* the destination's generation afterwards */
	char error[1024];
};

struct push {
	const char *target;
	const char *self;          /* our own executable */
	bool no_parent;
	bool force;
	char **verify;             /* NULL or the verify ARGV */
	const char *remote_command;
	char **ssh_options;        /* room for every argument */
	size_t n_ssh_options;
	/* what we sent (status.transfers.sent), and the generation now */
	json_t *sent;
	uint64_t current;
	/* the UUID of our sent snapshot that still is the live tree ("": none) */
	char live_sent[37];
};

static bool parse_dest(const char *spec, struct dest *d)
{
	memset(d, 0, sizeof(*d));
	d->spec = spec;
	d->parent = -1;
	if (strncmp(spec, "ssh://", 6) != 0) {
		if (snprintf(d->path, sizeof(d->path), "%s", spec) >= (int)sizeof(d->path))
			return false;
		return spec[0] != '\0';
	}
	d->ssh = true;
	const char *authority = spec + 6;
	const char *slash = strchr(authority, '/');
	if (!slash || slash == authority || !slash[1])
		return false;
	size_t len = (size_t)(slash - authority);
	char auth[600];
	if (len >= sizeof(auth))
		return false;
	memcpy(auth, authority, len);
	auth[len] = '\0';
	/* [user@]host[:port], host may be [v6] */
	char *at = strrchr(auth, '@');
	char *hostpart = at ? at + 1 : auth;
	char *colon = hostpart[0] == '[' ? strchr(hostpart, ']') : hostpart;
	colon = colon ? strchr(colon, ':') : NULL;
	if (colon) {
		*colon = '\0';
		unsigned long long port;
		if (!parse_unsigned(colon + 1, 65535, &port) || port == 0)
			return false;
		snprintf(d->port, sizeof(d->port), "%llu", port);
	}
	if (hostpart[0] == '[') {
		size_t hl = strlen(hostpart);
		if (hl < 3 || hostpart[hl - 1] != ']')
			return false;
		hostpart[hl - 1] = '\0';
		memmove(hostpart, hostpart + 1, hl - 1);
	}
	if (!hostpart[0] || hostpart[0] == '-')
		return false;
	snprintf(d->host, sizeof(d->host), "%s", auth);
	snprintf(d->path, sizeof(d->path), "%s", slash);
	return true;
}

/* Quotes @arg for a POSIX shell (the remote side of ssh runs its command line in one). */
static char *shell_quote(const char *arg)
{
	size_t n = 2;
	for (const char *p = arg; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *out = malloc(n + 1), *w = out;
	if (!out)
		return NULL;
	*w++ = '\'';
	for (const char *p = arg; *p; p++) {
		if (*p == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else {
			*w++ = *p;
		}
	}
	*w++ = '\'';
	*w = '\0';
	return out;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* One remote command line for ssh: @remote_command and @args, every word quoted;
 * NULL when out of memory. */
static char *remote_line(const char *remote_command, char *const args[], size_t n_args)
{
	size_t len = 0;
	char *line = NULL;
	for (size_t i = 0; i <= n_args; i++) {
		char *q = shell_quote(i == 0 ? remote_command : args[i - 1]);
		char *grown = q ? realloc(line, len + strlen(q) + 2) : NULL;
		if (!grown) {
			free(q);
			free(line);
			return NULL;
		}
		line = grown;
		len += (size_t)sprintf(line + len, "%s%s", i ? " " : "", q);
		free(q);
	}
	return line;
}

/* The argv that runs `btrfs-txn ARGS...` for @d: ourselves, or ssh with the remote
 * command line; every argument in it, or NULL (out of memory). Freed with
 * free_argv(). */
static char **command_for(const struct push *p, const struct dest *d, char *const args[])
{
	size_t n_args = 0;
	while (args[n_args])
		n_args++;
	/* ssh -o BatchMode=yes [-o OPT]... [-p PORT] -- HOST LINE, or SELF ARGS... */
	size_t room = d->ssh ? 2 * p->n_ssh_options + 9 : n_args + 2;
	char **argv = calloc(room, sizeof(char *));
	size_t n = 0;
	bool complete = argv != NULL;
#define ARG(value) (complete = complete && (argv[n++] = (value)) != NULL)
	if (complete && !d->ssh) {
		ARG(strdup(p->self));
		for (size_t i = 0; i < n_args; i++)
			ARG(strdup(args[i]));
	} else if (complete) {
		ARG(strdup(SSH_PROGRAM));
		ARG(strdup("-o"));
		ARG(strdup("BatchMode=yes"));
		for (size_t i = 0; i < p->n_ssh_options; i++) {
			ARG(strdup("-o"));
			ARG(strdup(p->ssh_options[i]));
		}
		if (d->port[0]) {
			ARG(strdup("-p"));
			ARG(strdup(d->port));
		}
		ARG(strdup("--"));
		ARG(strdup(d->host));
		ARG(remote_line(p->remote_command, args, n_args));
	}
#undef ARG
	if (!complete) {
		free_argv(argv);
		return NULL;
	}
	return argv;
}

/* Starts @argv with stdin from @in_fd (or /dev/null), stdout to @out_fd (or
 * /dev/null), stderr to @err_fd. */
static pid_t start(char **argv, int in_fd, int out_fd, int err_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in_fd >= 0 ? in_fd : null_fd, 0) < 0 || dup2(out_fd >= 0 ? out_fd : null_fd, 1) < 0 ||
	    dup2(err_fd >= 0 ? err_fd : null_fd, 2) < 0)
		_exit(127);
	execv(argv[0], argv);
	_exit(127);
}

static int wait_exit(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reads all of @fd (at most PUSH_OUTPUT_MAX bytes kept) into a string. */
static char *slurp(int fd)
{
	size_t len = 0;
	char *buf = malloc(PUSH_OUTPUT_MAX + 1);
	if (!buf)
		return NULL;
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n;
		if (len + take > PUSH_OUTPUT_MAX)
			take = PUSH_OUTPUT_MAX - len;
		memcpy(buf + len, chunk, take);
		len += take;
	}
	buf[len] = '\0';
	return buf;
}

/* What ends a remote's line as noise: white space and control characters (ssh
 * ends its own messages with "\r\n"; a remote shell may add more). */
static bool line_noise(unsigned char c)
{
	return c <= ' ' || c == 0x7f;
}

/* @line without its trailing white space and control characters, in place. */
static void line_trim(char *line)
{
	size_t n = strlen(line);
	while (n > 0 && line_noise((unsigned char)line[n - 1]))
		line[--n] = '\0';
}

/* The last non-empty line of @text, without a "btrfs-txn: " prefix and without
 * trailing white space and control characters. */
static void last_line_of(const char *text, char *buf, size_t size)
{
	const char *end = text + strlen(text);
	while (end > text && line_noise((unsigned char)end[-1]))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	if (!strncmp(start, "btrfs-txn: ", 11))
		start += 11;
	snprintf(buf, size, "%.*s", (int)(end - start), start);
}

/* Runs @argv, returning its exit status and its stdout in *ret_out (and stderr's
 * last line in @err). */
static int run_capture(char **argv, char **ret_out, char *err, size_t err_size)
{
	int out[2], errp[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return 127;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return 127;
	}
	pid_t pid = start(argv, -1, out[1], errp[1]);
	close(out[1]);
	close(errp[1]);
	if (pid < 0) {
		close(out[0]);
		close(errp[0]);
		return 127;
	}
	/* stdout is small (one JSON document); stderr too: read one, then the other. */
	*ret_out = slurp(out[0]);
	char *err_text = slurp(errp[0]);
	close(out[0]);
	close(errp[0]);
	int code = wait_exit(pid);
	if (err_text)
		last_line_of(err_text, err, err_size);
	free(err_text);
	return code;
}

/* What a destination holds, from its `status --json`. */
struct holdings {
	json_t *received;          /* every received UUID it keeps a record of */
	/* the received UUID of its newest receive, when that receive's tree still is
	 * its live tree (no apply, run or rollback since, no change in place seen);
	 * "" otherwise */
	char live_received[37];
};

/* What @d holds; nothing when it does not exist yet. */
static int dest_holdings(const struct push *p, struct dest *d, struct holdings *ret)
{
	*ret = (struct holdings){ .received = json_array() };
	if (!ret->received)
		return EXIT_ABORTED;
	if (!d->ssh && access(d->path, F_OK) < 0 && errno == ENOENT)
		return 0;
	char *args[] = { (char *)"status", (char *)"--json", d->path, NULL };
	char **argv = command_for(p, d, args);
	char *out = NULL;
	int code = argv ? run_capture(argv, &out, d->error, sizeof(d->error)) : 127;
	free_argv(argv);
	json_t *doc = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	json_t *received = json_object_get(json_object_get(doc, "transfers"), "received");
	/* A target that never sent or received has no "transfers": it holds nothing. */
	if (code == 0 && json_is_object(doc) && !received) {
		json_decref(doc);
		return 0;
	}
	if (code != 0 || !json_is_array(received)) {
		/* A remote path that does not exist yet holds nothing. */
		const char *error = json_string_value(json_object_get(doc, "error"));
		bool missing = error && strstr(error, "No such file or directory");
		if (missing) {
			json_decref(doc);
			d->error[0] = '\0';
			return 0;
		}
		if (error)
			snprintf(d->error, sizeof(d->error), "status: %s", error);
		else if (!d->error[0])
			snprintf(d->error, sizeof(d->error), "status: exit status %d", code);
		json_decref(doc);
		json_decref(ret->received);
		ret->received = NULL;
		return code ? code : EXIT_ABORTED;
	}
	size_t i;
	json_t *entry;
	json_array_foreach(received, i, entry) {
		json_t *uuid = json_object_get(entry, "received_uuid");
		if (json_is_string(uuid))
			json_array_append(ret->received, uuid);
	}
	/* The list is oldest first: its last entry is the newest receive. */
	json_t *newest = json_array_get(received, json_array_size(received) - 1);
	const char *newest_uuid = json_string_value(json_object_get(newest, "received_uuid"));
	const char *tree_uuid = json_string_value(json_object_get(newest, "tree_uuid"));
	const char *live_uuid = json_string_value(json_object_get(doc, "uuid"));
	/* ... and not changed in place since, as far as its status can tell (a change
	 * its filesystem has not committed yet is not seen there; an older btrfs-txn
	 * does not say, and is taken at its word). */
	json_t *changed = json_object_get(json_object_get(doc, "transfers"), "changed_in_place");
	if (newest_uuid && tree_uuid && live_uuid && !strcmp(tree_uuid, live_uuid) &&
	    json_integer_value(changed) == 0)
		snprintf(ret->live_received, sizeof(ret->live_received), "%s", newest_uuid);
	json_decref(doc);
	return 0;
}

static bool holds(json_t *uuids, const char *uuid)
{
	size_t i;
	json_t *entry;
	json_array_foreach(uuids, i, entry)
		if (!strcmp(json_string_value(entry), uuid))
			return true;
	return false;
}

/* What one destination holds and which stream it needs: "up-to-date", "failed", or
 * "pending" with @d->parent set (-1: a full stream). Runs in a process of its own. */
static void plan_one(const struct push *p, struct dest *d)
{
	struct holdings held;
	int code = dest_holdings(p, d, &held);
	if (code != 0) {
		d->result = "failed";
		d->exit_code = code;
		return;
	}
	/* Up to date only when the destination's live tree is the one it received last
	 * and that is our live tree as sent. Having received our current generation
	 * once is not enough: the destination may have changed since (an apply there),
	 * or our tree may have changed in place since it was sent. When unsure, send:
	 * the destination's receive refuses a tree changed there (drift). */
	bool up_to_date = p->live_sent[0] && !strcmp(held.live_received, p->live_sent);
	/* The newest older generation sent from here that the destination received. */
	long long parent = -1;
	size_t i;
	json_t *entry;
	json_array_foreach(p->sent, i, entry) {
		const char *uuid = json_string_value(json_object_get(entry, "uuid"));
		long long generation = (long long)json_integer_value(json_object_get(entry, "generation"));
		if (uuid && holds(held.received, uuid) && (uint64_t)generation < p->current &&
		    generation > parent)
			parent = generation;
	}
	json_decref(held.received);
	if (up_to_date && !p->force) {
		d->result = "up-to-date";
		d->generation = -1;
		d->parent = -1; /* no stream: null in --json */
		return;
	}
	if (p->no_parent)
		parent = -1;
	d->parent = parent;
	d->result = "pending";
}

/* The argv of `btrfs-txn send` for a stream against @parent (-1: full). */
static char **send_command(const struct push *p, long long parent)
{
	/* The generation push read at its start, which it records as what each
	 * destination holds: an apply on TARGET meanwhile must not make the stream
	 * one of a newer tree (that generation is then sent from where it is kept). */
	char parent_arg[32], generation_arg[32];
	snprintf(parent_arg, sizeof(parent_arg), "%lld", parent);
	snprintf(generation_arg, sizeof(generation_arg), "%llu", (unsigned long long)p->current);
	char *send_args[] = { (char *)"send", (char *)"-q", (char *)"--generation", generation_arg,
			      (char *)p->target, parent >= 0 ? (char *)"--parent" : (char *)"--no-parent",
			      parent >= 0 ? parent_arg : NULL, NULL };
	return command_for(p, &(struct dest){ .ssh = false }, send_args);
}

/* Lands the stream @d needs there: read from @stream_file (a file that holds it,
 * shared with other destinations; opened anew so that each reads from its start)
 * or, when @stream_file is -1, from a sender of its own. Runs in a process of its
 * own. */
static void transfer_one(const struct push *p, int stream_file, struct dest *d)
{
	long long parent = d->parent;

	char **send_argv = stream_file < 0 ? send_command(p, parent) : NULL;
	/* receive --json PATH [--force] [--verify -- ARGV...] NULL */
	size_t n_verify = 0;
	while (p->verify && p->verify[n_verify])
		n_verify++;
	char **receive_args = calloc(n_verify + 7, sizeof(char *));
	char **receive_argv = NULL;
	if (receive_args) {
		size_t n = 0;
		receive_args[n++] = (char *)"receive";
		receive_args[n++] = (char *)"--json";
		receive_args[n++] = d->path;
		if (p->force)
			receive_args[n++] = (char *)"--force";
		if (p->verify) {
			receive_args[n++] = (char *)"--verify";
			receive_args[n++] = (char *)"--";
			for (size_t k = 0; k < n_verify; k++)
				receive_args[n++] = p->verify[k];
		}
		receive_args[n] = NULL;
		receive_argv = command_for(p, d, receive_args);
		free(receive_args);
	}
	int stream[2] = { -1, -1 }, out[2], send_err[2] = { -1, -1 };
	if (stream_file >= 0) {
		char self_fd[64];
		snprintf(self_fd, sizeof(self_fd), "/proc/self/fd/%d", stream_file);
		stream[0] = open(self_fd, O_RDONLY | O_CLOEXEC);
	}
	if ((stream_file < 0 && !send_argv) || !receive_argv ||
	    (stream_file >= 0 ? stream[0] < 0
			      : pipe2(stream, O_CLOEXEC) < 0 || pipe2(send_err, O_CLOEXEC) < 0) ||
	    pipe2(out, O_CLOEXEC) < 0) {
		snprintf(d->error, sizeof(d->error), "cannot start the transfer: %s", strerror(errno));
		d->result = "failed";
		d->exit_code = EXIT_ABORTED;
		free_argv(send_argv);
		free_argv(receive_argv);
		return;
	}
	pid_t receiver = start(receive_argv, stream[0], out[1], out[1]);
	pid_t sender = stream_file < 0 ? start(send_argv, -1, stream[1], send_err[1]) : 0;
	close(stream[0]);
	if (stream_file < 0) {
		close(stream[1]);
		close(send_err[1]);
	}
	close(out[1]);
	free_argv(send_argv);
	free_argv(receive_argv);
	char *received = slurp(out[0]);
	char *send_text = stream_file < 0 ? slurp(send_err[0]) : NULL;
	close(out[0]);
	if (stream_file < 0)
		close(send_err[0]);
	int send_code = stream_file >= 0 ? 0 : sender > 0 ? wait_exit(sender) : 127;
	int receive_code = receiver > 0 ? wait_exit(receiver) : 127;
	/* receive --json prints one document, but stderr shares the pipe: the JSON
	 * starts at the first '{' of a line. */
	const char *json_start = received ? strstr(received, "\n{") : NULL;
	json_start = received && received[0] == '{' ? received : json_start ? json_start + 1 : NULL;
	json_t *doc = json_start ? json_loads(json_start, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	if (receive_code == 0 && send_code == 0) {
		d->result = "committed";
		d->generation = (long long)json_integer_value(json_object_get(doc, "generation"));
	} else {
		d->result = "failed";
		d->exit_code = receive_code ? receive_code : send_code;
		const char *error = json_string_value(json_object_get(doc, "error"));
		char send_line[512] = "";
		if (send_code && send_text)
			last_line_of(send_text, send_line, sizeof(send_line));
		if (send_code && send_line[0])
			snprintf(d->error, sizeof(d->error), "%s", send_line);
		else if (error)
			snprintf(d->error, sizeof(d->error), "receive: %s", error);
		else if (received)
			last_line_of(received, d->error, sizeof(d->error));
		if (!d->error[0])
			snprintf(d->error, sizeof(d->error), "receive: exit status %d", receive_code);
		if (receive_code > 5 || receive_code == 0)
			d->exit_code = EXIT_ABORTED;
	}
	json_decref(doc);
	free(received);
	free(send_text);
}

/* A destination's outcome travels from its process to us as one JSON line. */
static void write_outcome(int fd, const struct dest *d)
{
	json_t *o = json_pack("{s:s, s:i, s:I, s:I, s:s}", "result", d->result, "exit", d->exit_code,
			      "parent", (json_int_t)d->parent, "generation", (json_int_t)d->generation,
			      "error", d->error);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text) {
		ssize_t ignored = write(fd, text, strlen(text));
		(void)ignored;
	}
	free(text);
	json_decref(o);
}

static void read_outcome(int fd, struct dest *d)
{
	char *text = slurp(fd);
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	const char *result = json_string_value(json_object_get(o, "result"));
	if (!result) {
		d->result = "failed";
		d->exit_code = EXIT_ABORTED;
		snprintf(d->error, sizeof(d->error), "the transfer process died");
	} else {
		d->result = !strcmp(result, "committed") ? "committed"
			    : !strcmp(result, "up-to-date") ? "up-to-date"
			    : !strcmp(result, "pending") ? "pending" : "failed";
		d->exit_code = (int)json_integer_value(json_object_get(o, "exit"));
		d->parent = (long long)json_integer_value(json_object_get(o, "parent"));
		d->generation = (long long)json_integer_value(json_object_get(o, "generation"));
		snprintf(d->error, sizeof(d->error), "%s",
			 json_string_value(json_object_get(o, "error")) ?: "");
	}
	json_decref(o);
	free(text);
}

/* A file holding the stream against @parent, made once for the destinations that all
 * need it: an unlinked file in $TMPDIR (default /var/tmp). -1 when it cannot be
 * made (no O_TMPFILE there, no room, the send failed): each destination then runs
 * a send of its own, which reports its own error. */
static int shared_stream(const struct push *p, long long parent)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	char **argv = send_command(p, parent);
	pid_t pid = argv ? start(argv, -1, fd, -1) : -1;
	free_argv(argv);
	if (pid <= 0 || wait_exit(pid) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Runs one stage for each destination whose result is @only (NULL: not set yet),
 * each in a process of its own, at most @parallel at a time: plan_one() when
 * @stream_files is NULL, else transfer_one() with the destination's stream file (a
 * negative one: a sender of its own). */
static void run_stage(const struct push *p, struct dest *dests, size_t n_dests, unsigned parallel,
		      const char *only, const int *stream_files)
{
	pid_t *pids = calloc(n_dests, sizeof(pid_t));
	int *fds = calloc(n_dests, sizeof(int));
	if (!pids || !fds) {
		free(pids);
		free(fds);
		for (size_t i = 0; i < n_dests; i++)
			if (only ? dests[i].result && !strcmp(dests[i].result, only) : !dests[i].result) {
				dests[i].result = "failed";
				dests[i].exit_code = EXIT_ABORTED;
				snprintf(dests[i].error, sizeof(dests[i].error), "out of memory");
			}
		return;
	}
	size_t next = 0, running = 0;
	for (;;) {
		while (next < n_dests && running < parallel) {
			struct dest *d = &dests[next];
			if (only ? !d->result || strcmp(d->result, only) != 0 : d->result != NULL) {
				next++;
				continue;
			}
			int pipefd[2];
			if (pipe2(pipefd, O_CLOEXEC) < 0) {
				d->result = "failed";
				d->exit_code = EXIT_ABORTED;
				snprintf(d->error, sizeof(d->error), "cannot start: %s", strerror(errno));
				next++;
				continue;
			}
			pid_t pid = fork();
			if (pid == 0) {
				close(pipefd[0]);
				if (stream_files)
					transfer_one(p, stream_files[next], d);
				else
					plan_one(p, d);
				write_outcome(pipefd[1], d);
				_exit(0);
			}
			close(pipefd[1]);
			if (pid < 0) {
				close(pipefd[0]);
				d->result = "failed";
				d->exit_code = EXIT_ABORTED;
				snprintf(d->error, sizeof(d->error), "cannot start: %s", strerror(errno));
				next++;
				continue;
			}
			pids[next] = pid;
			fds[next] = pipefd[0];
			next++;
			running++;
		}
		if (running == 0)
			break;
		int status;
		pid_t finished = wait(&status);
		if (finished < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (size_t i = 0; i < next; i++)
			if (pids[i] == finished) {
				read_outcome(fds[i], &dests[i]);
				close(fds[i]);
				pids[i] = 0;
				running--;
			}
	}
	free(pids);
	free(fds);
}

int cmd_push(int argc, char **argv)
{
	const struct command *self = command_find("push");
	static const struct option longopts[] = {
		{ "parent", required_argument, NULL, OPT_PARENT },
		{ "parallel", required_argument, NULL, OPT_PARALLEL },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "remote-command", required_argument, NULL, OPT_REMOTE_COMMAND },
		{ "ssh-option", required_argument, NULL, OPT_SSH_OPTION },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "forget", no_argument, NULL, OPT_FORGET },
		CLI_COMMON_LONG,
		{ 0 },
	};
	struct push p = { .remote_command = "btrfs-txn" };
	/* room for as many --ssh-option as there are arguments */
	_cleanup_free_ char **ssh_options = calloc((size_t)argc, sizeof(char *));
	if (!ssh_options)
		return EXIT_ABORTED;
	p.ssh_options = ssh_options;
	unsigned parallel = 1;
	bool verify = false, forget = false;
	const char *positional[PUSH_MAX_DESTINATIONS + 1];
	size_t n_positional = 0;
	unsigned long long v;
	int c, code;
	for (;;) {
		c = getopt_long(argc, argv, "+" CLI_COMMON_SHORT, longopts, NULL);
		if (c == -1) {
			if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
				if (n_positional == PUSH_MAX_DESTINATIONS + 1) {
					report_error("push: at most %d destinations", PUSH_MAX_DESTINATIONS);
					return EXIT_USAGE;
				}
				positional[n_positional++] = argv[optind++];
				continue;
			}
			break;
		}
		if (cli_common_option(self, c, &code)) {
			if (code >= 0)
				return code;
			continue;
		}
		switch (c) {
		case OPT_PARENT:
			if (!strcmp(optarg, "none")) {
				p.no_parent = true;
			} else if (strcmp(optarg, "auto") != 0) {
				report_error("push: --parent: expected auto or none, got '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_PARALLEL:
			if (!parse_unsigned(optarg, 64, &v) || v == 0) {
				report_error("push: --parallel: expected a number from 1 to 64, got '%s'", optarg);
				return EXIT_USAGE;
			}
			parallel = (unsigned)v;
			break;
		case OPT_VERIFY:
			verify = true;
			break;
		case OPT_REMOTE_COMMAND:
			p.remote_command = optarg;
			break;
		case OPT_SSH_OPTION:
			p.ssh_options[p.n_ssh_options++] = optarg;
			break;
		case OPT_FORCE:
			p.force = true;
			break;
		case OPT_FORGET:
			forget = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (n_positional < 2) {
		report_error("push: expected TARGET DEST...; see 'btrfs-txn help push'");
		return EXIT_USAGE;
	}
	if (verify) {
		if (optind >= argc) {
			report_error("push: --verify needs a command after '--'");
			return EXIT_USAGE;
		}
		p.verify = argv + optind;
	} else if (optind < argc) {
		report_error("push: unexpected '%s' (a verify command goes after --verify --)", argv[optind]);
		return EXIT_USAGE;
	}
	p.target = positional[0];
	size_t n_dests = n_positional - 1;
	if (forget) {
		/* Only the records: their parents may then go with send's keep rule. */
		int exit_code = EXIT_DONE;
		for (size_t i = 0; i < n_dests; i++) {
			struct txn_error forget_error = { 0 };
			if (txn_destination_record(p.target, positional[i + 1], 0, true, &forget_error) < 0)
				exit_code = report_txn_error("push", &forget_error, NULL);
			else
				report_info("%s: forgot %s", p.target, positional[i + 1]);
		}
		return exit_code;
	}
	struct dest *dests = calloc(n_dests, sizeof(*dests));
	if (!dests)
		return EXIT_ABORTED;
	for (size_t i = 0; i < n_dests; i++)
		if (!parse_dest(positional[i + 1], &dests[i])) {
			report_error("push: '%s' is not a destination: give a path or "
				     "ssh://[user@]host[:port]/path", positional[i + 1]);
			free(dests);
			return EXIT_USAGE;
		}
	char self_path[PATH_MAX];
	ssize_t self_len = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (self_len <= 0) {
		report_error("push: cannot find this program (/proc/self/exe): %s", strerror(errno));
		free(dests);
		return EXIT_ABORTED;
	}
	self_path[self_len] = '\0';
	p.self = self_path;

	/* What we sent before, the generation now, and whether its sent snapshot still
	 * is the live tree: one send per destination reuses the same snapshot while the
	 * tree does not change. */
	char *transfers = NULL;
	struct txn_error error = { 0 };
	struct txn_state state = { 0 };
	if (txn_state_read(p.target, &state, &error) < 0 ||
	    txn_sent_live(p.target, state.generation, p.live_sent, &error) < 0 ||
	    txn_transfers_json(p.target, &transfers, &error) < 0) {
		free(state.kept);
		free(dests);
		return report_txn_error("push", &error, cli.json ? json_pack("{s:s}", "command", "push") : NULL);
	}
	uint64_t current = state.generation;
	free(state.kept);
	json_t *transfers_doc = json_loads(transfers, 0, NULL);
	free(transfers);
	p.sent = json_object_get(transfers_doc, "sent");
	p.current = current;

	signal(SIGPIPE, SIG_IGN);
	/* First what each destination holds, then the transfers: destinations that
	 * need the same stream share one send. */
	int *stream_files = malloc(n_dests * sizeof(int));
	if (!stream_files) {
		json_decref(transfers_doc);
		free(dests);
		return EXIT_ABORTED;
	}
	run_stage(&p, dests, n_dests, parallel, NULL, NULL);
	for (size_t i = 0; i < n_dests; i++)
		stream_files[i] = -1;
	for (size_t i = 0; i < n_dests; i++) {
		if (!dests[i].result || strcmp(dests[i].result, "pending") != 0 || stream_files[i] != -1)
			continue;
		size_t sharing = 0;
		for (size_t k = i; k < n_dests; k++)
			sharing += dests[k].result && !strcmp(dests[k].result, "pending") &&
				   dests[k].parent == dests[i].parent;
		int fd = sharing > 1 ? shared_stream(&p, dests[i].parent) : -1;
		for (size_t k = i; k < n_dests; k++)
			if (dests[k].result && !strcmp(dests[k].result, "pending") &&
			    dests[k].parent == dests[i].parent)
				stream_files[k] = fd >= 0 ? fd : -2;
	}
	run_stage(&p, dests, n_dests, parallel, "pending", stream_files);
	for (size_t i = 0; i < n_dests; i++)
		if (stream_files[i] >= 0) {
			int fd = stream_files[i];
			for (size_t k = i; k < n_dests; k++)
				if (stream_files[k] == fd)
					stream_files[k] = -1;
			close(fd);
		}
	free(stream_files);
	json_decref(transfers_doc);

	/* Each destination that committed (or holds the tree) now holds the current
	 * generation as sent: its sent snapshot stays as that destination's parent. */
	for (size_t i = 0; i < n_dests; i++) {
		struct txn_error record_error = { 0 };
		if (dests[i].result && strcmp(dests[i].result, "failed") != 0 &&
		    txn_destination_record(p.target, dests[i].spec, current, false, &record_error) < 0) {
			char line[1200];
			report_error("push: %s: committed, but not recorded as a destination: %s",
				     dests[i].spec, txn_error_string(&record_error, line, sizeof(line)));
		}
	}
	int exit_code = EXIT_DONE;
	/* ssh's own failures (255) and anything outside our codes count as aborted. */
	for (size_t i = 0; i < n_dests; i++)
		if (dests[i].exit_code < EXIT_ABORTED || dests[i].exit_code > EXIT_NEEDS_PERSON)
			dests[i].exit_code = EXIT_ABORTED;
	json_t *list = cli.json ? json_array() : NULL;
	for (size_t i = 0; i < n_dests; i++) {
		struct dest *d = &dests[i];
		if (!d->result || !strcmp(d->result, "pending")) {
			d->result = "failed";
			d->exit_code = EXIT_ABORTED;
		}
		bool failed = !strcmp(d->result, "failed");
		/* One line, whichever end it came from (a remote's JSON error too). */
		line_trim(d->error);
		if (failed && exit_code == EXIT_DONE)
			exit_code = d->exit_code ? d->exit_code : EXIT_ABORTED;
		if (list) {
			json_array_append_new(list,
					      json_pack("{s:s, s:s, s:o, s:o, s:s?}", "destination", d->spec,
							"result", d->result, "parent",
							d->parent >= 0 ? json_integer(d->parent) : json_null(),
							"generation",
							!strcmp(d->result, "committed")
								? json_integer(d->generation) : json_null(),
							"error", failed ? d->error : NULL));
			continue;
		}
		if (failed)
			report_error("push: %s: %s", d->spec, d->error);
		else if (!strcmp(d->result, "up-to-date"))
			report_info("%s: already holds generation %llu", d->spec,
				    (unsigned long long)current);
		else if (d->parent >= 0)
			report_info("%s: committed generation %lld (incremental against %lld)", d->spec,
				    d->generation, d->parent);
		else
			report_info("%s: committed generation %lld (full stream)", d->spec, d->generation);
	}
	if (list) {
		json_t *doc = json_pack("{s:s, s:s, s:I, s:o, s:i}", "command", "push", "target", p.target,
					"generation", (json_int_t)current, "destinations", list, "exit",
					exit_code);
		json_print(doc);
	}
	free(dests);
	return exit_code;
}
