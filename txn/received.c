/* SPDX-License-Identifier: MIT */
/*
 * received.c: what send and receive keep in a target's state directory, beside the
 * generations, and the leftovers of an interrupted receive.
 *
 *   lineage         a random UUID naming the line of trees a sender's target makes;
 *                   written on its first send, never changed (a receiver records the
 *                   lineage it follows, to refuse a stream of another one)
 *   sent-N.L.TXID   read-only snapshot of generation N, as sent (L: lineage, TXID: the
 *                   transaction that made generation N, "0" when none). The name is
 *                   the subvolume's name inside the stream, so it carries the origin
 *                   to the receiver without a format of our own.
 *   recv-TXID/NAME  the read-only subvolume received by transaction TXID (NAME: the
 *                   stream's), never made writable: the parent of the next incremental
 *                   stream. It stays in the directory btrfs receive made it in (a
 *                   read-only subvolume cannot move to another directory: EROFS);
 *                   that directory is renamed from receiving-TXID once complete
 *   received.json   the receives that committed, oldest first, and the one in flight
 *                   ("pending", written before its exchange so that recovery can
 *                   finish it); see received_record_*()
 *   receiving-TXID  an empty directory btrfs receive writes into; present only while
 *                   a receive runs or after one was interrupted
 *   destinations.json  (sender) for each destination push landed a generation on,
 *                   that generation and the UUID of its sent snapshot: the newest
 *                   parent both hold, which send's keep rule never drops
 *
 * Level 4 in txn/README.md: called by receive.c, send.c, recover.c and status.
 */
#include "internal.h"
#include "received.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/btrfs_tree.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define LINEAGE_NAME "lineage"
#define RECEIVED_NAME "received.json"

int lineage_get(int state_fd, bool create, char ret_lineage[37])
{
	char buf[64] = "";
	_cleanup_close_ int fd = openat(state_fd, LINEAGE_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n >= 36) {
			buf[36] = '\0';
			memcpy(ret_lineage, buf, 37);
			return 0;
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (!create)
		return -ENOENT;
	uint8_t raw[16];
	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return -EIO;
	raw[6] = (raw[6] & 0x0f) | 0x40;
	raw[8] = (raw[8] & 0x3f) | 0x80;
	uuid_format(raw, buf);
	_cleanup_close_ int out = openat(state_fd, LINEAGE_NAME ".tmp",
					 O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	int r = write_all(out, buf, 36);
	if (r == 0)
		r = write_all(out, "\n", 1);
	if (r == 0)
		r = fsync_fd(out);
	if (r == 0 && renameat(state_fd, LINEAGE_NAME ".tmp", state_fd, LINEAGE_NAME) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_fd(state_fd);
	if (r < 0)
		return r;
	memcpy(ret_lineage, buf, 37);
	return 0;
}

bool sent_name_parse(const char *name, struct sent_name *ret)
{
	struct sent_name s = { 0 };
	unsigned long long generation;
	int used = 0;
	if (sscanf(name, "sent-%llu.%36[0-9a-f-].%39[0-9A-Za-z-]%n", &generation, s.lineage, s.txid,
		   &used) != 3 ||
	    name[used] != '\0' || strlen(s.lineage) != 36)
		return false;
	s.generation = generation;
	if (strcmp(s.txid, "0") == 0)
		s.txid[0] = '\0';
	*ret = s;
	return true;
}

void sent_name_format(const struct sent_name *s, char *buf, size_t size)
{
	snprintf(buf, size, "sent-%llu.%s.%s", (unsigned long long)s->generation, s->lineage,
		 s->txid[0] ? s->txid : "0");
}

json_t *received_read(int state_fd)
{
	_cleanup_close_ int fd = openat(state_fd, RECEIVED_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	json_t *doc = fd >= 0 ? json_loadfd(fd, 0, NULL) : NULL;
	if (!json_is_object(doc)) {
		json_decref(doc);
		doc = json_object();
	}
	if (!json_is_array(json_object_get(doc, "received")))
		json_object_set_new(doc, "received", json_array());
	return doc;
}

int received_write(int state_fd, json_t *doc)
{
	/* Replaced whole, durably: recovery reads "pending" after a crash. */
	int r = state_write_json(state_fd, RECEIVED_NAME ".tmp", json_incref(doc), true);
	if (r == 0 && renameat(state_fd, RECEIVED_NAME ".tmp", state_fd, RECEIVED_NAME) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_fd(state_fd);
	return r;
}

json_t *received_last(json_t *doc)
{
	json_t *list = json_object_get(doc, "received");
	size_t n = json_array_size(list);
	return n ? json_array_get(list, n - 1) : NULL;
}

/* Empties the directory @top_fd (which stays): files and links unlinked, subvolumes
 * deleted, directories emptied and removed, however deep they nest. A hostile stream
 * can build any tree beside its subvolume (btrfs receive --chroot keeps it inside the
 * receiving directory, not inside the subvolume), deeper than we could hold a
 * descriptor per level: this holds two at a time, goes down into the first directory
 * that is not empty and back up through "..", which leads the way it came since only
 * root writes below the state directory. Return: 0 or the first -errno (something
 * that cannot be removed: it stays, and so does the directory). */
static int empty_dir(int top_fd)
{
	struct stat top;
	if (fstat(top_fd, &top) < 0)
		return -errno;
	int cur = fcntl(top_fd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	int r = 0;
	for (;;) {
		int scan_fd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = scan_fd >= 0 ? fdopendir(scan_fd) : NULL;
		if (!dir) {
			r = -errno;
			if (scan_fd >= 0)
				close(scan_fd);
			break;
		}
		char down[NAME_MAX + 1] = "";
		struct dirent *entry;
		while (!down[0] && (entry = readdir(dir))) {
			if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
				continue;
			struct stat st;
			int e = 0;
			bool is_dir = false;
			if (fstatat(cur, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				e = errno == ENOENT ? 0 : -errno;
			else if ((is_dir = S_ISDIR(st.st_mode)) && st.st_ino == BTRFS_FIRST_FREE_OBJECTID)
				e = delete_subvolume_at(cur, entry->d_name);
			else if (unlinkat(cur, entry->d_name, is_dir ? AT_REMOVEDIR : 0) < 0)
				e = -errno;
			if (is_dir && st.st_ino != BTRFS_FIRST_FREE_OBJECTID && (e == -ENOTEMPTY || e == -EEXIST)) {
				snprintf(down, sizeof(down), "%s", entry->d_name);
				e = 0;
			}
			if (e < 0 && e != -ENOENT && r == 0)
				r = e;
		}
		closedir(dir);
		int next;
		if (down[0]) {
			next = openat(cur, down, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			/* @cur is empty but for what could not go: up again, where the next
			 * scan removes it, or done. */
			struct stat st;
			if (r < 0 || fstat(cur, &st) < 0 || (st.st_dev == top.st_dev && st.st_ino == top.st_ino))
				break;
			next = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (next < 0) {
			r = -errno;
			break;
		}
		close(cur);
		cur = next;
	}
	close(cur);
	return r;
}

int received_remove_dir(int state_fd, const char *name)
{
	int fd = openat(state_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int r = empty_dir(fd);
	close(fd);
	if (r == 0 && unlinkat(state_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

bool received_mark_from_json(json_t *obj, struct tree_mark *ret)
{
	json_int_t generation, sec, nsec, mode, uid, gid, transid;
	json_int_t p_mode, p_uid, p_gid, p_flags, p_size, p_nlink, p_sec, p_nsec, p_xattrs;
	if (json_unpack(obj, "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
			"generation", &generation, "sec", &sec, "nsec", &nsec, "mode", &mode, "uid",
			&uid, "gid", &gid, "transid", &transid, "root", "mode", &p_mode, "uid", &p_uid,
			"gid", &p_gid, "flags", &p_flags, "size", &p_size, "nlink", &p_nlink,
			"mtime_sec", &p_sec, "mtime_nsec", &p_nsec, "xattrs", &p_xattrs) != 0)
		return false;
	*ret = (struct tree_mark){ .generation = (uint64_t)generation,
				   .since = { .tv_sec = (time_t)sec, .tv_nsec = (long)nsec },
				   .root_mode = (unsigned)mode, .root_uid = (unsigned)uid,
				   .root_gid = (unsigned)gid, .after_transid = (uint64_t)transid,
				   .has_root_print = true,
				   .root_print = { .mode = (unsigned)p_mode, .uid = (unsigned)p_uid,
						   .gid = (unsigned)p_gid, .flags = (unsigned)p_flags,
						   .size = (uint64_t)p_size, .nlink = (uint64_t)p_nlink,
						   .mtime_sec = (int64_t)p_sec, .mtime_nsec = (long)p_nsec,
						   .xattrs = (uint64_t)p_xattrs } };
	return true;
}

int received_changed_in_place(int t_fd, json_t *last, size_t *ret_count)
{
	char uuid[37];
	int r = subvolume_identity(t_fd, uuid, NULL, NULL);
	if (r < 0)
		return r;
	const char *tree_uuid = json_string_value(json_object_get(last, "tree_uuid"));
	struct tree_mark mark;
	if (!tree_uuid || strcmp(tree_uuid, uuid) != 0 || !received_mark_from_json(json_object_get(last, "mark"), &mark))
		return -ESTALE;
	struct tree_changes changes;
	r = tree_changes_since(t_fd, &mark, &changes);
	if (r < 0)
		return r;
	*ret_count = changes.count;
	return 0;
}

int received_discard_partial(int state_fd, unsigned *ret_removed, char *ret_failed, size_t size)
{
	int fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	int r = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (strncmp(entry->d_name, RECEIVING_PREFIX, strlen(RECEIVING_PREFIX)) != 0)
			continue;
		int e = received_remove_dir(state_fd, entry->d_name);
		if (e < 0 && r == 0) {
			r = e;
			if (ret_failed)
				snprintf(ret_failed, size, "%s", entry->d_name);
		} else if (e == 0 && ret_removed) {
			(*ret_removed)++;
		}
	}
	closedir(dir);
	return r;
}

/* The pending receive of transaction @txid after a crash: committed (the exchange
 * happened) makes it the newest received one; not committed deletes its received
 * subvolume, which no record names. */
int received_recover(int state_fd, const char *txid, bool committed)
{
	json_t *doc = received_read(state_fd);
	json_t *pending = json_object_get(doc, "pending");
	const char *pending_txid = json_string_value(json_object_get(pending, "txid"));
	int r = 0;
	bool ours = pending_txid && strcmp(pending_txid, txid) == 0;
	if (ours && committed) {
		json_array_append(json_object_get(doc, "received"), pending);
		json_object_del(doc, "pending");
		r = received_write(state_fd, doc);
	} else if (ours || !committed) {
		if (ours) {
			json_object_del(doc, "pending");
			r = received_write(state_fd, doc);
		}
		char name[64];
		snprintf(name, sizeof(name), RECV_PREFIX "%s", txid);
		if (r == 0)
			r = received_remove_dir(state_fd, name);
	}
	json_decref(doc);
	return r;
}

#define DESTINATIONS_NAME "destinations.json"

json_t *destinations_read(int state_fd)
{
	_cleanup_close_ int fd = openat(state_fd, DESTINATIONS_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	json_t *doc = fd >= 0 ? json_loadfd(fd, 0, NULL) : NULL;
	if (!json_is_object(doc)) {
		json_decref(doc);
		doc = json_object();
	}
	return doc;
}

int destinations_write(int state_fd, json_t *doc)
{
	int r = state_write_json(state_fd, DESTINATIONS_NAME ".tmp", json_incref(doc), true);
	if (r == 0 && renameat(state_fd, DESTINATIONS_NAME ".tmp", state_fd, DESTINATIONS_NAME) < 0)
		r = -errno;
	return r;
}

bool destinations_hold(json_t *doc, const char *uuid)
{
	const char *key;
	json_t *value;
	json_object_foreach(doc, key, value) {
		const char *held = json_string_value(json_object_get(value, "uuid"));
		if (held && !strcmp(held, uuid))
			return true;
	}
	return false;
}
