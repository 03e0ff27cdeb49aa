/* SPDX-License-Identifier: MIT */
/*
 * spec_trust.h: whether a spec file may be trusted by apply or plan.
 *
 * A spec run as root can write anything in the target and run its verify hook as
 * root, so whoever can change the file between its author's review and the apply is
 * as powerful as root. As sshd's StrictModes does for authorized_keys, the file and
 * every directory on the way to it must be owned by root (or by the caller, when not
 * root) and writable by no one else, checked by the walk in txn/trust.c; the spec is
 * then read from the descriptor that walk ends on, never opened by name again.
 * --allow-insecure-spec skips the check. See docs/SECURITY.md.
 */
#pragma once

#include <stddef.h>

/**
 * spec_open_trusted() - Open a spec file for reading if StrictModes trusts it.
 * @path: The spec's path as given (not "-": standard input is the caller's choice
 *        and is read as it is).
 * @ret_fd: An O_RDONLY descriptor of the file judged; untouched on failure.
 * @ret_message: Filled with one line (no newline) on failure, e.g. "deploy.json:
 *        refusing spec: '/srv/release' is writable by group 1001 (StrictModes: owned
 *        by root, writable by no one else)" or "deploy.json: cannot read: ...".
 * @size: Its size.
 *
 * Return: 0; -EPERM when not trusted; another -errno when the file cannot be
 * reached or read (-ELOOP for too many links, -EINVAL when it is not a regular file).
 */
int spec_open_trusted(const char *path, int *ret_fd, char *ret_message, size_t size);
