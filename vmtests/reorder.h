/* SPDX-License-Identifier: MIT */
/* reorder.h: crash states a volatile write cache can produce, beyond prefixes of the log.
 *
 * A disk with a volatile write cache may make the writes it acknowledged durable in
 * any order until a FLUSH; a FUA write is durable once acknowledged. The log of
 * dm-log-writes is cut into flush epochs: the entries strictly between two entries
 * with the FLUSH flag (the first epoch starts at the empty disk, the last one ends with
 * the log). A crash state of an epoch is
 *   every entry up to and including the FLUSH that opens the epoch (the base: a flush
 *   made all of it durable, so no state ever drops any of it),
 *   plus a subset of the epoch's writes, in log order, chosen so that every FUA write
 *   logged before a kept write is kept too (the kept write was acknowledged after the
 *   FUA write was, so the FUA write was durable by then).
 * The crash point of such a state is the first FUA write it leaves out, or the FLUSH
 * that closes the epoch: the latest point at which the disk could show it, so the
 * strictest expectation (the marks logged before the crash point have happened).
 *
 * dm-log-writes logs a plain write only when the next FLUSH is issued, after the FUA
 * writes and marks of its epoch; so a kept plain write always brings every FUA write
 * of its epoch with it. States where a plain write became durable before an earlier
 * FUA write of its epoch are real but cannot be placed, and are not generated: the
 * generator never produces a state the disk could not have shown, at the price of
 * leaving some out.
 *
 * Overlapping writes within an epoch: what the image shows at a sector is the last
 * kept write to it. A kept later write hides whether an earlier overlapping one was
 * kept (the two images are the same), while a kept earlier write with the later one
 * dropped is a real, different state. States are therefore told apart by their set of
 * visible writes (kept and not wholly covered by a later kept write): equal sets give
 * byte-identical images, so each distinct image is generated once, and never one a
 * prefix of the log already gives (the prefix states are checked anyway).
 */
#ifndef VMTESTS_REORDER_H
#define VMTESTS_REORDER_H

#include <stddef.h>
#include <stdint.h>

/* What the generator needs of a log entry (see logreplay.h for the flags). */
struct reorder_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
};

struct reorder_state {
	int64_t base;         /* the FLUSH entry the state starts from (applied), -1: empty disk */
	uint64_t crash;       /* the crash point: entries before it may be in the state */
	const uint64_t *kept; /* log indices of the epoch's entries it keeps, ascending */
	size_t kept_count;
	uint64_t number;      /* 0, 1, 2, ... in the order generated */
};

/* Called once per state; a negative return stops the generation and is returned. */
typedef int (*reorder_emit_fn)(const struct reorder_state *state, void *userdata);

/**
 * reorder_generate() - up to @per_epoch distinct reordered states for each flush epoch of
 * @entries (indexed by log position), in log order of their epochs.
 * @seed: the random choices depend only on it and the epoch, so a state reproduces
 * @emit, @userdata: receive each state; the state's arrays live until @emit returns
 * @ret_count: states emitted (may be NULL)
 *
 * Each epoch tries up to 8 * @per_epoch random subsets (a small epoch has few distinct
 * ones). Return: 0, -ENOMEM, or what @emit returned.
 */
int reorder_generate(const struct reorder_entry *entries, size_t count, unsigned per_epoch,
		     uint64_t seed, reorder_emit_fn emit, void *userdata, uint64_t *ret_count);

/**
 * reorder_visible() - which of @kept (log indices, ascending) are visible: kept and
 * not wholly covered by later kept writes. Writes @ret_visible (room for @kept_count)
 * and returns how many, or -ENOMEM.
 */
int reorder_visible(const struct reorder_entry *entries, const uint64_t *kept, size_t kept_count,
		    uint64_t *ret_visible);

#endif
