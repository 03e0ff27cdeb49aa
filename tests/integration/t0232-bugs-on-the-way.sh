#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0232: defects found on the way, each with its exact outcome: init --no-wait that
# cannot take the lock leaves the holder's journal.tmp alone; status shows a
# transaction whose live holder has the lock as running (with its pid), not as
# interrupted; a zero-initialised struct txn_options waits for the lock (0 is the
# default, as in every other field) while --timeout 0 still does not wait; the
# public entry points accept NULL options and NULL result pointers; probe tells a
# mount point by its mount id; init checks the parent's filesystem before any Btrfs
# ioctl, checks that the target after the exchange is the subvolume it made, and
# keeps options.keep generations when it recovers an interrupted transaction.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

# hold_lock FILE: hold flock(FILE) in one background process (HOLDER, its pid) until
# it is killed; returns once the lock is held (bounded wait).
hold_lock() {
	rm -f "$TEST_TMP/held"
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(120)' "$1" "$TEST_TMP/held" &
	HOLDER=$!
	at_cleanup "kill $HOLDER"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -e "$TEST_TMP/held" ] && return 0
		sleep 0.1
	done
	return 1
}
release_lock() {
	kill "$HOLDER" && wait "$HOLDER" 2>/dev/null
	return 0
}

T=$(new_target t)
SD=$(state_dir "$T")
ok "a first generation" apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v1\n"}]'

# --- 1: init --no-wait that cannot lock leaves the holder's journal.tmp alone
ok "another process holds the lock" hold_lock "$SD/lock"
echo '{"partial' >"$SD/journal.tmp"
expect_exit 3 "init --no-wait on a locked target" "$BTRFS_TXN" init --no-wait "$T"
ok "  the holder's journal.tmp is still there" test -e "$SD/journal.tmp"
expect_exit 3 "apply --timeout 0 on a locked target does not wait" \
	timeout 10 "$BTRFS_TXN" apply --timeout 0 --target "$T" - <<<'{"version": 1, "ops": [{"op": "write", "path": "conf", "content": "v9\n"}]}'
output_has "  names the lock" "is locked by"
release_lock
rm -f "$SD/journal.tmp"

# --- 2: status of a transaction running now
"$BTRFS_TXN" run "$T" -- sh -c 'for i in $(seq 300); do [ -e "$1" ] && exit 0; sleep 0.1; done; exit 1' \
	sh "$TEST_TMP/go" >"$TEST_TMP/run.out" 2>&1 &
RUN=$!
at_cleanup "touch '$TEST_TMP/go'; kill $RUN"
ok "run has journaled its transaction" sh -c 'for i in $(seq 100); do [ -e "$1/journal" ] && exit 0; sleep 0.1; done; exit 1' sh "$SD"
ok "status while run holds the lock" "$BTRFS_TXN" status "$T"
output_has "  says running, with the pid of run" "^running: +run transaction [0-9A-Za-z-]+ \(pid $RUN\)$"
ok "  and not interrupted" sh -c '! grep -q "^interrupted:" "$1"' sh "$TEST_TMP/out.prev"
ok "status --json: running, not interrupted" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '.running == true and .interrupted == false and .running_pid == $RUN and .journal.kind == \"run\" and .locked == true'"
touch "$TEST_TMP/go"
ok "run commits" wait "$RUN"
ok "status --json afterwards: neither running nor interrupted" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '(has(\"running\") | not) and .interrupted == false and (has(\"journal\") | not)'"
expect_exit 137 "an apply killed after the exchange" with_fault exchanged \
	apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v2\n"}]'
ok "status of a journal nobody holds: interrupted, not running" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '(has(\"running\") | not) and .interrupted == true'"
ok "  in text too" "$BTRFS_TXN" status "$T"
output_has "  the interrupted line" "^interrupted: apply transaction .*finishes or undoes it$"
ok "recover" "$BTRFS_TXN" recover "$T"

# --- 3: the library: NULL options and results, a zero-initialised struct waits
HELPER="$TEST_TMP/null-options"
if command -v cc >/dev/null && cc -std=gnu11 -Wall -Wextra -Werror -I"$TOP/txn" \
	-o "$HELPER" "$TOP/tests/integration/t0232-null-options.c" "$TOP/build/libbtrfs-txn.a" \
	-ljansson -lbtrfsutil -lnettle 2>"$TEST_TMP/cc.err"; then
	L=$(new_target lib)
	LSD=$(state_dir "$L")
	ok "txn_apply with NULL options and NULL result" "$HELPER" apply-null "$L" a
	ok "  wrote the file" grep -qx written "$L/a"
	ok "txn_run with NULL options and NULL result" "$HELPER" run-null "$L"
	ok "  wrote its file" grep -qx run "$L/from-run"
	ok "txn_snapshot_tag with NULL options and NULL result" "$HELPER" snapshot-null "$L"
	ok "txn_rollback with NULL options and NULL result" "$HELPER" rollback-null "$L"
	ok "txn_recover with NULL options and NULL result" "$HELPER" recover-null "$L"
	ok "txn_gc with NULL options, notes and count" "$HELPER" gc-null "$L"
	ok "txn_init with NULL options and NULL action" "$HELPER" init-null "$MNT/lib-new"
	ok "  made a subvolume" sh -c "btrfs subvolume show '$MNT/lib-new' >/dev/null"
	ok "another process holds the lock for 1.5 s" hold_lock "$LSD/lock"
	(sleep 1.5 && kill "$HOLDER") &
	START=$(date +%s%N)
	ok "txn_apply with zero-initialised options waits for the lock" "$HELPER" apply-zero "$L" b
	ok "  it did wait (over 1 s)" test $(($(date +%s%N) - START)) -gt 1000000000
	ok "  and wrote the file" grep -qx written "$L/b"
	wait
	# options.keep reaches the recovery that txn_init runs first.
	for i in 1 2 3 4; do
		apply_ops "$L" "[{\"op\": \"write\", \"path\": \"k\", \"content\": \"$i\n\"}]" >/dev/null
	done
	ok "at least 3 generations kept" test "$(ls -d "$LSD"/gen-* | wc -l)" -ge 3
	expect_exit 137 "an apply killed after the exchange" with_fault exchanged \
		apply_ops "$L" '[{"op": "write", "path": "k", "content": "5\n"}]'
	ok "txn_init with keep 1 recovers it" "$HELPER" init-keep "$L" 1
	ok "  keeping 1 generation" test "$(ls -d "$LSD"/gen-* | wc -l)" -eq 1
	ok "  rolled forward" grep -qx 5 "$L/k"
else
	ok "# SKIP no C compiler to build the library caller" true
fi

# --- 4: probe tells a mount point by its mount id
mkdir "$MNT/plain"
ok "probe of a plain directory: not a mount point" sh -c "'$BTRFS_TXN' probe --json '$MNT/plain' | jq -e '.mount_point == false and .subvolume == false'"
ok "probe of a subvolume: not a mount point" sh -c "'$BTRFS_TXN' probe --json '$T' | jq -e '.mount_point == false and .subvolume == true'"
mkdir "$TEST_TMP/sub-mnt"
mount -t btrfs -o subvol=t "$LOOP_DEV" "$TEST_TMP/sub-mnt" && at_cleanup "umount '$TEST_TMP/sub-mnt'"
ok "probe of a subvolume mounted with subvol=: a mount point" sh -c "'$BTRFS_TXN' probe --json '$TEST_TMP/sub-mnt' | jq -e '.mount_point == true and .subvolume == true'"
mount --bind "$MNT/plain" "$MNT/plain" && at_cleanup "umount '$MNT/plain'"
ok "probe of a bind-mounted directory: a mount point" sh -c "'$BTRFS_TXN' probe --json '$MNT/plain' | jq -e '.mount_point == true'"
umount "$MNT/plain"

# --- 5: init: the filesystem type first; the target after the exchange is checked
if [ "$(stat -f -c %T "$TEST_TMP")" != btrfs ]; then
	expect_exit 4 "init of a missing path whose parent is not on Btrfs" "$BTRFS_TXN" init "$TEST_TMP/not-btrfs"
	output_has "  says so, naming the parent" "its parent '$TEST_TMP' is not on a Btrfs filesystem"
	ok "  nothing created" test ! -e "$TEST_TMP/not-btrfs"
fi
D="$MNT/swapped"
mkdir "$D" && echo old >"$D/f"
# After init's exchange, someone moves the new subvolume away and puts another there.
expect_exit 5 "init whose target is replaced right after the exchange" with_hook \
	"[ \"\$1\" = init-exchanged ] && mv '$D' '$MNT/swapped.moved' && btrfs subvolume create '$D' >/dev/null" \
	"$BTRFS_TXN" init "$D"
output_has "  says it is not the subvolume init made" "'$D' is not the subvolume init made \(UUID [0-9a-f-]+, found [0-9a-f-]+\)"
ok "  the journal stays for a person" test -e "$(state_dir "$D")/journal"
ok "  the stranger is left alone" sh -c "btrfs subvolume show '$D' >/dev/null && test ! -e '$D/f'"
ok "  the old directory is left alone" sh -c "ls '$(state_dir "$D")'/init-*/f"

# --- precondition paths that cross out of the tree say how, not "Invalid cross-device link"
P=$(new_target pre)
mkdir "$TEST_TMP/outside" && echo secret >"$TEST_TMP/outside/f"
ln -s "$TEST_TMP/outside" "$P/out"
mkdir "$P/mnt" && mount -t tmpfs none "$P/mnt" && at_cleanup "umount '$P/mnt'"
HASH=$(printf 'secret\n' | sha256sum | cut -c1-64)
expect_abort 1 "a sha256 precondition through a symlink leaving the tree" "$P" \
	apply_ops "$P" '[{"op": "write", "path": "x", "content": "y"}]' "\"preconditions\": [{\"path\": \"out/f\", \"sha256\": \"$HASH\"}]"
output_has "  names the symlink" "precondition failed: 'out/f' cannot be read: 'out' is a symlink to the absolute path '$TEST_TMP/outside', which leaves the tree"
ok "  and not as a cross-device link" sh -c '! grep -q "cross-device" "$1"' sh "$TEST_TMP/out.prev"
expect_abort 1 "an exists precondition below a mount point" "$P" \
	apply_ops "$P" '[{"op": "write", "path": "x", "content": "y"}]' '"preconditions": [{"path": "mnt/x", "exists": false}]'
output_has "  names the mount point" "precondition on 'mnt/x': cannot open its directory: .*'mnt'.*mount"
ok "  and not as a cross-device link" sh -c '! grep -q "cross-device" "$1"' sh "$TEST_TMP/out.prev"

# The steps an apply really marks are the man page's list, in its order: the one
# list the watchdog uses (txn_step_next(), tests/unit/test_step.c checks it against
# the man page) once drifted and named 'history' for a stall in the final sync.
S=$(new_target steps)
: >"$TEST_TMP/steps"
with_hook "echo \"\$1\" >>'$TEST_TMP/steps'" apply_ops "$S" '[{"op": "write", "path": "f", "content": "x"}]' \
	'"verify": {"argv": ["true"]}' >/dev/null
want=$(sed -n '/Steps of apply, in order:/,/done;/p' "$TOP/docs/btrfs-txn.8" | tr '\n' ' ' |
	tr -d '\\' | sed 's/.*in order://; s/done;.*/done/; s/([^)]*)//; s/ //g')
ok "apply marks its steps in the man page's order" test "$(paste -sd, "$TEST_TMP/steps")" = "$want"

done_testing
