/* SPDX-License-Identifier: MIT */
/*
 * status.c: the state of a target as `status` shows it, read without the lock:
 * generations (pinned, mounted), an interrupted or running transaction, the lock.
 */
#include "internal.h"
#include "state.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

int txn_state_read(const char *path, struct txn_state *ret, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	struct txn_state s = { 0 };
	snprintf(s.target, sizeof(s.target), "%s", t.path);
	snprintf(s.state_dir, sizeof(s.state_dir), "%s", t.state_path);
	if (t.is_subvolume)
		subvolume_identity(t.fd, s.uuid, NULL, NULL);
	s.mounted = t.mounted;
	s.switch_pending = t.switch_pending;
	if (t.mounted)
		snprintf(s.subvolume, sizeof(s.subvolume), "%s", t.subvol);
	if (t.state_fd >= 0) {
		s.generation = generation_current(t.state_fd);
		r = generations_list(t.state_fd, &s.kept, &s.n_kept);
		if (r < 0) {
			target_close(&t);
			return txn_fail(error, TXN_ABORTED, r, "cannot list '%s'", t.state_path);
		}
		for (size_t i = 0; i < s.n_kept; i++) {
			char name[32];
			snprintf(name, sizeof(name), "gen-%llu", (unsigned long long)s.kept[i].number);
			_cleanup_close_ int gen_fd = openat(t.state_fd, name, O_RDONLY | O_DIRECTORY |
								      O_NOFOLLOW | O_CLOEXEC);
			if (gen_fd < 0 || mount_of_subvolume(gen_fd, s.kept[i].mounted_at,
							      sizeof(s.kept[i].mounted_at)) <= 0)
				s.kept[i].mounted_at[0] = '\0';
		}
		/* The lock is looked at before and after the journal: a journal seen while
		 * a live process holds the lock is its transaction, running now, not one
		 * that was interrupted. */
		_cleanup_close_ int lock_fd =
			openat(t.state_fd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		bool locked_before = lock_fd >= 0 && flock(lock_fd, LOCK_SH | LOCK_NB) < 0 &&
				     errno == EWOULDBLOCK;
		if (locked_before)
			target_lock_holder(t.state_fd, s.lock_holder, sizeof(s.lock_holder));
		else if (lock_fd >= 0)
			flock(lock_fd, LOCK_UN);
		struct journal j = { 0 };
		if (journal_read(t.state_fd, &j) != 0) {
			s.journal_present = true;
			snprintf(s.journal_txid, sizeof(s.journal_txid), "%s", j.txid);
			snprintf(s.journal_kind, sizeof(s.journal_kind), "%s", j.kind);
		}
		s.trans_interrupted = trans_marker_read(t.state_fd, NULL, 0) != 0;
		if (lock_fd >= 0 && flock(lock_fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
			s.locked = true;
			target_lock_holder(t.state_fd, s.lock_holder, sizeof(s.lock_holder));
		}
		s.running = s.journal_present && (locked_before || s.locked);
		if (!s.locked && !s.running)
			s.lock_holder[0] = '\0';
		if (sscanf(s.lock_holder, "pid %d", &s.lock_pid) != 1)
			s.lock_pid = 0;
	}
	target_close(&t);
	*ret = s;
	return 0;
}

int txn_state_dir_path(const char *path, char *ret_path, size_t size, struct txn_error *error)
{
	struct target t;
	int r = target_open(path, TARGET_ALLOW_PLAIN_DIR, &t, error);
	if (r < 0)
		return r;
	snprintf(ret_path, size, "%s", t.state_path);
	target_close(&t);
	return 0;
}
