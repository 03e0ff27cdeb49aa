/* SPDX-License-Identifier: MIT */
/* reorder.c: the reordered crash states of a dm-log-writes log (see reorder.h for the
 * model and why it is sound). Pure computation on entry headers: no I/O, so the unit
 * tests drive it with hand-made logs (tests/unit/test_reorder.c) and logreplay.c's
 * "reorder" command prints its states for the host-side checker.
 */
#include "reorder.h"
#include "logreplay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- a set of 64-bit state keys (open addressing; 0 marks a free slot) ---------- */

struct key_set {
	uint64_t *slots;
	size_t size; /* a power of two */
	size_t used;
};

static int key_set_add(struct key_set *set, uint64_t key, bool *ret_added)
{
	if (key == 0)
		key = 1;
	if ((set->used + 1) * 2 > set->size) {
		size_t size = set->size ? set->size * 2 : 1024;
		uint64_t *slots = calloc(size, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < set->size; i++) {
			size_t j;

			if (!set->slots[i])
				continue;
			for (j = set->slots[i] & (size - 1); slots[j]; j = (j + 1) & (size - 1))
				;
			slots[j] = set->slots[i];
		}
		free(set->slots);
		set->slots = slots;
		set->size = size;
	}
	for (size_t j = key & (set->size - 1); ; j = (j + 1) & (set->size - 1)) {
		if (set->slots[j] == key) {
			*ret_added = false;
			return 0;
		}
		if (!set->slots[j]) {
			set->slots[j] = key;
			set->used++;
			*ret_added = true;
			return 0;
		}
	}
}

/* ---- randomness: splitmix64, seeded per epoch so epochs do not depend on each other */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- visible writes ------------------------------------------------------------- */

struct range {
	uint64_t start, end; /* [start, end) in sectors */
};

/* covered() - is [start, end) inside the union of @ranges (sorted, disjoint, merged)? */
static bool covered(const struct range *ranges, size_t count, uint64_t start, uint64_t end)
{
	size_t low = 0, high = count;

	/* The last range starting at or before @start is the only one that can hold it. */
	while (low < high) {
		size_t mid = (low + high) / 2;

		if (ranges[mid].start <= start)
			low = mid + 1;
		else
			high = mid;
	}
	return low > 0 && ranges[low - 1].end >= end;
}

/* add_range() - merge [start, end) into @ranges (room for one more is there). */
static size_t add_range(struct range *ranges, size_t count, uint64_t start, uint64_t end)
{
	size_t first = 0, last;

	while (first < count && ranges[first].end < start)
		first++;
	last = first;
	while (last < count && ranges[last].start <= end) {
		if (ranges[last].start < start)
			start = ranges[last].start;
		if (ranges[last].end > end)
			end = ranges[last].end;
		last++;
	}
	/* ranges[first, last) merge into one at @first. */
	memmove(ranges + first + 1, ranges + last, (count - last) * sizeof(*ranges));
	ranges[first] = (struct range){ start, end };
	return count - (last - first) + 1;
}

int reorder_visible(const struct reorder_entry *entries, const uint64_t *kept, size_t kept_count,
		    uint64_t *ret_visible)
{
	struct range *ranges = malloc((kept_count + 1) * sizeof(*ranges));
	size_t range_count = 0, visible = 0;

	if (!ranges)
		return -ENOMEM;
	/* From the last write back: a write wholly under later ones cannot be seen. */
	for (size_t i = kept_count; i-- > 0;) {
		const struct reorder_entry *e = &entries[kept[i]];
		uint64_t start = e->sector, end = e->sector + e->nr_sectors;

		if (range_count && covered(ranges, range_count, start, end))
			continue;
		ret_visible[visible++] = kept[i];
		range_count = add_range(ranges, range_count, start, end);
	}
	free(ranges);
	/* Back into log order. */
	for (size_t i = 0; i < visible / 2; i++) {
		uint64_t t = ret_visible[i];

		ret_visible[i] = ret_visible[visible - 1 - i];
		ret_visible[visible - 1 - i] = t;
	}
	return (int)visible;
}

/* state_key() - FNV-1a over the base and the visible writes: equal keys, equal images. */
static uint64_t state_key(int64_t base, const uint64_t *visible, size_t count)
{
	uint64_t hash = 0xcbf29ce484222325ULL;
	uint64_t words[1] = { (uint64_t)base };

	for (size_t i = 0; i <= count; i++) {
		uint64_t word = i == 0 ? words[0] : visible[i - 1];

		for (int b = 0; b < 8; b++) {
			hash ^= (word >> (8 * b)) & 0xff;
			hash *= 0x100000001b3ULL;
		}
	}
	return hash;
}

static bool is_write(const struct reorder_entry *e)
{
	return !(e->flags & (LOGREPLAY_MARK | LOGREPLAY_FLUSH)) && e->nr_sectors > 0;
}

/* epoch_states() - the states of the epoch between @base and @end (exclusive). */
static int epoch_states(const struct reorder_entry *entries, int64_t base, uint64_t end,
			unsigned per_epoch, uint64_t seed, struct key_set *keys,
			reorder_emit_fn emit, void *userdata, uint64_t *number)
{
	uint64_t first = (uint64_t)(base + 1);
	size_t n = 0, emitted = 0;
	uint64_t *writes, *kept, *visible, rng;
	bool added;
	int r = 0;

	writes = malloc((end - first + 1) * sizeof(*writes));
	kept = malloc((end - first + 1) * sizeof(*kept));
	visible = malloc((end - first + 1) * sizeof(*visible));
	if (!writes || !kept || !visible) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = first; i < end; i++)
		if (is_write(&entries[i]))
			writes[n++] = i;
	if (n < 2)
		goto out; /* one write or none: every subset is a prefix */

	/* The prefixes are states the plain replay checks: never generate them again. */
	for (size_t p = 0; p <= n; p++) {
		int v = reorder_visible(entries, writes, p, visible);

		if (v < 0) {
			r = v;
			goto out;
		}
		r = key_set_add(keys, state_key(base, visible, (size_t)v), &added);
		if (r < 0)
			goto out;
	}

	rng = seed ^ ((uint64_t)(base + 1) * 0x2545f4914f6cdd1dULL);
	for (unsigned attempt = 0; attempt < 8u * per_epoch && emitted < per_epoch; attempt++) {
		/* How far into the epoch the disk got, and how much of it the cache destaged:
		 * a mix of sparse and dense subsets. */
		size_t cut = 2 + (size_t)(splitmix64(&rng) % (n - 1));
		unsigned density = 1 + (unsigned)(splitmix64(&rng) % 3); /* quarters kept */
		size_t kept_count = 0, fua_cut = n;
		uint64_t crash;
		int v;

		for (size_t i = 0; i < cut; i++) {
			bool fua = entries[writes[i]].flags & LOGREPLAY_FUA;

			if (fua || splitmix64(&rng) % 4 < density)
				kept[kept_count++] = writes[i];
		}
		/* Every FUA write logged before a kept write is kept (the loop keeps all
		 * before the cut); the crash point is the first FUA write left out. */
		for (size_t i = cut; i < n; i++)
			if (entries[writes[i]].flags & LOGREPLAY_FUA) {
				fua_cut = i;
				break;
			}
		crash = fua_cut < n ? writes[fua_cut] : end;
		v = reorder_visible(entries, kept, kept_count, visible);
		if (v < 0) {
			r = v;
			goto out;
		}
		r = key_set_add(keys, state_key(base, visible, (size_t)v), &added);
		if (r < 0)
			goto out;
		if (!added)
			continue;
		struct reorder_state state = {
			.base = base, .crash = crash, .kept = kept, .kept_count = kept_count,
			.number = (*number)++,
		};
		r = emit(&state, userdata);
		if (r < 0)
			goto out;
		r = 0;
		emitted++;
	}
out:
	free(writes);
	free(kept);
	free(visible);
	return r;
}

int reorder_generate(const struct reorder_entry *entries, size_t count, unsigned per_epoch,
		     uint64_t seed, reorder_emit_fn emit, void *userdata, uint64_t *ret_count)
{
	struct key_set keys = { 0 };
	uint64_t number = 0;
	int64_t base = -1;
	int r = 0;

	if (per_epoch == 0)
		goto out;
	for (size_t i = 0; i <= count; i++) {
		if (i < count && !(entries[i].flags & LOGREPLAY_FLUSH))
			continue;
		r = epoch_states(entries, base, i, per_epoch, seed, &keys, emit, userdata, &number);
		if (r < 0)
			break;
		base = (int64_t)i;
	}
out:
	free(keys.slots);
	if (r == 0 && ret_count)
		*ret_count = number;
	return r;
}
