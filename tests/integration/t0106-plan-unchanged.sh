#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0106: plan calls an op "unchanged" exactly when applying it would change nothing,
# for every op kind: a spec applied once plans 0 changes the second time (an op after
# an unchanged one included); each kind still plans a change when one attribute
# differs (bytes, mode, owner, link text, set-id bits); and a rename, which cannot be
# applied twice, plans "fails" unless source and destination are already one file.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v jq >/dev/null || skip_all "needs jq"
btrfs_fixture 1G

T=$(new_target t)
head -c 70000 /dev/urandom >"$MNT/artifact" && chmod 0751 "$MNT/artifact"
SPEC="$TEST_TMP/spec.json"
cat >"$SPEC" <<JSON
{"version": 1, "target": "$T", "ops": [
  {"op": "mkdir", "path": "conf.d", "parents": true},
  {"op": "write", "path": "conf.d/site.conf", "content": "listen 80;\n", "mode": "0640"},
  {"op": "write", "path": "secret.key", "content": "k"},
  {"op": "chmod", "path": "secret.key", "mode": "0600"},
  {"op": "mkdir", "path": "bin"},
  {"op": "copy", "path": "bin/app", "source": "$MNT/artifact", "mode": "0755"},
  {"op": "copy", "path": "bin/app-srcmode", "source": "$MNT/artifact"},
  {"op": "symlink", "path": "current", "target": "releases/1"},
  {"op": "mkdir", "path": "www"},
  {"op": "chown", "path": "www", "owner": 33, "group": 33},
  {"op": "delete", "path": "old.conf", "missing_ok": true}]}
JSON
# plan_actions [SPEC]: the plan's actions, one "INDEX OP ACTION" a line.
plan_actions() {
	"$BTRFS_TXN" plan --json "${1:-$SPEC}" | jq -r '.ops[] | "\(.index) \(.op) \(.action)"'
}
changes() { plan_actions "$@" | awk '$3 != "unchanged"' ; }
no_changes() { local c; c=$(changes "$@") && [ -z "$c" ] || { echo "changes: $c"; return 1; }; }
action_of() { plan_actions "${3:-$SPEC}" | awk -v i="$1" '$1 == i { print $3 }' | grep -qx "$2"; }

count_changes() { [ "$(changes | wc -l)" -eq "$1" ]; }
ok "the first plan changes every op but the delete" count_changes 10
ok "apply the spec" "$BTRFS_TXN" apply "$SPEC"
ok "the second plan has 0 changes, for every op kind" no_changes
ok "  the write after an unchanged mkdir is judged too" action_of 1 unchanged
ok "  the chmod after an unchanged write is judged too" action_of 3 unchanged
manifest "$T" >"$TEST_TMP/m1"
ok "apply it again" "$BTRFS_TXN" apply "$SPEC"
ok "  the tree is the same" same_manifest "$TEST_TMP/m1" "$T"
ok "  and the plan still has 0 changes" no_changes
ok "plan --json says so to the Ansible module: no action but unchanged" \
	sh -c "'$BTRFS_TXN' plan --json '$SPEC' | jq -e '[.ops[].action] | unique == [\"unchanged\"]'"

# One attribute differs: each kind plans a change again.
printf 'listen 81;\n' >"$T/conf.d/site.conf"
ok "write: other bytes -> replace" action_of 1 replace
printf 'listen 80;\n' >"$T/conf.d/site.conf" && chmod 0644 "$T/conf.d/site.conf"
ok "write: same bytes, other mode -> replace" action_of 1 replace
chmod 0640 "$T/conf.d/site.conf" && chown 1:1 "$T/conf.d/site.conf"
ok "write: same bytes and mode, another owner -> replace (apply makes it ours)" action_of 1 replace
chown 0:0 "$T/conf.d/site.conf"
ok "write: back as it was -> unchanged" action_of 1 unchanged
ln "$T/conf.d/site.conf" "$T/site.conf.link"
ok "write: same bytes, mode and owner, but a second name -> replace (apply breaks the link)" \
	action_of 1 replace
ok "  and says so" sh -c "'$BTRFS_TXN' plan '$SPEC' 2>&1 | grep -q 'one of 2 hard links'"
ok "  apply it" "$BTRFS_TXN" apply "$SPEC"
ok "  the names are two files now" test "$(stat -c %h "$T/conf.d/site.conf")" = 1
ok "  the other name kept the old file" test "$(cat "$T/site.conf.link")" = "listen 80;"
ok "  and the plan is unchanged again" action_of 1 unchanged
rm "$T/site.conf.link"
head -c 1 /dev/zero >>"$MNT/artifact"
ok "copy: the source grew -> replace" action_of 5 replace
truncate -s 70000 "$MNT/artifact"
ok "copy: the source as it was -> unchanged" action_of 5 unchanged
chmod 0700 "$MNT/artifact"
ok "copy without a mode: the file of ours keeps its mode -> unchanged" action_of 6 unchanged
ln -sfn releases/2 "$T/current"
ok "symlink: another link text -> replace" action_of 7 replace
ln -sfn releases/1 "$T/current" && chown -h 1:1 "$T/current"
ok "symlink: same text, another owner -> replace" action_of 7 replace
rm "$T/current" && mkdir "$T/current"
ok "symlink: a directory there -> fails (as apply would)" action_of 7 fails
rmdir "$T/current" && ln -s releases/1 "$T/current"
chmod 0644 "$T/secret.key"
ok "chmod: another mode -> change (and the write before it unchanged)" \
	sh -c "$(declare -f plan_actions action_of); BTRFS_TXN='$BTRFS_TXN' SPEC='$SPEC'; action_of 3 change && action_of 2 unchanged"
chmod 0600 "$T/secret.key"
chown 34 "$T/www"
ok "chown: another owner -> change" action_of 9 change
chown 33 "$T/www"
ok "everything as it was: 0 changes" no_changes

# chown to the owner a file already has still clears set-id bits: a change.
printf 'x' >"$T/tool" && chown 33:33 "$T/tool" && chmod 4755 "$T/tool"
cat >"$TEST_TMP/chown.json" <<JSON
{"version": 1, "target": "$T", "ops": [{"op": "chown", "path": "tool", "owner": 33, "group": 33}]}
JSON
ok "chown to the same owner of a set-uid file -> change" action_of 0 change "$TEST_TMP/chown.json"
ok "  apply clears the bit" "$BTRFS_TXN" apply "$TEST_TMP/chown.json"
ok "  then the same chown is unchanged" action_of 0 unchanged "$TEST_TMP/chown.json"
ok "  and the bit is gone" test "$(stat -c '%a %u:%g' "$T/tool")" = "755 33:33"

# An op after a real change stays "after".
cat >"$TEST_TMP/after.json" <<JSON
{"version": 1, "target": "$T", "ops": [
  {"op": "write", "path": "secret.key", "content": "new"},
  {"op": "chmod", "path": "secret.key", "mode": "0600"}]}
JSON
ok "an op after a changing op is 'after'" action_of 1 after "$TEST_TMP/after.json"

# rename: not repeatable, so never "unchanged" once done; a no-op only on one inode.
printf 'r' >"$T/a.conf"
cat >"$TEST_TMP/rename.json" <<JSON
{"version": 1, "target": "$T", "ops": [{"op": "rename", "path": "a.conf", "to": "b.conf"}]}
JSON
ok "rename: plan says rename" action_of 0 rename "$TEST_TMP/rename.json"
ok "  apply it" "$BTRFS_TXN" apply "$TEST_TMP/rename.json"
ok "  the second plan says it fails (the source is gone)" action_of 0 fails "$TEST_TMP/rename.json"
ok "  and says why" sh -c "'$BTRFS_TXN' plan '$TEST_TMP/rename.json' 2>&1 | grep -q 'cannot be applied twice'"
expect_exit 1 "  as apply does: the second apply aborts" "$BTRFS_TXN" apply "$TEST_TMP/rename.json"
ln "$T/b.conf" "$T/a.conf"
ok "rename of two names of one file -> unchanged" action_of 0 unchanged "$TEST_TMP/rename.json"
manifest "$T" >"$TEST_TMP/m2"
ok "  and apply changes nothing" "$BTRFS_TXN" apply "$TEST_TMP/rename.json"
ok "  the tree is the same" same_manifest "$TEST_TMP/m2" "$T"

# copy: plan says what apply would refuse about the source.
cat >"$TEST_TMP/copy.json" <<JSON
{"version": 1, "target": "$T", "ops": [{"op": "copy", "path": "bin/app", "source": "$MNT/artifact", "max_size": 100}]}
JSON
ok "copy over an existing file from a source above max_size -> fails" action_of 0 fails "$TEST_TMP/copy.json"

done_testing
