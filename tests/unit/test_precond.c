/* SPDX-License-Identifier: MIT */
/*
 * test_precond.c: the SHA-256 behind sha256 preconditions and the plan's "unchanged"
 * verdict (txn/precond.c), pinned to the FIPS 180-2 and NIST test vectors so that a
 * change of hashing library cannot change a digest unnoticed: from memory, from a
 * file read in several chunks, and through txn_preconditions_check() on a real
 * directory, whose message quotes both digests in hex. Also the failure paths of
 * sha256_fd(): a read error and an interrupt leave the digest untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const struct {
	const char *name, *text, *hex;
} vectors[] = {
	{ "empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ "896 bits",
	  "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
	  "klmnopqrlmnopqrsmnopqrstnopqrstu",
	  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
};
/* A million times "a": more than one 64 KiB read of sha256_fd(), and not a multiple. */
#define MILLION_A_HEX "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static char base[64]; /* the test's temporary directory */
static int root_fd = -1;

static void from_hex(const char *hex, unsigned char out[32])
{
	for (size_t i = 0; i < 32; i++) {
		unsigned byte;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		out[i] = (unsigned char)byte;
	}
}

/* Write @len bytes of @data to @name in the test directory; return it opened for reading. */
static int file_with(const char *name, const void *data, size_t len)
{
	int fd = openat(root_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
	fd = openat(root_fd, name, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/test_precond.XXXXXX");
	assert_non_null(mkdtemp(base));
	root_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	txn_interrupted = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(root_fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	txn_interrupted = 0;
	return 0;
}

static void test_bytes_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		unsigned char want[32], got[32];
		from_hex(vectors[i].hex, want);
		sha256_bytes(vectors[i].text, strlen(vectors[i].text), got);
		print_message("# sha256_bytes: %s\n", vectors[i].name);
		assert_memory_equal(got, want, 32);
	}
}

static void test_fd_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		unsigned char want[32], got[32];
		from_hex(vectors[i].hex, want);
		int fd = file_with("f", vectors[i].text, strlen(vectors[i].text));
		print_message("# sha256_fd: %s\n", vectors[i].name);
		assert_int_equal(sha256_fd(fd, got), 0);
		assert_memory_equal(got, want, 32);
		close(fd);
	}
}

static void test_million_a(void **state)
{
	(void)state;
	size_t len = 1000000;
	char *text = malloc(len);
	assert_non_null(text);
	memset(text, 'a', len);
	unsigned char want[32], got[32];
	from_hex(MILLION_A_HEX, want);
	sha256_bytes(text, len, got);
	assert_memory_equal(got, want, 32);
	memset(got, 0, sizeof(got));
	int fd = file_with("big", text, len);
	assert_int_equal(sha256_fd(fd, got), 0);
	assert_memory_equal(got, want, 32);
	close(fd);
	free(text);
}

static void test_fd_failures_leave_digest(void **state)
{
	(void)state;
	unsigned char digest[32], untouched[32];
	memset(digest, 0x5a, sizeof(digest));
	memcpy(untouched, digest, sizeof(digest));
	/* read(2) of a directory fails with EISDIR */
	assert_int_equal(sha256_fd(root_fd, digest), -EISDIR);
	assert_memory_equal(digest, untouched, 32);
	int fd = file_with("f", "abc", 3);
	txn_interrupted = 1;
	assert_int_equal(sha256_fd(fd, digest), -EINTR);
	assert_memory_equal(digest, untouched, 32);
	close(fd);
}

/* A one-precondition batch on @path with the digest @hex. */
static int check_sha256(const char *path, const char *hex, struct txn_error *error)
{
	struct txn_precondition pre = { .path = (char *)path, .has_sha256 = true };
	from_hex(hex, pre.sha256);
	struct txn_batch batch = { .preconditions = &pre, .n_preconditions = 1 };
	memset(error, 0, sizeof(*error));
	return txn_preconditions_check(root_fd, &batch, error);
}

static void test_precondition_digests(void **state)
{
	(void)state;
	struct txn_error error;
	close(file_with("abc", "abc", 3));
	close(file_with("empty", "", 0));
	assert_int_equal(check_sha256("abc", vectors[1].hex, &error), 0);
	assert_int_equal(check_sha256("empty", vectors[0].hex, &error), 0);

	assert_true(check_sha256("abc", vectors[0].hex, &error) < 0);
	assert_int_equal(error.status, TXN_ABORTED);
	assert_string_equal(error.message,
			    "precondition failed: 'abc' has sha256 "
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, expected "
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_vectors),
		cmocka_unit_test_setup_teardown(test_fd_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_million_a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_failures_leave_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precondition_digests, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
