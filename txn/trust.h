/* SPDX-License-Identifier: MIT */
/*
 * trust.h: whether a host file (a spec, a copy source, an executable) may be trusted,
 * by the rule of sshd's StrictModes, and a descriptor of the very file judged.
 *
 * The rule: the file and every directory on the way to it from '/' are owned by
 * root (or, when the caller is not root, by the caller), and nobody else can write
 * them: no group or other write bit, except on a sticky directory such as /tmp, where
 * only an entry's owner can rename or remove it (and the entry is then held to the
 * rule too). The walk opens each component with O_PATH|O_NOFOLLOW beneath the
 * directory it already holds and fstat()s that descriptor, so a rename elsewhere
 * cannot slip another file in. A symlink on the way is read from its own descriptor
 * (readlinkat) and its target walked by the same rule; at most TXN_TRUST_MAX_LINKS.
 *
 * The string helpers at the end are pure (no system calls): they are how the walk
 * splices a link's target into what remains of the path and keeps the canonical
 * path it has walked, and fuzz/fuzz_trust.c checks them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define TXN_TRUST_MAX_LINKS 40

enum txn_trust_flags {
	/* Refuse a symlink as the last component (-ELOOP) instead of following it. */
	TXN_TRUST_NOFOLLOW_LAST = 1 << 0,
	/* Return an O_RDONLY descriptor of a regular file (-EINVAL for any other type),
	 * opened beneath the held directory and checked to be the inode judged; without
	 * it, the O_PATH descriptor of whatever the path names. */
	TXN_TRUST_READ = 1 << 1,
};

/**
 * txn_trust_open() - Walk @path from '/' and hold its file if StrictModes trusts it.
 * @path: An absolute path, or one relative to the working directory (whose own
 *        ancestors are then walked too).
 * @flags: enum txn_trust_flags.
 * @ret_fd: The descriptor (see TXN_TRUST_READ), O_CLOEXEC; untouched on failure.
 * @ret_canonical: Where the file really is, with every link resolved (PATH_MAX
 *        bytes); may be NULL. Untouched on failure.
 * @ret_refusal: On -EPERM, one line (no newline) naming the component and why, e.g.
 *        "'/srv/release' is writable by group 1001 (StrictModes: owned by root,
 *        writable by no one else)"; on -ELOOP from too many links, says so.
 * @refusal_size: Its size.
 *
 * Return: 0; -EPERM when a component is not trusted; -ELOOP for more than
 * TXN_TRUST_MAX_LINKS links or a last link with TXN_TRUST_NOFOLLOW_LAST; -EINVAL
 * for a file that is not regular with TXN_TRUST_READ; -EAGAIN when the file changed
 * while being opened; another -errno of the walk (-ENOENT, -ENOTDIR, -ENAMETOOLONG).
 */
int txn_trust_open(const char *path, unsigned flags, int *ret_fd, char *ret_canonical,
		   char *ret_refusal, size_t refusal_size);

/* The refusal text of this thread's last failed txn_trust_open(), "" when it named
 * none (for a caller that passed no buffer, e.g. through copy_source_open()). */
const char *txn_trust_last_refusal(void);

/**
 * txn_trust_find_executable() - The file execvp() would run for @name, trusted.
 * @name: argv[0]. With a '/', that path; else the first executable regular file
 *        named so in a directory of $PATH (default "/usr/local/bin:/usr/bin:/bin").
 * @ret_canonical: The checked file's canonical path, to exec (PATH_MAX bytes).
 * @ret_refusal, @refusal_size: As for txn_trust_open().
 *
 * Executing the canonical path runs the file judged: every directory on it can be
 * changed only by root (or the caller), who are trusted anyway.
 *
 * Return: as txn_trust_open(); -ENOENT when no directory of $PATH has @name.
 */
int txn_trust_find_executable(const char *name, char *ret_canonical, char *ret_refusal,
			      size_t refusal_size);

/* Pure helpers of the walk (exposed for the fuzz target and unit tests). */

/**
 * txn_trust_next_component() - The next component of @pending at or after *@pos.
 * @pending: A path ('/' separated; repeated slashes are skipped).
 * @pos: In: where to look from; out: just past the component returned.
 * @ret_name: Points at the component inside @pending.
 *
 * Return: its length; 0 when none is left.
 */
size_t txn_trust_next_component(const char *pending, size_t *pos, const char **ret_name);

/**
 * txn_trust_splice() - Put a link's target in front of what remains to be walked.
 * @pending: The path being walked (NUL-terminated, @size bytes of room); becomes
 *        "TARGET/REST", REST being @pending from @pos on.
 * @size: Room in @pending.
 * @pos: Where the rest starts in @pending.
 * @target: The link's target, @target_len bytes (not NUL-terminated).
 *
 * Return: 1 when the target is absolute (the walk restarts at '/'), 0 when relative;
 * -ENOENT for an empty target or one holding a NUL; -ENAMETOOLONG when it does not
 * fit. @pending is unchanged on failure.
 */
int txn_trust_splice(char *pending, size_t size, size_t pos, const char *target,
		     size_t target_len);

/**
 * txn_trust_canonical_step() - Apply one component to a canonical absolute path.
 * @canonical: "/" or "/a/b" (no trailing slash); @size bytes of room.
 * @name, @len: The component: "." leaves it, ".." drops the last one ("/" stays
 *        "/"), any other is appended.
 *
 * Return: 0; -ENAMETOOLONG when it does not fit (@canonical unchanged).
 */
int txn_trust_canonical_step(char *canonical, size_t size, const char *name, size_t len);
