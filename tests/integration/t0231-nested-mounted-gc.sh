#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0231: a nested subvolume is refused, never hidden; gc never drops a mounted
# generation and never lets one it cannot delete keep all the others.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

B=$BTRFS_TXN
T=$(new_target t)
S=$MNT/.btrfs-txn/t
apply_ops "$T" '[{"op": "write", "path": "a", "content": "1\n"}]' >/dev/null

# A nested subvolume: any user who can write into T can make one.
btrfs subvolume create "$T/nested" >/dev/null && echo keep >"$T/nested/data"
before=$(manifest "$T")
expect_exit 4 "apply refuses a target holding a nested subvolume" \
	apply_ops "$T" '[{"op": "write", "path": "a", "content": "2\n"}]'
cp "$TEST_TMP/out" "$TEST_TMP/refusal"
ok "the refusal names the nested subvolume and why" \
	grep -q "'$T/nested' is a nested subvolume: a snapshot of '$T' would not include it" "$TEST_TMP/refusal"
echo '{"version": 1, "target": "'"$T"'", "ops": [{"op": "write", "path": "a", "content": "3\n"}]}' >"$TEST_TMP/plan.json"
expect_exit 4 "plan says the same" "$B" plan "$TEST_TMP/plan.json"
expect_exit 4 "run refuses it" "$B" run "$T" -- true
expect_exit 4 "rollback refuses it" "$B" rollback "$T"
untouched() { test "$(manifest "$T")" = "$before" && test "$(cat "$T/nested/data")" = keep; }
ok "the target and its nested subvolume are untouched" untouched
btrfs subvolume delete "$T/nested" >/dev/null

# A nested subvolume that appears during the transaction aborts it (exit 1).
expect_exit 1 "a nested subvolume made during a run aborts it" \
	"$B" run "$T" -- btrfs subvolume create "$T/late"
ok "... and the target keeps it" test -d "$T/late"
btrfs subvolume delete "$T/late" >/dev/null

# gc: a generation that holds a nested subvolume (left by an older version) cannot be
# deleted; the others still go, it is named, and gc exits 1.
for i in 1 2 3 4; do apply_ops "$T" "[{\"op\": \"write\", \"path\": \"a\", \"content\": \"$i\\n\"}]" >/dev/null; done
btrfs property set "$S/gen-1" ro false && btrfs subvolume create "$S/gen-1/stuck" >/dev/null &&
	btrfs property set "$S/gen-1" ro true
expect_exit 1 "gc with a generation it cannot delete exits 1" "$B" gc "$T" --keep 1
cp "$TEST_TMP/out" "$TEST_TMP/gc.out"
ok "... naming that generation and why" grep -qF "gc: gen-1: cannot delete it: Directory not empty" "$TEST_TMP/gc.out"
ok "... and dropping every other one beyond keep" \
	sh -c "test -d '$S/gen-1' && ! test -e '$S/gen-0' && ! test -e '$S/gen-2' && ! test -e '$S/gen-3' && test -d '$S/gen-4'"
btrfs property set "$S/gen-1" ro false && btrfs subvolume delete "$S/gen-1/stuck" >/dev/null &&
	btrfs subvolume delete "$S/gen-1" >/dev/null

# A bind mount of T keeps showing the replaced tree: gc never deletes it under it.
mkdir -p "$TEST_TMP/view"
mount --bind "$T" "$TEST_TMP/view" && at_cleanup "umount '$TEST_TMP/view'"
gen=$("$B" status --json "$T" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
apply_ops "$T" '[{"op": "write", "path": "a", "content": "after\n"}]' >/dev/null
ok "the bind mount shows the replaced tree" sh -c "test \"\$(cat '$TEST_TMP/view/a')\" = '4'"
ok "status names the mount of that generation" sh -c "'$B' status '$T' | grep -q 'gen-$gen (mounted at $TEST_TMP/view)'"
ok "gc --keep 0 keeps it and says why" sh -c "'$B' gc '$T' --keep 0 | grep -q 'gen-$gen kept: mounted at'"
ok "... and the bind mount still reads it" sh -c "test \"\$(cat '$TEST_TMP/view/a')\" = '4'"
umount "$TEST_TMP/view"
ok "once unmounted, gc drops it" sh -c "'$B' gc -q '$T' --keep 0 && ! test -e '$S/gen-$gen'"

done_testing
