/* SPDX-License-Identifier: MIT */
/* report.c: the one place the command prints errors and notes (see runner.h).
 * Messages quote names from the target tree, which anyone who can write there
 * chose: each line is printed through txn_escape_text(), so a name cannot put terminal
 * escapes, bidi overrides or a second line on the operator's screen. */
#include "cleanup.h"
#include "runner.h"
#include "txn.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct cli_options cli;

static void vreport(FILE *out, const char *prefix, const char *fmt, va_list ap)
{
	_cleanup_free_ char *text = NULL;
	int len = vasprintf(&text, fmt, ap);
	if (len < 0)
		text = NULL; /* undefined after a failure */
	_cleanup_free_ char *shown = len >= 0 ? txn_escape_text(text, (size_t)len) : NULL;
	fputs(prefix, out);
	fputs(shown ? shown : "(out of memory formatting a message)", out);
	fputc('\n', out);
	fflush(out);
}

void report_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(stderr, "btrfs-txn: ", fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	if (cli.quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vreport(cli.json ? stderr : stdout, "", fmt, ap);
	va_end(ap);
}

void report_verbose(const char *fmt, ...)
{
	if (!cli.verbose || cli.quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vreport(stderr, "btrfs-txn: ", fmt, ap);
	va_end(ap);
}
