/* SPDX-License-Identifier: MIT */
/*
 * cleanup.h: cleanup attributes in the systemd manner, shared by the engine and the
 * runner: a variable declared _cleanup_close_ or _cleanup_free_ is released when it
 * leaves scope, and TAKE_FD/TAKE_PTR hand ownership on. Not part of the public API.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Cleanup in the systemd manner: the variable is released when it leaves scope. */
static inline void close_fdp(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_close_ __attribute__((cleanup(close_fdp)))
#define _cleanup_free_ __attribute__((cleanup(freep)))

static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -EBADF;
	return r;
}
#define TAKE_FD(fd) take_fd(&(fd))
static inline void *take_ptr(void *p)
{
	void **pp = p;
	void *r = *pp;
	*pp = NULL;
	return r;
}
#define TAKE_PTR(p) take_ptr(&(p))
