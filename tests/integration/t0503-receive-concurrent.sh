#!/usr/bin/env bash
# t0503: other writers during a receive. receive runs on apply's commit phases, so it
# keeps apply's promise: a write to the target before the last check aborts the
# receive (exit 1, the write kept, nothing received left behind); a write after it,
# before the exchange, lands in the replaced tree, which is reported and pinned.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G
X=$BTRFS_TXN
S=$MNT/s
D=$MNT/d
DD="$MNT/.btrfs-txn/d"

no_leftovers() { receive_no_leftovers "$DD"; }
record_matches() { receive_record_matches "$DD"; }
# next_stream N: a change on the sender and its incremental stream in $TEST_TMP/sN
next_stream() {
	apply_ops "$S" "[{\"op\": \"write\", \"path\": \"etc/conf\", \"content\": \"v$1\\n\"}]" >/dev/null &&
		"$X" send "$S" -f "$TEST_TMP/s$1" 2>/dev/null
}

"$X" init "$S" >/dev/null && mkdir "$S/etc" && printf 'v0\n' >"$S/etc/conf"
"$X" send "$S" -f "$TEST_TMP/s0" 2>/dev/null
ok "first receive" "$X" receive "$D" -f "$TEST_TMP/s0"

# after the last check, before the exchange: committed, the write reported and pinned
next_stream 1
manifest "$S" >"$TEST_TMP/new1"
printf '[ "$1" = receive-recorded ] || exit 0\nprintf late >"%s/late"\n' "$D" >"$TEST_TMP/late-hook.sh"
with_hook "sh $TEST_TMP/late-hook.sh \"\$1\"" "$X" receive --json "$D" -f "$TEST_TMP/s1" \
	>"$TEST_TMP/late.json" 2>"$TEST_TMP/late.err"
ok "a write just before the exchange: the receive commits and reports it" \
	jq -e '(.concurrent_writes | index("late")) != null and .pinned_generation == .generation - 1' "$TEST_TMP/late.json"
[ "$_failed" -eq 0 ] || sed 's/^/# /' "$TEST_TMP/late.json" "$TEST_TMP/late.err"
gen=$(jq -r '.pinned_generation' "$TEST_TMP/late.json")
ok "  the target is the received tree" same_manifest "$TEST_TMP/new1" "$D"
ok "  gen-$gen holds the write and is pinned" sh -c "test -e '$DD/pin-$gen' && test \"\$(cat '$DD/gen-$gen/late')\" = late"
ok "  nothing staged or half-received left" no_leftovers
ok "  the record matches the received subvolumes kept" record_matches

# before the last check: the receive aborts, the write stays
next_stream 2
printf '[ "$1" = received ] || exit 0\nprintf early >"%s/early"\n' "$D" >"$TEST_TMP/early-hook.sh"
expect_exit 1 "a write while the stream lands aborts the receive" \
	with_hook "sh $TEST_TMP/early-hook.sh \"\$1\"" "$X" receive "$D" -f "$TEST_TMP/s2"
output_has "  saying another process modified it" "'$D' was modified by another process during the transaction"
ok "  the write is kept" test "$(cat "$D/early")" = early
manifest "$D" | grep -v '^early ' >"$TEST_TMP/after-early"
ok "  the target is otherwise the tree before" diff "$TEST_TMP/after-early" "$TEST_TMP/new1"
ok "  nothing staged or half-received left" no_leftovers
ok "  the record matches the received subvolumes kept" record_matches
ok "  no pending record" jq -e 'has("pending") | not' "$DD/received.json"
done_testing
