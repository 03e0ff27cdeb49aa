/* SPDX-License-Identifier: MIT */
/*
 * spec_trust.c: the StrictModes rule for spec files (see spec_trust.h), on top of
 * the engine's walk (txn/trust.c), worded for the spec.
 */
#include "spec_trust.h"

#include "trust.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int spec_open_trusted(const char *path, int *ret_fd, char *ret_message, size_t size)
{
	char refusal[PATH_MAX + 256] = "";
	int fd = -1;
	int r = txn_trust_open(path, TXN_TRUST_READ, &fd, NULL, refusal, sizeof(refusal));
	if (r == 0) {
		*ret_fd = fd;
		return 0;
	}
	if (r == -EPERM || (r == -ELOOP && refusal[0]))
		snprintf(ret_message, size, "%s: refusing spec: %s", path, refusal);
	else if (r == -EINVAL)
		snprintf(ret_message, size, "%s: refusing spec: not a regular file", path);
	else
		snprintf(ret_message, size, "%s: cannot read: %s", path, strerror(-r));
	return r;
}
