/* SPDX-License-Identifier: MIT */
/* scenario.c: find and parse vmtests scenario files.
 *
 * A scenario is a shell fragment NAME.sh whose leading comment block carries its
 * metadata, so adding a scenario is adding a file:
 *   # vmtest: one line saying what it proves
 *   # timeout: SECONDS      for all boots together (required)
 *   # boots: N              how many times the guest boots (default 1)
 * The guest sources the same file and calls boot_1, boot_2, ...; the host only reads
 * this header.
 */
#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void scenario_clear(struct scenario *s)
{
	free(s->name);
	free(s->guest_name);
	free(s->path);
	free(s->description);
	memset(s, 0, sizeof(*s));
}

/* parse_positive() - a decimal number in [1, max]; -EINVAL otherwise. */
static int parse_positive(const char *text, int max, int *ret)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno || end == text || *end || value < 1 || value > max)
		return -EINVAL;
	*ret = (int)value;
	return 0;
}

int scenario_load(const char *path, const char *dir_name, struct scenario *ret)
{
	struct scenario s = { .boots = 1 };
	char line[1024];
	const char *base;
	size_t base_len;
	int fd, r = 0, lineno = 0;
	FILE *f;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		r = -errno;
		close(fd);
		return r;
	}

	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	base_len = strlen(base);
	if (base_len <= 3 || strcmp(base + base_len - 3, ".sh")) {
		fclose(f);
		return -EINVAL;
	}
	s.name = strndup(base, base_len - 3);
	s.path = strdup(path);
	if (!s.name || !s.path || asprintf(&s.guest_name, "%s/%s", dir_name, s.name) < 0) {
		s.guest_name = NULL;
		r = -ENOMEM;
		goto out;
	}

	/* Only the leading block of comments is the header: a "# timeout:" further down
	 * is the scenario's own business. */
	while (fgets(line, sizeof(line), f)) {
		char *value;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '#')
			break;
		if (!strncmp(line, "# vmtest:", 9)) {
			value = line + 9;
			value += strspn(value, " \t");
			free(s.description);
			s.description = strdup(value);
			if (!s.description) {
				r = -ENOMEM;
				goto out;
			}
		} else if (!strncmp(line, "# timeout:", 10)) {
			if (parse_positive(line + 10, 24 * 3600, &s.timeout_sec) < 0) {
				fprintf(stderr, "%s:%d: timeout must be a number of seconds\n", path, lineno);
				r = -EINVAL;
				goto out;
			}
		} else if (!strncmp(line, "# boots:", 8)) {
			if (parse_positive(line + 8, 100, &s.boots) < 0) {
				fprintf(stderr, "%s:%d: boots must be a number from 1 to 100\n", path, lineno);
				r = -EINVAL;
				goto out;
			}
		}
	}
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	if (!s.description || !s.timeout_sec) {
		fprintf(stderr, "%s: the header needs '# vmtest: DESCRIPTION' and '# timeout: SECONDS'\n",
			path);
		r = -EINVAL;
		goto out;
	}

out:
	fclose(f);
	if (r < 0) {
		scenario_clear(&s);
		return r;
	}
	*ret = s;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(((const struct scenario *)a)->name, ((const struct scenario *)b)->name);
}

int scenario_discover(const char *dir, struct scenario **list, size_t *count)
{
	struct scenario *found = NULL;
	size_t found_count = 0;
	const char *dir_name;
	struct dirent *entry;
	char *copy;
	DIR *d;
	int r = 0;

	d = opendir(dir); /* opendir() uses O_CLOEXEC itself */
	if (!d)
		return -errno;
	copy = strdup(dir);
	if (!copy) {
		closedir(d);
		return -ENOMEM;
	}
	/* The guest holds each directory under /vmtest by its basename. */
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	dir_name = strrchr(copy, '/') ? strrchr(copy, '/') + 1 : copy;

	while ((entry = readdir(d))) {
		size_t len = strlen(entry->d_name);
		struct scenario *grown;
		char *path;

		if (entry->d_name[0] == '.' || len <= 3 || strcmp(entry->d_name + len - 3, ".sh"))
			continue;
		if (asprintf(&path, "%s/%s", copy, entry->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		grown = realloc(found, (found_count + 1) * sizeof(*found));
		if (!grown) {
			free(path);
			r = -ENOMEM;
			break;
		}
		found = grown;
		r = scenario_load(path, dir_name, &found[found_count]);
		free(path);
		if (r < 0)
			break;
		found_count++;
	}
	closedir(d);
	free(copy);
	if (r < 0) {
		for (size_t i = 0; i < found_count; i++)
			scenario_clear(&found[i]);
		free(found);
		return r;
	}
	qsort(found, found_count, sizeof(*found), compare_names);

	struct scenario *merged = realloc(*list, (*count + found_count) * sizeof(**list));
	if (!merged && *count + found_count > 0) {
		for (size_t i = 0; i < found_count; i++)
			scenario_clear(&found[i]);
		free(found);
		return -ENOMEM;
	}
	if (found_count)
		memcpy(merged + *count, found, found_count * sizeof(*found));
	free(found);
	*list = merged;
	*count += found_count;
	return 0;
}
