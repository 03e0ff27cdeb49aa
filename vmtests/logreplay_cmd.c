/* SPDX-License-Identifier: MIT */
/* logreplay_cmd.c: the command build/logreplay, over logreplay.c and reorder.c:
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
 *   logreplay manifest DIR                   the listing lw_manifest prints (manifest.c)
 *
 * Only built with -DLOGREPLAY_MAIN: the orchestrator, which links every C file of
 * vmtests/, gets nothing from this file.
 */
#ifdef LOGREPLAY_MAIN
#include "logreplay.h"
#include "manifest.h"
#include "reorder.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void usage(FILE *out)
{
	fprintf(out,
		"usage: logreplay list LOG\n"
		"       logreplay replay LOG IMAGE (--to N | --mark NAME) [--from INDEX:OFFSET]\n"
		"       logreplay reorder LOG --states N [--seed S]\n"
		"       logreplay apply LOG IMAGE --from INDEX:OFFSET --entries LIST\n"
		"       logreplay manifest DIR\n"
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
		"scan at a position printed by replay.\n"
		"manifest lists the tree below DIR as lw_manifest (guest-logwrites.sh) does.\n");
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
	if (argc == 3 && !strcmp(argv[1], "manifest"))
		return manifest_print(argv[2], stdout) < 0 ? 1 : 0;
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
#endif
