#!/usr/bin/env bash
# t0136: the snapshot method's journal is not fsynced (step 7 writes it back, so the
# commit carrying the exchange carries it), so a crash before that may leave a staging
# subvolume with no journal, or with a journal whose name survived without its
# bytes (empty). Both are transactions cut short before the commit point:
# recovery deletes the staging and the empty journal and leaves the tree as it
# was. A journal with bytes that do not parse is still left for a person (t0135).
# Also: apply issues no fsync at all (its durability comes from Btrfs commits).
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v1\n"}]' >/dev/null
manifest "$T" >"$TEST_TMP/m1"
change='[{"op": "write", "path": "conf", "content": "v2\n"}]'

# The journal's name kept without its bytes, staging and staged record present.
expect_exit 137 "apply killed at 'applied'" with_fault applied apply_ops "$T" "$change"
ok "  a staging subvolume is left" sh -c "ls -d '$SD'/staging-* >/dev/null"
: >"$SD/journal"
ok "recover with an empty journal" sh -c "'$BTRFS_TXN' recover --json '$T' >'$TEST_TMP/out.json'"
ok "  says it removed one staging subvolume" sh -c "jq -e '.removed_staging == 1' '$TEST_TMP/out.json'"
ok "  the staging is removed" no_staging "$T"
ok "  the empty journal is removed" test ! -e "$SD/journal"
ok "  the staged record is removed" test ! -e "$SD/staged"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/m1" "$T"

# The journal lost altogether (and an empty temporary one): the same.
expect_exit 137 "apply killed at 'staged'" with_fault staged apply_ops "$T" "$change"
rm -f "$SD/journal" && : >"$SD/journal.tmp"
ok "recover with no journal and an empty journal.tmp" "$BTRFS_TXN" recover "$T"
ok "  the staging is removed" no_staging "$T"
ok "  nothing of the journal is left" sh -c "test ! -e '$SD/journal' && test ! -e '$SD/journal.tmp'"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/m1" "$T"

# The next apply finds the same state and recovers by itself.
expect_exit 137 "apply killed at 'snapshotted'" with_fault snapshotted apply_ops "$T" "$change"
: >"$SD/journal"
ok "apply after a lost journal recovers first and applies" apply_ops "$T" "$change"
ok "  the new content is there" grep -qx v2 "$T/conf"
ok "  no staging left" no_staging "$T"
ok "  no journal left" test ! -e "$SD/journal"

# No fsync in apply: two log-tree syncs that step 7 makes redundant.
if command -v strace >/dev/null 2>&1; then
	# (strace is not a dependency: without it these three points are left out.)
	spec=$TEST_TMP/spec.json
	printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "conf", "content": "v3\\n"}]}\n' "$T" >"$spec"
	ok "apply under strace" strace -f -qq -e trace=fsync,fdatasync -o "$TEST_TMP/strace" "$BTRFS_TXN" apply "$spec"
	ok "  it called neither fsync nor fdatasync" sh -c "! grep -E 'fsync|fdatasync' '$TEST_TMP/strace'"
	ok "  and committed the change" grep -qx v3 "$T/conf"
fi

done_testing
