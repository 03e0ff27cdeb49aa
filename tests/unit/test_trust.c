/* SPDX-License-Identifier: MIT */
/*
 * test_trust.c: the StrictModes walk (txn/trust.c): its pure string helpers, and
 * txn_trust_open()/txn_trust_find_executable() on a scratch directory under /tmp,
 * which is owned by the caller, so the rule's "root or the caller" holds for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test_trust.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char command[PATH_MAX + 32];
	chmod(dir, 0700);
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	return system(command) == 0 ? 0 : -1;
}

/* PATH of @name inside the scratch directory (a static buffer). */
static const char *at(const char *name)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void write_file(const char *name, const char *content, mode_t mode)
{
	FILE *f = fopen(at(name), "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(at(name), mode), 0);
}

static void test_next_component(void **state)
{
	(void)state;
	const char *path = "//a///bc/", *name;
	size_t pos = 0;
	assert_int_equal(txn_trust_next_component(path, &pos, &name), 1);
	assert_memory_equal(name, "a", 1);
	assert_int_equal(txn_trust_next_component(path, &pos, &name), 2);
	assert_memory_equal(name, "bc", 2);
	assert_int_equal(txn_trust_next_component(path, &pos, &name), 0);
	pos = 0;
	assert_int_equal(txn_trust_next_component("", &pos, &name), 0);
}

static void test_splice(void **state)
{
	(void)state;
	char pending[32] = "a/b/c";
	assert_int_equal(txn_trust_splice(pending, sizeof(pending), 3, "../t", 4), 0);
	assert_string_equal(pending, "../t//c");
	assert_int_equal(txn_trust_splice(pending, sizeof(pending), 4, "/etc", 4), 1);
	assert_string_equal(pending, "/etc///c");
	assert_int_equal(txn_trust_splice(pending, sizeof(pending), 0, "", 0), -ENOENT);
	assert_int_equal(txn_trust_splice(pending, sizeof(pending), 0, "a\0b", 3), -ENOENT);
	/* 8 + 1 + 23 + NUL does not fit in 32: unchanged */
	assert_int_equal(txn_trust_splice(pending, sizeof(pending), 0, "xxxxxxxxxxxxxxxxxxxxxxx", 23),
			 -ENAMETOOLONG);
	assert_string_equal(pending, "/etc///c");
	assert_int_equal(txn_trust_splice(pending, sizeof(pending), 0, "xxxxxxxxxxxxxxxxxxxxxx", 22), 0);
	assert_int_equal(strlen(pending), 31);
}

static void test_canonical_step(void **state)
{
	(void)state;
	char canonical[8] = "/";
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), "..", 2), 0);
	assert_string_equal(canonical, "/");
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), "ab", 2), 0);
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), ".", 1), 0);
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), "cd", 2), 0);
	assert_string_equal(canonical, "/ab/cd");
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), "e", 1), -ENAMETOOLONG);
	assert_string_equal(canonical, "/ab/cd");
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), "..", 2), 0);
	assert_string_equal(canonical, "/ab");
	assert_int_equal(txn_trust_canonical_step(canonical, sizeof(canonical), "..", 2), 0);
	assert_string_equal(canonical, "/");
}

static void test_open_trusted(void **state)
{
	(void)state;
	write_file("f", "hello\n", 0644);
	int fd = -1;
	char canonical[PATH_MAX], refusal[PATH_MAX + 256];
	assert_int_equal(txn_trust_open(at("f"), TXN_TRUST_READ, &fd, canonical, refusal,
					sizeof(refusal)), 0);
	char buf[16] = "";
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	close(fd);
	assert_string_equal(canonical, at("f"));

	/* links, relative and through '..', end at the file; the canonical path says so */
	assert_int_equal(mkdir(at("sub"), 0755), 0);
	assert_int_equal(symlink("../f", at("sub/up")), 0);
	assert_int_equal(txn_trust_open(at("sub/./up"), 0, &fd, canonical, refusal, sizeof(refusal)), 0);
	close(fd);
	assert_string_equal(canonical, at("f"));
	assert_int_equal(txn_trust_open(at("sub/up"), TXN_TRUST_NOFOLLOW_LAST, &fd, NULL, refusal,
					sizeof(refusal)), -ELOOP);
}

static void test_open_refused(void **state)
{
	(void)state;
	write_file("g", "x", 0644);
	int fd = -1;
	char refusal[PATH_MAX + 256], want[PATH_MAX + 64];

	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(txn_trust_open(at("g"), 0, &fd, NULL, refusal, sizeof(refusal)), -EPERM);
	snprintf(want, sizeof(want), "'%s' is writable by others (mode 0777)", dir);
	assert_non_null(strstr(refusal, want));
	assert_non_null(strstr(refusal, "(StrictModes: owned by root"));
	assert_string_equal(txn_trust_last_refusal(), refusal);
	/* sticky: the directory passes, its entries are judged by their owner */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(txn_trust_open(at("g"), 0, &fd, NULL, refusal, sizeof(refusal)), 0);
	close(fd);
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(txn_trust_open(at("g"), 0, &fd, NULL, refusal, sizeof(refusal)), -EPERM);
	assert_non_null(strstr(refusal, "is writable by group"));
	assert_int_equal(chmod(dir, 0700), 0);

	assert_int_equal(chmod(at("g"), 0620), 0);
	assert_int_equal(txn_trust_open(at("g"), 0, &fd, NULL, refusal, sizeof(refusal)), -EPERM);
	snprintf(want, sizeof(want), "'%s' is writable by group", at("g"));
	assert_non_null(strstr(refusal, want));
	assert_int_equal(chmod(at("g"), 0644), 0);

	assert_int_equal(symlink("loop2", at("loop1")), 0);
	assert_int_equal(symlink("loop1", at("loop2")), 0);
	assert_int_equal(txn_trust_open(at("loop1"), 0, &fd, NULL, refusal, sizeof(refusal)), -ELOOP);
	assert_non_null(strstr(refusal, "more than 40 symlinks"));

	assert_int_equal(mkfifo(at("fifo"), 0600), 0);
	assert_int_equal(txn_trust_open(at("fifo"), TXN_TRUST_READ, &fd, NULL, refusal, sizeof(refusal)),
			 -EINVAL);
	assert_int_equal(txn_trust_open(dir, TXN_TRUST_READ, &fd, NULL, refusal, sizeof(refusal)), -EINVAL);
	assert_int_equal(txn_trust_open(at("none"), 0, &fd, NULL, refusal, sizeof(refusal)), -ENOENT);
	assert_int_equal(txn_trust_open(at("g/x"), 0, &fd, NULL, refusal, sizeof(refusal)), -ENOTDIR);
}

static void test_find_executable(void **state)
{
	(void)state;
	char canonical[PATH_MAX], refusal[PATH_MAX + 256];
	assert_int_equal(txn_trust_find_executable("sh", canonical, refusal, sizeof(refusal)), 0);
	assert_int_equal(canonical[0], '/');
	assert_int_equal(access(canonical, X_OK), 0);

	assert_int_equal(mkdir(at("bin"), 0755), 0);
	write_file("bin/tool", "#!/bin/sh\n", 0755);
	char *saved = strdup(getenv("PATH") ? getenv("PATH") : "");
	setenv("PATH", at("bin"), 1);
	assert_int_equal(txn_trust_find_executable("tool", canonical, refusal, sizeof(refusal)), 0);
	assert_string_equal(canonical, at("bin/tool"));
	assert_int_equal(chmod(at("bin"), 0777), 0);
	assert_int_equal(txn_trust_find_executable("tool", canonical, refusal, sizeof(refusal)), -EPERM);
	assert_int_equal(txn_trust_find_executable("absent-tool", canonical, refusal, sizeof(refusal)),
			 -ENOENT);
	setenv("PATH", saved, 1);
	free(saved);
	assert_int_equal(txn_trust_find_executable(at("bin/tool"), canonical, refusal, sizeof(refusal)),
			 -EPERM);
	assert_int_equal(chmod(at("bin"), 0755), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_component),
		cmocka_unit_test(test_splice),
		cmocka_unit_test(test_canonical_step),
		cmocka_unit_test_setup_teardown(test_open_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_executable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
