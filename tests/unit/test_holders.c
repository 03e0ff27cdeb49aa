/* SPDX-License-Identifier: MIT */
/*
 * test_holders.c: the /proc scan for processes holding a file (txn/holders.c) on a
 * host with many processes and descriptors, where the scan outlasts its first
 * millisecond and helper threads join it. 240 children each hold 40 descriptors of
 * /dev/null; eight of them, spread over the pid range, also hold the test file open
 * for writing, eight others for reading, one maps it shared and writable, and one
 * maps it private and writable (a copy: it cannot write the file). Every writer
 * must be found, no reader when only writers are asked for, each once, in
 * ascending pid order whichever thread found it; with readers asked for too, both
 * (the private mapping as a reader). One writer is a process whose main thread
 * has exited: its descriptor is held by the one thread left, which /proc shows
 * only in the task directory. Each check runs twice: with the kernel's
 * PROCMAP_QUERY where it has one, and reading /proc/PID/maps as older kernels
 * need. Needs no root: the children are ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define CHILDREN 240
#define NULL_FDS 40
#define WRITERS 8  /* every CHILDREN / WRITERS-th child, from the first */
#define READERS 8  /* the child after each writer */
#define MAPPER (CHILDREN - 2)
#define PRIVATE_MAPPER (CHILDREN - 4)
#define ORPHAN_WRITER (CHILDREN - 6) /* a writer whose main thread exited */

enum role { NONE, WRITER, READER, MAP, PRIVATE_MAP, ORPHAN };

static char file[64];
static struct stat file_st;
static pid_t children[CHILDREN];
static enum role roles[CHILDREN];

static bool is_file(ino_t ino, void *ctx)
{
	(void)ctx;
	return ino == file_st.st_ino;
}

static int orphan_ready;

static void *orphan_thread(void *arg)
{
	(void)arg;
	char byte = 'r';
	if (open(file, O_WRONLY) < 0 || write(orphan_ready, &byte, 1) != 1)
		_exit(1);
	close(orphan_ready);
	for (;;)
		pause();
	return NULL;
}

static void child(enum role role, int ready)
{
	if (role == ORPHAN) {
		/* The thread opens the file and says so; the main thread exits at once. */
		orphan_ready = ready;
		pthread_t thread;
		if (pthread_create(&thread, NULL, orphan_thread, NULL) != 0)
			_exit(1);
		syscall(SYS_exit, 0);
	}
	for (int i = 0; i < NULL_FDS; i++)
		if (open("/dev/null", O_RDONLY) < 0)
			_exit(1);
	int fd = -1;
	if (role == WRITER)
		fd = open(file, O_WRONLY);
	else if (role == READER)
		fd = open(file, O_RDONLY);
	else if (role == MAP || role == PRIVATE_MAP) {
		int map_fd = open(file, O_RDWR);
		if (map_fd < 0 || mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       role == MAP ? MAP_SHARED : MAP_PRIVATE, map_fd, 0) == MAP_FAILED)
			_exit(1);
		close(map_fd); /* the mapping alone holds it */
		fd = 0;
	}
	if (role != NONE && fd < 0)
		_exit(1);
	char byte = 'r';
	if (write(ready, &byte, 1) != 1)
		_exit(1);
	close(ready);
	for (;;)
		pause();
}

static int setup(void **state)
{
	(void)state;
	snprintf(file, sizeof(file), "/tmp/test-holders-XXXXXX");
	int fd = mkstemp(file);
	if (fd < 0 || ftruncate(fd, 4096) < 0 || fstat(fd, &file_st) < 0)
		return -1;
	close(fd);
	int ready[2];
	if (pipe(ready) < 0)
		return -1;
	for (int i = 0; i < CHILDREN; i++) {
		roles[i] = i == MAPPER ? MAP
			   : i == PRIVATE_MAPPER ? PRIVATE_MAP
			   : i == ORPHAN_WRITER ? ORPHAN
			   : i % (CHILDREN / WRITERS) == 0 ? WRITER
			   : i % (CHILDREN / WRITERS) == 1 ? READER
							   : NONE;
		children[i] = fork();
		if (children[i] < 0)
			return -1;
		if (children[i] == 0) {
			close(ready[0]);
			child(roles[i], ready[1]);
		}
	}
	close(ready[1]);
	for (int i = 0; i < CHILDREN; i++) {
		char byte;
		if (read(ready[0], &byte, 1) != 1)
			return -1; /* a child failed to set up */
	}
	close(ready[0]);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < CHILDREN; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
		}
	unlink(file);
	return 0;
}

static enum role role_of(pid_t pid)
{
	for (int i = 0; i < CHILDREN; i++)
		if (children[i] == pid)
			return roles[i];
	return NONE;
}

static void check(bool writable_only, bool maps_text)
{
	holders_maps_text = maps_text;
	struct holder *list = NULL;
	size_t n = 0;
	assert_int_equal(holders_scan(file_st.st_dev, writable_only, is_file, NULL, &list, &n), 0);
	int writers = 0, readers = 0, maps = 0, private_maps = 0, orphans = 0;
	for (size_t i = 0; i < n; i++) {
		enum role role = role_of(list[i].pid);
		if (i > 0)
			assert_true(list[i - 1].pid < list[i].pid); /* in order, each once */
		assert_int_equal(list[i].ino, file_st.st_ino);
		if (role == MAP) {
			assert_string_equal(list[i].what, "map");
			assert_true(list[i].writable);
			maps++;
		} else if (role == PRIVATE_MAP) {
			assert_string_equal(list[i].what, "map");
			assert_false(list[i].writable);
			private_maps++;
		} else if (role == ORPHAN) {
			assert_string_equal(list[i].what, "fd");
			assert_true(list[i].writable);
			orphans++;
		} else if (role == WRITER) {
			assert_string_equal(list[i].what, "fd");
			assert_true(list[i].writable);
			writers++;
		} else if (role == READER) {
			assert_string_equal(list[i].what, "fd");
			assert_false(list[i].writable);
			readers++;
		} else {
			fail_msg("pid %d holds nothing, yet was reported", (int)list[i].pid);
		}
	}
	free(list);
	assert_int_equal(writers, WRITERS);
	assert_int_equal(maps, 1);
	assert_int_equal(readers, writable_only ? 0 : READERS);
	assert_int_equal(private_maps, writable_only ? 0 : 1);
	assert_int_equal(orphans, 1);
}

static void test_writers_only(void **state)
{
	(void)state;
	check(true, false);
}

static void test_readers_too(void **state)
{
	(void)state;
	check(false, false);
}

static void test_writers_only_maps_text(void **state)
{
	(void)state;
	check(true, true);
}

static void test_readers_too_maps_text(void **state)
{
	(void)state;
	check(false, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_only),
		cmocka_unit_test(test_readers_too),
		cmocka_unit_test(test_writers_only_maps_text),
		cmocka_unit_test(test_readers_too_maps_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
