/* SPDX-License-Identifier: MIT */
/*
 * generations.c: how many generations to keep (one rule for every command: the
 * spec's keep, else --keep, else TXN_DEFAULT_KEEP) and dropping those beyond it,
 * never a pinned, mounted or paired one.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

unsigned generations_keep(const struct txn_options *options, const struct txn_batch *batch)
{
	if (batch && batch->has_keep)
		return batch->keep;
	if (options && options->keep)
		return options->keep;
	return TXN_DEFAULT_KEEP;
}

/* Deletes gen-@number unless pinned or mounted (then told to @skipped): 1 when kept
 * back, 0 when deleted, -errno (told to @skipped too) when the delete failed. The
 * one rule gc and retention share. */
int generation_drop_one(int state_fd, uint64_t number, const struct txn_gc_notes *skipped)
{
	if (pin_exists(state_fd, number)) {
		if (skipped)
			skipped->fn(number, 0, "pinned: it holds writes of other processes "
					       "('gc --release N' releases it)", skipped->ctx);
		return 1;
	}
	char name[32];
	snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)number);
	char mount[PATH_MAX];
	_cleanup_close_ int gen_fd =
		openat(state_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gen_fd >= 0 && mount_of_subvolume(gen_fd, mount, sizeof(mount)) > 0) {
		char why[PATH_MAX + 64];
		snprintf(why, sizeof(why), "mounted at '%s' (unmount it first)", mount);
		if (skipped)
			skipped->fn(number, 0, why, skipped->ctx);
		return 1;
	}
	int d = delete_subvolume_at(state_fd, name);
	if (d < 0 && skipped)
		skipped->fn(number, -d, "cannot delete it", skipped->ctx);
	return d;
}

/* Deletes gen-N beyond the newest @keep, going on past one it cannot delete, so
 * that a stuck generation never keeps all the others. Never deleted: a pinned one
 * (it holds concurrent writes), one mounted somewhere, and a pre snapshot whose
 * post stays (half a pair cannot be diffed or rolled back to as a pair; it costs
 * one more than @keep). Each kept or failed one beyond @keep is passed to
 * @skipped (may be NULL) with the reason; the first error is returned, after
 * trying them all. */
int drop_generations(int state_fd, unsigned keep, unsigned *ret_removed,
		     const struct txn_gc_notes *skipped)
{
	struct txn_generation *list = NULL;
	size_t n = 0;
	unsigned removed = 0;
	int first_error = 0;
	int r = generations_list(state_fd, &list, &n);
	if (r < 0)
		first_error = r;
	for (size_t i = 0; r == 0 && i + keep < n; i++) {
		uint64_t post;
		uint64_t number = list[i].number;
		if (keep > 0 && tag_pair_post(state_fd, number, &post) &&
		    post >= list[n - keep].number)
			continue;
		int d = generation_drop_one(state_fd, number, skipped);
		if (d == 0)
			removed++;
		else if (d < 0 && !first_error)
			first_error = d;
	}
	free(list);
	if (ret_removed)
		*ret_removed = removed;
	return first_error;
}
