/* SPDX-License-Identifier: MIT */
/*
 * internal.h: helpers shared inside libbtrfs-txn, not part of its API: cleanup
 * attributes, error filling, small I/O helpers, and the modules' internal calls.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "batch.h"
#include "cleanup.h"
#include "trust.h"
#include "txn.h"
#include "state.h"

/*
 * Fill @error (may be NULL) and return -@errnum, so that a failure reads
 * `return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", path);`.
 * @errnum may be given positive or negative.
 */
int txn_fail(struct txn_error *error, enum txn_status status, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Seconds on the monotonic clock. */
double txn_now(void);

/* Write all of @buf, retrying short writes and EINTR. Return 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* fsync(2) of a directory fd or path. Return 0 or -errno. */
int fsync_fd(int fd);

/*
 * Fault points for the test suites. BTRFS_TXN_FAULT=STEP[:ACTION] makes the process
 * stop at protocol step STEP: ACTION `kill` (default) sends itself SIGKILL, `stop`
 * SIGSTOP (so a harness can cut power), `exit` exits with status 99.
 * BTRFS_TXN_STEP_HOOK=COMMAND runs `sh -c COMMAND sh STEP` at every step (e.g. to
 * write a dm-log-writes mark). Both are for tests only and documented as such;
 * they exist only in the test build (-DBTRFS_TXN_TESTING, build/test/btrfs-txn).
 */
void txn_step(const char *step);

/* mount.c: which mount a file is on: its mount id when the kernel tells it (statx,
 * else name_to_handle_at), and its st_dev for a caller that must decide without. */
struct mount_identity {
	bool has_mount_id;
	uint64_t mount_id;
	dev_t dev;
};
/* Of @name relative to @dir_fd ("" for @dir_fd itself; a final symlink not followed).
 * Return: 0, or -errno when it cannot be looked at. */
int mount_identity_at(int dir_fd, const char *name, struct mount_identity *ret);
/* The mount id alone. Return: 0, -EOPNOTSUPP when the kernel does not say, or -errno. */
int mount_id_at(int dir_fd, const char *name, uint64_t *ret_mount_id);

/* path resolution beneath a root fd (resolve.c) */
#define TXN_RESOLVE_FLAGS_DEFAULT 0
int open_beneath(int root_fd, const char *path, int flags, mode_t mode);
/* Opens the directory holding @path's last component (O_PATH|O_DIRECTORY), and
 * points *ret_name at that component inside @path. */
int open_parent_beneath(int root_fd, const char *path, const char **ret_name);
/* The same two, refusing a symlink anywhere on the path with -ELOOP (but a final one
 * opened with O_PATH|O_NOFOLLOW): what the ops use, see resolve.c. */
int open_beneath_no_symlinks(int root_fd, const char *path, int flags, mode_t mode);
int open_parent_no_symlinks(int root_fd, const char *path, const char **ret_name);
/* The first component prefix of @path beneath @root_fd that is a symlink, into
 * @ret_prefix, for an error message. Return: 1 found, 0 none, or -errno. */
int symlink_in_path(int root_fd, const char *path, char *ret_prefix, size_t size);
/* Why resolving @path beneath @root_fd failed with EXDEV (or a rename with it): a
 * symlink leaving the tree, a mount point, or a nested subvolume, named by its path,
 * into @buf. @follow_last: whether a final symlink counts. Return: 0 when a reason
 * was found, -ENOENT when none was (the tree changed meanwhile), or -ENOMEM. */
int resolve_explain(int root_fd, const char *path, bool follow_last, char *buf, size_t size);
/* Open again, with @flags, the very inode an O_PATH fd holds (through /proc/self/fd).
 * Return: the new fd, -ENOENT when /proc is not mounted, or another -errno. */
int reopen_fd(int path_fd, int flags);
/* chmod the inode an O_PATH fd holds (not a symlink: Linux would follow it). Return:
 * 0, -ENOENT when /proc is not mounted, or another -errno. */
int chmod_fd(int path_fd, mode_t mode);

/* ops.c */
int txn_op_apply(int root_fd, const struct txn_op *op, struct txn_error *error);
/* The files whose data a batch wrote (write and copy ops), held open so that the
 * snapshot method writes them back before its exchange instead of committing. */
#define OP_WRITTEN_MAX 256
struct op_written {
	size_t n;
	int fds[OP_WRITTEN_MAX];
};
/* txn_op_apply(), adding the file a write or copy filled to @written (may be NULL);
 * more than OP_WRITTEN_MAX are written back as the set fills. */
int txn_op_apply_written(int root_fd, const struct txn_op *op, struct op_written *written,
			 struct txn_error *error);
/* Writes back every file of @written (writeback_fd()) and closes them. Return: 0 or
 * the first -errno; all are closed either way. */
int op_written_flush(struct op_written *written);
void op_written_close(struct op_written *written);
/* The data of the file @fd holds written back and recorded in the running Btrfs
 * transaction (extent items, size), not committed. Return: 0 or -errno. */
int writeback_fd(int fd);
struct stat;
/* Opens a copy source for reading: not a symlink (-ELOOP), a regular file (-EINVAL),
 * the very inode looked at (-EAGAIN); fills @ret_st. Return: the fd or -errno. */
int copy_source_open(const char *source, struct stat *ret_st);
/* Copies @size bytes from @src_fd to the empty @dst_fd: a reflink where the
 * filesystem allows, else the data segments only (SEEK_DATA/SEEK_HOLE: holes stay
 * holes) by copy_file_range or pread/pwrite. A @size of 0 reads the source to its
 * end, at most @max_size bytes (0: TXN_COPY_DEFAULT_MAX_SIZE), else -EFBIG. -EIO when
 * the source shrank meanwhile. */
int copy_file_data(int src_fd, int dst_fd, off_t size, uint64_t max_size);
/* Refuses, before anything is written, a copy source larger than the op's max_size
 * or than the free space of the filesystem of @dst_dir_fd (one line naming the op,
 * the source and the sizes). Return: 0 or -errno. */
int copy_check_size(const struct txn_op *op, const struct stat *src, int dst_dir_fd,
		    struct txn_error *error);
/* The words for copy_source_open()'s own refusals ("is a symlink; ..."), else NULL. */
const char *copy_source_problem(int r);
/* chmod the inode @fd holds (O_PATH, not a symlink), found as @name in @parent_fd,
 * whose fstat is @st: through /proc, else by a checked open. Return: 0 or -errno,
 * -EOPNOTSUPP for a special file without /proc. */
int chmod_held(int parent_fd, const char *name, int fd, const struct stat *st, mode_t mode);
int remove_tree_at(int dir_fd, const char *name, struct txn_error *error,
		   const char *display_path);
/* open_parent_no_symlinks() for op @op, with its error reported (naming a symlink on
 * the way); -ENOENT unreported when @missing_ok. Return: the fd or -errno. */
int op_open_parent(int root_fd, const struct txn_op *op, const char *path, bool missing_ok,
		   const char **ret_name, struct txn_error *error);
/* What a write or copy replaces at its path, for the snapshot method and the trans
 * method alike (ops.c): the file there, if any, and whether it is ours to lend its
 * owner, mode and attributes (owner.c's rule). */
struct op_replaced {
	const char *name;   /* the last component, inside the op's path */
	struct stat old;
	bool have_old;
	bool ours;          /* a regular file owned by us */
};
/* Opens the directory of @op's path and looks at what is there, refusing a directory.
 * Return: the directory's fd, or -errno with @error filled. */
int op_open_replaced(int root_fd, const struct txn_op *op, struct op_replaced *ret,
		     struct txn_error *error);
/* The new file's mode: the op's, else that of the file of ours it replaces, else a
 * copy's @source_mode (when @op is a copy), else the default. */
mode_t op_replacement_mode(const struct txn_op *op, const struct op_replaced *replaced,
			   mode_t source_mode);
/* The file of ours being replaced, opened read-only and checked to be the one looked
 * at; -EBADF when it is not ours. Return: the fd, -EBADF, or -errno with @error filled. */
int op_open_replaced_ours(int parent_fd, const struct txn_op *op,
			  const struct op_replaced *replaced, struct txn_error *error);

/* owner.c */
#define TXN_CAPABILITY_XATTR "security.capability"
/* Whether a file is ours, owned by the effective uid: only such a file lends its
 * owner, group, mode and extended attributes to what replaces it. */
bool owned_by_us(const struct stat *st);
/* Gives @new_fd (a real fd of a file just created) the owner, group and extended
 * attributes of @old_fd (a file of ours it replaces), or with @old_fd < 0 the
 * effective uid and gid; then @mode. Return: 0 or -errno. */
int replacement_settle(int new_fd, int old_fd, mode_t mode);
/* Clears set-id bits and security.capability of the inode an O_PATH @fd holds, found
 * as @name in @parent_fd, whose fstat before any change was @st. Return: 0 or -errno. */
int drop_privileges_held(int parent_fd, const char *name, int fd, const struct stat *st);

/* precond.c */
/* The largest file a sha256 precondition reads (16 GiB): far above a config file or
 * a release archive, and a bound on how long a tree writer can make a precondition
 * (and so the lock) last by planting a huge sparse file. */
#define TXN_SHA256_MAX_SIZE (16ULL << 30)
/* The SHA-256 of what @fd reads to its end (at most TXN_SHA256_MAX_SIZE bytes).
 * Return: 0, -EFBIG past the bound, -EINTR when txn_interrupted, or -errno of read(2);
 * @ret_digest is written only on success. */
int sha256_fd(int fd, unsigned char ret_digest[32]);
/* The SHA-256 of @len bytes at @data. Cannot fail. */
void sha256_bytes(const void *data, size_t len, unsigned char ret_digest[32]);
int txn_preconditions_check(int root_fd, const struct txn_batch *batch,
			    struct txn_error *error);

/* plan.c: txn_plan()'s judgement of each op of @batch against the tree at @root_fd,
 * for @each in order. Return: 0 or -ENOMEM. */
struct txn_plan_entry;
int plan_ops_at(int root_fd, const struct txn_batch *batch,
		void (*each)(const struct txn_plan_entry *entry, void *ctx), void *ctx);

/* modified.c: the inodes of a subvolume changed since a mark taken before its
 * snapshot (see the file's header for what counts as a change). */
/* What a subvolume's root directory looks like, read from the inode in memory:
 * renaming the subvolume (every exchange) changes nothing of it. */
/* struct root_print: state.h (the journal keeps one for init). */
int root_print_take(int fd, struct root_print *ret);
struct tree_mark {
	uint64_t generation;        /* the subvolume's root generation */
	struct timespec since;      /* CLOCK_REALTIME_COARSE, read after it */
	unsigned root_mode, root_uid, root_gid; /* its root directory then */
	/* When not 0: an inode item last written in this transaction or an earlier
	 * one is not a change (see modified.c); the snapshot's own transaction. */
	uint64_t after_transid;
	/* When set, the root directory is judged by this print instead of its item. */
	bool has_root_print;
	struct root_print root_print;
};
#define TREE_CHANGES_MAX 64
struct tree_changes {
	size_t count;               /* changed inodes found */
	size_t n_inodes;            /* the first of them, up to TREE_CHANGES_MAX */
	uint64_t inodes[TREE_CHANGES_MAX];
};
/* The mark of the subvolume at @fd now; its moment is stamped on @stamp_fd (the
 * state directory: tree_mark_stamp()). */
int tree_mark_take(int fd, int stamp_fd, struct tree_mark *ret_mark);
/* A moment as the kernel stamps ctime: changes the ctime of @stamp_fd (chmods to
 * its own mode, so that the stamp is fine-grained where the kernel has multigrain
 * timestamps) and returns it. Every ctime stamped before lies before it, every one
 * stamped after at or after it (modified.c). */
int tree_mark_stamp(int stamp_fd, struct timespec *ret);
/* Only what a commit has written is seen: call it after one. */
int tree_changes_since(int fd, const struct tree_mark *mark, struct tree_changes *ret);
/* One path of inode @ino relative to the subvolume's root ("." for its root);
 * -ENOENT when it has none left. */
int tree_inode_path(int fd, uint64_t ino, char *buf, size_t size);

/* concurrent.c: other writers during a transaction (see its header). */
/* 1 and the first nested subvolume's path below the subvolume at @fd; 0 if none. */
int nested_subvolume_find(int fd, char *ret_path, size_t size);
/* Adds the processes holding a writable descriptor or shared mapping on the
 * subvolume at @fd (its st_dev) to @report. */
int concurrent_holders(int fd, struct txn_concurrent *report);
/* Fills @report's count and paths with the inodes changed since @mark. */
int concurrent_changes(int fd, const struct tree_mark *mark, struct txn_concurrent *report);
/* journal.c: the journal and the staged record (and the lock and history files)
 * written back into the running Btrfs transaction (writeback_fd()), not committed:
 * the snapshot method's step 7. */
int journal_writeback(int state_fd);
/* journal.c: pin-N, the mark of a generation holding writes of other processes. */
bool pin_exists(int state_fd, uint64_t generation);
int pin_write(int state_fd, uint64_t generation, const char *txid,
	      const struct txn_concurrent *report);
int pin_release(int state_fd, uint64_t generation);
/* 1 and a mount point (in this mount namespace) showing the subvolume at @fd or
 * a directory in it; 0 when none does. */
int mount_of_subvolume(int fd, char *ret_path, size_t size);
/* children.c: waits until a child polled with waitpid(WNOHANG) may have changed:
 * up to 100 ms on its pidfd (from pidfd_open), 10 ms without one. */
void child_wait_tick(int pidfd);
struct target;
/* Fails with @status naming the first nested subvolume of the target, if any. */
int refuse_nested(const struct target *t, enum txn_status status, struct txn_error *error);
/* Step 8: TXN_ABORTED when T changed since @mark (or holds a nested subvolume). */
int concurrent_check_before(const struct target *t, const struct tree_mark *mark,
			    struct txn_error *error);

/* target.c: the locks this process holds, "DEV:INO DEV:INO" (of their lock files),
 * for the verify hook's environment variable LOCKED_TARGETS_ENV. */
#define LOCKED_TARGETS_ENV "BTRFS_TXN_LOCKED_TARGETS"
void target_locks_held(char *buf, size_t size);
/* target.c: when a transaction failed and the target's filesystem is now read-only,
 * say so in @error (Btrfs turns read-only after a write error). */
struct target;
void target_note_read_only(const struct target *t, struct txn_error *error);

/* verify.c */
int txn_verify_run(const struct txn_verify *verify, const char *staging_path,
		   struct txn_error *error);

/* holders.c: live processes that use a tree (cwd, root, open fd, mapping). */
struct holder {
	pid_t pid;
	char comm[32];     /* /proc/PID/comm */
	char what[8];      /* "cwd", "root", "fd" or "map" */
	char path[256];    /* where the link points, as /proc shows it (may be cut) */
	ino_t ino;         /* the inode held */
	bool is_dir;       /* a directory: entries can be made through it */
	/* It can change the tree: a directory (cwd, root, directory fd), a descriptor
	 * open for writing, or a shared writable mapping. */
	bool writable;
};
/*
 * Every use by another live process of an inode on @dev (the st_dev that stat(2)
 * reports, i.e. one subvolume on Btrfs) whose inode number @match accepts (all when
 * @match is NULL); only the writable ones when @writable_only. Kernel threads and
 * this process are skipped; a process exiting mid-scan is left out.
 * Return: 0 and a malloc'd array in @ret (free it) of @ret_n entries, or -errno
 * (@ret untouched) when /proc cannot be read or memory runs out.
 */
int holders_scan(dev_t dev, bool writable_only, bool (*match)(ino_t ino, void *ctx), void *ctx,
		 struct holder **ret, size_t *ret_n);
int holders_find(dev_t dev, bool writable_only, struct holder **ret, size_t *ret_n);
/* Read /proc/PID/maps as text even where the kernel has PROCMAP_QUERY (for the
 * unit test of the older kernels' path; nothing else sets it). */
extern bool holders_maps_text;
/* "pid 42 (sh) cwd '/x', pid 43 (dd) writable fd '/x/f'" (the first three, then
 * "and N more") into @buf, for an error message. */
void holders_describe(const struct holder *h, size_t n, char *buf, size_t size);


/*
 * snapshot.c: one transaction of the snapshot method in phases, so that another
 * method that makes its staging tree differently (receive) runs the same protocol
 * (docs/protocol.md): staged_init(), then staged_create() (journal, snapshot,
 * staged record) or staged_begin(s, true, ...) and staged_snapshot() of the method's
 * own source (receive: the received subvolume); the method fills the staging;
 * staged_commit() (steps 7 to 9); staged_finish() after it succeeded,
 * staged_abort() after any failure unless @exchanged is set; staged_close() always.
 * A method with a record of its own sets @method_record (receive.c).
 */
#include "state.h"
struct staged_txn {
	struct target *target;
	struct journal journal;
	struct tree_mark before;     /* what counts as another writer's change */
	bool marked;                 /* @before taken before the journal (not a snapshot of T) */
	bool journaled;              /* the journal exists: an abort undoes it */
	bool staging_made;
	bool exchanged;              /* the names are swapped: never abort */
	int staging_fd;
	char staging_path[PATH_MAX + 80];
	struct txn_timing *timing;   /* the result's, filled step by step */
	double mark;                 /* when the last step ended (txn_now) */
	struct txn_concurrent *report; /* the checks after the exchange */
	const struct txn_options *options; /* the caller's (may be NULL) */
	bool live;                   /* a mounted target's running tree: its own writes expected */
	/* The journal written back at once, before anything else is made: the method
	 * makes, before the snapshot, what only the journal names (receive:
	 * receiving-TXID, recv-TXID), and any commit that carries that carries the
	 * journal too. */
	bool journal_early;
	/* The method's own record of the transaction, or NULL (receive: the "pending"
	 * record of received.json). Called by staged_commit() with @committed false
	 * after the check and before the exchange (durable when it returns), and by
	 * staged_finish() with @committed true once the exchange is durable, before
	 * the history line and the journal go (recovery redoes it while the journal
	 * exists). Return: 0 or -errno with @error filled. */
	int (*method_record)(struct staged_txn *s, bool committed, struct txn_error *error);
	void *method_ctx;            /* the method's, for method_record */
	/* Every file the fill wrote data to is in @written (apply without a verify
	 * hook, rollback, receive without one, whose staging is a snapshot of what
	 * btrfs receive wrote): step 7 writes those back and commits nothing.
	 * Otherwise (run, a verify hook, which may write anything) it commits. */
	bool writes_known;
	struct op_written written;
};
void staged_init(struct staged_txn *s, struct target *t, const char *kind,
		 struct txn_result *result);
/* Journal, snapshot of T (or of @source_name in the state directory, whose
 * writes do not count), staged record. Return: 0 or -errno with @error filled. */
int staged_create(struct staged_txn *s, const char *source_name, struct txn_error *error);
/* The mark for a staging that is not a snapshot of T: T's writes from now on
 * count as another writer's. Taken by staged_begin(@mark_now) unless taken before
 * (receive: before its drift check, so that every write lies either before the
 * mark, where the drift check sees it, or after it). Return: 0 or -errno. */
int staged_mark(struct staged_txn *s, struct txn_error *error);
/* Create, first half: T's identity, no nested subvolume, the mark when @mark_now
 * (see staged_mark()), the journal (not synced: step 7 writes it back before the
 * exchange). */
int staged_begin(struct staged_txn *s, bool mark_now, struct txn_error *error);
/* Snapshot of the subvolume @source_fd (named @source_path in an error) at
 * journal.staging, then staged_record(). Return: 0 or -errno with @error filled. */
int staged_snapshot(struct staged_txn *s, int source_fd, const char *source_path,
		    struct txn_error *error);
/* Opens the staging subvolume, records its UUID and the mark (staged record). */
int staged_record(struct staged_txn *s, struct txn_error *error);
/* Flush, the check before the exchange, the exchange (the commit point). */
int staged_commit(struct staged_txn *s, struct txn_error *error);
/* After the commit point: gen-N, the checks after it, sync, history, gc. */
int staged_finish(struct staged_txn *s, unsigned keep, struct txn_result *result,
		  struct txn_error *error);
/* Marks the end of @step (txn_step; none when NULL) and adds the time since the
 * previous step to @slot (none when NULL): for a method's own steps. */
void staged_step(struct staged_txn *s, const char *step, double *slot);
/* TXN_ABORTED naming the signal when one asked to stop (txn_interrupted); else 0.
 * Only before the commit point. */
int staged_interrupted(struct txn_error *error);
/* Undoes what exists of an uncommitted transaction; returns @r, @error kept. */
int staged_abort(struct staged_txn *s, int r, struct txn_error *error);
void staged_close(struct staged_txn *s);
