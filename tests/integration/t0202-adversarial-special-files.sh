#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0202: fifos, device nodes and huge sparse files where the spec expects files, and
# names with newlines and invalid UTF-8 in the tree. Nothing may block (every command
# here is bounded by `timeout`), open a device, or read without end; everything is
# refused or handled inside the tree. docs/SECURITY.md gives the decisions.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
mkdir -p "$TEST_TMP/outside" && echo canary >"$TEST_TMP/outside/canary"
manifest "$TEST_TMP/outside" >"$TEST_TMP/canary"
canary_intact() { same_manifest "$TEST_TMP/canary" "$TEST_TMP/outside"; }
any_sha=$(printf x | sha256sum | cut -c1-64)
# bounded CMD...: CMD (apply_ops included) killed after 20 s: a blocked open fails.
export TEST_TMP BTRFS_TXN && export -f apply_ops
bounded() { timeout -s KILL 20 bash -c '"$@"' bounded "$@"; }

mkfifo "$T/fifo" && mknod "$T/null" c 1 3 && mknod "$T/loop" b 7 0 && echo f >"$T/file"
pre() { printf '"preconditions": [{"path": "%s", "sha256": "%s"}]' "$1" "$any_sha"; }
write_x='[{"op": "write", "path": "x", "content": "x"}]'

# --- preconditions on special files: refused at once, never opened
for node in fifo null loop; do
	expect_abort 1 "sha256 precondition on '$node' fails without blocking" "$T" bounded apply_ops "$T" "$write_x" "$(pre "$node")"
	output_has "  says it is not a regular file" "precondition failed: '$node' is not a regular file"
done
ok "exists: true holds for a fifo (it exists)" bounded apply_ops "$T" "$write_x" '"preconditions": [{"path": "fifo", "exists": true}]'

# --- a huge sparse file: the sha256 precondition is bounded (16 GiB), refused at once.
# In a target of its own: the manifest helper would hash all 100 GiB.
S=$(new_target s)
truncate -s 100G "$S/sparse"
start=$SECONDS
expect_exit 1 "sha256 precondition on a 100 GiB sparse file" bounded apply_ops "$S" "$write_x" "$(pre sparse)"
output_has "  says it is larger than a precondition reads" "precondition failed: 'sparse' is 107374182400 bytes, more than the 16 GiB a sha256 precondition reads"
ok "  refused in seconds, not after reading 100 GiB" test $((SECONDS - start)) -lt 10
ok "  nothing written" test ! -e "$S/x" -a "$(stat -c %s "$S/sparse")" = 107374182400
printf '{"version": 1, "ops": [{"op": "write", "path": "sparse", "content": "x"}]}' >"$TEST_TMP/p.json"
ok "plan of a write over it is quick too" bounded "$BTRFS_TXN" plan --target "$S" "$TEST_TMP/p.json"
ok "the sparse file may be replaced by a write" bounded apply_ops "$S" '[{"op": "write", "path": "sparse", "content": "small\n"}]'
ok "  now small" test "$(stat -c %s "$S/sparse")" = 6

# --- ops on special files: replaced or removed as entries, never opened
ok "write over a fifo replaces it with a file" bounded apply_ops "$T" '[{"op": "write", "path": "fifo", "content": "was a fifo\n"}]'
ok "  a regular file now" test -f "$T/fifo" -a "$(cat "$T/fifo")" = "was a fifo"
ok "write over a device node replaces it" bounded apply_ops "$T" '[{"op": "write", "path": "null", "content": "was a device\n"}]'
ok "  a regular file now" test -f "$T/null"
mkfifo "$T/fifo2"
ok "chmod of a fifo changes the fifo" bounded apply_ops "$T" '[{"op": "chmod", "path": "fifo2", "mode": "0600"}]'
ok "  mode 600" test "$(stat -c %a "$T/fifo2")" = 600
ok "chown of a block device changes the node only" bounded apply_ops "$T" '[{"op": "chown", "path": "loop", "owner": 4242}]'
ok "  owner 4242" test "$(stat -c %u "$T/loop")" = 4242
ok "delete of a fifo and a device" bounded apply_ops "$T" '[{"op": "delete", "path": "fifo2"}, {"op": "delete", "path": "loop"}]'
mkfifo "$T/fifo3"
ok "rename of a fifo" bounded apply_ops "$T" '[{"op": "rename", "path": "fifo3", "to": "fifo4"}]'
ok "  moved, still a fifo" test -p "$T/fifo4" -a ! -e "$T/fifo3"

# --- copy sources that are not regular files: refused without blocking or opening
mkfifo "$TEST_TMP/src-fifo"
for src in "$TEST_TMP/src-fifo" /dev/zero /dev/null "$LOOP_DEV"; do
	expect_abort 1 "copy from '$src' is refused" "$T" bounded apply_ops "$T" "[{\"op\": \"copy\", \"path\": \"c\", \"source\": \"$src\"}]"
	output_has "  not a regular file" "source '$src' is not a regular file"
done

# --- names with newlines and invalid UTF-8 in the tree are just names
mkdir "$T/odd"
name_nl=$'line1\nline2' name_bad=$'caf\xe9-\xff\xfe' name_ctl=$'tab\tesc\e'
for n in "$name_nl" "$name_bad" "$name_ctl"; do
	echo "$n" >"$T/odd/$n"
done
mkdir "$T/odd/$name_bad.d" && echo deep >"$T/odd/$name_bad.d/$name_nl"
manifest "$T/odd" >"$TEST_TMP/odd"
ok "an apply leaves odd names alone" bounded apply_ops "$T" '[{"op": "write", "path": "odd/plain", "content": "p"}]'
odd_unchanged() { manifest "$T/odd" | grep -v '^plain ' | diff -u "$TEST_TMP/odd" -; }
ok "  every odd name is there, unchanged" odd_unchanged
ok "a spec may name a newline (valid JSON, valid UTF-8)" bounded apply_ops "$T" '[{"op": "write", "path": "odd/new\nline", "content": "n"}]'
ok "  the file has a newline in its name" test -f "$T/odd/new"$'\n'"line"
ok "rename of a directory holding odd names" bounded apply_ops "$T" '[{"op": "rename", "path": "odd", "to": "odd2"}]'
ok "  moved whole" test -f "$T/odd2/$name_bad.d/$name_nl"
ok "delete --recursive of it" bounded apply_ops "$T" '[{"op": "delete", "path": "odd2", "recursive": true}]'
ok "  gone" test ! -e "$T/odd2"
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "caf\xe9", "content": "x"}]}\n' "$T" >"$TEST_TMP/bad-utf8.json"
expect_abort 2 "invalid UTF-8 in the spec's JSON is an error" "$T" "$BTRFS_TXN" apply "$TEST_TMP/bad-utf8.json"
output_has "  reported as invalid JSON with a position" "bad-utf8.json:1:[0-9]+: invalid JSON: unable to decode byte 0xe9"
ok "history and status still read fine" sh -c "'$BTRFS_TXN' history '$T' >/dev/null && '$BTRFS_TXN' status '$T' >/dev/null"
ok "canary intact" canary_intact

done_testing
