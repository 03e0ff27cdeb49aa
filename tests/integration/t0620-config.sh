#!/usr/bin/env bash
# t0620: btrfs-txn.conf (btrfs-txn.conf(5)). `btrfs-txn config` reads it with the old
# list files merged in (and a note for each); the APT and pacman hooks and the boot
# unit's recover-all act on the targets it names; [defaults] keep and a target's own
# keep are what apply, run, snapshot and gc keep when no --keep or spec keep is
# given; strict-hooks makes a hook fail. An invalid or untrusted file is refused with
# its name and line, and a command that would use it changes nothing.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v python3 >/dev/null || skip_all "needs python3"
btrfs_fixture 1G

B=$BTRFS_TXN
export BTRFS_TXN=$B BTRFS_TXN_CONF_DIR=$TEST_TMP/etc BTRFS_TXN_RUN_DIR=$TEST_TMP/run
mkdir -p "$BTRFS_TXN_CONF_DIR"
CONF=$BTRFS_TXN_CONF_DIR/btrfs-txn.conf
T=$(new_target t)
U=$(new_target u)
V=$(new_target v)
kept() { "$B" status --json "$1" | jq '.kept | length'; }
apply_n() { # apply_n T N: N applies to T
	local i
	for ((i = 0; i < $2; i++)); do apply_ops "$1" "[{\"op\": \"write\", \"path\": \"n\", \"content\": \"$i\"}]" >/dev/null || return 1; done
}

ok "no file: config says so, keep 5, no target" sh -c "'$B' config --json | jq -e '.file == null and .keep == 5 and .targets == [] and .strict_hooks == false'"
cat >"$CONF" <<CONFEOF
# test configuration
[defaults]
keep = 3

[target $T/]
apt = yes
keep = 2

[target $U]
pacman = yes
recover = no
CONFEOF
ok "config names the file" sh -c "'$B' config | grep -qx 'file:         $CONF'"
ok "config --targets apt" test "$("$B" config --targets apt)" = "$T"
ok "config --targets pacman" test "$("$B" config --targets pacman)" = "$U"
ok "config --targets recover: every target unless recover = no" test "$("$B" config --targets recover)" = "$T"
ok "config --strict-hooks: no" test "$("$B" config --strict-hooks)" = no
ok "config --json has the documented shape" sh -c "'$B' config --json | python3 '$TOP/tests/integration/json-shape.py' '$TOP/docs/json.md' config success 'targets[]=config.targets[]'"
ok "  with the keeps" sh -c "'$B' config --json | jq -e '.keep == 3 and .targets[0].keep == 2 and .targets[1].keep == null'"

# keep: a target's own, else [defaults], and --keep wins.
apply_n "$T" 4
ok "apply keeps the target's keep (2)" test "$(kept "$T")" = 2
apply_n "$V" 5
ok "apply keeps [defaults] keep (3) for a target without one" test "$(kept "$V")" = 3
"$B" run -q "$V" -- true && "$B" snapshot -q "$V" --tag pre
ok "  run and snapshot too" test "$(kept "$V")" = 3
"$B" run -q --keep 5 "$V" -- true
ok "  --keep wins over the file" test "$(kept "$V")" = 4
"$B" gc -q "$V"
ok "gc without --keep uses the file's" test "$(kept "$V")" = 3
apply_ops "$T" '[{"op": "write", "path": "n", "content": "k"}]' '"keep": 4' >/dev/null
apply_ops "$T" '[{"op": "write", "path": "n", "content": "l"}]' '"keep": 4' >/dev/null
ok "  a spec's keep wins over the file" test "$(kept "$T")" = 4

# The hooks and recover-all act on what the file names.
before_t=$("$B" history --json "$T" | jq '.transactions | length')
before_u=$("$B" history --json "$U" | jq '.transactions | length')
ok "the APT hook's pre snapshot" sh "$TOP/contrib/apt/btrfs-txn-apt-hook" pre
ok "  took a pre snapshot of the apt target" sh -c "'$B' history --json '$T' | jq -e '.transactions | length == $before_t + 1 and .[-1].tag == \"pre\"'"
ok "  and none of the pacman one" sh -c "'$B' history --json '$U' | jq -e '.transactions | length == $before_u'"
ok "the pacman hook's pre snapshot" sh -c "echo bash | sh '$TOP/contrib/pacman/btrfs-txn-pacman-hook' pre"
ok "  took one of the pacman target, described" sh -c "'$B' history --json '$U' | jq -e '.transactions[-1].tag == \"pre\" and .transactions[-1].description == \"pacman: bash\"'"
ok "recover-all without a list recovers the file's recover targets" sh "$TOP/contrib/systemd/btrfs-txn-recover-all"
output_has "  one target, consistent" "1 target\\(s\\), 1 consistent, 0 failed"

# strict-hooks.
printf '[target %s/not-a-target]\napt = yes\n' "$TEST_TMP" >>"$CONF"
ok "a target that cannot be snapshotted: the hook reports it and exits 0" sh "$TOP/contrib/apt/btrfs-txn-apt-hook" pre
output_has "  naming it" "cannot take the pre snapshot of $TEST_TMP/not-a-target"
sed -i 's/^keep = 3$/keep = 3\nstrict-hooks = yes/' "$CONF"
ok "strict-hooks = yes: config says yes" test "$("$B" config --strict-hooks)" = yes
expect_exit 1 "  and the hook fails" sh "$TOP/contrib/apt/btrfs-txn-apt-hook" pre
sed -i '/strict-hooks/d; /not-a-target/,$d' "$CONF"

# The old files: still read, merged, with a note.
printf '# old\n%s\n' "$V" >"$BTRFS_TXN_CONF_DIR/apt-targets"
touch "$BTRFS_TXN_CONF_DIR/hooks-strict"
ok "an old apt-targets is merged in" test "$("$B" config --targets apt 2>/dev/null | tr '\n' ' ')" = "$T $V "
ok "  with a note naming it and the new way" sh -c "'$B' config --targets apt 2>&1 >/dev/null | grep -q 'note: the file apt-targets is read for one more release; give each target a \\[target PATH\\] section with .apt = yes.'"
ok "an old hooks-strict counts" test "$("$B" config --strict-hooks 2>/dev/null)" = yes
ok "  with its note" sh -c "'$B' config --strict-hooks 2>&1 >/dev/null | grep -q 'note: the file hooks-strict'"
ok "  and --json lists the old files" sh -c "'$B' config --json 2>/dev/null | jq -e '.legacy_files == [\"apt-targets\", \"hooks-strict\"] and .targets[2].legacy'"
rm -f "$BTRFS_TXN_CONF_DIR/apt-targets" "$BTRFS_TXN_CONF_DIR/hooks-strict"

# Bad files change nothing.
manifest "$T" >"$TEST_TMP/t.manifest"
cp "$CONF" "$TEST_TMP/good.conf"
printf '[target %s]\nkeep = many\n' "$V" >>"$CONF"
expect_exit 2 "an invalid file: config exits 2" "$B" config
output_has "  naming the file, the line and why" "^btrfs-txn: config: $CONF:[0-9]+: keep: expected a number from 1 to 100, got 'many'\$"
ok "  one line" test "$(last_output | wc -l)" = 1
expect_exit 2 "  apply without --keep refuses to guess" apply_ops "$T" '[{"op": "write", "path": "n", "content": "bad"}]'
output_has "  saying why" "^btrfs-txn: apply: $CONF:[0-9]+: keep"
ok "  and the target is unchanged" same_manifest "$TEST_TMP/t.manifest" "$T"
ok "config --json on failure has the documented shape" sh -c "'$B' config --json 2>/dev/null | python3 '$TOP/tests/integration/json-shape.py' '$TOP/docs/json.md' config failure"
expect_exit 0 "  while a hook never blocks the upgrade" sh "$TOP/contrib/apt/btrfs-txn-apt-hook" pre
cp "$TEST_TMP/good.conf" "$CONF"
chmod 0666 "$CONF"
expect_exit 2 "a file others may write is refused" "$B" config --targets apt
output_has "  saying why" "refusing '$CONF': it or a directory above it is not root's alone"
ok "  and no target is named" test -z "$("$B" config --targets apt 2>/dev/null)"
chmod 0644 "$CONF"
ok "once root's alone, it is read again" test "$("$B" config --targets apt)" = "$T"

# An entry whose path runs through a directory another user owns: a symlink there
# must not make it another target's section (it claimed V's keep, 1 instead of 4).
mkdir -p "$MNT/users/u1" && chown 65534:65534 "$MNT/users/u1"
ln -s "$V" "$MNT/users/u1/site" && chown -h 65534:65534 "$MNT/users/u1/site"
printf '[target %s]\nkeep = 1\n\n[target %s]\nkeep = 4\n' "$MNT/users/u1/site" "$V" >"$CONF"
apply_n "$V" 5
ok "a symlinked entry does not claim the target it points at" test "$(kept "$V")" = 4
printf '[target %s]\nkeep = 1\n' "$MNT/users/u1/site" >"$CONF"
apply_n "$V" 1
ok "  nor when it is the only entry: the default keep (5) applies" test "$(kept "$V")" = 5
ok "  while the target's path as written still finds its section" sh -c "'$B' config --json | jq -e '.targets[0].path == \"$MNT/users/u1/site\"'"
done_testing
