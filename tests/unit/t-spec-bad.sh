#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-spec-bad.sh: every specs/bad/NAME.json must be refused by `btrfs-txn validate`
# with exit 2 and exactly the one line in NAME.err on stderr (file, line, column,
# pointer and message), and nothing on stdout. Prints TAP; exits 1 on any mismatch.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
bin=${BTRFS_TXN:-build/btrfs-txn}
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP $bin not built"
	exit 77
fi

specs=(specs/bad/*.json)
echo "1..${#specs[@]}"
n=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in "${specs[@]}"; do
	n=$((n + 1))
	name=${spec%.json}
	"$bin" validate "$spec" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	problem=
	if [ ! -f "$name.err" ]; then
		problem="no $name.err"
	elif [ "$rc" -ne 2 ]; then
		problem="exit $rc, expected 2"
	elif ! cmp -s "$tmp/err" "$name.err"; then
		problem="stderr differs"
	elif [ -s "$tmp/out" ]; then
		problem="unexpected output on stdout"
	fi
	if [ -z "$problem" ]; then
		echo "ok $n - $spec"
	else
		failed=$((failed + 1))
		echo "not ok $n - $spec: $problem"
		[ -f "$name.err" ] && sed 's/^/# expected: /' "$name.err"
		sed 's/^/# got:      /' "$tmp/err"
	fi
done
[ "$failed" -eq 0 ]
