/* SPDX-License-Identifier: MIT */
/*
 * send.c: `send`, a generation of a target as Btrfs's own send stream.
 *
 * The tree sent is first kept as a read-only snapshot sent-N.LINEAGE.TXID in the
 * state directory (received.c says why the name carries the origin). The stream is
 * made by the kernel (BTRFS_IOC_SEND) straight into the caller's descriptor, so it is
 * exactly what `btrfs send` makes and plain `btrfs receive` reads it. The newest sent
 * snapshots are kept: one of them is the parent of the next incremental stream, which
 * a receiver can apply only if it holds the subvolume received from it.
 *
 * Sending the live tree twice at the same generation reuses the first snapshot when
 * the tree did not change in between (modified.c): the same stream, the same UUID,
 * so every destination of a push gets a stream with the same parent chain.
 */
#include "internal.h"
#include "received.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/btrfs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

struct find_txid {
	uint64_t generation;
	char txid[40];
};

static bool txid_of_generation(json_t *line, void *ctx)
{
	struct find_txid *f = ctx;
	const char *result = json_string_value(json_object_get(line, "result"));
	const char *txid = json_string_value(json_object_get(line, "txid"));
	json_t *generation = json_object_get(line, "generation");
	if (result && txid && !strcmp(result, "committed") && json_is_integer(generation) &&
	    (uint64_t)json_integer_value(generation) == f->generation) {
		snprintf(f->txid, sizeof(f->txid), "%s", txid);
		return true; /* read newest first: the last line that made it */
	}
	return false;
}

/* The sent snapshots of @lineage kept in the state directory, by generation. */
struct sent_entry {
	char name[NAME_MAX + 1];
	struct sent_name parsed;
};

static int sent_list(int state_fd, const char *lineage, struct sent_entry **ret, size_t *ret_n)
{
	int fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	struct sent_entry *list = NULL;
	size_t n = 0;
	struct dirent *entry;
	int r = 0;
	while ((entry = readdir(dir))) {
		struct sent_name s;
		if (!sent_name_parse(entry->d_name, &s) || strcmp(s.lineage, lineage) != 0)
			continue;
		struct sent_entry *grown = realloc(list, (n + 1) * sizeof(*list));
		if (!grown) {
			r = -ENOMEM;
			break;
		}
		list = grown;
		snprintf(list[n].name, sizeof(list[n].name), "%s", entry->d_name);
		list[n++].parsed = s;
	}
	closedir(dir);
	if (r < 0) {
		free(list);
		return r;
	}
	/* oldest first */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && list[k - 1].parsed.generation > list[k].parsed.generation; k--) {
			struct sent_entry tmp = list[k];
			list[k] = list[k - 1];
			list[k - 1] = tmp;
		}
	*ret = list;
	*ret_n = n;
	return 0;
}

/* Whether the live tree at @t_fd is still what the read-only snapshot at @sent_fd
 * took of it: the snapshot's source is this subvolume, and no inode of it changed
 * in a transaction after the snapshot's (modified.c). */
static bool live_unchanged(int t_fd, int sent_fd)
{
	char t_uuid[37], sent_parent[37];
	struct btrfs_util_subvolume_info info;
	struct stat root;
	if (subvolume_identity(t_fd, t_uuid, NULL, NULL) < 0 ||
	    subvolume_identity(sent_fd, NULL, NULL, sent_parent) < 0 || strcmp(t_uuid, sent_parent))
		return false;
	errno = 0;
	if (btrfs_error(btrfs_util_subvolume_info_fd(sent_fd, 0, &info)) < 0 || fstat(sent_fd, &root) < 0)
		return false;
	if (sync_fs(t_fd) < 0)
		return false;
	struct tree_mark mark = {
		.generation = info.otransid,
		.since = info.otime,
		.root_mode = root.st_mode,
		.root_uid = root.st_uid,
		.root_gid = root.st_gid,
		.after_transid = info.otransid,
	};
	struct tree_changes changes;
	return tree_changes_since(t_fd, &mark, &changes) == 0 && changes.count == 0;
}

/* The name of the sent snapshot of @generation, sent-N.LINEAGE.TXID, whether it
 * exists or not; with @create, the lineage is written when the target has none yet. */
static int sent_name_of(int state_fd, uint64_t generation, bool create, struct sent_name *ret_name,
			char ret_sent[NAME_MAX + 1])
{
	struct sent_name name = { .generation = generation };
	int r = lineage_get(state_fd, create, name.lineage);
	if (r < 0)
		return r;
	struct find_txid find = { .generation = generation };
	history_each_reverse(state_fd, txid_of_generation, &find);
	snprintf(name.txid, sizeof(name.txid), "%s", find.txid);
	sent_name_format(&name, ret_sent, NAME_MAX + 1);
	*ret_name = name;
	return 0;
}

static int subvolume_root_id(int fd, uint64_t *ret)
{
	errno = 0;
	return btrfs_error(btrfs_util_subvolume_id_fd(fd, ret));
}

/* With the lock: the snapshot to send and its parent, opened for the caller, who
 * sends them after releasing the lock (a send takes as long as the stream is slow
 * to read; the kernel refuses to delete a subvolume while it is being sent). */
static int send_prepare(struct target *t, const struct txn_send_options *send_options,
			unsigned keep, struct txn_send_result *result, int *ret_sent_fd,
			int *ret_parent_fd, uint64_t *ret_parent_id, struct txn_error *error)
{
	uint64_t current = generation_current(t->state_fd);
	uint64_t generation = send_options ? send_options->generation : TXN_GENERATION_LIVE;
	uint64_t want_parent = send_options ? send_options->parent : TXN_SEND_PARENT_AUTO;
	bool live = generation == TXN_GENERATION_LIVE || generation == current;
	if (live)
		generation = current;
	if (generation > current)
		return txn_fail(error, TXN_INVALID, 0, "'%s' is at generation %llu; there is no generation %llu",
				t->path, (unsigned long long)current, (unsigned long long)generation);
	char gen_name[32];
	snprintf(gen_name, sizeof(gen_name), "gen-%llu", (unsigned long long)generation);
	_cleanup_close_ int source_fd = -EBADF;
	if (!live) {
		source_fd = openat(t->state_fd, gen_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (source_fd < 0)
			return txn_fail(error, TXN_INVALID, errno == ENOENT ? 0 : errno,
					"generation %llu of '%s' is not kept ('btrfs-txn status' lists those "
					"that are)", (unsigned long long)generation, t->path);
	}
	struct sent_name name;
	char sent[NAME_MAX + 1];
	int r = sent_name_of(t->state_fd, generation, true, &name, sent);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot read or write '%s/lineage'", t->state_path);

	_cleanup_free_ struct sent_entry *list = NULL;
	size_t n = 0;
	r = sent_list(t->state_fd, name.lineage, &list, &n);
	if (r < 0)
		return txn_fail(error, TXN_ABORTED, r, "cannot list '%s'", t->state_path);
	/* The parent: a sent snapshot of an earlier generation. */
	const struct sent_entry *parent = NULL;
	if (want_parent != TXN_SEND_NO_PARENT) {
		for (size_t i = 0; i < n; i++)
			if (list[i].parsed.generation < generation &&
			    (want_parent == TXN_SEND_PARENT_AUTO || list[i].parsed.generation == want_parent))
				parent = &list[i];
		if (!parent && want_parent != TXN_SEND_PARENT_AUTO) {
			char kept[256] = "";
			size_t len = 0;
			for (size_t i = 0; i < n && len + 24 < sizeof(kept); i++)
				len += (size_t)snprintf(kept + len, sizeof(kept) - len, "%s%llu",
							len ? ", " : "",
							(unsigned long long)list[i].parsed.generation);
			return txn_fail(error, TXN_INVALID, 0,
					"generation %llu of '%s' is not kept as sent (%s%s), or is not "
					"older than generation %llu: choose another --parent or --no-parent",
					(unsigned long long)want_parent, t->path,
					len ? "sent and kept: " : "nothing sent is kept", kept,
					(unsigned long long)generation);
		}
	}

	/* The snapshot to send: reused when it exists and still is that tree. */
	_cleanup_close_ int sent_fd = openat(t->state_fd, sent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sent_fd >= 0 && live && !live_unchanged(t->fd, sent_fd)) {
		close(TAKE_FD(sent_fd));
		r = delete_subvolume_at(t->state_fd, sent);
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "cannot replace '%s/%s'", t->state_path, sent);
	}
	if (sent_fd < 0) {
		errno = 0;
		r = btrfs_error(btrfs_util_create_snapshot_fd2(live ? t->fd : source_fd, t->state_fd, sent,
							       BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL,
							       NULL));
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "cannot snapshot '%s' to '%s/%s'",
					live ? t->path : gen_name, t->state_path, sent);
		txn_step("send-snapshotted");
		sent_fd = openat(t->state_fd, sent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sent_fd < 0)
			return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s/%s'", t->state_path, sent);
	}
	uint64_t parent_id = 0;
	_cleanup_close_ int parent_fd = -EBADF;
	if (parent) {
		parent_fd = openat(t->state_fd, parent->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (parent_fd < 0 || subvolume_root_id(parent_fd, &parent_id) < 0)
			return txn_fail(error, TXN_ABORTED, errno, "cannot open the parent '%s/%s'",
					t->state_path, parent->name);
	}
	struct txn_send_result res = { .generation = generation, .incremental = parent != NULL,
				       .parent = parent ? parent->parsed.generation : 0 };
	snprintf(res.snapshot, sizeof(res.snapshot), "%s", sent);
	snprintf(res.lineage, sizeof(res.lineage), "%s", name.lineage);
	subvolume_identity(sent_fd, res.uuid, NULL, NULL);
	/* Keep the newest @keep sent snapshots, always the two this send uses, and
	 * the newest one each known destination holds (push records them). */
	char parent_kept[NAME_MAX + 1] = "";
	if (parent)
		snprintf(parent_kept, sizeof(parent_kept), "%s", parent->name);
	free(TAKE_PTR(list));
	json_t *destinations = destinations_read(t->state_fd);
	if (sent_list(t->state_fd, name.lineage, &list, &n) == 0 && n > keep) {
		for (size_t i = 0; i + keep < n; i++) {
			if (!strcmp(list[i].name, sent) || !strcmp(list[i].name, parent_kept))
				continue;
			char uuid[37] = "";
			_cleanup_close_ int old_fd = openat(t->state_fd, list[i].name, O_RDONLY | O_DIRECTORY |
										 O_NOFOLLOW | O_CLOEXEC);
			if (old_fd < 0 || subvolume_identity(old_fd, uuid, NULL, NULL) < 0 ||
			    destinations_hold(destinations, uuid))
				continue;
			if (delete_subvolume_at(t->state_fd, list[i].name) == 0)
				res.dropped++;
		}
	}
	json_decref(destinations);
	*result = res;
	*ret_sent_fd = TAKE_FD(sent_fd);
	*ret_parent_fd = TAKE_FD(parent_fd);
	*ret_parent_id = parent_id;
	return 0;
}

int txn_send(const char *path, const struct txn_send_options *send_options, int out_fd,
	     const struct txn_options *options, struct txn_send_result *ret_result,
	     struct txn_error *error)
{
	struct target t;
	unsigned keep = generations_keep(options, NULL);
	int r = target_open(path, TARGET_CREATE_STATE, &t, error);
	if (r < 0)
		return r;
	r = target_lock(&t, options, error);
	struct txn_recover_result rec;
	if (r == 0)
		r = recover_locked(&t, keep, &rec, error);
	struct txn_send_result result;
	_cleanup_close_ int sent_fd = -EBADF;
	_cleanup_close_ int parent_fd = -EBADF;
	uint64_t parent_id = 0;
	if (r == 0)
		r = send_prepare(&t, send_options, keep ? keep : 1, &result, &sent_fd, &parent_fd,
				 &parent_id, error);
	char state_path[PATH_MAX];
	snprintf(state_path, sizeof(state_path), "%s", t.state_path);
	target_close(&t);
	if (r < 0)
		return r;
	__u64 clone_source = parent_id;
	struct btrfs_ioctl_send_args args = {
		.send_fd = out_fd,
		.clone_sources_count = parent_fd >= 0 ? 1 : 0,
		.clone_sources = parent_fd >= 0 ? &clone_source : NULL,
		.parent_root = parent_id,
	};
	if (ioctl(sent_fd, BTRFS_IOC_SEND, &args) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot send '%s/%s'%s", state_path,
				result.snapshot, result.incremental ? " incrementally" : "");
	txn_step("sent");
	if (ret_result)
		*ret_result = result;
	return 0;
}

int txn_sent_live(const char *path, uint64_t generation, char ret_uuid[37], struct txn_error *error)
{
	struct target t;
	int r = target_open(path, 0, &t, error);
	if (r < 0)
		return r;
	char uuid[37] = "";
	struct sent_name name;
	char sent[NAME_MAX + 1];
	/* No lock, as for status: a transaction committing meanwhile swaps in another
	 * subvolume, which live_unchanged() tells from the one the snapshot was taken
	 * of (the answer is then "", and the caller sends). */
	if (t.state_fd >= 0 && generation_current(t.state_fd) == generation &&
	    sent_name_of(t.state_fd, generation, false, &name, sent) == 0) {
		_cleanup_close_ int sent_fd = openat(t.state_fd, sent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
								  O_CLOEXEC);
		if (sent_fd >= 0 && live_unchanged(t.fd, sent_fd))
			subvolume_identity(sent_fd, uuid, NULL, NULL);
	}
	target_close(&t);
	memcpy(ret_uuid, uuid, sizeof(uuid));
	return 0;
}

int txn_transfers_json(const char *path, char **ret_text, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, 0, &t, error);
	if (r < 0)
		return r;
	json_t *doc = json_object();
	json_t *sent = json_array();
	json_t *received = json_array();
	char lineage[37] = "";
	if (t.state_fd >= 0 && lineage_get(t.state_fd, false, lineage) == 0) {
		_cleanup_free_ struct sent_entry *list = NULL;
		size_t n = 0;
		if (sent_list(t.state_fd, lineage, &list, &n) == 0)
			for (size_t i = 0; i < n; i++) {
				char uuid[37] = "";
				_cleanup_close_ int fd = openat(t.state_fd, list[i].name, O_RDONLY | O_DIRECTORY |
											  O_NOFOLLOW | O_CLOEXEC);
				if (fd >= 0)
					subvolume_identity(fd, uuid, NULL, NULL);
				json_array_append_new(sent, json_pack("{s:I, s:s, s:s, s:s?}", "generation",
								      (json_int_t)list[i].parsed.generation,
								      "subvolume", list[i].name, "uuid", uuid,
								      "txid", list[i].parsed.txid[0]
									      ? list[i].parsed.txid : NULL));
			}
	}
	json_object_set_new(doc, "lineage", lineage[0] ? json_string(lineage) : json_null());
	json_object_set_new(doc, "destinations", t.state_fd >= 0 ? destinations_read(t.state_fd)
								 : json_object());
	if (t.state_fd >= 0) {
		json_t *state = received_read(t.state_fd);
		size_t i;
		json_t *entry;
		json_array_foreach(json_object_get(state, "received"), i, entry) {
			json_t *copy = json_deep_copy(entry);
			json_object_del(copy, "mark");
			json_array_append_new(received, copy);
		}
		json_object_set(doc, "received_lineage",
				json_object_get(state, "lineage") ?: json_null());
		/* The newest receive's tree, still live, changed in place since? (What
		 * the B-tree shows, no commit: status stays read-only and cheap.) */
		json_t *last = received_last(state);
		size_t changed = 0;
		if (last && received_changed_in_place(t.fd, last, &changed) == 0)
			json_object_set_new(doc, "changed_in_place", json_integer((json_int_t)changed));
		json_decref(state);
	}
	json_object_set_new(doc, "sent", sent);
	json_object_set_new(doc, "received", received);
	target_close(&t);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return txn_fail(error, TXN_ABORTED, ENOMEM, "cannot describe '%s'", path);
	*ret_text = text;
	return 0;
}

int txn_destination_record(const char *path, const char *destination, uint64_t generation,
			   bool forget, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, 0, &t, error);
	if (r < 0)
		return r;
	if (t.state_fd < 0) {
		target_close(&t);
		return txn_fail(error, TXN_INVALID, 0, "'%s' has never been sent", path);
	}
	r = target_lock(&t, NULL, error);
	if (r < 0) {
		target_close(&t);
		return r;
	}
	json_t *doc = destinations_read(t.state_fd);
	if (forget) {
		if (json_object_del(doc, destination) < 0)
			r = txn_fail(error, TXN_INVALID, 0, "'%s' is not a known destination of '%s'",
				     destination, path);
	} else {
		char lineage[37];
		_cleanup_free_ struct sent_entry *list = NULL;
		size_t n = 0;
		char uuid[37] = "";
		if (lineage_get(t.state_fd, false, lineage) == 0 &&
		    sent_list(t.state_fd, lineage, &list, &n) == 0)
			for (size_t i = 0; i < n; i++)
				if (list[i].parsed.generation == generation) {
					_cleanup_close_ int fd = openat(t.state_fd, list[i].name,
									O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
										O_CLOEXEC);
					if (fd >= 0)
						subvolume_identity(fd, uuid, NULL, NULL);
				}
		if (!uuid[0])
			r = txn_fail(error, TXN_INVALID, 0, "generation %llu of '%s' is not kept as sent",
				     (unsigned long long)generation, path);
		else {
			char now[32];
			utc_now(now);
			json_object_set_new(doc, destination,
					    json_pack("{s:I, s:s, s:s}", "generation", (json_int_t)generation,
						      "uuid", uuid, "time", now));
		}
	}
	if (r == 0) {
		r = destinations_write(t.state_fd, doc);
		if (r < 0)
			r = txn_fail(error, TXN_ABORTED, r, "cannot write '%s/destinations.json'", t.state_path);
	}
	json_decref(doc);
	target_close(&t);
	return r;
}
