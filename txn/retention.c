/* SPDX-License-Identifier: MIT */
/*
 * retention.c: which generations gc keeps under a retention policy (struct
 * txn_retention), as btrbk and snapper users expect: the newest N, plus the newest
 * generation of each of the last H hours, D days and W weeks (UTC) that have one;
 * then, when the filesystem is fuller than the policy allows, the oldest of the
 * rest too, one at a time, until enough is free. No quotas: free space is what
 * statvfs() says once the cleaner has really freed a deleted generation.
 *
 * Never dropped: a pinned generation (it holds writes of other processes), a mounted
 * one, the newest one; and the two halves of a pre/post pair go together or stay
 * together. retention_select() is the pure part (unit-tested with made-up times).
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* The Unix epoch was a Thursday: weeks start on Monday, 3 days later. */
#define WEEK_OFFSET (3 * 86400)

/* Marks the newest generation of each of the @count newest buckets of @seconds. */
static void keep_buckets(const struct txn_generation *list, size_t n, bool *want,
			 uint64_t seconds, uint64_t offset, unsigned count)
{
	uint64_t last_bucket = UINT64_MAX;
	unsigned taken = 0;
	for (size_t i = n; i-- > 0 && taken < count;) {
		if (!list[i].otime)
			continue; /* unknown time: in no bucket */
		uint64_t bucket = (list[i].otime + offset) / seconds;
		if (bucket == last_bucket)
			continue;
		last_bucket = bucket;
		want[i] = true;
		taken++;
	}
}

void retention_select(const struct txn_generation *list, size_t n,
		      const struct txn_retention *policy, bool *want)
{
	for (size_t i = 0; i < n; i++)
		want[i] = i + policy->keep >= n;
	if (n)
		want[n - 1] = true; /* the newest: what the last transaction replaced */
	keep_buckets(list, n, want, 3600, 0, policy->hourly);
	keep_buckets(list, n, want, 86400, 0, policy->daily);
	keep_buckets(list, n, want, 7 * 86400, WEEK_OFFSET, policy->weekly);
}

/* Percent of the filesystem free for ordinary users, as df shows it. */
static int free_percent(int fd, unsigned *ret)
{
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	*ret = sv.f_blocks ? (unsigned)((unsigned long long)sv.f_bavail * 100 / sv.f_blocks) : 100;
	return 0;
}

/* A deleted subvolume's space comes back only when the cleaner has dropped it:
 * commit, then wait (bounded) until no deleted subvolume is left to clean. */
static void wait_cleaned(int fd)
{
	sync_fs(fd);
	for (int tries = 0; tries < 600; tries++) {
		uint64_t *ids = NULL;
		size_t n = 0;
		if (btrfs_util_deleted_subvolumes_fd(fd, &ids, &n) != BTRFS_UTIL_OK) {
			free(ids);
			break;
		}
		free(ids);
		if (n == 0)
			break;
		usleep(100 * 1000);
	}
	sync_fs(fd);
}

static size_t index_of(const struct txn_generation *list, size_t n, uint64_t number)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].number == number)
			return i;
	return n;
}

/* Drops gen @i, and its pair's other half when it has one (both or neither stay
 * unless one is pinned or mounted). Returns how many went, or the first error. */
static int drop_with_pair(int state_fd, const struct txn_generation *list, size_t n, size_t i,
			  bool *gone, const struct txn_gc_notes *skipped, unsigned *removed)
{
	uint64_t post;
	size_t j = n;
	if (tag_pair_post(state_fd, list[i].number, &post))
		j = index_of(list, n, post);
	if (j < n && !gone[j] && (list[j].pinned || j == n - 1))
		return 1; /* the post must stay, so the pre stays too */
	int r = generation_drop_one(state_fd, list[i].number, skipped);
	if (r != 0)
		return r;
	gone[i] = true;
	(*removed)++;
	if (j < n && !gone[j]) {
		r = generation_drop_one(state_fd, list[j].number, skipped);
		if (r != 0)
			return r;
		gone[j] = true;
		(*removed)++;
	}
	return 0;
}

int drop_by_retention(int state_fd, const struct txn_retention *policy, unsigned *ret_removed,
		      unsigned *ret_free_percent, const struct txn_gc_notes *skipped)
{
	struct txn_generation *list = NULL;
	size_t n = 0;
	unsigned removed = 0;
	int first_error = 0;
	int r = generations_list(state_fd, &list, &n);
	if (r < 0)
		return r;
	bool *want = calloc(n + 1, sizeof(*want));
	bool *gone = calloc(n + 1, sizeof(*gone));
	if (!want || !gone) {
		r = -ENOMEM;
		goto out;
	}
	retention_select(list, n, policy, want);
	/* A pair is kept whole when either half is wanted. */
	for (size_t i = 0; i < n; i++) {
		uint64_t post;
		size_t j = tag_pair_post(state_fd, list[i].number, &post) ? index_of(list, n, post) : n;
		if (j < n && (want[i] || want[j]))
			want[i] = want[j] = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (want[i] || gone[i])
			continue;
		r = drop_with_pair(state_fd, list, n, i, gone, skipped, &removed);
		if (r < 0 && !first_error)
			first_error = r;
	}
	unsigned free_now = 100;
	if (policy->min_free_percent) {
		wait_cleaned(state_fd);
		r = free_percent(state_fd, &free_now);
		/* Then the oldest of what the rules kept, while the disk is too full; never
		 * the newest. */
		for (size_t i = 0; r == 0 && free_now < policy->min_free_percent && i + 1 < n; i++) {
			if (gone[i])
				continue;
			int d = drop_with_pair(state_fd, list, n, i, gone, skipped, &removed);
			if (d < 0 && !first_error)
				first_error = d;
			if (d == 0) {
				wait_cleaned(state_fd);
				r = free_percent(state_fd, &free_now);
			}
		}
		if (r < 0 && !first_error)
			first_error = r;
	}
	if (ret_free_percent)
		*ret_free_percent = free_now;
	r = first_error;
out:
	free(want);
	free(gone);
	free(list);
	if (ret_removed)
		*ret_removed = removed;
	return r;
}
