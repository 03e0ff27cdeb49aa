#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0703: receive and push into a mounted target (a subvol= mount on the receiving
# filesystem, as a fleet host's /srv or / is). The landing switches by name at the
# top level as apply does: the running mount keeps the old tree (gen-N, writable
# while mounted, what is written there staying there), the next mount by name shows
# the received tree, status says the switch is pending, and the next incremental
# stream lands on the pending tree. push reaches the mounted path the same way. A
# change made in the mounted tree is drift (refused, nothing changed); a receive
# killed mid-way is undone by recover with nothing half-received left.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v jq >/dev/null || skip_all "needs jq"
btrfs_fixture 1G
btrfs_fixture2 1G

X=$BTRFS_TXN
S=$MNT/src
APP=$TEST_TMP/app
DD=$MNT2/.btrfs-txn/@app
mkdir -p "$APP"
"$X" init "$S" >/dev/null && printf 'v1\n' >"$S/conf" || { echo "Bail out! cannot make the sender"; exit 1; }
ro() { btrfs property get -ts "$1" ro; }
# change_and_send CONTENT FILE: the sender's conf becomes CONTENT, then an incremental send.
change_and_send() {
	apply_ops "$S" "[{\"op\": \"write\", \"path\": \"conf\", \"content\": \"$1\\n\"}]" >/dev/null &&
		"$X" send -q "$S" -f "$2"
}

ok "the first receive creates the subvolume at the top level" sh -c \
	"'$X' send -q '$S' -f '$TEST_TMP/s0' && '$X' receive -q '$MNT2/@app' -f '$TEST_TMP/s0'"
mount -o subvol=@app "$LOOP_DEV2" "$APP" && at_cleanup "umount '$APP' || umount -l '$APP'"
ok "mounted with subvol=@app, it shows the received tree" test "$(cat "$APP/conf")" = v1
ok "  status says it is mounted" sh -c "'$X' status --json '$APP' | jq -e '.mounted.subvolume == \"@app\" and .mounted.switch_pending == false'"

ok "an incremental stream" change_and_send v2 "$TEST_TMP/s1"
ok "receive into the mounted path" "$X" receive "$APP" -f "$TEST_TMP/s1"
output_has "  says the switch is pending until the next mount" "switch pending until the next mount.*gen-1"
ok "  the mount still shows the old tree" test "$(cat "$APP/conf")" = v1
ok "  the name at the top level holds the received one" test "$(cat "$MNT2/@app/conf")" = v2
ok "  the replaced tree (generation 1: the first receive made it) is gen-1, writable while mounted" \
	test "$(ro "$DD/gen-1")" = ro=false
ok "  status --json: switch pending" sh -c "'$X' status --json '$APP' | jq -e '.mounted.switch_pending and ([.kept[] | select(.mounted == \"$APP\") | .generation] == [1])'"
ok "  nothing half-received, no staging, no journal" receive_no_leftovers "$DD"
ok "  received.json names exactly the recv- directories" receive_record_matches "$DD"
ok "  every received subvolume is read-only" sh -c "for s in '$DD'/recv-*/*; do btrfs property get -ts \"\$s\" ro | grep -qx ro=true || exit 1; done"

printf 'local log\n' >"$APP/log"
ok "a write to the running mount stays in gen-1" test "$(cat "$DD/gen-1/log")" = "local log" -a ! -e "$MNT2/@app/log"
ok "a second stream while the switch is pending" change_and_send v3 "$TEST_TMP/s2"
ok "  lands (the write to the running tree is not drift of the pending one)" "$X" receive -q "$APP" -f "$TEST_TMP/s2"
ok "  on the pending tree" test "$(cat "$MNT2/@app/conf")" = v3 -a ! -e "$MNT2/@app/log"
ok "  the mount still shows gen-1" test "$(cat "$APP/conf")" = v1
ok "  the pending tree it replaced, never mounted, is read-only gen-2" test "$(ro "$DD/gen-2")" = ro=true

umount "$APP" && mount -o subvol=@app "$LOOP_DEV2" "$APP"
ok "remounted by name: the received tree" test "$(cat "$APP/conf")" = v3
ok "  status: no switch pending" sh -c "'$X' status --json '$APP' | jq -e '.mounted.switch_pending == false'"

apply_ops "$S" '[{"op": "write", "path": "conf", "content": "v4\n"}]' >/dev/null
ok "push to the mounted path" sh -c "'$X' push --json '$S' '$APP' >'$TEST_TMP/push.json'"
ok "  committed, incrementally" jq -e '.destinations[0].result == "committed" and .destinations[0].parent != null' "$TEST_TMP/push.json"
ok "  pending until the next mount" test "$(cat "$APP/conf")" = v3 -a "$(cat "$MNT2/@app/conf")" = v4
umount "$APP" && mount -o subvol=@app "$LOOP_DEV2" "$APP"
ok "  and there after it" test "$(cat "$APP/conf")" = v4

printf 'edited by hand\n' >"$APP/conf"
manifest "$MNT2/@app" >"$TEST_TMP/before-drift"
ok "an edit in the mounted tree, then a stream" change_and_send v5 "$TEST_TMP/s3"
expect_exit 1 "receive refuses the drifted mounted target" "$X" receive "$APP" -f "$TEST_TMP/s3"
output_has "  says why" "changed locally since its last receive"
ok "  nothing changed" same_manifest "$TEST_TMP/before-drift" "$MNT2/@app"
ok "  nothing left behind" receive_no_leftovers "$DD"

ok "--force lands it" "$X" receive -q --force "$APP" -f "$TEST_TMP/s3"
umount "$APP" && mount -o subvol=@app "$LOOP_DEV2" "$APP"
ok "  there after the next mount" test "$(cat "$APP/conf")" = v5

ok "another stream" change_and_send v6 "$TEST_TMP/s4"
manifest "$MNT2/@app" >"$TEST_TMP/before-kill"
expect_exit 137 "a receive into the mounted path killed once the stream is in" \
	with_fault received "$X" receive -q "$APP" -f "$TEST_TMP/s4"
ok "recover" "$X" recover "$APP"
ok "  the tree is the one before" same_manifest "$TEST_TMP/before-kill" "$MNT2/@app"
ok "  nothing half-received, no staging, no journal" receive_no_leftovers "$DD"
ok "  the records match" receive_record_matches "$DD"
ok "  the stream lands after it" "$X" receive -q "$APP" -f "$TEST_TMP/s4"
umount "$APP" && mount -o subvol=@app "$LOOP_DEV2" "$APP"
ok "  and there after the next mount" test "$(cat "$APP/conf")" = v6

done_testing
