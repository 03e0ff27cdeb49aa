#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0181: the stall watchdog (runner/watchdog.c). A step that has not ended --timeout
# seconds after the previous one is named in one line on stderr, once; the command
# keeps waiting and then ends by the ordinary rules. --timeout 0 turns it off. The
# stall is simulated by a step hook that sleeps (the QEMU scenario hang-stall uses a
# frozen filesystem and a suspended device).
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
printf '{"version": 1, "ops": [{"op": "write", "path": "a", "content": "1\\n"}]}\n' >"$TEST_TMP/a.json"
printf '{"version": 1, "ops": [{"op": "write", "path": "b", "content": "2\\n"}]}\n' >"$TEST_TMP/b.json"

expect_exit 0 "apply with a step that stalls 3 s, --timeout 1" \
	with_hook '[ "$1" = staged ] && sleep 3; true' "$BTRFS_TXN" apply --timeout 1 --target "$T" "$TEST_TMP/a.json"
output_has "  names the stuck step and the one before" "apply: stuck for [0-9]+ s in step 'applied' \(the one after 'staged'\)"
output_has "  says it keeps waiting" "still waiting"
ok "  one line only" test "$(grep -c 'stuck for' "$TEST_TMP/out")" = 1
ok "  the change was committed" grep -qx 1 "$T/a"

expect_exit 0 "the same with --timeout 0: no watchdog" \
	with_hook '[ "$1" = staged ] && sleep 2; true' "$BTRFS_TXN" apply --timeout 0 --target "$T" "$TEST_TMP/b.json"
ok "  no stall line" sh -c "! grep -q 'stuck for' '$TEST_TMP/out'"

expect_exit 0 "rollback with a step that stalls, --timeout 1" \
	with_hook '[ "$1" = staged ] && sleep 3; true' "$BTRFS_TXN" rollback --timeout 1 "$T"
output_has "  names the step after 'staged' in a rollback: 'flushed'" "rollback: stuck for [0-9]+ s in step 'flushed'"

expect_exit 0 "a quick apply with --timeout 5 says nothing about stalls" \
	"$BTRFS_TXN" apply --timeout 5 --target "$T" "$TEST_TMP/b.json"
ok "  no stall line" sh -c "! grep -q 'stuck for' '$TEST_TMP/out'"

done_testing
