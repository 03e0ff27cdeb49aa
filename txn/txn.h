/* SPDX-License-Identifier: MIT */
/*
 * txn.h: the public API of libbtrfs-txn, the transaction engine.
 *
 * The engine applies a struct txn_batch (batch.h) to a Btrfs subvolume with the
 * snapshot-then-swap protocol, keeps earlier generations, rolls back and recovers.
 * It never prints and never exits: every call returns 0 or a negative errno, and on
 * failure fills a struct txn_error that says what failed, on which path, and what
 * that means for the target (its `status`), for the caller to report once.
 *
 * State of a target T whose parent directory is P lives in P/.btrfs-txn/NAME/:
 *   lock           flock(2) target; holds the holder's pid and command while locked
 *   journal        present only while a transaction is in flight (or interrupted)
 *   history.jsonl  one JSON line per finished transaction
 *   gen-N          read-only snapshots of earlier generations
 *   staging-TXID   the writable snapshot a transaction works on
 * For a mounted target (`/`, a subvol= mount) P is the directory holding the
 * subvolume as seen from the filesystem's top level, reached through a private
 * mount (mounted.c); its changes switch at the next mount (docs/protocol.md).
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "batch.h"

/* libbtrfs-txn.so is built with -fvisibility=hidden: what this header (and batch.h)
 * declares is its whole exported interface. */
#pragma GCC visibility push(default)

/* What a failure means for the target; the runner turns it into an exit status. */
enum txn_status {
	TXN_OK = 0,
	TXN_ABORTED,        /* aborted before the commit point; target unchanged (exit 1) */
	TXN_INVALID,        /* invalid request; nothing touched (exit 2) */
	TXN_LOCKED,         /* another run holds the lock (exit 3) */
	TXN_UNSUPPORTED,    /* not Btrfs, not a subvolume, no privilege, no ioctl (exit 4) */
	TXN_NEEDS_PERSON,   /* recovery could not reach a consistent state (exit 5) */
};

struct txn_error {
	enum txn_status status;
	int errnum;          /* errno of the failing call, 0 when none */
	char message[1024];  /* what failed and where, without the strerror part */
};

/**
 * txn_error_string() - Format a filled error for a person, on one line.
 * @error: The error a txn_* call filled.
 * @buf: Where to write "MESSAGE: strerror(errnum)", or just MESSAGE when errnum is 0.
 * @size: Size of @buf; the text is cut to fit.
 *
 * Return: @buf.
 */
const char *txn_error_string(const struct txn_error *error, char *buf, size_t size);

/* Set by the caller's SIGINT/SIGTERM handler: before the commit point the engine
 * aborts cleanly at its next check; after it, the transaction is finished. */
extern volatile sig_atomic_t txn_interrupted;

/* Every entry point taking a struct txn_options accepts NULL for all the defaults,
 * and a zero-initialised struct means the same. */
struct txn_options {
	unsigned keep;            /* generations kept after a commit; 0 = TXN_DEFAULT_KEEP */
	double lock_timeout;      /* seconds to wait for the lock; <= 0 = TXN_DEFAULT_LOCK_TIMEOUT */
	bool no_wait;             /* fail at once when locked (TXN_LOCKED), whatever lock_timeout */
	bool remount;             /* mounted target: mount the new tree at once (not for /) */
	const char *command;      /* how the caller names itself in the lock file */
	const char *description;  /* for rollback/history; apply uses the batch's */
	double trans_timeout;     /* trans method: longest window in seconds; <= 0 = default */
	/* Optional, for a caller that shows progress (the engine never prints): called
	 * with @what "ops" as the ops of a batch are applied (@done of @total, first with
	 * 0 and last with @total) and "copy" around init's copy of a plain directory (0
	 * of the number of entries before, all of them after). May be NULL. */
	void (*progress)(const char *what, uint64_t done, uint64_t total, void *ctx);
	void *progress_ctx;
};

#define TXN_DEFAULT_LOCK_TIMEOUT 60.0
#define TXN_DEFAULT_TRANS_TIMEOUT 30.0
/* The most generations `keep` (spec) and `--keep` accept: every kept generation is a
 * Btrfs snapshot, hundreds of them slow down balance and quota accounting, and nobody
 * rolls back 100 deployments. */
#define TXN_KEEP_MAX 100u

/* Seconds spent in each step, for --json and benchmarks. */
struct txn_timing {
	double lock, recover, preconditions, journal, snapshot, ops, verify, flush, check,
		swap, sync, archive, check_after, total;
};

/* Writes by other processes that the new tree does not hold: they are in the
 * replaced tree, kept as gen-PINNED, which gc keeps until released (protocol.md,
 * "Concurrent writers"). */
#define TXN_CONCURRENT_PATHS_MAX 64
#define TXN_CONCURRENT_HOLDERS_MAX 16
struct txn_concurrent_holder {
	int pid;
	char command[32];
	char what[16];            /* "descriptor" or "mapping" */
	char path[4096];          /* as /proc shows it */
};
struct txn_concurrent {
	uint64_t pinned;          /* the generation that holds the writes */
	size_t count;             /* changed inodes found in it */
	size_t n_paths;           /* the first of them, relative to the tree */
	char paths[TXN_CONCURRENT_PATHS_MAX][4096];
	size_t n_holders;         /* processes still able to write there */
	bool holders_more;        /* more than TXN_CONCURRENT_HOLDERS_MAX */
	struct txn_concurrent_holder holders[TXN_CONCURRENT_HOLDERS_MAX];
};

struct txn_result {
	uint64_t generation;      /* the target's generation afterwards */
	uint64_t previous;        /* the generation it replaced (kept as gen-PREVIOUS) */
	char txid[40];
	bool recovered_first;     /* an interrupted transaction was recovered first */
	unsigned dropped;         /* generations removed beyond keep */
	struct txn_timing timing;
	/* NULL when no other process wrote; else the caller free()s it. */
	struct txn_concurrent *concurrent;
	/* Writes by others from this moment (CLOCK_REALTIME) on were watched for. */
	struct timespec concurrent_since;
	/* A mounted target (`/`, a subvol= mount): the new tree is the subvolume's
	 * name at the top level, the mount still shows the replaced tree (kept as
	 * gen-PREVIOUS, writable while mounted) until the next mount; remounted when
	 * options->remount did that at once, else remount_errno says why not. */
	bool switch_pending;
	bool default_moved;       /* the filesystem's default subvolume follows the switch */
	bool remounted;
	int remount_errno;
	uint64_t running_generation; /* switch pending: the kept generation the mount shows */
};

/**
 * txn_apply() - Apply @batch to @target atomically (snapshot method).
 * @target: Path of the subvolume.
 * @batch: The validated batch; owner/group ids must be resolved.
 * @options: Lock and keep settings.
 * @ret_result: Filled on success.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_apply(const char *target, const struct txn_batch *batch,
	      const struct txn_options *options, struct txn_result *ret_result,
	      struct txn_error *ret_error);

/**
 * txn_apply_trans() - Apply @batch to @target in place inside one Btrfs transaction
 * held open with BTRFS_IOC_TRANS_START/TRANS_END (the legacy trans method).
 * @target: Path of the directory to change, on Btrfs (a subvolume is not required).
 * @batch: The validated batch; owner/group ids must be resolved; no verify hook.
 * @options: Lock settings and trans_timeout, the longest the window may stay open.
 * @ret_result: Filled on success; generation and previous are both the target's
 *   current generation (this method makes no snapshot and no generation).
 * @ret_error: Filled on failure.
 *
 * The ioctls exist only in kernels before 4.17; elsewhere this fails with
 * TXN_UNSUPPORTED before anything is written. It is not crash atomic: a crash or a
 * failure inside the window leaves part of the change (TXN_NEEDS_PERSON when that
 * happened here). See docs/trans-method.md.
 * Return: 0 on success, a negative errno on failure.
 */
int txn_apply_trans(const char *target, const struct txn_batch *batch,
		    const struct txn_options *options, struct txn_result *ret_result,
		    struct txn_error *ret_error);

#define TXN_ROLLBACK_PREVIOUS UINT64_MAX
/**
 * txn_rollback() - Roll @target back to a kept generation, as a new transaction with
 * the same protocol as apply.
 * @target: Path of the subvolume.
 * @to: The kept generation, or TXN_ROLLBACK_PREVIOUS: the one the last transaction
 *   replaced.
 * @options: Lock and keep settings, and the description for the history line.
 * @ret_result: Filled on success.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_rollback(const char *target, uint64_t to, const struct txn_options *options,
		 struct txn_result *ret_result, struct txn_error *ret_error);

/*
 * Changes a staging tree for txn_run(): called with the staging path (a writable
 * snapshot of the target); returns 0 to commit, or a negative errno with @error
 * filled to abort (the target stays unchanged).
 */
typedef int (*txn_stage_fn)(const char *staging_path, void *ctx, struct txn_error *error);

/**
 * txn_run() - The general form of apply: snapshot @target, let @stage change the
 * staging tree, and commit it with the same protocol (flush, concurrent-writer
 * check, exchange, sync, generations).
 * @target: Path of the subvolume.
 * @stage: Changes the staging tree; a negative return aborts.
 * @ctx: Passed to @stage.
 * @options: Lock and keep settings; the history line has kind "run" and
 *   options->description.
 * @ret_result: Filled on success.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_run(const char *target, txn_stage_fn stage, void *ctx, const struct txn_options *options,
	    struct txn_result *ret_result, struct txn_error *ret_error);

/* Which side of an upgrade a tagged snapshot is taken on (tag.c). */
enum txn_tag {
	TXN_TAG_PRE,
	TXN_TAG_POST,
};

struct txn_snapshot_result {
	char txid[40];
	uint64_t snapshot;        /* the snapshot is kept as gen-SNAPSHOT ... */
	uint64_t generation;      /* ... and the target's generation is now SNAPSHOT + 1 */
	char pair[40];            /* the pair id (the pre's txid); "" for an unpaired post */
	uint64_t pair_pre;        /* post: the generation of its pre snapshot */
	bool recovered_first;
	unsigned dropped;         /* generations removed beyond keep */
};

/**
 * txn_snapshot_tag() - Keep the live tree of @target as a read-only generation,
 * tagged as the "pre" or "post" side of a change made in place (a package upgrade).
 * @target: Path of the subvolume.
 * @tag: TXN_TAG_PRE or TXN_TAG_POST; a post pairs with the latest unpaired pre.
 * @options: Lock settings, keep, and the description for the history line.
 * @ret_result: Filled on success.
 * @ret_error: Filled on failure.
 *
 * The snapshot takes the current generation's number (gen-N) and the live tree
 * becomes generation N+1, so `rollback --to N` and `diff` treat it like any other
 * kept generation. The history line has kind "snapshot", "tag" and "pair". After
 * it, generations beyond keep are dropped, never splitting a pair.
 * Return: 0 on success, a negative errno on failure.
 */
int txn_snapshot_tag(const char *target, enum txn_tag tag, const struct txn_options *options,
		     struct txn_snapshot_result *ret_result, struct txn_error *ret_error);

/* Names the live tree of the target where a generation number is expected. */
#define TXN_GENERATION_LIVE UINT64_MAX

enum txn_diff_kind {
	TXN_DIFF_ADDED,
	TXN_DIFF_REMOVED,
	TXN_DIFF_MODIFIED,
};

/* What differs in a modified entry (bits of txn_diff_entry.changes). */
enum {
	TXN_DIFF_TYPE = 1 << 0,    /* file, directory, symlink, ... */
	TXN_DIFF_MODE = 1 << 1,    /* permission bits */
	TXN_DIFF_OWNER = 1 << 2,   /* uid or gid */
	TXN_DIFF_SIZE = 1 << 3,    /* regular file size */
	TXN_DIFF_CONTENT = 1 << 4, /* regular file bytes, same size */
	TXN_DIFF_TARGET = 1 << 5,  /* symlink target */
	TXN_DIFF_UNVERIFIED = 1 << 6, /* same size, first compared_bytes equal, rest not read */
};

struct txn_diff_entry {
	const char *path;         /* relative to the tree's root */
	enum txn_diff_kind kind;
	unsigned changes;         /* TXN_DIFF_* bits, for TXN_DIFF_MODIFIED */
	/* Each side's metadata; a side that does not exist has type 0. */
	char type_from, type_to;  /* 'f' file, 'd' directory, 'l' symlink, 'c', 'b', 'p', 's' */
	unsigned mode_from, mode_to;     /* permission bits (07777) */
	unsigned uid_from, uid_to, gid_from, gid_to;
	uint64_t size_from, size_to;
	const char *link_from, *link_to; /* symlinks only, else NULL */
	uint64_t compared_bytes;  /* with TXN_DIFF_UNVERIFIED: how many bytes were compared */
};

/* Bytes of one file pair compared at most, when their extents differ (64 MiB). */
#define TXN_DIFF_DEFAULT_MAX_COMPARE (64ULL << 20)

struct txn_diff_options {
	uint64_t max_compare;     /* bytes per file pair; 0: the default; UINT64_MAX: all */
};

/**
 * txn_diff() - Compare two generations of @target, path by path.
 * @target: Path of the subvolume.
 * @from: A kept generation, the current one's number, or TXN_GENERATION_LIVE.
 * @to: Likewise.
 * @each: Called for each added, removed or modified path, in path order (a
 *   directory before what it holds); returns 0 to go on, or a negative errno to stop.
 * @ctx: Passed to @each.
 * @options: NULL for the defaults.
 * @ret_error: Filled on failure.
 *
 * Both trees are walked beneath their roots without following symlinks and without
 * crossing into another filesystem or subvolume. Takes no lock and writes nothing.
 * The walk is iterative and holds a bounded number of file descriptors, whatever the
 * depth. Regular files of equal size are the same when their extent lists (FIEMAP)
 * are; otherwise at most options->max_compare bytes are read from each, and a pair
 * whose compared bytes are equal but not all of it was read is reported with
 * TXN_DIFF_UNVERIFIED. Only regular files are opened, never for more than reading.
 * Return: 0, or a negative errno.
 */
int txn_diff(const char *target, uint64_t from, uint64_t to,
	     int (*each)(const struct txn_diff_entry *entry, void *ctx), void *ctx,
	     const struct txn_diff_options *options, struct txn_error *ret_error);

enum txn_recovery {
	TXN_RECOVERY_NONE,        /* nothing was in flight */
	TXN_RECOVERY_ROLLED_FORWARD, /* the commit had happened: finished it */
	TXN_RECOVERY_ROLLED_BACK, /* it had not: removed what it left */
};

struct txn_recover_result {
	enum txn_recovery action;
	char txid[40];
	uint64_t generation;      /* the target's generation afterwards */
	unsigned removed;         /* leftover staging subvolumes removed */
	/* Rolled forward with writes of other processes left in the old tree: the
	 * generation holding them is pinned (0: none) and how many were found. */
	uint64_t pinned;
	size_t concurrent_count;
};

/**
 * txn_recover() - Finish or undo an interrupted transaction of @target; idempotent
 * and safe to interrupt.
 * @target: Path of the subvolume.
 * @options: Lock and keep settings.
 * @ret_result: Filled on success: what was done (TXN_RECOVERY_NONE when nothing).
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_recover(const char *target, const struct txn_options *options,
		struct txn_recover_result *ret_result, struct txn_error *ret_error);

/* Told of each generation beyond keep that gc leaves: @errnum 0 when it is kept
 * on purpose (pinned, mounted), else why deleting it failed; @reason says which. */
struct txn_gc_notes {
	void (*fn)(uint64_t generation, int errnum, const char *reason, void *ctx);
	void *ctx;
};

/**
 * txn_gc() - Drop the oldest generations of @target beyond @keep, never a pinned or
 * mounted one, going on past one that cannot be deleted.
 * @target: Path of the subvolume.
 * @keep: How many generations to keep.
 * @options: Lock settings.
 * @notes: Told of each generation beyond @keep that is left; may be NULL.
 * @ret_removed: How many were dropped.
 * @ret_error: Filled on failure (TXN_ABORTED when any deletion failed).
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_gc(const char *target, unsigned keep, const struct txn_options *options,
	   const struct txn_gc_notes *notes, unsigned *ret_removed, struct txn_error *ret_error);

/* A retention policy for txn_gc_retention(). */
struct txn_retention {
	unsigned keep;             /* the newest N, always (at least the newest one) */
	unsigned hourly;           /* and the newest of each of the last N hours (UTC) that have one */
	unsigned daily;            /* ... days */
	unsigned weekly;           /* ... weeks, from Monday */
	unsigned min_free_percent; /* then drop the oldest left while less is free; 0: off */
};

/**
 * txn_gc_retention() - Drop the generations of @target that @policy does not keep,
 * never a pinned or mounted one nor the newest, never half of a pre/post pair.
 * @target: Path of the subvolume.
 * @policy: What to keep.
 * @options: Lock settings.
 * @notes: Told of each generation left that the policy would drop; may be NULL.
 * @ret_removed: How many were dropped.
 * @ret_free_percent: Free space at the end, percent (100 when min_free_percent is 0);
 *        may be NULL.
 * @ret_error: Filled on failure (TXN_ABORTED when any deletion failed).
 *
 * With min_free_percent, each deletion waits (at most a minute) for the cleaner to
 * free its space before free space is measured again.
 * Return: 0 on success, a negative errno on failure.
 */
int txn_gc_retention(const char *target, const struct txn_retention *policy,
		     const struct txn_options *options, const struct txn_gc_notes *notes,
		     unsigned *ret_removed, unsigned *ret_free_percent,
		     struct txn_error *ret_error);

/**
 * txn_gc_release() - Release the pin of a generation kept for the concurrent writes
 * it holds, so that gc may drop it like any other.
 * @target: Path of the subvolume.
 * @generation: The pinned generation.
 * @options: Lock settings.
 * @ret_error: Filled on failure (TXN_INVALID when it is not pinned).
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_gc_release(const char *target, uint64_t generation, const struct txn_options *options,
		   struct txn_error *ret_error);

enum txn_init_action {
	TXN_INIT_ALREADY,         /* already a subvolume; state directory ensured */
	TXN_INIT_CREATED,         /* did not exist: made an empty subvolume */
	TXN_INIT_CONVERTED,       /* a plain directory, now a subvolume with its content */
};

/**
 * txn_init() - Make @path a managed subvolume, atomically swapping a plain directory
 * for a subvolume holding the same content. An interrupted transaction found there
 * is recovered first, keeping options->keep generations (NULL or 0: the default).
 * After the exchange @path is checked to be the subvolume made (by UUID), else
 * TXN_NEEDS_PERSON.
 * @path: A subvolume, a plain directory, or a path that does not exist yet.
 * @options: Lock and keep settings, and the progress callback; may be NULL.
 * @ret_action: What was done; may be NULL.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_init(const char *path, const struct txn_options *options,
	     enum txn_init_action *ret_action, struct txn_error *ret_error);

struct txn_generation {
	uint64_t number;
	uint64_t otime;           /* creation time of the snapshot, seconds */
	bool pinned;              /* holds concurrent writes: gc keeps it until released */
	char mounted_at[256];     /* a mount point showing it, "" when none (status only):
	                             gc keeps it while mounted */
};

struct txn_state {
	char target[4096];
	char state_dir[4096];
	char uuid[37];
	uint64_t generation;      /* current generation */
	struct txn_generation *kept; /* oldest first; free() it */
	size_t n_kept;
	bool journal_present;     /* an interrupted or running transaction */
	char journal_txid[40];
	char journal_kind[16];
	bool locked;
	char lock_holder[256];    /* when locked */
	bool trans_interrupted;   /* a trans window was cut short: its marker is still there */
	/* The journal belongs to a transaction that is running now: its live holder
	 * has the lock (journal_present is true too). Then lock_pid is its pid, as the
	 * lock file names it (0 when it does not). */
	bool running;
	int lock_pid;
	/* A mount point of a subvolume (`/`, a subvol= mount): its state lives at the
	 * filesystem's top level; subvolume is its path there. */
	bool mounted;
	char subvolume[4096];
	/* Mounted: the subvolume's name at the top level holds a newer tree than the
	 * mount shows; the switch happens at the next mount. */
	bool switch_pending;
};

/**
 * txn_state_read() - Read the state of @target without taking the lock. A journal
 * whose lock is held (before or after the journal is read) is reported as running,
 * not interrupted.
 * @target: Path of the subvolume.
 * @ret_state: Filled on success; the caller free()s ret_state->kept.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_state_read(const char *target, struct txn_state *ret_state,
		   struct txn_error *ret_error);

struct txn_probe {
	bool exists;
	bool is_btrfs;
	bool is_subvolume;
	bool is_mount_point;
	bool rename_exchange;     /* renameat2(RENAME_EXCHANGE) answers */
	int trans_ioctl;          /* 1 answers, 0 missing (ENOTTY), -1 unknown */
	int trans_errno;          /* errno of the TRANS_START probe when not 1 */
	char kernel[128];
};

/**
 * txn_probe() - Report what @path's kernel and filesystem support; never writes.
 * @path: A directory; one that does not exist is reported with exists false.
 * @ret_probe: Filled, also when @path does not exist.
 *
 * Return: 0, or a negative errno when @path cannot be opened.
 */
int txn_probe(const char *path, struct txn_probe *ret_probe);

/**
 * txn_state_dir_path() - The path of @target's state directory, for a caller that
 * reads history.jsonl itself.
 * @target: Path of the subvolume (a plain directory is accepted).
 * @ret_path: Filled with the path.
 * @size: Size of @ret_path.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_state_dir_path(const char *target, char *ret_path, size_t size,
		       struct txn_error *ret_error);

struct json_t;
/**
 * txn_history_each() - Call @fn with each line of @target's history.jsonl, oldest
 * first: every complete line that is a JSON object (a line torn by a crash is not a
 * transaction and is skipped).
 * @target: Path of the subvolume (a plain directory is accepted).
 * @fn: Called with the parsed line, which it may keep with json_incref(); returning
 * true stops the walk.
 * @ctx: Passed to @fn.
 * @ret_error: Filled on failure.
 *
 * A target without a state directory has no history: @fn is not called.
 * Return: 0 on success, a negative errno on failure.
 */
int txn_history_each(const char *target, bool (*fn)(struct json_t *line, void *ctx), void *ctx,
		     struct txn_error *ret_error);

/* A pre/post pair of tagged snapshots (txn_snapshot_tag()), from the history. */
struct txn_pair {
	char pair[40];            /* the pair id: the pre's txid */
	uint64_t pre;             /* the generation gen-N holding the pre snapshot */
	uint64_t post;            /* the generation holding the post; 0: none yet */
	bool pre_dropped;         /* gen-PRE no longer exists (gc dropped it) */
	bool post_dropped;        /* gen-POST no longer exists; false without a post */
	char *description;        /* the pre's description; NULL when it had none */
};

/**
 * txn_pairs_read() - The pre/post pairs of @target, oldest pre first; a post pairs
 * with the pre its history line names.
 * @target: Path of the subvolume (a plain directory is accepted).
 * @ret_pairs: Filled with a malloc'd array (NULL when there is none); free it with
 * txn_pairs_free().
 * @ret_n: Filled with the number of pairs.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_pairs_read(const char *target, struct txn_pair **ret_pairs, size_t *ret_n,
		   struct txn_error *ret_error);

/**
 * txn_pairs_free() - Free what txn_pairs_read() returned.
 * @pairs: The array; NULL is allowed.
 * @n: Its number of pairs.
 */
void txn_pairs_free(struct txn_pair *pairs, size_t n);
/* Called by txn_list_targets() with each managed target's path; a negative
 * return stops the listing and is returned. */
typedef int (*txn_list_fn)(const char *target, void *ctx);

/**
 * txn_list_targets() - The managed targets beneath a mounted Btrfs filesystem:
 * subvolumes P/NAME below @mount_point with a state directory P/.btrfs-txn/NAME.
 * @mount_point: Where a subvolume of a Btrfs filesystem is mounted.
 * @fn: Called once per target, with @mount_point joined to its path below it.
 * @ctx: Passed to @fn.
 *
 * Needs CAP_SYS_ADMIN (the subvolume search). Reads only; takes no lock.
 * Return: 0; -EMEDIUMTYPE when @mount_point is not Btrfs; -ENOTDIR when it is not a
 * subvolume's root (a bind mount of a directory); another -errno; or @fn's.
 */
int txn_list_targets(const char *mount_point, txn_list_fn fn, void *ctx);

/* One line of a plan: what an op would do to the live target. */
struct txn_plan_entry {
	size_t index;
	const struct txn_op *op;
	const char *action;       /* "create", "replace", "unchanged", "after", "fails", ... */
	char detail[256];         /* e.g. "120 -> 96 bytes" or why it would fail */
};

/**
 * txn_plan() - Describe what txn_apply() would change, writing nothing.
 * @target: Path of the subvolume.
 * @batch: The batch.
 * @each: Called once per op, in order.
 * @ctx: Passed to @each.
 * @ret_precondition: Filled with the first failing precondition, if any; its
 *   status is TXN_OK when all hold.
 * @ret_error: Filled on failure (target unusable).
 *
 * Ops are judged against the live tree; an op on a path that an earlier op of the
 * batch touches is reported as "after op N" since its outcome depends on it.
 * Return: 0, or a negative errno when the target cannot be read.
 */
int txn_plan(const char *target, const struct txn_batch *batch,
	     void (*each)(const struct txn_plan_entry *entry, void *ctx), void *ctx,
	     struct txn_error *ret_precondition, struct txn_error *ret_error);

/* children.c: children that die with btrfs-txn (init's cp, verify hooks, run's
 * COMMAND). */
/**
 * txn_child_die_with_parent() - In a child after fork(): ask for SIGKILL when
 * @parent dies, and _exit(127) at once when it already has (the race prctl alone
 * leaves open).
 * @parent: The pid of the parent, taken before fork().
 *
 * Return: nothing.
 */
void txn_child_die_with_parent(pid_t parent);
/**
 * txn_child_guard_start() - Start a guard for a process group: a small process that
 * waits on a pipe and, when this process dies (even by SIGKILL), kills the whole
 * group with SIGKILL, so nothing a child started outlives us.
 * @pgid: The process group to guard.
 * @ret_pipe_fd: Filled with the pipe's end that keeps the guard waiting.
 *
 * Return: the guard's pid, or a negative errno.
 */
pid_t txn_child_guard_start(pid_t pgid, int *ret_pipe_fd);
/**
 * txn_child_guard_end() - Stop a guard without touching the group it guards.
 * @guard: The pid txn_child_guard_start() returned.
 * @pipe_fd: The pipe end it filled; closed here.
 *
 * Return: nothing.
 */
void txn_child_guard_end(pid_t guard, int pipe_fd);
/**
 * txn_child_exec() - In a child: run @executable (a path already judged) with @argv,
 * as execvp() would once it found it: a file the kernel cannot run is handed to
 * /bin/sh as a script.
 * @executable: The path to run.
 * @argv: Its arguments, argv[0] first, NULL-terminated.
 *
 * Return: only on failure, with errno set.
 */
void txn_child_exec(const char *executable, char *const argv[]);

/*
 * Strings from a tree btrfs-txn does not trust (txn/escape.c): in errors, text and
 * JSON alike, and the engine's own records. txn_escape_text() returns a malloc'd
 * copy of @len bytes of @text with control characters, C1 and bidi controls and
 * invalid UTF-8 shown as \n, \t, \xHH or \uHHHH and the backslash doubled (NULL
 * when out of memory); txn_unescape_text() reverses it (-EINVAL on a malformed
 * escape). txn_text_is_plain() is true when txn_escape_text() would change nothing
 * but backslashes.
 */
/**
 * txn_escape_text() - Escape @len bytes of @text, as described above.
 * @text: The bytes, not necessarily NUL-terminated.
 * @len: How many.
 *
 * Return: a malloc'd string, or NULL when out of memory.
 */
char *txn_escape_text(const char *text, size_t len);
/**
 * txn_unescape_text() - Reverse txn_escape_text().
 * @text: The escaped text.
 * @ret_text: Filled with a malloc'd copy of the original bytes (NUL-terminated).
 * @ret_len: Filled with their number.
 *
 * Return: 0, -EINVAL on a malformed escape, or -ENOMEM.
 */
int txn_unescape_text(const char *text, char **ret_text, size_t *ret_len);
/**
 * txn_text_is_plain() - Whether txn_escape_text() would change nothing but
 * backslashes.
 * @text: The bytes.
 * @len: How many.
 *
 * Return: true when plain.
 */
bool txn_text_is_plain(const char *text, size_t len);
struct json_t;
/**
 * txn_json_name() - A JSON string for a name from a tree.
 * @name: The name.
 * @escaped: Set to true when the escaped form was used; may be NULL.
 *
 * Return: a new jansson string, the name itself when it is plain, else its escaped
 * form; NULL when out of memory.
 */
struct json_t *txn_json_name(const char *name, bool *escaped);

/* ---- send and receive (send.c, receive.c; state kept: received.c) ---- */

#define TXN_SEND_PARENT_AUTO UINT64_MAX       /* the newest sent generation older than the one sent */
#define TXN_SEND_NO_PARENT (UINT64_MAX - 1)   /* a full stream */
struct txn_send_options {
	uint64_t generation;      /* a kept generation, or TXN_GENERATION_LIVE */
	uint64_t parent;          /* a sent generation, or TXN_SEND_PARENT_AUTO / _NO_PARENT */
};

struct txn_send_result {
	uint64_t generation;      /* the generation sent */
	bool incremental;
	uint64_t parent;          /* its parent's generation, when incremental */
	char snapshot[256];       /* sent-N.LINEAGE.TXID in the state directory */
	char uuid[37];            /* that snapshot's UUID (the receiver's received UUID) */
	char lineage[37];
	unsigned dropped;         /* older sent snapshots removed beyond keep */
};

/**
 * txn_send() - Write a Btrfs send stream of a generation of @target to @out_fd.
 * @target: Path of the subvolume.
 * @send: Which generation and which parent; NULL: the live tree, parent auto.
 * @out_fd: Where the kernel writes the stream (a file or a pipe).
 * @options: Lock settings; keep is how many sent snapshots are kept (at least 1).
 * @ret_result: Filled on success.
 * @ret_error: Filled on failure.
 *
 * The tree is first kept as the read-only snapshot sent-N.LINEAGE.TXID in the state
 * directory, reused while the live tree does not change. The stream is made by
 * BTRFS_IOC_SEND; incremental against the sent snapshot of the parent generation.
 * Return: 0 on success, a negative errno on failure.
 */
int txn_send(const char *target, const struct txn_send_options *send, int out_fd,
	     const struct txn_options *options, struct txn_send_result *ret_result,
	     struct txn_error *ret_error);

struct txn_receive_options {
	int in_fd;                /* the stream */
	bool force;               /* replace another lineage, or a tree changed locally */
	struct txn_verify verify; /* run on the staging tree; argv NULL: none */
	/* Told, before a drift refusal, of each change that would be discarded (one
	 * line each: a transaction since the last receive, or a path changed in place).
	 * May be NULL. */
	void (*discarded)(const char *what, void *ctx);
	void *discarded_ctx;
};

struct txn_receive_result {
	struct txn_result txn;    /* generation, previous, txid, timing, concurrent */
	bool created;             /* the target did not exist: made as init makes it */
	bool incremental;
	uint64_t origin_generation; /* the sender's generation, when it is btrfs-txn */
	char origin_lineage[37];  /* "" when the stream did not come from btrfs-txn send */
	char origin_txid[40];
	char received[64];        /* recv-TXID, kept read-only as the next parent */
	size_t drift;             /* with force: changes discarded */
};

/**
 * txn_receive() - Land a Btrfs send stream on @target with the commit protocol of
 * apply (a snapshot of the received read-only subvolume is swapped in).
 * @target: Path of the subvolume; made as by txn_init() when it does not exist.
 * @receive: The stream and the refusal overrides.
 * @options: Lock and keep settings (keep also bounds the received subvolumes kept).
 * @ret_result: Filled on success.
 * @ret_error: Filled on failure: TXN_ABORTED with the target unchanged for a stream
 *   whose parent is not held here, of another lineage, into a tree changed since its
 *   last receive (without force), or a stream that is incomplete or damaged.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_receive(const char *target, const struct txn_receive_options *receive,
		const struct txn_options *options, struct txn_receive_result *ret_result,
		struct txn_error *ret_error);

/**
 * txn_sent_live() - The UUID of the sent snapshot that still is @target's live tree:
 * the one of @generation, when that is the current generation and no inode of the
 * live tree changed since the snapshot was taken (the UUID a receiver that holds
 * the live tree has as its received UUID).
 * @target: Path of the subvolume.
 * @generation: The generation the caller takes for the current one.
 * @ret_uuid: Filled on success: the UUID, or "" when there is no such snapshot (never
 *   sent at @generation, or changed since: the next send makes a new one).
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_sent_live(const char *target, uint64_t generation, char ret_uuid[37],
		  struct txn_error *ret_error);

/**
 * txn_transfers_json() - What @target sent and received, for `status --json`: a
 * JSON text {"lineage": ..., "sent": [...], "received": [...]} (the engine's own
 * state, as it keeps it).
 * @target: Path of the subvolume.
 * @ret_text: A malloc'd string on success; free() it.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_transfers_json(const char *target, char **ret_text, struct txn_error *ret_error);

/**
 * txn_destination_record() - Record that @destination now holds @generation of
 * @target as sent (push does, after each commit there), or forget it: the sent
 * snapshot a known destination holds is never dropped by send's keep rule, so it
 * stays the parent of that destination's next incremental stream.
 * @target: Path of the sending subvolume.
 * @destination: How the destination is named (a path or an ssh:// URL).
 * @generation: The generation it holds (ignored with @forget).
 * @forget: Drop the record instead.
 * @ret_error: Filled on failure.
 *
 * Return: 0 on success, a negative errno on failure.
 */
int txn_destination_record(const char *target, const char *destination, uint64_t generation,
			   bool forget, struct txn_error *ret_error);

#pragma GCC visibility pop
