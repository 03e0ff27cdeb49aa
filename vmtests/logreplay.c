/* SPDX-License-Identifier: MIT */
/* logreplay.c: a dm-log-writes log reader and replayer (see logreplay.h), under the
 * command build/logreplay (logreplay_cmd.c) that the host-side crash checker
 * (vmtests/crashcheck.sh) drives.
 *
 * Written from the kernel's description of the format; the orchestrator links this
 * file too, and tests/unit/test_logreplay.c includes it.
 */
#include "logreplay.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUPER_SIZE 28  /* magic, version, nr_entries (le64 each), sectorsize (le32) */
#define HEADER_SIZE 32 /* sector, nr_sectors, flags, data_len (le64 each) */

static int replay_fail(struct logreplay *lr, int r, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static int replay_fail(struct logreplay *lr, int r, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(lr->error, sizeof(lr->error), format, ap);
	va_end(ap);
	return r;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

/* read_exact() - all of [offset, offset+size) or -EBADMSG: a short read is a log cut short. */
static int read_exact(struct logreplay *lr, void *buffer, uint64_t size, uint64_t offset)
{
	uint64_t done = 0;

	while (done < size) {
		ssize_t n = pread(lr->fd, (char *)buffer + done, size - done, (off_t)(offset + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return replay_fail(lr, -errno, "reading the log at byte %llu: %s",
				    (unsigned long long)(offset + done), strerror(errno));
		}
		if (n == 0)
			return replay_fail(lr, -EBADMSG, "the log is truncated: it ends at byte %llu, "
				    "inside the %llu bytes wanted at byte %llu",
				    (unsigned long long)(offset + done), (unsigned long long)size,
				    (unsigned long long)offset);
		done += (uint64_t)n;
	}
	return 0;
}

int logreplay_open(struct logreplay *lr, const char *path)
{
	unsigned char super[SUPER_SIZE];
	struct stat st;
	uint64_t magic, version;
	int r;

	memset(lr, 0, sizeof(*lr));
	lr->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (lr->fd < 0)
		return replay_fail(lr, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(lr->fd, &st) < 0) {
		r = replay_fail(lr, -errno, "cannot stat %s: %s", path, strerror(errno));
		goto error;
	}
	lr->log_size = (uint64_t)st.st_size;
	r = read_exact(lr, super, sizeof(super), 0);
	if (r < 0)
		goto error;
	magic = get_le64(super);
	version = get_le64(super + 8);
	lr->nr_entries = get_le64(super + 16);
	lr->sectorsize = get_le32(super + 24);
	if (magic != LOGREPLAY_MAGIC) {
		r = replay_fail(lr, -EINVAL, "%s is not a dm-log-writes log (magic %#llx, expected %#llx)",
			 path, (unsigned long long)magic, LOGREPLAY_MAGIC);
		goto error;
	}
	if (version != LOGREPLAY_VERSION) {
		r = replay_fail(lr, -EINVAL, "%s: log version %llu, only version 1 is known", path,
			 (unsigned long long)version);
		goto error;
	}
	/* Block sizes are powers of two from 512 to 64 KiB; anything else is damage. */
	if (lr->sectorsize < 512 || lr->sectorsize > 65536 ||
	    (lr->sectorsize & (lr->sectorsize - 1))) {
		r = replay_fail(lr, -EINVAL, "%s: impossible sector size %u", path, lr->sectorsize);
		goto error;
	}
	/* The super block takes one whole sector; the first entry follows it. */
	lr->next_offset = lr->sectorsize;
	return 0;
error:
	close(lr->fd);
	lr->fd = -1;
	return r;
}

void logreplay_close(struct logreplay *lr)
{
	if (lr->fd >= 0)
		close(lr->fd);
	lr->fd = -1;
	free(lr->buffer);
	lr->buffer = NULL;
	lr->buffer_size = 0;
}

void logreplay_seek(struct logreplay *lr, uint64_t index, uint64_t offset)
{
	lr->next_index = index;
	lr->next_offset = offset;
}

int logreplay_next(struct logreplay *lr, struct logreplay_entry *ret)
{
	unsigned char *sector;
	uint64_t data_bytes;
	int r;

	if (lr->next_index >= lr->nr_entries)
		return 0;
	sector = malloc(lr->sectorsize);
	if (!sector)
		return replay_fail(lr, -ENOMEM, "out of memory");
	r = read_exact(lr, sector, lr->sectorsize, lr->next_offset);
	if (r < 0) {
		snprintf(lr->error + strlen(lr->error), sizeof(lr->error) - strlen(lr->error),
			 " (header of entry %llu of %llu)", (unsigned long long)lr->next_index,
			 (unsigned long long)lr->nr_entries);
		goto out;
	}
	memset(ret, 0, sizeof(*ret));
	ret->index = lr->next_index;
	ret->offset = lr->next_offset;
	ret->sector = get_le64(sector);
	ret->nr_sectors = get_le64(sector + 8);
	ret->flags = get_le64(sector + 16);
	ret->data_len = get_le64(sector + 24);
	if (ret->flags & ~(uint64_t)LOGREPLAY_KNOWN_FLAGS) {
		r = replay_fail(lr, -EBADMSG, "entry %llu at byte %llu has unknown flags %#llx",
			 (unsigned long long)ret->index, (unsigned long long)ret->offset,
			 (unsigned long long)ret->flags);
		goto out;
	}
	if (ret->flags & LOGREPLAY_MARK) {
		/* The name sits in the header sector, after the 32 header bytes. */
		if (ret->data_len > lr->sectorsize - HEADER_SIZE || ret->data_len >= LOGREPLAY_MARK_MAX) {
			r = replay_fail(lr, -EBADMSG, "mark entry %llu claims a %llu byte name",
				 (unsigned long long)ret->index, (unsigned long long)ret->data_len);
			goto out;
		}
		memcpy(ret->mark, sector + HEADER_SIZE, ret->data_len);
		ret->mark[ret->data_len] = '\0';
	} else if (ret->data_len) {
		/* Inline data only comes from DAX devices, never from our virtio disks. */
		r = replay_fail(lr, -EBADMSG, "entry %llu carries %llu bytes of inline data, which this "
			 "replayer does not handle", (unsigned long long)ret->index,
			 (unsigned long long)ret->data_len);
		goto out;
	}
	/* A discard's nr_sectors is the range it drops: it has no data in the log. */
	data_bytes = (ret->flags & LOGREPLAY_DISCARD) ? 0 : ret->nr_sectors * lr->sectorsize;
	if (ret->nr_sectors > (UINT64_MAX / 2) / lr->sectorsize ||
	    lr->next_offset + lr->sectorsize + data_bytes > lr->log_size) {
		r = replay_fail(lr, -EBADMSG, "the log is truncated: entry %llu of %llu at byte %llu needs "
			 "%llu data bytes, the file ends at byte %llu",
			 (unsigned long long)ret->index, (unsigned long long)lr->nr_entries,
			 (unsigned long long)ret->offset, (unsigned long long)data_bytes,
			 (unsigned long long)lr->log_size);
		goto out;
	}
	lr->next_offset += lr->sectorsize + data_bytes;
	lr->next_index++;
	r = 1;
out:
	free(sector);
	return r;
}

/* write_zeroes() - a discarded range reads back as zeroes: punch a hole, or write them. */
static int write_zeroes(struct logreplay *lr, int image_fd, uint64_t offset, uint64_t size)
{
	static const char zeroes[65536];
	struct stat st;

	if (fstat(image_fd, &st) < 0)
		return replay_fail(lr, -errno, "cannot stat the image: %s", strerror(errno));
	/* Past the end of the file everything reads as zeroes already. */
	if (offset >= (uint64_t)st.st_size)
		return 0;
	if (offset + size > (uint64_t)st.st_size)
		size = (uint64_t)st.st_size - offset;
	if (fallocate(image_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)size) == 0)
		return 0;
	while (size) {
		size_t chunk = size < sizeof(zeroes) ? (size_t)size : sizeof(zeroes);
		ssize_t n = pwrite(image_fd, zeroes, chunk, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return replay_fail(lr, n < 0 ? -errno : -EIO, "cannot zero the image at byte %llu: %s",
				    (unsigned long long)offset, n < 0 ? strerror(errno) : "short write");
		offset += (uint64_t)n;
		size -= (uint64_t)n;
	}
	return 0;
}

int logreplay_apply(struct logreplay *lr, const struct logreplay_entry *entry, int image_fd)
{
	uint64_t size = entry->nr_sectors * lr->sectorsize;
	uint64_t target = entry->sector * lr->sectorsize;
	uint64_t done = 0;
	int r;

	if (entry->flags & LOGREPLAY_MARK || size == 0)
		return 0;
	if (entry->flags & LOGREPLAY_DISCARD)
		return write_zeroes(lr, image_fd, target, size);
	if (size > lr->buffer_size) {
		char *bigger = realloc(lr->buffer, size);

		if (!bigger)
			return replay_fail(lr, -ENOMEM, "out of memory for a %llu byte write",
				    (unsigned long long)size);
		lr->buffer = bigger;
		lr->buffer_size = size;
	}
	r = read_exact(lr, lr->buffer, size, entry->offset + lr->sectorsize);
	if (r < 0)
		return r;
	while (done < size) {
		ssize_t n = pwrite(image_fd, lr->buffer + done, size - done, (off_t)(target + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return replay_fail(lr, n < 0 ? -errno : -EIO, "cannot write the image at byte %llu: %s",
				    (unsigned long long)(target + done),
				    n < 0 ? strerror(errno) : "short write");
		done += (uint64_t)n;
	}
	return 0;
}

int logreplay_scan(struct logreplay *lr, uint64_t *ret_fua, uint64_t *ret_flush,
		   uint64_t *ret_marks)
{
	struct logreplay_entry *entry = malloc(sizeof(*entry));
	uint64_t fua = 0, flush = 0, marks = 0;
	uint64_t index = lr->next_index, offset = lr->next_offset;
	int r;

	if (!entry)
		return replay_fail(lr, -ENOMEM, "out of memory");
	logreplay_seek(lr, 0, lr->sectorsize);
	while ((r = logreplay_next(lr, entry)) == 1) {
		fua += !!(entry->flags & LOGREPLAY_FUA);
		flush += !!(entry->flags & LOGREPLAY_FLUSH);
		marks += !!(entry->flags & LOGREPLAY_MARK);
	}
	free(entry);
	logreplay_seek(lr, index, offset);
	if (r < 0)
		return r;
	if (fua == 0)
		return replay_fail(lr, -ENODATA, "the log has %llu entries and not one FUA write: the disk "
			    "had no write cache (use cache=unsafe or writeback), so no flush was "
			    "recorded and its crash states prove nothing",
			    (unsigned long long)lr->nr_entries);
	if (ret_fua)
		*ret_fua = fua;
	if (ret_flush)
		*ret_flush = flush;
	if (ret_marks)
		*ret_marks = marks;
	return 0;
}

int logreplay_replay(struct logreplay *lr, int image_fd, uint64_t last, const char *mark)
{
	struct logreplay_entry *entry = malloc(sizeof(*entry));
	int r;

	if (!entry)
		return replay_fail(lr, -ENOMEM, "out of memory");
	for (;;) {
		r = logreplay_next(lr, entry);
		if (r == 0) {
			if (mark)
				r = replay_fail(lr, -ENOENT, "no mark '%s' in the log after entry %llu", mark,
					 (unsigned long long)lr->next_index);
			else
				r = replay_fail(lr, -ENOENT, "the log has %llu entries, entry %llu was asked for",
					 (unsigned long long)lr->nr_entries, (unsigned long long)last);
			break;
		}
		if (r < 0)
			break;
		r = logreplay_apply(lr, entry, image_fd);
		if (r < 0)
			break;
		if (mark ? (entry->flags & LOGREPLAY_MARK) && !strcmp(entry->mark, mark)
			 : entry->index == last)
			break;
	}
	free(entry);
	return r;
}

const char *logreplay_flags_name(uint64_t flags)
{
	static char name[64];
	static const char *const names[] = { "FLUSH", "FUA", "DISCARD", "MARK", "METADATA" };

	name[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & (1u << i)) {
			if (name[0])
				strcat(name, "|");
			strcat(name, names[i]);
		}
	return name[0] ? name : "WRITE";
}
