#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0137: the commit floor. A 1-file apply makes 2 Btrfs commits (the snapshot's and
# the read-only flag's, which carries the exchange with the data written back at
# step 7), a rollback 2, snapshot --tag 1; apply with a verify hook and run, whose
# written files are unknown, keep the step-7 commit (3, or 4). Counted with
# /sys/fs/btrfs/UUID/commit_stats. A receive lands with 2 commits of its own, and no
# fsync of its journal. Also: a journal whose staged record is missing
# while the exchange happened is rolled forward, decided by where T's old tree is.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

uuid=$(findmnt -n -o UUID "$MNT")
stats=/sys/fs/btrfs/$uuid/commit_stats
[ -r "$stats" ] || skip_all "this kernel has no $stats (Linux 6.0 or later)"
commits() { awk '$1 == "commits" { print $2 }' "$stats"; }

# count_commits WANT[-MAX] CMD...: CMD succeeds and makes WANT commits (WANT to MAX).
count_commits() {
	local want=${1%-*} max=${1#*-} before after
	shift
	sync
	before=$(commits)
	"$@" || return 1
	after=$(commits)
	echo "commits: $((after - before)), expected $want${max:+ to $max}"
	[ "$((after - before))" -ge "$want" ] && [ "$((after - before))" -le "$max" ]
}

T=$(new_target t)
SD=$(state_dir "$T")
for i in $(seq 1 50); do echo "file $i" >"$T/f$i"; done
spec() { # CONTENT [EXTRA]: a 1-file write spec
	printf '{"version": 1, "target": "%s", %s"ops": [{"op": "write", "path": "conf", "content": "%s\\n"}]}\n' \
		"$T" "${2:+$2, }" "$1" >"$TEST_TMP/spec.json"
	echo "$TEST_TMP/spec.json"
}
apply_spec() { "$BTRFS_TXN" apply "$(spec "$@")"; }

ok "apply of a 1-file write: 2 commits" count_commits 2 apply_spec v1
ok "  the new content is there" grep -qx v1 "$T/conf"
ok "apply of 300 written files: 2 commits" count_commits 2 apply_ops "$T" \
	"[$(for i in $(seq 1 300); do printf '{"op": "write", "path": "n%d", "content": "n%d\\n"}' "$i" "$i"; [ "$i" -lt 300 ] && printf ', '; done)]"
ok "  all 300 are there" sh -c "cat '$T'/n* | wc -l | grep -qx 300 && grep -qx n300 '$T/n300'"
five_applies() { for i in 1 2 3 4 5; do apply_spec "s$i" >/dev/null || return 1; done; }
ok "5 applies back to back (each finds the last one's history line unwritten): 10 commits" \
	count_commits 10 five_applies
ok "rollback: 2 commits" count_commits 2 "$BTRFS_TXN" rollback "$T"
ok "  the tree is back" grep -qx s4 "$T/conf"
ok "snapshot --tag pre: 1 commit" count_commits 1 "$BTRFS_TXN" snapshot "$T" --tag pre
# These keep the step-7 commit; the cleaner thread it wakes sometimes leaves the
# step-12 sync one more to make.
ok "apply with a verify hook: 3 commits or 4 (it may write anything)" count_commits 3-4 \
	apply_spec v2 '"verify": {"argv": ["true"]}'
ok "run: 3 commits or 4 (its command writes unknown files)" count_commits 3-4 \
	"$BTRFS_TXN" run "$T" -- sh -c 'echo r >"$BTRFS_TXN_STAGING/runfile"'
ok "  run's file is there" grep -qx r "$T/runfile"

# receive: besides btrfs receive's own commits and the drift check's sync, the
# landing makes 2: the staging snapshot's (Btrfs writes the received subvolume
# back before snapshotting it, so that commit carries what btrfs receive wrote)
# and the read-only flag's. No step-7 commit, no journal fsync.
R=$MNT/landed
ok "send T, receive it into a new target" sh -c "'$BTRFS_TXN' send -q '$T' -f '$TEST_TMP/full.stream' &&
	'$BTRFS_TXN' receive -q '$R' -f '$TEST_TMP/full.stream'"
apply_spec v5 >/dev/null
ok "an incremental send" "$BTRFS_TXN" send -q "$T" -f "$TEST_TMP/inc.stream"
: >"$TEST_TMP/landing"
ok "the receive lands it" with_hook "case \$1 in received|done) awk '\$1 == \"commits\" { print \$2 }' '$stats' >>'$TEST_TMP/landing';; esac; true" \
	"$BTRFS_TXN" receive -q "$R" -f "$TEST_TMP/inc.stream"
ok "  the new content is there" grep -qx v5 "$R/conf"
ok "  from the end of btrfs receive to done: 2 commits" \
	sh -c "c=\$(awk 'NR == 1 { a = \$1 } NR == 2 { print \$1 - a }' '$TEST_TMP/landing'); echo \"commits: \$c\"; [ \"\$c\" = 2 ]"
if command -v strace >/dev/null; then
	apply_spec v6 >/dev/null && "$BTRFS_TXN" send -q "$T" -f "$TEST_TMP/inc2.stream"
	ok "another receive, under strace" strace -f -qq -y -e trace=fsync,fdatasync -o "$TEST_TMP/strace" \
		"$BTRFS_TXN" receive -q "$R" -f "$TEST_TMP/inc2.stream"
	ok "  the journal was written back, never fsynced (received.json is)" \
		sh -c "cat '$TEST_TMP/strace'; ! grep -E 'journal' '$TEST_TMP/strace' && grep -q 'received.json' '$TEST_TMP/strace'"
fi

# The staged record lost, the exchange done: roll forward, by where the trees are.
manifest "$T" >"$TEST_TMP/m-old"
expect_exit 137 "apply killed after the exchange" with_fault exchanged apply_spec v3
rm -f "$SD/staged"
ok "recover without a staged record" sh -c "'$BTRFS_TXN' recover --json '$T' >'$TEST_TMP/rec.json'"
ok "  rolled forward" jq -e '.action == "rolled-forward"' "$TEST_TMP/rec.json"
ok "  the new content is there" grep -qx v3 "$T/conf"
ok "  no staging and no journal left" sh -c "test ! -e '$SD/journal' && ! ls -d '$SD'/staging-* 2>/dev/null"
ok "  the old tree is kept read-only" sh -c "gen=\$('$BTRFS_TXN' status --json '$T' | jq -r '.generation - 1') && btrfs property get -ts '$SD/gen-'\$gen ro | grep -qx ro=true"
ok "  and the history says committed" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.result == \"committed\" and .recovered == true'"

# The same for a rollback.
expect_exit 137 "rollback killed after the exchange" with_fault exchanged "$BTRFS_TXN" rollback "$T"
rm -f "$SD/staged"
ok "recover a rollback without a staged record" sh -c "'$BTRFS_TXN' recover --json '$T' >'$TEST_TMP/rec.json'"
ok "  rolled forward" jq -e '.action == "rolled-forward"' "$TEST_TMP/rec.json"
ok "  to the tree before" same_manifest "$TEST_TMP/m-old" "$T"

# Killed before the exchange, record lost: T still holds its tree: undone.
expect_exit 137 "apply killed before the exchange" with_fault checked apply_spec v4
rm -f "$SD/staged"
ok "recover" sh -c "'$BTRFS_TXN' recover --json '$T' >'$TEST_TMP/rec.json'"
ok "  rolled back" jq -e '.action == "rolled-back"' "$TEST_TMP/rec.json"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/m-old" "$T"

done_testing
