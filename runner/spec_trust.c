/* SPDX-License-Identifier: MIT */
/*
 * spec_trust.c: the file-permission rule for specs read by root (see spec_trust.h).
 *
 * Checked by path before the spec is read. That is not racy where it matters: when
 * the directory passes, nobody but root and the file's owner can replace the file,
 * and when the file passes, nobody else can rewrite it.
 */
#include "spec_trust.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int spec_check_trust(const char *path, char *ret_message, size_t size)
{
	if (strcmp(path, "-") == 0 || geteuid() != 0)
		return 0;
	/* The file that would be read, after every symlink, and its real directory:
	 * the links themselves are only as good as the directories holding them,
	 * which for a root-owned /etc or /srv is the operator's business. */
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		int saved = errno;
		snprintf(ret_message, size, "%s: cannot read: %s", path, strerror(saved));
		return -saved;
	}
	struct stat file, dir;
	if (stat(real, &file) < 0) {
		int saved = errno;
		snprintf(ret_message, size, "%s: cannot read: %s", path, strerror(saved));
		return -saved;
	}
	if (file.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(ret_message, size,
			 "%s: refusing a spec writable by group or others (mode %04o) when running as "
			 "root; 'chmod go-w' it, or pass --allow-insecure-spec",
			 path, (unsigned)(file.st_mode & 07777));
		return -EPERM;
	}
	char *slash = strrchr(real, '/');
	if (slash == real)
		slash[1] = '\0'; /* the file is in / */
	else
		*slash = '\0';
	if (stat(real, &dir) < 0) {
		int saved = errno;
		snprintf(ret_message, size, "%s: cannot stat its directory '%s': %s", path, real,
			 strerror(saved));
		return -saved;
	}
	if (dir.st_uid != 0 && dir.st_uid != file.st_uid) {
		snprintf(ret_message, size,
			 "%s: refusing a spec in directory '%s' owned by uid %u (neither root nor the "
			 "spec's owner, uid %u), who could replace it, when running as root; move it, "
			 "or pass --allow-insecure-spec",
			 path, real, (unsigned)dir.st_uid, (unsigned)file.st_uid);
		return -EPERM;
	}
	if ((dir.st_mode & (S_IWGRP | S_IWOTH)) && !(dir.st_mode & S_ISVTX)) {
		snprintf(ret_message, size,
			 "%s: refusing a spec in directory '%s' writable by group or others (mode %04o), "
			 "where anyone could replace it, when running as root; move it, or pass "
			 "--allow-insecure-spec",
			 path, real, (unsigned)(dir.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}
