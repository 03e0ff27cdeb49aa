/* SPDX-License-Identifier: MIT */
/*
 * init_tree.h: init's scans of the plain directory it converts (init_tree.c).
 */
#pragma once

#include <linux/fs.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "txn.h"

/* The inode flags init carries to the copy (cp -a keeps none of them): immutable,
 * append-only, nodatacow, no-dump, no-atime, synchronous, compression on or off. */
#define INIT_CARRIED_FLAGS                                                                  \
	(FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NOCOW_FL | FS_NODUMP_FL | FS_NOATIME_FL |         \
	 FS_SYNC_FL | FS_DIRSYNC_FL | FS_COMPR_FL | FS_NOCOMP_FL)

struct init_entry {
	ino_t ino;
	mode_t mode;
	nlink_t nlink;
	off_t size;
	struct timespec ctime, mtime;
	bool is_root;
	size_t path;   /* offset of its path (relative, "." for the root) in the pool */
};

/* An entry with something cp -a does not carry. */
struct init_special {
	char *path;              /* relative to the root of the tree */
	unsigned flags;          /* of INIT_CARRIED_FLAGS */
	void *capability;        /* security.capability, or NULL */
	size_t capability_len;
	bool is_dir;
};

struct init_tree {
	struct init_entry *entries;   /* sorted by inode number */
	size_t n, allocated;
	char *pool;
	size_t pool_len, pool_size;
	struct init_special *special;
	size_t n_special, allocated_special;
	char offender[PATH_MAX];
	const char *problem;
};

/*
 * Scans the tree at @path. With @collect, also reads each entry's flags and file
 * capability, and refuses (TXN_UNSUPPORTED) a nested subvolume or mount and a
 * nodatacow file with several names, naming it.
 * Return: 0 and @ret filled (free with init_tree_free()), or -errno with @error.
 */
int init_tree_scan(const char *path, bool collect, struct init_tree *ret, struct txn_error *error);
void init_tree_free(struct init_tree *tree);
const char *init_tree_path(const struct init_tree *tree, const struct init_entry *e);
/* Whether inode @ino is in @tree. */
bool init_tree_has(const struct init_tree *tree, ino_t ino);
/* Whether the two scans show the same tree; if not, what differs first, in @what. */
bool init_tree_same(const struct init_tree *before, const struct init_tree *after, char *what,
		    size_t size);
/* Before the copy: the nodatacow files, empty with +C, in the tree at @root_fd. */
int init_tree_precreate(const struct init_tree *tree, int root_fd, const char *display,
			struct txn_error *error);
/* After the copy: capabilities and inode flags, on the copy at @root_fd. */
int init_tree_carry(const struct init_tree *tree, int root_fd, const char *display,
		    struct txn_error *error);
/* Clears +i and +a in the tree at @path so that it can be removed; names the file
 * that keeps them (TXN_NEEDS_PERSON). */
int init_tree_unprotect(const char *path, struct txn_error *error);
/* init_recover.c: fails with @status, naming them, while live processes can still
 * change @tree's directory on @dev (working or root directory, a directory of it
 * open, a file of it open for writing or mapped shared and writable). */
int init_refuse_holders(dev_t dev, struct init_tree *tree, const char *display,
			enum txn_status status, struct txn_error *error);
