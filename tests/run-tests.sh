#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-tests.sh: run test executables, each bounded in time, and report them as TAP
# that `prove` reads, ending with the line "N passed, N failed, N skipped" as a
# TAP comment. Exit 0 of a test is a pass, 77 a skip (no root, no Btrfs, ...),
# anything else a failure. A test's own TAP output is shown, as comment lines, when
# it fails or when VERBOSE=1.
#
# A test that was asked for but is not there (a pattern that matched nothing, a
# deleted file) is a failure, never silently dropped. With --complete (what make
# check says: the tests given are all their directories hold), so is a script lying
# beside them, named like a test (t*.sh), that was not given: it would never run.
#
# Usage: tests/run-tests.sh [--complete] TEST...   (TEST_TIMEOUT=seconds, default 600;
# a test whose first 10 lines hold "# timeout: N" gets N seconds, or TEST_TIMEOUT
# when that is larger: its running time follows the machine's speed, not its bugs)
#        prove --exec tests/run-tests.sh TEST...   (one TAP stream per test)
set -u
export CMOCKA_MESSAGE_OUTPUT=TAP
timeout_s=${TEST_TIMEOUT:-600}
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/btrfs-txn-tests.XXXXXX")
trap 'rm -rf "$log_dir"' EXIT

complete=0
if [ "${1:-}" = --complete ]; then
	complete=1
	shift
fi
# With --complete: the scripts beside the listed ones that look like tests but are
# not listed.
unlisted=()
declare -A listed=() dirs=()
for test in "$@"; do
	listed[$test]=1
	case $complete:$test in 1:*.sh) dirs[$(dirname "$test")]=1 ;; esac
done
for dir in "${!dirs[@]}"; do
	for script in "$dir"/t*.sh; do
		[ -e "$script" ] && [ -z "${listed[$script]:-}" ] && unlisted+=("$script")
	done
done

n=0 passed=0 failed=0 skipped=0 failures=()
fail() { # NAME WHY
	n=$((n + 1)) failed=$((failed + 1)) failures+=("$1")
	printf 'not ok %d - %s # %s\n' "$n" "$1" "$2"
}
echo "TAP version 13"
for test in "$@"; do
	name=${test##*/}
	if [ ! -e "$test" ]; then
		fail "$name" "missing: '$test' does not exist"
		continue
	fi
	log="$log_dir/$n.log"
	limit=$timeout_s
	own=$(head -n 10 "$test" 2>/dev/null | sed -n 's/^# timeout: \([0-9][0-9]*\)$/\1/p' | head -n 1)
	[ -n "$own" ] && [ "$own" -gt "$limit" ] && limit=$own
	start=$EPOCHREALTIME
	timeout --kill-after=10 "$limit" "$test" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) n=$((n + 1)) passed=$((passed + 1)); printf 'ok %d - %s (%ss)\n' "$n" "$name" "$secs" ;;
	77) n=$((n + 1)) skipped=$((skipped + 1))
	    why=$(grep -m1 -o 'SKIP.*' "$log" | sed 's/^SKIP[: ]*//')
	    printf 'ok %d - %s # SKIP %s\n' "$n" "$name" "${why:-exit 77}" ;;
	124|137) fail "$name" "timed out after ${limit}s" ;;
	*) fail "$name" "exit $rc" ;;
	esac
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || [ "${VERBOSE:-0}" = 1 ]; then
		sed 's/^/#   | /' "$log"
	fi
done
for script in "${unlisted[@]}"; do
	fail "${script##*/}" "unlisted: '$script' looks like a test but was not run (name it tNNNN-area-what.sh)"
done
echo "1..$n"
[ ${#failures[@]} -gt 0 ] && echo "# failed: ${failures[*]}"
echo "# $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
