#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0130: SIGKILL of apply and rollback at every protocol step (the test-only fault
# hook BTRFS_TXN_FAULT=STEP), then `recover`: the tree is exactly the old one (killed
# before the exchange) or exactly the new one (from the exchange on), status shows
# nothing interrupted, no staging is left, history has one line for the transaction
# with the right result, and the next apply works. Also: apply after a kill recovers
# first by itself, and recovery killed at each of its own steps is finished by the next.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
ok "a first generation" apply_ops "$T" '[{"op": "write", "path": "nginx.conf", "content": "v0\n"},
  {"op": "mkdir", "path": "releases/0", "parents": true}, {"op": "symlink", "path": "current", "target": "releases/0"},
  {"op": "write", "path": "old.conf", "content": "old\n", "mode": "0600"}]'
SD=$(state_dir "$T")
gen() { "$BTRFS_TXN" status --json "$T" | jq -r .generation; }
history_count() { jq -r --arg t "$1" 'select(.txid == $t) | .result + " " + (.recovered | tostring) + " " + (.generation | tostring)' "$SD/history.jsonl"; }

# The spec of iteration $1, applied to a snapshot of T first to learn the new tree.
spec_ops() {
	printf '[{"op": "write", "path": "nginx.conf", "content": "v%s\\n"},
	 {"op": "mkdir", "path": "releases/%s"}, {"op": "write", "path": "releases/%s/bin", "content": "b", "mode": "0755"},
	 {"op": "symlink", "path": "current", "target": "releases/%s"}, {"op": "delete", "path": "old.conf", "missing_ok": true},
	 {"op": "write", "path": "old.conf", "content": "new %s\\n", "mode": "0640"}, {"op": "chown", "path": "old.conf", "owner": "nobody"}]' "$1" "$1" "$1" "$1" "$1"
}
expected_new() { # ITER -> file with the manifest the spec produces from T as it is now
	local ref="$MNT/ref-$1"
	btrfs subvolume snapshot "$T" "$ref" >/dev/null && "$BTRFS_TXN" init "$ref" >/dev/null &&
		apply_ops "$ref" "$(spec_ops "$1")" >/dev/null && manifest "$ref" >"$TEST_TMP/new-$1" &&
		btrfs subvolume delete "$ref" "$MNT/.btrfs-txn/ref-$1"/gen-* >/dev/null && rm -rf "$MNT/.btrfs-txn/ref-$1"
}

committed_from=exchanged
i=0
for step in preconditions journaled snapshotted staged applied verified flushed checked exchanged synced renamed history; do
	i=$((i + 1))
	case " journaled snapshotted staged applied verified flushed checked " in
	*" $step "*) after=old ;;
	*) [ "$step" = preconditions ] && after=none || after=new ;;
	esac
	manifest "$T" >"$TEST_TMP/old-$i"
	expected_new "$i"
	g0=$(gen)
	expect_exit 137 "apply killed at '$step'" with_fault "$step" apply_ops "$T" "$(spec_ops "$i")"
	status=$("$BTRFS_TXN" status --json "$T")
	txid=$(jq -r '.journal.txid // empty' <<<"$status")
	if [ "$after" = none ]; then
		ok "  [$step] no journal yet: nothing interrupted" test "$(jq -r .interrupted <<<"$status")" = false
	else
		ok "  [$step] status shows the interrupted apply" test "$(jq -r '"\(.interrupted) \(.journal.kind)"' <<<"$status")" = "true apply"
	fi
	ok "  [$step] recover" "$BTRFS_TXN" recover "$T"
	case $after in
	new)
		output_has "  [$step] recover says it finished the commit" "forward|finished|committed"
		ok "  [$step] tree is exactly the new one" same_manifest "$TEST_TMP/new-$i" "$T"
		ok "  [$step] generation moved by one" test "$(gen)" = $((g0 + 1))
		# killed at 'history' the line was already written by apply itself
		recovered=true && [ "$step" = history ] && recovered=false
		ok "  [$step] history: one committed line (recovered: $recovered)" test "$(history_count "$txid")" = "committed $recovered $((g0 + 1))"
		ok "  [$step] gen-$g0 kept read-only" test "$(btrfs property get -ts "$SD/gen-$g0" ro)" = ro=true
		;;
	*)
		ok "  [$step] tree is exactly the old one" same_manifest "$TEST_TMP/old-$i" "$T"
		ok "  [$step] generation unchanged" test "$(gen)" = "$g0"
		[ "$after" = old ] &&
			ok "  [$step] history: one aborted line, recovered" test "$(history_count "$txid")" = "aborted true 0"
		;;
	esac
	ok "  [$step] status: nothing interrupted, not locked" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '.interrupted == false and .locked == false'"
	ok "  [$step] no staging left, no journal" sh -c "$(declare -f state_dir no_staging); no_staging '$T' && test ! -e '$SD/journal'"
	ok "  [$step] every history line is JSON" jq -e . "$SD/history.jsonl"
	# A new apply works, and recovering again changes nothing.
	manifest "$T" >"$TEST_TMP/after-$i"
	ok "  [$step] recover again is a no-op" "$BTRFS_TXN" recover "$T"
	ok "  [$step] tree unchanged by it" same_manifest "$TEST_TMP/after-$i" "$T"
	ok "  [$step] a new apply works" apply_ops "$T" "[{\"op\": \"write\", \"path\": \"probe-$i\", \"content\": \"$i\"}]"
done
ok "every generation in history is distinct and increasing" sh -c "jq -s '[.[] | select(.result == \"committed\") | .generation]' '$SD/history.jsonl' | jq -e '. == (sort | unique)'"

# apply after a kill recovers first by itself.
expected_new 100
manifest "$T" >"$TEST_TMP/old-100"
expect_exit 137 "apply killed at 'exchanged'" with_fault exchanged apply_ops "$T" "$(spec_ops 100)"
spec=$(mktemp "$TEST_TMP/spec.XXXXXX.json")
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "after", "content": "a"}]}\n' "$T" >"$spec"
ok "the next apply succeeds" "$BTRFS_TXN" apply --json "$spec"
output_has "  its --json says recovered_first: true" '"recovered_first": true'
ok "  the killed apply was finished (rolled forward) and the new one applied on top" \
	test "$(cat "$T/nginx.conf") $(cat "$T/after")" = "v100 a"
expect_exit 137 "apply killed at 'applied'" with_fault applied apply_ops "$T" "$(spec_ops 101)"
manifest "$T" >"$TEST_TMP/old-101"
ok "the next apply recovers first (rolling back) and applies" "$BTRFS_TXN" apply --json "$spec"
output_has "  its --json says recovered_first: true" '"recovered_first": true'
ok "  nothing of the killed apply is there" test "$(cat "$T/nginx.conf")" = v100 -a ! -e "$T/releases/101"
ok "  no staging left" no_staging "$T"

# rollback killed at several steps, then recover
for step in snapshotted staged checked exchanged synced renamed; do
	g0=$(gen)
	manifest "$T" >"$TEST_TMP/rb-old"
	manifest "$SD/gen-$((g0 - 1))" >"$TEST_TMP/rb-new"
	expect_exit 137 "rollback killed at '$step'" with_fault "$step" "$BTRFS_TXN" rollback "$T"
	ok "  [$step] status shows the interrupted rollback" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '.interrupted and .journal.kind == \"rollback\"'"
	ok "  [$step] recover" "$BTRFS_TXN" recover "$T"
	case $step in
	exchanged | synced | renamed)
		ok "  [$step] tree is the generation rolled back to" same_manifest "$TEST_TMP/rb-new" "$T"
		ok "  [$step] generation moved by one" test "$(gen)" = $((g0 + 1)) ;;
	*)
		ok "  [$step] tree is unchanged" same_manifest "$TEST_TMP/rb-old" "$T"
		ok "  [$step] generation unchanged" test "$(gen)" = "$g0" ;;
	esac
	ok "  [$step] no staging left, nothing interrupted" sh -c "$(declare -f state_dir no_staging); no_staging '$T' && '$BTRFS_TXN' status --json '$T' | jq -e '.interrupted == false'"
	ok "  [$step] a new apply works" apply_ops "$T" "[{\"op\": \"write\", \"path\": \"rb-$step\", \"content\": \"r\"}]"
done

# recover itself killed at each of its steps; the next recover finishes the job.
for pre in applied exchanged; do
	for rstep in recover-start recover-renamed recover-history recover-deleted recover-done; do
		case "$pre/$rstep" in
		applied/recover-renamed | applied/recover-history | exchanged/recover-deleted) continue ;;
		esac
		manifest "$T" >"$TEST_TMP/rc-old"
		expected_new rc
		expect_exit 137 "apply killed at '$pre'" with_fault "$pre" apply_ops "$T" "$(spec_ops rc)"
		expect_exit 137 "  recover killed at '$rstep'" with_fault "$rstep" "$BTRFS_TXN" recover "$T"
		ok "  recover again" "$BTRFS_TXN" recover "$T"
		if [ "$pre" = applied ]; then
			ok "  [$pre/$rstep] tree is the old one" same_manifest "$TEST_TMP/rc-old" "$T"
		else
			ok "  [$pre/$rstep] tree is the new one" same_manifest "$TEST_TMP/new-rc" "$T"
		fi
		ok "  [$pre/$rstep] no staging left, nothing interrupted" sh -c "$(declare -f state_dir no_staging); no_staging '$T' && '$BTRFS_TXN' status --json '$T' | jq -e '.interrupted == false'"
		ok "  [$pre/$rstep] history has exactly one line per txid" sh -c "test \"\$(jq -r .txid '$SD/history.jsonl' | sort | uniq -d)\" = ''"
		apply_ops "$T" '[{"op": "write", "path": "nginx.conf", "content": "reset\n"}, {"op": "delete", "path": "releases/rc", "recursive": true, "missing_ok": true}]' >/dev/null
	done
done

done_testing
