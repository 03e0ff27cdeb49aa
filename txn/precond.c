/* SPDX-License-Identifier: MIT */
/*
 * precond.c: preconditions, checked on the live target before anything changes.
 * A failed one aborts the transaction (exit 1) and names the path and the reason.
 */
#include "internal.h"

#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(SHA256_DIGEST_SIZE == 32, "digests are held in 32-byte arrays");

void sha256_bytes(const void *data, size_t len, unsigned char ret_digest[32])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, ret_digest);
}

int sha256_fd(int fd, unsigned char ret_digest[32])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	unsigned char buf[65536];
	uint64_t total = 0;
	for (;;) {
		/* Hashing a huge file takes a while with the lock held: let SIGINT and
		 * SIGTERM end it, as they end the rest of an apply before the commit. */
		if (txn_interrupted)
			return -EINTR;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		/* The file may grow while we read it (its writer is not us): stop at the
		 * bound rather than read without end. */
		total += (uint64_t)n;
		if (total > TXN_SHA256_MAX_SIZE)
			return -EFBIG;
		sha256_update(&ctx, (size_t)n, buf);
	}
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, ret_digest);
	return 0;
}

static void hex(const unsigned char *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

static int check_one(int root_fd, const struct txn_precondition *pre, struct txn_error *error)
{
	if (pre->has_exists) {
		const char *name;
		_cleanup_close_ int parent_fd = open_parent_beneath(root_fd, pre->path, &name);
		struct stat st;
		bool exists = parent_fd >= 0 && fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (!exists && parent_fd >= 0 && errno != ENOENT && errno != ENOTDIR)
			return txn_fail(error, TXN_ABORTED, errno, "precondition on '%s': cannot stat",
					pre->path);
		if (parent_fd < 0 && parent_fd != -ENOENT && parent_fd != -ENOTDIR)
			return txn_fail(error, TXN_ABORTED, parent_fd,
					"precondition on '%s': cannot open its directory", pre->path);
		if (exists != pre->exists)
			return txn_fail(error, TXN_ABORTED, 0, "precondition failed: '%s' %s", pre->path,
					pre->exists ? "does not exist" : "exists");
	}
	if (pre->has_sha256) {
		/* Held with O_PATH first: that opens nothing, so a fifo or device planted by
		 * whoever writes the tree neither blocks us nor sees an open(); only a
		 * regular file is then opened, the very inode we looked at. */
		_cleanup_close_ int path_fd = open_beneath(root_fd, pre->path, O_PATH, 0);
		if (path_fd < 0)
			return txn_fail(error, TXN_ABORTED, path_fd, "precondition failed: '%s' cannot be read",
					pre->path);
		struct stat st;
		if (fstat(path_fd, &st) < 0)
			return txn_fail(error, TXN_ABORTED, errno, "precondition on '%s'", pre->path);
		if (!S_ISREG(st.st_mode))
			return txn_fail(error, TXN_ABORTED, 0,
					"precondition failed: '%s' is not a regular file", pre->path);
		if ((uint64_t)st.st_size > TXN_SHA256_MAX_SIZE)
			return txn_fail(error, TXN_ABORTED, 0,
					"precondition failed: '%s' is %lld bytes, more than the %llu GiB a sha256 precondition reads",
					pre->path, (long long)st.st_size,
					(unsigned long long)(TXN_SHA256_MAX_SIZE >> 30));
		_cleanup_close_ int fd = reopen_fd(path_fd, O_RDONLY | O_NONBLOCK);
		if (fd == -ENOENT) /* no /proc: resolve again, refusing anything but that inode */
			fd = open_beneath(root_fd, pre->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
		struct stat now;
		if (fd >= 0 && fstat(fd, &now) == 0 && (now.st_dev != st.st_dev || now.st_ino != st.st_ino))
			return txn_fail(error, TXN_ABORTED, EAGAIN,
					"precondition on '%s': replaced while being opened", pre->path);
		if (fd < 0)
			return txn_fail(error, TXN_ABORTED, fd, "precondition failed: '%s' cannot be read",
					pre->path);
		unsigned char digest[32];
		int r = sha256_fd(fd, digest);
		if (r == -EFBIG)
			return txn_fail(error, TXN_ABORTED, 0,
					"precondition failed: '%s' grew beyond the %llu GiB a sha256 precondition reads",
					pre->path, (unsigned long long)(TXN_SHA256_MAX_SIZE >> 30));
		if (r < 0)
			return txn_fail(error, TXN_ABORTED, r, "precondition on '%s': reading", pre->path);
		if (memcmp(digest, pre->sha256, 32) != 0) {
			char want[65], got[65];
			hex(pre->sha256, 32, want);
			hex(digest, 32, got);
			return txn_fail(error, TXN_ABORTED, 0,
					"precondition failed: '%s' has sha256 %s, expected %s", pre->path,
					got, want);
		}
	}
	return 0;
}

/*
 * EXDEV reads "Invalid cross-device link" whether a symlink led out of the tree or a
 * mount was in the way: say which, naming the component, in place of strerror. The
 * directories are tried first (both checks resolve them), then the last component,
 * which only the sha256 check follows.
 */
static void explain_exdev(int root_fd, const struct txn_precondition *pre, struct txn_error *error)
{
	char why[512];
	if (!error || error->errnum != EXDEV)
		return;
	if (resolve_explain(root_fd, pre->path, false, why, sizeof(why)) != 0 &&
	    (!pre->has_sha256 || resolve_explain(root_fd, pre->path, true, why, sizeof(why)) != 0))
		return;
	size_t len = strlen(error->message);
	if (len + 2 < sizeof(error->message))
		snprintf(error->message + len, sizeof(error->message) - len, ": %s", why);
	error->errnum = 0;
}

int txn_preconditions_check(int root_fd, const struct txn_batch *batch, struct txn_error *error)
{
	for (size_t i = 0; i < batch->n_preconditions; i++) {
		int r = check_one(root_fd, &batch->preconditions[i], error);
		if (r == -EXDEV)
			explain_exdev(root_fd, &batch->preconditions[i], error);
		if (r < 0)
			return r;
	}
	return 0;
}
