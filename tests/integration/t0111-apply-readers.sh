#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0111: a reader of the target during a transaction is not a concurrent writer.
# Under the default `relatime`, the first read of a file after it was written
# updates its atime, which moves the subvolume's generation; step 8 must not take
# that for a write (DESIGN.md: abort when "another writer would lose its change";
# a lost atime is no change). Real writes must still abort (t0110 covers those).
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

# and a real write still does
fresh 5
expect_exit 1 "a write at 'applied' still aborts" \
	with_hook "[ \"\$1\" = applied ] && echo w >> '$T/conf'; true" apply_ops "$T" "$change"
expect_exit 1 "a chmod at 'applied' still aborts" \
	with_hook "[ \"\$1\" = applied ] && chmod 0600 '$T/conf'; true" apply_ops "$T" "$change"

done_testing
