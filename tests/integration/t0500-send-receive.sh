#!/usr/bin/env bash
# t0500: send and receive between two Btrfs filesystems. A stream of btrfs-txn send
# is Btrfs's own (plain btrfs receive takes it); receive creates an absent target;
# a chain of 5 incremental generations leaves identical trees on both sides
# (content, modes, owners, xattrs, symlinks); the received subvolume stays
# read-only; parent-missing, other-lineage and drift refusals exit 1 with the
# target unchanged; --force replaces; status --json lists what was sent and received.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v getfattr >/dev/null || skip_all "needs getfattr (attr)"
btrfs_fixture 1G
A=$MNT
btrfs_fixture2 1G
B=$MNT2
X=$BTRFS_TXN
S=$A/t
D=$B/t
SD=$(state_dir "$S")
DD="$B/.btrfs-txn/t"

# everything the trees must agree on: manifest plus extended attributes
tree_print() { manifest "$1" && (cd "$1" && getfattr -R -h -d -m - . 2>/dev/null | grep -v '^$' | sort); }
same_trees() { diff <(tree_print "$1") <(tree_print "$2"); }
no_leftovers() { receive_no_leftovers "$DD"; }

"$X" init "$S" >/dev/null
mkdir -p "$S/etc/conf.d" && printf 'v1\n' >"$S/etc/app.conf" && printf secret >"$S/etc/key" &&
	chmod 600 "$S/etc/key" && chown 1234:5678 "$S/etc/key" && ln -s app.conf "$S/etc/link" &&
	setfattr -n user.tag -v blue "$S/etc/app.conf" && mkfifo "$S/fifo" &&
	head -c 300000 /dev/urandom >"$S/blob"

ok "send the live tree to a file" "$X" send "$S" -f "$TEST_TMP/s0"
ok "  the sent snapshot is kept read-only in the state directory" \
	sh -c "btrfs property get -ts '$SD'/sent-0.* ro | grep -qx ro=true"
mkdir "$B/plain"
ok "  plain btrfs receive takes the stream" btrfs receive -f "$TEST_TMP/s0" "$B/plain"
ok "  and the tree it made is the same" same_trees "$S" "$B/plain"/sent-0.*
expect_exit 2 "send refuses a terminal on stdout" script -qec "'$X' send '$S'" /dev/null

ok "receive into an absent target creates it" "$X" receive "$D" -f "$TEST_TMP/s0"
ok "  identical trees (content, modes, owners, xattrs, symlinks)" same_trees "$S" "$D"
ok "  the received subvolume is kept read-only" \
	sh -c "btrfs property get -ts '$DD'/recv-*/sent-0.* ro | grep -qx ro=true"
ok "  the live target is writable (a snapshot of it, not it)" sh -c "btrfs property get -ts '$D' ro | grep -qx ro=false"
ok "  history records the origin" sh -c "tail -n1 '$DD/history.jsonl' | jq -e '.kind == \"receive\" and .result == \"committed\"' && tail -n1 '$DD/history.jsonl' | grep -q 'receive generation 0 of lineage'"

for i in 1 2 3 4 5; do
	apply_ops "$S" "[{\"op\": \"write\", \"path\": \"etc/app.conf\", \"content\": \"v$((i + 1))\\n\"},
		{\"op\": \"write\", \"path\": \"etc/conf.d/$i.conf\", \"content\": \"n$i\\n\", \"mode\": \"0640\"},
		{\"op\": \"symlink\", \"path\": \"current\", \"target\": \"releases/$i\"}]" >/dev/null
	[ "$i" = 3 ] && rm "$S/blob" && setfattr -n user.tag -v green "$S/etc/app.conf"
	"$X" send "$S" --json -f "$TEST_TMP/s$i" >"$TEST_TMP/send$i.json" 2>&1
	ok "generation $i: the stream is incremental against $((i - 1))" \
		jq -e ".incremental == true and .parent == $((i - 1)) and .generation == $i" "$TEST_TMP/send$i.json"
	ok "  receive it" "$X" receive "$D" -f "$TEST_TMP/s$i"
	ok "  identical trees" same_trees "$S" "$D"
done
expect_exit 1 "an incremental stream into an absent target is refused" "$X" receive "$B/absent" -f "$TEST_TMP/s5"
output_has "  saying to send a full stream" "does not exist and the stream is incremental .*--no-parent"
ok "  and the target is not made" test ! -e "$B/absent"
ok "an incremental stream is small (< 64 KiB for a 3-file change)" test "$(stat -c %s "$TEST_TMP/s5")" -lt 65536
ok "nothing half-received or staged is left" no_leftovers
"$X" status --json "$D" >"$TEST_TMP/st.json"
ok "status --json: received from which lineage and generation" \
	jq -e '.transfers.received | length == 5 and .[-1].origin_generation == 5 and .[-1].stream == "incremental"' "$TEST_TMP/st.json"
"$X" status --json "$S" >"$TEST_TMP/st-s.json"
ok "status --json on the sender: what was sent" jq -e '(.transfers.sent | length) == 5 and .transfers.sent[-1].generation == 5' "$TEST_TMP/st-s.json"

# the receiver keeps 5 received subvolumes: drop to 1, then a stream against an older parent
"$X" send "$S" --generation 4 --no-parent -f "$TEST_TMP/full4" >/dev/null 2>&1
apply_ops "$S" '[{"op": "write", "path": "six", "content": "6\n"}]' >/dev/null
ok "send --parent 4 (an older sent generation)" "$X" send "$S" --parent 4 -f "$TEST_TMP/s6-from4"
ok "receive with --keep 1 drops older received subvolumes" sh -c "'$X' receive --keep 1 '$D' -f '$TEST_TMP/s6-from4' && [ \$(ls -d '$DD'/recv-* | wc -l) = 1 ]"
manifest "$D" >"$TEST_TMP/d-before"
apply_ops "$S" '[{"op": "write", "path": "seven", "content": "7\n"}]' >/dev/null
"$X" send "$S" --parent 5 -f "$TEST_TMP/s7-from5" 2>/dev/null
expect_exit 1 "a stream whose parent the receiver does not hold is refused" "$X" receive "$D" -f "$TEST_TMP/s7-from5"
output_has "  saying what is missing and how to fix it" "does not hold; send with --parent 6 .* or with --no-parent"
ok "  target unchanged" same_manifest "$TEST_TMP/d-before" "$D"
ok "  nothing left" no_leftovers
"$X" send "$S" --no-parent -f "$TEST_TMP/s7-full" 2>/dev/null
ok "the full stream instead lands" "$X" receive "$D" -f "$TEST_TMP/s7-full"
ok "  identical trees" same_trees "$S" "$D"

# drift: the receiver's tree changed in place since its last receive
printf 'local edit\n' >"$D/etc/app.conf"
manifest "$D" >"$TEST_TMP/d-drift"
apply_ops "$S" '[{"op": "write", "path": "eight", "content": "8\n"}]' >/dev/null
"$X" send "$S" -f "$TEST_TMP/s8" 2>/dev/null
expect_exit 1 "drift is refused" "$X" receive "$D" -f "$TEST_TMP/s8"
output_has "  listing what would be discarded" "would discard: changed in place: etc/app.conf"
output_has "  and how to override" "changed locally since its last receive.*--force"
ok "  target unchanged" same_manifest "$TEST_TMP/d-drift" "$D"
# drift by a transaction
apply_ops "$D" '[{"op": "write", "path": "local", "content": "x\n"}]' >/dev/null
expect_exit 1 "a local transaction since the last receive is drift too" "$X" receive "$D" -f "$TEST_TMP/s8"
output_has "  naming the transaction" "would discard: transaction .*apply"
ok "--force discards and lands" "$X" receive --force "$D" -f "$TEST_TMP/s8"
ok "  identical trees" same_trees "$S" "$D"

# another lineage
"$X" init "$A/other" >/dev/null && printf other >"$A/other/f"
"$X" send "$A/other" -f "$TEST_TMP/other" 2>/dev/null
manifest "$D" >"$TEST_TMP/d-lineage"
expect_exit 1 "a stream of another lineage is refused" "$X" receive "$D" -f "$TEST_TMP/other"
output_has "  saying so" "another lineage"
ok "  target unchanged" same_manifest "$TEST_TMP/d-lineage" "$D"
ok "  nothing left" no_leftovers
"$X" init "$B/never" >/dev/null && printf mine >"$B/never/f" &&
	apply_ops "$B/never" '[{"op": "write", "path": "g", "content": "g\n"}]' >/dev/null
expect_exit 1 "a target with generations that was never received into is refused" "$X" receive "$B/never" -f "$TEST_TMP/other"
ok "--force replaces it" "$X" receive --force "$B/never" -f "$TEST_TMP/other"
ok "  with the other tree" same_trees "$A/other" "$B/never"

# damaged streams
size=$(stat -c %s "$TEST_TMP/s8")
apply_ops "$S" '[{"op": "write", "path": "nine", "content": "9\n"}, {"op": "copy", "path": "big", "source": "'"$TEST_TMP"'/s0"}]' >/dev/null
"$X" send "$S" -f "$TEST_TMP/s9" 2>/dev/null
size=$(stat -c %s "$TEST_TMP/s9")
head -c $((size / 2)) "$TEST_TMP/s9" >"$TEST_TMP/s9-truncated"
cp "$TEST_TMP/s9" "$TEST_TMP/s9-flipped"
printf '\x55' | dd of="$TEST_TMP/s9-flipped" bs=1 seek=$((size / 2)) conv=notrunc status=none
manifest "$D" >"$TEST_TMP/d-damage"
n_recv=$(ls -d "$DD"/recv-* | wc -l)
expect_exit 1 "a truncated stream is refused" "$X" receive "$D" -f "$TEST_TMP/s9-truncated"
ok "  target unchanged" same_manifest "$TEST_TMP/d-damage" "$D"
ok "  nothing half-received left" sh -c "no_leftovers() { ! ls -d '$DD'/staging-* '$DD'/receiving-* 2>/dev/null | grep . ; }; no_leftovers && [ \$(ls -d '$DD'/recv-* | wc -l) = $n_recv ]"
expect_exit 1 "a bit-flipped stream is refused" "$X" receive "$D" -f "$TEST_TMP/s9-flipped"
ok "  target unchanged" same_manifest "$TEST_TMP/d-damage" "$D"
ok "  nothing left" no_leftovers
expect_exit 1 "a stream through a pipe cut short is refused" sh -c "head -c $((size / 3)) '$TEST_TMP/s9' | '$X' receive '$D'"
ok "  target unchanged" same_manifest "$TEST_TMP/d-damage" "$D"
expect_exit 1 "something that is not a stream is refused" sh -c "head -c 5000 /dev/urandom | '$X' receive '$D'"
output_has "  saying so" "not a Btrfs send stream"
ok "the intact stream then lands" sh -c "'$X' receive '$D' <'$TEST_TMP/s9'"
ok "  identical trees" same_trees "$S" "$D"
ok "  nothing left" no_leftovers
ok "history has an aborted line for each damaged stream (refusals write none)" \
	sh -c "[ \$(jq -r 'select(.kind == \"receive\" and .result == \"aborted\") | .txid' '$DD/history.jsonl' | wc -l) = 3 ]"
# a first receive that fails leaves no target behind (it made one as init would)
"$X" send "$S" --no-parent -f "$TEST_TMP/full9" 2>/dev/null
head -c $(($(stat -c %s "$TEST_TMP/full9") / 2)) "$TEST_TMP/full9" >"$TEST_TMP/full9-truncated"
expect_exit 1 "a truncated full stream into a new path is refused" "$X" receive "$B/fresh" -f "$TEST_TMP/full9-truncated"
ok "  no target and no state directory are left" sh -c "test ! -e '$B/fresh' && test ! -e '$B/.btrfs-txn/fresh'"
ok "  the intact stream then lands there" "$X" receive "$B/fresh" -f "$TEST_TMP/full9"
ok "  identical trees" same_trees "$S" "$B/fresh"
done_testing
