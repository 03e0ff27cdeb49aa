#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-spec-examples.sh: every specs/examples/*.json must validate (exit 0, the
# "valid" line on stdout, nothing on stderr), also through --json and stdin.
# Prints TAP; exits 1 on any failure.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
bin=${BTRFS_TXN:-build/btrfs-txn}
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP $bin not built"
	exit 77
fi

specs=(specs/examples/*.json)
echo "1..$((${#specs[@]} * 3))"
n=0 failed=0
check() { # DESCRIPTION COMMAND...: the command must exit 0 with an empty stderr
	local description=$1 err
	shift
	n=$((n + 1))
	if err=$("$@" 2>&1 >/dev/null) && [ -z "$err" ]; then
		echo "ok $n - $description"
	else
		failed=$((failed + 1))
		echo "not ok $n - $description"
		printf '%s\n' "$err" | sed 's/^/# /'
	fi
}
for spec in "${specs[@]}"; do
	check "$spec" sh -c '"$1" validate "$2" | grep -q "^$2: valid, [0-9]* ops\{0,1\}$"' sh "$bin" "$spec"
	check "$spec --json" sh -c '"$1" validate --json "$2" | grep -q "^  \"valid\": true,"' sh "$bin" "$spec"
	check "$spec from stdin" sh -c '"$1" validate -q - < "$2"' sh "$bin" "$spec"
done
[ "$failed" -eq 0 ]
