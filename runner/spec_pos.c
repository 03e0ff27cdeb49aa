/* SPDX-License-Identifier: MIT */
/*
 * spec_pos.c: map a JSON pointer to the LINE:COLUMN of what it names in the text.
 *
 * jansson records no positions for values, only for syntax errors. Rather than
 * parse twice or fork a parser, this walks text that jansson has already accepted,
 * so it needs no error handling of its own: it skips values by their first byte,
 * descends one pointer token at a time, and counts lines and columns of the offset
 * it stops at. Columns count characters (not bytes), the same way jansson counts
 * them in its syntax errors, so both kinds of error line up in an editor.
 */
#include "spec_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const char *text;
	size_t len;
	size_t pos;
};

static void skip_space(struct scan *s)
{
	while (s->pos < s->len && strchr(" \t\r\n", s->text[s->pos]) && s->text[s->pos])
		s->pos++;
}

/* At an opening quote: move past the closing one. */
static void skip_string(struct scan *s)
{
	s->pos++;
	while (s->pos < s->len) {
		char c = s->text[s->pos++];
		if (c == '\\')
			s->pos++;
		else if (c == '"')
			return;
	}
}

/* At the first byte of a value: move past its last byte. */
static void skip_value(struct scan *s)
{
	char c = s->text[s->pos];
	if (c == '"') {
		skip_string(s);
		return;
	}
	if (c != '{' && c != '[') {
		/* number or literal: ends at the next delimiter */
		while (s->pos < s->len && !strchr(",]} \t\r\n", s->text[s->pos]))
			s->pos++;
		return;
	}
	unsigned depth = 0;
	while (s->pos < s->len) {
		c = s->text[s->pos];
		if (c == '"') {
			skip_string(s);
			continue;
		}
		s->pos++;
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return;
	}
}

static unsigned hex_value(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Does the key string at s->pos, once its escapes are undone, equal @want? Keys
 * written with escapes ("\u0070ath") must still match the pointer jansson's
 * decoded key produced. The scan position is not moved.
 */
static bool key_equals(const struct scan *s, const char *want, size_t want_len)
{
	size_t i = s->pos + 1, matched = 0;
	char buf[4];
	while (i < s->len && s->text[i] != '"') {
		size_t n = 1;
		buf[0] = s->text[i];
		if (s->text[i] == '\\') {
			char e = s->text[i + 1];
			i += 2;
			switch (e) {
			case 'b': buf[0] = '\b'; break;
			case 'f': buf[0] = '\f'; break;
			case 'n': buf[0] = '\n'; break;
			case 'r': buf[0] = '\r'; break;
			case 't': buf[0] = '\t'; break;
			case 'u': {
				uint32_t cp = hex_value(s->text + i);
				i += 4;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					/* a surrogate pair; jansson accepted it, so the low half follows */
					uint32_t low = hex_value(s->text + i + 2);
					cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
					i += 6;
				}
				n = put_utf8(buf, cp);
				break;
			}
			default: buf[0] = e; break; /* \" \\ \/ */
			}
		} else {
			i++;
		}
		if (matched + n > want_len || memcmp(want + matched, buf, n) != 0)
			return false;
		matched += n;
	}
	return matched == want_len;
}

/* The next pointer token from *cursor, unescaped into @buf. Return: its length. */
static size_t next_token(const char **cursor, char *buf, size_t size)
{
	const char *p = *cursor + 1; /* skip '/' */
	size_t n = 0;
	while (*p && *p != '/') {
		char c = *p++;
		if (c == '~' && (*p == '0' || *p == '1'))
			c = *p++ == '0' ? '~' : '/';
		if (n + 1 < size)
			buf[n++] = c;
	}
	buf[n] = '\0';
	*cursor = p;
	return n;
}

/* Descend into the member @key of the object at s->pos. Return: found. */
static bool enter_member(struct scan *s, const char *key, size_t key_len, bool at_key)
{
	s->pos++; /* '{' */
	for (;;) {
		skip_space(s);
		if (s->pos >= s->len || s->text[s->pos] != '"')
			return false;
		size_t key_pos = s->pos;
		bool match = key_equals(s, key, key_len);
		skip_string(s);
		skip_space(s);
		s->pos++; /* ':' */
		skip_space(s);
		if (match) {
			if (at_key)
				s->pos = key_pos;
			return true;
		}
		skip_value(s);
		skip_space(s);
		if (s->pos >= s->len || s->text[s->pos] != ',')
			return false;
		s->pos++;
	}
}

/* Descend into element @index of the array at s->pos. Return: found. */
static bool enter_element(struct scan *s, const char *token)
{
	char *end;
	errno = 0;
	unsigned long long index = strtoull(token, &end, 10);
	if (*token == '\0' || *end != '\0' || errno)
		return false;
	s->pos++; /* '[' */
	for (unsigned long long i = 0;; i++) {
		skip_space(s);
		if (s->pos >= s->len || s->text[s->pos] == ']')
			return false;
		if (i == index)
			return true;
		skip_value(s);
		skip_space(s);
		if (s->pos >= s->len || s->text[s->pos] != ',')
			return false;
		s->pos++;
	}
}

/* Line and column of increasing offsets, counted once over the text. */
struct counter {
	size_t pos;
	unsigned line, column;
};

static void count_to(struct counter *c, const char *text, size_t target)
{
	for (; c->pos < target; c->pos++) {
		unsigned char byte = (unsigned char)text[c->pos];
		if (byte == '\n') {
			c->line++;
			c->column = 1;
		} else if ((byte & 0xC0) != 0x80) {
			c->column++; /* UTF-8 continuation bytes do not start a character */
		}
	}
}

int spec_pos_find(const char *text, size_t len, const char *pointer, bool at_key,
		  unsigned *ret_line, unsigned *ret_column)
{
	struct scan s = { .text = text, .len = len };
	char token[512];
	int r = 0;

	skip_space(&s);
	while (*pointer == '/') {
		size_t found_at = s.pos;
		size_t token_len = next_token(&pointer, token, sizeof(token));
		bool last = *pointer == '\0';
		bool found = false;
		if (s.pos < len && text[s.pos] == '{')
			found = enter_member(&s, token, token_len, at_key && last);
		else if (s.pos < len && text[s.pos] == '[')
			found = enter_element(&s, token);
		if (!found) {
			s.pos = found_at; /* report the deepest value we did find */
			r = -ENOENT;
			break;
		}
	}

	struct counter counter = { .line = 1, .column = 1 };
	count_to(&counter, text, s.pos < len ? s.pos : len);
	*ret_line = counter.line;
	*ret_column = counter.column;
	return r;
}

void spec_pointer_append(char *buf, size_t size, const char *token)
{
	size_t n = strlen(buf);
	if (n + 1 < size)
		buf[n++] = '/';
	for (; *token && n + 2 < size; token++) {
		if (*token == '~' || *token == '/') {
			buf[n++] = '~';
			buf[n++] = *token == '~' ? '0' : '1';
		} else {
			buf[n++] = *token;
		}
	}
	buf[n < size ? n : size - 1] = '\0';
}

int spec_fail(struct spec_error *error, const char *pointer, const char *fmt, ...)
{
	va_list ap;
	snprintf(error->pointer, sizeof(error->pointer), "%s", pointer);
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
	error->line = 0;
	error->column = 0;
	return -EINVAL;
}

void spec_pos_record_ids(const char *text, size_t len, struct txn_batch *batch)
{
	struct scan s = { .text = text, .len = len };
	struct counter counter = { .line = 1, .column = 1 };
	size_t n_chown = 0;

	/* Only chown ops carry names to place; most specs have none, and scanning a
	 * spec of 10 MB of inline contents costs several milliseconds. */
	for (size_t i = 0; i < batch->n_ops; i++)
		n_chown += batch->ops[i].kind == TXN_OP_CHOWN;
	if (n_chown == 0)
		return;
	skip_space(&s);
	if (s.pos >= len || text[s.pos] != '{' || !enter_member(&s, "ops", 3, false) ||
	    text[s.pos] != '[')
		return;
	s.pos++;
	for (size_t i = 0; i < batch->n_ops; i++) {
		skip_space(&s);
		if (s.pos >= len || text[s.pos] != '{')
			return;
		struct txn_op *op = &batch->ops[i];
		struct scan member = s;
		member.pos++;
		while (op->kind == TXN_OP_CHOWN) {
			skip_space(&member);
			if (member.pos >= len || text[member.pos] != '"')
				break;
			struct txn_id_ref *ref = NULL;
			if (key_equals(&member, "owner", 5))
				ref = &op->owner;
			else if (key_equals(&member, "group", 5))
				ref = &op->group;
			skip_string(&member);
			skip_space(&member);
			member.pos++; /* ':' */
			skip_space(&member);
			if (ref) {
				count_to(&counter, text, member.pos);
				ref->spec_line = counter.line;
				ref->spec_column = counter.column;
			}
			skip_value(&member);
			skip_space(&member);
			if (member.pos >= len || text[member.pos] != ',')
				break;
			member.pos++;
		}
		if (op->kind == TXN_OP_CHOWN && --n_chown == 0)
			return;
		skip_value(&s);
		skip_space(&s);
		if (s.pos < len && text[s.pos] == ',')
			s.pos++;
	}
}
