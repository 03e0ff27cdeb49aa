#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0135: recovery from hand-damaged state, with the exact expected outcome: a torn
# temporary journal is discarded, a stray staging subvolume no journal speaks of is
# removed, a missing, torn or foreign staged record rolls back, and what recovery cannot judge (an unreadable journal, a target that is
# neither the old tree nor the staged one) exits 5 and leaves everything in place.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v1\n"}]' >/dev/null
manifest "$T" >"$TEST_TMP/m1"
change='[{"op": "write", "path": "conf", "content": "v2\n"}]'

# A temporary journal torn by a crash during journal_write(): not a transaction.
printf '{"txid": "torn", "kind": "app' >"$SD/journal.tmp"
ok "recover with a torn journal.tmp" "$BTRFS_TXN" recover "$T"
ok "  it is discarded" test ! -e "$SD/journal.tmp"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/m1" "$T"

# A stray staging subvolume (no journal): removed by recover.
btrfs subvolume snapshot "$T" "$SD/staging-stray" >/dev/null
ok "recover with a stray staging subvolume" "$BTRFS_TXN" recover --json "$T"
ok "  it is removed" test ! -e "$SD/staging-stray"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/m1" "$T"
ok "a stray staging is also removed by the next apply" sh -c "btrfs subvolume snapshot '$T' '$SD/staging-stray2' >/dev/null"
ok "  apply" apply_ops "$T" "$change"
ok "  no staging left" no_staging "$T"
manifest "$T" >"$TEST_TMP/m2"

# An unreadable journal: exit 5, nothing removed, apply refuses too.
expect_exit 137 "apply killed at 'applied'" with_fault applied apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v3\n"}]'
cp "$SD/journal" "$TEST_TMP/journal.good"
printf 'garbage\0\1\2' >"$SD/journal"
expect_exit 5 "recover with an unreadable journal" "$BTRFS_TXN" recover "$T"
output_has "  says the journal is unreadable and names it" "journal '$SD/journal' is unreadable"
ok "  the journal and the staging are left for a person" sh -c "test -e '$SD/journal' && ls -d '$SD'/staging-* >/dev/null"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/m2" "$T"
expect_exit 5 "apply refuses while the journal is unreadable" apply_ops "$T" "$change"
ok "  tree still unchanged" same_manifest "$TEST_TMP/m2" "$T"
cp "$TEST_TMP/journal.good" "$SD/journal"
ok "with the journal restored, recover rolls back" "$BTRFS_TXN" recover "$T"
ok "  the tree is the one before" same_manifest "$TEST_TMP/m2" "$T"
ok "  no staging left" no_staging "$T"

# The target replaced behind the tool's back during an interrupted transaction.
expect_exit 137 "apply killed at 'applied'" with_fault applied apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v4\n"}]'
mv "$T" "$MNT/t.moved" && btrfs subvolume create "$T" >/dev/null && echo other >"$T/conf"
manifest "$T" >"$TEST_TMP/other"
expect_exit 5 "recover when T is neither the old nor the staged tree" "$BTRFS_TXN" recover "$T"
output_has "  says so and leaves the state directory as it is" "is neither the tree before transaction .* nor its staging"
ok "  the staging is not deleted" sh -c "ls -d '$SD'/staging-* >/dev/null"
ok "  the foreign tree is untouched" same_manifest "$TEST_TMP/other" "$T"
ok "  status shows the interrupted transaction" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '.interrupted'"
btrfs subvolume delete "$T" >/dev/null && mv "$MNT/t.moved" "$T"
ok "with the real tree back in place, recover rolls back" "$BTRFS_TXN" recover "$T"
ok "  the tree is the one before" same_manifest "$TEST_TMP/m2" "$T"
ok "  no staging left, nothing interrupted" sh -c "$(declare -f state_dir no_staging); no_staging '$T' && '$BTRFS_TXN' status --json '$T' | jq -e '.interrupted | not'"
ok "and apply works again" apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v5\n"}]'

# The staged record (the staging UUID, written without an fsync of its own and made
# durable by the step-7 flush): missing, torn, or another transaction's, it means the
# exchange cannot have happened, and recovery rolls back.
manifest "$T" >"$TEST_TMP/m5"
for damage in missing torn other; do
	expect_exit 137 "apply killed at 'applied', then the staged record $damage" \
		with_fault applied apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v6\n"}]'
	ok "  the record names this transaction's staging" sh -c \
		"test \"\$(jq -r .txid '$SD/staged')\" = \"\$(jq -r .txid '$SD/journal')\" &&
		 test \"\$(jq -r .staging_uuid '$SD/staged')\" = \"\$(btrfs subvolume show \$(ls -d '$SD'/staging-*) | awk '/^\tUUID:/ { print \$2 }')\""
	case $damage in
	missing) rm "$SD/staged" ;;
	torn) printf '{"txid": "%s", "stag' "$(jq -r .txid "$SD/staged")" >"$SD/staged" ;;
	other) jq -c '.txid = "20200101T000000Z-000000"' "$SD/staged" >"$TEST_TMP/staged" &&
		cp "$TEST_TMP/staged" "$SD/staged" ;;
	esac
	ok "  recover rolls back" "$BTRFS_TXN" recover "$T"
	ok "  the tree is the one before" same_manifest "$TEST_TMP/m5" "$T"
	ok "  no staging, journal or record left" sh -c \
		"$(declare -f state_dir no_staging); no_staging '$T' && test ! -e '$SD/journal' -a ! -e '$SD/staged'"
done
# After the exchange, the record is what says the commit happened.
expect_exit 137 "apply killed at 'exchanged'" \
	with_fault exchanged apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v7\n"}]'
ok "recover rolls forward" "$BTRFS_TXN" recover "$T"
ok "  the tree is the new one" sh -c "test \"\$(cat '$T/conf')\" = v7"
ok "  no staging, journal or record left" sh -c \
	"$(declare -f state_dir no_staging); no_staging '$T' && test ! -e '$SD/journal' -a ! -e '$SD/staged'"

# The old tree cannot become gen-N (a directory of that name appears right after the
# exchange): the exchange was synced all the same, so apply exits 5 with the new
# tree in place, and recover finishes the tail once the obstacle is gone.
gen=$("$BTRFS_TXN" status --json "$T" | jq -r .generation)
expect_exit 5 "apply with gen-$gen in the way after the exchange" \
	with_hook "[ \"\$1\" != exchanged ] || mkdir '$SD/gen-$gen'" \
	apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v8\n"}]'
output_has "  says the old tree cannot be kept" "cannot keep the old tree of .* as '$SD/gen-$gen'"
ok "  the target is the new tree" sh -c "test \"\$(cat '$T/conf')\" = v8"
ok "  the journal stays for recover" test -e "$SD/journal"
rmdir "$SD/gen-$gen"
ok "recover finishes the tail" "$BTRFS_TXN" recover "$T"
ok "  gen-$gen is the old tree, read-only" sh -c \
	"test \"\$(cat '$SD/gen-$gen/conf')\" = v7 && btrfs property get '$SD/gen-$gen' ro | grep -qx ro=true"
ok "  no staging, journal or record left" sh -c \
	"$(declare -f state_dir no_staging); no_staging '$T' && test ! -e '$SD/journal' -a ! -e '$SD/staged'"

# recover on a subvolume never managed (as the boot unit may run it) changes nothing.
btrfs subvolume create "$MNT/plain-sub" >/dev/null
ok "recover on a never-managed subvolume: nothing to do" "$BTRFS_TXN" recover "$MNT/plain-sub"
ok "  and it leaves no state directory behind" test ! -e "$MNT/.btrfs-txn/plain-sub"

done_testing
