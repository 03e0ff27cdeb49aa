#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0111: a reader of the target during a transaction is not a concurrent writer.
# Under the default `relatime`, the first read of a file after it was written
# updates its atime, which moves the subvolume's generation; step 8 must not take
# that for a write (DESIGN.md: abort when "another writer would lose its change";
# a lost atime is no change). Real writes must still be caught (t0110 covers those).
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 256M

T=$(new_target t)
fresh() { apply_ops "$T" "[{\"op\": \"write\", \"path\": \"conf\", \"content\": \"$1\\n\"}, {\"op\": \"mkdir\", \"path\": \"d$1\"}]" >/dev/null; }
change='[{"op": "write", "path": "other", "content": "o\n"}]'

ok "the filesystem is mounted relatime (the default)" grep -q " $MNT btrfs .*relatime" /proc/mounts
fresh 1
ok "apply with a reader of a fresh file at 'applied' commits" \
	with_hook "[ \"\$1\" = applied ] && cat '$T/conf' >/dev/null; true" apply_ops "$T" "$change"
fresh 2
ok "apply with a directory listing at 'applied' commits" \
	with_hook "[ \"\$1\" = applied ] && ls '$T' '$T/d2' >/dev/null; true" apply_ops "$T" "$change"
fresh 3
ok "a reader during the verify hook does not abort either" apply_ops "$T" "$change" \
	"\"verify\": {\"argv\": [\"cat\", \"$T/conf\"]}"
ok "  no staging left" no_staging "$T"

# The same with noatime: nothing moves, so this passes whatever step 8 does.
mount -o remount,noatime "$MNT"
fresh 4
ok "with noatime, a reader at 'applied' does not abort" \
	with_hook "[ \"\$1\" = applied ] && cat '$T/conf' >/dev/null; true" apply_ops "$T" "$change"
mount -o remount,relatime "$MNT"
ok "  no reader was reported as a writer (no generation pinned)" \
	sh -c "! ls -d '$(state_dir "$T")'/pin-* 2>/dev/null"

# and a real write is still caught: a new file by the check before the exchange
# (abort); a change to a file that existed by it, or, since step 7 no longer commits
# (docs/protocol.md), by the check after the exchange: reported and pinned.
fresh 5
expect_exit 1 "a new file at 'applied' still aborts" \
	with_hook "[ \"\$1\" = applied ] && echo w > '$T/new'; true" apply_ops "$T" "$change"
rm -f "$T/new"
# caught HOOK-COMMAND: apply with HOOK-COMMAND at 'applied' exits 1 with conf as it
# was, or 0 reporting conf in concurrent_writes with its generation pinned.
caught() {
	local spec=$TEST_TMP/caught.json rc before
	printf '{"version": 1, "target": "%s", "ops": %s}\n' "$T" "$change" >"$spec"
	before=$(stat -c '%a %s' "$T/conf")
	with_hook "[ \"\$1\" = applied ] && $1; true" "$BTRFS_TXN" apply --json "$spec" >"$TEST_TMP/caught.out"
	rc=$?
	case $rc in
	1) [ "$(stat -c '%a %s' "$T/conf")" = "$before" ] || { echo "exit 1 but conf changed"; return 1; } ;;
	0) jq -e '(.concurrent_writes | index("conf")) != null and (.pinned_generation | type) == "number"' \
		"$TEST_TMP/caught.out" || { echo "exit 0 without reporting conf:"; cat "$TEST_TMP/caught.out"; return 1; } ;;
	*) echo "exit $rc"; return 1 ;;
	esac
}
ok "a write at 'applied' aborts or is reported and pinned" caught "echo w >> '$T/conf'"
ok "a chmod at 'applied' aborts or is reported and pinned" caught "chmod 0600 '$T/conf'"

done_testing
