#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0160: the read-only commands: status (text and --json shape), history (text and
# --json, one entry per transaction), probe (text and --json on Btrfs subvolumes,
# plain directories and tmpfs), and plan / apply --dry-run, which write nothing,
# not even a state directory, and exit 1 when a precondition fails.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")

# status on a fresh target
"$BTRFS_TXN" status --json "$T" >"$TEST_TMP/s0.json"
ok "status --json of a fresh target has the documented shape" jq -e '
  (keys_unsorted - ["command","format_version","target","state_dir","uuid","generation","kept","interrupted","locked"] | length == 0) and
  .command == "status" and .format_version == 2 and .generation == 0 and .kept == [] and .interrupted == false and .locked == false and
  (.uuid | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))' "$TEST_TMP/s0.json"
ok "  target and state_dir are the canonical paths" test "$(jq -r '.target + " " + .state_dir' "$TEST_TMP/s0.json")" = "$(realpath "$T") $(realpath "$SD")"
ok "  uuid is the subvolume's" btrfs subvolume show "$T" | grep -q "$(jq -r .uuid "$TEST_TMP/s0.json")"
ok "history of a fresh target" "$BTRFS_TXN" history "$T"
output_has "  says no transactions yet" "no transactions yet"
ok "history --json of a fresh target is an empty list" sh -c "'$BTRFS_TXN' history --json '$T' | jq -e '.transactions == []'"

apply_ops "$T" '[{"op": "write", "path": "a", "content": "1"}]' '"description": "first change"' >/dev/null
apply_ops "$T" '[{"op": "write", "path": "a", "content": "2"}]' '"description": "second change"' >/dev/null
apply_ops "$T" '[{"op": "write", "path": "a", "content": "3"}]' '"description": "refused", "verify": {"argv": ["false"]}' >/dev/null 2>&1
"$BTRFS_TXN" rollback "$T" >/dev/null

"$BTRFS_TXN" status --json "$T" >"$TEST_TMP/s1.json"
ok "status --json after two applies, an abort and a rollback" jq -e '.generation == 3 and ([.kept[].generation] == [0,1,2]) and (.kept[0].created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))' "$TEST_TMP/s1.json"
ok "status text" "$BTRFS_TXN" status "$T"
output_has "  shows the generation" "^generation: +3$"
output_has "  lists the kept generations" "^kept: +gen-0 gen-1 gen-2$"

"$BTRFS_TXN" history --json "$T" >"$TEST_TMP/h.json"
ok "history --json has the four transactions in order" test "$(jq -r '[.transactions[] | .kind + ":" + .result] | join(" ")' "$TEST_TMP/h.json")" = "apply:committed apply:committed apply:aborted rollback:committed"
ok "  with descriptions, generations and txids" jq -e '.transactions[0].description == "first change" and .transactions[1].generation == 2 and .transactions[3].generation == 3 and ([.transactions[].txid] | unique | length == 4)' "$TEST_TMP/h.json"
ok "  the aborted one says why" jq -e '.transactions[2].reason | test("verify hook")' "$TEST_TMP/h.json"
ok "  history.jsonl has one JSON object per line" test "$(jq -c . "$SD/history.jsonl" | wc -l)" = 4
ok "history text" "$BTRFS_TXN" history "$T"
output_has "  has a header" "^TXID +TIME +KIND +RESULT +GEN +DESCRIPTION"
output_has "  shows the first change" "apply +committed +1 +first change"
output_has "  shows the aborted one with its reason" "apply +aborted +- +refused - .*verify hook"
output_has "  shows the rollback" "rollback +committed +3"

# A description with a newline cannot forge a line of the text table.
apply_ops "$T" '[{"op": "write", "path": "n", "content": "n"}]' '"description": "real\nFAKE 2026-01-01T00:00:00Z apply committed 99 forged"' >/dev/null
ok "history text with a newline in a description" "$BTRFS_TXN" history "$T"
output_has "  shows it escaped on one line" 'real\\nFAKE'
ok "  no forged line" sh -c "! grep -q '^FAKE' '$TEST_TMP/out.prev'"
ok "  --json keeps it exact" sh -c "'$BTRFS_TXN' history --json '$T' | jq -e '.transactions[-1].description == \"real\\nFAKE 2026-01-01T00:00:00Z apply committed 99 forged\"'"
n_hist=$(wc -l <"$SD/history.jsonl")

# A torn last line (a crash while appending) is not a transaction.
printf '{"txid": "torn", "kind": "apply", "res' >>"$SD/history.jsonl"
ok "history ignores a torn last line" sh -c "'$BTRFS_TXN' history --json '$T' | jq -e '.transactions | length == $n_hist'"
ok "the next apply cuts it off" apply_ops "$T" '[{"op": "write", "path": "b", "content": "b"}]'
ok "  and history.jsonl is whole again" sh -c "jq -e . '$SD/history.jsonl' >/dev/null && test \"\$(wc -l <'$SD/history.jsonl')\" = $((n_hist + 1))"

# probe
ok "probe of the target" "$BTRFS_TXN" probe "$T"
output_has "  btrfs yes" "^btrfs: +yes"
output_has "  subvolume yes" "^subvolume: +yes"
output_has "  RENAME_EXCHANGE yes" "^RENAME_EXCHANGE: +yes"
output_has "  TRANS ioctls no" "^TRANS ioctls: +no"
"$BTRFS_TXN" probe --json "$T" >"$TEST_TMP/p.json"
ok "probe --json" jq -e '.command == "probe" and .btrfs == true and .subvolume == true and .mount_point == false and .rename_exchange == true and .trans_ioctls == "no" and (.kernel | length > 0)' "$TEST_TMP/p.json"
ok "  kernel is this one" test "$(jq -r .kernel "$TEST_TMP/p.json")" = "$(uname -r)"
mkdir "$MNT/plain"
ok "probe --json of a plain directory: not a subvolume" sh -c "'$BTRFS_TXN' probe --json '$MNT/plain' | jq -e '.btrfs and (.subvolume | not)'"
ok "probe --json of the top level: a mount point" sh -c "'$BTRFS_TXN' probe --json '$MNT' | jq -e '.btrfs and .subvolume and .mount_point'"
ok "probe --json of /proc: not Btrfs" sh -c "'$BTRFS_TXN' probe --json /proc | jq -e '(.btrfs | not) and (.subvolume | not)'"
ok "probe writes nothing" test ! -e "$MNT/.btrfs-txn/plain" -a ! -e "$MNT/plain/.btrfs-txn"

# plan and apply --dry-run: nothing written, not even a state directory
btrfs subvolume create "$MNT/unmanaged" >/dev/null
echo old >"$MNT/unmanaged/conf" && mkdir "$MNT/unmanaged/cache" && echo c >"$MNT/unmanaged/cache/x"
U="$MNT/unmanaged"
manifest "$U" >"$TEST_TMP/u"
gen_before=$(btrfs subvolume show "$U" | awk '/Generation:/ { print $2 }')
ops='[{"op": "write", "path": "conf", "content": "new\n"}, {"op": "write", "path": "fresh", "content": "f"},
  {"op": "delete", "path": "cache", "recursive": true}, {"op": "mkdir", "path": "d"}, {"op": "write", "path": "d/x", "content": "x"},
  {"op": "delete", "path": "gone", "missing_ok": true}, {"op": "chmod", "path": "nope", "mode": "0600"},
  {"op": "mkdir", "path": "p/q/r", "parents": true}, {"op": "write", "path": "p/q/x", "content": "x"}]'
printf '{"version": 1, "target": "%s", "preconditions": [{"path": "conf", "exists": true}], "ops": %s}\n' "$U" "$ops" >"$TEST_TMP/plan.json"
ok "plan" "$BTRFS_TXN" plan "$TEST_TMP/plan.json"
output_has "  says nothing is written" "nothing is written"
output_has "  conf would be replaced" "write +conf +replace"
output_has "  fresh would be created" "write +fresh +create"
output_has "  d/x depends on op 3" "d/x +after: depends on op 3"
output_has "  chmod of a missing path would fail" "chmod +nope +fails"
output_has "  p/q/x waits for the mkdir -p that makes its directory" "p/q/x +after: depends on op 7"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/u" "$U"
ok "  no state directory was created" test ! -e "$MNT/.btrfs-txn/unmanaged"
ok "  the subvolume's generation did not move" test "$(btrfs subvolume show "$U" | awk '/Generation:/ { print $2 }')" = "$gen_before"
"$BTRFS_TXN" plan --json "$TEST_TMP/plan.json" >"$TEST_TMP/plan.out" 2>/dev/null
ok "plan --json lists every op and says the preconditions hold" jq -e '.command == "plan" and (.ops | length == 9) and .preconditions_hold == true and .ops[0].action == "replace"' "$TEST_TMP/plan.out"
ok "apply --dry-run" "$BTRFS_TXN" apply --dry-run "$TEST_TMP/plan.json"
output_has "  prints the plan" "write +conf +replace"
ok "  the tree is unchanged" same_manifest "$TEST_TMP/u" "$U"
ok "  no state directory was created" test ! -e "$MNT/.btrfs-txn/unmanaged"
printf '{"version": 1, "target": "%s", "preconditions": [{"path": "conf", "exists": false}], "ops": %s}\n' "$U" "$ops" >"$TEST_TMP/plan-fail.json"
expect_exit 1 "plan with a failing precondition" "$BTRFS_TXN" plan "$TEST_TMP/plan-fail.json"
output_has "  says apply would abort, naming it" "apply would abort: precondition failed: 'conf' exists"
expect_exit 1 "apply --dry-run with a failing precondition" "$BTRFS_TXN" apply --dry-run "$TEST_TMP/plan-fail.json"
"$BTRFS_TXN" plan --json "$TEST_TMP/plan-fail.json" >"$TEST_TMP/plan-fail.out" 2>/dev/null
ok "  --json says preconditions_hold false" jq -e '.preconditions_hold == false and (.precondition_error | test("conf"))' "$TEST_TMP/plan-fail.out"
ok "  the tree is still unchanged" same_manifest "$TEST_TMP/u" "$U"
ok "  and still no state directory" test ! -e "$MNT/.btrfs-txn/unmanaged"
expect_exit 2 "plan of an invalid spec" "$BTRFS_TXN" plan "$TEST_TMP/nonexistent.json"
manifest "$T" >"$TEST_TMP/t"
printf '{"version": 1, "ops": %s}\n' "$ops" >"$TEST_TMP/plan-notarget.json"
ok "plan on a managed target" "$BTRFS_TXN" plan --target "$T" "$TEST_TMP/plan-notarget.json" --json
ok "  the tree is unchanged" same_manifest "$TEST_TMP/t" "$T"
ok "  writes nothing there either (no lock holder, no staging, same history)" sh -c "test \"\$(wc -l <'$SD/history.jsonl')\" = $((n_hist + 1)) && test ! -s '$SD/lock' && test -z \"\$(ls '$SD' | grep -v -e '^gen-' -e '^lock\$' -e '^history.jsonl\$')\""

done_testing
