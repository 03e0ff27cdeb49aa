/* SPDX-License-Identifier: MIT */
/*
 * journal.c: the journal of the transaction in flight, history.jsonl, and the
 * generation numbers derived from them.
 *
 * The journal is replaced whole (temporary file, rename), so it is never torn; a
 * leftover temporary file means a crash during the write and is ignored. init's
 * journal is fsynced with its directory. The snapshot method's is not
 * (journal_write_intent()): step 7 writes it back into the running Btrfs
 * transaction (journal_writeback(), or BTRFS_IOC_SYNC, which commits), so the
 * commit that carries the exchange carries it too, and a crash that loses it, or
 * keeps its name without its bytes (an
 * empty journal: Btrfs sets the size on disk only with the data), can only have
 * cut a transaction short before its commit point, and recovery undoes that: the
 * staging subvolume no readable journal names is deleted. The two fsyncs it
 * saves were each a Btrfs log-tree sync, half the time of a 1-file apply. The
 * staging UUID, known only once the snapshot exists, goes to a file of its own
 * ("staged"), written back by the same step. A record that is missing, torn, or
 * of another transaction therefore means the exchange did not happen, unless
 * T's old tree sits at the staging name (recover.c decides by that too).
 * history.jsonl only grows by whole lines; a line torn by
 * a crash is cut off before the next append and skipped by readers. Both are JSON,
 * written with jansson (the engine's only JSON: its own state files).
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#define JOURNAL_TMP_NAME "journal.tmp"

/* Writes @obj, whose reference it takes, as one line replacing the contents of @name
 * in @state_fd; with @sync, fsyncs the file too. */
int state_write_json(int state_fd, const char *name, json_t *obj, bool sync)
{
	if (!obj)
		return -ENOMEM;
	char *text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		return -ENOMEM;
	int r = 0;
	_cleanup_close_ int fd = openat(state_fd, name,
					O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0 && sync)
		r = fsync_fd(fd);
	free(text);
	return r;
}

static int journal_write_as(int state_fd, const struct journal *j, bool durable)
{
	json_t *obj = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}",
				"version", 1, "txid", j->txid, "kind", j->kind, "target_uuid",
				j->target_uuid, "staging", j->staging, "staging_uuid",
				j->staging_uuid, "from_generation", (json_int_t)j->from_generation,
				"to_generation", (json_int_t)j->to_generation, "rollback_to",
				(json_int_t)j->rollback_to, "ops", (json_int_t)j->n_ops,
				"description", j->description, "started", j->started);
	int r = state_write_json(state_fd, JOURNAL_TMP_NAME, obj, durable);
	if (r == 0 && renameat(state_fd, JOURNAL_TMP_NAME, state_fd, JOURNAL_NAME) < 0)
		r = -errno;
	/* A write that failed (ENOSPC, EIO) leaves no half-written temporary file
	 * behind; after a successful rename there is none to remove. */
	if (r < 0)
		journal_discard_partial(state_fd);
	if (r == 0 && durable)
		r = fsync_fd(state_fd);
	return r;
}

int journal_write(int state_fd, const struct journal *j)
{
	return journal_write_as(state_fd, j, true);
}

int journal_write_intent(int state_fd, const struct journal *j)
{
	return journal_write_as(state_fd, j, false);
}

static int journal_write_staged_as(int state_fd, const struct journal *j, bool durable)
{
	json_t *obj = json_pack("{s:s, s:s}", "txid", j->txid, "staging_uuid", j->staging_uuid);
	if (obj && j->has_mark)
		json_object_set_new(obj, "mark",
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "generation",
					      (json_int_t)j->mark_generation, "sec",
					      (json_int_t)j->mark_sec, "nsec", (json_int_t)j->mark_nsec,
					      "mode", (json_int_t)j->mark_mode, "uid",
					      (json_int_t)j->mark_uid, "gid", (json_int_t)j->mark_gid,
					      "transid", (json_int_t)j->mark_transid));
	if (obj && j->has_mark && j->mark_checked)
		json_object_set_new(json_object_get(obj, "mark"), "checked", json_true());
	if (obj && j->has_top_print) {
		const struct root_print *p = &j->top_print;
		json_object_set_new(obj, "top",
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
					      (json_int_t)p->mode, "uid", (json_int_t)p->uid, "gid",
					      (json_int_t)p->gid, "flags", (json_int_t)p->flags, "size",
					      (json_int_t)p->size, "nlink", (json_int_t)p->nlink,
					      "mtime_sec", (json_int_t)p->mtime_sec, "mtime_nsec",
					      (json_int_t)p->mtime_nsec, "xattrs",
					      (json_int_t)(int64_t)p->xattrs));
	}
	return state_write_json(state_fd, STAGED_NAME, obj, durable);
}

int journal_write_staged(int state_fd, const struct journal *j)
{
	return journal_write_staged_as(state_fd, j, false);
}

int journal_write_staged_durable(int state_fd, const struct journal *j)
{
	return journal_write_staged_as(state_fd, j, true);
}

/* The staged record of transaction @txid: the staging UUID into @j (36
 * characters, else "") and the tree mark, when it has one. */
static void read_staged(int state_fd, const char *txid, struct journal *j)
{
	char *out = j->staging_uuid;
	bool want_uuid = !out[0];
	_cleanup_close_ int fd = openat(state_fd, STAGED_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	json_error_t jerr;
	json_t *obj = json_loadfd(fd, 0, &jerr);
	const char *id = json_string_value(json_object_get(obj, "txid"));
	const char *uuid = json_string_value(json_object_get(obj, "staging_uuid"));
	if (want_uuid && id && uuid && strcmp(id, txid) == 0 && strlen(uuid) == 36)
		memcpy(out, uuid, 37);
	json_t *mark = json_object_get(obj, "mark");
	if (id && strcmp(id, txid) == 0 && json_is_object(mark) &&
	    json_unpack(mark, "{s:I, s:I, s:I, s:I, s:I, s:I}", "generation", &(json_int_t){ 0 },
			"sec", &(json_int_t){ 0 }, "nsec", &(json_int_t){ 0 }, "mode",
			&(json_int_t){ 0 }, "uid", &(json_int_t){ 0 }, "gid", &(json_int_t){ 0 }) == 0) {
		j->has_mark = true;
		j->mark_generation = (uint64_t)json_integer_value(json_object_get(mark, "generation"));
		j->mark_sec = (int64_t)json_integer_value(json_object_get(mark, "sec"));
		j->mark_nsec = (long)json_integer_value(json_object_get(mark, "nsec"));
		j->mark_mode = (unsigned)json_integer_value(json_object_get(mark, "mode"));
		j->mark_uid = (unsigned)json_integer_value(json_object_get(mark, "uid"));
		j->mark_gid = (unsigned)json_integer_value(json_object_get(mark, "gid"));
		j->mark_transid = (uint64_t)json_integer_value(json_object_get(mark, "transid"));
		j->mark_checked = json_is_true(json_object_get(mark, "checked"));
	}
	json_t *top = json_object_get(obj, "top");
	json_int_t v[9];
	if (id && strcmp(id, txid) == 0 && json_is_object(top) &&
	    json_unpack(top, "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode", &v[0], "uid",
			&v[1], "gid", &v[2], "flags", &v[3], "size", &v[4], "nlink", &v[5],
			"mtime_sec", &v[6], "mtime_nsec", &v[7], "xattrs", &v[8]) == 0) {
		struct root_print *p = &j->top_print;
		memset(p, 0, sizeof(*p)); /* compared with memcmp */
		p->mode = (unsigned)v[0];
		p->uid = (unsigned)v[1];
		p->gid = (unsigned)v[2];
		p->flags = (unsigned)v[3];
		p->size = (uint64_t)v[4];
		p->nlink = (uint64_t)v[5];
		p->mtime_sec = (int64_t)v[6];
		p->mtime_nsec = (long)v[7];
		p->xattrs = (uint64_t)(int64_t)v[8];
		j->has_top_print = true;
	}
	json_decref(obj);
}

static void copy_string(json_t *obj, const char *key, char *out, size_t size)
{
	const char *s = json_string_value(json_object_get(obj, key));
	snprintf(out, size, "%s", s ? s : "");
}

static uint64_t get_u64(json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));
	return v > 0 ? (uint64_t)v : 0;
}

/* Whether @txid has the form make_txid() gives: "%Y%m%dT%H%M%SZ-%06x", e.g.
 * "20260131T120000Z-0a1b2c". */
static bool txid_valid(const char *txid)
{
	static const char form[] = "ddddddddTddddddZ-xxxxxx";
	if (strlen(txid) != sizeof(form) - 1)
		return false;
	for (size_t i = 0; form[i]; i++) {
		char c = txid[i];
		bool fits = form[i] == 'd'   ? c >= '0' && c <= '9'
			    : form[i] == 'x' ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
					     : c == form[i];
		if (!fits)
			return false;
	}
	return true;
}

/*
 * Recovery deletes the subvolume the journal names as its staging, so the name must
 * be one btrfs-txn itself makes for that transaction: "staging-TXID", or "init-TXID"
 * for init. Anything else ("..", "gen-3", a path) means a journal damaged or written
 * by hand, which is refused as unreadable rather than acted on.
 */
static bool journal_names_valid(const struct journal *j)
{
	if (!txid_valid(j->txid))
		return false;
	const char *prefix = strcmp(j->kind, "init") == 0 ? "init-" : "staging-";
	size_t n = strlen(prefix);
	return strncmp(j->staging, prefix, n) == 0 && strcmp(j->staging + n, j->txid) == 0;
}

int journal_read(int state_fd, struct journal *ret)
{
	_cleanup_close_ int fd = openat(state_fd, JOURNAL_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	/* A name without bytes: a journal_write_intent() whose data no commit carried. */
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		return -ENODATA;
	json_error_t jerr;
	json_t *obj = json_loadfd(fd, 0, &jerr);
	if (!obj || !json_is_object(obj) || !json_is_string(json_object_get(obj, "txid")) ||
	    !json_is_string(json_object_get(obj, "kind"))) {
		json_decref(obj);
		return -EBADMSG;
	}
	struct journal j = { 0 };
	copy_string(obj, "txid", j.txid, sizeof(j.txid));
	copy_string(obj, "kind", j.kind, sizeof(j.kind));
	copy_string(obj, "target_uuid", j.target_uuid, sizeof(j.target_uuid));
	copy_string(obj, "staging", j.staging, sizeof(j.staging));
	copy_string(obj, "staging_uuid", j.staging_uuid, sizeof(j.staging_uuid));
	copy_string(obj, "description", j.description, sizeof(j.description));
	copy_string(obj, "started", j.started, sizeof(j.started));
	j.from_generation = get_u64(obj, "from_generation");
	j.to_generation = get_u64(obj, "to_generation");
	j.rollback_to = get_u64(obj, "rollback_to");
	j.n_ops = (unsigned)get_u64(obj, "ops");
	json_decref(obj);
	if (!journal_names_valid(&j))
		return -EBADMSG;
	read_staged(state_fd, j.txid, &j);
	*ret = j;
	return 1;
}

int journal_writeback(int state_fd)
{
	/* The journal and the staged record for recovery; the lock (our pid) and the
	 * history (the previous transaction's line) only so that no delayed
	 * allocation of ours is left for the step-12 BTRFS_IOC_SYNC to write back,
	 * which would make it commit once more. */
	static const char *const names[] = { JOURNAL_NAME, STAGED_NAME, LOCK_NAME, HISTORY_NAME };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		_cleanup_close_ int fd = openat(state_fd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		int r = fd < 0 ? -errno : writeback_fd(fd);
		if (r < 0)
			return r;
	}
	return 0;
}

void journal_discard_partial(int state_fd)
{
	/* A temporary journal is a write that never finished: it has no meaning. */
	unlinkat(state_fd, JOURNAL_TMP_NAME, 0);
}

int journal_remove(int state_fd)
{
	/* Not fsynced on purpose: a journal that comes back after a crash is finished
	 * again by recovery, which is idempotent. */
	if (unlinkat(state_fd, JOURNAL_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	/* After the journal: a staged record without a journal is ignored, but a
	 * journal without its record would read as "never exchanged". */
	if (unlinkat(state_fd, STAGED_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Reads the whole history; NULL when absent or unreadable. */
static char *history_slurp(int state_fd, size_t *ret_len)
{
	/* O_NONBLOCK: a FIFO of that name (a crafted image mounted by a user, seen by
	 * list) would otherwise hold the open until something writes to it. */
	_cleanup_close_ int fd = openat(state_fd, HISTORY_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/* Parses one line (without its newline) and calls @fn on it, unless it lacks
 * @needle (then it is not even parsed) or is no JSON object; @fn's answer. */
static bool history_line(const char *line, size_t len, const char *needle, size_t needle_len,
			 bool (*fn)(json_t *line, void *ctx), void *ctx)
{
	if (needle && !memmem(line, len, needle, needle_len))
		return false;
	json_t *obj = json_loadb(line, len, 0, NULL);
	bool stop = obj && json_is_object(obj) && fn(obj, ctx);
	json_decref(obj);
	return stop;
}

void history_each_with(int state_fd, const char *needle, bool (*fn)(json_t *line, void *ctx),
		       void *ctx)
{
	size_t len = 0, needle_len = needle ? strlen(needle) : 0;
	_cleanup_free_ char *buf = history_slurp(state_fd, &len);
	if (!buf)
		return;
	for (char *line = buf, *nl; (nl = memchr(line, '\n', len - (size_t)(line - buf)));
	     line = nl + 1) {
		if (history_line(line, (size_t)(nl - line), needle, needle_len, fn, ctx))
			break;
	}
}

/* Reads @len bytes at @off; false on a short read or an error. */
static bool pread_exact(int fd, char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return true;
}

/* Calls @fn for every complete, parseable line, newest first, until it returns
 * true. It reads the file's tail (64 KiB, then eight times more each round, never
 * a line twice), so that a question the last lines answer does not cost the whole
 * history, which grows by a line per transaction for the life of the target. */
void history_each_reverse_with(int state_fd, const char *needle,
			       bool (*fn)(json_t *line, void *ctx), void *ctx)
{
	size_t needle_len = needle ? strlen(needle) : 0;
	_cleanup_close_ int fd = openat(state_fd, HISTORY_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
		return;
	const off_t size = st.st_size;
	off_t done = size; /* the lines from here on were given to @fn */
	for (off_t window = 64 * 1024;; window *= 8) {
		off_t off = window < size ? size - window : 0;
		size_t len = (size_t)(done - off);
		_cleanup_free_ char *buf = malloc(len + 1);
		if (!buf || !pread_exact(fd, buf, len, off))
			return;
		char *end = buf + len;
		if (done == size) {
			/* What follows the last newline is a line torn by a crash. */
			char *nl = memrchr(buf, '\n', len);
			if (!nl) {
				if (off == 0)
					return;
				continue;
			}
			end = nl + 1;
		}
		/* [line, end) is a line with its newline, for each line that starts
		 * inside the window. */
		while (end > buf) {
			char *nl = memrchr(buf, '\n', (size_t)(end - 1 - buf));
			if (!nl && off > 0)
				break; /* it starts before the window */
			char *line = nl ? nl + 1 : buf;
			if (history_line(line, (size_t)(end - 1 - line), needle, needle_len, fn, ctx))
				return;
			end = line;
			done = off + (off_t)(line - buf);
		}
		if (off == 0)
			return;
	}
}

void history_each(int state_fd, bool (*fn)(json_t *line, void *ctx), void *ctx)
{
	history_each_with(state_fd, NULL, fn, ctx);
}

void history_each_reverse(int state_fd, bool (*fn)(json_t *line, void *ctx), void *ctx)
{
	history_each_reverse_with(state_fd, NULL, fn, ctx);
}

static bool match_txid(json_t *line, void *ctx)
{
	const char *txid = json_string_value(json_object_get(line, "txid"));
	if (txid && strcmp(txid, *(const char **)ctx) == 0) {
		*(const char **)ctx = NULL;
		return true;
	}
	return false;
}

bool history_has(int state_fd, const char *txid)
{
	/* Newest first: the transaction asked about is the last one, or absent. */
	const char *want = txid;
	history_each_reverse(state_fd, match_txid, &want);
	return want == NULL;
}

/* Each transaction numbers its generation one past the current one (a trans-method
 * commit keeps it), and appends its line under the lock, after recovery has
 * appended any interrupted one's. So the generations of committed lines never
 * decrease along the history. An `init` line makes none (it records 0) and may come
 * late: `init` of a plain directory where a deleted target's state directory still
 * holds its history. */
bool history_line_generation(json_t *line, uint64_t *ret_generation)
{
	const char *result = json_string_value(json_object_get(line, "result"));
	const char *kind = json_string_value(json_object_get(line, "kind"));
	if (!result || strcmp(result, "committed") != 0 || (kind && strcmp(kind, "init") == 0))
		return false;
	*ret_generation = get_u64(line, "generation");
	return true;
}

/* The newest line that made a generation holds the highest. */
static bool newest_committed(json_t *line, void *ctx)
{
	return history_line_generation(line, ctx);
}

/* Cuts a torn last line (no newline) left by a crash during an append. */
static int history_trim_torn_tail(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	off_t end = st.st_size;
	char c;
	while (end > 0) {
		if (pread(fd, &c, 1, end - 1) != 1)
			return -EIO;
		if (c == '\n')
			break;
		end--;
	}
	if (end != st.st_size && ftruncate(fd, end) < 0)
		return -errno;
	return 0;
}

int history_append(int state_fd, const struct history_entry *e)
{
	char time_now[32];
	utc_now(time_now);
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:b, s:s?, s:s?}", "txid",
				e->txid, "time", time_now, "kind", e->kind, "result", e->result,
				"description", e->description, "generation",
				(json_int_t)e->generation, "previous", (json_int_t)e->previous,
				"ops", (json_int_t)e->n_ops, "recovered", e->recovered, "reason",
				e->reason, "started", e->started);
	if (!obj)
		return -ENOMEM;
	if (strcmp(e->kind, "rollback") == 0)
		json_object_set_new(obj, "rollback_to", json_integer((json_int_t)e->rollback_to));
	if (e->switch_pending)
		json_object_set_new(obj, "switch", json_string("pending until the next mount"));
	if (e->tag) {
		json_object_set_new(obj, "tag", json_string(e->tag));
		json_object_set_new(obj, "pair", e->pair ? json_string(e->pair) : json_null());
	}
	if (e->concurrent) {
		/* Other processes' writes the new tree does not hold (concurrent.c). */
		json_t *paths = json_array();
		bool escaped = false;
		for (size_t i = 0; i < e->concurrent->n_paths; i++)
			json_array_append_new(paths, txn_json_name(e->concurrent->paths[i], &escaped));
		for (size_t i = 0; i < e->concurrent->n_holders; i++)
			json_array_append_new(paths,
					      txn_json_name(e->concurrent->holders[i].path, &escaped));
		json_object_set_new(obj, "concurrent_writes", paths);
		if (escaped)
			json_object_set_new(obj, "concurrent_writes_escaped", json_true());
		json_object_set_new(obj, "pinned", json_integer((json_int_t)e->concurrent->pinned));
	}
	char *text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		return -ENOMEM;
	int r = 0;
	_cleanup_close_ int fd = openat(state_fd, HISTORY_NAME,
					O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = history_trim_torn_tail(fd);
	size_t len = strlen(text);
	text[len] = '\n'; /* the NUL becomes the newline: the line goes in one write */
	if (r == 0)
		r = write_all(fd, text, len + 1);
	free(text);
	return r;
}

uint64_t generation_current(int state_fd)
{
	uint64_t max = 0;
	history_each_reverse(state_fd, newest_committed, &max);
	struct txn_generation *kept = NULL;
	size_t n = 0;
	if (generations_list(state_fd, &kept, &n) == 0 && n > 0 && kept[n - 1].number + 1 > max)
		max = kept[n - 1].number + 1;
	free(kept);
	return max;
}

static int compare_generation(const void *a, const void *b)
{
	uint64_t x = ((const struct txn_generation *)a)->number;
	uint64_t y = ((const struct txn_generation *)b)->number;
	return x < y ? -1 : x > y;
}

int generations_list(int state_fd, struct txn_generation **ret_list, size_t *ret_count)
{
	int fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	struct txn_generation *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		char *end;
		if (strncmp(entry->d_name, "gen-", 4) != 0 || !entry->d_name[4])
			continue;
		unsigned long long number = strtoull(entry->d_name + 4, &end, 10);
		if (*end)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct txn_generation *grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				free(list);
				closedir(dir);
				return -ENOMEM;
			}
			list = grown;
		}
		list[n].number = number;
		list[n].otime = 0;
		list[n].pinned = pin_exists(dirfd(dir), number);
		list[n].mounted_at[0] = '\0';
		_cleanup_close_ int gen_fd = openat(dirfd(dir), entry->d_name,
						    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct btrfs_util_subvolume_info info;
		if (gen_fd >= 0 && btrfs_util_subvolume_info_fd(gen_fd, 0, &info) == BTRFS_UTIL_OK)
			list[n].otime = (uint64_t)info.otime.tv_sec;
		n++;
	}
	closedir(dir);
	if (n > 1)
		qsort(list, n, sizeof(*list), compare_generation);
	*ret_list = list;
	*ret_count = n;
	return 0;
}

/* Pins (concurrent.c): pin-N marks gen-N as holding writes of other processes;
 * gc keeps it until released. */

static void pin_name(uint64_t generation, char out[40])
{
	snprintf(out, 40, "pin-%llu", (unsigned long long)generation);
}

bool pin_exists(int state_fd, uint64_t generation)
{
	char name[40];
	struct stat st;
	pin_name(generation, name);
	return fstatat(state_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int pin_write(int state_fd, uint64_t generation, const char *txid,
	      const struct txn_concurrent *report)
{
	json_t *paths = json_array();
	for (size_t i = 0; i < report->n_paths; i++)
		json_array_append_new(paths, txn_json_name(report->paths[i], NULL));
	json_t *writers = json_array();
	for (size_t i = 0; i < report->n_holders; i++)
		json_array_append_new(writers, json_pack("{s:i, s:o, s:s, s:o}", "pid",
							 report->holders[i].pid, "command",
							 txn_json_name(report->holders[i].command, NULL),
							 "what", report->holders[i].what, "path",
							 txn_json_name(report->holders[i].path, NULL)));
	json_t *obj = json_pack("{s:s, s:I, s:I, s:o, s:o}", "txid", txid, "generation",
				(json_int_t)generation, "changed", (json_int_t)report->count,
				"paths", paths, "writers", writers);
	char name[40], temp[48];
	pin_name(generation, name);
	snprintf(temp, sizeof(temp), "%s.tmp", name);
	int r = state_write_json(state_fd, temp, obj, true);
	if (r == 0 && renameat(state_fd, temp, state_fd, name) < 0)
		r = -errno;
	if (r == 0 && fsync(state_fd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(state_fd, temp, 0);
	return r;
}

int pin_release(int state_fd, uint64_t generation)
{
	char name[40];
	pin_name(generation, name);
	if (unlinkat(state_fd, name, 0) < 0)
		return -errno;
	return fsync(state_fd) < 0 ? -errno : 0;
}
