#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0115: ENOSPC while staging on a small, nearly full image aborts with exit 1, the
# target byte-identical and no staging left; the target stays usable afterwards.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 128M

T=$(new_target t)
ok "a first generation" apply_ops "$T" '[{"op": "write", "path": "app.conf", "content": "v1\n"},
  {"op": "mkdir", "path": "data"}]'
# A source far larger than the filesystem, on another filesystem, so the copy must
# allocate every byte (no reflink possible). Allocated, not sparse: a copy keeps
# holes, and checks the source's allocated size against the free space first.
head -c 300M /dev/zero >"$TEST_TMP/huge" && chmod 0644 "$TEST_TMP/huge"
expect_abort 1 "copying 300M into a 128M filesystem" "$T" apply_ops "$T" "[
  {\"op\": \"write\", \"path\": \"app.conf\", \"content\": \"v2\\n\"},
  {\"op\": \"copy\", \"path\": \"data/huge\", \"source\": \"$TEST_TMP/huge\"}]"
output_has "  says no space, naming the op" "data/huge.*No space left on device"
ok "  no temporary file left in the target" sh -c "! find '$T' -name '.btrfs-txn-tmp*' | grep -q ."
ok "status shows no interrupted transaction" sh -c "'$BTRFS_TXN' status --json '$T' | jq -e '.interrupted == false'"

# Nearly full from outside the target: the filler stays, the target must not change.
sync
dd if=/dev/zero of="$MNT/filler" bs=1M count=200 status=none 2>/dev/null
sync
content=$(head -c 3000000 /dev/urandom | base64 -w0)
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "blob", "content_base64": "%s"}, {"op": "write", "path": "blob2", "content_base64": "%s"}, {"op": "write", "path": "blob3", "content_base64": "%s"}]}\n' \
	"$T" "$content" "$content" "$content" >"$TEST_TMP/big.json"
expect_abort 1 "writing into a full filesystem" "$T" "$BTRFS_TXN" apply "$TEST_TMP/big.json"
output_has "  says no space" "No space left on device"

rm -f "$MNT/filler" && sync && btrfs filesystem sync "$MNT" >/dev/null 2>&1
ok "after space is freed, an apply works" apply_ops "$T" '[{"op": "write", "path": "app.conf", "content": "v3\n"}]'
ok "  with the new content" test "$(cat "$T/app.conf")" = v3
# The aborted line of the full-disk run is best effort (it may itself not fit).
ok "history lists the aborted copy with its reason" sh -c "'$BTRFS_TXN' history --json '$T' | jq -e '[.transactions[] | select(.result == \"aborted\") | .reason | test(\"No space\")] | length >= 1'"
ok "every history line is whole JSON" sh -c "jq -e . '$(state_dir "$T")/history.jsonl' >/dev/null && test \"\$(tail -c1 '$(state_dir "$T")/history.jsonl' | od -An -c | tr -d ' ')\" = '\\n'"

done_testing
