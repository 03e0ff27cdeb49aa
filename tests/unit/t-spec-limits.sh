#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-spec-limits.sh: the limits on a spec (docs/btrfs-txn-spec.5, LIMITS) each give
# one clear `FILE:LINE:COLUMN: /pointer: message` line and exit 2, never an
# allocation failure or a crash. The specs are megabytes, so they are generated here
# rather than committed to specs/bad/. Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BTRFS_TXN:-$root/build/btrfs-txn}
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP $bin not built"
	exit 77
fi
command -v python3 >/dev/null || { echo "1..0 # SKIP needs python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
n=0 failed=0

# expect NAME EXPECTED_STDERR: `validate NAME.json` exits 2 with exactly that line.
expect() {
	local name=$1 want=$2 rc
	n=$((n + 1))
	"$bin" validate "$name.json" >out 2>err
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$want" ] && [ ! -s out ]; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name (exit $rc)"
		echo "# expected: $want"
		sed 's/^/# got:      /' err
	fi
}
# accept NAME: `validate NAME.json` exits 0 (a limit is not off by one).
accept() {
	n=$((n + 1))
	if "$bin" validate "$1.json" >/dev/null 2>err; then
		echo "ok $n - $1 is accepted"
	else
		failed=$((failed + 1))
		echo "not ok $n - $1 is accepted"
		sed 's/^/# /' err
	fi
}

# Each spec puts the value the error names at the start of line 2.
python3 - <<'PY'
op = '{"op": "mkdir", "path": "a", "parents": true}'
def spec(name, middle):
    with open(name + ".json", "w") as f:
        f.write('{"version": 1,\n' + middle + '}\n')
spec("ops-at-limit", '"ops": [' + ", ".join([op] * 1000000) + ']')
spec("ops-too-many", '"ops": [' + ", ".join([op] * 1000001) + ']')
pre = '{"path": "a", "exists": true}'
spec("preconditions-too-many", '"preconditions": [' + ", ".join([pre] * 100001) + '], "ops": [' + op + ']')
spec("verify-argv-too-many", '"verify": {"argv": ["x"' + ', ""' * 4096 + ']}, "ops": [' + op + ']')
spec("verify-argv-too-long", '"verify": {"argv": ["x", "' + "a" * 600000 + '", "' + "b" * 600000 + '"]}, "ops": [' + op + ']')
content = "x" * (48 << 20)
spec("content-large", '"ops": [{"op": "write", "path": "big", "content": "' + content + '"}]')
with open("components.json", "w") as f:
    deep = "/".join(["a"] * 1000)  # within the depth limit of 1024 levels
    f.write('{"version": 1, "ops": [\n' + ",\n".join(
        ['{"op": "chmod", "mode": "0644", "path": "%s"}' % deep] * 5001) + "]}\n")
with open("too-large.json", "w") as f:
    f.write('{"version": 1, "description": "' + "x" * (64 << 20) + '"}')
with open("nesting-deep.json", "w") as f:
    f.write('{"version": 1,\n"ops": [' + "[" * 5000 + "]" * 5000 + "]}")
PY

echo "1..10"
accept ops-at-limit
expect ops-too-many "ops-too-many.json:2:8: /ops: 1000001 ops, more than the limit of 1000000; split the change"
expect preconditions-too-many "preconditions-too-many.json:2:18: /preconditions: 100001 preconditions, more than the limit of 100000"
expect verify-argv-too-many "verify-argv-too-many.json:2:20: /verify/argv: argv has 4097 entries, more than the limit of 4096"
expect verify-argv-too-long "verify-argv-too-long.json:2:600030: /verify/argv/2: argv is longer than the limit of 1024 KiB in total"
accept content-large
expect components "components.json:5002:41: /ops/5000/path: the spec's paths have more than 5000000 components in all; split the change"
expect too-large "too-large.json: spec is larger than the limit of 64 MiB"
expect nesting-deep "nesting-deep.json:2:2055: invalid JSON: nested deeper than the limit of 2048 levels"
# Standard input is bounded the same way (one byte past the limit is read, no more).
n=$((n + 1))
if head -c $((65 << 20)) /dev/zero | "$bin" validate - 2>err >/dev/null; [ $? -eq 2 ] &&
	[ "$(cat err)" = "<stdin>: spec is larger than the limit of 64 MiB" ]; then
	echo "ok $n - a 65 MiB standard input is refused"
else
	failed=$((failed + 1))
	echo "not ok $n - a 65 MiB standard input is refused"
	sed 's/^/# got: /' err
fi
[ "$failed" -eq 0 ]
