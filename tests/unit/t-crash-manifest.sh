#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-crash-manifest.sh: the crash checker's two tree listings agree. The guest lists
# a workload's old and new trees with lw_manifest (vmtests/guest-logwrites.sh, shell:
# busybox has no compiler); the host lists every recovered crash state with
# 'logreplay manifest' (vmtests/manifest.c) and compares. One differing byte would
# turn every state into a violation, or worse, hide one: both list one tree with an
# entry of every kind, and a change of each field shows in both.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (chown, mknod)"
	exit 77
fi
make -s build/logreplay >/dev/null || { echo "not ok 1 - build/logreplay builds"; exit 1; }
. vmtests/guest-logwrites.sh
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
n=0 bad=0
ok() { # DESCRIPTION COMMAND...
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; bad=$((bad + 1)); fi
}
both_agree() {
	lw_manifest "$tree" > "$tree.sh" && "$root/build/logreplay" manifest "$tree" > "$tree.c" &&
		cmp -s "$tree.sh" "$tree.c" || { diff "$tree.sh" "$tree.c" | sed 's/^/# /'; return 1; }
}
changed() { # the listing differs from the one saved as $tree.before
	both_agree && ! cmp -s "$tree.before" "$tree.c"
}
unchanged() { both_agree && cmp -s "$tree.before" "$tree.c"; }
save() { cp "$tree.c" "$tree.before"; }

cd "$tree" || exit 1
mkdir -p a/b "sp ace" a.c .lw-writer/x deep/.lw-writer
echo hi > a/b/f
printf x > "sp ace/g h"
: > empty
echo z > a.b
echo inner > deep/.lw-writer/kept
echo outer > .lw-writer/x/y
head -c 300000 /dev/urandom > big
ln -s a/b/f link
ln -s /nowhere dangling
mkfifo fifo
mknod cdev c 1 3
python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
chmod 4755 a/b/f
chmod 1777 a
chown 12:34 empty
cd "$root" || exit 1
trap 'rm -rf "$tree" "$tree".*' EXIT

echo "1..9"
ok "one tree of every kind: both listings are the same bytes" both_agree
ok "  it has every entry but the top-level .lw-writer" \
	test "$(wc -l < "$tree.c")" -eq 17 -a "$(grep -c lw-writer "$tree.c")" -eq 2
save
echo hj > "$tree/a/b/f"
ok "a changed byte changes both" changed
save
chmod 0755 "$tree/a/b/f"
ok "a changed mode changes both" changed
save
chown 0:5 "$tree/empty"
ok "a changed owner changes both" changed
save
ln -sfn a/b "$tree/link"
ok "a changed link changes both" changed
save
echo more >> "$tree/.lw-writer/x/y"
ok "the top-level .lw-writer is left out of both" unchanged
save
rm "$tree/sock"
ok "a removed entry changes both" changed
ok "a missing directory fails" bash -c '! "$1" manifest "$2/none" 2>/dev/null' _ "$root/build/logreplay" "$tree"
echo "# $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
