#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0110: apply's exit codes produced for real (1 aborted, 2 invalid, 4 unsupported),
# each with the target byte-identical afterwards and no staging subvolume left.
# Lock contention (3) is t0170, ENOSPC (1) is t0115.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
ok "a first generation" apply_ops "$T" '[{"op": "write", "path": "nginx.conf", "content": "worker_processes 4;\n"},
  {"op": "mkdir", "path": "conf.d"}, {"op": "symlink", "path": "current", "target": "conf.d"}]'
conf_sha=$(sha256sum <"$T/nginx.conf" | cut -c1-64)
wrong_sha=$(printf 'other' | sha256sum | cut -c1-64)
change='[{"op": "write", "path": "nginx.conf", "content": "worker_processes 8;\n"}, {"op": "write", "path": "new", "content": "n"}]'

# --- 1: preconditions
expect_abort 1 "sha256 precondition that does not hold" "$T" apply_ops "$T" "$change" \
	"\"preconditions\": [{\"path\": \"nginx.conf\", \"sha256\": \"$wrong_sha\"}]"
output_has "  says which precondition and both hashes" "nginx.conf.*$conf_sha.*$wrong_sha"
expect_abort 1 "exists: false on an existing file" "$T" apply_ops "$T" "$change" \
	'"preconditions": [{"path": "nginx.conf", "exists": false}]'
output_has "  names the path" "precondition failed: 'nginx.conf' exists"
expect_abort 1 "exists: true on a missing file" "$T" apply_ops "$T" "$change" \
	'"preconditions": [{"path": "maintenance.flag", "exists": true}]'
expect_abort 1 "sha256 of a missing file" "$T" apply_ops "$T" "$change" \
	"\"preconditions\": [{\"path\": \"nope\", \"sha256\": \"$conf_sha\"}]"
ok "preconditions that hold let it through" apply_ops "$T" '[{"op": "write", "path": "ok1", "content": "1"}]' \
	"\"preconditions\": [{\"path\": \"nginx.conf\", \"sha256\": \"$conf_sha\"}, {\"path\": \"maintenance.flag\", \"exists\": false}, {\"path\": \"current\", \"exists\": true}]"

# --- 1: verify hook
expect_abort 1 "verify hook exiting 3" "$T" apply_ops "$T" "$change" \
	'"verify": {"argv": ["sh", "-c", "exit 3"]}'
output_has "  says the hook failed with status 3" "verify hook 'sh' failed with exit status 3"
start=$SECONDS
expect_abort 1 "verify hook timeout" "$T" apply_ops "$T" "$change" \
	'"verify": {"argv": ["sleep", "30"], "timeout": 1}'
output_has "  says it timed out" "verify hook .sleep. timed out after 1 s and was killed"
ok "  without strerror(ETIMEDOUT)" sh -c "! grep -q \"Connection timed out\" \"\$1\"" sh "$TEST_TMP/out.prev"
ok "  killed after about 1 s, not 30" test $((SECONDS - start)) -lt 10
expect_abort 1 "verify hook that cannot be run" "$T" apply_ops "$T" "$change" \
	'"verify": {"argv": ["/nonexistent/verifier"]}'
output_has "  says it cannot run it" "cannot run '/nonexistent/verifier'"
ok "verify hook sees the staged tree ({staging} and BTRFS_TXN_STAGING)" apply_ops "$T" \
	'[{"op": "write", "path": "staged", "content": "s\n"}]' \
	'"verify": {"argv": ["sh", "-c", "test \"$(cat {staging}/staged)\" = s && test \"$BTRFS_TXN_STAGING\" = {staging} && test \"$(cat {staging}/staged)\" = s && echo $BTRFS_TXN_STAGING >&2"]}'
output_has "  and it was staged in the state directory, not in T" "$(state_dir "$T")/staging-"

# --- 1: a concurrent writer changes T between snapshot and exchange
before=$(manifest "$T")
hook="[ \"\$1\" = applied ] && echo intruder > '$T/intruder'; true"
expect_exit 1 "concurrent writer at step 'applied'" with_hook "$hook" apply_ops "$T" "$change"
output_has "  says another writer modified it" "modified by another process"
ok "  the writer's file survives" test "$(cat "$T/intruder")" = intruder
ok "  and nothing of the spec was applied" test "$(manifest "$T" | grep -v '^intruder ')" = "$before"
ok "  no staging left" no_staging "$T"
rm -f "$T/intruder"

# --- 1: a change after the precondition check but before the snapshot: the
# precondition no longer holds for the tree being replaced, and the hand edit it
# guards must not be overwritten.
conf_sha=$(sha256sum <"$T/nginx.conf" | cut -c1-64)
hook="[ \"\$1\" = preconditions ] && echo 'edited by hand' > '$T/nginx.conf'; true"
expect_exit 1 "an edit right after the sha256 precondition was checked" with_hook "$hook" apply_ops "$T" "$change" \
	"\"preconditions\": [{\"path\": \"nginx.conf\", \"sha256\": \"$conf_sha\"}]"
output_has "  says the precondition failed" "precondition failed: 'nginx.conf'"
ok "  the hand edit survives" test "$(cat "$T/nginx.conf")" = "edited by hand"
ok "  nothing of the spec was applied" test ! -e "$T/new"
ok "  no staging left" no_staging "$T"
hook="[ \"\$1\" = preconditions ] && touch '$T/maintenance.flag'; true"
expect_exit 1 "a file created right after its exists: false was checked" with_hook "$hook" apply_ops "$T" "$change" \
	'"preconditions": [{"path": "maintenance.flag", "exists": false}]'
ok "  nothing of the spec was applied" test ! -e "$T/new" -a -e "$T/maintenance.flag"
rm -f "$T/maintenance.flag"
printf 'worker_processes 4;\n' >"$T/nginx.conf"

# --- 2: invalid spec, invalid usage
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "x", "content": "x", "colour": "red"}]}\n' "$T" >"$TEST_TMP/bad-key.json"
expect_abort 2 "unknown key in the spec" "$T" "$BTRFS_TXN" apply "$TEST_TMP/bad-key.json"
output_has "  error has FILE:LINE:COLUMN: /json/pointer" "bad-key.json:1:[0-9]+: /ops/0"
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "x", "content": "x", "mode": "rw"}]}\n' "$T" >"$TEST_TMP/bad-mode.json"
expect_abort 2 "mode that is not octal" "$T" "$BTRFS_TXN" apply "$TEST_TMP/bad-mode.json"
printf '{"version": 1, "target": "%s", "ops": [' "$T" >"$TEST_TMP/torn.json"
expect_abort 2 "truncated JSON" "$T" "$BTRFS_TXN" apply "$TEST_TMP/torn.json"
expect_abort 2 "unknown owner name" "$T" apply_ops "$T" '[{"op": "chown", "path": "nginx.conf", "owner": "no-such-user-xyz"}]'
expect_abort 2 "no SPEC argument" "$T" "$BTRFS_TXN" apply
expect_abort 2 "unknown option" "$T" "$BTRFS_TXN" apply --frobnicate "$TEST_TMP/bad-key.json"
printf '{"version": 1, "ops": [{"op": "write", "path": "x", "content": "x"}]}\n' >"$TEST_TMP/no-target.json"
expect_abort 2 "no target in spec nor --target" "$T" "$BTRFS_TXN" apply "$TEST_TMP/no-target.json"
expect_abort 2 "--keep 0" "$T" "$BTRFS_TXN" apply --keep 0 --target "$T" "$TEST_TMP/no-target.json"
expect_abort 2 "--timeout nonsense" "$T" "$BTRFS_TXN" apply --timeout soon --target "$T" "$TEST_TMP/no-target.json"
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "x", "content": "x"}]}\n' "$T" >"$TEST_TMP/good.json"
expect_abort 2 "--target contradicting the spec" "$T" "$BTRFS_TXN" apply --target "$MNT/other" "$TEST_TMP/good.json"
expect_abort 2 "--method nonsense" "$T" "$BTRFS_TXN" apply --method fast "$TEST_TMP/good.json"
expect_exit 2 "a target that does not exist" "$BTRFS_TXN" apply --target "$MNT/missing" "$TEST_TMP/no-target.json"
ok "  and it was not created" test ! -e "$MNT/missing"
expect_exit 2 "unknown command" "$BTRFS_TXN" frobnicate
expect_exit 2 "no command" "$BTRFS_TXN"
ok "--target works with a spec without target" "$BTRFS_TXN" apply --target "$T" "$TEST_TMP/no-target.json"
ok "spec from standard input" sh -c "printf '{\"version\": 1, \"target\": \"$T\", \"ops\": [{\"op\": \"write\", \"path\": \"stdin\", \"content\": \"i\"}]}' | '$BTRFS_TXN' apply -"
ok "  was applied" test "$(cat "$T/stdin")" = i

# --- 4: unsupported here
mkdir -p "$TEST_TMP/tmpfs" && mount -t tmpfs -o size=4m tmpfs "$TEST_TMP/tmpfs" && at_cleanup "umount '$TEST_TMP/tmpfs'"
mkdir "$TEST_TMP/tmpfs/t" && echo keep >"$TEST_TMP/tmpfs/t/f"
expect_abort 4 "a target on tmpfs" "$TEST_TMP/tmpfs/t" "$BTRFS_TXN" apply --target "$TEST_TMP/tmpfs/t" "$TEST_TMP/no-target.json"
output_has "  says not Btrfs" "not on a Btrfs filesystem"
ok "  no state directory made on tmpfs" test ! -e "$TEST_TMP/tmpfs/.btrfs-txn"
mkdir "$MNT/plain" && echo keep >"$MNT/plain/f"
expect_abort 4 "a plain directory on Btrfs" "$MNT/plain" "$BTRFS_TXN" apply --target "$MNT/plain" "$TEST_TMP/no-target.json"
output_has "  says not a subvolume and names init" "not a Btrfs subvolume.*init"
expect_abort 4 "--method trans on this kernel" "$T" "$BTRFS_TXN" apply --method trans "$TEST_TMP/good.json"
output_has "  names --method snapshot" "method snapshot"
printf '{"version": 1, "target": "%s", "method": "trans", "ops": [{"op": "write", "path": "x", "content": "x"}]}\n' "$T" >"$TEST_TMP/trans.json"
expect_abort 4 "method trans from the spec" "$T" "$BTRFS_TXN" apply "$TEST_TMP/trans.json"
mkdir "$TEST_TMP/submnt" && mount -o subvol=t "$LOOP_DEV" "$TEST_TMP/submnt" && at_cleanup "umount '$TEST_TMP/submnt'"
# A subvolume that is itself a mount point is a mounted target (t0700-t0702).
ok "a subvolume that is itself a mount point is a mounted target" "$BTRFS_TXN" status "$TEST_TMP/submnt"
output_has "  status names the subvolume" "^mounted: +subvolume 't'"

# --json on a failure: one document with the error and the exit status
out=$(apply_ops "$T" "$change" '"preconditions": [{"path": "nginx.conf", "exists": false}]' 2>/dev/null; true)
spec=$(ls -t "$TEST_TMP"/spec.*.json | head -1)
json=$("$BTRFS_TXN" apply --json "$spec" 2>/dev/null)
ok "--json failure document has exit 1 and the error" test "$(jq -r '"\(.exit) \(.error | test("precondition"))"' <<<"$json")" = "1 true"

done_testing
