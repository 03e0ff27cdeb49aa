#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0230: no acknowledged write is ever silently lost. Writers of six kinds race
# applies (603 ops: 300 rewrites, a recursive delete, 300 new files), runs and
# rollbacks; after every exit each acknowledged write is in the live tree, or the
# command exited 1 with the target unchanged, or it reported the write in
# 'concurrent_writes' and pinned the generation that holds it (concurrent.py check).
# timeout: 1500
# (T0230_ROUNDS rounds of rollback, apply and run per writer, 20 by default: 360
# commands racing writers, 3 to 5 minutes on a slow 2-core machine; each kind of
# writer is reported in most rounds, and tests 13-22 below provoke the narrow races
# on purpose. T0230_ROUNDS=50 is the longer run.)
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 3G

ROUNDS=${T0230_ROUNDS:-20}
HERE=$(cd "$(dirname "$0")" && pwd)

make_spec() { # TARGET
	python3 - "$1" >"$TEST_TMP/spec.json" <<'PY'
import json, sys
ops = [{"op": "write", "path": f"c/{i}", "content": f"rewrite {i}\n"} for i in range(300)]
ops.append({"op": "delete", "path": "d", "recursive": True, "missing_ok": True})
ops.append({"op": "mkdir", "path": "d"})
ops += [{"op": "write", "path": f"d/{i}", "content": f"new {i}\n"} for i in range(300)]
print(json.dumps({"version": 1, "target": sys.argv[1], "ops": ops}))
PY
}

# one TXN KIND: runs it once, appends its --json document, accepts exit 0 or 1.
one() {
	local what=$1 out rc
	case $what in
	apply) out=$("$BTRFS_TXN" apply --json "$TEST_TMP/spec.json" 2>>"$TEST_TMP/stderr") ;;
	run) out=$("$BTRFS_TXN" run --json "$T" -- sh -c 'echo run >"$BTRFS_TXN_STAGING/runfile"' 2>>"$TEST_TMP/stderr") ;;
	rollback) out=$("$BTRFS_TXN" rollback --json "$T" 2>>"$TEST_TMP/stderr") ;;
	esac
	rc=$?
	echo "#end $what $rc" >>"$ACKS"
	echo "$out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' >>"$REPORTS"
	case $rc in
	0) committed=$((committed + 1)) ;;
	1) aborted=$((aborted + 1)) ;;
	4) [ "$kind" = nested ] && refused=$((refused + 1)) || { echo "$what exited 4"; return 1; } ;;
	*) echo "$what exited $rc"; tail -3 "$TEST_TMP/stderr"; return 1 ;;
	esac
}

race() { # KIND
	local kind=$1 i
	T=$MNT/$kind
	btrfs subvolume create "$T" >/dev/null && mkdir "$T/c" || return 1
	make_spec "$T"
	REPORTS=$TEST_TMP/$kind.reports ACKS=$TEST_TMP/$kind.acks
	: >"$REPORTS"
	: >"$ACKS"
	committed=0 aborted=0 refused=0
	"$BTRFS_TXN" apply -q "$TEST_TMP/spec.json" || return 1
	python3 "$HERE/concurrent.py" write "$kind" "$T" "$ACKS" &
	local writer=$!
	at_cleanup "kill $writer"
	sleep 0.3
	for ((i = 0; i < ROUNDS; i++)); do
		one rollback && one apply && one run || { kill "$writer"; return 1; }
	done
	kill "$writer" && wait "$writer"
	echo "# $kind: $committed committed, $aborted aborted, $refused refused (a nested subvolume)"
	python3 "$HERE/concurrent.py" check "$kind" "$T" "$MNT/.btrfs-txn/$kind" "$ACKS" "$REPORTS"
}

KINDS=${T0230_KINDS:-append held create rename mmap nested}
for kind in $KINDS; do
	ok "writer '$kind' during $ROUNDS applies, runs and rollbacks: nothing lost silently" race "$kind"
	cat "$TEST_TMP/out" | grep '^#' || true
done

# The descriptor held across the switch is reported, and its generation pinned
# (only when the 'held' writer ran: T0230_KINDS may name a subset).
case " $KINDS " in *" held "*)
pinned_gen() { ls "$MNT/.btrfs-txn/$1" | sed -n 's/^pin-//p' | head -1; }
ok "the held descriptor was reported and its generation pinned" \
	test -n "$(pinned_gen held)"
ok "status names the pinned generation" \
	sh -c "'$BTRFS_TXN' status '$MNT/held' | grep -q 'gen-$(pinned_gen held) (pinned'"
ok "history records the concurrent writes" \
	grep -q '"concurrent_writes":\[' "$MNT/.btrfs-txn/held/history.jsonl"
gen=$(pinned_gen held)
ok "gc --keep 0 keeps the pinned generation" \
	sh -c "'$BTRFS_TXN' gc -q '$MNT/held' --keep 0 && test -d '$MNT/.btrfs-txn/held/gen-$gen'"
expect_exit 2 "gc --release of a generation that is not pinned is refused" \
	"$BTRFS_TXN" gc "$MNT/held" --release 999999
ok "gc --release drops the pin, and gc then the generation" \
	sh -c "'$BTRFS_TXN' gc -q '$MNT/held' --release $gen --keep 0 && ! test -e '$MNT/.btrfs-txn/held/pin-$gen'"
;;
esac

# A change made just before an apply starts (the same clock tick as its mark) is
# in its snapshot, not a concurrent write: the apply commits and reports nothing.
T=$MNT/before
btrfs subvolume create "$T" >/dev/null
echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "w", "content": "w\n"}]}' >"$TEST_TMP/w.json"
just_before() {
	local i out
	for i in $(seq 30); do
		echo "$i" >>"$T/log" && chmod 0600 "$T/log" &&
			out=$("$BTRFS_TXN" apply --json "$TEST_TMP/w.json") || return 1
		case $out in *'"concurrent_writes": []'*) ;; *) echo "$out"; return 1 ;; esac
	done
	test "$(wc -l <"$T/log")" -eq 30
}
ok "30 applies right after a write each commit, with nothing to report" just_before

# A write that lands between the last check and the exchange (a step hook runs as
# another process) is reported and pinned; a name that is not plain text is given
# escaped, never dropped, in --json, in the stderr line and in the history.
T=$MNT/late
btrfs subvolume create "$T" >/dev/null
echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "w", "content": "w\n"}]}' >"$TEST_TMP/late.json"
cat >"$TEST_TMP/late-hook.sh" <<HOOK
[ "\$1" = checked ] || exit 0
printf 'late\n' >"$T/\$(printf 'bad\377\033name')"
HOOK
with_hook "sh $TEST_TMP/late-hook.sh \"\$1\"" "$BTRFS_TXN" apply --json "$TEST_TMP/late.json" \
	>"$TEST_TMP/late.out" 2>"$TEST_TMP/late.err"
ok "a write just before the exchange: apply exits 0 and reports it escaped" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["result"] == "committed", d
assert "bad\\xff\\x1bname" in d["concurrent_writes"], d["concurrent_writes"]
assert d["concurrent_writes_escaped"] is True and d["pinned_generation"] == 0, d' "$TEST_TMP/late.out"
ok "... in one stderr line, escaped" python3 -c '
import sys
lines = [l for l in open(sys.argv[1], "rb").read().splitlines() if b"other processes wrote" in l]
assert len(lines) == 1 and b"bad\\xff\\x1bname" in lines[0] and b"\x1b" not in lines[0], lines' "$TEST_TMP/late.err"
ok "... the history line has it" python3 -c '
import json, sys
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert "bad\\xff\\x1bname" in last["concurrent_writes"] and last["pinned"] == 0, last' \
	"$MNT/.btrfs-txn/late/history.jsonl"
ok "... and 'history' names it" sh -c "'$BTRFS_TXN' history '$T' | grep -qF 'writes of other processes kept in gen-0, pinned:'"
ok "... and gen-0 holds the file and is pinned" \
	sh -c "test -e '$MNT/.btrfs-txn/late/pin-0' && ls '$MNT/.btrfs-txn/late/gen-0' | grep -q '^bad'"

# Changes to the target's own root directory: renaming the subvolume moves its ctime,
# so it is judged by a print (mode, owner, flags, size, mtime, extended attributes).
root_change() { # STEP EXPECTED-EXIT COMMAND...: COMMAND run by the step hook at STEP
	local step=$1 want=$2
	shift 2
	root_n=$((${root_n:-0} + 1))
	T=$MNT/root-$root_n
	btrfs subvolume create "$T" >/dev/null && echo x >"$T/todelete"
	[ -z "${root_pre:-}" ] || (export T && sh -c "$root_pre") || return 1
	echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "w", "content": "w\n"}]}' >"$TEST_TMP/r.json"
	printf '[ "$1" = %s ] || exit 0\nT=%s\n%s\n' "$step" "$T" "$*" >"$TEST_TMP/r-hook.sh"
	with_hook "sh $TEST_TMP/r-hook.sh \"\$1\"" "$BTRFS_TXN" apply --json "$TEST_TMP/r.json" \
		>"$TEST_TMP/r.out" 2>/dev/null
	local rc=$?
	[ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want"; return 1; }
	[ "$want" -eq 1 ] && return 0
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert "." in d["concurrent_writes"] and d["pinned_generation"] == 0, d' "$TEST_TMP/r.out"
}
ok "an xattr set on T's root before the last check aborts" \
	root_change staged 1 'python3 -c "import os, sys; os.setxattr(sys.argv[1], \"user.red\", b\"x\")" "$T"'
ok "an xattr set on T's root after it is reported and pinned" \
	root_change checked 0 'python3 -c "import os, sys; os.setxattr(sys.argv[1], \"user.red\", b\"x\")" "$T"'
ok "chattr +A on T's root after it is reported" root_change checked 0 'chattr +A "$T"'
ok "chmod of T's root after it is reported" root_change checked 0 'chmod 0700 "$T"'
ok "an entry removed with the root's mtime set back is reported" \
	root_change checked 0 'm=$(stat -c %y "$T"); rm "$T/todelete" && touch -m -d "$m" "$T"'
# a large attribute (the print hashed only its first 4 KiB: a change past them was lost)
root_pre='python3 -c "import os; os.setxattr(os.environ[\"T\"], \"user.big\", b\"a\" * 5000)"'
ok "a change past the first 4 KiB of a large xattr on T's root, after the last check, is reported" \
	root_change checked 0 'python3 -c "import os, sys; os.setxattr(sys.argv[1], \"user.big\", b\"a\" * 4999 + b\"b\")" "$T"'
root_pre=

# Descriptors /proc/PID/fd does not show: a process whose main thread has exited
# while another thread holds the file, and a thread with a descriptor table of its
# own (unshare(CLONE_FILES)). Each writes once after the exchange: it must be found
# through /proc/PID/task, reported and pinned.
if command -v cc >/dev/null; then
	cat >"$TEST_TMP/ghost.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
static const char *mode, *file, *go, *ready;
static int fd = -1;
static void *worker(void *unused)
{
	(void)unused;
	if (strcmp(mode, "unshare") == 0) {
		if (unshare(CLONE_FILES) < 0 || (fd = open(file, O_WRONLY | O_APPEND)) < 0)
			_exit(1);
		close(open(ready, O_CREAT | O_WRONLY, 0644));
	}
	while (access(go, F_OK) < 0)
		usleep(1000);
	if (write(fd, "late\n", 5) != 5)
		_exit(1);
	pause();
	return NULL;
}
int main(int argc, char **argv)
{
	pthread_t t;
	if (argc != 5)
		return 2;
	mode = argv[1], file = argv[2], go = argv[3], ready = argv[4];
	if (strcmp(mode, "exit") == 0) {
		if ((fd = open(file, O_WRONLY | O_APPEND)) < 0)
			return 1;
		close(open(ready, O_CREAT | O_WRONLY, 0644));
	}
	pthread_create(&t, NULL, worker, NULL);
	if (strcmp(mode, "exit") == 0)
		pthread_exit(NULL);
	pause();
}
C
	cc -pthread -o "$TEST_TMP/ghost" "$TEST_TMP/ghost.c" || echo "Bail out! cannot build the ghost writer"
	for mode in exit unshare; do
		T=$MNT/ghost-$mode
		btrfs subvolume create "$T" >/dev/null && echo start >"$T/g"
		echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "w", "content": "w\n"}]}' >"$TEST_TMP/g.json"
		rm -f "$TEST_TMP/go" "$TEST_TMP/ready"
		"$TEST_TMP/ghost" "$mode" "$T/g" "$TEST_TMP/go" "$TEST_TMP/ready" &
		ghost=$!
		at_cleanup "kill $ghost"
		while [ ! -e "$TEST_TMP/ready" ]; do sleep 0.05; done
		sleep 0.1
		with_hook "[ \"\$1\" = synced ] && touch '$TEST_TMP/go'; true" \
			"$BTRFS_TXN" apply --json "$TEST_TMP/g.json" >"$TEST_TMP/g.out" 2>/dev/null
		sleep 0.2
		ok "a writer thread hidden from /proc/PID/fd ($mode) is reported and pinned" python3 -c '
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["result"] == "committed" and d["concurrent_writers"], d
assert os.path.exists(sys.argv[2] + "/pin-0"), "no pin"
assert open(sys.argv[3] + "/gen-0/g").read() == "start\nlate\n"' "$TEST_TMP/g.out" "$MNT/.btrfs-txn/ghost-$mode" "$MNT/.btrfs-txn/ghost-$mode"
		kill $ghost 2>/dev/null
	done
fi

# One write(2) that starts before the mark and lands after the snapshot: the kernel
# stamps ctime when the write starts, so the inode's ctime lies before the mark while
# its second MiB lands in T (stalled on a userfaultfd page until the snapshot is
# taken). Judged by the transaction of its file extent items, it is reported and
# pinned; judged by ctime alone it was lost (exit 0, nothing reported).
if command -v cc >/dev/null && cc -pthread -o "$TEST_TMP/stalled-write" "$HERE/stalled-write.c"; then
	T=$MNT/stalled
	btrfs subvolume create "$T" >/dev/null && echo x >"$T/other"
	rm -f "$TEST_TMP"/sw.*
	"$TEST_TMP/stalled-write" "$T/big" "$TEST_TMP/sw.ready" "$TEST_TMP/sw.go" "$TEST_TMP/sw.done" \
		>"$TEST_TMP/sw.out" 2>&1 &
	writer=$!
	for _ in $(seq 500); do [ -e "$TEST_TMP/sw.ready" ] && break; sleep 0.01; done
	echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "other", "content": "y\n"}]}' \
		>"$TEST_TMP/sw.json"
	printf '[ "$1" = snapshotted ] || exit 0\ntouch %s\nfor _ in $(seq 1000); do [ -e %s ] && exit 0; sleep 0.01; done\n' \
		"$TEST_TMP/sw.go" "$TEST_TMP/sw.done" >"$TEST_TMP/sw-hook.sh"
	with_hook "sh $TEST_TMP/sw-hook.sh \"\$1\"" "$BTRFS_TXN" apply --json "$TEST_TMP/sw.json" \
		>"$TEST_TMP/sw.apply" 2>"$TEST_TMP/sw.err"
	rc=$?
	wait $writer
	ok "a write that starts before the mark and lands after the snapshot is not lost (exit $rc)" python3 -c '
import json, os, sys
rc, out, t, state = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
assert open(sys.argv[5]).read().strip() == str(2 << 20), "the write did not complete"
if rc == 1:
    assert os.path.getsize(t + "/big") == 2 << 20, "aborted, but the write is not in T"
else:
    d = json.load(open(out))
    assert rc == 0 and "big" in d["concurrent_writes"], d
    assert os.path.exists("%s/pin-%d" % (state, d["pinned_generation"])), "not pinned"
    assert os.path.getsize("%s/gen-%d/big" % (state, d["pinned_generation"])) == 2 << 20
' "$rc" "$TEST_TMP/sw.apply" "$T" "$MNT/.btrfs-txn/stalled" "$TEST_TMP/sw.out"
	[ "$_failed" -eq 0 ] || sed 's/^/# /' "$TEST_TMP/sw.apply" "$TEST_TMP/sw.err" "$TEST_TMP/sw.out"
fi

# A writable descriptor handed on from process to process (each forks and exits at
# once) from the exchange on, written through only after apply's last check (at its
# 'done' step): the scan of /proc lists the processes once, and each one it lists
# has handed the descriptor on by the time it is looked at. /proc is listed again
# after the scan until no new process appears: the holder is found, reported and its
# generation pinned; with one listing it was missed (exit 0, nothing pinned).
if command -v cc >/dev/null && cc -o "$TEST_TMP/fd-hopper" "$HERE/fd-hopper.c"; then
	T=$MNT/hopper
	btrfs subvolume create "$T" >/dev/null && echo original >"$T/hopfile"
	rm -f "$TEST_TMP"/hop.*
	"$TEST_TMP/fd-hopper" "$T/hopfile" "$TEST_TMP/hop.arm" "$TEST_TMP/hop.write" "$TEST_TMP/hop.ack"
	echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "w", "content": "w\n"}]}' \
		>"$TEST_TMP/hop.json"
	printf 'case $1 in\nexchanged) touch %s; sleep 0.01 ;;\ndone) touch %s; for _ in $(seq 500); do [ -e %s ] && break; sleep 0.01; done ;;\nesac\n' \
		"$TEST_TMP/hop.arm" "$TEST_TMP/hop.write" "$TEST_TMP/hop.ack" >"$TEST_TMP/hop-hook.sh"
	with_hook "sh $TEST_TMP/hop-hook.sh \"\$1\"" "$BTRFS_TXN" apply --json "$TEST_TMP/hop.json" \
		>"$TEST_TMP/hop.apply" 2>"$TEST_TMP/hop.err"
	rc=$?
	ok "a descriptor handed from process to process is found, its generation pinned (exit $rc)" python3 -c '
import json, os, sys
rc, out, state, ack = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
assert "pwrite 7 fdatasync 0" in open(ack).read(), "the write was not acknowledged"
d = json.load(open(out))
assert rc == 0 and d["concurrent_writes"], d
gen = d["pinned_generation"]
assert os.path.exists("%s/pin-%d" % (state, gen)), "not pinned"
assert open("%s/gen-%d/hopfile" % (state, gen)).read().startswith("HOPPED\n")
' "$rc" "$TEST_TMP/hop.apply" "$MNT/.btrfs-txn/hopper" "$TEST_TMP/hop.ack"
	[ "$_failed" -eq 0 ] || sed 's/^/# /' "$TEST_TMP/hop.apply" "$TEST_TMP/hop.err" "$TEST_TMP/hop.ack"
fi

# An apply killed right after the exchange: recovery makes the check it did not get
# to, with the mark the staged record keeps, and pins what a held descriptor wrote.
T=$MNT/killed
btrfs subvolume create "$T" >/dev/null && mkdir "$T/c"
make_spec "$T"
"$BTRFS_TXN" apply -q "$TEST_TMP/spec.json"
# A process holds T/held open, quiet until the apply is killed, then writes.
python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
os.write(fd, b"after the exchange\n")
time.sleep(300)' "$T/held" "$TEST_TMP/go" &
writer=$!
at_cleanup "kill $writer"
while [ ! -e "$TEST_TMP/go.ready" ]; do sleep 0.05; done
sleep 0.1
expect_exit 137 "an apply killed after the exchange" \
	with_fault exchanged "$BTRFS_TXN" apply "$TEST_TMP/spec.json"
touch "$TEST_TMP/go"
sleep 0.3
"$BTRFS_TXN" recover --json "$T" >"$TEST_TMP/recover.json" 2>"$TEST_TMP/recover.err"
kill "$writer"; wait "$writer"
ok "recover rolls forward and reports the pinned generation" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["action"] == "rolled-forward" and d["pinned_generation"] > 0, d' "$TEST_TMP/recover.json"
ok "... with one line on stderr" grep -q "other processes wrote to the replaced tree" "$TEST_TMP/recover.err"
ok "... and the pin and history line are there" \
	sh -c "test -e '$MNT/.btrfs-txn/killed/pin-1' && grep -q '\"pinned\":1' '$MNT/.btrfs-txn/killed/history.jsonl'"

done_testing
