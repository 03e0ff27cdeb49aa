#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0430: every command's --json output is exactly one JSON document with the keys
# and types docs/json.md documents, on success and on failure, and on failure its
# "exit" is the process's exit status. json-shape.py reads the tables of
# docs/json.md, so the documentation and this test cannot drift apart.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v python3 >/dev/null || skip_all "needs python3"
btrfs_fixture 1G

B=$BTRFS_TXN
DOC=$TOP/docs/json.md
T=$(new_target t)

# shape OUTCOME SECTION [PATH=SECTION...] -- CMD...: run CMD (stdout kept apart from
# stderr), check its document; on failure also that "exit" is its exit status.
shape() {
	local outcome=$1 section=$2 nested=()
	shift 2
	while [ "$1" != -- ]; do nested+=("$1"); shift; done
	shift
	"$@" >"$TEST_TMP/doc.json" 2>"$TEST_TMP/doc.err"
	local rc=$?
	_tests=$((_tests + 1))
	local problem=""
	if [ "$outcome" = success ] && [ "$rc" -ne 0 ]; then
		problem="exit $rc, expected 0"
	elif [ "$outcome" = failure ] && [ "$rc" -eq 0 ]; then
		problem="exit 0, expected a failure"
	fi
	if [ -z "$problem" ] && ! python3 "$TOP/tests/integration/json-shape.py" "$DOC" "$section" "$outcome" "${nested[@]}" <"$TEST_TMP/doc.json" >"$TEST_TMP/shape.out" 2>&1; then
		problem=$(cat "$TEST_TMP/shape.out")
	fi
	if [ -z "$problem" ] && [ "$outcome" = failure ] &&
		[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["exit"])' <"$TEST_TMP/doc.json")" != "$rc" ]; then
		problem="\"exit\" is not the exit status $rc"
	fi
	if [ -z "$problem" ]; then
		echo "ok $_tests - $section --json, $outcome: $*" | sed "s|$TEST_TMP|TMP|g"
	else
		_failed=$((_failed + 1))
		echo "not ok $_tests - $section --json, $outcome: $*" | sed "s|$TEST_TMP|TMP|g"
		printf '%s\n' "$problem" | sed 's/^/# /'
		sed 's/^/# stdout: /' "$TEST_TMP/doc.json" | head -20
		sed 's/^/# stderr: /' "$TEST_TMP/doc.err" | head -5
	fi
}

spec() { # spec FILE OPS [EXTRA]: a spec for $T
	printf '{"version": 1, "target": "%s", %s"ops": %s}\n' "$T" "${3:+$3, }" "$2" >"$1"
}
spec "$TEST_TMP/ok.json" '[{"op": "write", "path": "a", "content": "1"}, {"op": "mkdir", "path": "d"}]'
spec "$TEST_TMP/pre.json" '[{"op": "write", "path": "a", "content": "2"}]' '"preconditions": [{"path": "a", "exists": false}]'
printf '{"version": 1, "ops": [{"op": "write", "path": "../x", "content": ""}]}\n' >"$TEST_TMP/bad.json"
printf '{"version": 1, "target": "%s/nowhere", "ops": [{"op": "mkdir", "path": "d"}]}\n' "$MNT" >"$TEST_TMP/nowhere.json"

shape success validate -- "$B" validate --json "$TEST_TMP/ok.json"
shape failure validate 'spec_error=validate.spec_error' -- "$B" validate --json "$TEST_TMP/bad.json"
expect_exit 2 "apply --json with an invalid spec: exit 2" "$B" apply --json "$TEST_TMP/bad.json"
ok "  and no document, as documented" sh -c "'$B' apply --json '$TEST_TMP/bad.json' 2>/dev/null | wc -c | grep -qx 0"
expect_exit 2 "an unknown option: exit 2" "$B" status --json --bogus "$T"
ok "  and no document, as documented" sh -c "'$B' status --json --bogus '$T' 2>/dev/null | wc -c | grep -qx 0"
shape success plan 'ops[]=plan.ops[]' -- "$B" plan --json "$TEST_TMP/ok.json"
shape success plan 'ops[]=plan.ops[]' -- "$B" apply --dry-run --json "$TEST_TMP/ok.json"
shape failure plan -- "$B" plan --json "$TEST_TMP/nowhere.json"
shape success apply 'timing=apply.timing' -- "$B" apply --json "$TEST_TMP/ok.json"
shape failure apply -- "$B" apply --json "$TEST_TMP/pre.json"
shape failure apply -- "$B" apply --json "$TEST_TMP/nowhere.json"
if [ "$("$B" probe --json "$T" | jq -r .trans_ioctls)" = no ]; then
	shape failure apply -- "$B" apply --json --method trans "$TEST_TMP/ok.json"
fi
shape success run 'timing=apply.timing' -- "$B" run --json "$T" -- sh -c 'echo x >"$BTRFS_TXN_STAGING/r"'
shape failure run -- "$B" run --json "$T" -- false
shape failure run -- "$B" run --json "$T" -- /nonexistent/command
shape success snapshot -- "$B" snapshot --json "$T" --tag pre --description "pre"
echo changed >"$T/a"
shape success snapshot -- "$B" snapshot --json "$T" --tag post
shape failure snapshot -- "$B" snapshot --json "$MNT/nowhere" --tag pre
shape success status 'kept[]=status.kept[]' -- "$B" status --json "$T"
shape failure status -- "$B" status --json "$MNT/nowhere"
shape success history 'transactions[]=history.transactions[]' 'pairs[]=history.pairs[]' -- "$B" history --json "$T"
shape failure history -- "$B" history --json "$MNT/nowhere"
shape success diff 'changes[]=diff.changes[]' 'changes[].from=diff.side' 'changes[].to=diff.side' -- "$B" diff --json "$T" 0 current
shape failure diff -- "$B" diff --json "$T" 0 99
shape success rollback 'timing=apply.timing' -- "$B" rollback --json "$T"
shape failure rollback -- "$B" rollback --json --to 99 "$T"
shape success recover -- "$B" recover --json "$T"
shape failure recover -- "$B" recover --json "$MNT/nowhere"
shape success gc -- "$B" gc --json --keep 2 "$T"
shape failure gc -- "$B" gc --json "$MNT/nowhere"
shape success init -- "$B" init --json "$MNT/fresh"
shape failure init -- "$B" init --json /proc/btrfs-txn-test
shape success probe -- "$B" probe --json "$T"
ok "  a managed target is usable" jq -e '.usable_target == true and .unusable_reason == null' "$TEST_TMP/doc.json"
shape success probe -- "$B" probe --json "$MNT"
ok "  the mount point is not, and it says why" jq -e '.usable_target == false and (.unusable_reason | test("mount point"))' "$TEST_TMP/doc.json"
ok "  every moment is ISO 8601 UTC: status.kept[].created" sh -c "'$B' status --json '$T' | jq -e '[.kept[].created | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\$\")] | all and length > 0'"
ok "  every moment is ISO 8601 UTC: concurrent_since" sh -c "'$B' run --json '$T' -- true | jq -e '.concurrent_since | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z\$\")'"
ok "  every moment is ISO 8601 UTC: history" sh -c "'$B' history --json '$T' | jq -e '[.transactions[] | .time, (.started // empty) | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\$\")] | all'"

# Status of a target with an interrupted transaction and a held lock: the
# conditional keys are documented too.
with_fault "snapshotted:exit" "$B" apply "$TEST_TMP/ok.json" >/dev/null 2>&1
shape success status 'kept[]=status.kept[]' -- "$B" status --json "$T"
ok "  it shows the journal" jq -e '.interrupted and .journal.kind == "apply"' "$TEST_TMP/doc.json"
shape success recover -- "$B" recover --json "$T"
ok "  rolled back" jq -e '.action == "rolled-back" and (.txid | type) == "string"' "$TEST_TMP/doc.json"
shape success history 'transactions[]=history.transactions[]' 'pairs[]=history.pairs[]' -- "$B" history --json "$T"
ok "  the history has every kind written here" jq -e '[.transactions[].kind] | unique == ["apply", "rollback", "run", "snapshot"]' "$TEST_TMP/doc.json"
done_testing
