/* SPDX-License-Identifier: MIT */
/* logreplay.c: a dm-log-writes log reader and replayer (see logreplay.h), and with
 * -DLOGREPLAY_MAIN the command build/logreplay that the host-side crash checker
 * (vmtests/crashcheck.sh) drives:
 *
 *   logreplay list LOG                       one line per entry, after checking the log
 *   logreplay replay LOG IMAGE --to N        apply entries 0..N to IMAGE
 *   logreplay replay LOG IMAGE --mark NAME   apply entries up to the mark NAME
 *        [--from INDEX:OFFSET]               start there instead (IMAGE already holds
 *                                            the state before INDEX): write forward
 *   logreplay reorder LOG --states N [--seed S]   the reordered crash states of each
 *                                            flush epoch (vmtests/reorder.h), one a line
 *   logreplay apply LOG IMAGE --from INDEX:OFFSET --entries LIST
 *                                            apply only the listed entries ("3-7,9")
 *
 * Written from the kernel's description of the format; the orchestrator links this
 * file too (without main), and tests/unit/test_logreplay.c includes it.
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

#ifdef LOGREPLAY_MAIN
#include <inttypes.h>

#include "reorder.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: logreplay list LOG\n"
		"       logreplay replay LOG IMAGE (--to N | --mark NAME) [--from INDEX:OFFSET]\n"
		"       logreplay reorder LOG --states N [--seed S]\n"
		"       logreplay apply LOG IMAGE --from INDEX:OFFSET --entries LIST\n"
		"\n"
		"list prints one line per entry: INDEX OFFSET FLAGS SECTOR NR_SECTORS [MARK]\n"
		"(sectors in the log's sector size), after checking that the log is whole and\n"
		"has at least one FUA write. replay applies entries to IMAGE, from the start or\n"
		"from a position printed by list (IMAGE then holds the state before INDEX), and\n"
		"prints the position after the last applied entry as 'next INDEX:OFFSET'.\n"
		"reorder prints up to N reordered crash states per flush epoch, one a line:\n"
		"BASE CRASH ENTRIES (the FLUSH entry the state starts from, -1 for the empty\n"
		"disk; the crash point; the epoch's entries it keeps, as 3-7,9 or -).\n"
		"apply writes the listed entries (ascending) of LOG onto IMAGE, starting the\n"
		"scan at a position printed by replay.\n");
}

static int cmd_list(const char *log_path)
{
	struct logreplay lr;
	struct logreplay_entry *entry = malloc(sizeof(*entry));
	uint64_t fua = 0, flush = 0, marks = 0;
	int r;

	if (!entry)
		return 1;
	r = logreplay_open(&lr, log_path);
	if (r == 0)
		r = logreplay_scan(&lr, &fua, &flush, &marks);
	if (r < 0) {
		fprintf(stderr, "logreplay: %s\n", lr.error);
		free(entry);
		logreplay_close(&lr);
		return 1;
	}
	printf("# sectorsize %u entries %" PRIu64 " fua %" PRIu64 " flush %" PRIu64
	       " marks %" PRIu64 "\n", lr.sectorsize, lr.nr_entries, fua, flush, marks);
	while ((r = logreplay_next(&lr, entry)) == 1)
		printf("%" PRIu64 " %" PRIu64 " %s %" PRIu64 " %" PRIu64 "%s%s\n", entry->index,
		       entry->offset, logreplay_flags_name(entry->flags), entry->sector,
		       entry->nr_sectors, entry->flags & LOGREPLAY_MARK ? " " : "", entry->mark);
	free(entry);
	logreplay_close(&lr);
	if (fflush(stdout) != 0 || r < 0)
		return 1;
	return 0;
}

static int cmd_replay(int argc, char **argv)
{
	const char *log_path = argv[0], *image_path = argv[1], *mark = NULL;
	uint64_t last = 0, from_index = 0, from_offset = 0;
	bool have_to = false, have_from = false;
	struct logreplay lr;
	int image_fd, r;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc) {
			last = strtoull(argv[++i], NULL, 10);
			have_to = true;
		} else if (!strcmp(argv[i], "--mark") && i + 1 < argc) {
			mark = argv[++i];
		} else if (!strcmp(argv[i], "--from") && i + 1 < argc) {
			if (sscanf(argv[++i], "%" SCNu64 ":%" SCNu64, &from_index, &from_offset) != 2) {
				fprintf(stderr, "logreplay: --from wants INDEX:OFFSET, got '%s'\n", argv[i]);
				return 2;
			}
			have_from = true;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (have_to == !!mark) {
		usage(stderr);
		return 2;
	}
	r = logreplay_open(&lr, log_path);
	if (r < 0) {
		fprintf(stderr, "logreplay: %s\n", lr.error);
		return 1;
	}
	/* From the start, check the whole log first; a resumed replay was checked by list. */
	if (!have_from)
		r = logreplay_scan(&lr, NULL, NULL, NULL);
	else if (from_offset < lr.sectorsize || from_offset > lr.log_size)
		r = -EINVAL, snprintf(lr.error, sizeof(lr.error), "--from offset %" PRIu64
				      " is outside the log", from_offset);
	else
		logreplay_seek(&lr, from_index, from_offset);
	image_fd = r < 0 ? -1 : open(image_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (r == 0 && image_fd < 0)
		r = -errno, snprintf(lr.error, sizeof(lr.error), "cannot open %s: %s", image_path,
				     strerror(errno));
	if (r == 0)
		r = logreplay_replay(&lr, image_fd, last, mark);
	if (r == 0)
		printf("next %" PRIu64 ":%" PRIu64 "\n", lr.next_index, lr.next_offset);
	else
		fprintf(stderr, "logreplay: %s\n", lr.error);
	if (image_fd >= 0 && close(image_fd) < 0 && r == 0) {
		fprintf(stderr, "logreplay: closing %s: %s\n", image_path, strerror(errno));
		r = -EIO;
	}
	logreplay_close(&lr);
	return r < 0 ? 1 : 0;
}

/* print_ranges() - ascending indices as "3-7,9"; "-" for none. */
static void print_ranges(FILE *out, const uint64_t *list, size_t count)
{
	if (count == 0) {
		fputs("-", out);
		return;
	}
	for (size_t i = 0; i < count;) {
		size_t j = i;

		while (j + 1 < count && list[j + 1] == list[j] + 1)
			j++;
		fprintf(out, "%s%" PRIu64, i ? "," : "", list[i]);
		if (j > i)
			fprintf(out, "-%" PRIu64, list[j]);
		i = j + 1;
	}
}

static int emit_state(const struct reorder_state *state, void *userdata)
{
	(void)userdata;
	printf("%" PRId64 " %" PRIu64 " ", state->base, state->crash);
	print_ranges(stdout, state->kept, state->kept_count);
	putchar('\n');
	return ferror(stdout) ? -EIO : 0;
}

static int cmd_reorder(int argc, char **argv)
{
	struct reorder_entry *entries = NULL;
	struct logreplay_entry *entry = malloc(sizeof(*entry));
	unsigned long states = 0;
	uint64_t seed = 1, count = 0;
	struct logreplay lr;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--states") && i + 1 < argc)
			states = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			usage(stderr);
			free(entry);
			return 2;
		}
	}
	if (!entry)
		return 1;
	r = logreplay_open(&lr, argv[0]);
	if (r == 0)
		r = logreplay_scan(&lr, NULL, NULL, NULL);
	if (r == 0) {
		entries = calloc(lr.nr_entries ? lr.nr_entries : 1, sizeof(*entries));
		if (!entries)
			r = -ENOMEM, snprintf(lr.error, sizeof(lr.error), "out of memory");
	}
	while (r == 0 && (r = logreplay_next(&lr, entry)) == 1) {
		entries[count++] = (struct reorder_entry){ entry->sector, entry->nr_sectors, entry->flags };
		r = 0;
	}
	if (r == 0)
		r = reorder_generate(entries, count, (unsigned)states, seed, emit_state, NULL, NULL);
	if (r < 0)
		fprintf(stderr, "logreplay: %s\n", lr.error[0] ? lr.error : strerror(-r));
	free(entries);
	free(entry);
	logreplay_close(&lr);
	if (fflush(stdout) != 0)
		r = -EIO;
	return r < 0 ? 1 : 0;
}

/* parse_ranges() - "3-7,9" into an ascending list; -EINVAL for anything else. */
static int parse_ranges(const char *text, uint64_t **ret_list, size_t *ret_count)
{
	uint64_t *list = NULL, first, last;
	size_t count = 0, size = 0;
	const char *p = text;
	char *end;

	if (!strcmp(text, "-")) {
		*ret_list = NULL;
		*ret_count = 0;
		return 0;
	}
	for (;;) {
		errno = 0;
		first = last = strtoull(p, &end, 10);
		if (end == p || errno)
			goto bad;
		p = end;
		if (*p == '-') {
			last = strtoull(++p, &end, 10);
			if (end == p || errno || last < first)
				goto bad;
			p = end;
		}
		if (count && first <= list[count - 1])
			goto bad;
		for (uint64_t i = first; i <= last; i++) {
			if (count == size) {
				uint64_t *grown = realloc(list, (size = size ? size * 2 : 64) * sizeof(*list));

				if (!grown)
					goto bad;
				list = grown;
			}
			list[count++] = i;
		}
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	*ret_list = list;
	*ret_count = count;
	return 0;
bad:
	free(list);
	return -EINVAL;
}

static int cmd_apply(int argc, char **argv)
{
	const char *log_path = argv[0], *image_path = argv[1], *entries_text = NULL;
	struct logreplay_entry *entry = malloc(sizeof(*entry));
	uint64_t from_index = 0, from_offset = 0, *list = NULL;
	size_t count = 0, next = 0;
	bool have_from = false;
	struct logreplay lr;
	int image_fd = -1, r;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--entries") && i + 1 < argc) {
			entries_text = argv[++i];
		} else if (!strcmp(argv[i], "--from") && i + 1 < argc &&
			   sscanf(argv[i + 1], "%" SCNu64 ":%" SCNu64, &from_index, &from_offset) == 2) {
			have_from = true;
			i++;
		} else {
			usage(stderr);
			free(entry);
			return 2;
		}
	}
	if (!entry)
		return 1;
	if (!entries_text || !have_from || parse_ranges(entries_text, &list, &count) < 0) {
		fprintf(stderr, "logreplay: apply needs --from INDEX:OFFSET and --entries such as 3-7,9\n");
		free(entry);
		return 2;
	}
	r = logreplay_open(&lr, log_path);
	if (r == 0 && (from_offset < lr.sectorsize || from_offset > lr.log_size))
		r = -EINVAL, snprintf(lr.error, sizeof(lr.error), "--from offset %" PRIu64
				      " is outside the log", from_offset);
	if (r == 0) {
		logreplay_seek(&lr, from_index, from_offset);
		image_fd = open(image_path, O_WRONLY | O_CLOEXEC);
		if (image_fd < 0)
			r = -errno, snprintf(lr.error, sizeof(lr.error), "cannot open %s: %s", image_path,
					     strerror(errno));
	}
	while (r == 0 && next < count) {
		r = logreplay_next(&lr, entry);
		if (r == 0) {
			r = -ENOENT, snprintf(lr.error, sizeof(lr.error), "the log ends before entry %"
					      PRIu64, list[next]);
			break;
		}
		if (r < 0)
			break;
		r = 0;
		if (entry->index == list[next]) {
			r = logreplay_apply(&lr, entry, image_fd);
			next++;
		} else if (entry->index > list[next]) {
			r = -EINVAL, snprintf(lr.error, sizeof(lr.error), "entry %" PRIu64
					      " is before --from", list[next]);
		}
	}
	if (r < 0)
		fprintf(stderr, "logreplay: %s\n", lr.error);
	if (image_fd >= 0 && close(image_fd) < 0 && r == 0) {
		fprintf(stderr, "logreplay: closing %s: %s\n", image_path, strerror(errno));
		r = -EIO;
	}
	free(list);
	free(entry);
	logreplay_close(&lr);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "list"))
		return cmd_list(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "replay"))
		return cmd_replay(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "reorder"))
		return cmd_reorder(argc - 2, argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "apply"))
		return cmd_apply(argc - 2, argv + 2);
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
#endif
