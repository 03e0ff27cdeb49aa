/* SPDX-License-Identifier: MIT */
/*
 * holders.c: which live processes use a tree, found through /proc.
 *
 * Before a tree is exchanged away or deleted, we want to know whether a process
 * could still write into it: through a working or root directory inside it, an open
 * descriptor on one of its files or directories, or a shared writable mapping. One
 * readdir of /proc; per process, its file mappings, stat of cwd and root, and
 * fstatat of each entry of /proc/PID/fd (stat follows the magic link to the open
 * file; lstat of the link gives its access mode). Mappings are resolved through
 * /proc/PID/map_files (the device the kernel gives for a mapping is the
 * filesystem's, not the subvolume's that stat reports on Btrfs); they come from the
 * PROCMAP_QUERY ioctl on /proc/PID/maps (Linux 6.11), which returns only those asked
 * for (one call for a process with none), or on older kernels from the text of
 * /proc/PID/maps, which costs the kernel a formatted line, path included, per
 * mapping. Kernel threads (no address space, one thread) and our own process are
 * skipped, and so are processes whose links are closed to us (no ptrace access); a
 * process that exits mid-scan is simply not reported. Threads are looked at one by
 * one where kcmp(2) says they do not share the main thread's descriptor table,
 * directory or memory, or where the main thread has exited. The command name is
 * read only for a process that holds something.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* The process being scanned: its /proc directory, and its command name, read only
 * when it turns out to hold something. */
struct proc_ref {
	int fd;
	pid_t pid;
	char comm[32];
};

static const char *proc_comm(struct proc_ref *p)
{
	if (p->comm[0])
		return p->comm;
	_cleanup_close_ int fd = openat(p->fd, "comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, p->comm, sizeof(p->comm) - 1) : -1;
	if (n > 0 && p->comm[n - 1] == '\n')
		n--;
	if (n <= 0)
		n = snprintf(p->comm, sizeof(p->comm), "?");
	p->comm[n] = '\0';
	return p->comm;
}

static int holder_add(struct holder_list *list, struct proc_ref *p, const char *what,
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
	h->pid = p->pid;
	snprintf(h->comm, sizeof(h->comm), "%s", proc_comm(p));
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

static int scan_fds(struct holder_list *list, int pid_fd, struct proc_ref *p)
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
		r = holder_add(list, p, "fd", path, &st, writable);
	}
	closedir(d);
	return r;
}

/* One mapping that may hold the tree: its range names its link in map_files. */
static int map_found(struct holder_list *list, int pid_fd, int *map_files, struct proc_ref *p,
		     const char *range, unsigned long inode, bool writable)
{
	/* The inode number the kernel gives is the real one (its device is not). */
	if (list->match && !list->match((ino_t)inode, list->ctx))
		return 0;
	struct stat st;
	if (*map_files == -2) /* opened when a mapping needs it, which is rare */
		*map_files = openat(pid_fd, "map_files", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*map_files < 0 || fstatat(*map_files, range, &st, 0) < 0 || !holder_matches(list, &st))
		return 0;
	char path[PATH_MAX];
	link_text(*map_files, range, path, sizeof(path));
	/* One entry per mapped file is enough. */
	for (size_t i = 0; i < list->n; i++)
		if (list->items[i].pid == p->pid && strcmp(list->items[i].what, "map") == 0 &&
		    list->items[i].ino == st.st_ino && list->items[i].writable == writable)
			return 0;
	return holder_add(list, p, "map", path, &st, writable);
}

/* PROCMAP_QUERY (Linux 6.11): an ioctl on /proc/PID/maps that returns the next
 * mapping with the asked properties, without the text of every other one. Older
 * uapi headers lack it; the layout is the kernel's ABI. */
#ifndef PROCMAP_QUERY
struct procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_WRITABLE 0x02
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20
#endif

bool holders_maps_text;

/* 1 when the kernel answered (the mappings are in @list; *@has_mm false when the
 * process has no address space: a kernel thread, or one exiting), 0 when it has no
 * PROCMAP_QUERY (read the text instead), or a negative errno. */
static int query_maps(struct holder_list *list, int maps_fd, int pid_fd, int *map_files,
		      struct proc_ref *p, bool *has_mm)
{
	static atomic_bool unsupported;
	if (holders_maps_text || atomic_load_explicit(&unsupported, memory_order_relaxed))
		return 0;
	uint64_t flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_FILE_BACKED_VMA;
	if (list->writable_only)
		flags |= PROCMAP_QUERY_VMA_WRITABLE | PROCMAP_QUERY_VMA_SHARED;
	for (uint64_t addr = 0;;) {
		struct procmap_query q = { .size = sizeof(q), .query_flags = flags, .query_addr = addr };
		if (ioctl(maps_fd, PROCMAP_QUERY, &q) < 0) {
			if (errno == ENOENT) /* no further mapping like that */
				return 1;
			if (errno == ESRCH) { /* no address space (any more) */
				if (addr == 0)
					*has_mm = false;
				return 1;
			}
			if (errno == ENOTTY || errno == EINVAL)
				atomic_store_explicit(&unsupported, true, memory_order_relaxed);
			/* No such ioctl, or refused on its own (a security module may allow
			 * reading maps and not the ioctl): the text, for this process. A
			 * mapping already found is not added twice (map_found()). */
			return 0;
		}
		char range[64];
		snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)q.vma_start,
			 (unsigned long long)q.vma_end);
		bool writable = (q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE) &&
				(q.vma_flags & PROCMAP_QUERY_VMA_SHARED);
		int r = map_found(list, pid_fd, map_files, p, range, (unsigned long)q.inode, writable);
		if (r < 0)
			return r;
		if (q.vma_end <= addr)
			return 1;
		addr = q.vma_end;
	}
}

/* A line of /proc/PID/maps: "START-END PERMS OFFSET DEV INODE [PATH]". Parsed by
 * hand: sscanf was a sixth of the whole scan, and most lines stop at PERMS. */
static bool maps_line(const char *line, char *range, size_t size, const char **perms,
		      unsigned long *inode)
{
	const char *sp = strchr(line, ' ');
	if (!sp || (size_t)(sp - line) >= size || strlen(sp) < 6)
		return false;
	memcpy(range, line, (size_t)(sp - line));
	range[sp - line] = '\0';
	*perms = sp + 1;
	const char *p = sp + 1;
	for (int field = 0; field < 3; field++) { /* perms, offset, dev */
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	char *end;
	*inode = strtoul(p, &end, 10);
	return end != p;
}

/* The file mappings of the process or thread at @pid_fd. *@has_mm (may be NULL)
 * becomes false when it has no address space at all: the kernel's answer is empty
 * for a kernel thread, and for a process whose last thread is exiting. */
static int scan_maps(struct holder_list *list, int pid_fd, struct proc_ref *p, bool *has_mm)
{
	bool mm = true;
	int maps_fd = openat(pid_fd, "maps", O_RDONLY | O_CLOEXEC);
	if (maps_fd < 0) {
		/* Some kernels refuse to open it for a task without an address space. */
		if (errno == ESRCH && has_mm)
			*has_mm = false;
		return 0;
	}
	int map_files = -2;
	int r = query_maps(list, maps_fd, pid_fd, &map_files, p, &mm);
	if (r != 0) {
		if (map_files >= 0)
			close(map_files);
		close(maps_fd);
		if (has_mm)
			*has_mm = mm;
		return r < 0 ? r : 0;
	}
	FILE *maps = fdopen(maps_fd, "re");
	if (!maps) {
		close(maps_fd);
		return 0;
	}
	char line[PATH_MAX + 256];
	bool any = false;
	while (r == 0 && fgets(line, sizeof(line), maps)) {
		any = true;
		char range[64];
		const char *perms;
		unsigned long inode;
		if (!maps_line(line, range, sizeof(range), &perms, &inode) || inode == 0)
			continue;
		bool writable = perms[1] == 'w' && perms[3] == 's';
		if (list->writable_only && !writable)
			continue;
		r = map_found(list, pid_fd, &map_files, p, range, inode, writable);
	}
	/* Empty text: no address space, or it could not be read (then the cwd link
	 * below is refused too); an address space always has a stack. */
	if (has_mm && !any && !ferror(maps))
		*has_mm = false;
	if (map_files >= 0)
		close(map_files);
	fclose(maps);
	return r;
}

/* The number of threads of the process at @pid_fd: /proc counts them in the link
 * count of its task directory (2 + threads), which a stat reads without the cost of
 * /proc/PID/stat (the kernel gathers some forty fields for that). 0 when it is gone. */
static long process_threads(int pid_fd)
{
	struct stat st;
	if (fstatat(pid_fd, "task", &st, 0) < 0)
		return 0;
	return st.st_nlink > 2 ? (long)st.st_nlink - 2 : 1;
}

/* Whether thread @tid of process @pid shares @what (KCMP_FILES, KCMP_FS, KCMP_VM)
 * with the process's main thread. */
enum sharing { SHARED, OWN, CLOSED };
static enum sharing shares_with_main(pid_t pid, pid_t tid, int what)
{
	long r = syscall(SYS_kcmp, pid, tid, what, 0, 0);
	if (r == 0)
		return SHARED;
	if (r > 0)
		return OWN; /* not the same: errno is not set */
	/* kcmp(2) asks for the same ptrace access as the /proc links it stands in for:
	 * refused, they would be refused too (CLOSED: see scan_cwd_root()). Otherwise
	 * (no kcmp in this kernel) the thread is looked at on its own. */
	return errno == EPERM || errno == EACCES ? CLOSED : OWN;
}

static int scan_cwd_root(struct holder_list *list, int pid_fd, struct proc_ref *p);

/* The threads of @p that have a descriptor table, a working directory or an
 * address space of their own (unshare(CLONE_FILES), CLONE_FS, or a main thread that
 * has exited): each is looked at like a process. */
static int scan_threads(struct holder_list *list, struct proc_ref *p)
{
	pid_t pid = p->pid;
	int task_fd = openat(p->fd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
			r = scan_fds(list, tid_fd, p);
		if (r == 0 && shares_with_main(pid, (pid_t)tid, KCMP_FS) == OWN) {
			r = scan_cwd_root(list, tid_fd, p);
			if (r > 0) /* closed: kcmp just said otherwise; nothing to read */
				r = 0;
		}
		if (r == 0 && shares_with_main(pid, (pid_t)tid, KCMP_VM) == OWN)
			r = scan_maps(list, tid_fd, p, NULL);
	}
	closedir(d);
	return r;
}

/* The working and root directories of the process or thread at @pid_fd. Returns 1,
 * having looked no further, when its links are closed to us: they need ptrace
 * access, which root can be refused (without CAP_SYS_PTRACE in a container, towards
 * a process that is not dumpable, or by a security module). Nothing of such a
 * process can be read (docs/protocol.md lists it as not covered): its caller skips
 * the rest, which would only cost a refused lookup per descriptor, of every thread. */
static int scan_cwd_root(struct holder_list *list, int pid_fd, struct proc_ref *p)
{
	static const char *const dirs[] = { "cwd", "root" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct stat st;
		if (fstatat(pid_fd, dirs[i], &st, 0) < 0) {
			if (i == 0 && errno == EACCES)
				return 1;
			continue;
		}
		if (!holder_matches(list, &st))
			continue;
		char path[PATH_MAX];
		link_text(pid_fd, dirs[i], path, sizeof(path));
		int r = holder_add(list, p, dirs[i], path, &st, true);
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
	struct proc_ref p = { .fd = pid_fd, .pid = pid };
	long threads = process_threads(pid_fd);
	if (threads == 0)
		return 0; /* gone */
	/* The mappings first. No address space: a kernel thread (most processes of a
	 * quiet host; always one thread), a process in its last moments (past running
	 * code of its own), or one whose main thread exited while others run on (the
	 * exited one is counted until the last goes). Such a main thread holds nothing;
	 * the others are looked at one by one. */
	bool has_mm = true;
	int r = scan_maps(list, pid_fd, &p, &has_mm);
	if (r < 0)
		return r;
	if (!has_mm && threads > 1)
		return scan_threads(list, &p);
	if (!has_mm) {
		/* A kernel thread has no executable. A process that called execve()
		 * just after we opened its maps (which belong to the address space it
		 * left) has one, and keeps its descriptors: look again, fully. */
		char exe;
		if (readlinkat(pid_fd, "exe", &exe, 1) < 0 && errno == ENOENT)
			return 0;
		r = scan_maps(list, pid_fd, &p, NULL);
		if (r < 0)
			return r;
	}
	r = scan_cwd_root(list, pid_fd, &p);
	if (r > 0)
		return 0; /* closed to us */
	if (r == 0)
		r = scan_fds(list, pid_fd, &p);
	/* A thread started after the count is not seen here; one that unshares its
	 * descriptor table after it, while the main thread closes its copy, is a hole
	 * (docs/protocol.md). A process forked after the listing is seen by the rounds
	 * that list /proc again (holders_scan()). */
	return r < 0 || threads == 1 ? r : scan_threads(list, &p);
}

/* The scan costs a few microseconds per open descriptor (a /proc lookup and the
 * link's target each): a fraction of a millisecond on a quiet host, tens of
 * milliseconds on one with tens of thousands of descriptors. Its processes are
 * independent, so once it has run for HOLDERS_HELP_AFTER on this thread, up to
 * HOLDERS_THREADS - 1 helpers (one per further CPU) join it, each taking the next
 * process not yet taken. Started at once, a thread costs more than the whole scan
 * of a quiet host (a fresh process pays for its stack and malloc arena). */
#define HOLDERS_THREADS 4
#define HOLDERS_HELP_AFTER 1e-3 /* seconds */

struct scan_shared {
	int proc_fd;
	const pid_t *pids;
	size_t n_pids;
	_Atomic size_t next; /* the next index of pids to take */
};

struct scan_part {
	struct holder_list list;
	struct scan_shared *shared;
	int r;
};

/* Scans the next process not yet taken; false when none is left. */
static bool scan_next(struct scan_part *part)
{
	struct scan_shared *sh = part->shared;
	size_t i = sh->next++;
	if (i >= sh->n_pids || part->r < 0)
		return false;
	char name[16];
	snprintf(name, sizeof(name), "%d", (int)sh->pids[i]);
	part->r = scan_process(&part->list, sh->proc_fd, name, sh->pids[i]);
	return true;
}

static void *scan_part_run(void *arg)
{
	while (scan_next(arg))
		;
	return NULL;
}

/* Joins the parts' lists into one, in /proc's order (ascending pids): each part
 * took its processes in that order, and a process's holders are all in one part,
 * in the order found. */
static int holders_merge(struct scan_part *parts, size_t n_parts, struct holder_list *all)
{
	size_t total = 0, at[HOLDERS_THREADS] = { 0 };
	for (size_t k = 0; k < n_parts; k++)
		total += parts[k].list.n;
	*all = (struct holder_list){ 0 };
	if (total == 0)
		return 0;
	all->items = malloc(total * sizeof(*all->items));
	if (!all->items)
		return -ENOMEM;
	while (all->n < total) {
		size_t best = n_parts;
		for (size_t k = 0; k < n_parts; k++)
			if (at[k] < parts[k].list.n &&
			    (best == n_parts ||
			     parts[k].list.items[at[k]].pid < parts[best].list.items[at[best]].pid))
				best = k;
		pid_t pid = parts[best].list.items[at[best]].pid;
		while (at[best] < parts[best].list.n && parts[best].list.items[at[best]].pid == pid)
			all->items[all->n++] = parts[best].list.items[at[best]++];
	}
	all->allocated = total;
	return 0;
}

/* Rounds of listing /proc again after the scan, for processes forked meanwhile. */
#define HOLDERS_RELIST 4

static int pid_order(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return x < y ? -1 : x > y;
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
	struct scan_shared shared = { .proc_fd = dirfd(proc), .pids = pids, .n_pids = n_pids };
	struct scan_part parts[HOLDERS_THREADS];
	pthread_t threads[HOLDERS_THREADS];
	size_t n_parts = 1;
	for (size_t k = 0; k < HOLDERS_THREADS; k++)
		parts[k] = (struct scan_part){
			.list = { .dev = dev, .writable_only = writable_only, .match = match,
				  .ctx = ctx },
			.shared = &shared,
		};
	bool helped = false;
	double start = txn_now();
	while (scan_next(&parts[0])) {
		if (helped || txn_now() - start < HOLDERS_HELP_AFTER)
			continue;
		/* Asked only now: glibc reads /sys for it, a tenth of a quiet scan. */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		size_t helpers = cpus > HOLDERS_THREADS ? HOLDERS_THREADS - 1 : cpus > 1 ? (size_t)cpus - 1 : 0;
		helped = true;
		for (size_t k = 1; k <= helpers; k++) {
			if (pthread_create(&threads[k], NULL, scan_part_run, &parts[k]) != 0)
				break; /* the ones started, and this thread, do the rest */
			n_parts = k + 1;
		}
	}
	for (size_t k = 1; k < n_parts; k++)
		pthread_join(threads[k], NULL);
	/* Processes that appeared while we scanned: a child forked after the listing
	 * inherits its parent's descriptors, and the parent may have closed its own or
	 * exited since we passed it. They are scanned too, in a few more rounds, until a
	 * listing shows none we have not seen. (A chain of processes that each fork and
	 * exit faster than a round can stay ahead of it: not covered, docs/protocol.md.) */
	for (int round = 0; round < HOLDERS_RELIST && r == 0 && parts[0].r == 0; round++) {
		qsort(pids, n_pids, sizeof(*pids), pid_order);
		pid_t *now;
		size_t n_now, n_new = 0;
		rewinddir(proc);
		r = list_pids(proc, &now, &n_now);
		if (r < 0)
			break;
		for (size_t i = 0; i < n_now; i++)
			if (!bsearch(&now[i], pids, n_pids, sizeof(*pids), pid_order))
				now[n_new++] = now[i];
		for (size_t i = 0; i < n_new && parts[0].r == 0; i++) {
			char name[16];
			snprintf(name, sizeof(name), "%d", (int)now[i]);
			parts[0].r = scan_process(&parts[0].list, dirfd(proc), name, now[i]);
		}
		pid_t *grown = n_new ? realloc(pids, (n_pids + n_new) * sizeof(*pids)) : pids;
		if (!grown) {
			free(now);
			r = -ENOMEM;
			break;
		}
		pids = grown;
		memcpy(pids + n_pids, now, n_new * sizeof(*pids));
		n_pids += n_new;
		free(now);
		if (n_new == 0)
			break;
	}
	closedir(proc);
	free(pids);

	struct holder_list all = { 0 };
	for (size_t k = 0; k < n_parts && r == 0; k++)
		r = parts[k].r;
	if (r == 0)
		r = holders_merge(parts, n_parts, &all);
	for (size_t k = 0; k < n_parts; k++)
		free(parts[k].list.items);
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
