#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0120: no op ever writes outside the tree it changes: `..` and absolute paths in a
# spec are invalid (exit 2); symlinks inside the tree that lead out (absolute,
# relative ../.., /proc/self/root magic links, symlinked directories) are refused at
# resolution (exit 1). Canary directories on the same filesystem and on another one
# must stay byte-identical, and so must the target.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
# Canaries: next to the target on the same filesystem, and on another filesystem.
for c in "$MNT/outside" "$TEST_TMP/outside"; do
	mkdir -p "$c/sub" && echo canary >"$c/canary" && echo deep >"$c/sub/deep" && chmod 0640 "$c/canary"
done
manifest "$MNT/outside" >"$TEST_TMP/canary1"
manifest "$TEST_TMP/outside" >"$TEST_TMP/canary2"
canaries_intact() {
	same_manifest "$TEST_TMP/canary1" "$MNT/outside" && same_manifest "$TEST_TMP/canary2" "$TEST_TMP/outside" &&
		test ! -e /x-escape -a ! -e "$MNT/x-escape" -a ! -e "$TEST_TMP/x-escape" -a ! -e "/tmp/x-escape"
}

# Links planted in the tree, each leading out in its own way.
ln -s "$TEST_TMP/outside" "$T/abs"           # absolute, other filesystem
ln -s "$MNT/outside" "$T/abs-same"           # absolute, same filesystem
ln -s ../../outside "$T/rel"                 # relative, climbing out (staging is deeper)
ln -s ../outside "$T/rel1"                   # relative, one level: $MNT/outside from T
mkdir "$T/d" && ln -s ../../../outside "$T/d/rel3"
ln -s /proc/self/root/"$TEST_TMP"/outside "$T/magic"  # magic link
ln -s /proc/self/cwd "$T/cwd"
ln -s "$TEST_TMP/outside/canary" "$T/file-link"      # a link to a file outside
ln -s / "$T/root"
echo inside >"$T/inside"
manifest "$T" >"$TEST_TMP/tree"

# 2: invalid paths in the spec, refused before the target is even looked at
for path in ../x-escape /x-escape a/../../x-escape a//b ./a a/./b "" "a/"; do
	expect_abort 2 "write to path '$path' is invalid" "$T" apply_ops "$T" "[{\"op\": \"write\", \"path\": \"$path\", \"content\": \"x\"}]"
done
expect_abort 2 "rename to ../x-escape is invalid" "$T" apply_ops "$T" '[{"op": "rename", "path": "inside", "to": "../x-escape"}]'
expect_abort 2 "rename to an absolute path is invalid" "$T" apply_ops "$T" '[{"op": "rename", "path": "inside", "to": "/tmp/x-escape"}]'
expect_abort 2 "precondition on ../ is invalid" "$T" apply_ops "$T" '[{"op": "write", "path": "y", "content": "y"}]' \
	'"preconditions": [{"path": "../outside/canary", "exists": true}]'
ok "canaries intact after invalid specs" canaries_intact

# 1: paths that are valid text but resolve out of the tree through a link
for link in abs abs-same rel rel1 d/rel3 magic cwd root; do
	expect_abort 1 "write through '$link' is refused" "$T" apply_ops "$T" "[{\"op\": \"write\", \"path\": \"$link/x-escape\", \"content\": \"pwned\"}]"
done
output_has "  the message names the path and the link" "write 'root/x-escape': 'root' is a symlink"
expect_abort 1 "overwrite of canary through 'abs'" "$T" apply_ops "$T" '[{"op": "write", "path": "abs/canary", "content": "pwned"}]'
expect_abort 1 "overwrite of canary through 'magic'" "$T" apply_ops "$T" '[{"op": "write", "path": "magic/canary", "content": "pwned"}]'
expect_abort 1 "copy through 'rel'" "$T" apply_ops "$T" '[{"op": "copy", "path": "rel/x-escape", "source": "/etc/hostname"}]'
expect_abort 1 "mkdir with parents through 'abs-same'" "$T" apply_ops "$T" '[{"op": "mkdir", "path": "abs-same/x-escape/y", "parents": true}]'
expect_abort 1 "delete through 'abs'" "$T" apply_ops "$T" '[{"op": "delete", "path": "abs/canary"}]'
expect_abort 1 "recursive delete through 'abs-same'" "$T" apply_ops "$T" '[{"op": "delete", "path": "abs-same/sub", "recursive": true}]'
expect_abort 1 "chmod through 'abs'" "$T" apply_ops "$T" '[{"op": "chmod", "path": "abs/canary", "mode": "0777"}]'
expect_abort 1 "chown through 'magic'" "$T" apply_ops "$T" '[{"op": "chown", "path": "magic/canary", "owner": 4242}]'
expect_abort 1 "rename a file into 'abs'" "$T" apply_ops "$T" '[{"op": "rename", "path": "inside", "to": "abs/x-escape"}]'
expect_abort 1 "rename out of 'abs'" "$T" apply_ops "$T" '[{"op": "rename", "path": "abs/canary", "to": "stolen"}]'
expect_abort 1 "symlink made inside 'abs'" "$T" apply_ops "$T" '[{"op": "symlink", "path": "abs/x-escape", "target": "/etc"}]'
expect_abort 1 "sha256 precondition read through 'abs'" "$T" apply_ops "$T" '[{"op": "write", "path": "y", "content": "y"}]' \
	"\"preconditions\": [{\"path\": \"abs/canary\", \"sha256\": \"$(sha256sum <"$TEST_TMP/outside/canary" | cut -c1-64)\"}]"
expect_abort 1 "sha256 precondition through a link to a file outside" "$T" apply_ops "$T" '[{"op": "write", "path": "y", "content": "y"}]' \
	"\"preconditions\": [{\"path\": \"file-link\", \"sha256\": \"$(sha256sum <"$TEST_TMP/outside/canary" | cut -c1-64)\"}]"
ok "canaries intact after refused escapes" canaries_intact

# Ops on the link itself act on the link, never on what it points to.
ok "write over a link to an outside file replaces the link" apply_ops "$T" '[{"op": "write", "path": "file-link", "content": "mine\n"}]'
ok "  file-link is now a regular file in the tree" test -f "$T/file-link" -a ! -L "$T/file-link" -a "$(cat "$T/file-link")" = mine
ok "delete of a link to an outside directory removes only the link" apply_ops "$T" '[{"op": "delete", "path": "abs-same", "recursive": true}]'
ok "  the link is gone" test ! -e "$T/abs-same" -a ! -L "$T/abs-same"
ok "chown of a link changes the link only" apply_ops "$T" '[{"op": "chown", "path": "abs", "owner": 4242}]'
ok "  link owned by 4242" test "$(stat -c %u "$T/abs")" = 4242
ok "a symlink pointing anywhere may be created (it is data)" apply_ops "$T" '[{"op": "symlink", "path": "etc-link", "target": "/etc/passwd"}]'
# Ops follow no symlink on their path, also one that stays inside the tree: its
# writers could aim it at another file of the tree (t0210).
ok "a link staying inside the tree may be made" apply_ops "$T" '[{"op": "mkdir", "path": "real"},
  {"op": "symlink", "path": "inner", "target": "real"}]'
expect_abort 1 "but an op through it is refused" "$T" apply_ops "$T" '[{"op": "write", "path": "inner/f", "content": "f"}]'
output_has "  naming the link" "'inner' is a symlink"
ok "canaries intact at the end" canaries_intact
ok "/etc/passwd untouched" test "$(stat -c %U "/etc/passwd")" = root

done_testing
