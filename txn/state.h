/* SPDX-License-Identifier: MIT */
/*
 * state.h: a target opened for a transaction (its parent, its state directory, its
 * lock), the journal and history.jsonl. Internal to libbtrfs-txn.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "txn.h"

#define STATE_DIR_NAME ".btrfs-txn"
#define JOURNAL_NAME "journal"
#define STAGED_NAME "staged"
#define HISTORY_NAME "history.jsonl"
#define LOCK_NAME "lock"
#define TRANS_MARKER_NAME "trans-inflight"

struct target {
	char path[PATH_MAX];        /* canonical path of T */
	char name[NAME_MAX + 1];    /* its last component */
	char state_path[PATH_MAX];  /* P/.btrfs-txn/NAME */
	int parent_fd;              /* P */
	int fd;                     /* T, O_DIRECTORY */
	int state_fd;               /* the state directory, or -1 when it does not exist */
	int lock_fd;                /* the lock file while locked, else -1 */
	bool is_subvolume;
	/* A mount point of a subvolume (mounted.c): parent_fd and the state directory
	 * are reached through top_fd, a private mount of the top level. */
	bool mounted;
	bool switch_pending;        /* the name at the top level is not the mounted tree */
	int top_fd;                 /* valid only when mounted */
	int running_fd;             /* mounted: the tree the mount shows; fd is the named one */
	char subvol[PATH_MAX];      /* mounted: the subvolume's path from the top level */
};

enum target_flags {
	TARGET_CREATE_STATE = 1 << 0,  /* make the state directory when missing */
	TARGET_ALLOW_PLAIN_DIR = 1 << 1, /* for init and its recovery */
};

/* Opens @path as a target: checks Btrfs, subvolume (unless allowed), mount point. */
int target_open(const char *path, unsigned flags, struct target *ret_target,
		struct txn_error *error);
void target_close(struct target *target);

/* mounted.c: for a target open at a mount point of a subvolume, reach its parent
 * at the top level through a private mount; fills parent_fd, name, state_path,
 * subvol, top_fd, mounted and switch_pending. */
int mounted_open(struct target *target, struct txn_error *error);
/* 1 when the subvolume named at the top level is not the mounted one (a switch is
 * pending until the next mount), 0 when it is or the target is not mounted, -errno. */
int mounted_pending(const struct target *target);
/* Before a change that switches a mounted target: refuses (TXN_UNSUPPORTED) a
 * mount that would not follow the name (subvolid=N in fstab or rootflags), and
 * makes kept generations that were running trees and that nothing mounts any
 * more read-only, like every other. */
int mounted_prepare_switch(const struct target *target, struct txn_error *error);
/* A new private (detached) mount of the target's top level, for a child that
 * needs the state directory by path (mounted_attach_top()): its fd, or -errno. */
int mounted_top_level_fd(const struct target *target);
/* In a child after fork: a mount namespace of its own, private, with @top_fd
 * attached at MOUNTED_CHILD_TOP (on a tmpfs over /run, nothing of which reaches the
 * caller's namespace). Async-signal-safe. Return: 0 or -errno. */
#define MOUNTED_CHILD_TOP "/run/btrfs-txn-top"
int mounted_attach_top(int top_fd);
/* The state directory's path below the top level (P/.btrfs-txn/NAME). */
void mounted_state_below_top(const struct target *target, char *buf, size_t size);
/* Whether the subvolume open at @fd is the tree the target's mount shows. */
bool mounted_is_running(const struct target *target, int fd);
/* After the exchange (also in recovery): the default subvolume, when it was the
 * old tree now at @old_fd, becomes the tree at the name; 1 when moved, 0, -errno. */
int mounted_follow_default(const struct target *target, int old_fd);
/* --remount: the new tree (UUID @new_uuid) replaces the running one at the mount
 * point; -EBUSY when the mount is in use (always for /), -ESTALE when the name
 * holds another tree. The old tree, mounted nowhere then, becomes read-only. */
int mounted_remount(struct target *target, const char *new_uuid);
/* Fails with TXN_NEEDS_PERSON: switched by name, but the default subvolume could
 * not follow (@r, -errno), so a mount of the default would find the old tree. */
int mounted_default_failed(const struct target *target, int r, struct txn_error *error);
/* The path children (verify hook, run's COMMAND) reach the staging open at @fd by,
 * while this process keeps it open: /proc/PID/fd/FD, since the private mount of
 * the top level has no path of its own. */
void mounted_staging_path(int fd, char *buf, size_t size);
struct journal;
/* After the exchange of a mounted target: fills the result's switch fields and,
 * when @options ask for it, remounts. */
void mounted_finish(struct target *target, const struct journal *journal,
		    const struct txn_options *options, bool default_moved, struct txn_result *result);

/* Takes the target's lock, waiting as @options says, and records the holder. */
int target_lock(struct target *target, const struct txn_options *options, struct txn_error *error);
/* Names the current holder, read from the lock file (empty when unknown). */
void target_lock_holder(int state_fd, char *buf, size_t size);

/* "xxxxxxxx-xxxx-..." from 16 bytes. */
void uuid_format(const uint8_t uuid[16], char out[37]);
/* UUID and root generation of the subvolume open at @fd. */
int subvolume_identity(int fd, char ret_uuid[37], uint64_t *ret_generation,
		       char ret_parent_uuid[37]);

/* A directory's own attributes, compared whole (modified.c: root_print_take()). */
struct root_print {
	unsigned mode, uid, gid, flags;
	uint64_t size, nlink;       /* a Btrfs directory's size follows its entries */
	int64_t mtime_sec;
	long mtime_nsec;
	uint64_t xattrs;            /* a hash of the names and values */
};

struct journal {
	char txid[40];
	char kind[16];              /* "apply", "rollback", "init" */
	char target_uuid[37];       /* T's UUID at the start ("" for init) */
	char staging[64];           /* name of the staging subvolume in the state dir */
	char staging_uuid[37];      /* "" until the snapshot exists */
	uint64_t from_generation;
	uint64_t to_generation;
	uint64_t rollback_to;       /* rollback only */
	unsigned n_ops;
	char description[512];
	char started[32];           /* UTC, ISO 8601 */
	/* The tree mark taken before the snapshot (modified.c), from the staged
	 * record: recovery that finishes a commit checks the old tree with it. */
	bool has_mark;
	uint64_t mark_generation;
	int64_t mark_sec;
	long mark_nsec;
	unsigned mark_mode, mark_uid, mark_gid;
	uint64_t mark_transid;
	/* init only (init.c, init_recover.c): the old directory's top when the mark
	 * was stamped, which the ctime walk below it cannot judge (the exchange stamps
	 * its ctime); and whether the mark is recovery's own, stamped once it had
	 * checked the old directory and cleared its chattr flags. */
	bool has_top_print;
	struct root_print top_print;
	bool mark_checked;
};

/* Writes @obj (a json_t *, whose reference it takes) as one line replacing the
 * contents of @name in @state_fd; with @sync, fsyncs the file too. */
struct json_t;
int state_write_json(int state_fd, const char *name, struct json_t *obj, bool sync);
/* Writes the journal: temporary file, fsync, rename, fsync of the directory. */
int journal_write(int state_fd, const struct journal *journal);
/* The same without the fsyncs: the step-7 commit makes it durable (see journal.c). */
int journal_write_intent(int state_fd, const struct journal *journal);
/* Records the staging UUID of @journal's transaction in its own file, without an
 * fsync: the step-7 commit makes it durable before the exchange can happen. */
int journal_write_staged(int state_fd, const struct journal *journal);
/* The same, fsynced (init's recovery: its own mark, init_recover.c). */
int journal_write_staged_durable(int state_fd, const struct journal *journal);
/* Reads it: 1 when found, 0 when absent, -ENODATA when empty (written, never made
 * durable: nothing was committed), -EBADMSG when unreadable. The staging
 * UUID comes from the journal or, for the same transaction, from the staged
 * record; "" when neither has it (then the exchange cannot have happened). */
int journal_read(int state_fd, struct journal *ret_journal);
/* Removes the journal, then the staged record. */
int journal_remove(int state_fd);
/* Removes a temporary journal left by a crash during journal_write(). */
void journal_discard_partial(int state_fd);

struct history_entry {
	const char *txid;
	const char *kind;
	const char *description;    /* may be NULL */
	const char *result;         /* "committed", "aborted" */
	const char *reason;         /* why it aborted, may be NULL */
	uint64_t generation;        /* committed: the new generation */
	uint64_t previous;
	uint64_t rollback_to;
	unsigned n_ops;
	bool recovered;             /* finished by recovery */
	const char *started;
	const char *tag;            /* kind "snapshot": "pre" or "post" (tag.c) */
	const char *pair;           /* kind "snapshot": the pre's txid; NULL for an unpaired post */
	const struct txn_concurrent *concurrent; /* committed with writes of others left behind */
	bool switch_pending;        /* a mounted target: switched at the next mount */
};

/* Appends one line; a torn last line left by a crash is cut off first. */
int history_append(int state_fd, const struct history_entry *entry);
/* Whether a line for @txid is in the history. */
bool history_has(int state_fd, const char *txid);
/* Calls @fn for every complete, parseable line, oldest first; stops when it returns
 * true. (struct json_t is jansson's json_t.) */
struct json_t;
void history_each(int state_fd, bool (*fn)(struct json_t *line, void *ctx), void *ctx);
/* The same, newest first, reading the file from its end: a question the last lines
 * answer costs those lines, not the whole history. */
void history_each_reverse(int state_fd, bool (*fn)(struct json_t *line, void *ctx), void *ctx);
void history_each_reverse_with(int state_fd, const char *needle,
			       bool (*fn)(struct json_t *line, void *ctx), void *ctx);
/* The same for the lines that hold the bytes @needle, the others not even parsed
 * (a line with a key "k" holds the bytes "\"k\""). */
void history_each_with(int state_fd, const char *needle,
		       bool (*fn)(struct json_t *line, void *ctx), void *ctx);

/* The generation a committed line made (its "generation"), and true; false for a
 * line that made none (not committed, or `init`). Along the history these never
 * decrease (journal.c). */
bool history_line_generation(struct json_t *line, uint64_t *ret_generation);

/* The current generation: the highest committed one in history (its newest
 * committed line, read from the end), or one past the newest kept gen-N, whichever
 * is larger; 0 for a target never changed. */
uint64_t generation_current(int state_fd);
/* Kept generations, oldest first. */
int generations_list(int state_fd, struct txn_generation **ret_list, size_t *ret_count);

void utc_now(char out[32]);

/* subvol.c: shared by every method and recovery. */
int btrfs_error(int btrfs_util_error);
void make_txid(char out[40]);
bool exists_at(int dir_fd, const char *name);
int delete_subvolume_at(int dir_fd, const char *name);
/* The first subvolume the UUID tree lists as having received @uuid (text form),
 * the one btrfs receive takes as a parent (subvol.c). Return: its id in *@ret_id
 * (0: none), 0, or -errno. */
int received_uuid_first(int fd, const char *uuid, uint64_t *ret_id);
/* Whether subvolume @id (on @fd's filesystem) is read-only with a root directory
 * owned by root: a received UUID on it was given by root (the ioctl asks for
 * ownership of that directory). Its own UUID goes to @ret_uuid. Return: 1, 0, or
 * -errno. */
int subvolume_root_trusted(int fd, uint64_t id, char ret_uuid[37]);
int sync_fs(int fd);
/* 0 when @name in @dir_fd is the very directory @fd holds (not a symlink, same
 * device and inode), -ESTALE when it is something else, or -errno. */
int same_inode_at(int dir_fd, const char *name, int fd);

/* recover.c: recovery with the lock held, and the pieces of the protocol it shares
 * with a running transaction. */
int recover_locked(struct target *t, unsigned keep, struct txn_recover_result *ret,
		   struct txn_error *error);
/* After the commit point: the old tree at j->staging becomes read-only gen-N. */
int archive_old_tree(struct target *t, const struct journal *j, bool recovered,
		     struct txn_error *error);
/* The history line (with @concurrent, may be NULL), then the journal goes. */
int record_committed(struct target *t, const struct journal *j, bool recovered,
		     const struct txn_concurrent *concurrent, struct txn_error *error);
/* Before the commit point: the staging goes (never the target's tree, nor one a live
 * process uses), an "aborted" history line, then the journal. */
int undo_uncommitted(struct target *t, const struct journal *j, bool recovered,
		     const char *reason, struct txn_error *error);

/* generations.c: the one keep rule (the batch's keep, else options->keep, else
 * TXN_DEFAULT_KEEP; either may be NULL). */
int generation_drop_one(int state_fd, uint64_t number, const struct txn_gc_notes *skipped);
unsigned generations_keep(const struct txn_options *options, const struct txn_batch *batch);
/* Deletes gen-N beyond the newest @keep, never the pre of a pair whose post stays. */
int drop_generations(int state_fd, unsigned keep, unsigned *ret_removed,
		     const struct txn_gc_notes *skipped);
/* retention.c: which of @list (oldest first, @n of them) @policy keeps, into @want;
 * and gc under a policy: drops the rest, then the oldest while the filesystem has
 * less than policy->min_free_percent free (*@ret_free_percent: free at the end). */
void retention_select(const struct txn_generation *list, size_t n,
		      const struct txn_retention *policy, bool *want);
int drop_by_retention(int state_fd, const struct txn_retention *policy, unsigned *ret_removed,
		      unsigned *ret_free_percent, const struct txn_gc_notes *skipped);
/* pairs.c: the generation of the post paired with the pre snapshot kept as
 * gen-@pre_generation; false when it has none. */
bool tag_pair_post(int state_fd, uint64_t pre_generation, uint64_t *ret_post_generation);
/* pairs.c: every pair in the history, with whether its generations still exist. */
int pairs_list(int state_fd, struct txn_pair **ret_pairs, size_t *ret_n);
/* The latest pre snapshot without a post: 1 and its txid and generation, 0 when
 * there is none, -ENOMEM. */
int pairs_latest_unpaired(int state_fd, char ret_txid[40], uint64_t *ret_generation);

/* The trans method's in-flight marker (trans_marker.c). Read: 1 and a one-line
 * summary of the cut-short window when present, 0 when absent. Check:
 * TXN_NEEDS_PERSON naming the ops and the marker to delete when present;
 * recover_locked() calls it first. */
int trans_marker_read(int state_fd, char *ret_summary, size_t size);
int trans_marker_check(const struct target *t, struct txn_error *error);
/* Written (and made durable) before a trans window opens; removed once it is over. */
int trans_marker_write(const struct target *t, const struct txn_batch *batch, const char *txid,
		       const char *started);
int trans_marker_remove(const struct target *t);
int init_recover(struct target *t, const struct journal *j, bool recovered,
		 struct txn_recover_result *ret, struct txn_error *error);
