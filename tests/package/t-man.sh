#!/usr/bin/env bash
# t-man.sh: every man page in docs/ passes mandoc's lint at warning level: among
# others, a .TH date that mandoc parses (YYYY-MM-DD), not "2026-11". Needs no root;
# skips without mandoc. Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v mandoc >/dev/null; then
	echo "1..0 # SKIP needs mandoc (scripts/deps.sh package)"
	exit 77
fi
n=0 failed=0
for page in "$root"/docs/*.[0-9]; do
	n=$((n + 1))
	if out=$(mandoc -Tlint -Wwarning "$page" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - ${page#"$root/"}: mandoc -Tlint -Wwarning is silent"
	else
		failed=$((failed + 1))
		echo "not ok $n - ${page#"$root/"}: mandoc -Tlint -Wwarning is silent"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
	n=$((n + 1))
	date=$(sed -n 's/^\.TH  *[^ ]*  *[^ ]*  *"\([^"]*\)".*/\1/p' "$page" | head -1)
	if printf '%s\n' "$date" | grep -Eqx '[0-9]{4}-[0-9]{2}-[0-9]{2}'; then
		echo "ok $n - ${page#"$root/"}: .TH date '$date' is YYYY-MM-DD"
	else
		failed=$((failed + 1))
		echo "not ok $n - ${page#"$root/"}: .TH date '$date' is YYYY-MM-DD"
	fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
