/* SPDX-License-Identifier: MIT */
/*
 * holders.c: which live processes use a tree, found through /proc.
 *
 * Before a tree is exchanged away or deleted, we want to know whether a process
 * could still write into it: through a working or root directory inside it, an open
 * descriptor on one of its files or directories, or a shared writable mapping. One
 * readdir of /proc; per process, stat of cwd and root, fstatat of each entry of
 * /proc/PID/fd (stat follows the magic link to the open file; lstat of the link
 * gives its access mode), and the shared writable lines of /proc/PID/maps, resolved
 * through /proc/PID/map_files (the device in the maps line is the filesystem's, not
 * the subvolume's that stat reports on Btrfs). Kernel threads (no exe) and our own
 * process are skipped; a process that exits mid-scan is simply not reported.
 * Threads with a working directory of their own (no CLONE_FS) are not looked at.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/kcmp.h>

struct holder_list {
	struct holder *items;
	size_t n, allocated;
	dev_t dev;
	bool writable_only;
	bool (*match)(ino_t ino, void *ctx);
	void *ctx;
};

static int holder_add(struct holder_list *list, pid_t pid, const char *comm, const char *what,
		      const char *path, const struct stat *st, bool writable)
{
	if (list->writable_only && !writable)
		return 0;
	if (list->n == list->allocated) {
		size_t allocated = list->allocated ? list->allocated * 2 : 8;
		struct holder *items = realloc(list->items, allocated * sizeof(*items));
		if (!items)
			return -ENOMEM;
		list->items = items;
		list->allocated = allocated;
	}
	struct holder *h = &list->items[list->n++];
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	snprintf(h->comm, sizeof(h->comm), "%s", comm);
	snprintf(h->what, sizeof(h->what), "%s", what);
	snprintf(h->path, sizeof(h->path), "%s", path);
	h->ino = st->st_ino;
	h->is_dir = S_ISDIR(st->st_mode);
	h->writable = writable;
	return 0;
}

static bool holder_matches(const struct holder_list *list, const struct stat *st)
{
	return st->st_dev == list->dev && (!list->match || list->match(st->st_ino, list->ctx));
}

/* Reads the link at @name in @dir_fd into @buf ("?" when it cannot). */
static void link_text(int dir_fd, const char *name, char *buf, size_t size)
{
	ssize_t n = readlinkat(dir_fd, name, buf, size - 1);
	if (n < 0)
		n = snprintf(buf, size, "?");
	buf[n] = '\0';
}

static int scan_fds(struct holder_list *list, int pid_fd, pid_t pid, const char *comm)
{
	int fd_dir = openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd_dir < 0)
		return 0; /* gone, or not ours to read */
	DIR *d = fdopendir(fd_dir);
	if (!d) {
		close(fd_dir);
		return 0;
	}
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st, link_st;
		if (fstatat(fd_dir, e->d_name, &st, 0) < 0 || !holder_matches(list, &st))
			continue;
		/* The link's own mode mirrors the descriptor's access mode. */
		bool writable = S_ISDIR(st.st_mode) ||
				(fstatat(fd_dir, e->d_name, &link_st, AT_SYMLINK_NOFOLLOW) == 0 &&
				 (link_st.st_mode & S_IWUSR));
		char path[PATH_MAX];
		link_text(fd_dir, e->d_name, path, sizeof(path));
		r = holder_add(list, pid, comm, "fd", path, &st, writable);
	}
	closedir(d);
	return r;
}

static int scan_maps(struct holder_list *list, int pid_fd, pid_t pid, const char *comm)
{
	int maps_fd = openat(pid_fd, "maps", O_RDONLY | O_CLOEXEC);
	if (maps_fd < 0)
		return 0;
	FILE *maps = fdopen(maps_fd, "re");
	if (!maps) {
		close(maps_fd);
		return 0;
	}
	int map_files = openat(pid_fd, "map_files", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char line[PATH_MAX + 256];
	int r = 0;
	while (r == 0 && fgets(line, sizeof(line), maps)) {
		char range[64], perms[8];
		unsigned long inode;
		if (sscanf(line, "%63s %7s %*s %*s %lu", range, perms, &inode) != 3 || inode == 0)
			continue;
		bool writable = perms[1] == 'w' && perms[3] == 's';
		if (list->writable_only && !writable)
			continue;
		/* The inode number in the line is the real one (its device is not). */
		if (list->match && !list->match((ino_t)inode, list->ctx))
			continue;
		struct stat st;
		if (map_files < 0 || fstatat(map_files, range, &st, 0) < 0 || !holder_matches(list, &st))
			continue;
		char path[PATH_MAX];
		link_text(map_files, range, path, sizeof(path));
		/* One entry per mapped file is enough. */
		bool seen = false;
		for (size_t i = 0; i < list->n && !seen; i++)
			seen = list->items[i].pid == pid && strcmp(list->items[i].what, "map") == 0 &&
			       list->items[i].ino == st.st_ino && list->items[i].writable == writable;
		if (!seen)
			r = holder_add(list, pid, comm, "map", path, &st, writable);
	}
	if (map_files >= 0)
		close(map_files);
	fclose(maps);
	return r;
}

/* Whether /proc/PID/stat says kernel thread (PF_KTHREAD in its flags, field 9). A
 * missing exe link is no test: a process whose main thread exited has none either,
 * while its other threads still hold descriptors. */
static bool kernel_thread(int pid_fd)
{
	_cleanup_close_ int fd = openat(pid_fd, "stat", O_RDONLY | O_CLOEXEC);
	char buf[1024];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long flags = 0;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x00200000UL; /* PF_KTHREAD */
}

/* Whether thread @tid of process @pid shares @what (KCMP_FILES, KCMP_FS, KCMP_VM)
 * with the process's main thread; false when it cannot be told (then it is looked
 * at on its own). */
static bool shares_with_main(pid_t pid, pid_t tid, int what)
{
	return syscall(SYS_kcmp, pid, tid, what, 0, 0) == 0;
}

static int scan_cwd_root(struct holder_list *list, int pid_fd, pid_t pid, const char *comm);

/* The threads of @pid that have a descriptor table, a working directory or an
 * address space of their own (unshare(CLONE_FILES), CLONE_FS, or a main thread that
 * has exited): each is looked at like a process. */
static int scan_threads(struct holder_list *list, int pid_fd, pid_t pid, const char *comm)
{
	int task_fd = openat(pid_fd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = task_fd >= 0 ? fdopendir(task_fd) : NULL;
	if (!d) {
		if (task_fd >= 0)
			close(task_fd);
		return 0;
	}
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		if (*end || tid <= 0 || tid == pid)
			continue;
		_cleanup_close_ int tid_fd =
			openat(task_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tid_fd < 0)
			continue;
		if (!shares_with_main(pid, (pid_t)tid, KCMP_FILES))
			r = scan_fds(list, tid_fd, pid, comm);
		if (r == 0 && !shares_with_main(pid, (pid_t)tid, KCMP_FS))
			r = scan_cwd_root(list, tid_fd, pid, comm);
		if (r == 0 && !shares_with_main(pid, (pid_t)tid, KCMP_VM))
			r = scan_maps(list, tid_fd, pid, comm);
	}
	closedir(d);
	return r;
}

static int scan_cwd_root(struct holder_list *list, int pid_fd, pid_t pid, const char *comm)
{
	static const char *const dirs[] = { "cwd", "root" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct stat st;
		if (fstatat(pid_fd, dirs[i], &st, 0) < 0 || !holder_matches(list, &st))
			continue;
		char path[PATH_MAX];
		link_text(pid_fd, dirs[i], path, sizeof(path));
		int r = holder_add(list, pid, comm, dirs[i], path, &st, true);
		if (r < 0)
			return r;
	}
	return 0;
}

static int scan_process(struct holder_list *list, int proc_fd, const char *pid_name, pid_t pid)
{
	_cleanup_close_ int pid_fd = openat(proc_fd, pid_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_fd < 0)
		return 0;
	if (kernel_thread(pid_fd))
		return 0;
	char comm[32] = "?";
	_cleanup_close_ int comm_fd = openat(pid_fd, "comm", O_RDONLY | O_CLOEXEC);
	if (comm_fd >= 0) {
		ssize_t n = read(comm_fd, comm, sizeof(comm) - 1);
		if (n > 0) {
			comm[n] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
		}
	}
	int r = scan_cwd_root(list, pid_fd, pid, comm);
	if (r == 0)
		r = scan_fds(list, pid_fd, pid, comm);
	if (r == 0)
		r = scan_maps(list, pid_fd, pid, comm);
	return r < 0 ? r : scan_threads(list, pid_fd, pid, comm);
}

int holders_scan(dev_t dev, bool writable_only, bool (*match)(ino_t ino, void *ctx), void *ctx,
		 struct holder **ret, size_t *ret_n)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return -errno;
	struct holder_list list = { .dev = dev, .writable_only = writable_only, .match = match,
				    .ctx = ctx };
	pid_t self = getpid();
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(proc));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		r = scan_process(&list, dirfd(proc), e->d_name, (pid_t)pid);
	}
	closedir(proc);
	if (r < 0) {
		free(list.items);
		return r;
	}
	*ret = list.items;
	*ret_n = list.n;
	return 0;
}

int holders_find(dev_t dev, bool writable_only, struct holder **ret, size_t *ret_n)
{
	return holders_scan(dev, writable_only, NULL, NULL, ret, ret_n);
}

void holders_describe(const struct holder *h, size_t n, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		if (i == 3) {
			snprintf(buf + len, size - len, " and %zu more", n - i);
			return;
		}
		len += (size_t)snprintf(buf + len, size - len, "%spid %d (%s) %s%s '%s'",
					i ? ", " : "", (int)h[i].pid, h[i].comm,
					h[i].writable && strcmp(h[i].what, "fd") == 0 && !h[i].is_dir
						? "writable " : "",
					h[i].what, h[i].path);
	}
}
