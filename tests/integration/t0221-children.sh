#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0221: children die with btrfs-txn. A SIGKILLed init leaves no cp running, a
# SIGKILLed run no COMMAND (nor what COMMAND started), a SIGKILLed apply no verify
# hook; each child writes its pid to a file, which the test then checks. Recovery
# of an init never deletes a tree that a live process still uses: it exits 5 naming
# the process, kills nothing, and finishes once the process is gone.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

# gone PIDFILE...: every pid named in the files is dead within 3 s.
gone() {
	local f pid i
	for f in "$@"; do
		pid=$(cat "$f") || return 1
		for i in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || continue 2
			sleep 0.1
		done
		echo "pid $pid from $f still runs: $(cat /proc/"$pid"/cmdline 2>/dev/null | tr '\0' ' ')"
		return 1
	done
}
# wait_for FILE: bounded wait for FILE to exist and be non-empty.
wait_for() {
	local i
	for i in $(seq 1 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "$1 never appeared"
	return 1
}
# kill_all PIDFILE...: the test's own cleanup, whatever btrfs-txn did.
kill_all() {
	local f
	for f in "$@"; do [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	return 0
}
is_subvolume() { btrfs subvolume show "$1" >/dev/null 2>&1; }

# run: COMMAND and what it started in the background
T=$(new_target run)
echo old >"$T/f"
rm -f "$TEST_TMP/cmd.pid" "$TEST_TMP/bg.pid"
"$BTRFS_TXN" run "$T" -- sh -c "echo \$\$ >'$TEST_TMP/cmd.pid'; sleep 300 & echo \$! >'$TEST_TMP/bg.pid'; echo new >{staging}/f; wait" \
	</dev/null >/dev/null 2>&1 &
txn=$!
at_cleanup "kill_all '$TEST_TMP/cmd.pid' '$TEST_TMP/bg.pid'"
ok "run: COMMAND started" wait_for "$TEST_TMP/bg.pid"
kill -9 $txn && wait $txn 2>/dev/null
ok "  after SIGKILL of btrfs-txn, COMMAND is gone" gone "$TEST_TMP/cmd.pid"
ok "  and what COMMAND started in the background too" gone "$TEST_TMP/bg.pid"
ok "  recover then undoes the run" "$BTRFS_TXN" recover "$T"
ok "  the target is unchanged" test "$(cat "$T/f")" = old
ok "  no staging left" no_staging "$T"

# apply: the verify hook
rm -f "$TEST_TMP/hook.pid" "$TEST_TMP/hookbg.pid"
cat >"$TEST_TMP/hook.json" <<EOF
{"version": 1, "target": "$T", "ops": [{"op": "write", "path": "f", "content": "hooked\n"}],
 "verify": {"argv": ["sh", "-c", "echo \$\$ >$TEST_TMP/hook.pid; sleep 300 & echo \$! >$TEST_TMP/hookbg.pid; wait"], "timeout": 600}}
EOF
"$BTRFS_TXN" apply "$TEST_TMP/hook.json" >/dev/null 2>&1 &
txn=$!
at_cleanup "kill_all '$TEST_TMP/hook.pid' '$TEST_TMP/hookbg.pid'"
ok "apply: the verify hook started" wait_for "$TEST_TMP/hookbg.pid"
kill -9 $txn && wait $txn 2>/dev/null
ok "  after SIGKILL of btrfs-txn, the hook is gone" gone "$TEST_TMP/hook.pid"
ok "  and what the hook started too" gone "$TEST_TMP/hookbg.pid"
ok "  recover then undoes the apply" "$BTRFS_TXN" recover "$T"
ok "  the target is unchanged" test "$(cat "$T/f")" = old

# init: cp (a stand-in that records its pid and stays, as a long copy would)
mkdir -p "$TEST_TMP/bin"
cat >"$TEST_TMP/bin/cp" <<EOF
#!/bin/sh
echo \$\$ >'$TEST_TMP/cp.pid'
exec sleep 300
EOF
chmod +x "$TEST_TMP/bin/cp"
D="$MNT/plain"
mkdir -p "$D/sub" && echo data >"$D/sub/f"
manifest "$D" >"$TEST_TMP/plain"
rm -f "$TEST_TMP/cp.pid"
mkdir -p "$MNT/plain-path" && echo data >"$MNT/plain-path/f"
# init runs /usr/bin/cp or /bin/cp, never one found through PATH.
ok "init: a cp first in PATH is not run" timeout 120 env PATH="$TEST_TMP/bin:$PATH" "$BTRFS_TXN" init "$MNT/plain-path" \
	&& ok "  the copy is made all the same" test "$(cat "$MNT/plain-path/f" 2>&1)" = data \
	&& ok "  and the stand-in never ran" test ! -e "$TEST_TMP/cp.pid"
# The test build's BTRFS_TXN_CP puts the stand-in in.
BTRFS_TXN_CP="$TEST_TMP/bin/cp" "$BTRFS_TXN" init "$D" >/dev/null 2>&1 &
txn=$!
at_cleanup "kill_all '$TEST_TMP/cp.pid'"
ok "init: cp started" wait_for "$TEST_TMP/cp.pid"
kill -9 $txn && wait $txn 2>/dev/null
ok "  after SIGKILL of btrfs-txn, cp is gone" gone "$TEST_TMP/cp.pid"
ok "  recover undoes the init" "$BTRFS_TXN" recover "$D"
ok "  the directory is unchanged" same_manifest "$TEST_TMP/plain" "$D"
ok "  nothing left" no_staging "$D"

# Recovery of an init with a live process in the new subvolume (before the
# exchange) or in the old directory (after it): exit 5 naming it, nothing deleted.
for step in init-copied init-exchanged; do
	D="$MNT/used-$step"
	mkdir -p "$D/sub" && echo "$step" >"$D/sub/f"
	manifest "$D" >"$TEST_TMP/used"
	expect_exit 137 "init killed at $step" with_fault "$step" "$BTRFS_TXN" init "$D"
	left=$(cd "$(state_dir "$D")" && ls -d init-*)
	(cd "$(state_dir "$D")/$left/sub" && exec sleep 300) &
	holder=$!
	at_cleanup "kill -9 $holder"
	sleep 0.2
	expect_exit 5 "  [$step] recover while a process has its cwd in $left" "$BTRFS_TXN" recover "$D"
	output_has "  [$step] names the pid and the tree" "pid $holder \(sleep\) cwd .*$left"
	ok "  [$step] the process was not killed" kill -0 $holder
	ok "  [$step] the tree is still there" test -d "$(state_dir "$D")/$left/sub"
	kill -9 $holder && wait $holder 2>/dev/null
	ok "  [$step] once it is gone, recover finishes" "$BTRFS_TXN" recover "$D"
	ok "  [$step] content identical" same_manifest "$TEST_TMP/used" "$D"
	ok "  [$step] nothing left" no_staging "$D"
done

# Recovery of an apply killed before the commit point, with a live process whose
# working directory is in its staging tree: exit 5 naming it, nothing deleted.
T=$(new_target applied)
echo before >"$T/f"
mkdir "$T/sub"
manifest "$T" >"$TEST_TMP/applied"
echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "f", "content": "after\n"}]}' >"$TEST_TMP/a.json"
expect_exit 137 "apply killed at 'applied'" with_fault applied "$BTRFS_TXN" apply "$TEST_TMP/a.json"
left=$(cd "$(state_dir "$T")" && ls -d staging-*)
(cd "$(state_dir "$T")/$left/sub" && exec sleep 300) &
holder=$!
at_cleanup "kill -9 $holder"
sleep 0.2
expect_exit 5 "recover while a process has its cwd in $left" "$BTRFS_TXN" recover "$T"
output_has "names the pid and the staging tree" "pid $holder \(sleep\) cwd .*$left"
ok "the process was not killed" kill -0 $holder
ok "the staging tree is still there" test -d "$(state_dir "$T")/$left/sub"
kill -9 $holder && wait $holder 2>/dev/null
ok "once it is gone, recover finishes" "$BTRFS_TXN" recover "$T"
ok "the target is unchanged" same_manifest "$TEST_TMP/applied" "$T"
ok "no staging left" no_staging "$T"

done_testing
