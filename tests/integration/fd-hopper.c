/* SPDX-License-Identifier: MIT */
/*
 * fd-hopper FILE ARM WRITE ACK: opens FILE for writing and detaches. Once the file
 * ARM exists, hands the descriptor on to a new child again and again (the parent
 * exits at once), so that the process holding it is a different one every few
 * tens of microseconds. Once WRITE exists, writes "HOPPED\n" at offset 0 through
 * it, fdatasyncs, writes a line about it to ACK and exits. For t0230: a writer that
 * a single pass over /proc misses, since each process it lists has handed the
 * descriptor on and exited by the time it is looked at.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: fd-hopper FILE ARM WRITE ACK\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror("fd-hopper");
		return 1;
	}
	if (fork() != 0)
		return 0; /* detached: the caller goes on */
	setsid();
	for (long hops = 0;; hops++) {
		if (access(argv[3], F_OK) == 0) {
			ssize_t n = pwrite(fd, "HOPPED\n", 7, 0);
			int synced = fdatasync(fd);
			FILE *ack = fopen(argv[4], "w");
			if (ack) {
				fprintf(ack, "pid %d hops %ld pwrite %zd fdatasync %d\n", getpid(), hops, n, synced);
				fclose(ack);
			}
			return 0;
		}
		if (access(argv[2], F_OK) != 0) {
			usleep(1000);
			continue;
		}
		pid_t child = fork();
		if (child > 0)
			_exit(0);
		if (child < 0)
			usleep(100);
		else
			usleep(50);
	}
}
