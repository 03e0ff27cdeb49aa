#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0201: the state directory (P/.btrfs-txn, P/.btrfs-txn/NAME) and its lock are only
# trusted when they are what btrfs-txn makes: no symlink, owned by root (or the
# caller), not writable by group or others. And a root apply refuses a spec that
# others than root could have written (t0211 has the rest), unless --allow-insecure-spec.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
spec="$TEST_TMP/spec.json"
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "f", "content": "x"}]}\n' "$T" >"$spec"
mkdir -p "$TEST_TMP/elsewhere"
manifest "$TEST_TMP/elsewhere" >"$TEST_TMP/elsewhere.m"

# --- the state directory of the target
mv "$SD" "$TEST_TMP/elsewhere/t" && ln -s "$TEST_TMP/elsewhere/t" "$SD"
expect_abort 1 "a state directory that is a symlink is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  says it is a symlink" "state directory '$SD' is a symlink: refusing to follow it"
rm "$SD" && mv "$TEST_TMP/elsewhere/t" "$SD"
ok "  nothing written where it pointed" test -z "$(ls -A "$TEST_TMP/elsewhere")"

chown 4242 "$SD"
expect_abort 1 "a state directory owned by another user is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  names the owner" "state directory '$SD' is owned by uid 4242, not by root or uid 0: refusing to trust it"
chown 0 "$SD" && chmod 0770 "$SD"
expect_abort 1 "a group-writable state directory is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  names the mode" "state directory '$SD' is writable by group or others \\(mode 0770\\)"
expect_exit 1 "  status refuses it too" "$BTRFS_TXN" status "$T"
chmod 0700 "$SD"

# --- the top directory P/.btrfs-txn
chmod 0777 "$MNT/.btrfs-txn"
expect_abort 1 "a world-writable .btrfs-txn is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  names it" "state directory '$MNT/.btrfs-txn' is writable by group or others \\(mode 0777\\)"
chmod 0700 "$MNT/.btrfs-txn"
U=$(new_target u)
mv "$MNT/.btrfs-txn" "$TEST_TMP/elsewhere/top" && ln -s "$TEST_TMP/elsewhere/top" "$MNT/.btrfs-txn"
expect_abort 1 "a .btrfs-txn that is a symlink is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  says so" "state directory '$MNT/.btrfs-txn' is a symlink: refusing to follow it"
expect_exit 1 "  init of a new target refuses it too" "$BTRFS_TXN" init "$MNT/v"
rm "$MNT/.btrfs-txn" && mv "$TEST_TMP/elsewhere/top" "$MNT/.btrfs-txn"

# --- the lock file
mv "$SD/lock" "$TEST_TMP/elsewhere/lock" 2>/dev/null || : >"$TEST_TMP/elsewhere/lock"
ln -s "$TEST_TMP/elsewhere/lock" "$SD/lock"
expect_abort 1 "a lock that is a symlink is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  says so" "lock '$SD/lock' is a symlink: refusing to follow it"
ok "  the file it pointed to was not written" test ! -s "$TEST_TMP/elsewhere/lock"
rm "$SD/lock" "$TEST_TMP/elsewhere/lock"
: >"$SD/lock" && chown 4242 "$SD/lock"
expect_abort 1 "a lock owned by another user is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  names the owner" "lock '$SD/lock' is owned by uid 4242"
chown 0 "$SD/lock" && chmod 0666 "$SD/lock"
expect_abort 1 "a world-writable lock is refused" "$T" "$BTRFS_TXN" apply "$spec"
chmod 0600 "$SD/lock"
ok "with everything restored, apply works" "$BTRFS_TXN" apply "$spec"
ok "nothing was ever written elsewhere" test -z "$(ls -A "$TEST_TMP/elsewhere")"

# --- the spec file, when running as root
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "g", "content": "y"}]}\n' "$T" >"$spec"
chmod 0666 "$spec"
expect_abort 2 "a world-writable spec is refused" "$T" "$BTRFS_TXN" apply "$spec"
output_has "  says why" "^$spec: refusing spec: '$spec' is writable by others \\(mode 0666\\) \\(StrictModes: owned by root, writable by no one else\\)$"
expect_exit 2 "  plan refuses it too" "$BTRFS_TXN" plan "$spec"
chmod 0620 "$spec"
expect_abort 2 "a group-writable spec is refused" "$T" "$BTRFS_TXN" apply "$spec"
ok "--allow-insecure-spec lets it through" "$BTRFS_TXN" apply --allow-insecure-spec "$spec"
ok "  plan too" "$BTRFS_TXN" plan --allow-insecure-spec "$spec"
ok "standard input is not checked" sh -c "'$BTRFS_TXN' apply - <'$spec'"
ok "validate reads any spec (it changes nothing)" "$BTRFS_TXN" validate "$spec"
chmod 0644 "$spec"
mkdir "$TEST_TMP/shared" && chmod 0777 "$TEST_TMP/shared" && cp "$spec" "$TEST_TMP/shared/s.json"
expect_abort 2 "a spec in a world-writable directory is refused" "$T" "$BTRFS_TXN" apply "$TEST_TMP/shared/s.json"
output_has "  names the directory" "refusing spec: '$TEST_TMP/shared' is writable by others \\(mode 0777\\)"
chmod 1777 "$TEST_TMP/shared"
ok "a sticky one (like /tmp) is fine: only the owner may replace the file" "$BTRFS_TXN" apply "$TEST_TMP/shared/s.json"
mkdir "$TEST_TMP/theirs" && cp "$spec" "$TEST_TMP/theirs/s.json" && chown 4242 "$TEST_TMP/theirs"
expect_abort 2 "a root-owned spec in another user's directory is refused" "$T" "$BTRFS_TXN" apply "$TEST_TMP/theirs/s.json"
output_has "  names the owner" "refusing spec: '$TEST_TMP/theirs' is owned by uid 4242"
chown 4242 "$TEST_TMP/theirs/s.json"
expect_abort 2 "a user's spec in their own directory is not root's to run (StrictModes)" "$T" "$BTRFS_TXN" apply "$TEST_TMP/theirs/s.json"
ln -s "$TEST_TMP/shared2/s.json" "$TEST_TMP/link.json"
mkdir "$TEST_TMP/shared2" && chmod 0777 "$TEST_TMP/shared2" && cp "$spec" "$TEST_TMP/shared2/s.json"
expect_abort 2 "a link to a spec in a world-writable directory is judged by the real file" "$T" "$BTRFS_TXN" apply "$TEST_TMP/link.json"

done_testing
