/* SPDX-License-Identifier: MIT */
/*
 * config.h: /etc/btrfs-txn/btrfs-txn.conf (btrfs-txn.conf(5)), the targets the
 * package-manager hooks and the boot unit act on, the default keep, strict hooks,
 * and per-target sections; and the files it replaces (apt-targets, pacman-targets,
 * recover-targets, hooks-strict), still read for one release.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The directory: $BTRFS_TXN_CONF_DIR, else /etc/btrfs-txn. */
#define CONFIG_DIR_DEFAULT "/etc/btrfs-txn"
#define CONFIG_FILE_NAME "btrfs-txn.conf"
/* Larger than any hand-written configuration; a bound so a mistake cannot eat memory. */
#define CONFIG_MAX_BYTES (1 << 20)

enum config_hook {
	CONFIG_HOOK_APT,
	CONFIG_HOOK_PACMAN,
	CONFIG_HOOK_RECOVER,
	CONFIG_HOOK_COUNT,
};

struct config_target {
	char *path;                   /* as written: absolute, no trailing slash */
	bool hooks[CONFIG_HOOK_COUNT]; /* apt, pacman (default no), recover (default yes) */
	unsigned keep;                /* 0: the default keep */
	struct config_retention {     /* gc by age and free space; 0: not set here */
		unsigned hourly, daily, weekly, min_free;
		bool has_hourly, has_daily, has_weekly, has_min_free;
	} retention;
	unsigned line;                /* of its [target PATH] header */
	bool legacy;                  /* from an old list file, not btrfs-txn.conf */
};

struct config {
	char *file;                   /* the file read, NULL when there is none */
	unsigned keep;                /* [defaults] keep; 0: TXN_DEFAULT_KEEP */
	struct config_retention retention; /* [defaults] hourly, daily, weekly, min-free */
	bool strict_hooks;            /* [defaults] strict-hooks, or the hooks-strict file */
	struct config_target *targets;
	size_t n_targets;
	/* Old files read (for the note that they go away): bit (1 << hook), and
	 * 1 << CONFIG_HOOK_COUNT for hooks-strict. */
	unsigned legacy_read;
};

/* "apt", "pacman", "recover"; config_hook_from_name() returns -1 for another name. */
const char *config_hook_name(enum config_hook hook);
int config_hook_from_name(const char *name);

/**
 * config_parse() - Parse the text of a btrfs-txn.conf.
 * @file: Its name, for messages.
 * @text: The text; need not end in a newline; a NUL byte is an error.
 * @len: Its length.
 * @ret: Filled on success (config_free() it); untouched on failure.
 * @ret_error: On failure, one line "FILE:LINE: message".
 * @error_size: Its size.
 *
 * Return: 0, -EINVAL for invalid text, -ENOMEM.
 */
int config_parse(const char *file, const char *text, size_t len, struct config *ret,
		 char *ret_error, size_t error_size);

/**
 * config_load() - Read the configuration of this host.
 * @dir: The configuration directory, NULL for $BTRFS_TXN_CONF_DIR or
 *       /etc/btrfs-txn.
 * @ret: Filled on success (config_free() it); a host without btrfs-txn.conf gets an
 *       empty one. The old list files are merged in (legacy targets, whose hooks
 *       are the file's) when they exist.
 * @ret_error: On failure, one line naming the file and why.
 * @error_size: Its size.
 *
 * Every file is judged by StrictModes (root's alone, all the way up) before it is
 * read: a file others could edit would aim root's commands.
 * Return: 0; -EINVAL (invalid text), -EPERM (not trusted), another -errno.
 */
int config_load(const char *dir, struct config *ret, char *ret_error, size_t error_size);

void config_free(struct config *config);

/* The section of @path: the one written as @path, else the one whose path, with no
 * symlink on its way, is @path's canonical path; or NULL. */
const struct config_target *config_find_target(const struct config *config, const char *path);

/* The retention for @target, key by key: its section's, else [defaults]. */
struct config_retention config_retention_for(const struct config *config, const char *target);

/* The keep for @target: its section's, else [defaults], else 0 (the engine's). */
unsigned config_keep_for(const struct config *config, const char *target);
