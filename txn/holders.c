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
 * the subvolume's that stat reports on Btrfs). Kernel threads (PF_KTHREAD) and our own
 * process are skipped, and so are processes whose links are closed to us (no ptrace
 * access); a process that exits mid-scan is simply not reported. Threads are looked
 * at one by one where kcmp(2) says they do not share the main thread's descriptor
 * table, directory or memory.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
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

/* Reads /proc/PID/stat: the command name (field 2, in parentheses) into @comm, and
 * whether it is a kernel thread (PF_KTHREAD in its flags, field 9). One read for
 * both: this runs for every process. A missing exe link is no test for a kernel
 * thread: a process whose main thread exited has none either, while its other
 * threads still hold descriptors. Returns false when the process is gone. */
static bool process_stat(int pid_fd, char *comm, size_t size, bool *kthread)
{
	_cleanup_close_ int fd = openat(pid_fd, "stat", O_RDONLY | O_CLOEXEC);
	char buf[1024];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	unsigned long flags = 0;
	if (!open || !close || close < open ||
	    sscanf(close + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	snprintf(comm, size, "%.*s", (int)(close - open - 1), open + 1);
	*kthread = flags & 0x00200000UL; /* PF_KTHREAD */
	return true;
}

/* Whether thread @tid of process @pid shares @what (KCMP_FILES, KCMP_FS, KCMP_VM)
 * with the process's main thread. */
enum sharing { SHARED, OWN, CLOSED };
static enum sharing shares_with_main(pid_t pid, pid_t tid, int what)
{
	if (syscall(SYS_kcmp, pid, tid, what, 0, 0) == 0)
		return SHARED;
	/* kcmp(2) asks for the same ptrace access as the /proc links it stands in for:
	 * refused, they would be refused too (CLOSED: see process_closed()). Otherwise
	 * (no kcmp in this kernel) the thread is looked at on its own. */
	return errno == EPERM || errno == EACCES ? CLOSED : OWN;
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
		if (shares_with_main(pid, (pid_t)tid, KCMP_FILES) == OWN)
			r = scan_fds(list, tid_fd, pid, comm);
		if (r == 0 && shares_with_main(pid, (pid_t)tid, KCMP_FS) == OWN)
			r = scan_cwd_root(list, tid_fd, pid, comm);
		if (r == 0 && shares_with_main(pid, (pid_t)tid, KCMP_VM) == OWN)
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

/* Whether the process's /proc links are closed to us: they need ptrace access, which
 * root lacks without CAP_SYS_PTRACE (a container) towards a process that is not
 * dumpable, or where a security module says no. Nothing of such a process can be
 * read (docs/protocol.md lists it as not covered); looking would only cost a
 * refused lookup per descriptor, of every thread. */
static bool process_closed(int pid_fd)
{
	struct stat st;
	return fstatat(pid_fd, "cwd", &st, 0) < 0 && errno == EACCES;
}

static int scan_process(struct holder_list *list, int proc_fd, const char *pid_name, pid_t pid)
{
	_cleanup_close_ int pid_fd = openat(proc_fd, pid_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_fd < 0)
		return 0;
	char comm[32];
	bool kthread;
	if (!process_stat(pid_fd, comm, sizeof(comm), &kthread) || kthread ||
	    process_closed(pid_fd))
		return 0;
	int r = scan_cwd_root(list, pid_fd, pid, comm);
	if (r == 0)
		r = scan_fds(list, pid_fd, pid, comm);
	if (r == 0)
		r = scan_maps(list, pid_fd, pid, comm);
	return r < 0 ? r : scan_threads(list, pid_fd, pid, comm);
}

/* The scan costs a few microseconds per open descriptor (a /proc lookup and the
 * link's target each), which on a host with tens of thousands of descriptors is
 * the largest part of a transaction's time after the exchange. Its processes are
 * independent, so it runs on up to HOLDERS_THREADS threads, each taking every n-th
 * process, and their lists are joined in /proc's order. */
#define HOLDERS_THREADS 4
#define HOLDERS_PER_THREAD 16 /* processes; fewer are not worth a thread */

struct scan_part {
	struct holder_list list;
	int proc_fd;
	const pid_t *pids;
	size_t n_pids, first, stride;
	int r;
};

static void *scan_part_run(void *arg)
{
	struct scan_part *part = arg;
	char name[16];
	for (size_t i = part->first; i < part->n_pids && part->r == 0; i += part->stride) {
		snprintf(name, sizeof(name), "%d", (int)part->pids[i]);
		part->r = scan_process(&part->list, part->proc_fd, name, part->pids[i]);
	}
	return NULL;
}

/* The numeric entries of /proc but our own. */
static int list_pids(DIR *proc, pid_t **ret, size_t *ret_n)
{
	pid_t self = getpid(), *pids = NULL;
	size_t n = 0, allocated = 0;
	for (struct dirent *e; (e = readdir(proc));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		if (n == allocated) {
			allocated = allocated ? allocated * 2 : 256;
			pid_t *grown = realloc(pids, allocated * sizeof(*pids));
			if (!grown) {
				free(pids);
				return -ENOMEM;
			}
			pids = grown;
		}
		pids[n++] = (pid_t)pid;
	}
	*ret = pids;
	*ret_n = n;
	return 0;
}

int holders_scan(dev_t dev, bool writable_only, bool (*match)(ino_t ino, void *ctx), void *ctx,
		 struct holder **ret, size_t *ret_n)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return -errno;
	pid_t *pids;
	size_t n_pids;
	int r = list_pids(proc, &pids, &n_pids);
	if (r < 0) {
		closedir(proc);
		return r;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t stride = cpus > 1 ? (size_t)cpus : 1;
	if (stride > HOLDERS_THREADS)
		stride = HOLDERS_THREADS;
	if (stride > n_pids / HOLDERS_PER_THREAD)
		stride = n_pids / HOLDERS_PER_THREAD ? n_pids / HOLDERS_PER_THREAD : 1;
	struct scan_part parts[HOLDERS_THREADS];
	pthread_t threads[HOLDERS_THREADS];
	bool started[HOLDERS_THREADS] = { false };
	for (size_t k = 0; k < stride; k++)
		parts[k] = (struct scan_part){
			.list = { .dev = dev, .writable_only = writable_only, .match = match,
				  .ctx = ctx },
			.proc_fd = dirfd(proc), .pids = pids, .n_pids = n_pids, .first = k,
			.stride = stride,
		};
	/* Part 0 runs here; a thread that cannot start leaves its part to us too. */
	for (size_t k = 1; k < stride; k++)
		started[k] = pthread_create(&threads[k], NULL, scan_part_run, &parts[k]) == 0;
	scan_part_run(&parts[0]);
	for (size_t k = 1; k < stride; k++) {
		if (started[k])
			pthread_join(threads[k], NULL);
		else
			scan_part_run(&parts[k]);
	}
	closedir(proc);
	free(pids);

	struct holder_list all = { 0 };
	for (size_t k = 0; k < stride; k++) {
		if (r == 0 && parts[k].r < 0)
			r = parts[k].r;
		for (size_t i = 0; r == 0 && i < parts[k].list.n; i++) {
			struct holder *h = &parts[k].list.items[i];
			if (all.n == all.allocated) {
				size_t allocated = all.allocated ? all.allocated * 2 : 8;
				struct holder *items = realloc(all.items, allocated * sizeof(*items));
				if (!items) {
					r = -ENOMEM;
					break;
				}
				all.items = items;
				all.allocated = allocated;
			}
			all.items[all.n++] = *h;
		}
		free(parts[k].list.items);
	}
	if (r < 0) {
		free(all.items);
		return r;
	}
	*ret = all.items;
	*ret_n = all.n;
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
