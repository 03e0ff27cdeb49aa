#!/usr/bin/env bash
# t0503: other writers during a receive. receive runs on apply's commit phases, so it
# keeps apply's promise: a write to the target before the last check aborts the
# receive (exit 1, the write kept, nothing received left behind); a write after it,
# before the exchange, lands in the replaced tree, which is reported and pinned. A
# write around the drift check is never lost: the receive's mark is taken before
# that check, so the write is drift (refused) or another writer's (reported).
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

# Around the drift check: right after the mark (a step hook there), and while the
# mark's own stamp is delayed (strace holds the first fchmod, the stamp, for 3 s;
# the write comes 1 s in). Before the mark was taken ahead of the drift check, the
# second write fell between that check and the mark: receive exited 0, the write
# only in gen-N, unpinned.
rm -f "$D/early"
"$X" receive --force -q "$D" -f "$TEST_TMP/s2" || echo "# could not land s2"
next_stream 3
manifest "$D" >"$TEST_TMP/before3"
printf '[ "$1" = receive-marked ] || exit 0
printf marked >"%s/marked" && sync "%s/marked"
' "$D" "$D" \
	>"$TEST_TMP/marked-hook.sh"
with_hook "sh $TEST_TMP/marked-hook.sh \"\$1\"" "$X" receive --json "$D" -f "$TEST_TMP/s3" \
	>"$TEST_TMP/marked.json" 2>"$TEST_TMP/marked.err"
rc=$?
# never lost: refused (exit 1, the write in the live tree) or reported and pinned
write_kept() { # FILE CONTENT RC JSON
	if [ "$3" = 1 ]; then
		test "$(cat "$D/$1")" = "$2"
	else
		[ "$3" = 0 ] && jq -e --arg f "$1" '(.concurrent_writes | index($f)) != null' "$4" &&
			test -e "$DD/pin-$(jq -r .pinned_generation "$4")"
	fi
}
ok "a write right after the mark is refused as drift or reported (exit $rc)" \
	write_kept marked marked "$rc" "$TEST_TMP/marked.json"
[ "$_failed" -eq 0 ] || sed 's/^/# /' "$TEST_TMP/marked.json" "$TEST_TMP/marked.err"
ok "  nothing staged or half-received left" no_leftovers
if command -v strace >/dev/null; then
	rm -f "$D/marked"
	"$X" receive --force -q "$D" -f "$TEST_TMP/s3" || echo "# could not land s3"
	next_stream 4
	(sleep 1 && printf stamped >"$D/stamped" && sync "$D/stamped") &
	writer=$!
	strace -f -qq -o /dev/null -e trace=fchmod -e inject=fchmod:delay_enter=3000000:when=1 \
		"$X" receive --json "$D" -f "$TEST_TMP/s4" >"$TEST_TMP/stamped.json" 2>"$TEST_TMP/stamped.err"
	rc=$?
	wait "$writer"
	ok "a write while the mark is taken is refused as drift or reported (exit $rc)" \
		write_kept stamped stamped "$rc" "$TEST_TMP/stamped.json"
	[ "$_failed" -eq 0 ] || sed 's/^/# /' "$TEST_TMP/stamped.json" "$TEST_TMP/stamped.err"
	ok "  nothing staged or half-received left" no_leftovers
fi
done_testing
