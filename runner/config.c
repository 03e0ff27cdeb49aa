/* SPDX-License-Identifier: MIT */
/*
 * config.c: btrfs-txn.conf, an INI file read line by line (see config.h and
 * btrfs-txn.conf(5)):
 *
 *   # comment
 *   [defaults]
 *   keep = 5
 *   strict-hooks = no
 *
 *   [target /srv/www/conf]
 *   apt = yes
 *   keep = 10
 *
 * The format is small on purpose: sections, "key = value", comments on lines of
 * their own. Anything else (an unknown key or section, a value of the wrong kind, a
 * key twice, a target twice, a relative path) is an error naming the file and line,
 * so a typo never silently turns a hook off.
 */
#include "config.h"

#include "trust.h"
#include "txn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const hook_names[CONFIG_HOOK_COUNT] = {
	[CONFIG_HOOK_APT] = "apt",
	[CONFIG_HOOK_PACMAN] = "pacman",
	[CONFIG_HOOK_RECOVER] = "recover",
};

/* The old list files, one per hook. */
static const char *const legacy_lists[CONFIG_HOOK_COUNT] = {
	[CONFIG_HOOK_APT] = "apt-targets",
	[CONFIG_HOOK_PACMAN] = "pacman-targets",
	[CONFIG_HOOK_RECOVER] = "recover-targets",
};

const char *config_hook_name(enum config_hook hook)
{
	return hook < CONFIG_HOOK_COUNT ? hook_names[hook] : "?";
}

int config_hook_from_name(const char *name)
{
	for (int i = 0; i < CONFIG_HOOK_COUNT; i++)
		if (strcmp(name, hook_names[i]) == 0)
			return i;
	return -1;
}

void config_free(struct config *config)
{
	for (size_t i = 0; i < config->n_targets; i++)
		free(config->targets[i].path);
	free(config->targets);
	free(config->file);
	*config = (struct config){ 0 };
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int parse_bool(const char *value, bool *ret)
{
	if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
		*ret = true;
	else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/* A count from @min to @max; for a percentage, a trailing '%' is allowed. */
static int parse_count(const char *value, unsigned min, unsigned max, bool percent,
		       unsigned *ret)
{
	char *end;
	if (*value < '0' || *value > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(value, &end, 10);
	if (percent && *end == '%')
		end++;
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* hourly, daily, weekly, min-free: 1 when @key is one of them (set or an error in
 * @ret_why), 0 when it is another key. */
static int parse_retention(const char *key, const char *value, struct config_retention *r,
			   const char **ret_why)
{
	unsigned *slot = NULL;
	bool *has = NULL;
	if (!strcmp(key, "hourly"))
		slot = &r->hourly, has = &r->has_hourly;
	else if (!strcmp(key, "daily"))
		slot = &r->daily, has = &r->has_daily;
	else if (!strcmp(key, "weekly"))
		slot = &r->weekly, has = &r->has_weekly;
	else if (!strcmp(key, "min-free"))
		slot = &r->min_free, has = &r->has_min_free;
	else
		return 0;
	*ret_why = NULL;
	if (*has)
		*ret_why = "is given twice in this section";
	else if (slot == &r->min_free ? parse_count(value, 0, 99, true, slot) < 0
				      : parse_count(value, 0, 10000, false, slot) < 0)
		*ret_why = slot == &r->min_free ? "expected a percentage from 0 to 99"
						: "expected a number from 0 to 10000";
	*has = true;
	return 1;
}

static int parse_keep(const char *value, unsigned *ret)
{
	char *end;
	if (*value < '0' || *value > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(value, &end, 10);
	if (errno || *end || v < 1 || v > TXN_KEEP_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* A target path as written: absolute, no NUL (cannot happen here), no empty, "."
 * or ".." component; a trailing slash is dropped. */
static int check_target_path(char *path, const char **ret_why)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	if (path[0] != '/') {
		*ret_why = "a target must be an absolute path";
		return -EINVAL;
	}
	if (n >= PATH_MAX) {
		*ret_why = "the path is longer than PATH_MAX";
		return -EINVAL;
	}
	if (strcmp(path, "/") == 0) {
		*ret_why = "'/' cannot be a target: it has no parent to keep its state in";
		return -EINVAL;
	}
	for (const char *c = path; *c; c++)
		if (*c == '/' && (c[1] == '/' ||
				  (c[1] == '.' && (c[2] == '/' || !c[2] || (c[2] == '.' && (c[3] == '/' || !c[3])))))) {
			*ret_why = "the path has an empty, '.' or '..' component";
			return -EINVAL;
		}
	return 0;
}

static struct config_target *add_target(struct config *config, const char *path, unsigned line,
					bool legacy)
{
	struct config_target *grown =
		realloc(config->targets, (config->n_targets + 1) * sizeof(*config->targets));
	if (!grown)
		return NULL;
	config->targets = grown;
	struct config_target *t = &config->targets[config->n_targets];
	*t = (struct config_target){ .line = line, .legacy = legacy };
	t->path = strdup(path);
	if (!t->path)
		return NULL;
	if (!legacy)
		t->hooks[CONFIG_HOOK_RECOVER] = true; /* recovering is always safe */
	config->n_targets++;
	return t;
}

static struct config_target *find_exact(struct config *config, const char *path)
{
	for (size_t i = 0; i < config->n_targets; i++)
		if (strcmp(config->targets[i].path, path) == 0)
			return &config->targets[i];
	return NULL;
}

#define FAIL(...)                                                       \
	do {                                                            \
		snprintf(ret_error, error_size, "%s:%u: ", file, line); \
		size_t used_ = strlen(ret_error);                       \
		snprintf(ret_error + used_, error_size - used_, __VA_ARGS__); \
		r = -EINVAL;                                            \
		goto out;                                               \
	} while (0)

int config_parse(const char *file, const char *text, size_t len, struct config *ret,
		 char *ret_error, size_t error_size)
{
	struct config config = { 0 };
	char *copy = NULL;
	unsigned line = 0;
	int r = 0;
	/* Keys seen in the current section, to refuse one given twice. */
	enum { SEEN_KEEP = 1, SEEN_STRICT = 2, SEEN_HOOK = 4 };
	unsigned seen = 0;
	enum { NONE, DEFAULTS, TARGET } section = NONE;
	struct config_target *target = NULL;
	bool defaults_seen = false;

	if (memchr(text, '\0', len)) {
		line = 1;
		for (const char *c = text; *c; c++)
			line += *c == '\n';
		FAIL("a NUL byte: this is not a text file");
	}
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	char *next = copy;
	while (next && *next) {
		char *raw = next;
		next = strchr(raw, '\n');
		if (next)
			*next++ = '\0';
		line++;
		char *s = trim(raw);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			size_t n = strlen(s);
			if (s[n - 1] != ']')
				FAIL("a section header must end with ']'");
			s[n - 1] = '\0';
			char *name = trim(s + 1);
			seen = 0;
			if (strcmp(name, "defaults") == 0) {
				if (defaults_seen)
					FAIL("[defaults] is given twice");
				defaults_seen = true;
				section = DEFAULTS;
				continue;
			}
			if (strcmp(name, "target") == 0)
				FAIL("[target PATH] needs the target's path");
			if (strncmp(name, "target", 6) == 0 && (name[6] == ' ' || name[6] == '\t')) {
				char *path = trim(name + 7);
				const char *why = NULL;
				if (!*path)
					FAIL("[target PATH] needs the target's path");
				if (check_target_path(path, &why) < 0)
					FAIL("[target %s]: %s", path, why);
				struct config_target *earlier = find_exact(&config, path);
				if (earlier)
					FAIL("[target %s] is given twice (first on line %u)", path, earlier->line);
				target = add_target(&config, path, line, false);
				if (!target) {
					r = -ENOMEM;
					goto out;
				}
				section = TARGET;
				continue;
			}
			FAIL("unknown section [%s]; expected [defaults] or [target PATH]", name);
		}
		char *eq = strchr(s, '=');
		if (!eq)
			FAIL("expected 'key = value', a [section], or a # comment");
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		if (section == NONE)
			FAIL("'%s' comes before any section; put it under [defaults] or [target PATH]", key);
		if (!*value)
			FAIL("'%s' has no value", key);
		if (strcmp(key, "keep") == 0) {
			if (seen & SEEN_KEEP)
				FAIL("'keep' is given twice in this section");
			seen |= SEEN_KEEP;
			unsigned keep;
			if (parse_keep(value, &keep) < 0)
				FAIL("keep: expected a number from 1 to %u, got '%s'", TXN_KEEP_MAX, value);
			if (section == DEFAULTS)
				config.keep = keep;
			else
				target->keep = keep;
			continue;
		}
		const char *why = NULL;
		if (parse_retention(key, value,
				    section == DEFAULTS ? &config.retention : &target->retention, &why)) {
			if (why && strstr(why, "twice"))
				FAIL("'%s' %s", key, why);
			if (why)
				FAIL("%s: %s, got '%s'", key, why, value);
			continue;
		}
		bool flag;
		if (section == DEFAULTS && strcmp(key, "strict-hooks") == 0) {
			if (seen & SEEN_STRICT)
				FAIL("'strict-hooks' is given twice in this section");
			seen |= SEEN_STRICT;
			if (parse_bool(value, &flag) < 0)
				FAIL("strict-hooks: expected yes or no, got '%s'", value);
			config.strict_hooks = flag;
			continue;
		}
		int hook = section == TARGET ? config_hook_from_name(key) : -1;
		if (hook >= 0) {
			if (seen & (SEEN_HOOK << hook))
				FAIL("'%s' is given twice in this section", key);
			seen |= SEEN_HOOK << hook;
			if (parse_bool(value, &flag) < 0)
				FAIL("%s: expected yes or no, got '%s'", key, value);
			target->hooks[hook] = flag;
			continue;
		}
		if (section == DEFAULTS)
			FAIL("unknown key '%s' in [defaults]; expected keep, hourly, daily, weekly, "
			     "min-free or strict-hooks", key);
		FAIL("unknown key '%s' in [target %s]; expected apt, pacman, recover, keep, hourly, "
		     "daily, weekly or min-free", key, target->path);
	}
out:
	free(copy);
	if (r < 0) {
		config_free(&config);
		return r;
	}
	*ret = config;
	return 0;
}

/* Reads the trusted file @path whole into a new buffer. -ENOENT when it is not
 * there; -EPERM with the refusal in @ret_error. */
static int read_trusted(const char *path, char **ret_text, size_t *ret_len, char *ret_error,
			size_t error_size)
{
	char refusal[PATH_MAX + 256] = "";
	int fd = -1;
	int r = txn_trust_open(path, TXN_TRUST_READ, &fd, NULL, refusal, sizeof(refusal));
	if (r == -ENOENT)
		return r;
	if (r == -EPERM || (r == -ELOOP && refusal[0])) {
		snprintf(ret_error, error_size,
			 "refusing '%s': it or a directory above it is not root's alone: %s", path,
			 refusal);
		return r;
	}
	if (r == -EINVAL) {
		snprintf(ret_error, error_size, "refusing '%s': not a regular file", path);
		return r;
	}
	if (r < 0) {
		snprintf(ret_error, error_size, "cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	size_t size = 4096, len = 0;
	char *text = malloc(size);
	while (text) {
		if (len == size) {
			if (size > CONFIG_MAX_BYTES) {
				close(fd);
				free(text);
				snprintf(ret_error, error_size, "refusing '%s': larger than %d bytes", path,
					 CONFIG_MAX_BYTES);
				return -EFBIG;
			}
			char *grown = realloc(text, size * 2);
			if (!grown)
				break;
			text = grown;
			size *= 2;
		}
		ssize_t n = read(fd, text + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			close(fd);
			free(text);
			snprintf(ret_error, error_size, "cannot read '%s': %s", path, strerror(-r));
			return r;
		}
		if (n == 0) {
			close(fd);
			*ret_text = text;
			*ret_len = len;
			return 0;
		}
		len += (size_t)n;
	}
	close(fd);
	free(text);
	return -ENOMEM;
}

/* Merges an old list file (one path per line, # comments) for @hook. */
static int merge_legacy(struct config *config, const char *path, enum config_hook hook,
			char *ret_error, size_t error_size)
{
	char *text = NULL;
	size_t len = 0;
	int r = read_trusted(path, &text, &len, ret_error, error_size);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	config->legacy_read |= 1u << hook;
	unsigned line = 0;
	char *next = text;
	text[len] = '\0'; /* read_trusted() leaves room: len < size */
	while (next && *next) {
		char *raw = next;
		next = strchr(raw, '\n');
		if (next)
			*next++ = '\0';
		line++;
		char *s = trim(raw);
		if (!*s || *s == '#')
			continue;
		const char *why = NULL;
		if (check_target_path(s, &why) < 0) {
			snprintf(ret_error, error_size, "%s:%u: %s", path, line, why);
			free(text);
			return -EINVAL;
		}
		struct config_target *t = find_exact(config, s);
		if (!t)
			t = add_target(config, s, line, true);
		if (!t) {
			free(text);
			return -ENOMEM;
		}
		t->hooks[hook] = true;
	}
	free(text);
	return 0;
}

int config_load(const char *dir, struct config *ret, char *ret_error, size_t error_size)
{
	if (!dir)
		dir = getenv("BTRFS_TXN_CONF_DIR");
	if (!dir || !*dir)
		dir = CONFIG_DIR_DEFAULT;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, CONFIG_FILE_NAME);
	struct config config = { 0 };
	char *text = NULL;
	size_t len = 0;
	int r = read_trusted(path, &text, &len, ret_error, error_size);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		r = config_parse(path, text, len, &config, ret_error, error_size);
		free(text);
		if (r < 0)
			return r;
		config.file = strdup(path);
		if (!config.file) {
			config_free(&config);
			return -ENOMEM;
		}
	}
	for (int hook = 0; hook < CONFIG_HOOK_COUNT; hook++) {
		snprintf(path, sizeof(path), "%s/%s", dir, legacy_lists[hook]);
		r = merge_legacy(&config, path, (enum config_hook)hook, ret_error, error_size);
		if (r < 0) {
			config_free(&config);
			return r;
		}
	}
	snprintf(path, sizeof(path), "%s/hooks-strict", dir);
	if (access(path, F_OK) == 0) {
		config.strict_hooks = true;
		config.legacy_read |= 1u << CONFIG_HOOK_COUNT;
	}
	*ret = config;
	return 0;
}

/* Whether @entry names @canonical (a realpath) but for repeated and trailing
 * slashes: no symlink on its way. */
static bool entry_is_canonical(const char *entry, const char *canonical)
{
	const char *a = entry, *b = canonical;
	while (*a || *b) {
		if (a[0] == '/' && (a[1] == '/' || (a[1] == '\0' && *b == '\0' && a != entry))) {
			a++;
			continue;
		}
		if (*a != *b)
			return false;
		a++;
		b++;
	}
	return true;
}

const struct config_target *config_find_target(const struct config *config, const char *path)
{
	/* The path as written in the file first, for every entry. */
	for (size_t i = 0; i < config->n_targets; i++)
		if (strcmp(config->targets[i].path, path) == 0)
			return &config->targets[i];
	/* Then by canonical path, but only an entry with no symlink on its way: one
	 * whose path runs through a directory another user can change could be aimed,
	 * by a symlink there, at another target, and claim its keep and retention. */
	char wanted[PATH_MAX], have[PATH_MAX];
	if (!realpath(path, wanted))
		return NULL;
	for (size_t i = 0; i < config->n_targets; i++) {
		const char *p = config->targets[i].path;
		if (realpath(p, have) && strcmp(have, wanted) == 0 && entry_is_canonical(p, have))
			return &config->targets[i];
	}
	return NULL;
}

struct config_retention config_retention_for(const struct config *config, const char *target)
{
	struct config_retention r = config->retention;
	const struct config_target *t = config_find_target(config, target);
	if (!t)
		return r;
	const struct config_retention *own = &t->retention;
	if (own->has_hourly)
		r.hourly = own->hourly, r.has_hourly = true;
	if (own->has_daily)
		r.daily = own->daily, r.has_daily = true;
	if (own->has_weekly)
		r.weekly = own->weekly, r.has_weekly = true;
	if (own->has_min_free)
		r.min_free = own->min_free, r.has_min_free = true;
	return r;
}

unsigned config_keep_for(const struct config *config, const char *target)
{
	const struct config_target *t = config_find_target(config, target);
	if (t && t->keep)
		return t->keep;
	return config->keep;
}
