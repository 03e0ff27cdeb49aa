#!/usr/bin/env bash
# run-tests.sh: run test executables, each bounded in time, and count the results.
# Exit 0 is a pass, 77 a skip (no root, no Btrfs, ...), anything else a failure. Each
# test prints TAP; its output is shown when it fails or when VERBOSE=1.
# Usage: tests/run-tests.sh TEST...      (TEST_TIMEOUT=seconds, default 600)
set -u
export CMOCKA_MESSAGE_OUTPUT=TAP
timeout_s=${TEST_TIMEOUT:-600}
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/btrfs-txn-tests.XXXXXX")
trap 'rm -rf "$log_dir"' EXIT

passed=0 failed=0 skipped=0 failures=()
for test in "$@"; do
	[ -e "$test" ] || continue
	name=${test##*/}
	log="$log_dir/$name.log"
	start=$EPOCHREALTIME
	timeout --kill-after=10 "$timeout_s" "$test" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) passed=$((passed + 1)); printf 'PASS  %-44s %6ss\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1))
	    printf 'SKIP  %-44s %s\n' "$name" "$(grep -m1 -o 'SKIP.*' "$log" || echo)" ;;
	124|137) failed=$((failed + 1)); failures+=("$name")
	    printf 'FAIL  %-44s timed out after %ss\n' "$name" "$timeout_s" ;;
	*) failed=$((failed + 1)); failures+=("$name"); printf 'FAIL  %-44s exit %d\n' "$name" "$rc" ;;
	esac
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || [ "${VERBOSE:-0}" = 1 ]; then
		sed 's/^/    | /' "$log"
	fi
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
