#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0100: every op of spec v1, alone and combined, on a real Btrfs subvolume: contents,
# modes and owners exactly as the spec says, a later op seeing an earlier one's effect,
# copies that are reflinks on the same filesystem and plain copies from another one.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
sha() { sha256sum <"$1" | cut -c1-64; }
# first_extent FILE: physical start of its first extent (equal for reflinked files)
first_extent() { filefrag -v "$1" | awk '$1 == "0:" { print $4 }'; }

# write: content and content_base64, default and explicit modes
ok "write content and content_base64" apply_ops "$T" '[
  {"op": "write", "path": "a.conf", "content": "alpha\n"},
  {"op": "write", "path": "logo.bin", "content_base64": "iVBORw0KGgoAAP8=", "mode": "0600"},
  {"op": "write", "path": "empty", "content": ""}]'
ok "content is exact" test "$(cat "$T/a.conf")" = alpha
ok "base64 content is decoded" cmp "$T/logo.bin" <(printf 'iVBORw0KGgoAAP8=' | base64 -d)
ok "default mode 0644 and root owner" test "$(stat -c '%a %u:%g' "$T/a.conf")" = "644 0:0"
ok "explicit mode 0600" test "$(stat -c %a "$T/logo.bin")" = 600
ok "empty content makes an empty file" test -f "$T/empty" -a ! -s "$T/empty"

# mode bits beyond 0777 and a umask that must not matter
ok "write with mode 4750 under umask 077" sh -c "umask 077; $(declare -f apply_ops); BTRFS_TXN='$BTRFS_TXN' TEST_TMP='$TEST_TMP' apply_ops '$T' '[{\"op\": \"write\", \"path\": \"suid\", \"content\": \"x\", \"mode\": \"4750\"}]'"
ok "setuid mode kept exactly" test "$(stat -c %a "$T/suid")" = 4750

# a write over a file root does not own makes it root's, mode 0644 unless told;
# over a file of root's, it keeps owner, group and mode (t0210 has the attacks)
chown 1:2 "$T/a.conf" && chmod 0640 "$T/a.conf"
ok "write over a file owned by 1:2, mode 0640" apply_ops "$T" '[{"op": "write", "path": "a.conf", "content": "beta\n"}]'
ok "the file of another owner became root's, mode 0644" test "$(stat -c '%a %u:%g' "$T/a.conf")" = "644 0:0"
ok "replaced file has the new content" test "$(cat "$T/a.conf")" = beta
chgrp 2 "$T/a.conf" && chmod 0640 "$T/a.conf"
ok "write over a root-owned file of group 2, mode 0640" apply_ops "$T" '[{"op": "write", "path": "a.conf", "content": "beta2\n"}]'
ok "  keeps its owner, group and mode" test "$(stat -c '%a %u:%g' "$T/a.conf")" = "640 0:2"
ok "write with a mode over a root-owned file" apply_ops "$T" '[{"op": "write", "path": "a.conf", "content": "gamma\n", "mode": "0604"}]'
ok "mode from the op, owner kept" test "$(stat -c '%a %u:%g' "$T/a.conf")" = "604 0:2"

# copy: same filesystem (reflink), other filesystem (tmpfs), mode from op or source
dd if=/dev/urandom of="$MNT/artifact" bs=64k count=4 status=none && chmod 0751 "$MNT/artifact"
mkdir -p "$TEST_TMP/tmpfs" && mount -t tmpfs -o size=8m tmpfs "$TEST_TMP/tmpfs" &&
	at_cleanup "umount '$TEST_TMP/tmpfs'"
head -c 100000 /dev/urandom >"$TEST_TMP/tmpfs/tool" && chmod 0700 "$TEST_TMP/tmpfs/tool"
sync
ok "copy from the same fs and from tmpfs" apply_ops "$T" "[
  {\"op\": \"mkdir\", \"path\": \"bin\"},
  {\"op\": \"copy\", \"path\": \"bin/app\", \"source\": \"$MNT/artifact\", \"mode\": \"0755\"},
  {\"op\": \"copy\", \"path\": \"bin/app-srcmode\", \"source\": \"$MNT/artifact\"},
  {\"op\": \"copy\", \"path\": \"bin/tool\", \"source\": \"$TEST_TMP/tmpfs/tool\"}]"
ok "reflinked copy has the same bytes" cmp "$MNT/artifact" "$T/bin/app"
ok "reflinked copy shares the source's extents" test "$(first_extent "$T/bin/app")" = "$(first_extent "$MNT/artifact")"
ok "copy mode from the op" test "$(stat -c %a "$T/bin/app")" = 755
ok "copy without mode takes the source's" test "$(stat -c %a "$T/bin/app-srcmode")" = 751
ok "copy from tmpfs has the same bytes" cmp "$TEST_TMP/tmpfs/tool" "$T/bin/tool"
ok "copy from tmpfs keeps the source mode" test "$(stat -c %a "$T/bin/tool")" = 700
expect_exit 1 "copy from a missing source aborts" apply_ops "$T" '[{"op": "copy", "path": "x", "source": "/nonexistent/file"}]'
output_has "  and names the source" "/nonexistent/file"

# mkdir with and without parents
ok "mkdir with parents and a mode" apply_ops "$T" '[{"op": "mkdir", "path": "p/q/r", "parents": true, "mode": "0710"}]'
ok "leaf has the mode, ancestors 0755" test "$(stat -c %a "$T/p/q/r") $(stat -c %a "$T/p/q") $(stat -c %a "$T/p")" = "710 755 755"
ok "mkdir of an existing directory is fine" apply_ops "$T" '[{"op": "mkdir", "path": "p"}]'
before=$(manifest "$T")
expect_exit 1 "mkdir without parents under a missing directory aborts" apply_ops "$T" '[{"op": "mkdir", "path": "m1/m2"}]'
ok "  tree unchanged" test "$(manifest "$T")" = "$before"

# delete: file, missing_ok, empty dir, recursive, non-recursive on a full dir
mkdir -p "$T/cache/a/b" && echo x >"$T/cache/a/b/f" && ln -s /etc "$T/cache/link" && mkdir "$T/emptydir"
ok "delete a file, an empty dir, a tree, and a missing path with missing_ok" apply_ops "$T" '[
  {"op": "delete", "path": "empty"},
  {"op": "delete", "path": "emptydir"},
  {"op": "delete", "path": "cache", "recursive": true},
  {"op": "delete", "path": "never-was", "missing_ok": true},
  {"op": "delete", "path": "no-dir/never-was", "missing_ok": true}]'
ok "all three gone" test ! -e "$T/empty" -a ! -e "$T/emptydir" -a ! -e "$T/cache"
ok "/etc untouched by deleting a link to it" test -f /etc/passwd
before=$(manifest "$T")
expect_exit 1 "delete a missing path without missing_ok aborts" apply_ops "$T" '[{"op": "delete", "path": "never-was"}]'
expect_exit 1 "delete a full directory without recursive aborts" apply_ops "$T" '[{"op": "delete", "path": "p"}]'
ok "  tree unchanged" test "$(manifest "$T")" = "$before"

# symlink, incl. replacing an existing `current` link
ok "symlink current -> releases/1" apply_ops "$T" '[
  {"op": "mkdir", "path": "releases/1", "parents": true},
  {"op": "write", "path": "releases/1/v", "content": "1\n"},
  {"op": "symlink", "path": "current", "target": "releases/1"}]'
ok "current points at releases/1" test "$(readlink "$T/current")" = releases/1
ok "symlink replacing current" apply_ops "$T" '[
  {"op": "mkdir", "path": "releases/2"},
  {"op": "write", "path": "releases/2/v", "content": "2\n"},
  {"op": "symlink", "path": "current", "target": "releases/2"}]'
ok "current now points at releases/2" test "$(readlink "$T/current")" = releases/2
ok "releases/2 has its file" test "$(cat "$T/releases/2/v")" = 2
expect_exit 1 "a write through the link current is refused" apply_ops "$T" '[{"op": "write", "path": "current/v", "content": "3\n"}]'
output_has "  naming the link" "'current' is a symlink"
ok "  and wrote nothing" test "$(cat "$T/releases/2/v")" = 2
ok "releases/1 untouched" test "$(cat "$T/releases/1/v")" = 1
ok "a dangling symlink may be made" apply_ops "$T" '[{"op": "symlink", "path": "dangling", "target": "nowhere/at/all"}]'
ok "  and is exact" test "$(readlink "$T/dangling")" = nowhere/at/all

# rename
ok "rename a file and a directory" apply_ops "$T" '[
  {"op": "rename", "path": "a.conf", "to": "b.conf"},
  {"op": "rename", "path": "releases/1", "to": "old-1"}]'
ok "renamed file has its content, owner and mode" test "$(cat "$T/b.conf") $(stat -c '%a %u:%g' "$T/b.conf")" = "gamma 604 0:2"
ok "old names gone" test ! -e "$T/a.conf" -a ! -e "$T/releases/1" -a -f "$T/old-1/v"

# chmod and chown by name and by number
ok "chmod, chown by name and by number" apply_ops "$T" '[
  {"op": "write", "path": "secret.key", "content": "k"},
  {"op": "chmod", "path": "secret.key", "mode": "0600"},
  {"op": "chown", "path": "secret.key", "owner": "nobody", "group": "daemon"},
  {"op": "write", "path": "numeric", "content": "n"},
  {"op": "chown", "path": "numeric", "owner": 4242, "group": 4343},
  {"op": "chown", "path": "old-1", "group": 7},
  {"op": "chown", "path": "dangling", "owner": "daemon"}]'
ok "chmod 0600" test "$(stat -c %a "$T/secret.key")" = 600
ok "chown by name" test "$(stat -c %u:%g "$T/secret.key")" = "$(id -u nobody):$(getent group daemon | cut -d: -f3)"
ok "chown by number" test "$(stat -c %u:%g "$T/numeric")" = 4242:4343
ok "chown group only keeps the owner" test "$(stat -c %u:%g "$T/old-1")" = 0:7
ok "chown on a symlink changes the link, not its target" test "$(stat -c %u "$T/dangling")" = "$(id -u daemon)"
ok "a write over a file chowned to another user" apply_ops "$T" '[{"op": "write", "path": "numeric", "content": "m"}]'
ok "  makes it root's again, mode 0644" test "$(stat -c '%a %u:%g' "$T/numeric") $(cat "$T/numeric")" = "644 0:0 m"

# a chown clears set-id bits (a set-uid file must not change hands with its bit);
# a chmod after it sets them explicitly
ok "chown of a 6755 file" apply_ops "$T" '[{"op": "write", "path": "s", "content": "x", "mode": "6755"},
  {"op": "chown", "path": "s", "owner": 1}]'
ok "  set-id bits cleared" test "$(stat -c '%a %u' "$T/s")" = "755 1"
ok "chown then chmod 4755" apply_ops "$T" '[{"op": "chown", "path": "s", "owner": 2}, {"op": "chmod", "path": "s", "mode": "4755"}]'
ok "  set-uid as the spec says" test "$(stat -c '%a %u' "$T/s")" = "4755 2"

# combined: every op, each seeing the effect of the ones before, in one transaction
before_gen=$("$BTRFS_TXN" status --json "$T" | json_get .generation)
ok "all ops in one spec, chained" apply_ops "$T" '[
  {"op": "mkdir", "path": "app/conf.d", "parents": true},
  {"op": "write", "path": "app/conf.d/x.conf", "content": "x=1\n"},
  {"op": "rename", "path": "app/conf.d/x.conf", "to": "app/conf.d/y.conf"},
  {"op": "chmod", "path": "app/conf.d/y.conf", "mode": "0640"},
  {"op": "chown", "path": "app/conf.d/y.conf", "owner": "nobody", "group": 0},
  {"op": "symlink", "path": "app/y", "target": "conf.d/y.conf"},
  {"op": "write", "path": "app/tmp", "content": "t"},
  {"op": "delete", "path": "app/tmp"},
  {"op": "write", "path": "app/conf.d/y.conf", "content": "x=2\n"}]'
ok "one generation for the whole spec" test "$("$BTRFS_TXN" status --json "$T" | json_get .generation)" = $((before_gen + 1))
ok "the chain's result is exact" test "$(cat "$T/app/y") $(stat -c '%a %U:%g' "$T/app/conf.d/y.conf")" = "x=2 644 root:0"
ok "the renamed-away and deleted names are gone" test ! -e "$T/app/conf.d/x.conf" -a ! -e "$T/app/tmp"
ok "no temporary files left in the tree" sh -c "! find '$T' -name '.btrfs-txn-tmp*' | grep -q ."
ok "no staging left" no_staging "$T"

# A write over a regular file with one link rewrites that file (staging is private):
# extended attributes, owner and mode stay; a file with two links is replaced, so
# its other name keeps the old content.
T=$(new_target inplace)
printf 'old\n' >"$T/conf" && printf 'shared\n' >"$T/a" && ln "$T/a" "$T/b"
chgrp 2 "$T/conf" && chmod 0640 "$T/conf"
xattr() { python3 -c 'import os, sys
if len(sys.argv) > 3: os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())
else: print(os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$@"; }
ok "set a user xattr" xattr "$T/conf" user.origin deploy
ok "write over a file with one link, and one with two" apply_ops "$T" \
	'[{"op": "write", "path": "conf", "content": "new\n"}, {"op": "write", "path": "a", "content": "mine\n"}]'
ok "  the content is new" test "$(cat "$T/conf")" = new
ok "  its xattr, owner and mode are kept" \
	test "$(xattr "$T/conf" user.origin) $(stat -c '%a %u:%g' "$T/conf")" = "deploy 640 0:2"
ok "  the hard-linked file was replaced, its other name is unchanged" \
	test "$(cat "$T/a") $(cat "$T/b") $(stat -c %h "$T/b")" = "mine shared 1"

done_testing
