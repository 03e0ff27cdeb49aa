#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0203: a tree changed while apply runs. (1) Whoever writes the live target swaps a
# directory for a symlink pointing outside after the snapshot: the commit notices
# that the target moved and aborts, without following anything. (2) An attacker
# inside the staging tree itself (which only root can reach; the worst case, and
# what the trans method's in-place ops face) swaps directories for symlinks to the
# outside, in a loop, during a big delete --recursive: the fd-relative walk either
# finishes inside the tree or aborts, and never deletes outside. Canaries checked by
# manifest.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v python3 >/dev/null || skip_all "needs python3"
btrfs_fixture 2G

T=$(new_target t)
SD=$(state_dir "$T")
outside="$MNT/outside"
mkdir -p "$outside/victim/sub" && for i in 1 2 3; do echo "canary $i" >"$outside/victim/f$i" && echo deep >"$outside/victim/sub/d$i"; done
manifest "$outside" >"$TEST_TMP/canary"
canary_intact() { same_manifest "$TEST_TMP/canary" "$outside"; }

# --- (1) the live target changed behind the snapshot
mkdir -p "$T/conf/sites" && echo a >"$T/conf/sites/a"
cat >"$TEST_TMP/swap-live.sh" <<HOOK
[ "\$1" = staged ] || exit 0
mv "$T/conf" "$T/conf.old" && ln -s "$outside/victim" "$T/conf"
HOOK
expect_exit 1 "a directory swapped for a symlink in the live target aborts the commit" \
	with_hook "sh $TEST_TMP/swap-live.sh \"\$1\"" apply_ops "$T" '[{"op": "write", "path": "conf/sites/b", "content": "b"}, {"op": "delete", "path": "conf", "recursive": true}]'
output_has "  says the target was modified" "modified"
ok "  no staging left" no_staging "$T"
ok "  the attacker's link is still there (their change is not lost)" test -L "$T/conf"
ok "  nothing written or removed outside" canary_intact
ok "a later apply works on the link as a link" apply_ops "$T" '[{"op": "delete", "path": "conf", "recursive": true}]'
ok "  the link is gone, its target is not" sh -c "test ! -e '$T/conf' && test -d '$outside/victim'"
ok "  canary intact" canary_intact

# --- (2) an attacker in the staging tree during delete --recursive
mkdir "$T/big"
python3 -c '
import os, sys
for i in range(20):
    for j in range(150):
        d = os.path.join(sys.argv[1], "d%d" % i, "s%d" % j)
        os.makedirs(d)
        for k in range(5):
            open(os.path.join(d, "f%d" % k), "w").close()
' "$T/big"
ok "a big tree to delete" apply_ops "$T" '[{"op": "write", "path": "marker", "content": "m"}]'
# The attacker: every directory of big/ and of big/dN/ in turn replaced by a symlink
# to the victim, then put back, as fast as the shell goes, until killed.
cat >"$TEST_TMP/attacker.py" <<'ATTACK'
import os, sys
staging, victim, count_file = sys.argv[1:4]
os.chdir(os.path.join(staging, "big"))
swaps = 0
while True:
    for top in sorted(os.listdir(".")):
        if top.endswith(".real"):
            continue
        try:
            names = [top] + [os.path.join(top, s) for s in os.listdir(top) if not s.endswith(".real")]
        except OSError:
            names = [top]
        for d in names:
            try:
                os.rename(d, d + ".real")
            except OSError:
                continue
            try:
                os.symlink(victim, d)
                os.unlink(d)
            except OSError:
                pass
            try:
                os.rename(d + ".real", d)
            except OSError:
                pass
            swaps += 1
            if swaps % 100 == 0:
                with open(count_file, "w") as f:
                    f.write(str(swaps))
ATTACK
cat >"$TEST_TMP/start-attacker.sh" <<HOOK
[ "\$1" = staged ] || exit 0
staging=\$(ls -d "$SD"/staging-* | head -n 1)
setsid python3 "$TEST_TMP/attacker.py" "\$staging" "$outside/victim" "$TEST_TMP/swaps" </dev/null >/dev/null 2>&1 &
echo \$! >"$TEST_TMP/attacker.pid"
sleep 0.3
HOOK
committed=0 aborted=0
for round in 1 2 3 4 5; do
	rm -f "$TEST_TMP/attacker.pid"
	with_hook "sh $TEST_TMP/start-attacker.sh \"\$1\"" apply_ops "$T" \
		'[{"op": "delete", "path": "big", "recursive": true}]' >"$TEST_TMP/round.out" 2>&1
	rc=$?
	grep -m1 'btrfs-txn' "$TEST_TMP/round.out" | sed 's/^/# /'
	[ -f "$TEST_TMP/attacker.pid" ] && kill -- -"$(cat "$TEST_TMP/attacker.pid")" 2>/dev/null
	sleep 0.2
	case $rc in
	0) committed=$((committed + 1)) ;;
	1) aborted=$((aborted + 1)) ;;
	esac
	ok "round $round: apply committed or aborted cleanly (exit $rc)" test "$rc" -eq 0 -o "$rc" -eq 1
	ok "  round $round: nothing outside was touched" canary_intact
	# An abort does not delete a staging tree a live process still uses (here the
	# attacker's working directory): it names it, and recover finishes once it is gone.
	if [ "$rc" -eq 1 ] && grep -q "is still used by pid" "$TEST_TMP/round.out"; then
		ok "  round $round: the abort named the process in the staging tree" \
			grep -q "(python3) cwd" "$TEST_TMP/round.out"
		ok "  round $round: recover cleans up once it is gone" "$BTRFS_TXN" recover "$T"
	fi
	ok "  round $round: no staging left" no_staging "$T"
	[ "$rc" -eq 0 ] && break
done
echo "# $committed committed, $aborted aborted under attack; $(cat "$TEST_TMP/swaps" 2>/dev/null || echo 0) swaps in the last round"
ok "the victim directory is intact" test "$(cat "$outside/victim/f1")" = "canary 1"

done_testing
