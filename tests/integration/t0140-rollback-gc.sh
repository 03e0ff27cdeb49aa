#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0140: generations: rollback (to the previous one, --to GEN, --to 0), refusals
# with exit 2, gc --keep N, keep from the spec and --keep honoured by apply, and
# gen-N read-only.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
gen() { "$BTRFS_TXN" status --json "$T" | jq -r .generation; }
kept() { "$BTRFS_TXN" status --json "$T" | jq -r '[.kept[].generation | tostring] | join(" ")'; }

expect_abort 2 "rollback with nothing to roll back to" "$T" "$BTRFS_TXN" rollback "$T"
output_has "  says there is no earlier generation" "no earlier generation"

manifest "$T" >"$TEST_TMP/m0"
for n in 1 2 3; do
	apply_ops "$T" "[{\"op\": \"write\", \"path\": \"v\", \"content\": \"$n\\n\"}, {\"op\": \"write\", \"path\": \"f$n\", \"content\": \"$n\", \"mode\": \"060$n\"}]" >/dev/null
	manifest "$T" >"$TEST_TMP/m$n"
done
ok "three applies: generation 3, gen-0..2 kept" test "$(gen) / $(kept)" = "3 / 0 1 2"

ok "rollback (to the previous generation)" "$BTRFS_TXN" rollback "$T"
ok "  tree is exactly generation 2" same_manifest "$TEST_TMP/m2" "$T"
ok "  the rollback is a new generation 4; gen-3 kept" test "$(gen) / $(kept)" = "4 / 0 1 2 3"
ok "  history says rollback, committed, to 2" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.kind == \"rollback\" and .result == \"committed\" and .generation == 4'"
ok "rollback --to 0 (the empty tree init made)" "$BTRFS_TXN" rollback --to 0 "$T"
ok "  tree is exactly generation 0" same_manifest "$TEST_TMP/m0" "$T"
ok "  and empty" test -z "$(ls -A "$T")"
ok "rollback --to 3 (a generation that was rolled away from)" "$BTRFS_TXN" rollback "$T" --to 3
ok "  tree is exactly generation 3" same_manifest "$TEST_TMP/m3" "$T"
ok "rollback --to 1" "$BTRFS_TXN" rollback --to 1 "$T"
ok "  tree is exactly generation 1" same_manifest "$TEST_TMP/m1" "$T"
g=$(gen)
ok "  generation $g, the five before it kept (default keep 5)" test "$(kept)" = "$(seq $((g - 5)) $((g - 1)) | tr '\n' ' ' | sed 's/ $//')"
expect_abort 2 "rollback --to the current generation" "$T" "$BTRFS_TXN" rollback --to "$g" "$T"
expect_abort 2 "rollback --to a future generation" "$T" "$BTRFS_TXN" rollback --to 99 "$T"
expect_abort 2 "rollback --to a generation no longer kept" "$T" "$BTRFS_TXN" rollback --to 0 "$T"
output_has "  says it is not kept" "not kept"
expect_abort 2 "rollback --to nonsense" "$T" "$BTRFS_TXN" rollback --to two "$T"
"$BTRFS_TXN" rollback --json --to 3 "$T" >"$TEST_TMP/rb.json" 2>/dev/null
ok "rollback --json says committed and the new generation" jq -e ".result == \"committed\" and .generation == $((g + 1))" "$TEST_TMP/rb.json"
ok "  tree is generation 3 again" same_manifest "$TEST_TMP/m3" "$T"
g=$((g + 1))

# gen-N are read-only
ok "gen-3 is a read-only subvolume" test "$(btrfs property get -ts "$SD/gen-3" ro)" = ro=true
expect_exit 1 "creating a file in gen-3 fails" touch "$SD/gen-3/new"
output_has "  with EROFS" "Read-only file system"
expect_exit 1 "truncating a file in gen-3 fails" truncate -s 0 "$SD/gen-3/v"
expect_exit 1 "chmod in gen-3 fails" chmod 0777 "$SD/gen-3/v"
ok "  gen-3 still holds generation 3" same_manifest "$TEST_TMP/m3" "$SD/gen-3"

# gc
n_before=$(kept | wc -w)
ok "gc --keep 2" "$BTRFS_TXN" gc --keep 2 "$T"
ok "  only the two newest kept" test "$(kept)" = "$(seq $((g - 2)) $((g - 1)) | tr '\n' ' ' | sed 's/ $//')"
ok "  gen-0 is gone from disk" test ! -e "$SD/gen-0" -a "$n_before" -gt 2
ok "  the tree is untouched" same_manifest "$TEST_TMP/m3" "$T"
ok "gc --keep 5 with fewer kept removes nothing" "$BTRFS_TXN" gc --keep 5 "$T"
ok "  two still kept" test "$(kept | wc -w)" = 2
expect_exit 2 "gc --keep nonsense" "$BTRFS_TXN" gc --keep many "$T"
"$BTRFS_TXN" gc --json --keep 1 "$T" >"$TEST_TMP/gc.json" 2>/dev/null
ok "gc --json is JSON and reports one removed" jq -e '.removed == 1 and .keep == 1' "$TEST_TMP/gc.json"
ok "  one kept" test "$(kept | wc -w)" = 1

# keep from the spec, then --keep overriding it
for n in 1 2 3 4 5; do
	apply_ops "$T" "[{\"op\": \"write\", \"path\": \"k\", \"content\": \"$n\"}]" '"keep": 2' >/dev/null
done
ok "keep: 2 in the spec leaves two generations" test "$(kept | wc -w)" = 2
g=$(gen)
ok "  the newest two" test "$(kept)" = "$((g - 2)) $((g - 1))"
for n in 1 2 3 4; do
	spec=$(mktemp "$TEST_TMP/spec.XXXXXX.json")
	printf '{"version": 1, "target": "%s", "keep": 2, "ops": [{"op": "write", "path": "k", "content": "x%s"}]}\n' "$T" "$n" >"$spec"
	"$BTRFS_TXN" apply --keep 4 "$spec" >/dev/null
done
ok "--keep 4 overrides the spec's keep: 2" test "$(kept | wc -w)" = 4
ok "apply --json reports dropped generations" sh -c "printf '{\"version\": 1, \"target\": \"$T\", \"keep\": 1, \"ops\": [{\"op\": \"write\", \"path\": \"k\", \"content\": \"last\"}]}' | '$BTRFS_TXN' apply --json - | jq -e '.dropped_generations == 4'"
ok "  one kept" test "$(kept | wc -w)" = 1
ok "default keep is 5" sh -c "for n in 1 2 3 4 5 6 7; do printf '{\"version\": 1, \"target\": \"$T\", \"ops\": [{\"op\": \"write\", \"path\": \"d\", \"content\": \"'\$n'\"}]}' | '$BTRFS_TXN' apply - >/dev/null || exit 1; done; test \"\$('$BTRFS_TXN' status --json '$T' | jq '.kept | length')\" = 5"
ok "no staging left after all that" no_staging "$T"
ok "every kept generation is read-only" sh -c "for g in '$SD'/gen-*; do test \"\$(btrfs property get -ts \"\$g\" ro)\" = ro=true || exit 1; done"

done_testing
