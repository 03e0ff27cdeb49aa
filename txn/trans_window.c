/* SPDX-License-Identifier: MIT */
/*
 * trans_window.c: the trans method's window: BTRFS_IOC_TRANS_START on a fresh fd of
 * T, a watchdog thread that ends an over-long window, and TRANS_END. Also the probe
 * that asks, before anything is written, whether the kernel has the ioctls at all.
 * Called by trans.c only.
 */
#include "trans_parts.h"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/vfs.h>

/* Fills @error for a failed TRANS_START; the probe and the window share this. */
static int trans_start_failed(const struct target *t, int errnum, struct txn_error *error)
{
	if (errnum == ENOTTY) {
		struct utsname u;
		const char *release = uname(&u) == 0 ? u.release : "unknown";
		/* errnum 0: strerror(ENOTTY) would only repeat the sentence less clearly. */
		txn_fail(error, TXN_UNSUPPORTED, 0,
			 "--method trans: this kernel (Linux %s) has no BTRFS_IOC_TRANS_START "
			 "(ENOTTY): the TRANS ioctls were removed in Linux 4.17; use --method snapshot",
			 release);
		return -ENOTTY;
	}
	if (errnum == EPERM)
		return txn_fail(error, TXN_UNSUPPORTED, EPERM,
				"--method trans: BTRFS_IOC_TRANS_START on '%s' needs CAP_SYS_ADMIN "
				"(run as root, or use --method snapshot)", t->path);
	return txn_fail(error, TXN_ABORTED, errnum,
			"--method trans: cannot start a Btrfs transaction on '%s' "
			"(BTRFS_IOC_TRANS_START)", t->path);
}

/* A fresh fd of T for the TRANS ioctls: the kernel keeps the transaction in the
 * file's private data, so it must be a file nobody reads directories through or
 * fsyncs. Checked to be Btrfs itself, since other drivers reuse the ioctl numbers. */
static int open_trans_fd(const struct target *t, struct txn_error *error)
{
	_cleanup_close_ int fd = openat(t->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot open '%s'", t->path);
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return txn_fail(error, TXN_ABORTED, errno, "cannot statfs '%s'", t->path);
	if (sfs.f_type != BTRFS_SUPER_MAGIC)
		return txn_fail(error, TXN_UNSUPPORTED, 0, "'%s' is not on a Btrfs filesystem", t->path);
	return TAKE_FD(fd);
}

/* Whether TRANS_START answers, asked before anything is written; the empty
 * transaction it opens is ended at once. */
int trans_probe(const struct target *t, struct txn_error *error)
{
	_cleanup_close_ int fd = open_trans_fd(t, error);
	if (fd < 0)
		return fd;
	if (ioctl(fd, BTRFS_IOC_TRANS_START) < 0)
		return trans_start_failed(t, errno, error);
	if (ioctl(fd, BTRFS_IOC_TRANS_END) < 0)
		return txn_fail(error, TXN_ABORTED, errno,
				"--method trans: cannot end the probing transaction on '%s' "
				"(BTRFS_IOC_TRANS_END)", t->path);
	return 0;
}

/*
 * The window and its watchdog. The transaction belongs to the file, not to a thread,
 * so a second thread can end it: when the window outlives its timeout, the watchdog
 * issues TRANS_END itself. That unblocks every commit waiting for the handle (other
 * writers' fsync and sync, and an op of ours that waits for a commit); the main
 * thread sees `expired` before its next op and stops. The mutex makes sure exactly
 * one of the two threads issues TRANS_END.
 */
static void *watchdog_main(void *arg)
{
	struct trans_window *w = arg;
	pthread_mutex_lock(&w->mutex);
	int r = 0;
	while (!w->finished && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&w->wake, &w->mutex, &w->deadline);
	if (!w->finished && w->open) {
		w->open = false;
		w->expired = true;
		w->watchdog_errno = ioctl(w->fd, BTRFS_IOC_TRANS_END) < 0 ? errno : 0;
	}
	pthread_mutex_unlock(&w->mutex);
	return NULL;
}

bool trans_window_expired(struct trans_window *w)
{
	pthread_mutex_lock(&w->mutex);
	bool expired = w->expired;
	pthread_mutex_unlock(&w->mutex);
	return expired;
}

/* TRANS_START on a fresh fd of T, then the watchdog. On failure nothing is open. */
int trans_window_open(struct trans_window *w, const struct target *t, double timeout,
		      struct txn_error *error)
{
	*w = (struct trans_window){ .fd = -EBADF };
	_cleanup_close_ int fd = open_trans_fd(t, error);
	if (fd < 0)
		return fd;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&w->mutex, NULL);

	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	if (ioctl(fd, BTRFS_IOC_TRANS_START) < 0) {
		int r = trans_start_failed(t, errno, error);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->mutex);
		return r;
	}
	w->open = true;
	w->fd = TAKE_FD(fd);
	long long ns = (long long)(timeout * 1e9);
	w->deadline.tv_sec += (time_t)(ns / 1000000000LL);
	w->deadline.tv_nsec += (long)(ns % 1000000000LL);
	if (w->deadline.tv_nsec >= 1000000000L) {
		w->deadline.tv_sec++;
		w->deadline.tv_nsec -= 1000000000L;
	}
	/* Signals stay with the main thread, which the caller's handlers expect. */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	int r = pthread_create(&w->thread, NULL, watchdog_main, w);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r != 0) {
		/* No window without a watchdog: end it before any op ran. */
		ioctl(w->fd, BTRFS_IOC_TRANS_END);
		close(w->fd);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->mutex);
		return txn_fail(error, TXN_ABORTED, r, "--method trans: cannot start the watchdog thread");
	}
	return 0;
}

/* Ends the window (unless the watchdog did), stops the watchdog, closes the fd.
 * Return: 0, or -errno of a failed TRANS_END issued by either thread. */
int trans_window_close(struct trans_window *w)
{
	int end_errno = 0;
	pthread_mutex_lock(&w->mutex);
	w->finished = true;
	if (w->open) {
		w->open = false;
		if (ioctl(w->fd, BTRFS_IOC_TRANS_END) < 0)
			end_errno = errno;
	} else if (w->expired) {
		end_errno = w->watchdog_errno;
	}
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mutex);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->mutex);
	/* Closing also ends a transaction the kernel still holds for this file. */
	close(w->fd);
	w->fd = -EBADF;
	return -end_errno;
}

