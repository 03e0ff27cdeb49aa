#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# crashtest-selftest.sh: btrfs-txn-crashtest end to end on the example in
# specs/examples/crashtest/, with a check script that fails on purpose wherever
# release 42 is live. Boots QEMU, so it is a step of make vmcheck (make
# vmcheck-crashtest alone), never of make check. Prints TAP; exits 1 on a failure.
# Usage: vmtests/crashtest-selftest.sh [REORDER]   (default 8 reordered states per epoch)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
example=$root/specs/examples/crashtest
crashtest=$here/crashtest.sh
reorder=${1:-8}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0 bad=0
check() { # check DESCRIPTION COMMAND...
	local description=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $description"
	else
		echo "not ok $n - $description"
		bad=$((bad + 1))
	fi
}
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 77
fi
echo "1..13"

# Bad input: refused before anything boots, naming the file and line.
printf 'apply release-42.json\nfrobnicate now\n' > "$tmp/workload-bad"
cp "$example/release-42.json" "$tmp/"
rc=0
"$crashtest" --tree "$example/tree" --workload "$tmp/workload-bad" --report "$tmp/bad" > "$tmp/bad.out" 2>&1 || rc=$?
check "an unknown workload step is refused with exit 2" test $rc -eq 2
check "  naming FILE:LINE and the step" grep -q "workload-bad:2: unknown step 'frobnicate'" "$tmp/bad.out"
printf 'receive stream.bin\n' > "$tmp/workload-receive"
: > "$tmp/stream.bin"
rc=0
"$crashtest" --tree "$example/tree" --workload "$tmp/workload-receive" --report "$tmp/bad" > "$tmp/receive.out" 2>&1 || rc=$?
if "${BTRFS_TXN:-$root/build/test/btrfs-txn}" help receive > /dev/null 2>&1; then
	check "a receive step is accepted by a btrfs-txn that has receive # SKIP it has" true
else
	check "a receive step on a btrfs-txn without receive fails clearly" \
		grep -q "workload-receive:1: receive: this btrfs-txn .* has no 'receive' command" "$tmp/receive.out"
fi

# The example, checked by a script that fails where release 42 is live. Its tree
# goes in as a compressed tarball, the form a CI job most likely has at hand (a
# directory takes the same path from the archive on).
tar -C "$example/tree" --numeric-owner -czf "$tmp/tree.tar.gz" .
start=$SECONDS
rc=0
"$crashtest" --tree "$tmp/tree.tar.gz" --workload "$example/workload" \
	--check "$example/check-fails-on-42.sh" --reorder "$reorder" --report "$tmp/report" \
	> "$tmp/out" 2> "$tmp/err" || rc=$?
echo "# btrfs-txn-crashtest took $((SECONDS - start)) s: $(tail -n 1 "$tmp/out")"
check "violations of the check script exit 1" test $rc -eq 1
check "the summary line counts them" grep -Eq '^btrfs-txn-crashtest: FAIL: [0-9]+ crash states \([1-9][0-9]* reordered\), [1-9][0-9]* violations, 5 steps' "$tmp/out"
log=$tmp/report/crashcheck.log
total=$(grep -c '^violation: ' "$log")
script=$(grep -c '^violation: .*the check script exited 1: release 42 is live' "$log")
states=$(sed -n 's/^crashcheck: states \([0-9]*\) .*/\1/p' "$log")
check "every violation is the check script's ($script of $total)" test "$total" -gt 0 -a "$script" -eq "$total"
check "the states with release 41 passed ($total of ${states:-?} failed)" test "$total" -lt "${states:-0}"
check "report.json counts the violations" grep -q "\"violations\": $total" "$tmp/report/report.json"
check "report.md names a failing state" grep -q '^| [0-9]* (step-1, ' "$tmp/report/report.md"
check "junit.xml has a failure for step 1" grep -q '<testcase classname="crashtest" name="step-1">' "$tmp/report/junit.xml"
# Step 5 rolls back to release 41, but its crash states before the exchange hold
# release 42, which the check fails on purpose: it gets a verdict of its own, not
# a pass.
check "  and a verdict for step 5 (the rollback to release 41)" grep -q '<testcase classname="crashtest" name="step-5"' "$tmp/report/junit.xml"
rebuild=$(sed -n 's/^rebuild [^:]*: //p' "$tmp/report/report.md" | head -n 1)
rc=1
[ -n "$rebuild" ] && (cd "$tmp" && eval "${rebuild//IMAGE/$tmp/state.img}") > /dev/null 2>&1 && rc=0
check "the rebuild command of a failing state rebuilds its image" test $rc -eq 0
check "  a clean Btrfs" btrfs check --readonly "$tmp/state.img" > /dev/null 2>&1
echo "$((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
