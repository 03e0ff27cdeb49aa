/* SPDX-License-Identifier: MIT */
/* console.c: follow the guest's serial console log and pick out marker lines.
 *
 * QEMU writes the console to a file (-chardev file); we read what it appended on each
 * turn of the orchestrator's loop. Reading a file QEMU owns, rather than a pipe we
 * must keep draining, means a slow orchestrator never stalls the guest and the whole
 * log stays on disk for a person to read. We keep the last lines for failure reports.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int console_open(struct console *c, const char *path)
{
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -EBADF;
	/* Create it empty now, so a read before QEMU starts sees nothing old. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	c->fd = fd;
	return 0;
}

void console_close(struct console *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -EBADF;
	for (size_t i = 0; i < CONSOLE_TAIL_LINES; i++) {
		free(c->tail[i]);
		c->tail[i] = NULL;
	}
}

/* Keep a printable copy: escape sequences and stray bytes would garble a TAP report. */
static void remember_line(struct console *c, const char *line)
{
	size_t len = strlen(line), out = 0;
	char *copy = malloc(len + 1);

	if (!copy)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == 0x1b) {
			/* Skip a CSI sequence: ESC [ parameters final-byte. */
			if (i + 1 < len && line[i + 1] == '[') {
				i += 2;
				while (i < len && !(line[i] >= 0x40 && line[i] <= 0x7e))
					i++;
			}
			continue;
		}
		if (ch == '\t' || (ch >= 0x20 && ch != 0x7f))
			copy[out++] = (char)ch;
	}
	copy[out] = '\0';
	if (out == 0) {
		free(copy);
		return;
	}
	free(c->tail[c->tail_next]);
	c->tail[c->tail_next] = copy;
	c->tail_next = (c->tail_next + 1) % CONSOLE_TAIL_LINES;
}

/* handle_line() - 1 with the marker text in *ret_marker, 0 for an ordinary line. */
static int handle_line(struct console *c, char *line, char **ret_marker)
{
	size_t len = strlen(line);
	const char *marker;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (c->echo)
		fprintf(c->echo, "%s\n", line);
	remember_line(c, line);
	if (strstr(line, "blocked for more than"))
		c->hung_task = true;
	/* "+ " starts an xtrace line: the guest's trace of a command is never a marker. */
	marker = strstr(line, VM_MARKER);
	if (!marker || strstr(line, "+ ") == line)
		return 0;
	*ret_marker = strdup(marker + strlen(VM_MARKER));
	return *ret_marker ? 1 : -ENOMEM;
}

int console_next_marker(struct console *c, bool at_end, char **ret_marker)
{
	for (;;) {
		char *newline;
		ssize_t n;

		newline = memchr(c->partial, '\n', c->partial_len);
		if (newline) {
			size_t line_len = (size_t)(newline - c->partial);
			char line[sizeof(c->partial) + 1];
			int r;

			memcpy(line, c->partial, line_len);
			line[line_len] = '\0';
			memmove(c->partial, newline + 1, c->partial_len - line_len - 1);
			c->partial_len -= line_len + 1;
			r = handle_line(c, line, ret_marker);
			if (r != 0)
				return r;
			continue;
		}
		if (c->partial_len == sizeof(c->partial)) {
			/* A line longer than the buffer: treat what we have as a line. */
			char line[sizeof(c->partial) + 1];
			int r;

			memcpy(line, c->partial, c->partial_len);
			line[c->partial_len] = '\0';
			c->partial_len = 0;
			r = handle_line(c, line, ret_marker);
			if (r != 0)
				return r;
			continue;
		}
		n = read(c->fd, c->partial + c->partial_len, sizeof(c->partial) - c->partial_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0 && at_end && c->partial_len > 0) {
			/* QEMU is gone: an unterminated last line is all there will be. */
			char line[sizeof(c->partial) + 1];

			memcpy(line, c->partial, c->partial_len);
			line[c->partial_len] = '\0';
			c->partial_len = 0;
			return handle_line(c, line, ret_marker);
		}
		if (n == 0)
			return 0; /* nothing more yet: the rest of a line comes on a later call */
		c->partial_len += (size_t)n;
		c->bytes_seen += (size_t)n;
	}
}

void console_print_tail(const struct console *c, FILE *out, const char *prefix)
{
	for (size_t i = 0; i < CONSOLE_TAIL_LINES; i++) {
		const char *line = c->tail[(c->tail_next + i) % CONSOLE_TAIL_LINES];

		if (line)
			fprintf(out, "%s%s\n", prefix, line);
	}
}
