/* SPDX-License-Identifier: MIT */
/*
 * received.h: the state send and receive keep beside the generations (received.c).
 * Internal to libbtrfs-txn.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SENT_PREFIX "sent-"
#define RECV_PREFIX "recv-"
#define RECEIVING_PREFIX "receiving-"

/* Reads the target's lineage UUID into @ret_lineage; with @create, makes one (durably)
 * when there is none. Return: 0, -ENOENT (none and !@create) or -errno. */
int lineage_get(int state_fd, bool create, char ret_lineage[37]);

/* What the name of a sent snapshot (and so of the stream's subvolume) says. */
struct sent_name {
	uint64_t generation;
	char lineage[37];
	char txid[40];            /* "" when generation N has no transaction */
};
bool sent_name_parse(const char *name, struct sent_name *ret);
void sent_name_format(const struct sent_name *s, char *buf, size_t size);

struct json_t;
/* received.json: always an object with a "received" array (empty when absent or
 * unreadable). The caller json_decref()s it. */
struct json_t *received_read(int state_fd);
/* Replaces received.json durably. Return: 0 or -errno. */
int received_write(int state_fd, struct json_t *doc);
/* The newest committed receive (borrowed), or NULL. */
struct json_t *received_last(struct json_t *doc);
/* Removes every receiving-* directory and the subvolumes in it. Return: 0 or the
 * first -errno, naming the directory in @ret_failed; counts them in @ret_removed. */
int received_discard_partial(int state_fd, unsigned *ret_removed, char *ret_failed, size_t size);
/* Removes the directory @name of @state_fd with everything in it, subvolumes
 * included, however deep (absent: 0). Return: 0 or -errno. */
int received_remove_dir(int state_fd, const char *name);
struct tree_mark;
/* The drift mark of a received.json entry ("mark"). */
bool received_mark_from_json(struct json_t *obj, struct tree_mark *ret);
/* How many inodes of the tree @t_fd changed in place since the receive @last landed
 * it, as far as the B-tree shows now (a change not yet committed may be missing:
 * receive itself syncs first). Return: 0 with *@ret_count, -ESTALE when @t_fd is
 * not the tree @last landed (a transaction replaced it), or -errno. */
int received_changed_in_place(int t_fd, struct json_t *last, size_t *ret_count);
/* Recovery of a receive journaled as @txid; see received.c. */
int received_recover(int state_fd, const char *txid, bool committed);
/* destinations.json (sender): {"DEST": {"generation", "uuid", "time"}}; an empty
 * object when absent. The caller json_decref()s it. */
struct json_t *destinations_read(int state_fd);
int destinations_write(int state_fd, struct json_t *doc);
/* Whether a destination holds the sent snapshot of UUID @uuid as its newest parent. */
bool destinations_hold(struct json_t *doc, const char *uuid);
