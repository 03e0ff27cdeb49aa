/* SPDX-License-Identifier: MIT */
/*
 * test_reorder.c: the reordered crash-state generator (vmtests/reorder.c) on hand-made
 * logs. Soundness: no state drops a write that a FLUSH before its epoch made durable,
 * or keeps a write without a FUA write acknowledged before it; overlapping writes: a
 * dropped earlier write under a kept later one is the same image (never generated
 * twice), a kept earlier with the later dropped is a state of its own; every state is
 * distinct and none is a prefix of the log; the seed reproduces the states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vmtests/reorder.c"

#define W(sector, n) { (sector), (n), 0 }
#define FUA(sector, n) { (sector), (n), LOGREPLAY_FUA | LOGREPLAY_METADATA }
#define FLUSH { 0, 0, LOGREPLAY_FLUSH }
#define MARK { 0, 0, LOGREPLAY_MARK }

#define MAX_STATES 4096

/* Every emitted state, copied. */
struct collected {
	size_t count;
	int64_t base[MAX_STATES];
	uint64_t crash[MAX_STATES];
	uint64_t kept_mask[MAX_STATES]; /* bit i: entry i kept (logs of at most 64 entries) */
};

static int collect(const struct reorder_state *state, void *userdata)
{
	struct collected *c = userdata;
	uint64_t mask = 0;

	assert_true(c->count < MAX_STATES);
	assert_int_equal(state->number, c->count);
	for (size_t i = 0; i < state->kept_count; i++) {
		assert_true(state->kept[i] < 64);
		if (i > 0)
			assert_true(state->kept[i] > state->kept[i - 1]); /* ascending */
		mask |= 1ULL << state->kept[i];
	}
	c->base[c->count] = state->base;
	c->crash[c->count] = state->crash;
	c->kept_mask[c->count] = mask;
	c->count++;
	return 0;
}

static struct collected *run(const struct reorder_entry *entries, size_t count, unsigned per_epoch,
			     uint64_t seed)
{
	struct collected *c = calloc(1, sizeof(*c));
	uint64_t emitted = 0;

	assert_non_null(c);
	assert_int_equal(reorder_generate(entries, count, per_epoch, seed, collect, c, &emitted), 0);
	assert_int_equal(emitted, c->count);
	return c;
}

/* check_sound() - the rules of reorder.h, for every state of @c. */
static void check_sound(const struct reorder_entry *entries, size_t count, const struct collected *c)
{
	for (size_t s = 0; s < c->count; s++) {
		int64_t base = c->base[s];
		uint64_t mask = c->kept_mask[s], last_kept = 0, end = count;
		bool any = false;

		/* The base is the empty disk or a FLUSH: everything up to it is in the image. */
		assert_true(base == -1 || (entries[base].flags & LOGREPLAY_FLUSH));
		for (uint64_t i = (uint64_t)(base + 1); i < count; i++)
			if (entries[i].flags & LOGREPLAY_FLUSH) {
				end = i;
				break;
			}
		for (uint64_t i = 0; i < count; i++) {
			if (!(mask & (1ULL << i)))
				continue;
			/* Only the epoch's own writes are chosen: nothing before the base (it is
			 * all there), no FLUSH, no mark, nothing past the closing FLUSH. */
			assert_true((int64_t)i > base);
			assert_true(i < end);
			assert_false(entries[i].flags & (LOGREPLAY_FLUSH | LOGREPLAY_MARK));
			last_kept = i;
			any = true;
		}
		assert_true(any);
		/* A FUA write acknowledged before a kept write is kept. */
		for (uint64_t i = (uint64_t)(base + 1); i < last_kept; i++)
			if (entries[i].flags & LOGREPLAY_FUA)
				assert_true(mask & (1ULL << i));
		/* The crash point: after the last kept write, at the first FUA write left
		 * out or at the closing FLUSH (the end of the log for the last epoch). */
		assert_true(c->crash[s] > last_kept);
		assert_true(c->crash[s] <= end);
		if (c->crash[s] < end) {
			assert_true(entries[c->crash[s]].flags & LOGREPLAY_FUA);
			assert_false(mask & (1ULL << c->crash[s]));
		}
		for (uint64_t i = (uint64_t)(base + 1); i < c->crash[s]; i++)
			if (entries[i].flags & LOGREPLAY_FUA)
				assert_true(mask & (1ULL << i));
	}
}

/* is_prefix() - does @mask keep exactly the first k writes of the epoch after @base? */
static bool is_prefix(const struct reorder_entry *entries, size_t count, int64_t base, uint64_t mask)
{
	bool dropped = false;

	for (uint64_t i = (uint64_t)(base + 1); i < count && !(entries[i].flags & LOGREPLAY_FLUSH); i++) {
		if (entries[i].nr_sectors == 0 || (entries[i].flags & LOGREPLAY_MARK))
			continue;
		if (!(mask & (1ULL << i)))
			dropped = true;
		else if (dropped)
			return false;
	}
	return true;
}

/* Two epochs of plain writes: what the first FLUSH made durable is never dropped. */
static void test_flush_makes_durable(void **state)
{
	const struct reorder_entry log[] = {
		MARK, W(0, 8), W(8, 8), W(16, 8), FLUSH,
		W(24, 8), W(32, 8), MARK, W(40, 8), W(48, 8), FLUSH,
		W(56, 8), W(64, 8), W(72, 8),
	};
	size_t n = sizeof(log) / sizeof(log[0]);
	struct collected *c = run(log, n, 1000, 7);

	(void)state;
	check_sound(log, n, c);
	/* 3 plain writes, no overlap: 2^3 subsets, 4 prefixes; 4 plain writes: 16 - 5. */
	assert_int_equal(c->count, (8 - 4) + (16 - 5) + (8 - 4));
	for (size_t s = 0; s < c->count; s++) {
		assert_false(is_prefix(log, n, c->base[s], c->kept_mask[s]));
		for (size_t t = 0; t < s; t++)
			assert_false(c->base[s] == c->base[t] && c->kept_mask[s] == c->kept_mask[t]);
		/* States of the second epoch start from the first FLUSH (entry 4), so
		 * entries 1-3 are in all of them. */
		if (c->kept_mask[s] & (0xfULL << 5))
			assert_int_equal(c->base[s], 4);
	}
	free(c);
}

/* FUA writes are durable once acknowledged: a kept later write keeps them. */
static void test_fua_kept_before_kept_writes(void **state)
{
	const struct reorder_entry log[] = {
		FUA(128, 8), W(0, 8), FUA(128, 8), W(8, 8), W(16, 8), FLUSH, FUA(128, 8),
	};
	size_t n = sizeof(log) / sizeof(log[0]);
	struct collected *c = run(log, n, 1000, 3);
	bool dropped_middle = false;

	(void)state;
	check_sound(log, n, c);
	assert_true(c->count > 0);
	for (size_t s = 0; s < c->count; s++) {
		/* Write 1 left out under the later kept ones: reordering proper; the
		 * crash point is the closing FLUSH. */
		if (c->kept_mask[s] == ((1ULL << 0) | (1ULL << 2) | (1ULL << 3))) {
			dropped_middle = true;
			assert_int_equal(c->crash[s], 5);
		}
		/* The FLUSH with a FUA after it: never part of a subset. */
		assert_false(c->kept_mask[s] & (1ULL << 6));
	}
	assert_true(dropped_middle);
	/* Write 3 kept over a FUA write 2 left out: impossible, never generated. */
	for (size_t s = 0; s < c->count; s++)
		assert_false(c->kept_mask[s] == ((1ULL << 0) | (1ULL << 1) | (1ULL << 3)));
	free(c);
}

/* Overlapping writes: b overwrites a. Keeping b without a is the image of the prefix
 * (a, b): not generated. Keeping a without b is a real state of its own. */
static void test_overlap(void **state)
{
	const struct reorder_entry log[] = {
		FLUSH, W(0, 8), W(0, 8), W(100, 8), FLUSH,
	};
	size_t n = sizeof(log) / sizeof(log[0]);
	struct collected *c = run(log, n, 1000, 11);
	bool a_and_c = false, c_only = false;

	(void)state;
	check_sound(log, n, c);
	/* Images: {}, {a}, {b}, {c}, {a,c}, {b,c}; prefixes give {}, {a}, {b}, {b,c}. */
	assert_int_equal(c->count, 2);
	for (size_t s = 0; s < c->count; s++) {
		uint64_t m = c->kept_mask[s];

		a_and_c |= m == ((1ULL << 1) | (1ULL << 3));
		c_only |= m == (1ULL << 3);
		/* b kept without a: invisible difference, the image of a prefix. */
		assert_false((m & (1ULL << 2)) && !(m & (1ULL << 1)) && !(m & (1ULL << 3)));
	}
	assert_true(a_and_c);
	assert_true(c_only);
	free(c);
}

/* reorder_visible(): a write wholly under later kept writes is not visible; one that
 * shows through in a single sector is. */
static void test_visible(void **state)
{
	const struct reorder_entry log[] = {
		W(0, 8), W(0, 4), W(4, 4), W(16, 8), W(15, 2), W(14, 12),
	};
	const uint64_t kept[] = { 0, 1, 2, 3, 4, 5 };
	uint64_t visible[6];
	int v;

	(void)state;
	v = reorder_visible(log, kept, 6, visible);
	/* 0 is covered by 1 and 2 together; 3 and 4 by 5. */
	assert_int_equal(v, 3);
	assert_int_equal(visible[0], 1);
	assert_int_equal(visible[1], 2);
	assert_int_equal(visible[2], 5);

	const uint64_t some[] = { 0, 1, 4 };
	v = reorder_visible(log, some, 3, visible);
	/* Without 2, sectors 4-7 of write 0 show. */
	assert_int_equal(v, 3);
	assert_int_equal(visible[0], 0);
}

/* The seed reproduces the states; another seed picks others in a big epoch. */
static void test_seeded(void **state)
{
	struct reorder_entry log[48];
	struct collected *a, *b, *other;
	bool differ = false;

	(void)state;
	log[0] = (struct reorder_entry)FLUSH;
	for (size_t i = 1; i < 47; i++)
		log[i] = (struct reorder_entry)W(8 * i, 8);
	log[47] = (struct reorder_entry)FLUSH;
	a = run(log, 48, 20, 42);
	b = run(log, 48, 20, 42);
	other = run(log, 48, 20, 43);
	check_sound(log, 48, a);
	assert_int_equal(a->count, 20);
	assert_int_equal(b->count, 20);
	assert_memory_equal(a->kept_mask, b->kept_mask, sizeof(a->kept_mask[0]) * 20);
	for (size_t s = 0; s < 20; s++)
		differ |= a->kept_mask[s] != other->kept_mask[s];
	assert_true(differ);
	free(a);
	free(b);
	free(other);
}

/* Nothing to reorder: epochs of one write, marks only, --reorder 0. */
static void test_nothing(void **state)
{
	const struct reorder_entry log[] = { MARK, W(0, 8), FLUSH, FUA(128, 8), FLUSH, MARK };
	struct collected *c;

	(void)state;
	c = run(log, 6, 1000, 1);
	assert_int_equal(c->count, 0);
	free(c);
	const struct reorder_entry two[] = { W(0, 8), W(8, 8) };
	c = run(two, 2, 0, 1);
	assert_int_equal(c->count, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_makes_durable),
		cmocka_unit_test(test_fua_kept_before_kept_writes),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_visible),
		cmocka_unit_test(test_seeded),
		cmocka_unit_test(test_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
