#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0410: the pacman hooks (contrib/pacman): the Exec line of each .hook run the way
# pacman runs it (split on whitespace, no shell, from /, the matched package names
# on stdin one per line since the hook has NeedsTargets) takes a pre and a post
# snapshot of each target in pacman-targets, paired, described by the packages.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target root)
HOOKDIR=$TOP/contrib/pacman
export BTRFS_TXN_CONF_DIR=$TEST_TMP/conf BTRFS_TXN
# Without a target list the hooks would protect /: never the host's in a test.
export BTRFS_TXN_HOOK_ROOT=
mkdir -p "$BTRFS_TXN_CONF_DIR"
printf '%s\n' "$T" >"$BTRFS_TXN_CONF_DIR/pacman-targets"

# hook_field FILE KEY: the value of "KEY = VALUE" in the hook, @HOOKDIR@ filled in.
hook_field() {
	sed -n "s|^$2 = \(.*\)\$|\1|p" "$1" | sed "s|@HOOKDIR@|$HOOKDIR|g"
}
# run_hook FILE: what pacman does for a hook with NeedsTargets.
run_hook() {
	local -a exec_argv
	read -r -a exec_argv <<<"$(hook_field "$1" Exec)"
	(cd / && printf 'glibc\nbash\nnginx\n' | "${exec_argv[@]}")
}
for h in pre post; do
	f=$HOOKDIR/btrfs-txn-$h.hook
	ok "btrfs-txn-$h.hook: NeedsTargets, all package operations" sh -c "grep -qx NeedsTargets '$f' && grep -qx 'Operation = Install' '$f' && grep -qx 'Operation = Upgrade' '$f' && grep -qx 'Operation = Remove' '$f' && grep -qx 'Type = Package' '$f'"
done
ok "  pre runs PreTransaction, without AbortOnFail" sh -c "test \"\$(sed -n 's/^When = //p' '$HOOKDIR/btrfs-txn-pre.hook')\" = PreTransaction && ! grep -q '^AbortOnFail' '$HOOKDIR/btrfs-txn-pre.hook'"
ok "  post runs PostTransaction" test "$(hook_field "$HOOKDIR/btrfs-txn-post.hook" When)" = PostTransaction

manifest "$T" >"$TEST_TMP/before"
ok "the pre hook" run_hook "$HOOKDIR/btrfs-txn-pre.hook"
printf 'upgraded\n' >"$T/lib.so"
ok "the post hook" run_hook "$HOOKDIR/btrfs-txn-post.hook"
"$BTRFS_TXN" history --json "$T" >"$TEST_TMP/h.json"
ok "  gen-0 pre, gen-1 post, paired" jq -e '.pairs == [{"pair": .transactions[0].txid, "pre": 0, "post": 1, "pre_dropped": false, "post_dropped": false, "description": "pacman: glibc bash nginx"}]' "$TEST_TMP/h.json"
ok "  both lines described by the packages" jq -e '[.transactions[].description] == ["pacman: glibc bash nginx", "pacman: glibc bash nginx"]' "$TEST_TMP/h.json"
ok "  gen-0 is the tree before" same_manifest "$TEST_TMP/before" "$(state_dir "$T")/gen-0"
ok "  diff shows the upgrade" sh -c "'$BTRFS_TXN' diff '$T' 0 1 | grep -qx 'A f lib.so'"
printf '%s\n' "$TEST_TMP/nowhere" >>"$BTRFS_TXN_CONF_DIR/pacman-targets"
ok "a failing target does not fail the hook" run_hook "$HOOKDIR/btrfs-txn-pre.hook"
output_has "  but says so" "cannot take the pre snapshot of $TEST_TMP/nowhere"
touch "$BTRFS_TXN_CONF_DIR/hooks-strict"
expect_exit 1 "with hooks-strict it does" run_hook "$HOOKDIR/btrfs-txn-post.hook"
ok "  the good target still got its post" jq -e '.pairs[-1].post == 3' <("$BTRFS_TXN" history --json "$T")
# A target list others could edit is refused, not read (StrictModes, as for specs).
printf '%s\n' "$T" >"$BTRFS_TXN_CONF_DIR/pacman-targets" && chmod 0666 "$BTRFS_TXN_CONF_DIR/pacman-targets"
expect_exit 1 "a world-writable target list is refused (hooks-strict)" run_hook "$HOOKDIR/btrfs-txn-pre.hook"
output_has "  saying why" "refusing '$BTRFS_TXN_CONF_DIR/pacman-targets'"
ok "  and nothing was snapshotted" jq -e '.pairs[-1].post == 3 and (.transactions | length) == 4' <("$BTRFS_TXN" history --json "$T")
# The boot unit's helper refuses such a list too.
expect_exit 2 "btrfs-txn-recover-all refuses it" sh "$TOP/contrib/systemd/btrfs-txn-recover-all" "$BTRFS_TXN_CONF_DIR/pacman-targets"
chmod 0644 "$BTRFS_TXN_CONF_DIR/pacman-targets"
ok "  and reads it once it is root's alone" sh "$TOP/contrib/systemd/btrfs-txn-recover-all" "$BTRFS_TXN_CONF_DIR/pacman-targets"
# A root-owned symlink, in root's directory, to a list in a directory others can write
mkdir -p "$TEST_TMP/open" && chmod 0777 "$TEST_TMP/open" && printf '%s\n' "$T" >"$TEST_TMP/open/list"
ln -s "$TEST_TMP/open/list" "$BTRFS_TXN_CONF_DIR/linked-targets"
expect_exit 2 "btrfs-txn-recover-all refuses a list reached through a symlink into such a directory" \
	sh "$TOP/contrib/systemd/btrfs-txn-recover-all" "$BTRFS_TXN_CONF_DIR/linked-targets"
output_has "  saying why" "refusing '$BTRFS_TXN_CONF_DIR/linked-targets'"
done_testing
