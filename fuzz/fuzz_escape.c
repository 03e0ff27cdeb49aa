/* SPDX-License-Identifier: MIT */
/*
 * fuzz_escape.c: libFuzzer target for txn_escape_text() (runner/escape.c), the form in
 * which the command shows names from an untrusted tree.
 *
 * Besides "no crash", it checks the two promises the output rests on: what comes out
 * is plain (valid UTF-8, no control, C1 or bidi character: txn_text_is_plain()), and
 * txn_unescape_text() gives back exactly the bytes that went in, so two different names
 * never print the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "txn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes, so that ASan sees any read past the end. */
	char *input = malloc(size ? size : 1);
	if (!input)
		return 0;
	memcpy(input, data, size);
	char *shown = txn_escape_text(input, size);
	if (!shown)
		abort();
	size_t shown_len = strlen(shown);
	if (!txn_text_is_plain(shown, shown_len))
		abort();
	char *back = NULL;
	size_t back_len = 0;
	if (txn_unescape_text(shown, &back, &back_len) != 0 || back_len != size ||
	    memcmp(back, input, size) != 0)
		abort();
	/* Plain input is kept as it is, but for doubled backslashes. */
	if (txn_text_is_plain(input, size) && !memchr(input, '\\', size) &&
	    (shown_len != size || memcmp(shown, input, size) != 0))
		abort();
	free(back);
	free(shown);
	free(input);
	return 0;
}
