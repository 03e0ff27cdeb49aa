#!/usr/bin/env bash
# t0630: `btrfs-txn list` names every managed target once: those btrfs-txn.conf
# names and those with a state directory on a mounted Btrfs, with the generation,
# the number kept and the last transaction; a configured target that is not there
# yet is listed with why; generations and staging subvolumes are not targets; a
# filesystem mounted twice shows each target once. Other Btrfs mounts of the host
# may be listed too: the checks look at this test's targets only.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v python3 >/dev/null || skip_all "needs python3"
btrfs_fixture 1G

B=$BTRFS_TXN
export BTRFS_TXN_CONF_DIR=$TEST_TMP/etc
mkdir -p "$BTRFS_TXN_CONF_DIR"
T=$(new_target t)
U=$(new_target u)
mkdir -p "$MNT/deep/er"
D=$(new_target deep/er/d)
apply_ops "$T" '[{"op": "write", "path": "a", "content": "1"}]' '"description": "first"' >/dev/null
apply_ops "$T" '[{"op": "write", "path": "a", "content": "2"}]' '"description": "second"' >/dev/null
printf '[target %s]\napt = yes\n\n[target %s/absent]\n' "$T" "$MNT" >"$BTRFS_TXN_CONF_DIR/btrfs-txn.conf"

"$B" list --json >"$TEST_TMP/list.json" 2>"$TEST_TMP/list.err"
ok "list --json exits 0" test $? = 0
ok "  the documented shape" sh -c "python3 '$TOP/tests/integration/json-shape.py' '$TOP/docs/json.md' list success 'targets[]=list.targets[]' <'$TEST_TMP/list.json'"
mine() { jq --arg p "$1" '[.targets[] | select(.target == $p)]' "$TEST_TMP/list.json"; }
ok "a configured and mounted target: once, with both sources" sh -c "$(declare -f mine); TEST_TMP='$TEST_TMP' mine '$T' | jq -e 'length == 1 and .[0].sources == [\"config\", \"mounted\"]'"
ok "  its generation, kept and last transaction" sh -c "$(declare -f mine); TEST_TMP='$TEST_TMP' mine '$T' | jq -e '.[0] | .generation == 2 and .kept == 2 and .interrupted == false and .last.kind == \"apply\" and .last.result == \"committed\" and .last.description == \"second\" and (.last.time | test(\"Z\$\")) and .error == null'"
ok "a target found only on the mount" sh -c "$(declare -f mine); TEST_TMP='$TEST_TMP' mine '$U' | jq -e 'length == 1 and .[0].sources == [\"mounted\"] and .[0].generation == 0 and .[0].last == null'"
ok "a target deeper in the tree" sh -c "$(declare -f mine); TEST_TMP='$TEST_TMP' mine '$D' | jq -e 'length == 1'"
ok "a configured target that is not there: listed, with why" sh -c "$(declare -f mine); TEST_TMP='$TEST_TMP' mine '$MNT/absent' | jq -e 'length == 1 and .[0].sources == [\"config\"] and .[0].generation == null and (.[0].error | test(\"absent\"))'"
ok "no generation or state directory is taken for a target" sh -c "! jq -r '.targets[].target' '$TEST_TMP/list.json' | grep -F '/.btrfs-txn'"
ok "  exactly this test's four targets under its mount" test "$(jq -r '.targets[].target' "$TEST_TMP/list.json" | grep -c "^$MNT/")" = 4

mkdir -p "$TEST_TMP/mnt2"
mount -t btrfs "$LOOP_DEV" "$TEST_TMP/mnt2" && at_cleanup "umount '$TEST_TMP/mnt2' || umount -l '$TEST_TMP/mnt2'"
"$B" list --json >"$TEST_TMP/list2.json"
ok "the filesystem mounted twice: each target still once" sh -c "test \"\$(jq -r '.targets[].target' '$TEST_TMP/list2.json' | grep -c -e '^$MNT/' -e '^$TEST_TMP/mnt2/')\" = 4"

with_fault "snapshotted:exit" apply_ops "$U" '[{"op": "write", "path": "x", "content": "1"}]' >/dev/null 2>&1
ok "an interrupted transaction shows" sh -c "'$B' list --json | jq -e --arg p '$U' '.targets[] | select(.target == \$p) | .interrupted == true'"
ok "the text: a header and one line per target" sh -c "'$B' list >'$TEST_TMP/list.txt' && head -1 '$TEST_TMP/list.txt' | grep -q '^TARGET  *GEN KEPT  LAST TRANSACTION' && grep -Eq '^$T +2 +2  [0-9T:-]+Z apply committed \"second\"\$' '$TEST_TMP/list.txt'"
ok "  the interrupted one says what to do" grep -q "^$U .*(interrupted: run 'btrfs-txn recover')" "$TEST_TMP/list.txt"
ok "  the absent one says why" grep -q "^$MNT/absent .*(.*absent" "$TEST_TMP/list.txt"
printf '[target relative]\n' >"$BTRFS_TXN_CONF_DIR/btrfs-txn.conf"
expect_exit 2 "a broken btrfs-txn.conf: exit 2" "$B" list
output_has "  naming it" "^btrfs-txn: list: $BTRFS_TXN_CONF_DIR/btrfs-txn.conf:1: \\[target relative\\]: a target must be an absolute path"
ok "  --json: the failure shape" sh -c "'$B' list --json 2>/dev/null | python3 '$TOP/tests/integration/json-shape.py' '$TOP/docs/json.md' list failure"
rm -f "$BTRFS_TXN_CONF_DIR/btrfs-txn.conf"

# A FIFO named history.jsonl (an image a user crafted and mounted: list looks at every
# mounted Btrfs) does not hold list or status: they opened it and waited for a writer.
F=$(new_target fifo)
rm -f "$(state_dir "$F")/history.jsonl" && mkfifo "$(state_dir "$F")/history.jsonl"
ok "list does not wait on a FIFO history" timeout 20 "$B" list
ok "  nor does status" timeout 20 "$B" status "$F"
done_testing
