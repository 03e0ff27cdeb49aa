#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-fuzz-short.sh: a short libFuzzer run (FUZZ_SHORT_SECONDS, default 30 s per
# target) of fuzz/fuzz_spec.c, fuzz/fuzz_path.c, fuzz/fuzz_trust.c and fuzz/fuzz_escape.c,
# starting from the specs in specs/examples and specs/bad and the seeds in fuzz/. A
# crash, leak or timeout fails the test and leaves the input in build/fuzz/ (replay
# with build/fuzz/fuzz_spec FILE). Skips (77) only when clang or libFuzzer is missing.
# The long run is `make fuzz FUZZ_SECONDS=...`.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
seconds=${FUZZ_SHORT_SECONDS:-30}
if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
	echo "1..0 # SKIP clang is not installed (scripts/deps.sh fuzz)"
	exit 77
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
	"${FUZZ_CC:-clang}" -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null; then
	echo "1..0 # SKIP clang cannot link libFuzzer (libclang-rt-dev)"
	exit 77
fi
echo "1..5"
if make -s fuzz-build >build-fuzz.log 2>&1; then
	echo "ok 1 - fuzz targets build"
else
	echo "not ok 1 - fuzz targets build"
	sed 's/^/# /' build-fuzz.log
	rm -f build-fuzz.log
	exit 1
fi
rm -f build-fuzz.log
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/spec" "$tmp/path" "$tmp/escape"
cp specs/examples/*.json specs/bad/*.json "$tmp/spec/"

failed=0
# run N NAME ARGS...: one target, -max_total_time bounded; artifacts to build/fuzz/.
run() {
	local n=$1 name=$2
	shift 2
	if "build/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
		-artifact_prefix="build/fuzz/" -print_final_stats=1 "$@" >"$tmp/$name.log" 2>&1; then
		echo "ok $n - $name: $(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$name.log") executions, no finding"
	else
		failed=1
		echo "not ok $n - $name found a crash, leak or timeout"
		grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$tmp/$name.log" | head -20 | sed 's/^/# /'
	fi
}
run 2 fuzz_spec -dict=fuzz/spec.dict -max_len=65536 "$tmp/spec"
run 3 fuzz_path -max_len=8192 "$tmp/path" fuzz/seeds-path
mkdir "$tmp/trust"
run 4 fuzz_trust -max_len=8192 "$tmp/trust" fuzz/seeds-trust
mkdir -p "$tmp/escape"
run 5 fuzz_escape -max_len=8192 "$tmp/escape" fuzz/seeds-escape
exit "$failed"
