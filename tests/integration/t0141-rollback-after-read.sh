#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0141: a rollback right after an apply whose file was then read. Reading rewrites
# the file's inode item (relatime) with the ctime the apply stamped, which Linux
# 6.13+ makes fine-grained and up to several milliseconds later than the coarse
# clock; the rollback's mark must still place that ctime before itself, or the
# rollback refuses as if another process had written the file. 25 rounds of apply,
# read, rollback, each rollback must commit and bring back the previous tree (with
# a mark read from the coarse clock about a quarter of them refused). Then the
# other side: a write made during a rollback (right after its mark) is still found:
# reported, and the replaced generation that holds it pinned.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
mkdir -p "$T/etc" && printf 'v0\n' >"$T/etc/main.conf"
refused=0 wrong=0
for i in $(seq 1 25); do
	before=$(cat "$T/etc/main.conf")
	apply_ops "$T" "[{\"op\": \"write\", \"path\": \"etc/main.conf\", \"content\": \"v$i\\n\"}]" >/dev/null ||
		refused=$((refused + 100))
	cat "$T/etc/main.conf" >/dev/null
	if ! "$BTRFS_TXN" -q rollback "$T" 2>"$TEST_TMP/err"; then
		refused=$((refused + 1))
		sed 's/^/# /' "$TEST_TMP/err"
	elif [ "$(cat "$T/etc/main.conf")" != "$before" ]; then
		wrong=$((wrong + 1))
	fi
	"$BTRFS_TXN" -q gc --keep 1 "$T" >/dev/null
done
ok "25 rollbacks right after an apply and a read: none refused" test "$refused" = 0
ok "  each brought back the tree before its apply" test "$wrong" = 0

# A write during the rollback (right after its mark) is still found.
apply_ops "$T" '[{"op": "write", "path": "etc/main.conf", "content": "last\n"}]' >/dev/null
g=$("$BTRFS_TXN" status --json "$T" | jq -r .generation)
with_hook "[ \"\$1\" = journaled ] && printf late >>'$T/etc/main.conf'; true" \
	"$BTRFS_TXN" rollback "$T" >"$TEST_TMP/rollback.out" 2>&1
ok "a write to the live tree during a rollback is reported" \
	grep -q "other processes wrote during the transaction.*etc/main.conf" "$TEST_TMP/rollback.out"
ok "  the replaced generation holds it and is pinned" \
	sh -c "grep -q late '$(state_dir "$T")/gen-$g/etc/main.conf' && test -e '$(state_dir "$T")/pin-$g'"
done_testing
