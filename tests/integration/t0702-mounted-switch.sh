#!/usr/bin/env bash
# t0702: apply, run and rollback of a mounted target (a subvol= mount). The commit
# exchanges the subvolumes at the top level: the next mount by name finds the new
# tree, the running mount keeps the old one (kept as gen-N, writable while mounted,
# its later writes staying there) and status/history say "switch pending". A second
# apply builds on the pending tree. --remount switches a mount that is not in use at
# once; a busy one stays pending, saying why. The default subvolume follows a
# switch of the tree mounted as the default; a mount by subvolid= in fstab is
# refused. A kill at the commit point is finished by recover.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

B=$BTRFS_TXN
btrfs subvolume create "$MNT/@" >/dev/null && btrfs subvolume create "$MNT/@home" >/dev/null &&
	printf 'v1\n' >"$MNT/@/conf" && printf 'h1\n' >"$MNT/@home/conf" ||
	{ echo "Bail out! cannot make the subvolumes"; exit 1; }
SV=$TEST_TMP/sv HOMEMNT=$TEST_TMP/home
mkdir -p "$SV" "$HOMEMNT"
mount -o subvol=@ "$LOOP_DEV" "$SV" && at_cleanup "umount '$SV' || umount -l '$SV'"
SD=$MNT/.btrfs-txn/@
ro() { btrfs property get -ts "$1" ro; }
spec() { # spec FILE CONTENT [TARGET]
	printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "%s", "content": "%s\\n"}]}\n' \
		"${3:-$SV}" "$1" "$2" >"$TEST_TMP/spec.json"
}

spec conf v2
ok "apply to the mounted subvolume" "$B" apply "$TEST_TMP/spec.json"
output_has "  says the switch is pending until the next mount" "switch pending until the next mount.*generation 1.*gen-0"
ok "  the mount still shows the old tree" test "$(cat "$SV/conf")" = v1
ok "  the name at the top level holds the new one" test "$(cat "$MNT/@/conf")" = v2
ok "  the replaced tree is gen-0, still writable while mounted" test "$(ro "$SD/gen-0")" = ro=false
ok "status --json: switch pending, gen-0 mounted" sh -c "'$B' status --json '$SV' | jq -e '.mounted.switch_pending and .generation == 1 and .kept[0].mounted == \"$SV\"'"
ok "status (text)" "$B" status "$SV"
output_has "  says so" "^switch: +pending until the next mount"
printf 'written after\n' >"$SV/log"
ok "a write to the running tree after the switch stays in gen-0" test "$(cat "$SD/gen-0/log")" = "written after" -a ! -e "$MNT/@/log"
ok "history records the pending switch" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.switch == \"pending until the next mount\" and .generation == 1'"
ok "history (text)" "$B" history "$SV"
output_has "  marks it" "\[mounted: switch at the next mount\]"
expect_exit 4 "snapshot --tag while a switch is pending: refused" "$B" snapshot "$SV" --tag pre
output_has "  saying why" "switch pending until the next mount"

spec conf2 second
ok "a second apply while pending" "$B" apply "$TEST_TMP/spec.json"
output_has "  says the mount still shows gen-0" "until then the mount shows the tree kept as gen-0"
ok "  builds on the pending tree, not the running one" test "$(cat "$MNT/@/conf") $(cat "$MNT/@/conf2")" = "v2 second" -a ! -e "$MNT/@/log"
ok "  the mount still shows gen-0" test "$(cat "$SV/conf")" = v1 -a ! -e "$SV/conf2"
ok "  the pending tree it replaced, never mounted, is read-only gen-1" test "$(ro "$SD/gen-1")" = ro=true

umount "$SV" && mount -o subvol=@ "$LOOP_DEV" "$SV"
ok "remounted by name: the new tree" test "$(cat "$SV/conf") $(cat "$SV/conf2")" = "v2 second"
ok "  status: no switch pending" sh -c "'$B' status --json '$SV' | jq -e '.mounted.switch_pending == false and .generation == 2'"

ok "run on the mounted subvolume" "$B" run "$SV" -- sh -c 'echo ran >"$BTRFS_TXN_STAGING/ran"'
ok "  gen-0, mounted nowhere now, was made read-only" test "$(ro "$SD/gen-0")" = ro=true
ok "  pending: the mount does not show it" test ! -e "$SV/ran" -a -e "$MNT/@/ran"

cd / || exit 1
ok "rollback --to 1 --remount" "$B" rollback "$SV" --to 1 --remount
output_has "  remounted" "remounted: the mount shows generation 4"
ok "  the mount shows generation 1's tree at once" test "$(cat "$SV/conf")" = v2 -a ! -e "$SV/conf2" -a ! -e "$SV/ran"
ok "  nothing pending" sh -c "'$B' status --json '$SV' | jq -e '.mounted.switch_pending == false'"
ok "  the tree it showed before is read-only gen-2" test "$(ro "$SD/gen-2")" = ro=true

# --remount of a mount in use: pending, saying why
(cd "$SV" && exec sleep 60) &
busy=$!
at_cleanup "kill $busy"
spec conf v5
ok "apply --remount while a process works in the mount" "$B" apply --remount "$TEST_TMP/spec.json"
output_has "  cannot remount, says why" "--remount: the new tree cannot be mounted now: Device or resource busy"
output_has "  and that the switch is pending" "switch pending until the next mount"
kill "$busy"; wait "$busy" 2>/dev/null
ok "  the mount is still there, showing the old tree" test "$(cat "$SV/conf")" = v2
expect_exit 2 "--remount is for apply, run and rollback only" "$B" gc "$SV" --remount
umount "$SV" && mount -o subvol=@ "$LOOP_DEV" "$SV"

# a subvolume mounted as the filesystem's default: the default follows the switch
btrfs subvolume set-default "$MNT/@home" && mount "$LOOP_DEV" "$HOMEMNT" && at_cleanup "umount '$HOMEMNT' || umount -l '$HOMEMNT'"
spec conf h2 "$HOMEMNT"
"$B" apply --json "$TEST_TMP/spec.json" >"$TEST_TMP/home.json" 2>"$TEST_TMP/home.err"
ok "apply to the default subvolume's mount: by name and default subvolume" jq -e '.switch == {"pending": true, "by": "name and default subvolume", "remounted": false, "running_generation": 0}' "$TEST_TMP/home.json"
ok "  the default subvolume is the new tree" test "$(btrfs subvolume get-default "$MNT" | awk '{ print $2 }')" = "$(btrfs subvolume show "$MNT/@home" | awk '$1 == "Subvolume" && $2 == "ID:" { print $3 }')"
umount "$HOMEMNT" && mount "$LOOP_DEV" "$HOMEMNT"
ok "  the next mount of the default finds it" test "$(cat "$HOMEMNT/conf")" = h2

# a mount by subvolume id would not follow the name: refused
printf '%s %s btrfs subvolid=256 0 0\n' "$LOOP_DEV" "$SV" >"$TEST_TMP/fstab"
manifest "$MNT/@" >"$TEST_TMP/named"
spec conf v6
expect_exit 4 "fstab mounts it by subvolid=: refused" env BTRFS_TXN_FSTAB="$TEST_TMP/fstab" "$B" apply "$TEST_TMP/spec.json"
output_has "  saying why and naming subvol=" "mounted by subvolume id in .*mount it by name \(subvol=@\)"
ok "  nothing changed" same_manifest "$TEST_TMP/named" "$MNT/@"

# killed at the commit point: recover finishes it, the switch pending
spec conf v7
g=$("$B" status --json "$SV" | jq -r .generation)
expect_exit 137 "apply killed right after the exchange" with_fault exchanged "$B" apply "$TEST_TMP/spec.json"
ok "recover" "$B" recover "$SV"
ok "  the name holds the new tree, the mount the old one" test "$(cat "$MNT/@/conf") $(cat "$SV/conf")" = "v7 v5"
ok "  history: committed, recovered" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.result == \"committed\" and .recovered and .generation == $((g + 1))'"
ok "  the running tree was not made read-only" test "$(ro "$SD/gen-$g")" = ro=false
spec conf v8
expect_exit 137 "apply killed before the exchange" with_fault checked "$B" apply "$TEST_TMP/spec.json"
ok "recover" "$B" recover "$SV"
ok "  the name still holds the tree before" test "$(cat "$MNT/@/conf")" = v7
ok "  no staging left" sh -c "! ls -d '$SD'/staging-* 2>/dev/null"
ok "no private mount is left behind" test "$(grep -c " - btrfs $LOOP_DEV " /proc/self/mountinfo)" -eq 3

done_testing
