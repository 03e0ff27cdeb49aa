#!/usr/bin/env bash
# t0501: an interrupted receive. SIGKILL at every protocol step of receive, then
# `recover`: the target holds exactly the old or exactly the new tree, nothing
# half-received or staged is left, status showed the interrupted receive, and the
# record of received subvolumes matches what is kept. A receive killed while the
# stream is flowing leaves a partial subvolume that the next receive removes by
# itself before landing the stream.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G
X=$BTRFS_TXN
S=$MNT/s
D=$MNT/d
DD="$MNT/.btrfs-txn/d"

no_leftovers() { receive_no_leftovers "$DD"; }
record_matches() { receive_record_matches "$DD"; }

"$X" init "$S" >/dev/null && mkdir "$S/etc" && printf 'v0\n' >"$S/etc/conf" &&
	head -c 2000000 /dev/urandom >"$S/data"
"$X" send "$S" -f "$TEST_TMP/s0" 2>/dev/null
ok "first receive" "$X" receive "$D" -f "$TEST_TMP/s0"

n=0
for step in journaled receiving received snapshotted staged verified flushed checked \
	receive-recorded exchanged renamed synced history done; do
	n=$((n + 1))
	manifest "$D" >"$TEST_TMP/old"
	apply_ops "$S" "[{\"op\": \"write\", \"path\": \"etc/conf\", \"content\": \"v$n\\n\"},
		{\"op\": \"write\", \"path\": \"f$n\", \"content\": \"$step\\n\"}]" >/dev/null
	"$X" send "$S" -f "$TEST_TMP/s$n" 2>/dev/null
	manifest "$S" >"$TEST_TMP/new"
	expect_exit 137 "SIGKILL at $step" with_fault "$step" "$X" receive "$D" -f "$TEST_TMP/s$n"
	if [ "$step" != done ]; then
		ok "  status shows the interrupted receive" sh -c "'$X' status --json '$D' | jq -e '.interrupted == true and .journal.kind == \"receive\"'"
	fi
	ok "  recover" "$X" recover "$D"
	if same_manifest "$TEST_TMP/old" "$D" >/dev/null 2>&1; then
		state=old
	elif same_manifest "$TEST_TMP/new" "$D" >/dev/null 2>&1; then
		state=new
	else
		state=neither
	fi
	ok "  exactly the old or the new tree ($state)" test "$state" != neither
	ok "  nothing half-received or staged left" no_leftovers
	ok "  the record matches the received subvolumes kept" record_matches
	if [ "$state" = old ]; then
		ok "  the stream then lands" "$X" receive "$D" -f "$TEST_TMP/s$n"
	fi
	ok "  and the target is the new tree" same_manifest "$TEST_TMP/new" "$D"
done

# killed while the stream flows: btrfs receive dies with us, its partial subvolume stays
manifest "$D" >"$TEST_TMP/old"
apply_ops "$S" '[{"op": "copy", "path": "big", "source": "'"$TEST_TMP"'/s0"}]' >/dev/null
"$X" send "$S" -f "$TEST_TMP/big" 2>/dev/null
size=$(stat -c %s "$TEST_TMP/big")
mkfifo "$TEST_TMP/pipe"
"$X" receive "$D" <"$TEST_TMP/pipe" >"$TEST_TMP/killed.out" 2>&1 &
pid=$!
exec 7>"$TEST_TMP/pipe"
head -c $((size / 2)) "$TEST_TMP/big" >&7
for _ in $(seq 100); do ls -d "$DD"/receiving-*/* >/dev/null 2>&1 && break; sleep 0.1; done
ok "a receive in mid-stream has a partial subvolume" sh -c "ls -d '$DD'/receiving-*/*"
{ kill -9 "$pid" && wait "$pid"; } 2>/dev/null
exec 7>&-
# "[r]": the pattern does not match the command line of the shell that runs pgrep
for _ in $(seq 50); do pgrep -f "btrfs [r]eceive --chroot -e $DD" >/dev/null || break; sleep 0.1; done
ok "  btrfs receive died with it" sh -c "! pgrep -f 'btrfs [r]eceive --chroot -e $DD'"
ok "  the target is unchanged" same_manifest "$TEST_TMP/old" "$D"
ok "  status shows the interrupted receive" sh -c "'$X' status --json '$D' | jq -e '.interrupted == true and .journal.kind == \"receive\"'"
ok "the next receive removes the partial subvolume and lands the stream" "$X" receive "$D" -f "$TEST_TMP/big"
ok "  nothing left" no_leftovers
ok "  the record matches" record_matches
manifest "$S" >"$TEST_TMP/new"
ok "  the new tree" same_manifest "$TEST_TMP/new" "$D"
done_testing
