/* SPDX-License-Identifier: MIT */
/*
 * test_spec_load.c: spec v1 into struct txn_batch (runner/spec_load.c and friends):
 * every field lands where the engine expects it, defaults stay unset, base64 and
 * sha256 are decoded, and errors name the right pointer, line and column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec_internal.h"
#include "spec_load.h"

static int load(const char *text, struct txn_batch *batch, struct spec_error *error)
{
	return spec_load_buffer("t.json", text, strlen(text), batch, error);
}

static const char full_spec[] =
	"{\n"
	"  \"version\": 1,\n"
	"  \"target\": \"/srv/www/conf\",\n"
	"  \"description\": \"nginx config r42\",\n"
	"  \"method\": \"trans\",\n"
	"  \"keep\": 7,\n"
	"  \"preconditions\": [\n"
	"    {\"path\": \"nginx.conf\", \"sha256\": "
	"\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"},\n"
	"    {\"path\": \"maintenance.flag\", \"exists\": false}\n"
	"  ],\n"
	"  \"ops\": [\n"
	"    {\"op\": \"write\", \"path\": \"nginx.conf\", \"content\": \"w 4;\\n\", \"mode\": \"0644\"},\n"
	"    {\"op\": \"write\", \"path\": \"logo.png\", \"content_base64\": \"iVBORw0KGgo=\"},\n"
	"    {\"op\": \"copy\", \"path\": \"bin/app\", \"source\": \"/build/out/app\", \"mode\": \"755\"},\n"
	"    {\"op\": \"mkdir\", \"path\": \"conf.d\", \"parents\": true},\n"
	"    {\"op\": \"delete\", \"path\": \"old.conf\", \"missing_ok\": true},\n"
	"    {\"op\": \"delete\", \"path\": \"cache\", \"recursive\": true},\n"
	"    {\"op\": \"symlink\", \"path\": \"current\", \"target\": \"releases/42\"},\n"
	"    {\"op\": \"rename\", \"path\": \"a.conf\", \"to\": \"b.conf\"},\n"
	"    {\"op\": \"chmod\", \"path\": \"secret.key\", \"mode\": \"1777\"},\n"
	"    {\"op\": \"chown\", \"path\": \"secret.key\", \"owner\": \"www-data\", \"group\": 33}\n"
	"  ],\n"
	"  \"verify\": {\"argv\": [\"nginx\", \"-t\", \"\"], \"timeout\": 30}\n"
	"}\n";

static void test_full_spec_fields(void **state)
{
	(void)state;
	struct txn_batch b;
	struct spec_error error;
	int r = load(full_spec, &b, &error);
	if (r < 0)
		print_error("%u:%u: %s: %s\n", error.line, error.column, error.pointer,
			    error.message);
	assert_int_equal(r, 0);

	assert_string_equal(b.target, "/srv/www/conf");
	assert_string_equal(b.description, "nginx config r42");
	assert_true(b.has_method);
	assert_int_equal(b.method, TXN_METHOD_TRANS);
	assert_true(b.has_keep);
	assert_int_equal(b.keep, 7);

	assert_int_equal(b.n_preconditions, 2);
	assert_string_equal(b.preconditions[0].path, "nginx.conf");
	assert_true(b.preconditions[0].has_sha256);
	assert_false(b.preconditions[0].has_exists);
	static const unsigned char sha[32] = {
		0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea,
		0xa0, 0xc5, 0x5a, 0xd0, 0x15, 0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b,
		0x82, 0x2c, 0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08,
	};
	assert_memory_equal(b.preconditions[0].sha256, sha, 32);
	assert_true(b.preconditions[1].has_exists);
	assert_false(b.preconditions[1].exists);
	assert_false(b.preconditions[1].has_sha256);

	assert_int_equal(b.n_ops, 10);
	struct txn_op *op = b.ops;
	assert_int_equal(op[0].kind, TXN_OP_WRITE);
	assert_string_equal(op[0].path, "nginx.conf");
	assert_int_equal(op[0].content_len, 5);
	assert_memory_equal(op[0].content, "w 4;\n", 5);
	assert_true(op[0].has_mode);
	assert_int_equal(op[0].mode, 0644);

	static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	assert_int_equal(op[1].kind, TXN_OP_WRITE);
	assert_int_equal(op[1].content_len, sizeof(png));
	assert_memory_equal(op[1].content, png, sizeof(png));
	assert_false(op[1].has_mode);

	assert_int_equal(op[2].kind, TXN_OP_COPY);
	assert_string_equal(op[2].source, "/build/out/app");
	assert_int_equal(op[2].mode, 0755);
	assert_int_equal(op[3].kind, TXN_OP_MKDIR);
	assert_true(op[3].parents);
	assert_false(op[3].has_mode);
	assert_int_equal(op[4].kind, TXN_OP_DELETE);
	assert_true(op[4].missing_ok);
	assert_false(op[4].recursive);
	assert_true(op[5].recursive);
	assert_false(op[5].missing_ok);
	assert_int_equal(op[6].kind, TXN_OP_SYMLINK);
	assert_string_equal(op[6].link_target, "releases/42");
	assert_int_equal(op[7].kind, TXN_OP_RENAME);
	assert_string_equal(op[7].to, "b.conf");
	assert_int_equal(op[8].kind, TXN_OP_CHMOD);
	assert_int_equal(op[8].mode, 01777);

	assert_int_equal(op[9].kind, TXN_OP_CHOWN);
	assert_true(op[9].owner.present);
	assert_true(op[9].owner.is_name);
	assert_false(op[9].owner.resolved);
	assert_string_equal(op[9].owner.name, "www-data");
	assert_int_equal(op[9].owner.spec_line, 21);
	assert_int_equal(op[9].owner.spec_column, 52);
	assert_true(op[9].group.present);
	assert_false(op[9].group.is_name);
	assert_true(op[9].group.resolved);
	assert_int_equal(op[9].group.id, 33);

	assert_int_equal(b.verify.argc, 3);
	assert_string_equal(b.verify.argv[0], "nginx");
	assert_string_equal(b.verify.argv[2], "");
	assert_null(b.verify.argv[3]);
	assert_int_equal(b.verify.timeout_seconds, 30);
	txn_batch_free(&b);
	assert_null(b.ops);
}

static void test_defaults(void **state)
{
	(void)state;
	struct txn_batch b;
	struct spec_error error;
	assert_int_equal(load("{\"version\":1,\"ops\":[{\"op\":\"write\",\"path\":\"a\","
			      "\"content\":\"\"}]}", &b, &error), 0);
	assert_null(b.target);
	assert_null(b.description);
	assert_false(b.has_method);
	assert_false(b.has_keep);
	assert_int_equal(b.n_preconditions, 0);
	assert_null(b.verify.argv);
	assert_int_equal(b.verify.timeout_seconds, 0);
	assert_int_equal(b.n_ops, 1);
	assert_int_equal(b.ops[0].content_len, 0);
	assert_false(b.ops[0].has_mode);
	txn_batch_free(&b);
}

static const struct txn_op *only_op(const char *text, struct txn_batch *b)
{
	struct spec_error error;
	int r = load(text, b, &error);
	if (r < 0)
		print_error("unexpected error: %s\n", error.message);
	assert_int_equal(r, 0);
	assert_int_equal(b->n_ops, 1);
	return &b->ops[0];
}

static void test_content_bytes(void **state)
{
	(void)state;
	struct txn_batch b;
	/* NUL bytes are content, not an error, and UTF-8 arrives as bytes */
	const struct txn_op *op = only_op("{\"version\":1,\"ops\":[{\"op\":\"write\",\"path\":"
					  "\"a\",\"content\":\"x\\u0000y\\u00e9\"}]}", &b);
	assert_int_equal(op->content_len, 5);
	assert_memory_equal(op->content, "x\0y\xc3\xa9", 5);
	txn_batch_free(&b);
}

static void test_base64_padding(void **state)
{
	(void)state;
	static const struct {
		const char *encoded, *decoded;
		size_t len;
	} cases[] = {
		{ "", "", 0 },
		{ "eA==", "x", 1 },
		{ "eHk=", "xy", 2 },
		{ "eHl6", "xyz", 3 },
		{ "AAD/", "\0\0\xff", 3 },
		{ "+/+/", "\xfb\xff\xbf", 3 },
		/* bits below the last byte are not checked, as the schema's pattern does not */
		{ "QR==", "A", 1 },
		{ "eHl=", "xy", 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct txn_batch b;
		snprintf(text, sizeof(text),
			 "{\"version\":1,\"ops\":[{\"op\":\"write\",\"path\":\"a\","
			 "\"content_base64\":\"%s\"}]}", cases[i].encoded);
		const struct txn_op *op = only_op(text, &b);
		assert_int_equal(op->content_len, cases[i].len);
		if (cases[i].len)
			assert_memory_equal(op->content, cases[i].decoded, cases[i].len);
		txn_batch_free(&b);
	}
}

/* Load @text, expect -EINVAL and the given pointer, line, column and message start. */
static void expect_error(const char *text, const char *pointer, unsigned line, unsigned column,
			 const char *message)
{
	struct txn_batch b;
	struct spec_error error;
	memset(&b, 0xa5, sizeof(b));
	struct txn_batch untouched = b;
	assert_int_equal(load(text, &b, &error), -EINVAL);
	assert_memory_equal(&b, &untouched, sizeof(b)); /* ret_batch left alone */
	assert_string_equal(error.file, "t.json");
	assert_string_equal(error.pointer, pointer);
	assert_int_equal(error.line, line);
	assert_int_equal(error.column, column);
	assert_true(strncmp(error.message, message, strlen(message)) == 0);
}

static void test_error_positions(void **state)
{
	(void)state;
	/* a value several lines down */
	expect_error("{\n  \"version\": 1,\n  \"ops\": [\n    {\"op\": \"chmod\",\n"
		     "     \"path\": \"a\", \"mode\": \"0999\"}\n  ]\n}\n",
		     "/ops/0/mode", 5, 27, "expected an octal string such as \"0644\"");
	/* an unknown key is reported at the key */
	expect_error("{\"version\": 1, \"ops\": [{\"op\": \"delete\", \"path\": \"a\", \"force\": 1}]}",
		     "/ops/0/force", 1, 54, "unknown key; delete takes");
	/* a missing key at the object it is missing from */
	expect_error("{\"version\": 1,\n \"ops\": [{\"op\": \"rename\", \"path\": \"a\"}]}",
		     "/ops/0", 2, 10, "missing required key \"to\"");
	/* an escaped key still finds its value */
	expect_error("{\"version\":1,\"ops\":[{\"op\":\"chmod\",\"p\\u0061th\":\"/x\",\"mode\":\"1\"}]}",
		     "/ops/0/path", 1, 47, "path is absolute");
	/* columns count characters: the two-byte e-acute counts once */
	expect_error("{\"description\": \"\xc3\xa9\", \"version\": \"1\", \"ops\": []}",
		     "/version", 1, 33, "expected the integer 1, got a string");
	/* array elements are found by index, past nested values */
	expect_error("{\"version\":1,\"ops\":[{\"op\":\"mkdir\",\"path\":\"a\",\"parents\":true},"
		     "{\"op\":\"write\",\"path\":\"a/b\",\"content\":\"[{\\\"\"},"
		     "{\"op\":\"chown\",\"path\":\"a/b\",\"owner\":-5}]}",
		     "/ops/2/owner", 1, 142, "expected a name or a number");
	/* the document itself has an empty pointer */
	expect_error("  [1]", "", 1, 3, "expected an object (the spec), got an array");
}

static void test_syntax_errors_keep_jansson_position(void **state)
{
	(void)state;
	expect_error("{\"version\": 1,\n  \"ops\": [,]}", "", 2, 11, "invalid JSON: ");
	expect_error("{\"version\": 1, \"version\": 1}", "", 1, 24,
		     "invalid JSON: duplicate object key");
}

static void test_rules(void **state)
{
	(void)state;
	expect_error("{\"version\":1,\"keep\":101,\"ops\":[]}", "/keep", 1, 21,
		     "expected a positive integer no larger than 100, got 101");
	expect_error("{\"version\":1,\"ops\":[]}", "/ops", 1, 20, "ops is empty");
	expect_error("{\"version\":1,\"ops\":[{\"op\":\"write\",\"path\":\"a\",\"content_base64\":\"eA=a\"}]}",
		     "/ops/0/content_base64", 1, 63, "invalid base64: unexpected character at offset 2");
	expect_error("{\"version\":1,\"preconditions\":[{\"path\":\"a\",\"exists\":false,"
		     "\"sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000"
		     "\"}],\"ops\":[{\"op\":\"delete\",\"path\":\"b\"}]}",
		     "/preconditions/0/sha256", 1, 67, "contradicts \"exists\": false");
	expect_error("{\"version\":1,\"ops\":[{\"op\":\"copy\",\"path\":\"a\",\"source\":\"b\"}]}",
		     "/ops/0/source", 1, 54, "expected an absolute path");
	expect_error("{\"version\":1,\"ops\":[{\"op\":\"delete\",\"path\":\"a\"}],\"verify\":{\"argv\":[]}}",
		     "/verify/argv", 1, 66, "argv is empty");
}

static void test_contradictions(void **state)
{
	(void)state;
	struct txn_batch b;
	struct spec_error error;
	/* certain failures */
	expect_error("{\"version\":1,\"ops\":[{\"op\":\"delete\",\"path\":\"d\",\"recursive\":true},"
		     "{\"op\":\"mkdir\",\"path\":\"d\"},{\"op\":\"chmod\",\"path\":\"d/f\",\"mode\":\"0\"}]}",
		     "/ops/2/path", 1, 112, "\"d/f\" does not exist at this point: /ops/0 deleted \"d\"");
	expect_error("{\"version\":1,\"preconditions\":[{\"path\":\"d\",\"exists\":false}],"
		     "\"ops\":[{\"op\":\"write\",\"path\":\"d/f\",\"content\":\"\"}]}",
		     "/ops/0/path", 1, 88, "parent directory \"d\" does not exist at this point: "
		     "/preconditions/0 requires \"d\" to be absent");
	/* not contradictions: later ops win, re-creation, unknown contents moved in */
	static const char *const fine[] = {
		"{\"version\":1,\"ops\":[{\"op\":\"write\",\"path\":\"a\",\"content\":\"1\"},"
		"{\"op\":\"write\",\"path\":\"a\",\"content\":\"2\"}]}",
		"{\"version\":1,\"ops\":[{\"op\":\"delete\",\"path\":\"a\"},"
		"{\"op\":\"write\",\"path\":\"a\",\"content\":\"2\"},{\"op\":\"chmod\",\"path\":\"a\",\"mode\":\"600\"}]}",
		"{\"version\":1,\"ops\":[{\"op\":\"delete\",\"path\":\"d\",\"recursive\":true},"
		"{\"op\":\"rename\",\"path\":\"new\",\"to\":\"d\"},{\"op\":\"chmod\",\"path\":\"d/f\",\"mode\":\"600\"}]}",
		"{\"version\":1,\"preconditions\":[{\"path\":\"a\",\"exists\":false}],"
		"\"ops\":[{\"op\":\"delete\",\"path\":\"a\",\"missing_ok\":true}]}",
		"{\"version\":1,\"preconditions\":[{\"path\":\"a\",\"exists\":true},{\"path\":\"a\",\"exists\":true}],"
		"\"ops\":[{\"op\":\"delete\",\"path\":\"a\"},{\"op\":\"mkdir\",\"path\":\"a/b\",\"parents\":true}]}",
	};
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		int r = load(fine[i], &b, &error);
		if (r < 0)
			print_error("case %zu: %s: %s\n", i, error.pointer, error.message);
		assert_int_equal(r, 0);
		txn_batch_free(&b);
	}
}

static void test_error_format(void **state)
{
	(void)state;
	char line[1024];
	struct spec_error error = { .file = "d.json", .line = 12, .column = 9,
				    .pointer = "/ops/3/mode", .message = "bad" };
	spec_error_format(&error, line, sizeof(line));
	assert_string_equal(line, "d.json:12:9: /ops/3/mode: bad");
	error.pointer[0] = '\0';
	spec_error_format(&error, line, sizeof(line));
	assert_string_equal(line, "d.json:12:9: bad");
	error.line = 0;
	spec_error_format(&error, line, sizeof(line));
	assert_string_equal(line, "d.json: bad");
}

static void test_load_file(void **state)
{
	(void)state;
	struct txn_batch b;
	struct spec_error error;
	assert_int_equal(spec_load_file("/nonexistent/spec.json", &b, &error), -ENOENT);
	assert_string_equal(error.file, "/nonexistent/spec.json");
	assert_int_equal(error.line, 0);
	assert_string_equal(error.message, "cannot read: No such file or directory");

	char path[] = "/tmp/test_spec_load.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "{\"version\":1,\"ops\":[{\"op\":\"delete\",\"path\":\"x\"}]}";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(spec_load_file(path, &b, &error), 0);
	assert_int_equal(b.n_ops, 1);
	assert_int_equal(b.ops[0].kind, TXN_OP_DELETE);
	txn_batch_free(&b);
	unlink(path);

	assert_int_equal(spec_load_file("/", &b, &error), -EISDIR);
	assert_string_equal(error.message, "cannot read: Is a directory");
}

static void test_too_large(void **state)
{
	(void)state;
	struct txn_batch b;
	struct spec_error error;
	/* refused by its size before a byte is read */
	assert_int_equal(spec_load_buffer("big.json", "{}", (size_t)SPEC_MAX_SIZE + 1, &b, &error),
			 -EFBIG);
	assert_int_equal(error.line, 0);
	assert_string_equal(error.message, "spec is larger than the limit of 64 MiB");
}

static void test_resolve_ids(void **state)
{
	(void)state;
	struct txn_batch b;
	struct spec_error error;
	assert_int_equal(load("{\"version\":1,\"ops\":[{\"op\":\"chown\",\"path\":\"a\","
			      "\"owner\":\"root\",\"group\":\"root\"}]}", &b, &error), 0);
	assert_false(b.ops[0].owner.resolved);
	assert_int_equal(spec_resolve_ids(&b, "t.json", &error), 0);
	assert_true(b.ops[0].owner.resolved);
	assert_int_equal(b.ops[0].owner.id, 0);
	assert_true(b.ops[0].group.resolved);
	assert_int_equal(b.ops[0].group.id, 0);
	txn_batch_free(&b);

	assert_int_equal(load("{\"version\":1,\"ops\":[{\"op\":\"chown\",\"path\":\"a\",\"owner\":0,\n"
			      " \"group\":\"no-such-group-btrfs-txn\"}]}", &b, &error), 0);
	assert_int_equal(spec_resolve_ids(&b, "t.json", &error), -EINVAL);
	assert_string_equal(error.file, "t.json");
	assert_string_equal(error.pointer, "/ops/0/group");
	assert_int_equal(error.line, 2);
	assert_int_equal(error.column, 10);
	assert_string_equal(error.message, "unknown group \"no-such-group-btrfs-txn\" on this machine");
	txn_batch_free(&b);
}

/* Names are placed in every chown op, whichever ops come between or after them. */
static void test_id_positions(void **state)
{
	(void)state;
	struct txn_batch b = { 0 };
	struct spec_error error;

	assert_int_equal(load("{\"version\":1,\"ops\":[\n"
			      "{\"op\":\"write\",\"path\":\"a\",\"content\":\"x\"},\n"
			      "{\"op\":\"chown\",\"path\":\"a\",\"owner\":\"u1\"},\n"
			      "{\"op\":\"mkdir\",\"path\":\"d\"},\n"
			      "{\"op\":\"chown\",\"path\":\"d\",\"group\":\"g2\", \"owner\":\"u2\"},\n"
			      "{\"op\":\"delete\",\"path\":\"b\"}]}",
			      &b, &error), 0);
	assert_int_equal(b.ops[1].owner.spec_line, 3);
	assert_int_equal(b.ops[1].owner.spec_column, 34);
	assert_int_equal(b.ops[3].group.spec_line, 5);
	assert_int_equal(b.ops[3].group.spec_column, 34);
	assert_int_equal(b.ops[3].owner.spec_line, 5);
	assert_int_equal(b.ops[3].owner.spec_column, 48);
	txn_batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_spec_fields),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_content_bytes),
		cmocka_unit_test(test_base64_padding),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_syntax_errors_keep_jansson_position),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_contradictions),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_resolve_ids),
		cmocka_unit_test(test_id_positions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
