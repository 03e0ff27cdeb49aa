/* SPDX-License-Identifier: MIT */
/*
 * test_logreplay.c: the dm-log-writes replayer (vmtests/logreplay.c) on logs built
 * by hand, byte by byte, in the kernel's format: exact replayed bytes, replay up to an
 * entry or a mark, resuming forward from a remembered position, discards, FLUSH/FUA
 * accounting, and the logs it must refuse (bad magic, truncated, no FUA at all).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../vmtests/logreplay.c"

/* A log under construction: a growing buffer written to a file at the end. */
struct builder {
	unsigned char *bytes;
	size_t size;
	uint32_t sectorsize;
	uint64_t entries;
};

static void put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void grow(struct builder *b, size_t more)
{
	b->bytes = realloc(b->bytes, b->size + more);
	assert_non_null(b->bytes);
	memset(b->bytes + b->size, 0, more);
	b->size += more;
}

static void begin(struct builder *b, uint32_t sectorsize)
{
	memset(b, 0, sizeof(*b));
	b->sectorsize = sectorsize;
	grow(b, sectorsize); /* the super block, filled in by finish() */
}

/* add() - one entry; @fill is the byte every data sector holds, @mark a mark name. */
static void add(struct builder *b, uint64_t sector, uint64_t nr_sectors, uint64_t flags,
		int fill, const char *mark)
{
	size_t header = b->size;
	size_t data = (flags & (LOGREPLAY_DISCARD | LOGREPLAY_MARK)) ? 0 : nr_sectors * b->sectorsize;

	grow(b, b->sectorsize + data);
	put64(b->bytes + header, sector);
	put64(b->bytes + header + 8, nr_sectors);
	put64(b->bytes + header + 16, flags);
	put64(b->bytes + header + 24, mark ? strlen(mark) : 0);
	if (mark)
		memcpy(b->bytes + header + 32, mark, strlen(mark));
	memset(b->bytes + header + b->sectorsize, fill, data);
	b->entries++;
}

/* finish() - write the super block and the file; @cut drops that many bytes at the end. */
static void finish(struct builder *b, const char *path, uint64_t magic, size_t cut)
{
	uint32_t sectorsize = htole32(b->sectorsize);
	FILE *f;

	put64(b->bytes, magic);
	put64(b->bytes + 8, 1);
	put64(b->bytes + 16, b->entries);
	memcpy(b->bytes + 24, &sectorsize, 4);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->bytes, 1, b->size - cut, f), b->size - cut);
	assert_int_equal(fclose(f), 0);
	free(b->bytes);
	b->bytes = NULL;
}

static char log_path[64], image_path[64], other_path[64];

static int setup(void **state)
{
	(void)state;
	int fd;

	strcpy(log_path, "/tmp/test_logreplay.log.XXXXXX");
	strcpy(image_path, "/tmp/test_logreplay.img.XXXXXX");
	strcpy(other_path, "/tmp/test_logreplay.oth.XXXXXX");
	fd = mkstemp(log_path);
	close(fd);
	fd = mkstemp(image_path);
	close(fd);
	fd = mkstemp(other_path);
	close(fd);
	return fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(log_path);
	unlink(image_path);
	unlink(other_path);
	return 0;
}

/* image_bytes() - the image's whole content, exactly @size bytes. */
static unsigned char *image_bytes(const char *path, size_t size)
{
	unsigned char *bytes = calloc(1, size + 1);
	struct stat st;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	assert_int_equal((size_t)st.st_size, size);
	assert_int_equal(fread(bytes, 1, size + 1, f), size);
	fclose(f);
	return bytes;
}

static void expect_range(const unsigned char *bytes, size_t from, size_t to, int value)
{
	for (size_t i = from; i < to; i++)
		if (bytes[i] != value)
			fail_msg("byte %zu is %#x, expected %#x", i, bytes[i], value);
}

static int open_image(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

/* The standard log of these tests: writes, a flush, a mark, an overwrite, a FUA write. */
static void standard_log(uint32_t sectorsize)
{
	struct builder b;

	begin(&b, sectorsize);
	add(&b, 0, 2, 0, 0xaa, NULL);                           /* 0: sectors 0-1 = aa */
	add(&b, 4, 1, LOGREPLAY_METADATA, 0xbb, NULL);          /* 1: sector 4 = bb */
	add(&b, 0, 0, LOGREPLAY_FLUSH, 0, NULL);                /* 2: flush */
	add(&b, 0, 0, LOGREPLAY_MARK, 0, "before");             /* 3: mark */
	add(&b, 1, 1, 0, 0xcc, NULL);                           /* 4: sector 1 = cc */
	add(&b, 7, 1, LOGREPLAY_FUA, 0xdd, NULL);               /* 5: FUA sector 7 = dd */
	add(&b, 0, 0, LOGREPLAY_MARK, 0, "after");              /* 6: mark */
	finish(&b, log_path, LOGREPLAY_MAGIC, 0);
}

static void test_exact_bytes(void **state)
{
	(void)state;
	struct logreplay lr;
	unsigned char *bytes;
	uint64_t fua, flush, marks;
	const size_t ss = 512;
	int fd;

	standard_log(ss);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	assert_int_equal(lr.nr_entries, 7);
	assert_int_equal(lr.sectorsize, ss);
	assert_int_equal(logreplay_scan(&lr, &fua, &flush, &marks), 0);
	assert_int_equal(fua, 1);
	assert_int_equal(flush, 1);
	assert_int_equal(marks, 2);
	fd = open_image(image_path, 8 * ss);
	assert_int_equal(logreplay_replay(&lr, fd, 6, NULL), 0);
	close(fd);
	assert_int_equal(lr.next_index, 7);
	logreplay_close(&lr);

	bytes = image_bytes(image_path, 8 * ss);
	expect_range(bytes, 0, ss, 0xaa);
	expect_range(bytes, ss, 2 * ss, 0xcc);      /* entry 4 overwrote entry 0's second sector */
	expect_range(bytes, 2 * ss, 4 * ss, 0);
	expect_range(bytes, 4 * ss, 5 * ss, 0xbb);
	expect_range(bytes, 5 * ss, 7 * ss, 0);
	expect_range(bytes, 7 * ss, 8 * ss, 0xdd);  /* the FUA write's data counts */
	free(bytes);
}

/* Up to a mark stops there: what came after is not applied. */
static void test_up_to_mark(void **state)
{
	(void)state;
	struct logreplay lr;
	unsigned char *bytes;
	int fd;

	standard_log(512);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	fd = open_image(image_path, 4096);
	assert_int_equal(logreplay_replay(&lr, fd, 0, "before"), 0);
	assert_int_equal(lr.next_index, 4);
	close(fd);
	bytes = image_bytes(image_path, 4096);
	expect_range(bytes, 0, 1024, 0xaa);
	expect_range(bytes, 1024, 2048, 0);
	expect_range(bytes, 2048, 2560, 0xbb);
	expect_range(bytes, 2560, 4096, 0);
	free(bytes);

	/* An unknown mark is an error naming it, not a silent full replay. */
	fd = open_image(other_path, 4096);
	logreplay_seek(&lr, 0, lr.sectorsize);
	assert_int_equal(logreplay_replay(&lr, fd, 0, "nowhere"), -ENOENT);
	assert_non_null(strstr(lr.error, "nowhere"));
	close(fd);
	logreplay_close(&lr);
}

/* Replaying 0..2 then resuming at 3..6 gives the same image as 0..6 in one go, and
 * the intermediate image is exactly the state after entry 2. */
static void test_resume_forward(void **state)
{
	(void)state;
	struct logreplay lr;
	uint64_t index, offset;
	unsigned char *step, *whole;
	int fd;

	standard_log(4096);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	fd = open_image(image_path, 8 * 4096);
	assert_int_equal(logreplay_replay(&lr, fd, 2, NULL), 0);
	index = lr.next_index;
	offset = lr.next_offset;
	assert_int_equal(index, 3);
	/* super + (header + 2 data) + (header + 1 data) + header */
	assert_int_equal(offset, 4096ULL * (1 + 3 + 2 + 1));
	step = image_bytes(image_path, 8 * 4096);
	expect_range(step, 0, 8192, 0xaa);
	expect_range(step, 4 * 4096, 5 * 4096, 0xbb);
	free(step);
	logreplay_close(&lr);

	/* A new reader (another process, in the checker) picks up where that one stopped. */
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	logreplay_seek(&lr, index, offset);
	assert_int_equal(logreplay_replay(&lr, fd, 6, NULL), 0);
	close(fd);
	logreplay_close(&lr);

	assert_int_equal(logreplay_open(&lr, log_path), 0);
	fd = open_image(other_path, 8 * 4096);
	assert_int_equal(logreplay_replay(&lr, fd, 6, NULL), 0);
	close(fd);
	logreplay_close(&lr);
	step = image_bytes(image_path, 8 * 4096);
	whole = image_bytes(other_path, 8 * 4096);
	assert_memory_equal(step, whole, 8 * 4096);
	expect_range(step, 4096, 8192, 0xcc);
	free(step);
	free(whole);
}

/* Entries read back with their flags, positions and mark names. */
static void test_entries(void **state)
{
	(void)state;
	struct logreplay lr;
	struct logreplay_entry e;
	uint64_t flags[7] = { 0 };
	int n = 0, r;

	standard_log(512);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	while ((r = logreplay_next(&lr, &e)) == 1) {
		assert_int_equal(e.index, n);
		flags[n++] = e.flags;
		if (e.index == 3)
			assert_string_equal(e.mark, "before");
		if (e.index == 6)
			assert_string_equal(e.mark, "after");
		if (e.index == 5) {
			assert_int_equal(e.sector, 7);
			assert_int_equal(e.offset, 512 * (1 + 3 + 2 + 1 + 1 + 2));
		}
	}
	assert_int_equal(r, 0);
	assert_int_equal(n, 7);
	assert_int_equal(flags[2], LOGREPLAY_FLUSH);
	assert_int_equal(flags[5], LOGREPLAY_FUA);
	assert_string_equal(logreplay_flags_name(flags[2] | flags[5]), "FLUSH|FUA");
	assert_string_equal(logreplay_flags_name(0), "WRITE");
	logreplay_close(&lr);
}

/* A discard zeroes its range (no data follows it in the log) and the next entry is
 * found right after its header. */
static void test_discard(void **state)
{
	(void)state;
	struct builder b;
	struct logreplay lr;
	unsigned char *bytes;
	int fd;

	begin(&b, 512);
	add(&b, 0, 8, 0, 0x11, NULL);
	add(&b, 2, 3, LOGREPLAY_DISCARD, 0, NULL);
	add(&b, 3, 1, LOGREPLAY_FUA, 0x22, NULL);
	finish(&b, log_path, LOGREPLAY_MAGIC, 0);

	assert_int_equal(logreplay_open(&lr, log_path), 0);
	fd = open_image(image_path, 8 * 512);
	assert_int_equal(logreplay_replay(&lr, fd, 2, NULL), 0);
	close(fd);
	logreplay_close(&lr);
	bytes = image_bytes(image_path, 8 * 512);
	expect_range(bytes, 0, 1024, 0x11);
	expect_range(bytes, 1024, 1536, 0);
	expect_range(bytes, 1536, 2048, 0x22);
	expect_range(bytes, 2048, 2560, 0);
	expect_range(bytes, 2560, 4096, 0x11);
	free(bytes);
}

/* A log cut inside an entry's data is refused when that entry is reached, and by scan
 * at once; the entries before it still replay. */
static void test_truncated(void **state)
{
	(void)state;
	struct builder b;
	struct logreplay lr;
	struct logreplay_entry e;
	int fd;

	begin(&b, 512);
	add(&b, 0, 1, LOGREPLAY_FUA, 0x33, NULL);
	add(&b, 1, 4, 0, 0x44, NULL);
	finish(&b, log_path, LOGREPLAY_MAGIC, 100);

	assert_int_equal(logreplay_open(&lr, log_path), 0);
	assert_int_equal(logreplay_scan(&lr, NULL, NULL, NULL), -EBADMSG);
	assert_non_null(strstr(lr.error, "truncated"));
	fd = open_image(image_path, 4096);
	assert_int_equal(logreplay_replay(&lr, fd, 0, NULL), 0);
	assert_int_equal(logreplay_replay(&lr, fd, 1, NULL), -EBADMSG);
	close(fd);
	logreplay_close(&lr);

	/* The super block says more entries than the file holds: truncated too. */
	begin(&b, 512);
	add(&b, 0, 1, LOGREPLAY_FUA, 0x33, NULL);
	b.entries = 3;
	finish(&b, log_path, LOGREPLAY_MAGIC, 0);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	assert_int_equal(logreplay_next(&lr, &e), 1);
	assert_int_equal(logreplay_next(&lr, &e), -EBADMSG);
	assert_non_null(strstr(lr.error, "truncated"));
	logreplay_close(&lr);

	/* Shorter than a super block. */
	begin(&b, 512);
	finish(&b, log_path, LOGREPLAY_MAGIC, 500);
	assert_int_equal(logreplay_open(&lr, log_path), -EBADMSG);
}

static void test_bad_super(void **state)
{
	(void)state;
	struct builder b;
	struct logreplay lr;

	begin(&b, 512);
	add(&b, 0, 1, LOGREPLAY_FUA, 0x55, NULL);
	finish(&b, log_path, 0x6a736677736873ULL, 0);
	assert_int_equal(logreplay_open(&lr, log_path), -EINVAL);
	assert_non_null(strstr(lr.error, "magic"));
	assert_int_equal(lr.fd, -1);

	begin(&b, 1000);
	add(&b, 0, 1, LOGREPLAY_FUA, 0x55, NULL);
	finish(&b, log_path, LOGREPLAY_MAGIC, 0);
	assert_int_equal(logreplay_open(&lr, log_path), -EINVAL);
	assert_non_null(strstr(lr.error, "sector size"));

	/* Unknown flag bits are damage, not something to guess at. */
	begin(&b, 512);
	add(&b, 0, 1, LOGREPLAY_FUA | (1u << 9), 0x55, NULL);
	finish(&b, log_path, LOGREPLAY_MAGIC, 0);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	assert_int_equal(logreplay_scan(&lr, NULL, NULL, NULL), -EBADMSG);
	logreplay_close(&lr);
}

/* Without a single FUA the disk had no write cache: the log must be refused. */
static void test_no_fua(void **state)
{
	(void)state;
	struct builder b;
	struct logreplay lr;

	begin(&b, 512);
	add(&b, 0, 1, 0, 0x66, NULL);
	add(&b, 0, 0, LOGREPLAY_FLUSH, 0, NULL);
	add(&b, 0, 0, LOGREPLAY_MARK, 0, "end");
	finish(&b, log_path, LOGREPLAY_MAGIC, 0);
	assert_int_equal(logreplay_open(&lr, log_path), 0);
	assert_int_equal(logreplay_scan(&lr, NULL, NULL, NULL), -ENODATA);
	assert_non_null(strstr(lr.error, "FUA"));
	/* scan leaves the position where it was */
	assert_int_equal(lr.next_index, 0);
	assert_int_equal(lr.next_offset, 512);
	logreplay_close(&lr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_to_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_super, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fua, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
