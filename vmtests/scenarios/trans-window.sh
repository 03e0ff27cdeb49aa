# vmtest: --method trans on a kernel with the TRANS ioctls: a commit, and a held window ended by the watchdog
# timeout: 120
# boots: 1
#
# Runs only on a guest kernel before 4.17 (build/vmtest --kernel ... --modules ...);
# elsewhere it is skipped, saying why. On such a kernel:
#  1. a plain apply --method trans gives exactly the new tree;
#  2. a window held open (a step hook sleeps at 'trans-started', longer than
#     --trans-timeout 3) while another process calls sync, which must wait for the
#     window: the watchdog ends it, the racing sync returns, apply exits 1 (no op had
#     run) and the target is unchanged. The in-flight marker is gone, so recover and a
#     fresh apply are clean.

. /vmtest/guest-faults.sh

boot_1() {
	vm_need_cmd init apply probe
	vm_mkfs
	vm_mount
	gf_expect_trees
	T=$MNT/t
	gf_target_make $T
	btrfs-txn probe $T | tee /tmp/probe
	grep -Eq '^TRANS ioctls: +yes' /tmp/probe ||
		vm_skip "kernel $(uname -r) has no BTRFS_IOC_TRANS_START (removed in 4.17): $(grep '^TRANS ioctls' /tmp/probe)"
	sed '/"verify"/d; s/^  \],$/  ]/' /tmp/gf-new.json > /tmp/trans.json

	# 1. A commit.
	btrfs-txn apply --method trans --target $T /tmp/trans.json
	gf_check $DATA $MNT $T new trans-commit

	# 2. A held window racing a sync from another process.
	T=$MNT/held
	gf_target_make $T
	sync
	BTRFS_TXN_STEP_HOOK='[ "$1" = trans-started ] && sleep 8; true' \
		btrfs-txn apply --method trans --trans-timeout 3 --target $T /tmp/trans.json 2> /tmp/held.err &
	pid=$!
	gf_fault
	# Wait for the window to open (the marker exists), then race a sync against it.
	tries=0
	until [ -e $MNT/.btrfs-txn/held/trans-inflight ]; do
		tries=$((tries + 1)); [ $tries -lt 300 ] || vm_fail "the trans window never opened"
		sleep 0.1
	done
	start=$(date +%s)
	sync
	took=$(( $(date +%s) - start ))
	echo "gf: the racing sync took $took s"
	[ $took -le 20 ] || gf_violation "the racing sync waited $took s: the watchdog did not end the window"
	rc=0; wait $pid || rc=$?
	cat /tmp/held.err
	[ $rc -eq 1 ] || gf_violation "the held window's apply exited $rc, expected 1 (ended before any op)"
	grep -qi "watchdog" /tmp/held.err || gf_violation "the message does not say the watchdog ended the window"
	gf_check $DATA $MNT $T old trans-held-window
	gf_finish
}
