#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0222: smaller defects, each with the exact outcome: one depth limit (1024 levels)
# for every op's path and for a recursive delete; a journal naming a staging that
# btrfs-txn never makes is unreadable (exit 5), never acted on; an immutable file in
# a recursive delete is named; a read-only subvolume is refused up front (exit 4); a
# path that leaves the tree through a symlink says so and names the link; ENOSPC
# while writing the journal leaves no journal.tmp behind; the spec's keep and every
# --keep share one bound (100). A verify timeout's words are checked in t0110.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
ok "a first generation" apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v1\n"}]'

# deep_path N: "a/a/.../a" with N components.
deep_path() {
	local i p=a
	for ((i = 1; i < $1; i++)); do p="$p/a"; done
	printf '%s\n' "$p"
}

# --- keep: one bound, 100, for the spec's keep and every --keep
for cmd in "apply --keep 101 --target $T -" "gc --keep 101 $T" "snapshot --tag pre --keep 101 $T"; do
	expect_exit 2 "$cmd is refused" sh -c "echo '{\"version\": 1, \"ops\": []}' | '$BTRFS_TXN' $cmd"
	output_has "  naming the bound of 100" "--keep: expected a number from [01] to 100, got '101'"
done
expect_abort 2 "keep 101 in the spec is refused" "$T" \
	apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v1\n"}]' '"keep": 101'
output_has "  with the same bound" "/keep: .*no larger than 100"
ok "--keep 100 is accepted" "$BTRFS_TXN" gc --keep 100 "$T"

# --- 1: one depth limit, 1024 levels, for mkdir and for a recursive delete
expect_abort 2 "mkdir of 2000 levels with parents is refused" "$T" \
	apply_ops "$T" "[{\"op\": \"mkdir\", \"path\": \"$(deep_path 2000)\", \"parents\": true}]"
output_has "  says how deep and that it is btrfs-txn's limit" "/ops/0/path: path is deeper than 1024 levels \(limit of btrfs-txn\)"
ok "mkdir of 1024 levels with parents works" \
	apply_ops "$T" "[{\"op\": \"mkdir\", \"path\": \"deep/$(deep_path 1023)\", \"parents\": true}]"
ok "  the tree is 1024 levels deep" test -d "$T/deep/$(deep_path 1023)"
ok "and a recursive delete removes it again" \
	apply_ops "$T" '[{"op": "delete", "path": "deep", "recursive": true}]'
ok "  it is gone" test ! -e "$T/deep"
# Deeper than the limit by other means (a rename of one deep tree into another):
# the delete names the path and the limit, not "Too many levels of symbolic links".
ok "two trees of 1000 and 30 levels, one renamed into the other (1031 levels)" \
	apply_ops "$T" "[{\"op\": \"mkdir\", \"path\": \"x/$(deep_path 999)\", \"parents\": true},
	{\"op\": \"mkdir\", \"path\": \"y/$(deep_path 30)\", \"parents\": true},
	{\"op\": \"rename\", \"path\": \"y\", \"to\": \"x/$(deep_path 999)/y\"}]"
expect_abort 1 "a recursive delete of a tree deeper than 1024 levels" "$T" \
	apply_ops "$T" '[{"op": "delete", "path": "x", "recursive": true}]'
output_has "  names the path and the limit" "delete 'x': 'x/a/a/.*/a' is deeper than 1024 levels \(limit of btrfs-txn\)"
ok "  and not as a symlink loop" sh -c '! grep -q "symbolic links" "$1"' sh "$TEST_TMP/out.prev"
ok "renamed back within the limit, the tree can be deleted" \
	apply_ops "$T" "[{\"op\": \"rename\", \"path\": \"x/$(deep_path 999)/y\", \"to\": \"y\"},
	{\"op\": \"delete\", \"path\": \"x\", \"recursive\": true},
	{\"op\": \"delete\", \"path\": \"y\", \"recursive\": true}]"
ok "  it is gone" test ! -e "$T/x" -a ! -e "$T/y"

# --- 3: an immutable file inside a recursive delete is named, with the fix
ok "a tree holding a file made immutable" \
	apply_ops "$T" '[{"op": "mkdir", "path": "cache/sub", "parents": true},
	{"op": "write", "path": "cache/sub/locked", "content": "x"}]'
chattr +i "$T/cache/sub/locked"
at_cleanup "chattr -i '$T/cache/sub/locked'"
expect_abort 1 "a recursive delete over an immutable file" "$T" \
	apply_ops "$T" '[{"op": "delete", "path": "cache", "recursive": true}]'
output_has "  names the file and the fix" "delete 'cache': 'cache/sub/locked' is immutable: chattr -i it first"
chattr -i "$T/cache/sub/locked" && chattr +a "$T/cache/sub"
at_cleanup "chattr -a '$T/cache/sub'"
expect_abort 1 "a recursive delete in an append-only directory" "$T" \
	apply_ops "$T" '[{"op": "delete", "path": "cache", "recursive": true}]'
output_has "  names the directory and the fix" \
	"delete 'cache': cannot remove 'cache/sub/locked': its directory 'cache/sub' is append-only: chattr -a it first"
chattr -a "$T/cache/sub"
ok "without the flags, the delete works" apply_ops "$T" '[{"op": "delete", "path": "cache", "recursive": true}]'

# --- 4: a read-only subvolume is refused before anything is done
lines=$(wc -l <"$SD/history.jsonl")
btrfs property set "$T" ro true
at_cleanup "btrfs property set '$T' ro false"
expect_abort 4 "apply on a target with ro=true" "$T" \
	apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v2\n"}]'
output_has "  names the property and the fix" "'$T' is a read-only subvolume \(Btrfs property ro=true\).*'btrfs property set $T ro false'"
ok "  no journal and no history line were written" sh -c \
	"test ! -e '$SD/journal' && test \$(wc -l <'$SD/history.jsonl') = $lines"
expect_exit 4 "rollback on a target with ro=true" "$BTRFS_TXN" rollback "$T"
ok "status still reads it" "$BTRFS_TXN" status "$T"
btrfs property set "$T" ro false
ok "writable again, apply works" apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v2\n"}]'

# --- 2: a journal naming a staging btrfs-txn never makes is unreadable
manifest "$T" >"$TEST_TMP/m2"
expect_exit 137 "apply killed at 'applied'" with_fault applied \
	apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v3\n"}]'
cp "$SD/journal" "$TEST_TMP/journal.good"
for staging in .. . gen-1 "staging-../../t" staging-20200101T000000Z-00000g init-x "" \
	"staging-$(jq -r .txid "$SD/journal")x"; do
	jq -c --arg s "$staging" '.staging = $s' "$TEST_TMP/journal.good" >"$SD/journal"
	expect_exit 5 "recover with staging '$staging' in the journal" "$BTRFS_TXN" recover "$T"
	output_has "  says the journal is unreadable and names it" "journal '$SD/journal' is unreadable"
	ok "  the state directory and the tree are as they were" sh -c \
		"test -d '$SD' && ls -d '$SD'/staging-* >/dev/null && test -e '$SD/journal'"
	ok "  the target is unchanged" same_manifest "$TEST_TMP/m2" "$T"
done
jq -c '.txid = "x" | .staging = "staging-x"' "$TEST_TMP/journal.good" >"$SD/journal"
expect_exit 5 "recover with a txid not of btrfs-txn's form" "$BTRFS_TXN" recover "$T"
cp "$TEST_TMP/journal.good" "$SD/journal"
ok "with the journal restored, recover rolls back" "$BTRFS_TXN" recover "$T"
ok "  the tree is the one before" same_manifest "$TEST_TMP/m2" "$T"
ok "  no staging left" no_staging "$T"

# --- 6: a path through a symlink is refused naming the link, not as "Invalid
# cross-device link" (ops follow no symlink at all, see t0210; the words for a link
# or mount that leaves the tree, where EXDEV still occurs, are checked in
# tests/unit/test_resolve.c)
ln -s /etc "$T/abs" && ln -s ../.. "$T/up" && mkdir "$T/d" && ln -s ../up/x "$T/d/via"
expect_abort 1 "a write through a link to an absolute path" "$T" \
	apply_ops "$T" '[{"op": "write", "path": "abs/x-escape", "content": "x"}]'
output_has "  names the link and says it leaves the tree" \
	"write 'abs/x-escape': 'abs' is a symlink; ops do not follow symlinks"
ok "  without 'Invalid cross-device link'" sh -c '! grep -q "cross-device" "$1"' sh "$TEST_TMP/out.prev"
expect_abort 1 "a write through a relative link climbing out" "$T" \
	apply_ops "$T" '[{"op": "write", "path": "up/x-escape", "content": "x"}]'
output_has "  names the link and says it climbs out" "write 'up/x-escape': 'up' is a symlink; ops do not follow symlinks"
expect_abort 1 "mkdir with parents through a chain of links" "$T" \
	apply_ops "$T" '[{"op": "mkdir", "path": "d/via/y", "parents": true}]'
output_has "  names the link that climbs out" "mkdir 'd/via/y': 'd/via' is a symlink; ops do not follow symlinks"
expect_abort 1 "a rename into a link to an absolute path" "$T" \
	apply_ops "$T" '[{"op": "rename", "path": "conf", "to": "abs/conf"}]'
output_has "  names the link of the destination" "rename 'conf' to 'abs/conf': 'abs' is a symlink; ops do not follow symlinks"
rm "$T/abs" "$T/up" "$T/d/via" && rmdir "$T/d"

# --- 7: ENOSPC while writing the journal leaves no journal.tmp
# max_inline=0 puts even a small file's bytes in a data extent, so the journal
# needs data space, which the filler has taken.
F=$(new_target full)
FSD=$(state_dir "$F")
ok "a first generation of a second target" apply_ops "$F" '[{"op": "write", "path": "conf", "content": "v1\n"}]'
mount -o remount,max_inline=0 "$MNT"
fill() {
	dd if=/dev/zero of="$MNT/filler" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$MNT/filler2" bs=4k status=none 2>/dev/null
	sync
	dd if=/dev/zero of="$MNT/filler3" bs=4k status=none 2>/dev/null
	sync
	! dd if=/dev/zero of="$MNT/probe" bs=4k count=1 conv=fsync status=none 2>/dev/null
}
ok "the filesystem filled up" fill
rm -f "$MNT/probe"
manifest "$F" >"$TEST_TMP/mf"
expect_abort 1 "apply with no space for the journal" "$F" \
	apply_ops "$F" '[{"op": "write", "path": "conf", "content": "v2\n"}]'
output_has "  says it cannot write the journal, and why" "cannot write journal .*No space left on device"
ok "  no journal.tmp is left" test ! -e "$FSD/journal.tmp"
ok "  nor a journal" test ! -e "$FSD/journal"
rm -f "$MNT/filler" "$MNT/filler2" "$MNT/filler3"
sync
mount -o remount,max_inline=2048 "$MNT"
ok "with space again, apply works" apply_ops "$F" '[{"op": "write", "path": "conf", "content": "v2\n"}]'

done_testing
