/* SPDX-License-Identifier: MIT */
/*
 * receive.c: `receive`, a Btrfs send stream landed with the commit protocol of apply.
 *
 *   lock -> recover -> read the stream's first command (btrfs receive --dump) ->
 *   refusals (parent missing, other lineage, drift) -> journal -> btrfs receive
 *   --chroot into receiving-TXID -> its read-only subvolume renamed recv-TXID ->
 *   writable snapshot of it as staging-TXID -> verify hook -> BTRFS_IOC_SYNC ->
 *   T unchanged? -> pending record in received.json -> RENAME_EXCHANGE (the commit
 *   point) -> old tree kept as read-only gen-N -> sync -> pending record becomes
 *   the newest received one -> history -> journal removed -> gc.
 *
 * From the journal on, these are the phases of snapshot.c (internal.h: staged_begin
 * with the mark taken at once, staged_record, staged_commit, staged_finish, or
 * staged_abort), as for apply; receive brings the staging (btrfs receive, then a
 * snapshot of the received subvolume) and its own record, through the phases'
 * method_record hook: the pending record before the exchange, made the newest
 * received one after it while the journal still names the receive.
 *
 * The stream is read by btrfs-progs only (its reader and --dump): no parser of our
 * own. The received subvolume is never made writable, so its received UUID stays
 * the parent of the next incremental stream. What is in flight is journaled with
 * kind "receive"; recovery decides by UUID as for apply, and removes receiving-*
 * and the recv-TXID of a receive that did not commit (received.c).
 */
#include "internal.h"
#include "received.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* Bytes read ahead to learn the stream's first command: its header and the subvol
 * or snapshot command are a few hundred bytes. */
#define STREAM_HEAD_SIZE 4096

static const char *btrfs_program(void)
{
	static const char *const paths[] = { "/usr/bin/btrfs", "/bin/btrfs", "/usr/sbin/btrfs",
					     "/sbin/btrfs" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* The exit status of spawn()'s child when the destination it was to give btrfs
 * receive failed its check (dest_trusted()); its stderr says why. */
#define SPAWN_UNTRUSTED 125

/* btrfs receive is given its destination as a path and resolves it again, more
 * than once (realpath, chroot, its mount's root): whoever can change a directory on
 * the way could swap in a symlink and have the stream, set-uid files and all, land
 * where they choose. So, in the child, just before the exec and in the mount
 * namespace btrfs receive will see: every directory from '/' to @path is one only
 * root can change (StrictModes, trust.h), and @path is the directory @want made. */
static bool dest_trusted(const char *path, const struct stat *want, int err_fd)
{
	char refusal[PATH_MAX + 256] = "";
	int fd = -1;
	int r = txn_trust_open(path, TXN_TRUST_NOFOLLOW_LAST, &fd, NULL, refusal, sizeof(refusal));
	struct stat st;
	if (r == 0 && (fstat(fd, &st) < 0 || st.st_dev != want->st_dev || st.st_ino != want->st_ino)) {
		snprintf(refusal, sizeof(refusal), "'%s' was replaced after it was made", path);
		r = -EAGAIN;
	}
	if (r == 0)
		return true;
	if (!refusal[0]) /* no strerror() here: a forked child, maybe of a threaded caller */
		snprintf(refusal, sizeof(refusal), "cannot check '%s' (errno %d)", path, -r);
	dprintf(err_fd, "%s\n", refusal);
	return false;
}

/* Starts @argv (argv[0] an absolute path) with stdin from a new pipe (*ret_in, to
 * write) or -1, stdout to a new pipe (*ret_out) or /dev/null, stderr to @err_fd;
 * with @top_fd >= 0, in a mount namespace of its own where that mount of the top
 * level is at MOUNTED_CHILD_TOP (mounted_attach_top()). With @dest (and its
 * @dest_st), the child exits SPAWN_UNTRUSTED instead of the exec unless
 * dest_trusted(). */
static pid_t spawn(char *const argv[], int *ret_in, int *ret_out, int err_fd, int top_fd,
		   const char *dest, const struct stat *dest_st)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (ret_out && pipe2(out, O_CLOEXEC) < 0) {
		int e = -errno;
		close(in[0]);
		close(in[1]);
		return e;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		txn_child_die_with_parent(parent);
		signal(SIGPIPE, SIG_DFL);
		int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (dup2(in[0], 0) < 0 || dup2(ret_out ? out[1] : null_fd, 1) < 0 ||
		    dup2(err_fd >= 0 ? err_fd : null_fd, 2) < 0)
			_exit(127);
		if (top_fd >= 0 && mounted_attach_top(top_fd) < 0) {
			static const char why[] = "ERROR: cannot attach the top level of the "
						  "filesystem in a private mount namespace\n";
			(void)!write(2, why, sizeof(why) - 1);
			_exit(127);
		}
		if (dest && !dest_trusted(dest, dest_st, 2))
			_exit(SPAWN_UNTRUSTED);
		execv(argv[0], argv);
		_exit(127);
	}
	int e = pid < 0 ? -errno : 0;
	close(in[0]);
	if (ret_out)
		close(out[1]);
	if (e < 0) {
		close(in[1]);
		if (ret_out)
			close(out[0]);
		return e;
	}
	*ret_in = in[1];
	if (ret_out)
		*ret_out = out[0];
	return pid;
}

/* Waits for @pid; returns its exit status, 128+signal, or -errno. */
static int wait_child(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last line of what a child wrote to the memfd @fd, for an error message. */
static void last_line(int fd, char *buf, size_t size)
{
	char text[4096];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	buf[0] = '\0';
	if (n <= 0)
		return;
	text[n] = '\0';
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	char *start = strrchr(text, '\n');
	snprintf(buf, size, "%.*s", (int)(size - 1), start ? start + 1 : text);
}

/* What the stream's first command says, from `btrfs receive --dump` of its head. */
struct stream_head {
	char name[NAME_MAX + 1];
	char uuid[37];
	char parent_uuid[37];   /* "" for a full stream */
	bool has_origin;
	struct sent_name origin;
};

static int stream_head_read(const char *btrfs, const char *head, size_t len, struct stream_head *ret,
			    struct txn_error *error)
{
	char *argv[] = { (char *)btrfs, (char *)"receive", (char *)"--dump", NULL };
	int in = -1, out = -1;
	pid_t pid = spawn(argv, &in, &out, -1, -1, NULL, NULL);
	if (pid < 0)
		return txn_fail(error, TXN_ABORTED, (int)pid, "cannot run '%s receive --dump'", btrfs);
	/* The head is at most a pipe's buffer: written whole before reading. */
	int r = write_all(in, head, len);
	close(in);
	char text[8192];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(out, text + got, sizeof(text) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(text) - 1)
			break;
	}
	text[got] = '\0';
	close(out);
	wait_child(pid);
	(void)r;
	struct stream_head h = { 0 };
	char kind[16], path[NAME_MAX + 16];
	int fields = sscanf(text, "%15s %270s uuid=%36s transid=%*s parent_uuid=%36s", kind, path,
			    h.uuid, h.parent_uuid);
	if (fields < 3 || (strcmp(kind, "subvol") && strcmp(kind, "snapshot")) ||
	    strncmp(path, "./", 2) || strchr(path + 2, '/'))
		return txn_fail(error, TXN_ABORTED, 0,
				"the input is not a Btrfs send stream (its first command is not a "
				"subvolume or a snapshot); nothing was changed");
	if (!strcmp(kind, "subvol"))
		h.parent_uuid[0] = '\0';
	snprintf(h.name, sizeof(h.name), "%.*s", (int)sizeof(h.name) - 1, path + 2);
	h.has_origin = sent_name_parse(h.name, &h.origin);
	*ret = h;
	return 0;
}

/* The path (recv-TXID/NAME) of a kept received subvolume whose received UUID is
 * @uuid, or "". */
static void find_received(int state_fd, const char *uuid, char *ret_name, size_t size)
{
	ret_name[0] = '\0';
	int fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *entry;
	while (!ret_name[0] && (entry = readdir(dir))) {
		if (strncmp(entry->d_name, RECV_PREFIX, strlen(RECV_PREFIX)))
			continue;
		int inner_fd = openat(dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *inner = inner_fd >= 0 ? fdopendir(inner_fd) : NULL;
		if (!inner) {
			if (inner_fd >= 0)
				close(inner_fd);
			continue;
		}
		struct dirent *sub_entry;
		while ((sub_entry = readdir(inner))) {
			if (sub_entry->d_name[0] == '.')
				continue;
			_cleanup_close_ int sub = openat(dirfd(inner), sub_entry->d_name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct btrfs_util_subvolume_info info;
			char received[37];
			if (sub < 0 || btrfs_util_subvolume_info_fd(sub, 0, &info) != BTRFS_UTIL_OK)
				continue;
			uuid_format(info.received_uuid, received);
			if (!strcmp(received, uuid)) {
				snprintf(ret_name, size, "%.63s/%.255s", entry->d_name, sub_entry->d_name);
				break;
			}
		}
		closedir(inner);
	}
	closedir(dir);
}

static json_t *mark_json(const struct tree_mark *m)
{
	const struct root_print *p = &m->root_print;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
			 "generation", (json_int_t)m->generation, "sec", (json_int_t)m->since.tv_sec,
			 "nsec", (json_int_t)m->since.tv_nsec, "mode", (json_int_t)m->root_mode,
			 "uid", (json_int_t)m->root_uid, "gid", (json_int_t)m->root_gid, "transid",
			 (json_int_t)m->after_transid, "root", "mode", (json_int_t)p->mode, "uid",
			 (json_int_t)p->uid, "gid", (json_int_t)p->gid, "flags", (json_int_t)p->flags,
			 "size", (json_int_t)p->size, "nlink", (json_int_t)p->nlink, "mtime_sec",
			 (json_int_t)p->mtime_sec, "mtime_nsec", (json_int_t)p->mtime_nsec, "xattrs",
			 (json_int_t)p->xattrs);
}

struct since_ctx {
	const char *after_txid;
	bool seen;
	const struct txn_receive_options *ro;
	size_t count;
};

/* Calls the caller's discarded() for each transaction committed after the last receive. */
static bool list_after(json_t *line, void *ctx)
{
	struct since_ctx *c = ctx;
	const char *txid = json_string_value(json_object_get(line, "txid"));
	const char *result = json_string_value(json_object_get(line, "result"));
	if (!c->seen) {
		c->seen = txid && !strcmp(txid, c->after_txid);
		return false;
	}
	if (!result || strcmp(result, "committed"))
		return false;
	char what[700];
	const char *description = json_string_value(json_object_get(line, "description"));
	snprintf(what, sizeof(what), "transaction %s (%s, generation %lld)%s%s", txid ? txid : "?",
		 json_string_value(json_object_get(line, "kind")) ?: "?",
		 (long long)json_integer_value(json_object_get(line, "generation")),
		 description ? ": " : "", description ? description : "");
	c->count++;
	if (c->ro && c->ro->discarded)
		c->ro->discarded(what, c->ro->discarded_ctx);
	return false;
}

/* Drift: @t changed since the receive @last landed it. Return: 1 drifted (the
 * caller's discarded() told what would be lost), 0 not, or -errno. */
static int drift_check(struct target *t, json_t *last, const struct txn_receive_options *ro,
		       size_t *ret_count)
{
	char uuid[37];
	int r = subvolume_identity(t->fd, uuid, NULL, NULL);
	if (r < 0)
		return r;
	const char *tree_uuid = json_string_value(json_object_get(last, "tree_uuid"));
	struct tree_mark mark;
	if (!tree_uuid || strcmp(tree_uuid, uuid) != 0 || !received_mark_from_json(json_object_get(last, "mark"), &mark)) {
		/* Another transaction replaced the tree the receive landed. */
		struct since_ctx c = { .after_txid = json_string_value(json_object_get(last, "txid")) ?: "",
				       .ro = ro };
		history_each(t->state_fd, list_after, &c);
		*ret_count = c.count ? c.count : 1;
		if (!c.count && ro && ro->discarded)
			ro->discarded("the live tree (replaced since the last receive)", ro->discarded_ctx);
		return 1;
	}
	r = sync_fs(t->fd);
	if (r < 0)
		return r;
	struct tree_changes changes;
	r = tree_changes_since(t->fd, &mark, &changes);
	if (r < 0)
		return r;
	for (size_t i = 0; i < changes.n_inodes && ro && ro->discarded; i++) {
		char path[PATH_MAX], what[PATH_MAX + 32];
		if (tree_inode_path(t->fd, changes.inodes[i], path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "(inode %llu, removed)", (unsigned long long)changes.inodes[i]);
		snprintf(what, sizeof(what), "changed in place: %s", path);
		ro->discarded(what, ro->discarded_ctx);
	}
	*ret_count = changes.count;
	return changes.count > 0;
}

/* Pumps @head and the rest of @in_fd into @out_fd. Return: 0, -EINTR when
 * interrupted, -EPIPE when the reader went away, or -errno (*ret_read_error tells
 * whether reading the input failed). */
static int pump(int in_fd, const char *head, size_t len, int out_fd, bool *ret_read_error)
{
	*ret_read_error = false;
	int r = write_all(out_fd, head, len);
	if (r < 0)
		return r;
	static char buf[1 << 16];
	for (;;) {
		if (txn_interrupted)
			return -EINTR;
		ssize_t n = read(in_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*ret_read_error = true;
			return -errno;
		}
		if (n == 0)
			return 0;
		r = write_all(out_fd, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

/* Removes what this receive made before its commit point (the journal goes with
 * undo_uncommitted()). */
static void receive_cleanup(struct target *t, const char *txid)
{
	received_discard_partial(t->state_fd, NULL, NULL, 0);
	received_recover(t->state_fd, txid, false);
}

/* Drops recv-* subvolumes that no longer are among the newest @keep received. */
static void drop_received(int state_fd, json_t *doc, unsigned keep)
{
	json_t *list = json_object_get(doc, "received");
	size_t n = json_array_size(list);
	if (keep == 0)
		keep = 1;
	bool changed = false;
	while (n > keep) {
		json_t *old = json_array_get(list, 0);
		const char *txid = json_string_value(json_object_get(old, "txid"));
		char name[64];
		snprintf(name, sizeof(name), RECV_PREFIX "%s", txid ? txid : "");
		if (txid && received_remove_dir(state_fd, name) < 0)
			break;
		json_array_remove(list, 0);
		n--;
		changed = true;
	}
	if (changed)
		received_write(state_fd, doc);
}

/* The stream's first bytes, read (and judged) before the target is touched. */
struct stream_start {
	const char *btrfs;
	char bytes[STREAM_HEAD_SIZE];
	size_t len;
	struct stream_head h;
};

static int stream_start_read(int in_fd, struct stream_start *ret, struct txn_error *error)
{
	ret->btrfs = btrfs_program();
	if (!ret->btrfs)
		return txn_fail(error, TXN_UNSUPPORTED, ENOENT,
				"cannot find the btrfs program of btrfs-progs (/usr/bin/btrfs)");
	ret->len = 0;
	while (ret->len < sizeof(ret->bytes)) {
		ssize_t n = read(in_fd, ret->bytes + ret->len, sizeof(ret->bytes) - ret->len);
		if (n < 0 && errno == EINTR && !txn_interrupted)
			continue;
		if (n < 0)
			return txn_fail(error, TXN_ABORTED, errno, "cannot read the stream");
		if (n == 0)
			break;
		ret->len += (size_t)n;
	}
	if (ret->len == 0)
		return txn_fail(error, TXN_ABORTED, 0, "the stream is empty; nothing was changed");
	return stream_head_read(ret->btrfs, ret->bytes, ret->len, &ret->h, error);
}

/* What one receive lands: its names, and what its record holds (receive_record()). */
struct landing {
	const struct stream_start *head;
	const struct txn_receive_options *ro;
	json_t *doc;                       /* received.json, as read for the refusals */
	char receiving[64];                /* receiving-TXID: what btrfs receive writes in */
	char received[64];                 /* recv-TXID: the same directory once complete */
	char subvolume[64 + NAME_MAX + 2]; /* recv-TXID/NAME: the received subvolume */
	struct tree_mark landed;           /* a change of the landed tree after it is drift */
	char parent_uuid[37];              /* an incremental stream's parent here: its own UUID */
};

/* R4 and R5: btrfs receive --chroot into receiving-TXID, what it left checked, the
 * directory renamed recv-TXID. */
static int receive_stream(struct staged_txn *s, struct landing *l, struct txn_error *error)
{
	struct target *t = s->target;
	const struct stream_start *head = l->head;
	const struct stream_head *h = &head->h;
	const char *btrfs = head->btrfs;
	if (mkdirat(t->state_fd, l->receiving, 0700) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot make '%s/%s'", t->state_path,
				l->receiving);
	staged_step(s, "receiving", &s->timing->ops);
	_cleanup_close_ int err_fd = memfd_create("btrfs-receive-stderr", MFD_CLOEXEC);
	char receiving_path[PATH_MAX + 80];
	snprintf(receiving_path, sizeof(receiving_path), "%s/%s", t->state_path, l->receiving);
	/* A mounted target's state directory has no path here (it is reached through
	 * a private mount of the top level): btrfs receive gets one in a mount
	 * namespace of its own. */
	_cleanup_close_ int top = t->mounted ? mounted_top_level_fd(t) : -EBADF;
	if (t->mounted && top < 0)
		return txn_fail(error, TXN_ABORTED, -top,
				"cannot mount the top level of '%s' privately for btrfs receive", t->path);
	char child_path[PATH_MAX + 160];
	if (t->mounted) {
		char below[PATH_MAX];
		mounted_state_below_top(t, below, sizeof(below));
		snprintf(child_path, sizeof(child_path), MOUNTED_CHILD_TOP "/%s/%s", below, l->receiving);
	}
	/* --chroot: the stream's paths cannot leave the directory; -e: one subvolume,
	 * ended by the stream's end command (a truncated stream fails). */
	char *dest = t->mounted ? child_path : receiving_path;
	char *argv[] = { (char *)btrfs, (char *)"receive", (char *)"--chroot", (char *)"-e", dest,
			 NULL };
	struct stat dest_st;
	if (fstatat(t->state_fd, l->receiving, &dest_st, AT_SYMLINK_NOFOLLOW) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot stat '%s'", receiving_path);
	int in = -1;
	pid_t pid = spawn(argv, &in, NULL, err_fd, t->mounted ? top : -1, dest, &dest_st);
	if (pid < 0)
		return txn_fail(error, TXN_ABORTED, (int)pid, "cannot run '%s receive'", btrfs);
	bool read_error = false;
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
	int pumped = pump(l->ro->in_fd, head->bytes, head->len, in, &read_error);
	signal(SIGPIPE, old_pipe);
	close(in);
	if (pumped == -EINTR)
		kill(pid, SIGKILL);
	int status = wait_child(pid);
	int r = pumped == -EINTR ? staged_interrupted(error) : 0;
	if (r < 0)
		return r;
	char why[512];
	last_line(err_fd, why, sizeof(why));
	if (status == SPAWN_UNTRUSTED)
		return txn_fail(error, TXN_ABORTED, 0,
				"refusing to receive into '%s': %s; btrfs receive finds its "
				"destination by path, so every directory on the way to the state "
				"directory must be one only root can change; nothing was changed",
				t->path, why[0] ? why : "a directory on the way failed the check");
	if (read_error)
		return txn_fail(error, TXN_ABORTED, pumped, "cannot read the stream");
	if (status != 0) {
		char line[320];
		if (why[0])
			snprintf(line, sizeof(line), "%.300s", why);
		else if (status > 128)
			snprintf(line, sizeof(line), "killed by signal %d", status - 128);
		else
			snprintf(line, sizeof(line), "exit status %d", status);
		return txn_fail(error, TXN_ABORTED, 0,
				"btrfs receive failed: %s; the stream is incomplete or damaged, "
				"nothing was changed", line);
	}
	if (pumped < 0)
		return txn_fail(error, TXN_ABORTED, pumped, "cannot pass the stream to btrfs receive");
	/* What btrfs receive made: exactly the stream's subvolume, read-only, with the
	 * stream's UUID as its received UUID (set only once the stream ended well). */
	_cleanup_close_ int dir_fd = openat(t->state_fd, l->receiving,
					    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int sub = dir_fd >= 0 ? openat(dir_fd, h->name, O_RDONLY | O_DIRECTORY |
							       O_NOFOLLOW | O_CLOEXEC) : -EBADF;
	struct btrfs_util_subvolume_info info;
	bool read_only = false;
	char got_uuid[37] = "";
	if (sub >= 0 && btrfs_util_subvolume_info_fd(sub, 0, &info) == BTRFS_UTIL_OK &&
	    btrfs_util_get_subvolume_read_only_fd(sub, &read_only) == BTRFS_UTIL_OK)
		uuid_format(info.received_uuid, got_uuid);
	/* Only that subvolume: a stream whose paths climbed out of it (btrfs receive
	 * resolves them inside the chroot) left something beside it. */
	size_t entries = 0;
	int list_fd = dir_fd >= 0 ? openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	DIR *list = list_fd >= 0 ? fdopendir(list_fd) : NULL;
	for (struct dirent *e; list && (e = readdir(list));)
		entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (list)
		closedir(list);
	else if (list_fd >= 0)
		close(list_fd);
	if (entries != 1)
		return txn_fail(error, TXN_ABORTED, 0,
				"btrfs receive wrote outside the stream's subvolume '%s' (in '%s'): "
				"the stream is malformed or hostile; nothing was changed",
				h->name, receiving_path);
	if (!read_only || strcmp(got_uuid, h->uuid) != 0)
		return txn_fail(error, TXN_ABORTED, 0,
				"btrfs receive did not leave a complete read-only subvolume '%s' "
				"in '%s'; nothing was changed", h->name, receiving_path);
	/* An incremental stream starts from a snapshot of its parent: the one we
	 * checked for before (another subvolume claiming the parent's received UUID
	 * could have been taken instead, see received_uuid_first()). */
	char got_parent[37];
	uuid_format(info.parent_uuid, got_parent);
	if (l->parent_uuid[0] && strcmp(got_parent, l->parent_uuid) != 0)
		return txn_fail(error, TXN_ABORTED, 0,
				"btrfs receive built '%s' on another subvolume (uuid %s) than the "
				"parent it was to take (uuid %s); nothing was changed",
				h->name, got_parent, l->parent_uuid);
	/* Complete: the directory it is in becomes recv-TXID (the read-only subvolume
	 * itself cannot move to another directory). */
	if (renameat(t->state_fd, l->receiving, t->state_fd, l->received) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot rename '%s' to '%s/%s'",
				receiving_path, t->state_path, l->received);
	staged_step(s, "received", &s->timing->ops);
	return 0;
}

/* R6: a writable snapshot of the received subvolume at journal.staging, recorded
 * (staged_record()), and the mark the next receive judges drift by. */
static int receive_stage(struct staged_txn *s, struct landing *l, struct txn_error *error)
{
	struct target *t = s->target;
	struct journal *j = &s->journal;
	struct tree_mark *landed = &l->landed;
	/* The moment after which a change of the landed tree is drift, stamped by the
	 * kernel (modified.c): every ctime btrfs receive stamped lies before it (an
	 * inode rewritten later only for its atime keeps that ctime), every later
	 * change at or after it. Nothing but us writes the staging before the
	 * exchange. */
	int r = tree_mark_stamp(t->state_fd, &landed->since);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot change the ctime of '%s'",
				t->state_path);
	char received_path[sizeof(t->state_path) + sizeof(l->subvolume) + 1];
	snprintf(received_path, sizeof(received_path), "%s/%s", t->state_path, l->subvolume);
	_cleanup_close_ int received_fd = openat(t->state_fd, l->subvolume,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (received_fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", received_path);
	r = staged_snapshot(s, received_fd, received_path, error);
	if (r < 0)
		return r;
	/* Any inode of the landed tree written after the staging's own transaction
	 * is a change. */
	struct btrfs_util_subvolume_info staging_info;
	struct stat staging_root;
	errno = 0;
	r = btrfs_error(btrfs_util_subvolume_info_fd(s->staging_fd, 0, &staging_info));
	if (r == 0 && fstat(s->staging_fd, &staging_root) < 0)
		r = -errno;
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read subvolume info of '%s/%s'",
				t->state_path, j->staging);
	landed->generation = staging_info.otransid;
	landed->after_transid = staging_info.otransid;
	landed->root_mode = staging_root.st_mode;
	landed->root_uid = staging_root.st_uid;
	landed->root_gid = staging_root.st_gid;
	r = root_print_take(s->staging_fd, &landed->root_print);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read the root of '%s/%s'", t->state_path,
				j->staging);
	landed->has_root_print = true;
	return 0;
}

/* The method_record of the phases (internal.h). Before the exchange (R8): the
 * pending record in received.json, durable, which recovery that finishes the
 * commit makes the newest received one. After the commit: that, done here. */
static int receive_record(struct staged_txn *s, bool committed, struct txn_error *error)
{
	struct landing *l = s->method_ctx;
	struct target *t = s->target;
	struct journal *j = &s->journal;
	const struct stream_head *h = &l->head->h;
	int r;
	if (committed) {
		r = received_recover(t->state_fd, j->txid, true);
		return r < 0 ? txn_fail(error, TXN_NEEDS_PERSON, r, "cannot update '%s/received.json'",
					t->state_path)
			     : 0;
	}
	json_t *pending = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s?, s:s?, s:s?, s:o}",
				    "txid", j->txid, "subvolume", l->subvolume, "received_uuid",
				    h->uuid, "tree_uuid", j->staging_uuid, "received_at", j->started,
				    "stream", h->parent_uuid[0] ? "incremental" : "full", "generation",
				    (json_int_t)j->to_generation, "origin_lineage",
				    h->has_origin ? h->origin.lineage : NULL, "origin_txid",
				    h->has_origin && h->origin.txid[0] ? h->origin.txid : NULL,
				    "parent_uuid", h->parent_uuid[0] ? h->parent_uuid : NULL, "mark",
				    mark_json(&l->landed));
	if (pending && h->has_origin)
		json_object_set_new(pending, "origin_generation",
				    json_integer((json_int_t)h->origin.generation));
	json_object_set_new(l->doc, "pending", pending);
	if (h->has_origin)
		json_object_set_new(l->doc, "lineage", json_string(h->origin.lineage));
	else
		json_object_del(l->doc, "lineage");
	r = pending ? received_write(t->state_fd, l->doc) : -ENOMEM;
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot write '%s/received.json'", t->state_path);
	staged_step(s, "receive-recorded", &s->timing->swap);
	return 0;
}

/* The parent btrfs receive will take for a stream against @received: the first
 * subvolume the UUID tree lists (received_uuid_first()). Ours (@parent_name in the
 * state directory), or another copy that root received (read-only, its root
 * directory root's, so that only root could have given it that received UUID:
 * plain btrfs receive into the same filesystem makes one). Anything else, a
 * subvolume whose owner gave it our parent's received UUID, would become the
 * target's tree: refused. The taken parent's own UUID goes to @ret_uuid, for the
 * check after the receive. Return: 0 or the refusal. */
static int parent_is_first(struct target *t, const char *parent_name, const char *received,
			   char ret_uuid[37], struct txn_error *error)
{
	_cleanup_close_ int fd = openat(t->state_fd, parent_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct btrfs_util_subvolume_info info;
	if (fd < 0 || btrfs_util_subvolume_info_fd(fd, 0, &info) != BTRFS_UTIL_OK)
		return txn_fail(error, TXN_ABORTED, fd < 0 ? errno : 0, "cannot read subvolume info of '%s/%s'",
				t->state_path, parent_name);
	uuid_format(info.uuid, ret_uuid);
	uint64_t first;
	int r = received_uuid_first(t->state_fd, received, &first);
	if (r == 0 && first == 0)
		return txn_fail(error, TXN_ABORTED, 0,
				"the filesystem of '%s' does not list the stream's parent (uuid %s) in its "
				"UUID tree, where btrfs receive looks for it (being rebuilt after an old "
				"kernel mounted it?); try again later or send with --no-parent; nothing "
				"was changed", t->path, received);
	if (r == 0 && first != info.id)
		r = subvolume_root_trusted(t->state_fd, first, ret_uuid);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot look up received uuid %s on the filesystem of '%s'",
				received, t->path);
	if (first != info.id && r == 0)
		return txn_fail(error, TXN_ABORTED, 0,
				"another subvolume (id %llu) on the filesystem of '%s', not read-only "
				"root's, claims to have received the stream's parent (uuid %s), and "
				"btrfs receive would build on it instead of '%s/%s'; delete that "
				"subvolume or send with --no-parent; nothing was changed",
				(unsigned long long)first, t->path, received, t->state_path, parent_name);
	return 0;
}

static int receive_locked(struct target *t, const struct txn_receive_options *ro,
			  const struct stream_start *head, const struct txn_options *options,
			  struct txn_receive_result *result, struct txn_error *error)
{
	struct txn_timing *tm = &result->txn.timing;
	double mark_time = txn_now();
	const struct stream_head *h = &head->h;
	int r;
	result->incremental = h->parent_uuid[0] != '\0';
	if (h->has_origin) {
		result->origin_generation = h->origin.generation;
		snprintf(result->origin_lineage, sizeof(result->origin_lineage), "%s", h->origin.lineage);
		snprintf(result->origin_txid, sizeof(result->origin_txid), "%s", h->origin.txid);
	}

	/* Refusals, before anything is written. */
	json_t *doc = received_read(t->state_fd);
	json_t *last = received_last(doc);
	const char *lineage = json_string_value(json_object_get(doc, "lineage"));
	char last_note[160] = "";
	if (last && json_is_integer(json_object_get(last, "origin_generation")))
		snprintf(last_note, sizeof(last_note), "send with --parent %lld (the newest generation "
			 "received here) or with --no-parent",
			 (long long)json_integer_value(json_object_get(last, "origin_generation")));
	else
		snprintf(last_note, sizeof(last_note), "send with --no-parent");
	char parent_name[NAME_MAX + 72] = "";
	char parent_uuid[37] = "";
	if (result->incremental) {
		find_received(t->state_fd, h->parent_uuid, parent_name, sizeof(parent_name));
		if (!parent_name[0]) {
			r = txn_fail(error, TXN_ABORTED, 0,
				     "the stream is incremental against a subvolume (uuid %s) that '%s' "
				     "does not hold; %s; nothing was changed",
				     h->parent_uuid, t->path, last_note);
			goto refuse;
		}
		r = parent_is_first(t, parent_name, h->parent_uuid, parent_uuid, error);
		if (r < 0)
			goto refuse;
	}
	bool other_lineage = lineage && (!h->has_origin || strcmp(lineage, h->origin.lineage) != 0);
	if (other_lineage && !ro->force) {
		r = txn_fail(error, TXN_ABORTED, 0,
			     "the stream is of another lineage (%s) than '%s' follows (%s); nothing "
			     "was changed: use --force to replace its tree",
			     h->has_origin ? h->origin.lineage : "unknown: not sent by btrfs-txn",
			     t->path, lineage);
		goto refuse;
	}
	uint64_t current = generation_current(t->state_fd);
	if (!last && current > 0 && !ro->force) {
		r = txn_fail(error, TXN_ABORTED, 0,
			     "'%s' is at generation %llu and was never received into: its tree would "
			     "be replaced; nothing was changed: use --force to replace it",
			     t->path, (unsigned long long)current);
		goto refuse;
	}
	/* The transaction, on the phases of snapshot.c: the staging is a snapshot of
	 * the received subvolume, not of T. T is replaced by another tree: writes to
	 * it count as concurrent from the moment we hold the lock, as for a rollback.
	 * The mark is taken before the drift check: a write before it is in the
	 * drift check's commit and refused as drift, one after it is another
	 * writer's (steps 8 and 13); none falls between the two. */
	struct staged_txn s;
	staged_init(&s, t, "receive", &result->txn);
	if (last && !other_lineage) {
		r = staged_mark(&s, error);
		if (r < 0)
			goto refuse;
		txn_step("receive-marked");
		size_t count = 0;
		r = drift_check(t, last, ro->force ? NULL : ro, &count);
		if (r < 0) {
			r = txn_fail(error, TXN_ABORTED, r, "cannot check '%s' for changes since its last receive",
				     t->path);
			goto refuse;
		}
		result->drift = count;
		if (r > 0 && !ro->force) {
			r = txn_fail(error, TXN_ABORTED, 0,
				     "'%s' changed locally since its last receive (%zu change%s listed "
				     "above would be discarded); nothing was changed: use --force to "
				     "discard them",
				     t->path, count, count == 1 ? "" : "s");
			goto refuse;
		}
	}
	tm->preconditions = txn_now() - mark_time;

	s.options = options;
	/* receiving-TXID and recv-TXID are made before the snapshot, and only the
	 * journal names them: it is written back before them, so that any commit
	 * that carries them (btrfs receive's own) carries it. */
	s.journal_early = true;
	/* The staging is a snapshot of the received subvolume: the snapshot's commit
	 * carries what btrfs receive wrote, and only a verify hook writes to it. */
	s.writes_known = !ro->verify.argv;
	struct landing l = { .head = head, .ro = ro, .doc = doc };
	snprintf(l.parent_uuid, sizeof(l.parent_uuid), "%s", parent_uuid);
	s.method_record = receive_record;
	s.method_ctx = &l;
	struct journal *j = &s.journal;
	if (h->has_origin)
		snprintf(j->description, sizeof(j->description),
			 "receive generation %llu of lineage %s (transaction %s)",
			 (unsigned long long)h->origin.generation, h->origin.lineage,
			 h->origin.txid[0] ? h->origin.txid : "none");
	else
		snprintf(j->description, sizeof(j->description), "receive subvolume %s (uuid %s)",
			 h->name, h->uuid);
	if (options && options->description)
		snprintf(j->description, sizeof(j->description), "%s", options->description);
	snprintf(l.receiving, sizeof(l.receiving), RECEIVING_PREFIX "%s", j->txid);
	snprintf(l.received, sizeof(l.received), RECV_PREFIX "%s", j->txid);
	snprintf(l.subvolume, sizeof(l.subvolume), "%s/%s", l.received, h->name);
	snprintf(result->received, sizeof(result->received), "%s", l.received);

	r = staged_begin(&s, true, error);
	if (r == 0)
		r = receive_stream(&s, &l, error);
	if (r == 0)
		r = staged_interrupted(error);
	if (r == 0)
		r = receive_stage(&s, &l, error);
	if (r == 0)
		r = staged_interrupted(error);
	if (r == 0)
		r = txn_verify_run(&ro->verify, s.staging_path, error);
	if (r == 0) {
		staged_step(&s, "verified", &tm->verify);
		r = staged_commit(&s, error);
	}
	unsigned keep = generations_keep(options, NULL);
	if (r < 0 && !s.exchanged) {
		if (s.journaled)
			receive_cleanup(t, j->txid);
		r = staged_abort(&s, r, error);
	} else if (r == 0) {
		r = staged_finish(&s, keep, &result->txn, error);
	}
	staged_close(&s);
	json_decref(doc);
	if (r == 0) {
		doc = received_read(t->state_fd);
		drop_received(t->state_fd, doc, keep);
		json_decref(doc);
	}
	return r;

refuse:
	json_decref(doc);
	return r;
}

/* A first receive made @t (as init would) and then failed before its exchange:
 * the target goes again, so that "nothing was changed" holds, while we still hold
 * its lock. Only while it is as init left it: generation 0, T empty, nothing but
 * files in its state directory (a subvolume left there, or anything in T, and it
 * stays). Best effort: what cannot go stays, an empty target as init makes it. */
static void receive_uncreate(struct target *t)
{
	if (t->mounted || generation_current(t->state_fd) != 0)
		return;
	_cleanup_close_ int list_fd = openat(t->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = list_fd >= 0 ? fdopendir(TAKE_FD(list_fd)) : NULL;
	bool empty = dir != NULL;
	for (struct dirent *e; empty && (e = readdir(dir));)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	if (dir)
		closedir(dir);
	_cleanup_close_ int state_list = openat(t->state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = empty && state_list >= 0 ? fdopendir(TAKE_FD(state_list)) : NULL;
	for (struct dirent *e; dir && empty && (e = readdir(dir));) {
		struct stat st;
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISREG(st.st_mode);
	}
	if (!dir)
		return;
	if (!empty) {
		closedir(dir);
		return;
	}
	/* The name must still be the subvolume we made and hold. */
	if (same_inode_at(t->parent_fd, t->name, t->fd) < 0 || delete_subvolume_at(t->parent_fd, t->name) < 0) {
		closedir(dir);
		return;
	}
	rewinddir(dir);
	for (struct dirent *e; (e = readdir(dir));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	_cleanup_close_ int states_fd = openat(t->parent_fd, STATE_DIR_NAME, O_RDONLY | O_DIRECTORY |
					       O_NOFOLLOW | O_CLOEXEC);
	if (states_fd >= 0)
		unlinkat(states_fd, t->name, AT_REMOVEDIR);
}

int txn_receive(const char *path, const struct txn_receive_options *ro,
		const struct txn_options *options, struct txn_receive_result *ret_result,
		struct txn_error *error)
{
	struct txn_receive_result result = { 0 };
	double start = txn_now();
	/* What the stream is, before anything is touched: a target that does not
	 * exist yet is made only for a stream that can land on an empty one. */
	_cleanup_free_ struct stream_start *head = malloc(sizeof(*head));
	if (!head)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "cannot read the stream");
	int r = stream_start_read(ro->in_fd, head, error);
	if (r < 0)
		return r;
	struct stat st;
	if (lstat(path, &st) < 0 && errno == ENOENT) {
		if (head->h.parent_uuid[0])
			return txn_fail(error, TXN_ABORTED, 0,
					"'%s' does not exist and the stream is incremental (against "
					"uuid %s): send with --no-parent for a first receive; nothing "
					"was changed", path, head->h.parent_uuid);
		/* The first receive on a host: made as init would make it. */
		r = txn_init(path, options, NULL, error);
		if (r < 0)
			return r;
		result.created = true;
	}
	struct target t;
	r = target_open(path, TARGET_CREATE_STATE, &t, error);
	if (r < 0)
		return r;
	r = target_lock(&t, options, error);
	if (r == 0) {
		txn_step("locked");
		struct txn_recover_result rec;
		r = recover_locked(&t, generations_keep(options, NULL), &rec, error);
		result.txn.recovered_first = r == 0 && rec.action != TXN_RECOVERY_NONE;
	}
	if (r == 0)
		r = receive_locked(&t, ro, head, options, &result, error);
	if (r < 0 && result.created)
		receive_uncreate(&t);
	if (r < 0)
		target_note_read_only(&t, error);
	target_close(&t);
	result.txn.timing.total = txn_now() - start;
	if (r == 0 && ret_result)
		*ret_result = result;
	else
		free(result.txn.concurrent);
	return r;
}
