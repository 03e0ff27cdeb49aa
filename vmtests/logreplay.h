/* SPDX-License-Identifier: MIT */
/* logreplay.h: read a dm-log-writes log and replay it onto an image file.
 *
 * The log format is the kernel's (Documentation/admin-guide/device-mapper/log-writes.rst,
 * drivers/md/dm-log-writes.c): a super block in the first sector (magic, version,
 * nr_entries, sectorsize, little endian), then nr_entries entries, each one sector of
 * header (sector, nr_sectors, flags, data_len; a mark's name follows the header in
 * that same sector) followed, for writes, by nr_sectors sectors of data. Sectors and
 * counts are in units of the log's sectorsize. Discards carry no data.
 *
 * Replay writes forward: a caller keeps one image and applies entries from where it
 * stopped (logreplay_seek() to a position remembered from logreplay_next()), so
 * visiting every state of a log costs one pass over it, not one pass per state.
 * Functions return 0 (or 1 where noted) or a negative errno; lr->error says why in words.
 */
#ifndef VMTESTS_LOGREPLAY_H
#define VMTESTS_LOGREPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define LOGREPLAY_MAGIC 0x6a736677736872ULL
#define LOGREPLAY_VERSION 1ULL

#define LOGREPLAY_FLUSH    (1u << 0)
#define LOGREPLAY_FUA      (1u << 1)
#define LOGREPLAY_DISCARD  (1u << 2)
#define LOGREPLAY_MARK     (1u << 3)
#define LOGREPLAY_METADATA (1u << 4) /* REQ_META on newer kernels: a plain write for us */
#define LOGREPLAY_KNOWN_FLAGS 0x1fu

#define LOGREPLAY_MARK_MAX 4096

struct logreplay_entry {
	uint64_t index;      /* 0-based position in the log */
	uint64_t offset;     /* byte offset of its header in the log */
	uint64_t sector;     /* where it writes, in sectorsize units */
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;   /* a mark's name length */
	char mark[LOGREPLAY_MARK_MAX]; /* NUL-terminated name, for MARK entries */
};

struct logreplay {
	int fd;
	uint32_t sectorsize;
	uint64_t nr_entries;  /* from the super block */
	uint64_t log_size;    /* bytes in the log file */
	uint64_t next_index;  /* the entry logreplay_next() reads next */
	uint64_t next_offset; /* and where its header is */
	char *buffer;         /* data of one write, reused */
	uint64_t buffer_size;
	char error[512];
};

/**
 * logreplay_open() - open a log and check its super block.
 * Return: 0; -EINVAL for a bad magic, version or sector size; -EBADMSG if the file is
 * shorter than a super block; -errno from open or read.
 */
int logreplay_open(struct logreplay *lr, const char *path);
void logreplay_close(struct logreplay *lr);

/**
 * logreplay_next() - read the header of the next entry and step over its data.
 * Return: 1 with @ret filled, 0 after the last entry, -EBADMSG if the log is truncated
 * (header or data past the end of the file) or an entry is malformed.
 */
int logreplay_next(struct logreplay *lr, struct logreplay_entry *ret);

/* logreplay_seek() - continue from a position an earlier logreplay_next() reported. */
void logreplay_seek(struct logreplay *lr, uint64_t index, uint64_t offset);

/**
 * logreplay_apply() - make @entry's change to the image open at @image_fd: write its
 * data, or zero its range for a discard (a hole punched where the file system can).
 * FLUSH, FUA and MARK change nothing by themselves. Return: 0 or -errno.
 */
int logreplay_apply(struct logreplay *lr, const struct logreplay_entry *entry, int image_fd);

/**
 * logreplay_scan() - check the whole log: every entry readable, at least one FUA.
 * A log without FUA means the disk had no write cache, so no flush was ever
 * recorded and its "crash states" would prove nothing.
 * @ret_fua, @ret_flush, @ret_marks: counts, each may be NULL.
 * Return: 0, -EBADMSG (truncated or malformed), -ENODATA (no FUA entry).
 */
int logreplay_scan(struct logreplay *lr, uint64_t *ret_fua, uint64_t *ret_flush,
		   uint64_t *ret_marks);

/**
 * logreplay_replay() - apply entries from the current position up to and including
 * entry @last (or the first mark named @mark if @mark is not NULL) to @image_fd.
 * Return: 0, -ENOENT if the log ends before that entry or mark, or an error above.
 */
int logreplay_replay(struct logreplay *lr, int image_fd, uint64_t last, const char *mark);

/* logreplay_flags_name() - "FLUSH|FUA" and so on, "WRITE" for none; static storage. */
const char *logreplay_flags_name(uint64_t flags);

#endif
