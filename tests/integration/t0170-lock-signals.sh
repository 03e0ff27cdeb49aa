#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0170: the lock and signals. A run stopped at step 'applied' holds the lock: a
# second run with --no-wait or --timeout exits 3 naming the holder's pid, a waiting
# one goes through once the holder finishes, and a killed holder's lock is free.
# SIGTERM/SIGINT/SIGHUP before the commit point abort with exit 1 and the target
# unchanged; after it, the transaction is finished.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v0\n"}]' >/dev/null
spec() { # NAME CONTENT -> a spec file writing CONTENT to NAME
	local f="$TEST_TMP/spec-$1-$2.json"
	printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "%s", "content": "%s"}]}\n' "$T" "$1" "$2" >"$f"
	printf '%s\n' "$f"
}
# wait_stopped PID: until the process is stopped (state T), at most 10 s
wait_stopped() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = T ] && return 0
		sleep 0.05
	done
	return 1
}
holder=
stop_holder() { [ -n "$holder" ] && kill -CONT "$holder" 2>/dev/null && kill -KILL "$holder" 2>/dev/null; true; }
at_cleanup stop_holder

# Read T before the holder starts: a first read after a write updates atimes, and
# the holder would take that for a concurrent writer (see t0111).
manifest "$T" >"$TEST_TMP/m0"
BTRFS_TXN_FAULT=applied:stop "$BTRFS_TXN" apply "$(spec conf v1)" >"$TEST_TMP/holder.out" 2>&1 &
holder=$!
ok "a first apply stops at 'applied' holding the lock" wait_stopped "$holder"
expect_exit 3 "a second apply with --no-wait" "$BTRFS_TXN" apply --no-wait "$(spec other x)"
output_has "  names the holder's pid" "locked by pid $holder \(btrfs-txn apply"
start=$SECONDS
expect_exit 3 "a second apply with --timeout 1" "$BTRFS_TXN" apply --timeout 1 "$(spec other x)"
output_has "  says still locked after 1 s, naming the pid" "still locked by pid $holder.*after 1 s"
ok "  gave up after about a second" test $((SECONDS - start)) -lt 5
ok "  the target is unchanged by both" same_manifest "$TEST_TMP/m0" "$T"
ok "  and only the holder's staging exists" test "$(ls -d "$SD"/staging-* | wc -l)" = 1
expect_exit 3 "rollback --no-wait" "$BTRFS_TXN" rollback --no-wait "$T"
expect_exit 3 "gc --no-wait" "$BTRFS_TXN" gc --no-wait "$T"
expect_exit 3 "recover --no-wait" "$BTRFS_TXN" recover --no-wait "$T"
output_has "  recover does not touch a running transaction" "locked by pid $holder"
"$BTRFS_TXN" status --json "$T" >"$TEST_TMP/status.json"
ok "status shows locked by the holder and its transaction in flight" jq -e ".locked and (.lock_holder | test(\"pid $holder \")) and .running and .running_pid == $holder and (.interrupted | not)" "$TEST_TMP/status.json"
ok "  the staging of the holder is still there (not removed by the others)" sh -c "ls -d '$SD'/staging-* >/dev/null"

# A waiting run goes through once the holder finishes.
"$BTRFS_TXN" apply --timeout 30 "$(spec waiter w)" >"$TEST_TMP/waiter.out" 2>&1 &
waiter=$!
sleep 0.3
ok "the waiter is still waiting while the holder is stopped" kill -0 "$waiter"
kill -CONT "$holder"
wait "$holder"
ok "the holder, continued, commits" sh -c "test $? = 0 || { cat '$TEST_TMP/holder.out'; exit 1; }"
holder=
wait "$waiter"
ok "the waiter then commits too" test $? = 0
# The waiter opened T before the holder's exchange: it must work on the new tree,
# not on the old one its early fd still pointed at (that lost the holder's commit).
ok "  both changes are in the tree (the holder's commit is not lost)" test "$(cat "$T/conf") $(cat "$T/waiter")" = "v1 w"
ok "  the lock is free and nothing is in flight" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '(.locked | not) and (.interrupted | not)'"
ok "  no staging left" no_staging "$T"

# A holder that dies (SIGKILL while stopped) leaves the lock free; the next run recovers.
BTRFS_TXN_FAULT=applied:stop "$BTRFS_TXN" apply "$(spec conf dead)" >/dev/null 2>&1 &
holder=$!
wait_stopped "$holder"
kill -KILL "$holder"
wait "$holder" 2>/dev/null
holder=
ok "after the holder is killed, apply --no-wait gets the lock and recovers first" "$BTRFS_TXN" apply --json --no-wait "$(spec after a)"
output_has "  recovered_first" '"recovered_first": true'
ok "  the dead run's change is not there" test "$(cat "$T/conf")" = v1
ok "  no staging left" no_staging "$T"

# A run waiting for the lock can be interrupted.
BTRFS_TXN_FAULT=applied:stop "$BTRFS_TXN" apply "$(spec conf v2)" >/dev/null 2>&1 &
holder=$!
wait_stopped "$holder"
"$BTRFS_TXN" apply --timeout 30 "$(spec other y)" >"$TEST_TMP/int.out" 2>&1 &
waiter=$!
sleep 0.3
kill -TERM "$waiter"
start=$SECONDS
wait "$waiter"
ok "SIGTERM while waiting for the lock: exit 1" test $? = 1
ok "  at once" test $((SECONDS - start)) -lt 3
ok "  says so" grep -q "interrupted while waiting for the lock" "$TEST_TMP/int.out"
kill -CONT "$holder" && wait "$holder"
holder=
ok "  the holder still commits" test "$(cat "$T/conf")" = v2

# Signals from the step hook ($PPID there is btrfs-txn: the hook is its child sh).
ok "the step hook's parent is btrfs-txn" with_hook '[ "$1" = applied ] && readlink /proc/$PPID/exe > '"$TEST_TMP/ppid-exe"'; true' "$BTRFS_TXN" apply "$(spec hookcheck h)"
ok "  readlink of /proc/\$PPID/exe is the binary" test "$(cat "$TEST_TMP/ppid-exe")" = "$(realpath "$BTRFS_TXN")"
for sig in TERM INT HUP; do
	for step in applied verified flushed checked; do
		expect_abort 1 "SIG$sig at '$step' aborts" "$T" with_hook "[ \"\$1\" = $step ] && kill -$sig \$PPID; true" "$BTRFS_TXN" apply "$(spec conf "sig-$sig-$step")"
		output_has "  says interrupted before the commit point" "interrupted by signal [0-9]+ before the commit point"
	done
done
ok "  history records them as aborted" test "$(jq -r 'select(.reason != null and (.reason | test("interrupted by signal"))) | .result' "$SD/history.jsonl" | sort -u)" = aborted
manifest "$T" >"$TEST_TMP/before-exchange"
ok "SIGTERM at 'exchanged' (after the commit point): finished, exit 0" with_hook '[ "$1" = exchanged ] && kill -TERM $PPID; true' "$BTRFS_TXN" apply "$(spec conf late)"
ok "  the new tree is in place" test "$(cat "$T/conf")" = late
ok "  committed in history" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.result == \"committed\"'"
ok "  nothing in flight, no staging" sh -c "$(declare -f state_dir no_staging); no_staging '$T' && test ! -e '$SD/journal'"
manifest "$T" >"$TEST_TMP/before-verify"
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "conf", "content": "slow"}], "verify": {"argv": ["sh", "-c", "echo $$ > %s/verify.pid; exec sleep 30"], "timeout": 60}}\n' "$T" "$TEST_TMP" >"$TEST_TMP/slow.json"
"$BTRFS_TXN" apply "$TEST_TMP/slow.json" >"$TEST_TMP/slow.out" 2>&1 &
slow=$!
for ((i = 0; i < 200; i++)); do [ -s "$TEST_TMP/verify.pid" ] && break; sleep 0.05; done
start=$SECONDS
kill -TERM "$slow"
wait "$slow"
ok "SIGTERM during a long verify hook: exit 1" test $? = 1
ok "  at once, not after the hook's 30 s" test $((SECONDS - start)) -lt 5
ok "  the hook was killed" sh -c "! kill -0 $(cat "$TEST_TMP/verify.pid" 2>/dev/null || echo 999999) 2>/dev/null"
ok "  target unchanged" same_manifest "$TEST_TMP/before-verify" "$T"
ok "  no staging left" no_staging "$T"

done_testing
