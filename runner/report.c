/* SPDX-License-Identifier: MIT */
/* report.c: the one place the command prints errors and notes (see runner.h). */
#include "runner.h"

#include <stdarg.h>

struct cli_options cli;

static void vreport(FILE *out, const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, out);
	vfprintf(out, fmt, ap);
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
