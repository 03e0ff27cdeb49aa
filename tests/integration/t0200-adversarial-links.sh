#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0200: symlink and hardlink tricks by whoever writes the tree, a target named
# through a symlink, and copy sources that are links. Each is refused or handled
# inside the tree; canaries outside the target (same filesystem, another one) stay
# byte-identical. docs/SECURITY.md gives the reasons.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
for c in "$MNT/outside" "$TEST_TMP/outside"; do
	mkdir -p "$c/sub" && echo canary >"$c/canary" && echo deep >"$c/sub/deep" && chmod 0640 "$c/canary"
done
manifest "$MNT/outside" >"$TEST_TMP/canary1"
manifest "$TEST_TMP/outside" >"$TEST_TMP/canary2"
canaries_intact() {
	same_manifest "$TEST_TMP/canary1" "$MNT/outside" && same_manifest "$TEST_TMP/canary2" "$TEST_TMP/outside"
}

# --- hardlinks: a link to a file outside the subvolume cannot even be made
ok "a hardlink from the target to a file outside it is impossible (EXDEV)" \
	sh -c "! ln '$MNT/outside/canary' '$T/hl' 2>/dev/null && test ! -e '$T/hl'"
# Inside the tree, two names for one inode: the ops work on the staging snapshot,
# whose inodes are copies, so the old generation never sees a change.
echo shared >"$T/a" && ln "$T/a" "$T/b" && chmod 0644 "$T/a"
ok "apply a chmod and a chown on one name of a hardlinked pair" apply_ops "$T" \
	'[{"op": "chmod", "path": "a", "mode": "0600"}, {"op": "chown", "path": "a", "owner": 4242}]'
gen_dir() { printf '%s/gen-%s\n' "$(state_dir "$T")" "$1"; }
ok "  both names changed in the new tree (same inode)" test "$(stat -c '%a %u' "$T/b")" = "600 4242"
ok "  the old generation's inode is untouched" test "$(stat -c '%a %u' "$(gen_dir 0)/a")" = "644 0"
ok "write over one name replaces it; the other keeps the old bytes" apply_ops "$T" \
	'[{"op": "write", "path": "a", "content": "new\n"}]'
ok "  a is new, b is the old content" test "$(cat "$T/a")/$(cat "$T/b")" = "new/shared"

# --- symlinks planted in the tree, used by every kind of op
ln -s "$MNT/outside" "$T/out-dir" && ln -s "$MNT/outside/canary" "$T/out-file" && ln -s ../outside "$T/out-rel"
ok "rename of a link moves the link, not what it points to" apply_ops "$T" \
	'[{"op": "rename", "path": "out-file", "to": "moved-link"}]'
ok "  it is still a link to the canary" test "$(readlink "$T/moved-link")" = "$MNT/outside/canary"
ok "rename over a link replaces the link" apply_ops "$T" '[{"op": "rename", "path": "a", "to": "out-rel"}]'
ok "  out-rel is a regular file in the tree" test -f "$T/out-rel" -a ! -L "$T/out-rel"
expect_abort 1 "rename into a linked directory is refused" "$T" apply_ops "$T" \
	'[{"op": "rename", "path": "b", "to": "out-dir/stolen"}]'
expect_abort 1 "chmod of a link is refused (it would change the target)" "$T" apply_ops "$T" \
	'[{"op": "chmod", "path": "moved-link", "mode": "0666"}]'
output_has "  says it is a symlink" "chmod 'moved-link': is a symlink"
expect_abort 1 "precondition sha256 through a link to a file outside" "$T" apply_ops "$T" \
	'[{"op": "write", "path": "x", "content": "x"}]' \
	"\"preconditions\": [{\"path\": \"moved-link\", \"sha256\": \"$(sha256sum <"$MNT/outside/canary" | cut -c1-64)\"}]"
ok "exists on a dangling-outside link is about the link itself" apply_ops "$T" \
	'[{"op": "write", "path": "x", "content": "x"}]' '"preconditions": [{"path": "out-dir", "exists": true}]'
ok "delete --recursive of a link to a directory outside removes the link only" apply_ops "$T" \
	'[{"op": "delete", "path": "out-dir", "recursive": true}]'
ok "canaries intact after link tricks" canaries_intact

# --- copy sources named by the spec: the last component may not be a link
ln -s "$MNT/outside/canary" "$TEST_TMP/src-link"
echo payload >"$TEST_TMP/src-file"
expect_abort 1 "copy from a source that is a symlink is refused" "$T" apply_ops "$T" \
	"[{\"op\": \"copy\", \"path\": \"c\", \"source\": \"$TEST_TMP/src-link\"}]"
output_has "  says so" "source '.*src-link' is a symlink; name the file itself"
expect_abort 1 "copy from a directory is refused" "$T" apply_ops "$T" \
	"[{\"op\": \"copy\", \"path\": \"c\", \"source\": \"$TEST_TMP/outside\"}]"
ok "copy from a regular file works" apply_ops "$T" "[{\"op\": \"copy\", \"path\": \"c\", \"source\": \"$TEST_TMP/src-file\"}]"
ok "  content copied" test "$(cat "$T/c")" = payload

# --- a target named through a symlink is refused, not resolved
ln -s "$T" "$MNT/t-link"
manifest "$T" >"$TEST_TMP/t-before"
expect_exit 2 "apply --target through a symlink is refused" "$BTRFS_TXN" apply --target "$MNT/t-link" \
	"$(printf '{"version": 1, "ops": [{"op": "write", "path": "x", "content": "y"}]}' >"$TEST_TMP/s.json" && echo "$TEST_TMP/s.json")"
output_has "  names the link and where it points" "target '$MNT/t-link' is a symlink \\(to '$T'\\); name the subvolume itself"
expect_exit 2 "  also with a trailing slash" "$BTRFS_TXN" apply --target "$MNT/t-link/" "$TEST_TMP/s.json"
ok "  target unchanged" same_manifest "$TEST_TMP/t-before" "$T"
ok "  no state directory made for the link" test ! -e "$MNT/.btrfs-txn/t-link"
expect_exit 2 "status of a symlinked target is refused too" "$BTRFS_TXN" status "$MNT/t-link"
mkdir "$MNT/real-parent" && ln -s "$MNT/real-parent" "$MNT/parent-link"
btrfs subvolume create "$MNT/real-parent/u" >/dev/null
ok "a symlinked ancestor is resolved (only the last component must be real)" \
	"$BTRFS_TXN" apply --target "$MNT/parent-link/u" "$TEST_TMP/s.json"
ok "  state kept beside the real subvolume" test -d "$MNT/real-parent/.btrfs-txn/u"
# --- boundaries inside the tree: a subvolume a user made, a bind mount root made
N=$(new_target n)
btrfs subvolume create "$N/nested" >/dev/null && echo inner >"$N/nested/f"
# A target holding a nested subvolume is refused whole, before any op (t0231 has
# the rest): a snapshot would not hold it.
expect_abort 4 "delete --recursive of a nested subvolume is refused" "$N" apply_ops "$N" \
	'[{"op": "delete", "path": "nested", "recursive": true}]'
output_has "  says why" "'$N/nested' is a nested subvolume"
expect_abort 4 "a write into a nested subvolume is refused (the snapshot does not hold it)" "$N" apply_ops "$N" \
	'[{"op": "write", "path": "nested/g", "content": "y"}]'
ok "  the nested subvolume keeps its data" test "$(cat "$N/nested/f")" = inner
btrfs subvolume delete "$N/nested" >/dev/null
# The mount stays on the old tree's dentry, which the exchange moves into the state
# directory: unmount it wherever it went.
umount_bm() { findmnt -rn -o TARGET | grep "^$MNT/.*/bm\$" | xargs -r -n1 umount; }
mkdir "$N/bm" && mount --bind "$MNT/outside" "$N/bm" && at_cleanup umount_bm
ok "delete --recursive of a bind mount point works on the tree, not the mount" apply_ops "$N" \
	'[{"op": "write", "path": "bm/x-escape", "content": "x"}, {"op": "delete", "path": "bm", "recursive": true}]'
ok "  the mount went with the old tree" sh -c "findmnt -rn -o TARGET | grep -q '^$(state_dir "$N")/gen-.*/bm\$'"
umount_bm
ok "  nothing written or removed through the mount" canaries_intact
ok "canaries intact at the end" canaries_intact

done_testing
