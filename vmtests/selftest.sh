#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# selftest.sh: check the vmtests harness itself (make vmcheck-selftest).
# Usage: vmtests/selftest.sh ORCHESTRATOR IMAGE_DIR
#
# Runs the scenarios in vmtests/scenarios-selftest, which fail, hang, skip and
# misbehave on purpose, and checks that each is reported as it should be: a hang is
# killed near its timeout and reported as one, the suite goes on to the next scenario,
# and the summary line adds up. Prints TAP; exits non-zero if the harness is wrong.
set -uo pipefail

orchestrator=$1 image=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT

start=$(date +%s)
# Its own report directory: the main suite's report.json stays as that run left it.
"$orchestrator" --image "$image" --scenarios vmtests/scenarios-selftest \
	--reorder "${VMTEST_REORDER:-64}" \
	--report-dir "$(dirname "$image")/vmtests/selftest" > "$out"
status=$?
elapsed=$(( $(date +%s) - start ))
sed 's/^/# | /' "$out"

n=0 bad=0
check() { # check DESCRIPTION COMMAND...
	local description=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $description"
	else
		echo "not ok $n $description"
		bad=$((bad + 1))
	fi
}
has() { grep -Eq "$1" "$out"; }

echo "1..19"
check "a failing scenario exits 1" test "$status" -eq 1
check "a failing step is 'not ok' with its status" has '^not ok [0-9]+ fail # boot 1: a step failed with status 1'
check "the failing step shows in the console tail" has '^# +\+ false$'
check "a hang is killed and reported as a timeout" has '^not ok [0-9]+ hang # timeout after 15 s \(boot 1\)'
hang_seconds=$(awk '$1 == "#" && $2 == "hang" { print int($4) }' "$out")
check "the hang was killed within 5 s of its 15 s timeout" test "${hang_seconds:-99}" -lt 20
check "the timeout report carries the last console lines" has '^# +selftest: hanging on purpose$'
check "a D-state task is reported by the guest kernel" has '^# hung-task: the guest kernel reported a hung task'
check "a missing btrfs-txn command is a skip, with its reason" \
	has '^ok [0-9]+ skip # SKIP btrfs-txn no-such-command is not implemented in this build$'
check "a tree differing in one mode fails vm_expect_tree" has '^not ok [0-9]+ tree-diff # tree /tmp/b differs from /tmp/tree.a'
check "a missing boot function fails and the suite goes on" has '^not ok [0-9]+ too-many-boots # .*defines no boot_2'
check "the scenario after them still runs and passes" has '^ok [0-9]+ zz-alive$'
# The protocol broken on purpose (BTRFS_TXN_UNSAFE_SKIP_FLUSH, see the three
# scenarios): without the step-7 flush, the first commit after the exchange (the old
# tree's read-only flag, or another process's) carries the exchange without the
# staged data, with or without the step-10 sync skipped as well.
check "a missing step-7 flush fails the suite with violations" \
	has '^not ok [0-9]+ crash-unsafe-flush # [0-9]+ violations in [0-9]+ crash states$'
check "apply without its flush and sync fails the suite with violations" \
	has '^not ok [0-9]+ crash-unsafe-sync # [0-9]+ violations in [0-9]+ crash states$'
check "the violations name a torn or lost tree after 'returned'" \
	has '^# crash-unsafe-sync: violation: state [0-9]+ \(apply-[0-9], .*\): the target is not the new tree'
check "without the step-7 flush, a commit by another process after the exchange is caught" \
	has '^not ok [0-9]+ crash-unsafe-flush-commit # [0-9]+ violations in [0-9]+ crash states$'
# Reordered states catch each break that prefix replay catches, on their own...
for name in crash-unsafe-flush crash-unsafe-sync crash-unsafe-flush-commit; do
	check "reordered states alone catch $name" \
		has "^# $name: [0-9]+ crash states checked \\([0-9]+ reordered\\), [0-9]+ violations \\([1-9][0-9]* in reordered states\\)"
done
# ... and one that only they catch: commits ordered by completion, not by a FLUSH
# (nobarrier, the disk flushed after each apply).
check "only reordered states catch commits without a FLUSH before the super block" \
	has '^# crash-nobarrier: [0-9]+ crash states checked \([0-9]+ reordered\), ([1-9][0-9]*) violations \(\1 in reordered states\)'
check "the summary line adds up" test "$(tail -n1 "$out")" = "1 passed, 9 failed, 1 skipped"
echo "# selftest took $elapsed s"
echo "$((n - bad)) passed, $bad failed, 0 skipped"
[ $bad -eq 0 ]
