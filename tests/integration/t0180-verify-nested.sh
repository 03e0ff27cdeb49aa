#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0180: a verify hook that itself runs btrfs-txn on the target of the transaction
# that runs the hook. The inner run would wait for a lock its own caller holds; it
# must refuse at once (exit 3, saying why), so the outer apply fails fast with exit 1
# and the target unchanged. The same hook on another target goes through: only the
# caller's own locks are refused, and nesting across targets does not deadlock.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
OTHER=$(new_target other)
apply_ops "$T" '[{"op": "write", "path": "conf", "content": "v0\n"}]' >/dev/null
apply_ops "$OTHER" '[{"op": "write", "path": "conf", "content": "v0\n"}]' >/dev/null
manifest "$OTHER" >"$TEST_TMP/other.m0"

printf '{"version": 1, "ops": [{"op": "write", "path": "inner", "content": "x\\n"}]}\n' \
	>"$TEST_TMP/inner.json"
# The hook runs the inner apply and records its exit status and message.
cat >"$TEST_TMP/hook.sh" <<HOOK
#!/bin/sh
"$BTRFS_TXN" apply --target "\$1" "$TEST_TMP/inner.json" >"$TEST_TMP/inner.out" 2>&1
rc=\$?
echo \$rc >"$TEST_TMP/inner.rc"
printf '%s\n' "\$BTRFS_TXN_LOCKED_TARGETS" >"$TEST_TMP/inner.env"
exit \$rc
HOOK
chmod +x "$TEST_TMP/hook.sh"
outer_spec() { # TARGET_FOR_INNER
	printf '{"version": 1, "ops": [{"op": "write", "path": "conf", "content": "v1\\n"}], "verify": {"argv": ["%s", "%s"], "timeout": 20}}\n' \
		"$TEST_TMP/hook.sh" "$1" >"$TEST_TMP/outer.json"
	printf '%s\n' "$TEST_TMP/outer.json"
}

start=$SECONDS
expect_abort 1 "apply whose verify hook applies to the same target" "$T" \
	"$BTRFS_TXN" apply --timeout 30 --target "$T" "$(outer_spec "$T")"
output_has "  the outer run says its verify hook failed with exit status 3" "verify hook .* exit status 3"
ok "  failed at once, not after a lock or hook timeout" test $((SECONDS - start)) -lt 10
ok "  the inner run exited 3" grep -qx 3 "$TEST_TMP/inner.rc"
ok "  the inner run says it was called from the verify hook holding the lock" \
	grep -q "called from the verify hook of a transaction holding this lock" "$TEST_TMP/inner.out"
ok "  the hook saw BTRFS_TXN_LOCKED_TARGETS as DEV:INO" grep -Eq '^[0-9]+:[0-9]+$' "$TEST_TMP/inner.env"
ok "  the lock is free afterwards: an ordinary apply goes through" \
	"$BTRFS_TXN" apply -q --no-wait --target "$T" "$TEST_TMP/inner.json"

expect_exit 0 "apply whose verify hook applies to another target" \
	"$BTRFS_TXN" apply --timeout 30 --target "$T" "$(outer_spec "$OTHER")"
ok "  the inner run on the other target succeeded" grep -qx 0 "$TEST_TMP/inner.rc"
ok "  the other target got the inner change" grep -qx x "$OTHER/inner"
ok "  the outer target got its change" grep -qx v1 "$T/conf"
ok "  no staging left on either" sh -c "$(declare -f state_dir no_staging); no_staging '$T' && no_staging '$OTHER'"

done_testing
