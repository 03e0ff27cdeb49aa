/* SPDX-License-Identifier: MIT */
/*
 * escape.c: the one way the command shows a string that came from a tree it does not
 * trust (file names, link targets, and the error messages that quote them).
 *
 * A name in T is any byte string without '/' and NUL. Printed raw, it can move the
 * cursor or rewrite a terminal (ESC, C1 controls such as CSI 0x9b), forge a line of a
 * listing (newline), reverse what a reader sees (bidi overrides), or make a JSON
 * encoder refuse the whole string (invalid UTF-8). txn_escape_text() turns every such byte
 * or character into a visible escape, and doubles the backslash, so the form is
 * reversible (txn_unescape_text()) and two different names never print the same:
 *
 *   \\            a backslash
 *   \n \t         newline, tab
 *   \xHH          any other C0 control byte, DEL, and each byte that is not part of
 *                 valid UTF-8 (overlong forms, surrogates, stray continuation bytes)
 *   \uHHHH        a C1 control (U+0080..U+009F), a bidi control (U+061C, U+200E,
 *                 U+200F, U+202A..U+202E, U+2066..U+2069), or U+2028/U+2029
 *
 * Everything else, valid UTF-8 included, is kept as it is.
 */
#include "txn.h"

#include <stdbool.h>
#include <stddef.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The length of the valid UTF-8 sequence at @p (at most @left bytes), its code point
 * in *ret_cp; 0 when the bytes there are not valid UTF-8. */
static size_t utf8_decode(const unsigned char *p, size_t left, uint32_t *ret_cp)
{
	unsigned char b = p[0];
	if (b < 0x80) {
		*ret_cp = b;
		return 1;
	}
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	uint32_t cp;
	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
		cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		cp = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0; /* overlong */
		else if (b == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		cp = b & 0x07;
		if (b == 0xf0)
			lo = 0x90; /* overlong */
		else if (b == 0xf4)
			hi = 0x8f; /* beyond U+10FFFF */
	} else {
		return 0;
	}
	if (left < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (i > 1 && (p[i] < 0x80 || p[i] > 0xbf))
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	*ret_cp = cp;
	return len;
}

/* Code points shown as \uHHHH: C1 controls, and those that reorder or break lines. */
static bool is_hidden_code_point(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

bool txn_text_is_plain(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f || is_hidden_code_point(cp))
			return false;
		i += n;
	}
	return true;
}

char *txn_escape_text(const char *text, size_t len)
{
	/* The longest form is 6 bytes (\uHHHH) for 2 bytes in, or 4 (\xHH) for 1. */
	if (len > (SIZE_MAX - 1) / 4)
		return NULL;
	char *out = malloc(len * 4 + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)text;
	static const char hex[] = "0123456789abcdef";
	size_t w = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f) {
			unsigned char b = p[i];
			out[w++] = '\\';
			if (b == '\n') {
				out[w++] = 'n';
			} else if (b == '\t') {
				out[w++] = 't';
			} else {
				out[w++] = 'x';
				out[w++] = hex[b >> 4];
				out[w++] = hex[b & 15];
			}
			i++;
		} else if (is_hidden_code_point(cp)) {
			out[w++] = '\\';
			out[w++] = 'u';
			for (int shift = 12; shift >= 0; shift -= 4)
				out[w++] = hex[(cp >> shift) & 15];
			i += n;
		} else if (cp == '\\') {
			out[w++] = '\\';
			out[w++] = '\\';
			i++;
		} else {
			memcpy(out + w, p + i, n);
			w += n;
			i += n;
		}
	}
	out[w] = '\0';
	return out;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int txn_unescape_text(const char *text, char **ret_text, size_t *ret_len)
{
	size_t len = strlen(text);
	char *out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\\') {
			out[w++] = text[i];
			continue;
		}
		char kind = text[++i];
		size_t digits = kind == 'x' ? 2 : kind == 'u' ? 4 : 0;
		uint32_t value = 0;
		for (size_t d = 0; d < digits; d++) {
			int v = i + 1 + d < len ? hex_value(text[i + 1 + d]) : -1;
			if (v < 0) {
				free(out);
				return -EINVAL;
			}
			value = value << 4 | (uint32_t)v;
		}
		i += digits;
		if (kind == '\\') {
			out[w++] = '\\';
		} else if (kind == 'n') {
			out[w++] = '\n';
		} else if (kind == 't') {
			out[w++] = '\t';
		} else if (kind == 'x') {
			out[w++] = (char)value;
		} else if (kind == 'u' && value < 0x800 && value >= 0x80) {
			out[w++] = (char)(0xc0 | value >> 6);
			out[w++] = (char)(0x80 | (value & 0x3f));
		} else if (kind == 'u' && value >= 0x800 && (value < 0xd800 || value > 0xdfff)) {
			out[w++] = (char)(0xe0 | value >> 12);
			out[w++] = (char)(0x80 | ((value >> 6) & 0x3f));
			out[w++] = (char)(0x80 | (value & 0x3f));
		} else {
			free(out);
			return -EINVAL;
		}
	}
	out[w] = '\0';
	*ret_text = out;
	*ret_len = w;
	return 0;
}

json_t *txn_json_name(const char *name, bool *escaped)
{
	size_t len = strlen(name);
	if (txn_text_is_plain(name, len))
		return json_string(name);
	char *shown = txn_escape_text(name, len);
	json_t *value = shown ? json_string(shown) : NULL;
	free(shown);
	if (value && escaped)
		*escaped = true;
	return value;
}
