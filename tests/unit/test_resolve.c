/* SPDX-License-Identifier: MIT */
/*
 * test_resolve.c: open_beneath() (txn/resolve.c) through openat2(2) and through the
 * hand-walking fallback used on kernels without it, on a real temporary tree.
 *
 * The same table of cases runs twice: first with the kernel's openat2, then with
 * openat2 answering ENOSYS (the syscall wrapper), which switches the resolver to its
 * fallback for the rest of the process. Each case must give its expected answer, the
 * fallback the very same answer as openat2, and openat2 is asked only once after
 * ENOSYS. As root, a tmpfs mounted inside the tree (in a private mount namespace)
 * checks that neither path crosses a mount.
 *
 * wrap: syscall
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static struct {
	bool no_openat2;   /* openat2 answers ENOSYS, as before Linux 5.6 */
	int openat2_calls;
} mock;

long __real_syscall(long number, ...);
long __wrap_syscall(long number, ...)
{
	va_list ap;
	va_start(ap, number);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_openat2) {
		mock.openat2_calls++;
		if (mock.no_openat2) {
			errno = ENOSYS;
			return -1;
		}
	}
	return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- the tree ------------------------------------------------------------------ */

static char tmp_dir[256];  /* holds R and R's sibling "outside" */
static char root[300];     /* R */
static int root_fd = -1;
static bool have_mount;    /* R/mnt is a tmpfs (root only) */

static void put_file(const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static void put_dir(const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void put_link(const char *name, const char *text)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	assert_int_equal(symlink(text, path), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/test_resolve.XXXXXX", base);
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(root, sizeof(root), "%s/R", tmp_dir);
	char outside[300];
	snprintf(outside, sizeof(outside), "%s/outside", tmp_dir);
	if (mkdir(root, 0755) < 0 || mkdir(outside, 0755) < 0)
		return -1;
	umask(022);
	put_file("file");
	put_dir("dir");
	put_dir("dir/sub");
	put_file("dir/sub/deep");
	put_link("dir/sub/up", "../../file");      /* `..` that stays inside */
	put_link("dir/sub/out", "../../../outside"); /* `..` that climbs out */
	put_link("link_dir", "dir");
	put_link("link_file", "dir/sub/deep");
	put_link("chain1", "chain2");
	put_link("chain2", "link_dir/sub/up");
	put_link("escape", "../outside");
	put_link("abs", "/etc");
	put_link("magic", "/proc/self/root");
	put_link("loop1", "loop2");
	put_link("loop2", "loop1");
	put_link("dangling", "dir/made-through-link");
	put_link("slash", "dir/");
	/* l0 -> l1 -> ... -> l40 -> file: 41 links from l0, 40 from l1. */
	for (int i = 0; i <= 40; i++) {
		char name[16], text[16];
		snprintf(name, sizeof(name), "l%d", i);
		snprintf(text, sizeof(text), i == 40 ? "file" : "l%d", i + 1);
		put_link(name, text);
	}
	put_dir("mnt");
	put_link("to_mnt", "mnt");
	/* A mount inside the tree, in a namespace of our own so the host never sees it. */
	if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
		char mnt[400];
		snprintf(mnt, sizeof(mnt), "%s/mnt", root);
		have_mount = mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0;
		if (have_mount)
			put_file("mnt/inner");
	}
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return root_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (have_mount) {
		char mnt[400];
		snprintf(mnt, sizeof(mnt), "%s/mnt", root);
		umount(mnt);
	}
	close(root_fd);
	nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- the cases ----------------------------------------------------------------- */

struct resolve_case {
	const char *path;
	int flags;
	int expect_errno;      /* 0: success */
	const char *expect_at; /* success: the file (under R, not followed) it must open */
	bool created;          /* the call creates expect_at; removed after each run */
	bool needs_mount;
};

static const struct resolve_case cases[] = {
	{ "file", O_RDONLY, 0, "file", false, false },
	{ "dir/sub/deep", O_RDONLY, 0, "dir/sub/deep", false, false },
	{ "dir/sub", O_RDONLY | O_DIRECTORY, 0, "dir/sub", false, false },
	{ "link_dir/sub/deep", O_RDONLY, 0, "dir/sub/deep", false, false },
	{ "link_file", O_RDONLY, 0, "dir/sub/deep", false, false },
	{ "chain1", O_RDONLY, 0, "file", false, false },
	{ "dir/sub/up", O_RDONLY, 0, "file", false, false },
	{ "slash/sub", O_PATH, 0, "dir/sub", false, false },
	{ "l1", O_RDONLY, 0, "file", false, false },
	{ "l0", O_RDONLY, ELOOP, NULL, false, false },
	{ "dir/sub/out", O_RDONLY, EXDEV, NULL, false, false },
	{ "dir/sub/out/x", O_RDONLY, EXDEV, NULL, false, false },
	{ "escape", O_RDONLY, EXDEV, NULL, false, false },
	{ "abs/passwd", O_RDONLY, EXDEV, NULL, false, false },
	{ "abs", O_PATH, EXDEV, NULL, false, false },
	{ "magic/etc", O_RDONLY, EXDEV, NULL, false, false },
	{ "loop1", O_RDONLY, ELOOP, NULL, false, false },
	{ "loop1/x", O_RDONLY, ELOOP, NULL, false, false },
	{ "link_dir/new", O_WRONLY | O_CREAT, 0, "dir/new", true, false },
	{ "link_dir/sub/new", O_WRONLY | O_CREAT | O_EXCL, 0, "dir/sub/new", true, false },
	{ "dangling", O_WRONLY | O_CREAT, 0, "dir/made-through-link", true, false },
	{ "dangling", O_WRONLY | O_CREAT | O_EXCL, EEXIST, NULL, false, false },
	{ "link_file", O_PATH | O_NOFOLLOW, 0, "link_file", false, false },
	{ "link_file", O_RDONLY | O_NOFOLLOW, ELOOP, NULL, false, false },
	{ "file/x", O_RDONLY, ENOTDIR, NULL, false, false },
	{ "link_file/x", O_RDONLY, ENOTDIR, NULL, false, false },
	{ "missing", O_RDONLY, ENOENT, NULL, false, false },
	{ "dir/missing/deep", O_RDONLY, ENOENT, NULL, false, false },
	{ "mnt/inner", O_RDONLY, EXDEV, NULL, false, true },
	{ "mnt", O_PATH, EXDEV, NULL, false, true },
	{ "to_mnt/inner", O_RDONLY, EXDEV, NULL, false, true },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* What a case gave: -errno, or the inode it opened. */
struct outcome {
	int error;
	dev_t dev;
	ino_t ino;
};
static struct outcome with_openat2[N_CASES];
static bool openat2_ran;

/* Runs every case, checks it against the table, and fills @out. */
static void run_cases(struct outcome *out)
{
	for (size_t i = 0; i < N_CASES; i++) {
		const struct resolve_case *c = &cases[i];
		out[i] = (struct outcome){ 0 };
		if (c->needs_mount && !have_mount)
			continue;
		int fd = open_beneath(root_fd, c->path, c->flags, 0640);
		if (c->expect_errno) {
			if (fd >= 0)
				fail_msg("case %zu '%s': opened, expected %s", i, c->path,
					 strerror(c->expect_errno));
			if (fd != -c->expect_errno)
				fail_msg("case %zu '%s': got %s, expected %s", i, c->path, strerror(-fd),
					 strerror(c->expect_errno));
			out[i].error = fd;
			continue;
		}
		if (fd < 0)
			fail_msg("case %zu '%s': %s, expected success", i, c->path, strerror(-fd));
		struct stat got, want;
		char expect_path[600];
		snprintf(expect_path, sizeof(expect_path), "%s/%s", root, c->expect_at);
		assert_int_equal(fstat(fd, &got), 0);
		assert_int_equal(lstat(expect_path, &want), 0);
		if (got.st_dev != want.st_dev || got.st_ino != want.st_ino)
			fail_msg("case %zu '%s': opened another file than '%s'", i, c->path, c->expect_at);
		/* Every fd the engine opens is close-on-exec. */
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		if (c->created) {
			assert_int_equal(got.st_mode & 07777, 0640);
			assert_int_equal(unlink(expect_path), 0);
		}
		out[i].dev = got.st_dev;
		out[i].ino = got.st_ino;
		close(fd);
	}
}

static void test_openat2(void **state)
{
	(void)state;
	mock.openat2_calls = 0;
	run_cases(with_openat2);
	if (mock.openat2_calls == 0)
		fail_msg("openat2 was never asked");
	openat2_ran = true;
}

static void test_fallback_matches_openat2(void **state)
{
	(void)state;
	if (!openat2_ran)
		skip();
	mock.no_openat2 = true;
	mock.openat2_calls = 0;
	struct outcome fallback[N_CASES];
	run_cases(fallback);
	/* ENOSYS is remembered: asked once, then every call walks by hand. */
	assert_int_equal(mock.openat2_calls, 1);
	for (size_t i = 0; i < N_CASES; i++) {
		if (cases[i].created)
			continue; /* a new inode each run; its place was checked in run_cases */
		if (fallback[i].error != with_openat2[i].error || fallback[i].ino != with_openat2[i].ino ||
		    fallback[i].dev != with_openat2[i].dev)
			fail_msg("case %zu '%s': fallback and openat2 differ", i, cases[i].path);
	}
}

/* Spec-level rules still apply on the fallback: `..` and absolute paths are refused
 * before any lookup, and the parent helper resolves through links the same way. */
static void test_fallback_parent_and_rules(void **state)
{
	(void)state;
	mock.no_openat2 = true;
	assert_int_equal(open_beneath(root_fd, "../outside", O_RDONLY, 0), -EINVAL);
	assert_int_equal(open_beneath(root_fd, "/etc", O_RDONLY, 0), -EINVAL);
	const char *name = NULL;
	int fd = open_parent_beneath(root_fd, "link_dir/sub/deep", &name);
	assert_true(fd >= 0);
	assert_string_equal(name, "deep");
	struct stat got, want;
	char expect_path[600];
	snprintf(expect_path, sizeof(expect_path), "%s/dir/sub", root);
	assert_int_equal(fstat(fd, &got), 0);
	assert_int_equal(stat(expect_path, &want), 0);
	assert_int_equal(got.st_ino, want.st_ino);
	close(fd);
	assert_int_equal(open_parent_beneath(root_fd, "escape/x", &name), -EXDEV);
}

/* After EXDEV, resolve_explain() names the reason: the link leaving the tree (with
 * its text), or the mount crossed, and finds none where nothing leaves. */
static void test_explain(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		bool follow_last;
		const char *expect; /* a substring of the reason; NULL: none found */
		bool needs_mount;
	} explain[] = {
		{ "abs/passwd", false, "'abs' is a symlink to the absolute path '/etc', which leaves the tree", false },
		{ "magic/etc", false, "'magic' is a symlink to the absolute path '/proc/self/root'", false },
		{ "escape/x", false, "'escape' is a symlink to '../outside', which climbs out of the tree", false },
		{ "dir/sub/out/x", false, "'dir/sub/out' is a symlink to '../../../outside', which climbs out", false },
		{ "link_dir/sub/out/x", false, "'dir/sub/out' is a symlink to '../../../outside'", false },
		{ "abs", false, NULL, false },
		{ "abs", true, "'abs' is a symlink to the absolute path '/etc'", false },
		{ "dir/sub/deep", false, NULL, false },
		{ "link_dir/sub/up", true, NULL, false },
		{ "missing/x", false, NULL, false },
		{ "mnt/inner", false, "'mnt' is a mount point", true },
		{ "to_mnt/inner", false, "'mnt' is a mount point", true },
	};
	mock.no_openat2 = false;
	for (size_t i = 0; i < sizeof(explain) / sizeof(explain[0]); i++) {
		if (explain[i].needs_mount && !have_mount)
			continue;
		char why[512] = "";
		int r = resolve_explain(root_fd, explain[i].path, explain[i].follow_last, why,
					sizeof(why));
		if (!explain[i].expect) {
			if (r != -ENOENT)
				fail_msg("'%s': a reason where there is none: %s", explain[i].path, why);
			continue;
		}
		if (r != 0)
			fail_msg("'%s': no reason found (%d)", explain[i].path, r);
		if (!strstr(why, explain[i].expect))
			fail_msg("'%s': '%s' does not say '%s'", explain[i].path, why,
				 explain[i].expect);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openat2),
		cmocka_unit_test(test_fallback_matches_openat2),
		cmocka_unit_test(test_fallback_parent_and_rules),
		cmocka_unit_test(test_explain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
