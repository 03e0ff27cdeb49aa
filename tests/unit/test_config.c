/* SPDX-License-Identifier: MIT */
/*
 * test_config.c: btrfs-txn.conf parsing (runner/config.c): sections, keys and
 * defaults land where the hooks and the commands read them, and every mistake is
 * refused with the file and line that hold it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "txn.h"

static int parse(const char *text, struct config *config, char *error)
{
	return config_parse("c.conf", text, strlen(text), config, error, 256);
}

static void test_full(void **state)
{
	(void)state;
	struct config c;
	char error[256] = "";
	const char *text = "# btrfs-txn.conf\n"
			   "[defaults]\n"
			   "keep = 7\n"
			   "strict-hooks = yes\n"
			   "\n"
			   "[target /srv/www/conf/]\n"
			   "  apt = yes   \n"
			   "; another comment\n"
			   "keep=12\n"
			   "[target /]\n";
	assert_int_equal(parse(text, &c, error), -EINVAL);
	assert_string_equal(error, "c.conf:10: [target /]: '/' cannot be a target: it has no parent to keep its state in");
	text = "[defaults]\nkeep = 7\nstrict-hooks = yes\n\n[target /srv/www/conf/]\n  apt = yes   \n"
	       "; c\nkeep=12\n[target /var/lib/app]\nrecover = no\npacman = true";
	assert_int_equal(parse(text, &c, error), 0);
	assert_int_equal(c.keep, 7);
	assert_true(c.strict_hooks);
	assert_int_equal(c.n_targets, 2);
	assert_string_equal(c.targets[0].path, "/srv/www/conf");
	assert_true(c.targets[0].hooks[CONFIG_HOOK_APT]);
	assert_false(c.targets[0].hooks[CONFIG_HOOK_PACMAN]);
	assert_true(c.targets[0].hooks[CONFIG_HOOK_RECOVER]); /* the default */
	assert_int_equal(c.targets[0].keep, 12);
	assert_int_equal(c.targets[0].line, 5);
	assert_false(c.targets[1].hooks[CONFIG_HOOK_RECOVER]);
	assert_true(c.targets[1].hooks[CONFIG_HOOK_PACMAN]);
	assert_int_equal(c.targets[1].keep, 0);
	assert_int_equal(config_keep_for(&c, "/srv/www/conf"), 12);
	assert_int_equal(config_keep_for(&c, "/var/lib/app"), 7);
	assert_int_equal(config_keep_for(&c, "/elsewhere"), 7);
	assert_null(config_find_target(&c, "/elsewhere"));
	config_free(&c);
}

static void test_retention(void **state)
{
	(void)state;
	struct config c;
	char error[256] = "";
	const char *text = "[defaults]\nhourly = 24\ndaily = 7\nmin-free = 15%\n"
			   "[target /a]\ndaily = 0\nweekly = 4\nmin-free = 20\n";
	assert_int_equal(parse(text, &c, error), 0);
	struct config_retention r = config_retention_for(&c, "/a");
	assert_int_equal(r.hourly, 24); /* from [defaults] */
	assert_int_equal(r.daily, 0);   /* its own 0 wins */
	assert_true(r.has_daily);
	assert_int_equal(r.weekly, 4);
	assert_int_equal(r.min_free, 20);
	r = config_retention_for(&c, "/b");
	assert_int_equal(r.daily, 7);
	assert_int_equal(r.min_free, 15);
	assert_false(r.has_weekly);
	config_free(&c);
}

static void test_empty(void **state)
{
	(void)state;
	struct config c;
	char error[256] = "";
	assert_int_equal(parse("", &c, error), 0);
	assert_int_equal(c.n_targets, 0);
	assert_int_equal(c.keep, 0);
	assert_false(c.strict_hooks);
	config_free(&c);
	assert_int_equal(parse("# only a comment\n\n", &c, error), 0);
	config_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "keep = 3\n", "c.conf:1: 'keep' comes before any section; put it under [defaults] or [target PATH]" },
		{ "[defaults]\nkeep = 0\n", "c.conf:2: keep: expected a number from 1 to 100, got '0'" },
		{ "[defaults]\nkeep = 101\n", "c.conf:2: keep: expected a number from 1 to 100, got '101'" },
		{ "[defaults]\nkeep = -1\n", "c.conf:2: keep: expected a number from 1 to 100, got '-1'" },
		{ "[defaults]\nkeep = 5x\n", "c.conf:2: keep: expected a number from 1 to 100, got '5x'" },
		{ "[defaults]\nkeep = 5\nkeep = 6\n", "c.conf:3: 'keep' is given twice in this section" },
		{ "[defaults]\nstrict-hooks = maybe\n", "c.conf:2: strict-hooks: expected yes or no, got 'maybe'" },
		{ "[defaults]\napt = yes\n", "c.conf:2: unknown key 'apt' in [defaults]; expected keep, hourly, daily, weekly, min-free or strict-hooks" },
		{ "[target /a]\nstrict-hooks = yes\n", "c.conf:2: unknown key 'strict-hooks' in [target /a]; expected apt, pacman, recover, keep, hourly, daily, weekly or min-free" },
		{ "[defaults]\nmin-free = 100%\n", "c.conf:2: min-free: expected a percentage from 0 to 99, got '100%'" },
		{ "[defaults]\nhourly = x\n", "c.conf:2: hourly: expected a number from 0 to 10000, got 'x'" },
		{ "[target /a]\ndaily = 1\ndaily = 2\n", "c.conf:3: 'daily' is given twice in this section" },
		{ "[target /a]\napt = yes\napt = no\n", "c.conf:3: 'apt' is given twice in this section" },
		{ "[target /a]\n[target /a/]\n", "c.conf:2: [target /a] is given twice (first on line 1)" },
		{ "[target a]\n", "c.conf:1: [target a]: a target must be an absolute path" },
		{ "[target /a/../b]\n", "c.conf:1: [target /a/../b]: the path has an empty, '.' or '..' component" },
		{ "[target /a//b]\n", "c.conf:1: [target /a//b]: the path has an empty, '.' or '..' component" },
		{ "[target ]\n", "c.conf:1: [target PATH] needs the target's path" },
		{ "[defaults\n", "c.conf:1: a section header must end with ']'" },
		{ "[default]\n", "c.conf:1: unknown section [default]; expected [defaults] or [target PATH]" },
		{ "[defaults]\n[defaults]\n", "c.conf:2: [defaults] is given twice" },
		{ "[defaults]\nkeep\n", "c.conf:2: expected 'key = value', a [section], or a # comment" },
		{ "[defaults]\nkeep =\n", "c.conf:2: 'keep' has no value" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c = { .keep = 42 };
		char error[256] = "";
		assert_int_equal(parse(cases[i].text, &c, error), -EINVAL);
		assert_string_equal(error, cases[i].error);
		assert_int_equal(c.keep, 42); /* untouched on failure */
	}
}

static void test_nul(void **state)
{
	(void)state;
	struct config c;
	char error[256] = "";
	static const char text[] = "[defaults]\nkeep = 5\0\n";
	assert_int_equal(config_parse("c.conf", text, sizeof(text) - 1, &c, error, sizeof(error)), -EINVAL);
	assert_string_equal(error, "c.conf:2: a NUL byte: this is not a text file");
}

static void test_hook_names(void **state)
{
	(void)state;
	assert_int_equal(config_hook_from_name("apt"), CONFIG_HOOK_APT);
	assert_int_equal(config_hook_from_name("pacman"), CONFIG_HOOK_PACMAN);
	assert_int_equal(config_hook_from_name("recover"), CONFIG_HOOK_RECOVER);
	assert_int_equal(config_hook_from_name("yum"), -1);
	assert_string_equal(config_hook_name(CONFIG_HOOK_RECOVER), "recover");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),   cmocka_unit_test(test_empty),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_errors), cmocka_unit_test(test_nul),
		cmocka_unit_test(test_hook_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
