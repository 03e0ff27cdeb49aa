/* SPDX-License-Identifier: MIT */
/*
 * spec_trust.h: whether a spec file may be trusted by a root apply or plan.
 *
 * A spec run as root can write anything in the target and run its verify hook as
 * root, so whoever can change the file between its author's review and the apply is
 * as powerful as root. As sudo does with sudoers and sshd with authorized_keys, a
 * root run refuses a spec that someone besides its owner and root could have
 * changed, unless told otherwise (--allow-insecure-spec). See docs/SECURITY.md.
 */
#pragma once

#include <stddef.h>

/**
 * spec_check_trust() - Refuse a spec file others could have written.
 * @path: The spec's path as given; "-" (standard input) is always trusted, since
 *        the caller chose what to pipe in.
 * @ret_message: Filled with one line (no newline) naming the problem on failure.
 * @size: Its size.
 *
 * Only applies when the effective uid is 0; any other caller can only hurt itself.
 * The rule: the file itself (after any symlinks) is not writable by group or others,
 * and the directory holding it is owned by root or by the file's owner and is not
 * writable by group or others unless it is sticky (as /tmp: there only the owner of a
 * file may replace it).
 *
 * Return: 0 when trusted; -EPERM when not; another -errno when the file cannot be
 * looked at (@ret_message filled too).
 */
int spec_check_trust(const char *path, char *ret_message, size_t size);
