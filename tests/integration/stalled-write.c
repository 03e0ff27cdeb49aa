/* SPDX-License-Identifier: MIT */
/*
 * stalled-write FILE READY GO DONE: one pwrite(2) of 2 MiB to FILE that stops half
 * way until the file GO exists. The second MiB of the buffer is registered with
 * userfaultfd: the kernel stamps FILE's ctime when the write starts, copies the
 * first MiB, then faults on the second; we create READY and resolve the fault only
 * once GO exists. Then the write completes, FILE is closed, DONE is created, and the
 * number of bytes written is printed. For t0230: a write that starts before a
 * transaction's mark and lands after its snapshot.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HALF (1 << 20)

static int uffd;
static const char *ready, *go;

static void touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

static void *serve_faults(void *unused)
{
	(void)unused;
	long page = sysconf(_SC_PAGESIZE);
	char *fill = aligned_alloc((size_t)page, (size_t)page);
	if (!fill)
		exit(1);
	memset(fill, 'B', (size_t)page);
	for (int first = 1;; first = 0) {
		struct pollfd p = { .fd = uffd, .events = POLLIN };
		struct uffd_msg msg;
		if (poll(&p, 1, -1) < 0 || read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT) {
			first = 1;
			continue;
		}
		if (first) {
			touch(ready);
			while (access(go, F_OK) != 0)
				usleep(2000);
		}
		struct uffdio_copy copy = { .dst = msg.arg.pagefault.address & ~((unsigned long)page - 1),
					    .src = (unsigned long)fill, .len = (unsigned long)page };
		ioctl(uffd, UFFDIO_COPY, &copy);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: stalled-write FILE READY GO DONE\n");
		return 2;
	}
	ready = argv[2];
	go = argv[3];
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	char *buf = mmap(NULL, 2 * HALF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || buf == MAP_FAILED || uffd < 0) {
		perror("stalled-write");
		return 1;
	}
	memset(buf, 'A', HALF);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { .start = (unsigned long)buf + HALF, .len = HALF },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	pthread_t server;
	if (ioctl(uffd, UFFDIO_API, &api) < 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ||
	    pthread_create(&server, NULL, serve_faults, NULL) != 0) {
		perror("stalled-write: userfaultfd");
		return 1;
	}
	ssize_t n = pwrite(fd, buf, 2 * HALF, 0);
	printf("%zd\n", n);
	fflush(stdout);
	close(fd);
	touch(argv[4]);
	return n == 2 * HALF ? 0 : 1;
}
