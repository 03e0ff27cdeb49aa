#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0300: `apply --method trans` on the real host kernel. Kernels since 4.17 have no
# BTRFS_IOC_TRANS_START, so the method must exit 4 with one line naming the running
# kernel, Linux 4.17 and --method snapshot, and touch nothing: the target stays
# byte-identical, no staged file and no state directory appear. `probe` must say the
# ioctls are missing. On a kernel that still has them this test skips: the window
# itself is proven by tests/unit/test_trans_*.c and by the QEMU suite on an old kernel.
. "$(dirname "$0")/lib.sh"
require_btrfs

btrfs_fixture 256M
T=$MNT/conf
btrfs subvolume create "$T" >/dev/null || { echo "Bail out! cannot create a subvolume"; exit 1; }

"$BTRFS_TXN" probe "$T" >"$TEST_TMP/probe" 2>&1
grep -Eq '^TRANS ioctls: +yes' "$TEST_TMP/probe" &&
	skip_all "this kernel ($(uname -r)) still has the TRANS ioctls"

printf 'worker_processes 2;\n' >"$T/nginx.conf"
printf 'old\n' >"$T/old.conf"
mkdir -p "$T/sites" && printf 'server {}\n' >"$T/sites/a.conf"
ln -s sites/a.conf "$T/current"
chmod 0640 "$T/old.conf"
before=$(manifest "$T")
parent_before=$(ls -A "$MNT")

cat >"$TEST_TMP/spec.json" <<EOF
{
  "version": 1,
  "target": "$T",
  "description": "trans on a new kernel",
  "ops": [
    {"op": "write", "path": "nginx.conf", "content": "worker_processes 4;\n"},
    {"op": "mkdir", "path": "conf.d"},
    {"op": "write", "path": "conf.d/b.conf", "content": "b\n"},
    {"op": "delete", "path": "old.conf"},
    {"op": "symlink", "path": "current", "target": "conf.d/b.conf"}
  ]
}
EOF
sed 's/"description"/"method": "trans", "description"/' "$TEST_TMP/spec.json" >"$TEST_TMP/spec-trans.json"
grep -v '^  "target":' "$TEST_TMP/spec.json" >"$TEST_TMP/spec-no-target.json"

# unchanged: the target is byte-identical, nothing staged, no state directory.
unchanged() {
	[ "$(manifest "$T")" = "$before" ] &&
		[ -z "$(find "$MNT" -name '.btrfs-txn-trans.*' -print -quit)" ] &&
		[ "$(ls -A "$MNT")" = "$parent_before" ]
}

# says_why: one line naming the running kernel, Linux 4.17 and --method snapshot.
says_why() {
	local out=$1
	[ "$(wc -l <"$out")" -eq 1 ] &&
		grep -qF "$(uname -r)" "$out" &&
		grep -qF 'removed in Linux 4.17' "$out" &&
		grep -qF -- '--method snapshot' "$out"
}

expect_exit 4 "apply --method trans exits 4" \
	"$BTRFS_TXN" apply --method trans "$TEST_TMP/spec.json"
last_output >"$TEST_TMP/out1"
ok "the message names the kernel, 4.17 and --method snapshot" says_why "$TEST_TMP/out1"
ok "the target is byte-identical, with nothing staged" unchanged

expect_exit 4 '"method": "trans" in the spec exits 4' \
	"$BTRFS_TXN" apply "$TEST_TMP/spec-trans.json"
last_output >"$TEST_TMP/out2"
ok "same message for the spec's method" says_why "$TEST_TMP/out2"
ok "the target is still byte-identical" unchanged

expect_exit 4 "--trans-timeout and --target are accepted, still exit 4" \
	"$BTRFS_TXN" apply --method trans --trans-timeout 5 --target "$T" "$TEST_TMP/spec-trans.json"

expect_exit 4 "--json reports it too" \
	"$BTRFS_TXN" apply --json --method trans "$TEST_TMP/spec.json"
last_output | sed -n '/^{/,/^}/p' >"$TEST_TMP/apply.json"
ok "the JSON document says exit 4 and why" \
	jq -e '.exit == 4 and .method == "trans" and (.error | test("4\\.17"))' "$TEST_TMP/apply.json"
ok "and nothing changed" unchanged

# A plain directory (not a subvolume) is a valid trans target: same answer.
mkdir "$MNT/plain" && printf 'x\n' >"$MNT/plain/x"
expect_exit 4 "a plain directory on Btrfs also exits 4" \
	"$BTRFS_TXN" apply --method trans --target "$MNT/plain" "$TEST_TMP/spec-no-target.json"
ok "and stays as it was" sh -c "[ \"\$(ls -A '$MNT/plain')\" = x ] && [ \"\$(cat '$MNT/plain/x')\" = x ]"
rm -rf "$MNT/plain"

# Usage errors come first: exit 2, nothing touched.
expect_exit 2 "--trans-timeout 0 is refused" \
	"$BTRFS_TXN" apply --method trans --trans-timeout 0 "$TEST_TMP/spec.json"
expect_exit 2 "--trans-timeout with the snapshot method is refused" \
	"$BTRFS_TXN" apply --trans-timeout 5 "$TEST_TMP/spec.json"
sed 's/"ops"/"verify": {"argv": ["true"]}, "ops"/' "$TEST_TMP/spec-trans.json" >"$TEST_TMP/spec-verify.json"
expect_exit 2 "a verify hook with the trans method is refused" \
	"$BTRFS_TXN" apply "$TEST_TMP/spec-verify.json"
last_output >"$TEST_TMP/out-verify"
ok "the refusal says why" grep -qF 'verify hook' "$TEST_TMP/out-verify"
ok "nothing changed after the refusals" unchanged

# Not Btrfs: exit 4, and no TRANS ioctl is issued there (other drivers reuse the numbers).
mkdir "$TEST_TMP/notbtrfs"
if [ "$(stat -f -c %T "$TEST_TMP/notbtrfs")" != btrfs ]; then
	expect_exit 4 "a target not on Btrfs exits 4" \
		"$BTRFS_TXN" apply --method trans --target "$TEST_TMP/notbtrfs" "$TEST_TMP/spec-no-target.json"
	last_output >"$TEST_TMP/out-notbtrfs"
	ok "saying it is not Btrfs" grep -qF 'is not on a Btrfs filesystem' "$TEST_TMP/out-notbtrfs"
fi

ok "probe says the TRANS ioctls are missing" grep -Eq '^TRANS ioctls: +no \(removed in Linux 4\.17\)' \
	"$TEST_TMP/probe"
expect_exit 0 "probe --json works" "$BTRFS_TXN" probe --json "$T"
last_output >"$TEST_TMP/probe.json"
ok "probe --json says trans_ioctls no" jq -e '.trans_ioctls == "no"' "$TEST_TMP/probe.json"
ok "help apply lists --trans-timeout" sh -c "'$BTRFS_TXN' help apply | grep -q -- '--trans-timeout SECONDS'"

# The snapshot method still works on the same target afterwards.
expect_exit 0 "--method snapshot applies the same spec" \
	"$BTRFS_TXN" apply --method snapshot "$TEST_TMP/spec.json"
ok "and the change is there" sh -c "[ \"\$(cat '$T/nginx.conf')\" = 'worker_processes 4;' ] && [ ! -e '$T/old.conf' ]"

done_testing
