#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0460: progress on a terminal. A large apply shows "applying ops: N/TOTAL (P%)" in
# place on one line of stderr when stderr is a terminal (script(1) gives it one),
# at most about ten updates a second; nothing with -q or when stderr is not a
# terminal. init of a plain directory says how many entries it copies.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v script >/dev/null || skip_all "needs script (util-linux)"
btrfs_fixture 1G

B=$BTRFS_TXN
T=$(new_target t)
big_spec() { # big_spec FILE N: N write ops
	{
		printf '{"version": 1, "target": "%s", "ops": [' "$T"
		for ((i = 0; i < $2; i++)); do
			printf '%s{"op": "write", "path": "f%d", "content": "%d-%s"}' "${i:+,}" "$i" "$i" "$1"
		done | sed 's/^,//'
		printf ']}\n'
	} >"$1"
}
big_spec "$TEST_TMP/big1.json" 3000
big_spec "$TEST_TMP/big2.json" 3000
big_spec "$TEST_TMP/big3.json" 3000

start=$EPOCHREALTIME
script -qec "'$B' apply '$TEST_TMP/big1.json'" /dev/null >"$TEST_TMP/tty.out" 2>&1
rc=$?
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a + 1 }')
ok "apply of 3000 ops on a terminal" test "$rc" = 0
ok "  shows the count, ending at 3000/3000 (100%)" grep -q 'applying ops: 3000/3000 (100%)' "$TEST_TMP/tty.out"
updates=$(tr '\r' '\n' <"$TEST_TMP/tty.out" | grep -c 'applying ops:')
ok "  in place ($updates updates on carriage returns, at most 10/s over ${secs}s + 2)" test "$updates" -ge 1 -a "$updates" -le $((secs * 10 + 2))
ok "  on one line: a single newline after the last update" test "$(grep -c 'applying ops:' "$TEST_TMP/tty.out")" = 1
script -qec "'$B' apply -q '$TEST_TMP/big2.json'" /dev/null >"$TEST_TMP/quiet.out" 2>&1
ok "with -q: no progress" sh -c "! grep -q 'applying ops' '$TEST_TMP/quiet.out'"
"$B" apply "$TEST_TMP/big3.json" >"$TEST_TMP/pipe.out" 2>"$TEST_TMP/pipe.err"
ok "stderr not a terminal: no progress" sh -c "! grep -q 'applying ops' '$TEST_TMP/pipe.err' '$TEST_TMP/pipe.out'"
ok "  the usual summary still on stdout" grep -q 'applied 3000 ops' "$TEST_TMP/pipe.out"

mkdir -p "$MNT/plain/sub"
for i in $(seq 1 50); do echo "$i" >"$MNT/plain/sub/f$i"; done
script -qec "'$B' init '$MNT/plain'" /dev/null >"$TEST_TMP/init.out" 2>&1
ok "init of a plain directory on a terminal says what it copies" grep -q 'copying 51 files and directories' "$TEST_TMP/init.out"
mkdir -p "$MNT/plain2" && echo x >"$MNT/plain2/x"
"$B" init "$MNT/plain2" >"$TEST_TMP/init2.out" 2>&1
ok "  and nothing of it when not a terminal" sh -c "! grep -q copying '$TEST_TMP/init2.out'"
done_testing
